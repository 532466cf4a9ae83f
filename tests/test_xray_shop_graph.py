"""The shop's own traces (sample-app/shop: OpenTelemetry's SDK and OTLP/HTTP
exporter, unchanged, sending to the cloud's /v1/traces) answer in X-Ray: one
service graph with orders -> pricing -> inventory and the right counts, the
planted fault found with a filter expression, the bottleneck in the edge counts."""

from __future__ import annotations

import time

from labkit.shop import copy_shop, send_orders, start_shop


def by_name(services):
    return {s.get("Name"): s for s in services}


def edge(services, source, destination):
    nodes = by_name(services)
    target = nodes[destination]["ReferenceId"]
    [found] = [e for e in nodes[source]["Edges"] if e["ReferenceId"] == target]
    return found["SummaryStatistics"]


def test_shop_traces_make_one_graph_with_the_right_edges(tmp_path, cloud, account):
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{cloud.endpoint}/v1/traces", "AWS_ACCESS_KEY_ID": account,
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": cloud.endpoint}
    started = time.time() - 5
    # 8 orders of 2 items, one inventory request in 4 failing: orders 2, 4, 6 and 8 fail
    with start_shop(copy_shop(tmp_path / "shop"), fault_every=4, query_delay=0.0, env=env) as shop:
        run = send_orders(shop, count=8, items_per_order=(2, 2))
    assert (run.ok, run.failed) == (4, 4)
    xray = cloud.client("xray", account)
    window = {"StartTime": started, "EndTime": time.time() + 5}
    services = []
    for _ in range(40):                       # the exporters' last batches arrive as the services stop
        services = xray.get_service_graph(**window)["Services"]
        nodes = by_name(services)
        if "inventory" in nodes and "pricing" in nodes and \
                edge(services, "pricing", "inventory")["TotalCount"] >= 16:
            break
        time.sleep(0.25)
    nodes = by_name(services)
    assert {"orders", "pricing", "inventory"} <= set(nodes)
    assert nodes["orders"]["Root"] and not nodes["inventory"]["Root"]
    to_orders = [e for e in nodes[None]["Edges"] if e["ReferenceId"] == nodes["orders"]["ReferenceId"]]
    assert to_orders[0]["SummaryStatistics"]["TotalCount"] == 8
    pricing = edge(services, "orders", "pricing")
    assert pricing["TotalCount"] == 8 and pricing["FaultStatistics"]["TotalCount"] == 4
    inventory = edge(services, "pricing", "inventory")
    assert inventory["TotalCount"] == 16                # the bottleneck: one call per item
    assert inventory["FaultStatistics"]["TotalCount"] == 4
    faulty = xray.get_trace_summaries(**window, FilterExpression='service("inventory") { fault }')
    assert len(faulty["TraceSummaries"]) == 4
    slow_edge = xray.get_trace_summaries(**window, FilterExpression='edge("pricing", "inventory") { ok }')
    assert len(slow_edge["TraceSummaries"]) == 8        # every order made at least one good inventory call
