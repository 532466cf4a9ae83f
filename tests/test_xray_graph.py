"""The service graph X-Ray would draw from fixed traces: nodes, edges with their
counts, error/fault/throttle statistics and response-time histogram buckets;
the trace graph and time series from the same parts."""

from __future__ import annotations

import json
from pathlib import Path

from workshop.cloud.services.xray import graph

TRACES = json.loads((Path(__file__).parent / "data" / "xray" / "traces.json").read_text())["traces"]


def chain(n: int, trace: int, c_status: int = 200, rt_c: float = 0.1) -> list[dict]:
    """A -> B -> C: A's subsegment calls B, B's subsegment calls C."""
    t0, tid = 1700001000.0 + trace, f"1-6553f200-{trace:024x}"
    fault = c_status >= 500
    return [
        {"name": "A", "id": f"{trace:04x}00000000000a", "trace_id": tid, "start_time": t0, "end_time": t0 + 1,
         "http": {"response": {"status": 200}},
         "subsegments": [{"id": f"{trace:04x}0000000000a1", "name": "B", "namespace": "remote",
                          "start_time": t0 + 0.1, "end_time": t0 + 0.6, "http": {"response": {"status": 200}}}]},
        {"name": "B", "id": f"{trace:04x}00000000000b", "trace_id": tid, "parent_id": f"{trace:04x}0000000000a1",
         "start_time": t0 + 0.15, "end_time": t0 + 0.55, "http": {"response": {"status": 200}},
         "subsegments": [{"id": f"{trace:04x}0000000000b1", "name": "C", "namespace": "remote", "fault": fault,
                          "start_time": t0 + 0.2, "end_time": t0 + 0.2 + rt_c,
                          "http": {"response": {"status": c_status}}}]},
        {"name": "C", "id": f"{trace:04x}00000000000c", "trace_id": tid, "parent_id": f"{trace:04x}0000000000b1",
         "start_time": t0 + 0.21, "end_time": t0 + 0.2 + rt_c - 0.01, "fault": fault,
         "http": {"response": {"status": c_status}}},
    ]


def by_name(services):
    return {(s.get("Name"), s.get("Type")): s for s in services}


def edge(services, source, destination):
    nodes = by_name(services)
    target = nodes[destination]["ReferenceId"]
    [found] = [e for e in nodes[source]["Edges"] if e["ReferenceId"] == target]
    return found


def test_a_b_c_edges_count_calls_and_faults():
    traces = [chain(3, 1), chain(3, 2, c_status=500, rt_c=0.3), chain(3, 3)]
    services = graph.service_graph(traces, account_id="111122223333")
    nodes = by_name(services)
    assert set(nodes) == {(None, "client"), ("A", None), ("B", None), ("C", None)}
    assert nodes[("A", None)]["Root"] and not nodes[("B", None)]["Root"]
    assert nodes[("A", None)]["AccountId"] == "111122223333"
    client_edge = edge(services, (None, "client"), ("A", None))
    assert client_edge["SummaryStatistics"]["TotalCount"] == 3
    ab = edge(services, ("A", None), ("B", None))
    assert ab["SummaryStatistics"]["OkCount"] == 3 and ab["SummaryStatistics"]["TotalCount"] == 3
    bc = edge(services, ("B", None), ("C", None))["SummaryStatistics"]
    assert (bc["OkCount"], bc["FaultStatistics"]["TotalCount"], bc["TotalCount"]) == (2, 1, 3)
    assert abs(bc["TotalResponseTime"] - 0.5) < 1e-6
    assert edge(services, ("B", None), ("C", None))["ResponseTimeHistogram"] == [
        {"Value": 0.1, "Count": 2}, {"Value": 0.3, "Count": 1}]
    # C sent no calls of its own; nothing points back
    assert nodes[("C", None)]["Edges"] == []
    assert nodes[("C", None)]["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1


def test_fixed_traces_graph():
    services = graph.service_graph(TRACES.values(), account_id="000000000000")
    nodes = by_name(services)
    assert set(nodes) == {
        (None, "client"), ("orders", "AWS::EC2::Instance"), ("pricing", "AWS::EC2::Instance"),
        ("inventory", "AWS::ECS::Container"), ("DynamoDB", "AWS::DynamoDB::Table"),
        ("checkout", "AWS::Lambda"), ("checkout", "AWS::Lambda::Function"), ("api.example.com", "remote")}
    orders, pricing = ("orders", "AWS::EC2::Instance"), ("pricing", "AWS::EC2::Instance")
    inventory = ("inventory", "AWS::ECS::Container")
    # client -> orders: 7 requests (T1-T6, T8): 4 OK, 1 client error, 1 fault, 1 still in progress
    s = edge(services, (None, "client"), orders)["SummaryStatistics"]
    assert (s["TotalCount"], s["OkCount"], s["ErrorStatistics"]["OtherCount"], s["FaultStatistics"]["TotalCount"]) \
        == (7, 4, 1, 1)
    # orders -> pricing as orders saw it: 2 OK, 1 throttled (429), 1 fault
    s = edge(services, orders, pricing)["SummaryStatistics"]
    assert (s["TotalCount"], s["OkCount"], s["ErrorStatistics"]["ThrottleCount"],
            s["ErrorStatistics"]["TotalCount"], s["FaultStatistics"]["TotalCount"]) == (4, 2, 1, 1, 1)
    # pricing -> inventory: once per order in T1 and T2, five times in T8 (the bottleneck)
    e = edge(services, pricing, inventory)
    assert e["SummaryStatistics"]["TotalCount"] == 7
    assert e["ResponseTimeHistogram"] == [{"Value": 0.1, "Count": 1}, {"Value": 1.06, "Count": 1},
                                          {"Value": 1.1, "Count": 1}, {"Value": 1.2, "Count": 4}]
    dynamodb = edge(services, orders, ("DynamoDB", "AWS::DynamoDB::Table"))
    assert dynamodb["SummaryStatistics"]["TotalCount"] == 1
    assert dynamodb["Aliases"] == [{"Name": "orders", "Names": ["orders"], "Type": "AWS::DynamoDB::Table"}]
    assert edge(services, orders, pricing)["Aliases"] == []
    lam = edge(services, ("checkout", "AWS::Lambda::Function"), ("api.example.com", "remote"))
    assert lam["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    assert edge(services, ("checkout", "AWS::Lambda"), ("checkout", "AWS::Lambda::Function"))
    assert nodes[orders]["Root"] and nodes[("checkout", "AWS::Lambda")]["Root"]
    assert not nodes[inventory]["Root"]
    assert "AccountId" in nodes[orders] and "AccountId" not in nodes[("api.example.com", "remote")]
    assert nodes[inventory]["SummaryStatistics"]["TotalCount"] == 7
    # reference ids are unique and every edge points at a node
    refs = [n["ReferenceId"] for n in services]
    assert len(set(refs)) == len(refs)
    assert all(e["ReferenceId"] in refs for n in services for e in n["Edges"])


def test_trace_graph_of_one_trace():
    services = graph.service_graph([TRACES["T3-throttled"]])
    assert {(s.get("Name"), s.get("Type")) for s in services} == {
        (None, "client"), ("orders", "AWS::EC2::Instance"), ("pricing", "AWS::EC2::Instance")}
    pricing = by_name(services)[("pricing", "AWS::EC2::Instance")]
    assert pricing["SummaryStatistics"]["ErrorStatistics"]["ThrottleCount"] == 1


def test_time_series_per_period():
    selector = graph.entity_selector('service(id(name: "inventory", type: "AWS::ECS::Container"))')
    series = graph.time_series(TRACES.values(), 1699999990.0, 1700000100.0, 5, selector)
    assert [(p["Timestamp"], p["ServiceSummaryStatistics"]["TotalCount"],
             p["ServiceSummaryStatistics"]["FaultStatistics"]["TotalCount"]) for p in series] == [
        (1700000000.0, 2, 1), (1700000010.0, 5, 0)]
    edge_series = graph.time_series(TRACES.values(), 1699999980.0, 1700000040.0, 60,
                                    graph.entity_selector('edge("orders", "pricing")'))
    assert len(edge_series) == 1 and edge_series[0]["EdgeSummaryStatistics"]["TotalCount"] == 4


def test_entity_selector_must_name_a_service_or_edge():
    import pytest

    from workshop.cloud.services.xray.filters import FilterError

    with pytest.raises(FilterError):
        graph.entity_selector("responsetime > 5")
