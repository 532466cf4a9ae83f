"""CloudTrail's Event History in the workshop cloud: what a lookup costs as an account's
history grows (the newest page; a filter that matches only the oldest event, so the whole
history is read; three pages of 50, what a lab's check reads), the history's bytes per
event, and the cloud's CPU per recorded call. Prints medians.
Run: python3 benchmarks/bench_cloudtrail.py [--events 2000,10000]
(The recorder's cost per call beside bare moto: benchmarks/bench_cloud.py's ratio.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_cloud import Server, client  # noqa: E402

ACCOUNT = "210987654321"


def timed(call, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", default="2000,10000", help="history sizes to measure (comma-separated)")
    parser.add_argument("--lookups", type=int, default=9, help="lookups of each kind (default %(default)s)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.events.split(","))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        server = Server("workshop", Path(tmp))
        try:
            server.wait_healthy()
            sqs, sts = client("sqs", server.endpoint, ACCOUNT), client("sts", server.endpoint, ACCOUNT)
            trail = client("cloudtrail", server.endpoint, ACCOUNT)
            sqs.create_queue(QueueName="the-oldest-event")
            made = 1
            print(f"\n{'events':>8}{'bytes/event':>13}{'cpu/call':>10}{'newest page':>13}"
                  f"{'whole scan':>12}{'3 pages':>10}   (medians, ms)")
            for size in sizes:
                before_cpu, calls = server.cpu_seconds(), size - made
                for _ in range(calls):
                    sts.get_caller_identity()
                made = size
                trail.lookup_events(MaxResults=1)  # the writer has caught up
                cpu = (server.cpu_seconds() - before_cpu) * 1000 / max(1, calls)
                history = Path(tmp) / f"data-{server.port}" / "state" / "cloudtrail" / ACCOUNT / "us-east-1"
                per_event = (history / "events.jsonl").stat().st_size / size
                newest = timed(lambda: trail.lookup_events(MaxResults=50), args.lookups)
                scan = timed(lambda: trail.lookup_events(LookupAttributes=[
                    {"AttributeKey": "EventName", "AttributeValue": "CreateQueue"}]), args.lookups)

                def three_pages():
                    token = None
                    for _ in range(3):
                        page = trail.lookup_events(MaxResults=50, **({"NextToken": token} if token else {}))
                        token = page.get("NextToken")

                pages = timed(three_pages, args.lookups)
                print(f"{size:>8}{per_event:>13.0f}{cpu:>10.2f}{newest:>13.1f}{scan:>12.1f}{pages:>10.1f}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
