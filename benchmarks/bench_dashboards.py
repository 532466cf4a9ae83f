"""Dashboard picture figures: GetMetricWidgetImage for a 3-metric widget over 3 hours of
minute data (the first picture, which pays matplotlib's import, and the median of the
rest), GetMetricData with an expression over the same data, and the cloud's memory
before and after the first picture. Prints medians.

    python benchmarks/bench_dashboards.py [--runs 20] [--width 600] [--height 395]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402

NS = "Bench/Shop"
METRICS = ("Latency", "Errors", "Requests")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def put_three_hours(cw) -> int:
    now = datetime.now(timezone.utc)
    data = [{"MetricName": name, "Dimensions": [{"Name": "Service", "Value": "orders"}],
             "Value": float((minute * (k + 3)) % 23 + 5 * k), "Timestamp": now - timedelta(minutes=minute)}
            for minute in range(180) for k, name in enumerate(METRICS)]
    for i in range(0, len(data), 1000):
        cw.put_metric_data(Namespace=NS, MetricData=data[i:i + 1000])
    return len(data)


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="pictures and queries timed after the first")
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--height", type=int, default=395)
    args = parser.parse_args()

    widget = json.dumps({
        "metrics": [[NS, "Latency", "Service", "orders"], [".", "Errors", ".", "."],
                    [".", "Requests", ".", ".", {"stat": "Sum"}]],
        "view": "timeSeries", "period": 60, "start": "-PT3H", "stat": "Average", "title": "Orders",
        "width": args.width, "height": args.height,
        "annotations": {"horizontal": [{"value": 20, "label": "SLO"}]}})
    queries = [{"Id": f"m{i}", "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": NS, "MetricName": name, "Dimensions": [{"Name": "Service", "Value": "orders"}]},
        "Period": 60, "Stat": "Sum"}} for i, name in enumerate(METRICS)] + [
        {"Id": "rate", "Expression": "IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)"}]

    with tempfile.TemporaryDirectory() as tmp:
        cloud = start_cloud(Path(tmp))
        try:
            cw = cloud.client("cloudwatch", new_account())
            points = put_three_hours(cw)
            before = rss_mib(cloud.process.pid)
            first = timed(lambda: cw.get_metric_widget_image(MetricWidget=widget))
            after = rss_mib(cloud.process.pid)
            pictures = [timed(lambda: cw.get_metric_widget_image(MetricWidget=widget)) for _ in range(args.runs)]
            end = datetime.now(timezone.utc)
            data = [timed(lambda: cw.get_metric_data(MetricDataQueries=queries, StartTime=end - timedelta(hours=3),
                                                     EndTime=end)) for _ in range(args.runs)]
        finally:
            stop_cloud(cloud)

    print(f"data: {points} points (3 metrics x 180 minutes)")
    print(f"first GetMetricWidgetImage ({args.width}x{args.height}, matplotlib imported): {first * 1000:7.0f} ms")
    print(f"GetMetricWidgetImage, 3 metrics over 3 h of minute data:   median {statistics.median(pictures) * 1000:6.0f} ms "
          f"(min {min(pictures) * 1000:.0f}, max {max(pictures) * 1000:.0f}, {len(pictures)} pictures)")
    print(f"GetMetricData, 3 metrics + an IF/FILL expression, 3 h:      median {statistics.median(data) * 1000:6.0f} ms "
          f"(min {min(data) * 1000:.0f}, max {max(data) * 1000:.0f})")
    print(f"cloud memory before/after the first picture: {before:.0f} -> {after:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
