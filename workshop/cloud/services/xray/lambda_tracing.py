"""Lambda's active tracing: each invocation of a function with ``TracingConfig``
``Mode=Active`` becomes two segments, as AWS records them: the Lambda service's
(``AWS::Lambda``: the request, from its arrival) and the function's
(``AWS::Lambda::Function``: its run, with an Invocation subsegment; fault when the
function failed), subscribed to the function runner's announcement."""

from __future__ import annotations

import secrets

from workshop.cloud import services

INVOCATION_TRACED = "lambda.invocation-traced"   # the function runner's name for it


def segments(spec, invocation, outcome, end: float) -> list[dict]:
    received = float(invocation.received)
    run = max(0.0, float(outcome.duration_ms) / 1000.0)
    end = max(end, received)
    start_run = max(received, end - run)
    trace_id = f"1-{int(received):08x}-{secrets.token_hex(12)}"
    failed = bool(outcome.function_error)
    service = {"id": secrets.token_hex(8), "trace_id": trace_id, "name": spec.function_name,
               "origin": "AWS::Lambda", "start_time": received, "end_time": end,
               "http": {"response": {"status": 200}},
               "aws": {"request_id": invocation.request_id, "function_arn": invocation.invoked_arn,
                       "resource_names": [spec.function_name], "account_id": spec.account_id},
               "error": False, "fault": False, "throttle": False}
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
