"""AWS's quotas on request bodies that a learner can exceed, refused from the request's
Content-Length before the cloud reads the body (waitress has spooled it to disk by then,
never to the cloud's memory), with AWS's error codes and messages."""

from __future__ import annotations

import re

from workshop.cloud import errors

# Lambda: the request body of CreateFunction / UpdateFunctionCode / PublishLayerVersion
# (the base64 of a ~50 MiB zip in JSON), and the payload of an invocation.
LAMBDA_CODE_REQUEST = 70_167_211
SYNC_PAYLOAD = 6_291_456
ASYNC_PAYLOAD = 1_048_576

_CODE_OPERATIONS = [
    ("POST", re.compile(r"^/2015-03-31/functions/?$"), "CreateFunction"),
    ("PUT", re.compile(r"^/2015-03-31/functions/[^/]+/code/?$"), "UpdateFunctionCode"),
    ("POST", re.compile(r"^/2018-10-31/layers/[^/]+/versions/?$"), "PublishLayerVersion"),
]
_INVOKE = re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$")
_INVOKE_ASYNC = re.compile(r"^/2014-11-13/functions/[^/]+/invoke-async/?$")


def refusal(environ: dict) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """AWS's answer to a request body over its operation's quota, or None."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= ASYNC_PAYLOAD:
        return None
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    for wanted, pattern, operation in _CODE_OPERATIONS:
        if method == wanted and pattern.match(path) and length > LAMBDA_CODE_REQUEST:
            return _too_large(environ, "RequestEntityTooLargeException", LAMBDA_CODE_REQUEST, operation)
    if method == "POST" and _INVOKE.match(path):
        event = (environ.get("HTTP_X_AMZ_INVOCATION_TYPE") or "") == "Event"
        limit = ASYNC_PAYLOAD if event else SYNC_PAYLOAD
        if length > limit:
            return _too_large(environ, "RequestTooLargeException", limit, "Invoke")
    if method == "POST" and _INVOKE_ASYNC.match(path):
        return _too_large(environ, "RequestTooLargeException", ASYNC_PAYLOAD, "InvokeAsync")
    return None


def _too_large(environ: dict, code: str, limit: int, operation: str):
    return errors.error_response(environ, 413, code,
                                 f"Request must be smaller than {limit} bytes for the {operation} operation",
                                 service="lambda")
