"""The one CloudTrail recorder: every management event the cloud keeps goes through it.

The gateway hands it each learner request once answered (``request_done``); engines,
which call backends directly, record the work they do on a learner's behalf with
``on_behalf`` (``userIdentity.type = AWSService``, ``invokedBy`` the service). A request
costs the gateway a snapshot and a queue put; a writer thread parses it with botocore's
model into CloudTrail's fields and appends it to the account's history (models.py).
Lookups ``flush()`` first, so a lookup sees every call answered before it.
"""

from __future__ import annotations

import io
import logging
import queue
import re
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

from workshop.cloud import accounts, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudtrail import models, shapes

log = logging.getLogger("workshop.cloud.cloudtrail")

EVENT_VERSION = "1.09"
MAX_BODY = 1024 * 1024  # request bodies kept for requestParameters (management calls are small)
_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/")
_QUERY_REGION = re.compile(r"X-Amz-Credential=[^&]*?(?:/|%2F)\d{8}(?:/|%2F)([a-z0-9-]+)(?:/|%2F)")
# CloudTrail's read-only events: operations that only read (by the verb AWS names them with).
READ_ONLY = re.compile(r"^(Get|List|Describe|Head|Lookup|BatchGet|BatchDescribe|Search|Validate|Estimate"
                       r"|GitPull)([A-Z]|$)")
# Data events: not in Event History on AWS (object-level S3, function invocations, messages,
# metric data, trace segments, log events); trails log them only when asked to.
DATA_EVENTS = {
    "s3": {"ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads", "DeleteObjects",
           "WriteGetObjectResponse", "SelectObjectContent"},
    "lambda": {"Invoke", "InvokeAsync", "InvokeWithResponseStream"},
    "cloudwatch": {"PutMetricData", "GetMetricData", "GetMetricStatistics", "ListMetrics", "GetMetricWidgetImage"},
    "xray": {"PutTraceSegments", "PutTelemetryRecords", "GetSamplingRules", "GetSamplingTargets",
             "GetSamplingStatisticSummaries"},
    "logs": {"PutLogEvents", "GetLogEvents", "FilterLogEvents", "GetLogRecord", "StartLiveTail"},
    "sns": {"Publish", "PublishBatch"},
    "sqs": {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
            "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"},
    "dynamodb": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                 "BatchWriteItem", "TransactGetItems", "TransactWriteItems", "ExecuteStatement",
                 "BatchExecuteStatement", "ExecuteTransaction"},
    "kinesis": {"PutRecord", "PutRecords", "GetRecords", "GetShardIterator", "SubscribeToShard"},
}
_KEPT_HEADERS = ("HTTP_", "CONTENT_TYPE", "CONTENT_LENGTH", "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING",
                 "SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "wsgi.url_scheme", "SCRIPT_NAME",
                 "REQUEST_URI", "RAW_URI")     # the path as sent (services.routing: ARNs in a segment)


# -- what engines call ---------------------------------------------------------------

def on_behalf(account_id: str, region: str, invoked_by: str, service: str, operation: str,
              parameters: dict | None = None, response: dict | None = None, **details) -> None:
    """Record an API call a service made for the learner, e.g. CodePipeline starting a build::

        recorder.on_behalf(account, region, "codepipeline.amazonaws.com", "codebuild", "StartBuild",
                           {"projectName": name}, {"build": {"id": build_id}})

    ``service`` and ``operation`` are botocore's names; ``parameters`` and ``response`` use the
    API's member names (sensitive and blob members are dropped here). ``details``: ``resources``
    (LookupEvents' [{"ResourceType", "ResourceName"}], when shapes.RESOURCE_MEMBERS does not find
    them), ``error_code``/``error_message``, ``read_only``, ``additional`` (additionalEventData)."""
    identity = {"type": "AWSService", "invokedBy": invoked_by}
    _put(("call", account_id, region, identity, service, operation, parameters or {}, response, details,
          invoked_by, invoked_by, get_clock().now()))


def learner_call(environ: dict, service: str, operation: str, parameters: dict | None = None,
                 response: dict | None = None, **details) -> None:
    """Record a learner's call that is not an AWS API request through moto (a ``git push``
    to CodeCommit is ``GitPush``; a registry push): the caller is the request's key."""
    identity = accounts.caller(accounts.access_key_from_environ(environ))
    account = environ.get("workshop.account") or identity["accountId"]
    _put(("call", account, _region(environ), identity, service, operation, parameters or {}, response, details,
          environ.get("REMOTE_ADDR") or "127.0.0.1", environ.get("HTTP_USER_AGENT") or "", get_clock().now()))


def request_done(environ: dict, status: str, headers: list, chunks: list[bytes]) -> None:
    """The gateway's one call per answered request (cheap: a snapshot and a queue put)."""
    snapshot = {k: v for k, v in environ.items() if isinstance(v, str) and k.startswith(_KEPT_HEADERS)}
    # eventTime is when the request arrived, as on AWS (the gateway notes it): stamped when the
    # answer was ready, a CreateStack that ended in the next second looked later than the stack.
    _put(("request", snapshot, environ.get("workshop.body"), environ.get("workshop.account"), status,
          headers, chunks, environ.get("workshop.received") or get_clock().now()))


def keep_body(environ: dict) -> None:
    """Buffer a small request body before moto reads it, for requestParameters."""
    if "workshop.body" in environ:
        return
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if 0 < length <= MAX_BODY:
        body = environ["wsgi.input"].read(length)
        environ["workshop.body"] = body
        environ["wsgi.input"] = io.BytesIO(body)


def flush(timeout: float = 30.0) -> None:
    """Wait until every event recorded so far is in its history."""
    if _writer is None:
        return
    done = threading.Event()
    _queue.put(("flush", done))
    done.wait(timeout)


# -- the writer ----------------------------------------------------------------------

_queue: queue.SimpleQueue = queue.SimpleQueue()
_writer: threading.Thread | None = None
_writer_lock = threading.Lock()


def _put(item: tuple) -> None:
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = threading.Thread(target=_write_forever, name="cloudtrail-recorder", daemon=True)
                _writer.start()
    _queue.put(item)


def _write_forever() -> None:
    while True:
        items = [_queue.get()]
        while len(items) < 500:
            try:
                items.append(_queue.get_nowait())
            except queue.Empty:
                break
        pending: dict[tuple[str, str], list[bytes]] = {}
        waiting: list[threading.Event] = []
        for item in items:
            if item[0] == "flush":
                waiting.append(item[1])
                continue
            try:
                built = _build(item)
            except Exception:  # a request the recorder cannot read is not a reason to lose the others
                log.warning("could not record a CloudTrail event", exc_info=True)
                continue
            if built is not None:
                account, region, entry = built
                pending.setdefault((account, region), []).append(models.encode(entry))
        for (account, region), lines in pending.items():
            try:
                models.append(account, region, lines)
            except OSError:
                log.warning("could not write the CloudTrail history of %s", account, exc_info=True)
        for done in waiting:
            done.set()


def _build(item: tuple) -> tuple[str, str, dict] | None:
    if item[0] == "call":
        _, account, region, identity, service, operation, params, response, details, source_ip, agent, when = item
        event = _event(account, region, dict(identity), service, operation, params, response,
                       details.get("error_code"), details.get("error_message"), when, source_ip=source_ip,
                       user_agent=agent, request_id=str(uuid.uuid4()), resources=details.get("resources"),
                       read_only=details.get("read_only"), additional=details.get("additional"))
        return account, region, event
    _, environ, body, account, status, headers, chunks, when = item
    return _from_request(environ, body, account, status, headers, chunks, when)


def _from_request(environ: dict, body: bytes | None, account: str | None, status: str, headers: list,
                  chunks: list[bytes], when: datetime) -> tuple[str, str, dict] | None:
    service = shapes.service_of(environ)
    if service is None:
        return None
    if body is not None:
        environ["workshop.body"] = body
    operation, uri_params = shapes.operation_of(environ, service)
    if operation is None or _is_data_event(service, operation):
        return None
    region = _region(environ)
    key = accounts.access_key_from_environ(environ)
    identity = accounts.caller(key)
    account = account or identity["accountId"]
    params = shapes.parse_request(service, operation, environ, body, uri_params)
    code = int(status.split(" ", 1)[0])
    response, error_code, error_message = None, None, None
    if code >= 300 or not READ_ONLY.match(operation):
        response, error_code, error_message = shapes.parse_response(service, operation, code, headers, chunks)
    if code >= 300 and error_code is None:
        error_code = status.split(" ", 1)[-1].replace(" ", "")
    request_id = next((v for k, v in headers if k.lower() in ("x-amzn-requestid", "x-amz-request-id")), None)
    event = _event(account, region, identity, service, operation, params, response, error_code, error_message,
                   when, source_ip=environ.get("REMOTE_ADDR") or "127.0.0.1",
                   user_agent=environ.get("HTTP_USER_AGENT") or "", request_id=request_id or str(uuid.uuid4()))
    return account, region, event


def _is_data_event(service: str, operation: str) -> bool:
    if operation in DATA_EVENTS.get(service, ()):
        return True
    return service == "s3" and shapes.has_member(service, operation, "Key")


def _region(environ: dict) -> str:
    match = _REGION.search(environ.get("HTTP_AUTHORIZATION", "")) or \
        _QUERY_REGION.search(environ.get("QUERY_STRING", ""))
    return match.group(1) if match else "us-east-1"


def _event(account: str, region: str, identity: dict, service: str, operation: str, params: dict,
           response: dict | None, error_code: str | None, error_message: str | None, when: datetime, *,
           source_ip: str, user_agent: str, request_id: str, resources: list[dict] | None = None,
           read_only: bool | None = None, additional: dict | None = None) -> dict:
    """One stored entry: LookupEvents' fields, and the event itself as CloudTrailEvent."""
    if read_only is None:
        read_only = bool(READ_ONLY.match(operation))
    username = identity.pop("userName", None) if identity.get("type") == "AssumedRole" else \
        identity.get("userName")
    if identity.get("type") == "Root":
        username = "root"
    if resources is None:
        resources = shapes.resources_of(service, account, region, params, response)
    event_id = str(uuid.uuid4())
    when = when.astimezone(timezone.utc)
    trail = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": shapes.event_source(service),
        "eventName": operation,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": shapes.trail_parameters(service, operation, params, "input") if params else None,
        "responseElements": None if read_only or response is None else
        shapes.trail_parameters(service, operation, response, "output"),
        "requestID": request_id,
        "eventID": event_id,
        "readOnly": read_only,
        "resources": [{"accountId": account, "type": r["ResourceType"], "ARN": r["ResourceName"]}
                      if r["ResourceName"].startswith("arn:") else
                      {"accountId": account, "type": r["ResourceType"], "resourceName": r["ResourceName"]}
                      for r in resources],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if additional:
        trail["additionalEventData"] = additional
    if error_code:
        trail["errorCode"] = error_code
        trail["errorMessage"] = error_message or ""
    entry = {"EventId": event_id, "EventName": operation, "ReadOnly": "true" if read_only else "false",
             "EventTime": when.timestamp(), "EventSource": trail["eventSource"], "Resources": resources,
             "CloudTrailEvent": _json(trail)}
    if identity.get("accessKeyId"):
        entry["AccessKeyId"] = identity["accessKeyId"]
    if username:
        entry["Username"] = username
    return entry


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), default=str)


@services.on_account_reset
def _forget(account_id: str) -> None:
    """A reset account starts with an empty history (nothing else removes events)."""
    flush()
    models.forget_account(account_id)
