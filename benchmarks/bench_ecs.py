"""ECS that runs, measured on a cloud at time scale 60: a task's start (run_task's answer)
to RUNNING and to HEALTHY (its container health check passing), the first start with the
image's unpacking and then with the unpacked root cached; a rolling deployment of a
3-task service to a new image until COMPLETED; and the cloud's CPU while one service of
2 tasks with container health checks runs and nothing else happens (30 s). Prints medians.

    python benchmarks/bench_ecs.py [--tasks 5] [--rollouts 3] [--idle 30]
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

from tests import ecs_images as ei  # noqa: E402
from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(the process's own CPU seconds, those of its children it reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks


def wait(what, timeout: float = 120.0, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(every)
    raise TimeoutError("not within the timeout")


def task_starts(ecs, definition: str, runs: int) -> list[tuple[float, float]]:
    found = []
    for _ in range(runs):
        started = time.monotonic()
        arn = ecs.run_task(cluster="apps", taskDefinition=definition)["tasks"][0]["taskArn"]
        wait(lambda: ei.task(ecs, "apps", arn)["lastStatus"] == "RUNNING")
        running = time.monotonic() - started
        wait(lambda: ei.task(ecs, "apps", arn)["healthStatus"] == "HEALTHY")
        found.append((running, time.monotonic() - started))
        ecs.stop_task(cluster="apps", task=arn)
        wait(lambda: ei.task(ecs, "apps", arn)["lastStatus"] == "STOPPED")
    return found


def completed(ecs):
    service = ecs.describe_services(cluster="apps", services=["web"])["services"][0]
    return (len(service["deployments"]) == 1 and service["deployments"][0]["rolloutState"] == "COMPLETED"
            and service["runningCount"] == 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--rollouts", type=int, default=3)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ecs-"))
    cloud = start_cloud(tmp, time_scale=60)
    try:
        account = new_account()
        data = ei.data_dir_with_base(tmp)
        uri = cloud.client("ecr", account).create_repository(repositoryName="web")["repository"]["repositoryUri"]
        for version in ("1.0.0", "2.0.0"):
            ei.build(cloud, account, data, ei.sample_app(tmp, version), f"{uri}:{version}")
        ecs = cloud.client("ecs", account)
        ecs.create_cluster(clusterName="apps")
        defs = [ei.register(ecs, "web", f"{uri}:{v}", health=True) for v in ("1.0.0", "2.0.0")]

        starts = task_starts(ecs, defs[0], args.tasks)
        cold, warm = starts[0], starts[1:] or starts
        print(f"task start -> RUNNING: first (unpacking the image) {cold[0]:.2f} s, then median "
              f"{statistics.median(s[0] for s in warm):.2f} s ({len(warm)} tasks)")
        print(f"task start -> HEALTHY: first {cold[1]:.2f} s, then median "
              f"{statistics.median(s[1] for s in warm):.2f} s (health check interval 10 s at scale 60, "
              f"at most one check a real second)")

        ecs.create_service(cluster="apps", serviceName="web", taskDefinition=defs[0], desiredCount=3,
                           launchType="EC2")
        wait(lambda: completed(ecs), timeout=300, every=0.1)
        rollouts = []
        for i in range(args.rollouts):
            target = defs[(i + 1) % 2]
            if i == 0:
                wait(lambda: True)
            started = time.monotonic()
            ecs.update_service(cluster="apps", service="web", taskDefinition=target)
            time.sleep(0.3)
            wait(lambda: completed(ecs), timeout=300, every=0.1)
            rollouts.append(time.monotonic() - started)
        print(f"rolling deployment of 3 tasks to COMPLETED (scale 60, min 100% / max 200%): median "
              f"{statistics.median(rollouts):.2f} s ({', '.join(f'{r:.2f}' for r in rollouts)})")

        ecs.update_service(cluster="apps", service="web", desiredCount=2)
        wait(lambda: ecs.describe_services(cluster="apps", services=["web"])["services"][0]["runningCount"] == 2)
        time.sleep(3)
        own0, children0 = cpu_seconds(cloud.process.pid)
        time.sleep(args.idle)
        own1, children1 = cpu_seconds(cloud.process.pid)
        print(f"idle cloud with one service of 2 tasks (container health checks every 30 s, at scale 60 one every 5 real s once HEALTHY): "
              f"{own1 - own0:.2f} CPU s in {args.idle:.0f} s ({100 * (own1 - own0) / args.idle:.1f}% of a core), "
              f"plus {children1 - children0:.2f} CPU s of the health checks' processes")
    finally:
        stop_cloud(cloud)


if __name__ == "__main__":
    main()
