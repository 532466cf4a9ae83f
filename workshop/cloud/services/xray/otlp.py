"""X-Ray's OTLP endpoint, ``POST /v1/traces`` on the cloud's port: OTLP/HTTP in protobuf
(``application/x-protobuf``) or OTLP's JSON mapping (``application/json``: hex ids,
enums as numbers or names), gzip allowed. Answers as the OTLP specification says: an
ExportTraceServiceResponse (``partial_success`` counting rejected spans), 400 with a
google.rpc.Status for a body that cannot be decoded, 415 for other content types.

The account is the SigV4 key's (the gateway's account rule, class mode's checks); an
unsigned request on a laptop goes to $WORKSHOP_ACCOUNT's account, else the default."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable

from workshop import settings
from workshop.cloud import accounts, services

log = logging.getLogger("workshop.cloud.xray")

PATH = "/v1/traces"
MAX_BODY = 5 * 1024 * 1024          # bytes of a request, before and after gzip
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class Undecodable(ValueError):
    pass


def _status_line(code: int) -> str:
    return {200: "200 OK", 400: "400 Bad Request", 405: "405 Method Not Allowed",
            415: "415 Unsupported Media Type"}[code]


def _read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Undecodable("Content-Length is not a number") from None
    if length > MAX_BODY:
        raise Undecodable(f"the request body is larger than {MAX_BODY} bytes")
    stream = environ["wsgi.input"]
    body = stream.read(length) if length else stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise Undecodable(f"the request body is larger than {MAX_BODY} bytes")
    encoding = (environ.get("HTTP_CONTENT_ENCODING") or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise Undecodable(f"unsupported Content-Encoding {encoding}")
    inflater = zlib.decompressobj(wbits=47 if encoding == "gzip" else 15)
    try:
        data = inflater.decompress(body, MAX_BODY + 1)
    except zlib.error as exc:
        raise Undecodable(f"the {encoding} body cannot be decompressed: {exc}") from None
    if len(data) > MAX_BODY or inflater.unconsumed_tail:
        raise Undecodable(f"the decompressed body is larger than {MAX_BODY} bytes")
    return data


def _hex_to_base64(value):
    if not isinstance(value, str) or not value:
        return value
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise Undecodable(f"{value[:40]!r} is not a hex id") from None


def _fix_ids(node) -> None:
    """OTLP's JSON writes trace and span ids in hex where protobuf's JSON mapping wants base64."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS:
                node[key] = _hex_to_base64(value)
            else:
                _fix_ids(value)
    elif isinstance(node, list):
        for item in node:
            _fix_ids(item)


def decode(body: bytes, json_body: bool):
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    if json_body:
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Undecodable(f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise Undecodable("the body is not a JSON object")
        _fix_ids(data)
        try:
            json_format.ParseDict(data, request, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise Undecodable(f"the body is not an ExportTraceServiceRequest: {exc}") from None
    else:
        try:
            request.ParseFromString(body)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise Undecodable(f"the body is not an ExportTraceServiceRequest: {exc}") from None
    return request


def account_of(environ: dict) -> str:
    if accounts.access_key_from_environ(environ) is None:
        return accounts.account_for_key(os.environ.get("WORKSHOP_ACCOUNT") or None)
    return environ.get("workshop.account") or accounts.account_from_environ(environ)


def region_of(environ: dict) -> str:
    match = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else settings.DEFAULT_REGION


def _answer(start_response: Callable, code: int, json_body: bool, message: str | None = None,
            rejected: int = 0) -> Iterable[bytes]:
    if code != 200:
        status = {"code": 3, "message": message}   # google.rpc.Code INVALID_ARGUMENT
        if json_body:
            body = json.dumps(status).encode()
        else:
            from google.rpc.status_pb2 import Status

            body = Status(code=3, message=message or "").SerializeToString()
    elif json_body:
        partial = {"rejectedSpans": str(rejected), "errorMessage": message or ""} if rejected else None
        body = json.dumps({"partialSuccess": partial} if partial else {}).encode()
    else:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message or ""
        body = response.SerializeToString()
    content_type = "application/json" if json_body else "application/x-protobuf"
    start_response(_status_line(code), [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    json_body = content_type == "application/json"
    if environ.get("REQUEST_METHOD") != "POST":
        return _answer(start_response, 405, json_body, "OTLP/HTTP traces are POSTed to /v1/traces")
    if content_type not in ("application/json", "application/x-protobuf"):
        return _answer(start_response, 415, True,
                       f"unsupported Content-Type {content_type or '(none)'}: use application/x-protobuf "
                       f"or application/json")
    try:
        request = decode(_read_body(environ), json_body)
    except Undecodable as exc:
        return _answer(start_response, 400, json_body, str(exc))
    from workshop.cloud.services.xray.models import backend
    from workshop.cloud.services.xray.translate import Translator

    translator = Translator()
    documents = translator.request(request)
    backend(account_of(environ), region_of(environ)).store(documents)
    message = "; ".join(translator.messages) if translator.rejected else None
    return _answer(start_response, 200, json_body, message, translator.rejected)


services.mount(PATH, app)

