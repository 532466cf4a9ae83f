"""Alarm evaluator figures: idle CPU of a cloud without alarms and with alarms
(against bare moto_server idle, the floor), and how long breaching data takes
to put an alarm in ALARM at the default time scale. Prints medians.

    python benchmarks/bench_alarms.py [--seconds 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, new_account, start_cloud, stop_cloud, wait_healthy  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def idle_share(pid: int, seconds: float) -> float:
    """Share of one core the process used over `seconds` of doing nothing asked of it."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def put_alarm(cw, name: str, metric: str = "Errors") -> None:
    cw.put_metric_alarm(AlarmName=name, Namespace="Bench", MetricName=metric, Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold")


def time_to_alarm(cw, name: str, timeout: float = 30.0) -> float:
    put_alarm(cw, name, metric=name)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        cw.put_metric_data(Namespace="Bench", MetricData=[{"MetricName": name, "Value": 5.0}])
        if cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM":
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not reach ALARM in {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each idle sample")
    parser.add_argument("--runs", type=int, default=5, help="alarms timed to ALARM")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        floor = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cloud = start_cloud(Path(tmp), time_scale=60)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/moto-api/", proc=floor)
            time.sleep(2)  # let both finish starting (the cloud warms its extensions)
            moto_idle = idle_share(floor.pid, args.seconds)
            empty_idle = idle_share(cloud.process.pid, args.seconds)

            accounts = [new_account() for _ in range(5)]
            for account in accounts:
                cw = cloud.client("cloudwatch", account)
                for i in range(10):
                    put_alarm(cw, f"idle-{i}")
            time.sleep(1)
            alarms_idle = idle_share(cloud.process.pid, args.seconds)

            cw = cloud.client("cloudwatch", accounts[0])
            latencies = [time_to_alarm(cw, f"latency-{i}") for i in range(args.runs)]
        finally:
            stop_cloud(cloud)
            floor.terminate()
            floor.wait(10)

    print(f"idle CPU, bare moto_server (floor):      {moto_idle * 100:6.2f} % of a core")
    print(f"idle CPU, workshop cloud, no alarms:     {empty_idle * 100:6.2f} % of a core")
    print(f"idle CPU, workshop cloud, 50 alarms:     {alarms_idle * 100:6.2f} % of a core "
          f"(5 accounts x 10, evaluated every real second at scale 60)")
    print(f"breaching data -> ALARM at scale 60:     median {statistics.median(latencies):.2f} s "
          f"(min {min(latencies):.2f}, max {max(latencies):.2f}, {len(latencies)} alarms; "
          f"a 60 s period is 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
