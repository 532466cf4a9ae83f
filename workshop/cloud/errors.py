"""AWS-shaped error responses, in the protocol of the service that was asked.

boto3 parses these into an ordinary ``ClientError``; the status decides
whether it retries (it does for 500/502/503/504, not for 501 or 4xx).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from functools import lru_cache
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)

# Signing names whose botocore service name differs.
_SIGNING_TO_SERVICE = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "events": "events",
    "eventbridge": "events",
    "execute-api": "apigateway",
    "states": "stepfunctions",
    "elasticloadbalancing": "elbv2",
}


def signing_name(environ: dict) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    at = auth.find(marker)
    if at < 0:
        return None
    scope = auth[at + len(marker):].split(",", 1)[0].split("/")
    return scope[3].lower() if len(scope) >= 5 else None


@lru_cache(maxsize=64)
def _service_model(service: str):
    import botocore.session

    try:
        return botocore.session.get_session().get_service_model(service)
    except Exception:  # unknown service name: no model to go by
        return None


def service_of(environ: dict) -> str:
    name = signing_name(environ) or "unknown"
    return _SIGNING_TO_SERVICE.get(name, name)


def operation_of(environ: dict, service: str) -> str:
    """The operation a request asks for, by the service's own protocol."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    action = query_action(environ)
    if action:
        return action
    model = _service_model(service)
    if model is not None:
        try:
            from moto.core.request import Request
            from moto.core.routing import get_service_router

            operation, _ = get_service_router(model.service_name).match(Request(dict(environ)))
            return operation.name
        except Exception:
            pass
    return f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"


def query_action(environ: dict) -> str | None:
    """The Action of a query-protocol request (query string or form body), if any."""
    from urllib.parse import parse_qs

    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    body = environ.get("workshop.body")
    if body:
        try:
            form = parse_qs(body.decode("utf-8"))
        except UnicodeDecodeError:
            return None
        if "Action" in form:
            return form["Action"][0]
    return None


def protocol_of(environ: dict, service: str) -> str:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if query_action(environ):
        return "ec2" if service == "ec2" else "query"
    model = _service_model(service)
    if model is not None:
        return model.metadata.get("protocol", "rest-json")
    return "rest-json"


def error_response(environ: dict, status: int, code: str, message: str,
                   service: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) for an AWS error in the request's protocol."""
    service = service or service_of(environ)
    protocol = protocol_of(environ, service)
    request_id = str(uuid.uuid4())
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        headers = [("Content-Type", content_type), ("x-amzn-ErrorType", code)]
    elif protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    elif protocol == "rest-xml" and service == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml")]
    else:  # query and rest-xml
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f'<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
    return _status_line(status), headers, body


def not_implemented(environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    service = service_of(environ)
    operation = operation_of(environ, service)
    message = (
        f"The workshop cloud does not implement {service}:{operation} "
        f"(service '{service}', operation '{operation}')."
    )
    return error_response(environ, 501, "NotImplemented", message, service)


def internal_failure(environ: dict, exc: BaseException) -> tuple[str, list[tuple[str, str]], bytes]:
    service = service_of(environ)
    message = f"The workshop cloud failed on this request: {type(exc).__name__}: {without_paths(str(exc))}"
    return error_response(environ, 500, "InternalFailure", message, service)


def unreadable_body(environ: dict, exc: UnicodeDecodeError) -> tuple[str, list[tuple[str, str]], bytes]:
    """A body that is not UTF-8 where the protocol reads text (JSON, a form): AWS's 400."""
    service = service_of(environ)
    bad = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
    if service == "lambda":
        return error_response(environ, 400, "InvalidRequestContentException",
                              f"Could not parse request body into json: Invalid UTF-8 start byte 0x{bad}", service)
    if protocol_of(environ, service) in ("json", "rest-json"):
        return error_response(environ, 400, "SerializationException",
                              f"Invalid UTF-8 start byte 0x{bad} in the request body", service)
    return error_response(environ, 400, "MalformedQueryString",
                          f"The request body is not valid UTF-8 (byte 0x{bad})", service)


def unreadable_json(environ: dict, exc: ValueError) -> tuple[str, list[tuple[str, str]], bytes]:
    """A body (or a document in it) that is not JSON where JSON is read: AWS's 400."""
    service = service_of(environ)
    if service == "lambda":
        return error_response(environ, 400, "InvalidRequestContentException",
                              f"Could not parse request body into json: {exc}", service)
    return error_response(environ, 400, "SerializationException", f"Could not parse JSON: {exc}", service)


def unknown_operation(environ: dict, name: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """An operation the service does not have at all (not one the cloud lacks: that is a 501)."""
    service = service_of(environ)
    if protocol_of(environ, service) in ("json", "rest-json"):
        return error_response(environ, 400, "UnknownOperationException", f"Unknown operation {name}", service)
    return error_response(environ, 400, "InvalidAction",
                          f"The action {name} is not valid for this web service.", service)


# Absolute paths on the cloud's machine (its data dir, its Python) never reach a learner.
_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.@+-]+/)+[\w.@+-]*")


def without_paths(text: str) -> str:
    return _PATH.sub("<path>", text)


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 409: "Conflict", 413: "Request Entity Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable"}


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Error')}"
