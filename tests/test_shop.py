"""The shop (sample-app/shop, lab 06's traced services) end to end: three real
processes calling each other over HTTP, tracing themselves with OpenTelemetry and
exporting OTLP/HTTP (SigV4-signed for X-Ray) to a collector this test runs, which
decodes the protobuf exactly as it was sent. The planted bottleneck shows as one
inventory call per item, the fix as one per order; the planted fault as a 5xx."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from labkit.shop import ShopError, copy_shop, send_orders, start_shop

SERVER, CLIENT = 2, 3      # SpanKind in OTLP


class Collector:
    """Spans received at /v1/traces: (service name, span) pairs, and each request's Authorization."""

    def __init__(self):
        self.spans: list[tuple[str, object]] = []
        self.authorizations: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportTraceServiceRequest.FromString(body)
                collector.authorizations.append(self.headers.get("Authorization", ""))
                for resource_spans in request.resource_spans:
                    service = next(a.value.string_value for a in resource_spans.resource.attributes
                                   if a.key == "service.name")
                    for scope in resource_spans.scope_spans:
                        collector.spans.extend((service, span) for span in scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}/v1/traces"

    def servers(self, service: str) -> list:
        return [span for name, span in self.spans if name == service and span.kind == SERVER]


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.server.shutdown()


def shop_env(collector) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint, "AWS_ACCESS_KEY_ID": "123456789012",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


def inventory_calls_per_order(collector) -> list[int]:
    """For each order (an orders server span), the inventory requests in its trace."""
    per_trace = Counter(span.trace_id for span in collector.servers("inventory"))
    return [per_trace[span.trace_id] for span in collector.servers("orders")]


def test_the_planted_bottleneck_is_one_inventory_call_per_item_and_the_fix_one_per_order(tmp_path, collector):
    planted = copy_shop(tmp_path / "planted")
    with start_shop(planted, fault_every=0, query_delay=0.0, env=shop_env(collector)) as shop:
        run = send_orders(shop, count=6, items_per_order=(3, 3))
    assert (run.ok, run.failed) == (6, 0)
    assert inventory_calls_per_order(collector) == [3] * 6
    # one trace per order, across the three services, linked by the traceparent header
    orders = collector.servers("orders")
    for order in orders:
        pricing = [s for s in collector.servers("pricing") if s.trace_id == order.trace_id]
        assert len(pricing) == 1
        clients = [s for name, s in collector.spans if name == "orders" and s.trace_id == order.trace_id
                   and s.kind == CLIENT]
        assert [c.span_id for c in clients] == [pricing[0].parent_span_id]
    assert collector.authorizations and all("/us-east-1/xray/aws4_request" in a for a in collector.authorizations)

    fixed = copy_shop(tmp_path / "fixed")
    assert subprocess.run(
        [sys.executable, "tools/fix_bottleneck.py", "fix"], cwd=fixed,
        capture_output=True, text=True).stdout.strip() == "fix: done (fixed)"
    collector.spans.clear()
    with start_shop(fixed, fault_every=0, query_delay=0.0, env=shop_env(collector)) as shop:
        run = send_orders(shop, count=6, items_per_order=(3, 3))
    assert (run.ok, run.failed) == (6, 0)
    assert inventory_calls_per_order(collector) == [1] * 6


def test_the_intermittent_fault_travels_up_as_a_5xx_with_error_spans(tmp_path, collector):
    with start_shop(copy_shop(tmp_path / "shop"), fault_every=4, query_delay=0.0, env=shop_env(collector)) as shop:
        run = send_orders(shop, count=8, items_per_order=(2, 2))
    # 16 inventory requests at one fault every 4th: orders 2, 4, 6 and 8 fail
    assert (run.ok, run.failed) == (4, 4)
    assert run.statuses == {201: 4, 502: 4}
    assert "inventory database connection reset" in run.errors[0]
    failed_inventory = [s for s in collector.servers("inventory") if s.status.code == 2]   # STATUS_CODE_ERROR
    assert len(failed_inventory) == 4
    codes = {a.value.int_value for s in failed_inventory for a in s.attributes
             if a.key in ("http.status_code", "http.response.status_code")}
    assert codes == {500}


def test_a_copy_keeps_the_learners_changes_and_a_missing_shop_is_a_clear_error(tmp_path):
    shop = copy_shop(tmp_path / "mine")
    (shop / "shop" / "pricing.py").write_text((shop / "shop" / "pricing.py").read_text() + "\n# mine\n")
    copy_shop(tmp_path / "mine")
    assert (shop / "shop" / "pricing.py").read_text().endswith("# mine\n")
    with pytest.raises(ShopError, match="copy_shop"):
        start_shop(tmp_path / "empty")
