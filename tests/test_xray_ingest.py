"""X-Ray that ingests: segment documents through put_trace_segments, spans through the OTLP
endpoint (/v1/traces, the OpenTelemetry SDK's own exporter), the daemon's UDP protocol
(aws-xray-sdk unchanged), read back with batch_get_traces and get_trace_summaries."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from botocore.exceptions import ClientError


def _trace_id(at: float | None = None) -> str:
    return f"1-{int(at or time.time()):08x}-{secrets.token_hex(12)}"


def _segment(trace_id: str, **fields) -> dict:
    now = time.time()
    doc = {"id": secrets.token_hex(8), "trace_id": trace_id, "name": "front",
           "start_time": now - 1, "end_time": now}
    doc.update(fields)
    return doc


def test_put_trace_segments_checks_documents_and_keeps_the_good_ones(cloud, account):
    xray = cloud.client("xray", account)
    trace_id = _trace_id()
    root = _segment(trace_id, http={"request": {"method": "GET", "url": "http://shop/cart"},
                                    "response": {"status": 503}}, fault=True, annotations={"order": "A-1", "items": 3})
    call = {"id": secrets.token_hex(8), "trace_id": trace_id, "parent_id": root["id"], "type": "subsegment",
            "name": "pricing", "namespace": "remote", "start_time": root["start_time"] + 0.1,
            "end_time": root["start_time"] + 0.4, "http": {"response": {"status": 429}}, "error": True,
            "throttle": True}
    bad = [
        "not json",
        json.dumps({"trace_id": trace_id, "name": "x", "start_time": 1, "end_time": 2}),          # no id
        json.dumps(_segment("1-abc", id="00000000000000aa")),                                     # bad trace id
        json.dumps({k: v for k, v in _segment(trace_id, id="00000000000000bb").items() if k != "end_time"}),
        json.dumps(_segment(trace_id, id="00000000000000cc", name="bad<name>")),
        json.dumps(_segment(trace_id, id="00000000000000dd", blob="x" * 70_000)),                 # over 64 kB
    ]
    result = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(root), json.dumps(call)] + bad)
    unprocessed = result["UnprocessedTraceSegments"]
    assert len(unprocessed) == len(bad)
    codes = [u["ErrorCode"] for u in unprocessed]
    assert codes == ["JSONFormatError", "MissingParam", "InvalidTraceId", "MissingParam", "InvalidName",
                     "SegmentTooLarge"]

    traces = xray.batch_get_traces(TraceIds=[trace_id, _trace_id()])
    assert len(traces["UnprocessedTraceIds"]) == 1
    (trace,) = traces["Traces"]
    assert trace["Id"] == trace_id
    (segment,) = [json.loads(s["Document"]) for s in trace["Segments"]]
    assert segment["id"] == root["id"]
    assert [s["name"] for s in segment["subsegments"]] == ["pricing"]   # sent on its own, nested

    summaries = xray.get_trace_summaries(StartTime=time.time() - 60, EndTime=time.time() + 60)["TraceSummaries"]
    (summary,) = [s for s in summaries if s["Id"] == trace_id]
    assert (summary["HasFault"], summary["HasError"], summary["HasThrottle"]) == (True, True, True)
    assert summary["Http"] == {"HttpURL": "http://shop/cart", "HttpMethod": "GET", "HttpStatus": 503}
    assert summary["Annotations"]["order"][0]["AnnotationValue"] == {"StringValue": "A-1"}
    assert summary["Annotations"]["items"][0]["AnnotationValue"] == {"NumberValue": 3}
    assert summary["EntryPoint"]["Name"] == "front"
    assert {(s["Name"], s.get("Type")) for s in summary["ServiceIds"]} == {("front", None), ("pricing", "remote")}
    assert summary["ResponseTime"] == pytest.approx(1.0, abs=0.01)
    assert summary["IsPartial"] is False


def test_a_completed_segment_replaces_its_in_progress_document(cloud, account):
    xray = cloud.client("xray", account)
    trace_id = _trace_id()
    doc = _segment(trace_id)
    started = {k: v for k, v in doc.items() if k != "end_time"}
    started["in_progress"] = True
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(started)])
    (summary,) = xray.get_trace_summaries(StartTime=time.time() - 60, EndTime=time.time() + 60)["TraceSummaries"]
    assert summary["IsPartial"] is True
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])
    (trace,) = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
    assert len(trace["Segments"]) == 1 and "in_progress" not in json.loads(trace["Segments"][0]["Document"])


def test_trace_summaries_time_ranges_sampling_and_pages(cloud, account):
    xray = cloud.client("xray", account)
    now = time.time()
    old = _trace_id(now - 7200)      # its id says two hours ago, its segment is recent
    recent = [_trace_id(now) for _ in range(105)]
    docs = [json.dumps(_segment(t)) for t in [old] + recent]
    for i in range(0, len(docs), 50):
        assert xray.put_trace_segments(TraceSegmentDocuments=docs[i:i + 50])["UnprocessedTraceSegments"] == []
    window = {"StartTime": now - 600, "EndTime": now + 60}
    by_id = xray.get_trace_summaries(**window)
    assert by_id["TracesProcessedCount"] == 105 and len(by_id["TraceSummaries"]) == 100
    rest = xray.get_trace_summaries(**window, NextToken=by_id["NextToken"])
    assert len(rest["TraceSummaries"]) == 5 and "NextToken" not in rest
    seen = {s["Id"] for s in by_id["TraceSummaries"] + rest["TraceSummaries"]}
    assert seen == set(recent)
    by_event = xray.get_trace_summaries(**window, TimeRangeType="Event")
    assert by_event["TracesProcessedCount"] == 106
    sampled = xray.get_trace_summaries(**window, Sampling=True,
                                       SamplingStrategy={"Name": "FixedRate", "Value": 0.2})
    assert 0 < sampled["TracesProcessedCount"] < 60
    paginator = xray.get_paginator("get_trace_summaries")
    assert sum(len(p["TraceSummaries"]) for p in paginator.paginate(**window)) == 105


def test_bad_requests_get_aws_errors(cloud, account):
    xray = cloud.client("xray", account)
    now = time.time()
    with pytest.raises(ClientError) as err:
        xray.get_trace_summaries(StartTime=now, EndTime=now - 60)
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as err:
        xray.batch_get_traces(TraceIds=[_trace_id() for _ in range(6)])
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as err:
        xray.update_trace_segment_destination(Destination="S3")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_filter_expressions_are_refused_or_applied(cloud, account):
    """Until xray/filters.py exists a FilterExpression is refused (never silently ignored)."""
    import importlib.util

    xray = cloud.client("xray", account)
    faulty, fine = _trace_id(), _trace_id()
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(_segment(faulty, fault=True)),
                                                   json.dumps(_segment(fine))])
    window = {"StartTime": time.time() - 60, "EndTime": time.time() + 60}
    if importlib.util.find_spec("workshop.cloud.services.xray.filters") is None:
        with pytest.raises(ClientError) as err:
            xray.get_trace_summaries(**window, FilterExpression="fault")
        assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    else:
        found = xray.get_trace_summaries(**window, FilterExpression="fault")["TraceSummaries"]
        assert [s["Id"] for s in found] == [faulty]
        with pytest.raises(ClientError) as err:
            xray.get_trace_summaries(StartTime=0, EndTime=60, FilterExpression="fault = = (")
        assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_segment_destination_cloudwatch_logs_writes_spans(cloud, account):
    xray, logs = cloud.client("xray", account), cloud.client("logs", account)
    assert xray.get_trace_segment_destination()["Destination"] == "XRay"
    assert xray.update_trace_segment_destination(Destination="CloudWatchLogs")["Destination"] == "CloudWatchLogs"
    current = xray.get_trace_segment_destination()
    assert (current["Destination"], current["Status"]) == ("CloudWatchLogs", "ACTIVE")
    trace_id = _trace_id()
    doc = _segment(trace_id, fault=True)
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])
    events = logs.filter_log_events(logGroupName="aws/spans")["events"]
    (span,) = [json.loads(e["message"]) for e in events]
    assert span["spanId"] == doc["id"] and span["traceId"] == trace_id.replace("-", "")[1:]
    assert span["status"]["code"] == "ERROR"
    assert xray.batch_get_traces(TraceIds=[trace_id])["Traces"]    # still in X-Ray too


def test_lambda_active_tracing_emits_the_service_and_function_segments(cloud, account):
    from tests.test_lambda_invoke import invoke, make_function

    source = """
        def handler(event, context):
            if event.get("fail"):
                raise RuntimeError("out of stock")
            return {"ok": True}
    """
    make_function(cloud, account, "traced", source, TracingConfig={"Mode": "Active"})
    make_function(cloud, account, "untraced", source)
    client = cloud.client("lambda", account)
    invoke(client, "traced", {})
    invoke(client, "traced", {"fail": True})
    invoke(client, "untraced", {})
    xray = cloud.client("xray", account)
    now = time.time()
    summaries = xray.get_trace_summaries(StartTime=now - 300, EndTime=now + 60)["TraceSummaries"]
    assert len(summaries) == 2                                   # one trace per traced invocation
    assert sorted(s["HasFault"] for s in summaries) == [False, True]
    for summary in summaries:
        assert {(s["Name"], s["Type"]) for s in summary["ServiceIds"]} == {
            ("traced", "AWS::Lambda"), ("traced", "AWS::Lambda::Function")}
        assert summary["EntryPoint"]["Type"] == "AWS::Lambda"
    (trace,) = xray.batch_get_traces(TraceIds=[summaries[0]["Id"]])["Traces"]
    docs = {json.loads(s["Document"])["origin"]: json.loads(s["Document"]) for s in trace["Segments"]}
    assert docs["AWS::Lambda::Function"]["parent_id"] == docs["AWS::Lambda"]["id"]
    assert [s["name"] for s in docs["AWS::Lambda::Function"]["subsegments"]] == ["Invocation"]


def test_account_reset_forgets_the_traces_and_their_files(cloud, account):
    import urllib.request

    xray = cloud.client("xray", account)
    trace_id = _trace_id()
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(_segment(trace_id))])
    folder = cloud.data_dir / "state" / "xray" / account
    assert any(folder.rglob("*.jsonl"))
    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", data=b"",
                                     method="POST", headers={"X-Workshop-Admin-Token": cloud.admin_token})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert xray.batch_get_traces(TraceIds=[trace_id])["Traces"] == []
    assert not any(folder.rglob("*.jsonl"))
    again = _trace_id()                                    # and the account takes traces again
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(_segment(again))])
    assert xray.batch_get_traces(TraceIds=[again])["Traces"]


def test_a_callers_trace_header_puts_the_lambda_segments_in_its_trace(cloud, account):
    from tests.test_lambda_invoke import make_function

    make_function(cloud, account, "joined", "def handler(event, context):\n    return 1\n",
                  TracingConfig={"Mode": "Active"})
    client = cloud.client("lambda", account)
    trace_id, parent = _trace_id(), secrets.token_hex(8)
    headers = iter([f"Root={trace_id};Parent={parent};Sampled=1", f"Root={_trace_id()};Sampled=0"])

    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = next(headers)

    client.meta.events.register("before-sign.lambda.Invoke", add_header)
    client.invoke(FunctionName="joined", Payload=b"{}")
    client.invoke(FunctionName="joined", Payload=b"{}")    # not sampled: no segments
    xray = cloud.client("xray", account)
    (trace,) = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
    docs = {json.loads(s["Document"])["origin"]: json.loads(s["Document"]) for s in trace["Segments"]}
    assert docs["AWS::Lambda"]["parent_id"] == parent
    assert docs["AWS::Lambda::Function"]["parent_id"] == docs["AWS::Lambda"]["id"]
    now = time.time()
    assert len(xray.get_trace_summaries(StartTime=now - 300, EndTime=now + 60)["TraceSummaries"]) == 1
