"""The CloudWatchLogs trace segment destination: while an account's destination is
CloudWatchLogs, each stored segment and subsegment is also written, as an OpenTelemetry
span in JSON, to the ``aws/spans`` log group (stream ``default``), as AWS's Transaction
Search writes them."""

from __future__ import annotations

import json
import logging
import threading

from workshop.cloud import persistence, services
from workshop.cloud.services.xray.models import SPANS_STORED

log = logging.getLogger("workshop.cloud.xray")

LOG_GROUP = "aws/spans"
LOG_STREAM = "default"
_lock = threading.Lock()


def span_of(doc: dict, parent_id: str | None, trace_id: str) -> dict:
    """One segment or subsegment as an OpenTelemetry span (JSON, as aws/spans holds them)."""
    parts = trace_id.split("-")
    start = float(doc.get("start_time") or 0)
    end = float(doc.get("end_time") or start)
    if doc.get("type") != "subsegment" and parent_id is None or doc.get("origin"):
        kind = "SERVER"
    elif doc.get("namespace") in ("remote", "aws"):
        kind = "CLIENT"
    else:
        kind = "INTERNAL"
    attributes: dict = {"aws.xray.segment.name": doc.get("name")}
    request = (doc.get("http") or {}).get("request") or {}
    response = (doc.get("http") or {}).get("response") or {}
    if request.get("method"):
        attributes["http.request.method"] = request["method"]
    if request.get("url"):
        attributes["url.full"] = request["url"]
    if response.get("status") is not None:
        attributes["http.response.status_code"] = response["status"]
    for key, value in (doc.get("annotations") or {}).items():
        attributes[key] = value
    failed = doc.get("fault") or doc.get("error")
    span = {"traceId": "".join(parts[1:]) if len(parts) == 3 else trace_id, "spanId": doc.get("id"),
            "name": doc.get("name"), "kind": kind,
            "startTimeUnixNano": int(start * 1e9), "endTimeUnixNano": int(end * 1e9),
            "durationNano": int((end - start) * 1e9), "attributes": attributes,
            "status": {"code": "ERROR" if failed else "UNSET"}}
    if parent_id:
        span["parentSpanId"] = parent_id
    return span


def _spans(doc: dict, parent_id: str | None, trace_id: str):
    yield span_of(doc, parent_id, trace_id)
    for sub in doc.get("subsegments") or ():
        if isinstance(sub, dict):
            yield from _spans(sub, doc.get("id"), trace_id)


@services.on(SPANS_STORED)
def _write(account_id: str, region: str, documents: list[dict]) -> None:
    from workshop.cloud.clock import get_clock
    from workshop.cloud.services.logs.models import logs_backend

    now = int(get_clock().timestamp() * 1000)
    events = []
    for doc in documents:
        for span in _spans(doc, doc.get("parent_id"), doc.get("trace_id", "")):
            timestamp = int(span["startTimeUnixNano"] / 1e6) or now
            events.append({"timestamp": timestamp, "message": json.dumps(span, separators=(",", ":"))})
    if not events:
        return
    events.sort(key=lambda e: e["timestamp"])
    try:
        backend = logs_backend(account_id, region)
        with _lock:
            backend.ensure_log_group(LOG_GROUP)
            backend.ensure_log_stream(LOG_GROUP, LOG_STREAM)
            backend.put_log_events(LOG_GROUP, LOG_STREAM, events)
        persistence.changed(account_id)
    except Exception:   # the traces are kept either way
        log.exception("could not write spans to %s in account %s", LOG_GROUP, account_id)
