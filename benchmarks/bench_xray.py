"""X-Ray ingestion, measured: spans ingested per second over OTLP/HTTP (protobuf export
requests of 512 spans, as the SDK's batch processor sends them: a server span per trace
with client and internal children, HTTP and custom attributes), sent by one client in
another process, until the cloud has stored them; and the cloud's idle CPU with the X-Ray
daemon's UDP listener open (CPU seconds the process used over 30 idle seconds). Prints
medians.

    python benchmarks/bench_xray.py [--runs 5] [--batches 20] [--idle 30]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402

SPANS_PER_REQUEST = 512


def export_request(spans: int = SPANS_PER_REQUEST) -> bytes:
    """One ExportTraceServiceRequest: traces of 4 spans (server, 2 clients, internal)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    def attr(key, value):
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", "orders"))
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    while len(scope.spans) < spans:
        trace_id = int(time.time()).to_bytes(4, "big") + secrets.token_bytes(12)
        root = secrets.token_bytes(8)
        scope.spans.append(Span(trace_id=trace_id, span_id=root, name="GET /order", kind=Span.SPAN_KIND_SERVER,
                                start_time_unix_nano=now - 5_000_000, end_time_unix_nano=now,
                                attributes=[attr("http.request.method", "GET"),
                                            attr("url.full", "http://orders/order/42"),
                                            attr("http.response.status_code", 200), attr("order", "A-42")]))
        for name in ("pricing", "inventory"):
            scope.spans.append(Span(trace_id=trace_id, span_id=secrets.token_bytes(8), parent_span_id=root,
                                    name="GET", kind=Span.SPAN_KIND_CLIENT,
                                    start_time_unix_nano=now - 4_000_000, end_time_unix_nano=now - 1_000_000,
                                    attributes=[attr("http.request.method", "GET"),
                                                attr("url.full", f"http://{name}:8080/x"),
                                                attr("http.response.status_code", 200)]))
        scope.spans.append(Span(trace_id=trace_id, span_id=secrets.token_bytes(8), parent_span_id=root,
                                name="render", kind=Span.SPAN_KIND_INTERNAL,
                                start_time_unix_nano=now - 900_000, end_time_unix_nano=now - 100_000))
    del scope.spans[spans:]
    return request.SerializeToString()


def _post(url: str, body: bytes, account: str) -> None:
    # A 12-digit key in a SigV4-shaped header names the account (the laptop's account rule).
    headers = {"Content-Type": "application/x-protobuf",
               "Authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/us-east-1/xray/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=120) as resp:
        assert resp.status == 200, resp.status


def spans_per_second(cloud, batches: int) -> tuple[float, float]:
    """(spans per second, the cloud's CPU ms per 1,000 spans) of one run."""
    account = new_account()
    bodies = [export_request() for _ in range(batches)]
    url = f"{cloud.endpoint}/v1/traces"
    _post(url, export_request(8), account)   # warm: the protobuf modules load on the first request
    cpu_before = cpu_seconds(cloud.process.pid)
    started = time.perf_counter()
    for body in bodies:
        _post(url, body, account)
    elapsed = time.perf_counter() - started
    spans = batches * SPANS_PER_REQUEST
    return spans / elapsed, (cpu_seconds(cloud.process.pid) - cpu_before) * 1000 / spans * 1000


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks   # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=20, help="export requests of 512 spans per run")
    parser.add_argument("--idle", type=float, default=30.0, help="idle seconds measured")
    args = parser.parse_args()
    cloud = start_cloud(Path(tempfile.mkdtemp(prefix="bench-xray-")))
    try:
        runs = [spans_per_second(cloud, args.batches) for _ in range(args.runs)]
        rates = [rate for rate, _ in runs]
        print(f"OTLP/HTTP protobuf, {SPANS_PER_REQUEST} spans a request, {args.batches} requests a run: "
              f"median {statistics.median(rates):,.0f} spans/s (runs: {', '.join(f'{r:,.0f}' for r in rates)}); "
              f"the cloud's CPU: median {statistics.median(c for _, c in runs):.0f} ms per 1,000 spans")
        time.sleep(3)   # the last snapshot write settles
        idle = []
        for _ in range(max(1, args.runs // 2)):
            before = cpu_seconds(cloud.process.pid)
            time.sleep(args.idle)
            idle.append(cpu_seconds(cloud.process.pid) - before)
        print(f"idle cloud with the X-Ray daemon's UDP port {cloud.xray_daemon_port} open: median "
              f"{statistics.median(idle):.2f} CPU s over {args.idle:g} s (runs: {', '.join(f'{c:.2f}' for c in idle)})")
    finally:
        stop_cloud(cloud)


if __name__ == "__main__":
    main()
