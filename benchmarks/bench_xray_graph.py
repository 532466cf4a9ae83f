"""X-Ray's service graph over many traces, measured: ``get_service_graph`` over N
traces (default 10,000) of orders -> pricing -> inventory (one to five inventory
calls per order, a DynamoDB call, one fault in 20), in-process (graph.py over the
segment documents, taking each trace apart included) and through the API against
a cloud (boto3, after put_trace_segments of all of them); also a filtered
get_trace_summaries. Prints medians.

    python benchmarks/bench_xray_graph.py [--traces 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402


def make_trace(i: int, t0: float) -> list[dict]:
    trace_id = f"1-{int(t0):08x}-{i:024x}"
    ids = iter(f"{i:010x}{n:06x}" for n in range(100))
    fault = i % 20 == 0
    items = 1 + i % 5
    start = t0 + (i % 500) * 0.5
    orders_id, call_id, db_id = next(ids), next(ids), next(ids)
    calls, inventory = [], []
    pricing_id = next(ids)
    at = start + 0.02
    for n in range(items):
        sub, seg = next(ids), next(ids)
        status = 500 if fault and n == items - 1 else 200
        calls.append({"id": sub, "name": "inventory", "namespace": "remote", "start_time": at, "end_time": at + 0.05,
                      "fault": status == 500, "http": {"response": {"status": status}}})
        inventory.append({"name": "inventory", "id": seg, "trace_id": trace_id, "parent_id": sub,
                          "origin": "AWS::ECS::Container", "start_time": at + 0.001, "end_time": at + 0.049,
                          "fault": status == 500, "http": {"response": {"status": status}}})
        at += 0.05
    status = 502 if fault else 200
    orders = {"name": "orders", "id": orders_id, "trace_id": trace_id, "origin": "AWS::EC2::Instance",
              "start_time": start, "end_time": at + 0.05, "fault": fault,
              "http": {"request": {"method": "GET", "url": f"http://orders.local/orders/{i}"},
                       "response": {"status": status}},
              "annotations": {"items": items},
              "subsegments": [
                  {"id": call_id, "name": "pricing", "namespace": "remote", "start_time": start + 0.01,
                   "end_time": at + 0.01, "fault": fault, "http": {"response": {"status": status}}},
                  {"id": db_id, "name": "DynamoDB", "namespace": "aws", "start_time": at + 0.02,
                   "end_time": at + 0.04, "aws": {"operation": "PutItem", "table_name": "orders"}}]}
    pricing = {"name": "pricing", "id": pricing_id, "trace_id": trace_id, "parent_id": call_id,
               "origin": "AWS::EC2::Instance", "start_time": start + 0.015, "end_time": at + 0.005, "fault": fault,
               "http": {"response": {"status": status}}, "subsegments": calls}
    return [orders, pricing, *inventory]


def median_ms(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from workshop.cloud.services.xray import filters, graph

    t0 = time.time() - 600
    traces = [make_trace(i, t0) for i in range(args.traces)]
    documents = sum(len(t) for t in traces)
    print(f"{args.traces} traces, {documents} segment documents")

    services: list = []
    ms, times = median_ms(lambda: services.extend(graph.service_graph(traces, "000000000000")), args.runs)
    print(f"in-process service_graph: median {ms:.0f} ms ({', '.join(f'{t:.0f}' for t in times)}); "
          f"{len(services) // args.runs} nodes")
    parsed = filters.parse('service("inventory") { fault }')
    ms, times = median_ms(lambda: [filters.matches(parsed, t) for t in traces], args.runs)
    print(f"in-process filter over all traces: median {ms:.0f} ms")

    cloud = start_cloud(Path(tempfile.mkdtemp(prefix="bench-xray-")))
    try:
        account = new_account()
        xray = cloud.client("xray", account)
        started = time.perf_counter()
        batch: list[str] = []
        for trace in traces:
            batch.extend(json.dumps(d) for d in trace)
            if len(batch) >= 150:
                assert not xray.put_trace_segments(TraceSegmentDocuments=batch)["UnprocessedTraceSegments"]
                batch = []
        if batch:
            assert not xray.put_trace_segments(TraceSegmentDocuments=batch)["UnprocessedTraceSegments"]
        print(f"put_trace_segments of {documents} documents: {time.perf_counter() - started:.1f} s")
        window = {"StartTime": t0 - 60, "EndTime": time.time() + 60}
        result: dict = {}
        ms, times = median_ms(lambda: result.update(xray.get_service_graph(**window)), args.runs)
        edges = {(s.get("Name"), e["ReferenceId"]): e["SummaryStatistics"]["TotalCount"]
                 for s in result["Services"] for e in s["Edges"]}
        print(f"API get_service_graph: median {ms:.0f} ms ({', '.join(f'{t:.0f}' for t in times)}); "
              f"{len(result['Services'])} nodes, edge counts {sorted(edges.values())}")

        def summaries():
            kwargs, found = dict(window, FilterExpression='service("inventory") { fault }'), 0
            while True:
                page = xray.get_trace_summaries(**kwargs)
                found += len(page["TraceSummaries"])
                if not page.get("NextToken"):
                    return found
                kwargs["NextToken"] = page["NextToken"]

        ms, times = median_ms(summaries, max(1, args.runs // 2))
        print(f"API get_trace_summaries with a filter (all pages): median {ms:.0f} ms; {summaries()} traces")
    finally:
        stop_cloud(cloud)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
