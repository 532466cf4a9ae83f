"""Lambda's active tracing: each invocation of a function with ``TracingConfig``
``Mode=Active`` becomes two segments, as AWS records them: the Lambda service's
(``AWS::Lambda``: the request, from its arrival) and the function's
(``AWS::Lambda::Function``: its run, with an Invocation subsegment; fault when the
function failed), subscribed to the function runner's announcement."""

from __future__ import annotations

import re
import secrets

from workshop.cloud import services

INVOCATION_TRACED = "lambda.invocation-traced"   # the function runner's name for it
_TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
_SEGMENT_ID = re.compile(r"^[0-9a-f]{16}$")


def trace_context(header: str | None) -> tuple[str | None, str | None, bool]:
    """(root trace id, parent segment id, sampled) of an X-Amzn-Trace-Id header."""
    fields = dict(part.strip().split("=", 1) for part in (header or "").split(";") if "=" in part)
    root = fields.get("Root")
    if root is not None and not _TRACE_ID.match(root):
        root = None
    parent = fields.get("Parent")
    if parent is not None and not _SEGMENT_ID.match(parent):
        parent = None
    return root, parent, fields.get("Sampled") != "0"


def segments(spec, invocation, outcome, end: float) -> list[dict]:
    """The invocation's two segments; none when the caller's header says it is not sampled.
    A caller's X-Amzn-Trace-Id (the SDKs' instrumentation sends it) puts them in its trace."""
    root, parent, sampled = trace_context(getattr(invocation, "trace_header", None))
    if not sampled:
        return []
    received = float(invocation.received)
    run = max(0.0, float(outcome.duration_ms) / 1000.0)
    end = max(end, received)
    start_run = max(received, end - run)
    trace_id = root or f"1-{int(received):08x}-{secrets.token_hex(12)}"
    failed = bool(outcome.function_error)
    service = {"id": secrets.token_hex(8), "trace_id": trace_id, "name": spec.function_name,
               "origin": "AWS::Lambda", "start_time": received, "end_time": end,
               "http": {"response": {"status": 200}},
               "aws": {"request_id": invocation.request_id, "function_arn": invocation.invoked_arn,
                       "resource_names": [spec.function_name], "account_id": spec.account_id},
               "error": False, "fault": False, "throttle": False}
    if parent:
        service["parent_id"] = parent
    function = {"id": secrets.token_hex(8), "trace_id": trace_id, "parent_id": service["id"],
                "name": spec.function_name, "origin": "AWS::Lambda::Function",
                "start_time": start_run, "end_time": end,
                "aws": {"function_arn": invocation.invoked_arn, "resource_names": [spec.function_name],
                        "account_id": spec.account_id},
                "error": False, "fault": failed, "throttle": False,
                "subsegments": [{"id": secrets.token_hex(8), "name": "Invocation", "start_time": start_run,
                                 "end_time": end, "fault": failed}]}
    if failed:
        function["cause"] = {"exceptions": [{"id": secrets.token_hex(8), "message": outcome.function_error}]}
    return [service, function]


@services.on(INVOCATION_TRACED)
def _traced(spec, invocation, outcome, end: float) -> None:
    from workshop.cloud.services.xray.models import backend

    backend(spec.account_id, spec.region).store(segments(spec, invocation, outcome, end))
