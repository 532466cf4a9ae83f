"""X-Ray's wire format for the operations this package owns: put_trace_segments (AWS's
checks, UnprocessedTraceSegments), batch_get_traces, get_trace_summaries (time range
types, sampling, paging, filter expressions through ``filters.matches`` when that module
exists) and get/update_trace_segment_destination. Also routes every X-Ray path to its
operation's snake_case method (moto's own URLs cover six)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib
import json
from functools import lru_cache
from urllib.parse import urlsplit

from moto.core.utils import camelcase_to_underscores
from moto.xray import urls as moto_urls
from moto.xray.responses import XRayResponse

from workshop.cloud.clock import get_clock
from workshop.cloud.services import extend
from workshop.cloud.services.xray import summaries
from workshop.cloud.services.xray.models import backend

PAGE_SIZE = 100                    # trace summaries per page
MAX_BATCH_TRACE_IDS = 5            # AWS: BatchGetTraces takes at most 5 ids
DESTINATIONS = ("XRay", "CloudWatchLogs")
ID_TIME_SLACK = 86400.0            # a trace id's time this close to its segments' is X-Ray's stamp


@lru_cache(maxsize=1)
def _operations_by_path() -> dict[str, str]:
    from botocore.loaders import create_loader
    from botocore.model import ServiceModel

    # From botocore's data files, not a session: a session reads the environment's AWS_PROFILE.
    model = ServiceModel(create_loader().load_service_model("xray", "service-2"), "xray")
    return {model.operation_model(op).http["requestUri"].rstrip("/"): op for op in model.operation_names}


def add_routes() -> None:
    """Every X-Ray operation's path reaches XRayResponse (before the first X-Ray request
    builds moto's URL map from ``url_paths``)."""
    for path in _operations_by_path():
        moto_urls.url_paths.setdefault("{0}" + path + "$", XRayResponse.dispatch)


def _error(code: str, message: str, status: int = 400):
    return json.dumps({"__type": code, "message": message}), {"status": status, "x-amzn-ErrorType": code}


def _epoch(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    return None


def _trace_id_time(trace_id: str) -> float:
    try:
        return float(int(trace_id.split("-")[1], 16))
    except (IndexError, ValueError):
        return 0.0


def _id_time(trace) -> float:
    stamped = _trace_id_time(trace.trace_id)
    return stamped if abs(stamped - trace.start) <= ID_TIME_SLACK else trace.start


def _sampled(trace_id: str, rate: float) -> bool:
    digest = hashlib.sha256(trace_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2 ** 32 < rate


def _filter_module():
    """xrayq's filter expressions (filters.py), if this cloud has them."""
    try:
        return importlib.import_module("workshop.cloud.services.xray.filters")
    except ModuleNotFoundError as exc:
        if exc.name != "workshop.cloud.services.xray.filters":
            raise
        return None


@extend(XRayResponse)
class WorkshopXRayResponse:
    def _get_action(self) -> str:
        """The operation this path is (``/TraceSegments`` is PutTraceSegments), when this
        cloud implements it by its operation's name; else moto's name for the path."""
        path = urlsplit(self.uri).path.rstrip("/")
        operation = _operations_by_path().get(path)
        if operation and hasattr(self, camelcase_to_underscores(operation)):
            return operation
        return path.lstrip("/")

    def _params(self) -> dict | None:
        try:
            params = json.loads(self.body or "{}")
        except ValueError:
            return None
        return params if isinstance(params, dict) else None

    def put_trace_segments(self):
        params = self._params()
        if params is None:
            return _error("InvalidRequestException", "The request body is not a JSON object.")
        docs = params.get("TraceSegmentDocuments")
        if not isinstance(docs, list):
            return _error("InvalidRequestException", "TraceSegmentDocuments is required (a list of strings).")
        unprocessed = backend(self.current_account, self.region).put_raw(docs)
        return json.dumps({"UnprocessedTraceSegments": unprocessed})

    def batch_get_traces(self):
        params = self._params()
        if params is None:
            return _error("InvalidRequestException", "The request body is not a JSON object.")
        ids = params.get("TraceIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _error("InvalidRequestException", "TraceIds is required (a list of trace ids).")
        if len(ids) > MAX_BATCH_TRACE_IDS:
            return _error("InvalidRequestException",
                          f"TraceIds must contain at most {MAX_BATCH_TRACE_IDS} trace ids.")
        store = backend(self.current_account, self.region).traces
        found, missing = [], []
        for trace_id in dict.fromkeys(ids):
            trace = store.get(trace_id)
            if trace is None:
                missing.append(trace_id)
            else:
                found.append(summaries.batch_entry(trace))
        return json.dumps({"Traces": found, "UnprocessedTraceIds": missing})

    def get_trace_summaries(self):
        params = self._params()
        if params is None:
            return _error("InvalidRequestException", "The request body is not a JSON object.")
        start, end = _epoch(params.get("StartTime")), _epoch(params.get("EndTime"))
        if start is None or end is None:
            return _error("InvalidRequestException", "StartTime and EndTime are required timestamps.")
        if end < start:
            return _error("InvalidRequestException", "EndTime must not be before StartTime.")
        if end - start > 24 * 3600:
            return _error("InvalidRequestException", "The time range must not exceed 24 hours.")
        range_type = params.get("TimeRangeType") or "TraceId"
        if range_type not in ("TraceId", "Event", "Service"):
            return _error("InvalidRequestException",
                          f"TimeRangeType must be one of TraceId, Event, Service (not {range_type}).")
        expression = params.get("FilterExpression")
        matches = None
        if expression:
            filters = _filter_module()
            if filters is None:
                return _error("InvalidRequestException",
                              "Filter expressions are not supported by this cloud yet.")
            matches = filters.matches
            if hasattr(filters, "parse"):   # a parse error is the answer even when no trace is in range
                try:
                    expression = filters.parse(expression)
                except ValueError as exc:
                    return _error("InvalidRequestException", str(exc))
        rate = None
        if params.get("Sampling"):
            strategy = params.get("SamplingStrategy") or {}
            if strategy.get("Name") == "FixedRate":
                rate = float(strategy.get("Value") if strategy.get("Value") is not None else 0.05)
        offset = 0
        if params.get("NextToken"):
            try:
                token = json.loads(base64.urlsafe_b64decode(params["NextToken"]))
                offset = int(token["offset"])
            except (ValueError, KeyError, TypeError):
                return _error("InvalidRequestException", "The NextToken is not valid.")

        store = backend(self.current_account, self.region).traces
        if range_type == "TraceId":
            # The trace id's time is the time of the request that started it (epoch seconds);
            # a W3C id's first 8 hex digits may be random: then the trace's own start counts.
            candidates = (t for t in store.traces(start - ID_TIME_SLACK, end + ID_TIME_SLACK)
                          if start <= _id_time(t) <= end)
        else:
            candidates = store.traces(start, end)
        found = []
        for trace in candidates:
            if trace is None or (rate is not None and not _sampled(trace.trace_id, rate)):
                continue
            if matches is not None:
                try:
                    if not matches(expression, trace):
                        continue
                except ValueError as exc:
                    return _error("InvalidRequestException", str(exc))
            found.append(trace)
        found.sort(key=lambda t: (t.start, t.trace_id))
        page = found[offset:offset + PAGE_SIZE]
        result = {"TraceSummaries": [summaries.summarize(t, self.current_account) for t in page],
                  "ApproximateTime": int(get_clock().timestamp()),
                  "TracesProcessedCount": len(found)}
        if offset + PAGE_SIZE < len(found):
            result["NextToken"] = base64.urlsafe_b64encode(
                json.dumps({"offset": offset + PAGE_SIZE}).encode()).decode()
        return json.dumps(result)

    def get_trace_segment_destination(self):
        destination = backend(self.current_account, self.region).segment_destination
        return json.dumps({"Destination": destination, "Status": "ACTIVE"})

    def update_trace_segment_destination(self):
        params = self._params()
        if params is None:
            return _error("InvalidRequestException", "The request body is not a JSON object.")
        destination = params.get("Destination")
        if destination not in DESTINATIONS:
            return _error("InvalidRequestException",
                          f"Destination must be one of {', '.join(DESTINATIONS)}.")
        backend(self.current_account, self.region).segment_destination = destination
        return json.dumps({"Destination": destination, "Status": "ACTIVE"})
