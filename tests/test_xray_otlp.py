"""Real tracing clients against the cloud, unchanged: OpenTelemetry's Python SDK with its
OTLP/HTTP exporter (a two-service trace over HTTP with the traceparent header), the AWS
distro's SigV4-signing exporter, aws-xray-sdk over the daemon's UDP port, the AWS CLI;
OTLP's JSON encoding, bad bodies (400, never 500), class mode (unsigned: 403, daemon off),
and traces kept across a restart."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT, start_cloud, stop_cloud

DEFAULT = "000000000000"


def _provider(service: str, exporter):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service, "cloud.provider": "aws",
                                                        "cloud.platform": "aws_ec2"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _xray_id(trace_id: int) -> str:
    text = format(trace_id, "032x")
    return f"1-{text[:8]}-{text[8:]}"


def _wait_for_trace(xray, trace_id: str, segments: int = 1, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        traces = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
        docs = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        if len(docs) >= segments or time.monotonic() > deadline:
            return docs
        time.sleep(0.2)


def _walk(doc: dict):
    yield doc
    for sub in doc.get("subsegments") or ():
        yield from _walk(sub)


class _Pricing(BaseHTTPRequestHandler):
    tracer = None

    def do_GET(self):
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        context = TraceContextTextMapPropagator().extract(carrier={k.lower(): v for k, v in self.headers.items()})
        code = 500 if "fail" in self.path else 200
        with self.tracer.start_as_current_span(
                "GET /price", context=context, kind=SpanKind.SERVER,
                attributes={"http.request.method": "GET", "url.path": self.path, "url.scheme": "http",
                            "server.address": "127.0.0.1", "server.port": self.server.server_port,
                            "http.response.status_code": code, "currency": "EUR"}) as span:
            if code == 500:
                span.set_status(Status(StatusCode.ERROR, "pricing database unreachable"))
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def _call_pricing(tracer, port: int, path: str) -> int:
    """Service A's request handling: a server span, and a client span calling pricing."""
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    with tracer.start_as_current_span("GET /order", kind=SpanKind.SERVER,
                                      attributes={"http.request.method": "GET", "url.full": "http://orders/order",
                                                  "http.response.status_code": 200, "customer": "ann"}) as root:
        url = f"http://127.0.0.1:{port}{path}"
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT,
                                          attributes={"http.request.method": "GET", "url.full": url,
                                                      "peer.service": "pricing"}) as client:
            headers: dict = {}
            TraceContextTextMapPropagator().inject(headers)
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            client.set_attribute("http.response.status_code", status)
            if status >= 500:
                client.set_status(Status(StatusCode.ERROR))
        return root.get_span_context().trace_id


def test_two_services_traced_with_the_opentelemetry_sdk(cloud):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = f"{cloud.endpoint}/v1/traces"
    orders = _provider("orders", OTLPSpanExporter(endpoint=endpoint))
    pricing = _provider("pricing", OTLPSpanExporter(endpoint=endpoint))
    _Pricing.tracer = pricing.get_tracer("pricing")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pricing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tracer = orders.get_tracer("orders")
        ok = _xray_id(_call_pricing(tracer, server.server_port, "/price"))
        failed = _xray_id(_call_pricing(tracer, server.server_port, "/price?fail=1"))
    finally:
        server.shutdown()
        orders.shutdown()
        pricing.shutdown()

    xray = cloud.client("xray", DEFAULT)   # unsigned OTLP: the default account
    docs = _wait_for_trace(xray, failed, segments=2)
    by_name = {d["name"]: d for d in docs}
    assert set(by_name) == {"orders", "pricing"}
    front, back = by_name["orders"], by_name["pricing"]
    (call,) = front["subsegments"]
    assert call["name"] == "pricing" and call["namespace"] == "remote"
    assert call["http"]["request"]["url"].endswith("/price?fail=1") and call["http"]["response"]["status"] == 500
    assert back["parent_id"] == call["id"]                      # B's segment hangs under A's call
    assert "parent_id" not in front and front["origin"] == "AWS::EC2::Instance"
    assert front["annotations"]["customer"] == "ann" and back["annotations"]["currency"] == "EUR"
    assert back["fault"] is True and call["fault"] is True and front["fault"] is False
    assert back["cause"]["exceptions"][0]["message"] == "pricing database unreachable"
    assert back["http"]["request"]["url"].startswith("http://127.0.0.1:")    # a server span's URL, rebuilt
    assert back["http"]["request"]["url"].endswith("/price?fail=1")

    now = time.time()
    summaries = {s["Id"]: s for s in xray.get_paginator("get_trace_summaries").paginate(
        StartTime=now - 300, EndTime=now + 60).build_full_result()["TraceSummaries"]}
    assert summaries[failed]["HasFault"] is True and summaries[ok]["HasFault"] is False
    assert summaries[failed]["EntryPoint"]["Name"] == "orders"
    assert {s["Name"] for s in summaries[failed]["ServiceIds"]} == {"orders", "pricing"}
    assert summaries[failed]["Http"]["HttpURL"] == "http://orders/order"


def test_the_aws_distro_sigv4_exporter_sends_to_the_keys_account(cloud, account, monkeypatch):
    from amazon.opentelemetry.distro.exporter.otlp.aws.traces.otlp_aws_span_exporter import OTLPAwsSpanExporter
    from botocore.session import Session
    from opentelemetry.trace import SpanKind

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", account)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    exporter = OTLPAwsSpanExporter(aws_region="us-east-1", session=Session(),
                                   endpoint=f"{cloud.endpoint}/v1/traces")
    provider = _provider("checkout", exporter)
    with provider.get_tracer("t").start_as_current_span("POST /checkout", kind=SpanKind.SERVER,
                                                        attributes={"http.response.status_code": 429}) as span:
        trace_id = _xray_id(span.get_span_context().trace_id)
    provider.shutdown()
    (doc,) = _wait_for_trace(cloud.client("xray", account), trace_id)
    assert doc["name"] == "checkout" and doc["error"] is True and doc["throttle"] is True
    assert cloud.client("xray", DEFAULT).batch_get_traces(TraceIds=[trace_id])["Traces"] == []


def _otlp_json(trace_hex: str, service: str = "json-app") -> dict:
    now = time.time_ns()
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": [
            {"traceId": trace_hex, "spanId": "00f067aa0ba902b7", "name": "POST /pay", "kind": 2,
             "startTimeUnixNano": str(now - 2_000_000), "endTimeUnixNano": str(now),
             "attributes": [{"key": "http.method", "value": {"stringValue": "POST"}},
                            {"key": "http.status_code", "value": {"intValue": "503"}},
                            {"key": "retries", "value": {"intValue": "2"}},
                            {"key": "premium", "value": {"boolValue": True}}],
             "status": {"code": 2}},
            {"traceId": trace_hex, "spanId": "b7ad6b7169203331", "parentSpanId": "00f067aa0ba902b7",
             "name": "SELECT", "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": str(now - 1_000_000),
             "endTimeUnixNano": str(now - 500_000),
             "attributes": [{"key": "db.system", "value": {"stringValue": "sqlite"}},
                            {"key": "db.name", "value": {"stringValue": "stock"}},
                            {"key": "db.statement", "value": {"stringValue": "SELECT 1"}}]},
            {"traceId": trace_hex, "spanId": "c7ad6b7169203331", "parentSpanId": "00f067aa0ba902b7",
             "name": "S3.GetObject", "kind": 3, "startTimeUnixNano": str(now - 900_000),
             "endTimeUnixNano": str(now - 800_000),
             "attributes": [{"key": "rpc.system", "value": {"stringValue": "aws-api"}},
                            {"key": "rpc.service", "value": {"stringValue": "S3"}},
                            {"key": "rpc.method", "value": {"stringValue": "GetObject"}}]}]}]}]}


def _post(url: str, body: bytes, content_type: str, headers: dict | None = None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def test_otlp_json_encoding_and_attribute_mapping(cloud):
    trace_hex = format(int(time.time()), "08x") + secrets.token_hex(12)
    body = json.dumps(_otlp_json(trace_hex)).encode()
    status, answer, content_type = _post(f"{cloud.endpoint}/v1/traces", gzip.compress(body), "application/json",
                                         {"Content-Encoding": "gzip"})
    assert (status, json.loads(answer), content_type) == (200, {}, "application/json")
    trace_id = f"1-{trace_hex[:8]}-{trace_hex[8:]}"
    (segment,) = _wait_for_trace(cloud.client("xray", DEFAULT), trace_id)
    assert segment["name"] == "json-app" and segment["fault"] is True
    assert segment["http"] == {"request": {"method": "POST"}, "response": {"status": 503}}
    assert segment["annotations"] == {"retries": 2, "premium": True}
    subs = {s["name"]: s for s in segment["subsegments"]}
    assert subs["stock"]["sql"] == {"database_type": "sqlite", "sanitized_query": "SELECT 1"}
    assert subs["stock"]["namespace"] == "remote"
    assert subs["S3"]["namespace"] == "aws" and subs["S3"]["aws"]["operation"] == "GetObject"


def test_partial_success_counts_spans_with_bad_ids(cloud):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    doc = _otlp_json(secrets.token_hex(16))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["traceId"] = "0" * 32
    status, answer, _ = _post(f"{cloud.endpoint}/v1/traces", json.dumps(doc).encode(), "application/json")
    assert status == 200 and json.loads(answer)["partialSuccess"]["rejectedSpans"] == "1"
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    import base64

    request = ExportTraceServiceRequest()
    for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:   # protobuf's JSON mapping: base64 ids
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in span:
                span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    json_format.ParseDict(doc, request)
    status, answer, content_type = _post(f"{cloud.endpoint}/v1/traces", request.SerializeToString(),
                                         "application/x-protobuf")
    response = ExportTraceServiceResponse.FromString(answer)
    assert (status, content_type, response.partial_success.rejected_spans) == (200, "application/x-protobuf", 1)


@pytest.mark.parametrize("body, content_type, headers, expected", [
    (b"\x0a\xff\xff\xff\xff\x0f", "application/x-protobuf", {}, 400),        # garbage protobuf
    (b'{"resourceSpans": [', "application/json", {}, 400),                  # not JSON
    (b'{"resourceSpans": 7}', "application/json", {}, 400),                 # JSON, not OTLP
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "application/json", {}, 400),
    (b"\x1f\x8b not gzip", "application/x-protobuf", {"Content-Encoding": "gzip"}, 400),
    (b"x" * (5 * 1024 * 1024 + 1), "application/x-protobuf", {}, 400),     # oversized
    (gzip.compress(b"\0" * (6 * 1024 * 1024)), "application/x-protobuf", {"Content-Encoding": "gzip"}, 400),
    (b"hello", "text/plain", {}, 415),
])
def test_bad_otlp_bodies_get_400_not_500(cloud, body, content_type, headers, expected):
    status, answer, answer_type = _post(f"{cloud.endpoint}/v1/traces", body, content_type, headers)
    assert status == expected
    if content_type == "application/json":
        assert json.loads(answer)["code"] == 3 and json.loads(answer)["message"]
    elif content_type == "application/x-protobuf":
        from google.rpc.status_pb2 import Status

        assert Status.FromString(answer).message


XRAY_SDK_APP = """
from aws_xray_sdk.core import xray_recorder
xray_recorder.configure(service="legacy")   # default sampling: rules asked of the daemon port
segment = xray_recorder.begin_segment("legacy")
segment.put_annotation("order", "B-2")
segment.put_http_meta("url", "http://legacy/checkout")
segment.put_http_meta("method", "POST")
subsegment = xray_recorder.begin_subsegment("inventory", namespace="remote")
subsegment.put_http_meta("status", 404)
xray_recorder.end_subsegment()
segment.put_http_meta("status", 502)
xray_recorder.end_segment()
print(segment.trace_id)
"""


def test_aws_xray_sdk_over_udp(cloud):
    env = {**os.environ, "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{cloud.xray_daemon_port}"}
    run = subprocess.run([sys.executable, "-c", XRAY_SDK_APP], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    trace_id = run.stdout.strip()
    (segment,) = _wait_for_trace(cloud.client("xray", DEFAULT), trace_id)
    assert segment["name"] == "legacy" and segment["fault"] is True and segment["annotations"] == {"order": "B-2"}
    (sub,) = segment["subsegments"]
    assert sub["name"] == "inventory" and sub["error"] is True
    now = time.time()
    cli = subprocess.run(["aws", "xray", "get-trace-summaries", "--start-time", str(int(now - 300)),
                          "--end-time", str(int(now + 60)), "--endpoint-url", cloud.endpoint,
                          "--region", "us-east-1", "--output", "json"],
                         env={**cloud.env(DEFAULT), "AWS_ACCESS_KEY_ID": DEFAULT}, capture_output=True, text=True,
                         timeout=120)
    assert cli.returncode == 0, cli.stderr
    found = [s for s in json.loads(cli.stdout)["TraceSummaries"] if s["Id"] == trace_id]
    assert found and found[0]["HasFault"] is True and found[0]["HasError"] is True


def test_bad_datagrams_are_dropped_and_the_daemon_goes_on(cloud):
    trace_id = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    doc = {"id": secrets.token_hex(8), "trace_id": trace_id, "name": "udp", "start_time": time.time() - 1,
           "end_time": time.time()}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for junk in (b"no header", b'{"format": "json", "version": 1}\nnot json', b"\xff\xfe\n{}"):
            udp.sendto(junk, ("127.0.0.1", cloud.xray_daemon_port))
        udp.sendto(b'{"format": "json", "version": 1}\n' + json.dumps(doc).encode(),
                   ("127.0.0.1", cloud.xray_daemon_port))
    assert [d["id"] for d in _wait_for_trace(cloud.client("xray", DEFAULT), trace_id)] == [doc["id"]]


def test_unsigned_goes_to_workshop_account_and_traces_survive_a_restart(tmp_path, account):
    started = start_cloud(tmp_path, extra_env={"WORKSHOP_ACCOUNT": account})
    trace_hex = format(int(time.time()), "08x") + secrets.token_hex(12)
    trace_id = f"1-{trace_hex[:8]}-{trace_hex[8:]}"
    udp_trace = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    try:
        status, _, _ = _post(f"{started.endpoint}/v1/traces", json.dumps(_otlp_json(trace_hex)).encode(),
                             "application/json")
        assert status == 200
        doc = {"id": secrets.token_hex(8), "trace_id": udp_trace, "name": "udp", "start_time": time.time() - 1,
               "end_time": time.time()}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b'{"format": "json", "version": 1}\n' + json.dumps(doc).encode(),
                       ("127.0.0.1", started.xray_daemon_port))
        xray = started.client("xray", account)
        assert _wait_for_trace(xray, trace_id) and _wait_for_trace(xray, udp_trace)
        assert started.client("xray", DEFAULT).batch_get_traces(TraceIds=[trace_id])["Traces"] == []
    finally:
        stop_cloud(started, keep_data=True)
    again = start_cloud(tmp_path, extra_env={"WORKSHOP_ACCOUNT": account}, data_dir=started.data_dir)
    try:
        xray = again.client("xray", account)
        traces = xray.batch_get_traces(TraceIds=[trace_id, udp_trace])["Traces"]
        assert {t["Id"] for t in traces} == {trace_id, udp_trace}
        (kept,) = [t for t in traces if t["Id"] == trace_id]
        assert json.loads(kept["Segments"][0]["Document"])["name"] == "json-app"
        now = time.time()
        ids = {s["Id"] for s in xray.get_trace_summaries(StartTime=now - 300, EndTime=now + 60)["TraceSummaries"]}
        assert {trace_id, udp_trace} <= ids
    finally:
        stop_cloud(again)


def test_class_mode_refuses_unsigned_spans_and_closes_the_daemon(tmp_path):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from workshop.cloud.class_mode import ClassKeys, IssuedKey

    keys = ClassKeys.new()
    learner = IssuedKey("ann", "210987654321", "AKIACLASSANN0000001", secrets.token_hex(20))
    keys.learners["ann"] = learner
    keys.save(tmp_path / "keys.json")
    started = start_cloud(tmp_path, extra_env={"WORKSHOP_CLASS_KEYS": str(tmp_path / "keys.json")})
    try:
        body = json.dumps(_otlp_json(secrets.token_hex(16))).encode()
        status, _, _ = _post(f"{started.endpoint}/v1/traces", body, "application/json")
        assert status == 403
        trace_hex = format(int(time.time()), "08x") + secrets.token_hex(12)
        body = json.dumps(_otlp_json(trace_hex)).encode()
        request = AWSRequest(method="POST", url=f"{started.endpoint}/v1/traces", data=body,
                             headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(learner.access_key_id, learner.secret_access_key), "xray", "us-east-1").add_auth(request)
        status, _, _ = _post(f"{started.endpoint}/v1/traces", body, "application/json", dict(request.headers))
        assert status == 200
        import boto3

        xray = boto3.client("xray", endpoint_url=started.endpoint, region_name="us-east-1",
                            aws_access_key_id=learner.access_key_id,
                            aws_secret_access_key=learner.secret_access_key)
        assert _wait_for_trace(xray, f"1-{trace_hex[:8]}-{trace_hex[8:]}")
    finally:
        stop_cloud(started)
    log = (tmp_path / "cloud.log").read_text()
    assert "X-Ray daemon port off in class mode" in log


def test_daemon_port_zero_is_off_and_a_taken_port_does_not_stop_the_cloud(tmp_path):
    off = start_cloud(tmp_path, xray_daemon_port=0)
    stop_cloud(off)
    assert "X-Ray daemon port off (--xray-daemon-port 0)" in (tmp_path / "cloud.log").read_text()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        started = start_cloud(tmp_path, xray_daemon_port=port)
        try:
            trace_id = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
            doc = {"id": secrets.token_hex(8), "trace_id": trace_id, "name": "api", "start_time": time.time(),
                   "end_time": time.time()}
            xray = started.client("xray", DEFAULT)
            assert xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])["UnprocessedTraceSegments"] == []
        finally:
            stop_cloud(started)
    assert f"X-Ray daemon port off: cannot listen on UDP 127.0.0.1:{port}" in (tmp_path / "cloud.log").read_text()
