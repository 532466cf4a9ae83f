"""Logs that become metrics, and Logs Insights, in the workshop cloud: events per second
through PutLogEvents into a log group with 3 metric filters (terms, a JSON comparison with
its value, a JSON match with a dimension) beside a group with none, in the same run
(rounds alternate; the ratio is per round), the cloud's CPU per event; and a Logs Insights
``stats ... by bin(5m), service`` query over 100,000 events read from the on-disk store.
Prints medians.
Run: python3 benchmarks/bench_logs_metrics.py [--rounds 5] [--batches 5] [--events 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_cloud import Server, client  # noqa: E402

ACCOUNT = "321098765432"
BATCH = 1000
QUERY = "stats count(*) as requests, avg(latency), pct(latency, 95) by bin(5m), service"
FILTERS = [
    ("errors", "ERROR", {"metricName": "Errors", "metricNamespace": "Bench", "metricValue": "1",
                         "defaultValue": 0}),
    ("slow", "{ $.latency > 500 }", {"metricName": "SlowLatency", "metricNamespace": "Bench",
                                     "metricValue": "$.latency", "unit": "Milliseconds"}),
    ("orders", '{ $.service = "orders" }', {"metricName": "OrderCalls", "metricNamespace": "Bench",
                                             "metricValue": "1", "dimensions": {"Status": "$.status"}}),
]


def message(rng: random.Random, i: int) -> str:
    level = "ERROR" if rng.random() < 0.05 else "INFO"
    return json.dumps({"level": level, "service": rng.choice(("orders", "pricing", "inventory")),
                       "latency": rng.randint(5, 900), "status": rng.choice((200, 200, 200, 500)),
                       "path": f"/orders/{i % 500}", "msg": f"{level} handled request {i}"})


def put(logs, group: str, messages: list[str], start_ms: int) -> None:
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": start_ms + i, "message": m} for i, m in enumerate(messages)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default %(default)s)")
    parser.add_argument("--batches", type=int, default=5, help=f"batches of {BATCH} per group a round")
    parser.add_argument("--events", type=int, default=100_000, help="events the query reads")
    parser.add_argument("--queries", type=int, default=5, help="query runs (default %(default)s)")
    args = parser.parse_args()
    rng = random.Random(7)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        server = Server("workshop", Path(tmp))
        try:
            server.wait_healthy()
            logs = client("logs", server.endpoint, ACCOUNT)
            for group in ("/bench/plain", "/bench/filtered", "/bench/insights"):
                logs.create_log_group(logGroupName=group)
                logs.create_log_stream(logGroupName=group, logStreamName="s")
            for name, pattern, transformation in FILTERS:
                logs.put_metric_filter(logGroupName="/bench/filtered", filterName=name, filterPattern=pattern,
                                       metricTransformations=[transformation])
            batches = [[message(rng, b * BATCH + i) for i in range(BATCH)] for b in range(args.batches)]
            start_ms = int(time.time() * 1000) - 3_600_000
            put(logs, "/bench/plain", batches[0], start_ms)      # warm both paths
            put(logs, "/bench/filtered", batches[0], start_ms)
            rates: dict[str, list[float]] = {"/bench/plain": [], "/bench/filtered": []}
            cpu: dict[str, list[float]] = {"/bench/plain": [], "/bench/filtered": []}
            ratios = []
            for r in range(args.rounds):
                order = ["/bench/plain", "/bench/filtered"] if r % 2 == 0 else ["/bench/filtered", "/bench/plain"]
                for group in order:
                    before_cpu, t = server.cpu_seconds(), time.perf_counter()
                    for b, batch in enumerate(batches):
                        put(logs, group, batch, start_ms + (r * args.batches + b + 1) * BATCH)
                    elapsed = time.perf_counter() - t
                    events = BATCH * len(batches)
                    rates[group].append(events / elapsed)
                    cpu[group].append((server.cpu_seconds() - before_cpu) * 1e6 / events)
                ratios.append(rates["/bench/filtered"][-1] / rates["/bench/plain"][-1])
            print(f"\nPutLogEvents, batches of {BATCH}, {args.batches} batches per group and round, "
                  f"{args.rounds} rounds (medians)")
            print(f"{'group':<28}{'events/s':>10}{'cloud CPU us/event':>20}")
            for group, label in (("/bench/plain", "no metric filters"), ("/bench/filtered", "3 metric filters")):
                print(f"{label:<28}{statistics.median(rates[group]):>10.0f}{statistics.median(cpu[group]):>20.1f}")
            print(f"ratio with filters / without (per round): median {statistics.median(ratios):.2f} "
                  f"(min {min(ratios):.2f}, max {max(ratios):.2f})")

            # Logs Insights over --events events on disk.
            base = int(time.time() * 1000) - 2 * 3_600_000
            made = 0
            t = time.perf_counter()
            while made < args.events:
                count = min(10_000, args.events - made)
                logs.put_log_events(logGroupName="/bench/insights", logStreamName="s", logEvents=[
                    {"timestamp": base + (made + i) * 60, "message": message(rng, made + i)} for i in range(count)])
                made += count
            print(f"\nwrote {made} events for the query in {time.perf_counter() - t:.1f} s")
            times, scanned = [], None
            for _ in range(args.queries):
                t = time.perf_counter()
                query_id = logs.start_query(logGroupName="/bench/insights", startTime=base // 1000 - 60,
                                            endTime=base // 1000 + 3 * 3600, queryString=QUERY)["queryId"]
                while True:
                    result = logs.get_query_results(queryId=query_id)
                    if result["status"] not in ("Scheduled", "Running"):
                        break
                    time.sleep(0.02)
                times.append(time.perf_counter() - t)
                scanned = result["statistics"]
                assert result["status"] == "Complete", result["status"]
            print(f"Logs Insights `{QUERY}` over {made} events: median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}; {len(result['results'])} rows; "
                  f"recordsScanned {scanned['recordsScanned']:.0f}, bytesScanned {scanned['bytesScanned']:.0f})")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
