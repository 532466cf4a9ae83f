"""X-Ray's state per account and region: moto's backend with the trace store (store.py)
in place of moto's in-memory segment list, the trace segment destination, and AWS's rules
for a segment document (what ``put_trace_segments`` and the daemon's datagrams must hold)."""

from __future__ import annotations

import json
import re
import sys
import types

if "moto.xray" not in sys.modules:
    # moto.xray's package imports its in-process mock client, which imports aws_xray_sdk, whose
    # recorder builds a botocore client at import: with an AWS_PROFILE that names no profile in
    # the cloud's environment, that failed the cloud's start. The cloud never uses the mock client.
    _stub = types.ModuleType("moto.xray.mock_client")
    _stub.MockXrayClient = _stub.XRaySegment = type("Unused", (), {})   # moto.xray makes one at import
    sys.modules.setdefault("moto.xray.mock_client", _stub)

from moto.xray.models import XRayBackend, xray_backends  # noqa: E402

from workshop.cloud import persistence, runtime, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.xray.store import TraceStore

MAX_DOCUMENT_BYTES = 64 * 1024     # AWS: a segment document is at most 64 kB
# Announced after documents are stored while the destination is CloudWatchLogs (the spans
# then also go to the aws/spans log group): account_id, region, documents.
SPANS_STORED = "xray.spans-stored"

_TRACE_ID = re.compile(r"^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$")
_SEGMENT_ID = re.compile(r"^[0-9a-fA-F]{16}$")
# Unicode letters, numbers and whitespace, and _ . : / % & # = + \ - @ (AWS's segment docs).
_BAD_NAME_CHAR = re.compile(r"[^\w\s.:/%&#=+\\\-@]")


class BadDocument(Exception):
    def __init__(self, doc_id: str | None, code: str, message: str):
        super().__init__(message)
        self.doc_id, self.code, self.message = doc_id, code, message

    def unprocessed(self) -> dict:
        found = {"ErrorCode": self.code, "Message": self.message}
        if self.doc_id:
            found["Id"] = self.doc_id
        return found


def parse_document(raw: str | bytes) -> dict:
    """A segment document checked as X-Ray checks it; BadDocument says why not."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadDocument(None, "JSONFormatError", "Bad JSON data") from None
    if not isinstance(raw, str):
        raise BadDocument(None, "JSONFormatError", "A segment document must be a string")
    if len(raw.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise BadDocument(None, "SegmentTooLarge", f"Segment document exceeds {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise BadDocument(None, "JSONFormatError", "Bad JSON data") from None
    if not isinstance(doc, dict):
        raise BadDocument(None, "JSONFormatError", "A segment document must be a JSON object")
    check_document(doc)
    return doc


def check_document(doc: dict) -> None:
    doc_id = doc.get("id") if isinstance(doc.get("id"), str) else None
    if doc_id is None:
        raise BadDocument(None, "MissingParam", "Missing segment ID")
    if not _SEGMENT_ID.match(doc_id):
        raise BadDocument(doc_id, "InvalidId", "Segment ID must be 16 hexadecimal digits")
    trace_id = doc.get("trace_id")
    if not isinstance(trace_id, str):
        raise BadDocument(doc_id, "MissingParam", "Missing trace ID")
    if not _TRACE_ID.match(trace_id):
        raise BadDocument(doc_id, "InvalidTraceId", f"Invalid trace ID: {trace_id[:64]}")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise BadDocument(doc_id, "MissingParam", "Missing segment name")
    if len(name) > 200 or _BAD_NAME_CHAR.search(name):
        raise BadDocument(doc_id, "InvalidName", "Segment name must be at most 200 letters, numbers, "
                          "whitespace and _ . : / % & # = + \\ - @")
    start = doc.get("start_time")
    if not _number(start):
        raise BadDocument(doc_id, "MissingParam", "Missing start_time")
    end = doc.get("end_time")
    if end is None:
        if doc.get("in_progress") is not True:
            raise BadDocument(doc_id, "MissingParam", "Missing end_time or in_progress")
    elif not _number(end) or end < start:
        raise BadDocument(doc_id, "InvalidParameterValue", "end_time must be a number no earlier than start_time")
    if doc.get("type") == "subsegment" and not isinstance(doc.get("parent_id"), str):
        raise BadDocument(doc_id, "MissingParam", "A subsegment sent on its own needs parent_id")
    for flag in ("error", "fault", "throttle", "in_progress"):
        if flag in doc and not isinstance(doc[flag], bool):
            raise BadDocument(doc_id, "InvalidParameterValue", f"{flag} must be a boolean")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


class WorkshopXRayBackend(XRayBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.traces = TraceStore(account_id, region_name)
        self.segment_destination = "XRay"

    @property
    def _url_module(self):
        """moto's URLs (moto looks for urls.py beside the backend's module)."""
        from moto.xray import urls

        return urls

    @property
    def lock(self):
        """The store's lock: a snapshot never pickles an index half-way through a write."""
        return self.traces.lock

    def store(self, documents: list[dict]) -> None:
        """Keep checked documents (put_trace_segments, OTLP, the daemon, Lambda)."""
        if not documents:
            return
        self.traces.put(documents, get_clock().timestamp())
        persistence.changed(self.account_id)
        if self.segment_destination == "CloudWatchLogs":
            services.announce(SPANS_STORED, account_id=self.account_id, region=self.region_name,
                              documents=documents)

    def put_raw(self, raw_documents: list) -> list[dict]:
        """put_trace_segments: store the good documents; the others' UnprocessedTraceSegments."""
        good, bad = [], []
        for raw in raw_documents:
            try:
                good.append(parse_document(raw))
            except BadDocument as exc:
                bad.append(exc.unprocessed())
        self.store(good)
        return bad


def backend(account_id: str, region: str) -> WorkshopXRayBackend:
    found = xray_backends[account_id][region]
    if not isinstance(found, WorkshopXRayBackend):
        # Restored from a snapshot written before this extension (moto's own backend):
        # moto kept its segments in memory only, so nothing of them is lost here.
        found = WorkshopXRayBackend(region, account_id)
        dict.__setitem__(xray_backends[account_id], region, found)
    return found


services.replace_backend(xray_backends, WorkshopXRayBackend)


@services.on_account_reset
def _forget_files(account_id: str) -> None:
    import shutil

    shutil.rmtree(runtime.state_dir() / "xray" / account_id, ignore_errors=True)
