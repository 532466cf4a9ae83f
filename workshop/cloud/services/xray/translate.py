"""OpenTelemetry spans to X-Ray segment documents, as the OpenTelemetry Collector's
awsxray exporter maps them: a server, consumer or root span (or one whose parent is in
another service) is a segment named after its service; client and internal spans are
subsegments (sent on their own, ``"type": "subsegment"``), named after what they call;
HTTP, AWS SDK and database attributes fill ``http``, ``aws`` and ``sql``; status and
HTTP codes set error (4xx), throttle (429) and fault (5xx, status ERROR); other scalar
attributes become annotations (keys as X-Ray allows them), the rest metadata."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = 1, 2, 3, 4, 5
STATUS_ERROR = 2
MAX_ANNOTATIONS = 50             # X-Ray indexes at most 50 annotations per trace
MAX_ANNOTATION_KEY = 500
_BAD_NAME = re.compile(r"[^\w\s.:/%&#=+\\\-@]")
_BAD_KEY = re.compile(r"[^A-Za-z0-9_]")
# Attribute namespaces of OpenTelemetry's semantic conventions: kept as metadata, not
# annotations (what they say already is in http, aws, sql, cause, or is not worth indexing).
_CONVENTIONS = ("http.", "url.", "net.", "server.", "client.", "network.", "rpc.", "db.", "messaging.",
                "aws.", "otel.", "thread.", "code.", "user_agent.", "exception.", "telemetry.",
                "process.", "peer.", "enduser.", "error.", "faas.", "cloud.", "host.", "k8s.", "container.")
_ORIGINS = {"aws_ec2": "AWS::EC2::Instance", "aws_eks": "AWS::EKS::Container",
            "aws_elastic_beanstalk": "AWS::ElasticBeanstalk::Environment",
            "aws_app_runner": "AWS::AppRunner::Service", "aws_lambda": "AWS::Lambda::Function"}


class BadSpan(ValueError):
    pass


def any_value(value):
    """An OTLP AnyValue as Python."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(kvs) -> dict:
    return {kv.key: any_value(kv.value) for kv in kvs}


def xray_trace_id(trace_id: bytes) -> str:
    """A W3C trace id as X-Ray writes it: version 1, the first 4 bytes (the epoch seconds
    when X-Ray made the id), the other 12. Any first 4 bytes are accepted, as AWS does now."""
    if len(trace_id) != 16 or not any(trace_id):
        raise BadSpan("invalid trace id: 16 bytes, not all zero")
    text = trace_id.hex()
    return f"1-{text[:8]}-{text[8:]}"


def origin_of(resource: dict) -> str | None:
    if resource.get("cloud.provider") not in (None, "aws"):
        return None
    platform = resource.get("cloud.platform")
    if platform == "aws_ecs":
        return {"ec2": "AWS::ECS::EC2", "fargate": "AWS::ECS::Fargate"}.get(
            resource.get("aws.ecs.launchtype"), "AWS::ECS::Container")
    return _ORIGINS.get(platform)


def fix_name(name: str) -> str:
    name = _BAD_NAME.sub("", name or "")[:200]
    return name or "span"


def fix_key(key: str) -> str:
    return _BAD_KEY.sub("_", key)[:MAX_ANNOTATION_KEY]


class Translator:
    """Turns one export request's spans into segment documents."""

    def __init__(self):
        self.rejected = 0
        self.messages: list[str] = []

    def request(self, request) -> list[dict]:
        # Which service each span is in: a span whose parent is in another service starts a segment.
        services: dict[bytes, str] = {}
        for rs in request.resource_spans:
            name = _service_name(attributes(rs.resource.attributes))
            for ss in rs.scope_spans:
                for span in ss.spans:
                    services[span.span_id] = name
        documents: list[dict] = []
        for rs in request.resource_spans:
            resource = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for span in ss.spans:
                    try:
                        documents.extend(self.span(span, resource, services))
                    except BadSpan as exc:
                        self.rejected += 1
                        if len(self.messages) < 5:
                            self.messages.append(str(exc))
        return documents

    def span(self, span, resource: dict, services: dict[bytes, str]) -> list[dict]:
        trace_id = xray_trace_id(span.trace_id)
        if len(span.span_id) != 8 or not any(span.span_id):
            raise BadSpan("invalid span id: 8 bytes, not all zero")
        parent = span.parent_span_id
        if parent and len(parent) != 8:
            raise BadSpan("invalid parent span id: 8 bytes")
        service = _service_name(resource)
        attrs = attributes(span.attributes)
        kind = span.kind
        parent_service = services.get(parent) if parent else None
        is_segment = (not parent or kind in (KIND_SERVER, KIND_CONSUMER)
                      or (parent_service is not None and parent_service != service))
        doc = self._document(span, trace_id, resource, attrs, is_segment)
        if is_segment and kind in (KIND_CLIENT, KIND_PRODUCER) and not parent:
            # A root span that calls out (a script's request): the service's segment, and
            # the call a subsegment under it, as the Collector does for a local root dependency.
            segment = dict(doc, id=secrets.token_hex(8))
            for field in ("http", "sql", "namespace"):
                segment.pop(field, None)
            segment["name"] = fix_name(attrs.get("aws.local.service") or service)
            call = self._document(span, trace_id, resource, attrs, False)
            call.update(type="subsegment", parent_id=segment["id"], trace_id=trace_id)
            call.setdefault("namespace", "remote")
            return [segment, call]
        if not is_segment:
            doc.update(type="subsegment", parent_id=parent.hex(), trace_id=trace_id)
        elif parent:
            doc["parent_id"] = parent.hex()
        return [doc]

    def _document(self, span, trace_id: str, resource: dict, attrs: dict, is_segment: bool) -> dict:
        attrs = dict(attrs)
        doc: dict = {"id": span.span_id.hex(), "trace_id": trace_id}
        doc["name"] = fix_name(self._name(span, resource, attrs, is_segment))
        doc["start_time"] = span.start_time_unix_nano / 1e9
        if span.end_time_unix_nano:
            doc["end_time"] = max(span.end_time_unix_nano, span.start_time_unix_nano) / 1e9
        else:
            doc["in_progress"] = True
        aws_sdk = attrs.get("rpc.system") == "aws-api"
        if aws_sdk:
            doc["namespace"] = "aws"
        elif not is_segment and span.kind in (KIND_CLIENT, KIND_PRODUCER):
            doc["namespace"] = "remote"
        http = _http(attrs, span.kind)
        if http:
            doc["http"] = http
        error, fault, throttle = _flags(span, attrs)
        doc.update(error=error, fault=fault, throttle=throttle)
        cause = _cause(span)
        if cause:
            doc["cause"] = cause
        if is_segment:
            origin = origin_of(resource)
            if origin:
                doc["origin"] = origin
        aws = _aws(attrs, resource if is_segment else {}, aws_sdk)
        if aws:
            doc["aws"] = aws
        sql = _sql(attrs)
        if sql:
            doc["sql"] = sql
        if attrs.get("enduser.id"):
            doc["user"] = str(attrs.pop("enduser.id"))
        annotations, metadata = _annotations(attrs, resource if is_segment else {})
        if annotations:
            doc["annotations"] = annotations
        if metadata:
            doc["metadata"] = metadata
        return doc

    @staticmethod
    def _name(span, resource: dict, attrs: dict, is_segment: bool) -> str:
        if is_segment:
            return str(attrs.get("aws.local.service") or _service_name(resource))
        for key in ("aws.remote.service", "peer.service"):
            if attrs.get(key):
                name = str(attrs[key])
                return name.removeprefix("AWS.SDK.").removeprefix("AWS::")
        if attrs.get("rpc.system") == "aws-api" and attrs.get("rpc.service"):
            return str(attrs["rpc.service"])
        database = attrs.get("db.name") or attrs.get("db.namespace")
        if database:
            host = attrs.get("server.address") or attrs.get("net.peer.name")
            return f"{database}@{host}" if host else str(database)
        if attrs.get("rpc.service"):
            return str(attrs["rpc.service"])
        if span.kind in (KIND_CLIENT, KIND_PRODUCER):
            for key in ("server.address", "http.host", "net.peer.name"):
                if attrs.get(key):
                    return str(attrs[key])
            url = attrs.get("url.full") or attrs.get("http.url")
            if url:
                host = urlsplit(str(url)).hostname
                if host:
                    return host
        return span.name


def _service_name(resource: dict) -> str:
    return str(resource.get("service.name") or "unknown_service")


def _first(attrs: dict, *keys):
    for key in keys:
        if attrs.get(key) is not None:
            return attrs[key]
    return None


def _http(attrs: dict, kind: int) -> dict:
    request: dict = {}
    method = _first(attrs, "http.request.method", "http.method")
    if method:
        request["method"] = str(method)
    url = _first(attrs, "url.full", "http.url")
    if url is None:
        host = _first(attrs, "server.address", "http.host", "net.host.name")
        target = _first(attrs, "http.target") or (
            (_first(attrs, "url.path") or "") + (f"?{attrs['url.query']}" if attrs.get("url.query") else ""))
        if host and (target or method):
            port = _first(attrs, "server.port", "net.host.port")
            scheme = _first(attrs, "url.scheme", "http.scheme") or "http"
            url = f"{scheme}://{host}{f':{port}' if port and str(port) not in ('80', '443') else ''}{target}"
        elif target:
            url = target
    if url:
        request["url"] = str(url)
    agent = _first(attrs, "user_agent.original", "http.user_agent")
    if agent:
        request["user_agent"] = str(agent)
    client_ip = _first(attrs, "client.address", "http.client_ip", "net.sock.peer.addr", "net.peer.ip")
    if client_ip and kind == KIND_SERVER:
        request["client_ip"] = str(client_ip)
    forwarded = attrs.get("http.request.header.x_forwarded_for") or attrs.get("http.request.header.x-forwarded-for")
    if forwarded:
        request["x_forwarded_for"] = True
    response: dict = {}
    status = _status(attrs)
    if status is not None:
        response["status"] = status
    length = _first(attrs, "http.response.body.size", "http.response_content_length")
    if isinstance(length, (int, float)):
        response["content_length"] = int(length)
    http = {}
    if request:
        http["request"] = request
    if response:
        http["response"] = response
    return http


def _status(attrs: dict) -> int | None:
    status = _first(attrs, "http.response.status_code", "http.status_code")
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def _flags(span, attrs: dict) -> tuple[bool, bool, bool]:
    status = _status(attrs)
    failed = span.status.code == STATUS_ERROR
    if status is None or not 400 <= status <= 599:
        return False, failed, False
    if status < 500:
        return True, False, status == 429
    return False, True, False


def _cause(span) -> dict | None:
    exceptions = []
    for event in span.events:
        if event.name != "exception":
            continue
        values = attributes(event.attributes)
        exceptions.append({"id": secrets.token_hex(8), "type": str(values.get("exception.type") or ""),
                           "message": str(values.get("exception.message") or ""),
                           "remote": span.kind in (KIND_CLIENT, KIND_PRODUCER)})
    if not exceptions and span.status.code == STATUS_ERROR and span.status.message:
        exceptions.append({"id": secrets.token_hex(8), "message": span.status.message})
    return {"exceptions": exceptions} if exceptions else None


def _aws(attrs: dict, resource: dict, aws_sdk: bool) -> dict:
    aws: dict = {}
    if aws_sdk:
        if attrs.get("rpc.method"):
            aws["operation"] = str(attrs["rpc.method"])
        region = _first(attrs, "aws.region", "cloud.region")
        if region:
            aws["region"] = str(region)
        request_id = _first(attrs, "aws.request_id", "aws.requestId")
        if request_id:
            aws["request_id"] = str(request_id)
        queue = _first(attrs, "aws.sqs.queue_url", "aws.queue_url", "messaging.url")
        if queue:
            aws["queue_url"] = str(queue)
        tables = attrs.get("aws.dynamodb.table_names")
        if isinstance(tables, list) and len(tables) == 1:
            aws["table_name"] = str(tables[0])
        elif attrs.get("aws.table_name"):
            aws["table_name"] = str(attrs["aws.table_name"])
    if resource.get("telemetry.sdk.name"):
        aws["xray"] = {"sdk": f"{resource.get('telemetry.sdk.name')} for {resource.get('telemetry.sdk.language')}",
                       "sdk_version": str(resource.get("telemetry.sdk.version") or "")}
    if resource.get("cloud.account.id"):
        aws["account_id"] = str(resource["cloud.account.id"])
    return aws


def _sql(attrs: dict) -> dict:
    system = attrs.get("db.system") or attrs.get("db.system.name")
    if not system:
        return {}
    sql = {"database_type": str(system)}
    url = _first(attrs, "db.connection_string", "server.address", "net.peer.name")
    if url:
        database = _first(attrs, "db.name", "db.namespace")
        sql["url"] = f"{url}/{database}" if database and "://" not in str(url) else str(url)
    if attrs.get("db.user"):
        sql["user"] = str(attrs["db.user"])
    statement = _first(attrs, "db.query.text", "db.statement")
    if statement:
        sql["sanitized_query"] = str(statement)
    return sql


def _annotations(attrs: dict, resource: dict) -> tuple[dict, dict]:
    forced = attrs.pop("aws.xray.annotations", None)
    forced = set(forced) if isinstance(forced, list) else set()
    annotations: dict = {}
    default: dict = {}
    for key, value in attrs.items():
        scalar = isinstance(value, (str, bool, int, float))
        if scalar and (key in forced or not key.startswith(_CONVENTIONS)) and len(annotations) < MAX_ANNOTATIONS:
            annotations[fix_key(key)] = value
        elif key.startswith("aws.xray.metadata.") and isinstance(value, str):
            default[key] = value
        elif value is not None:
            default[key] = value
    for key, value in resource.items():
        if value is not None:
            default["otel.resource." + key] = value
    return annotations, ({"default": default} if default else {})
