"""Keeping state, measured: the time to write one account's snapshot (an account with
every kind of resource the labs make: tests/persistence_scenario.py, i.e. a repository
with commits, a bucket, a stack, builds with logs, a function with versions and an
alias, a deployment, a pipeline execution, an alarm with history, IAM, SQS, ECR), and
how long a cloud takes to start (until it answers health and a first API call) empty
and with a class of N restored accounts. Prints medians.

    python benchmarks/bench_snapshot.py [--runs 20] [--accounts 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import ADMIN_TOKEN, free_port, new_account, start_cloud, stop_cloud  # noqa: E402
from tests.persistence_scenario import populate  # noqa: E402
from tests.test_lambda_invoke import make_function  # noqa: E402


def write_time(data: Path, account: str, runs: int) -> tuple[float, int]:
    """(median ms, bytes) of writing ``account``'s snapshot, in this process, from the
    snapshot the cloud wrote: the cloud's own code path (capture, pickle, fsync, rename)."""
    from workshop.cloud import persistence

    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    states = persistence.read_all(data / "state")
    scratch = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    try:
        persistence.start(scratch, {account: states[account]})
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            assert persistence.save(account)
            times.append((time.perf_counter() - started) * 1000)
        size = persistence.path_of(account).stat().st_size
        persistence.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return statistics.median(times), size


def a_learner(cloud, account: str) -> None:
    """What a learner of a class has after a morning: a bucket with objects, a repository with
    commits, a stack, a function with a version and an alias, an alarm, an IAM user."""
    s3 = cloud.client("s3", account)
    s3.create_bucket(Bucket=f"class-{account}")
    for i in range(5):
        s3.put_object(Bucket=f"class-{account}", Key=f"artifacts/{i}.zip", Body=os.urandom(20_000))
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="app")
    parent = None
    for i in range(3):
        kwargs = {"parentCommitId": parent} if parent else {}
        parent = cc.put_file(repositoryName="app", branchName="main", fileContent=f"v{i}\n".encode(),
                             filePath="app.py", **kwargs)["commitId"]
    cloud.client("cloudformation", account).create_stack(StackName="class", TemplateBody=json.dumps(
        {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}, "Queue": {"Type": "AWS::SQS::Queue"}}}))
    make_function(cloud, account, "hello", "def handler(event, context):\n    return 'hi'\n")
    lam = cloud.client("lambda", account)
    lam.publish_version(FunctionName="hello")
    lam.create_alias(FunctionName="hello", Name="live", FunctionVersion="1")
    cloud.client("cloudwatch", account).put_metric_alarm(
        AlarmName="errors", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloud.client("iam", account).create_user(UserName="learner")


def start_seconds(data: Path | None) -> float:
    """Seconds from starting `workshop cloud` until it answered health and a first S3 call."""
    import boto3

    port = free_port()
    empty = data is None
    data = data or Path(tempfile.mkdtemp(prefix="bench-empty-"))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "workshop", "cloud", "--port", str(port), "--data-dir",
                             str(data)], cwd=ROOT, env={**os.environ, "WORKSHOP_ADMIN_TOKEN": ADMIN_TOKEN},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the cloud exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_workshop/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.02)
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                     aws_access_key_id="000000000000", aws_secret_access_key="test").list_buckets()
        return time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(60)
        if empty:
            shutil.rmtree(data, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))

    cloud = start_cloud(tmp)
    try:
        account = new_account()
        populate(cloud, account, tmp)
        stop_cloud(cloud, keep_data=True)
        ms, size = write_time(cloud.data_dir, account, args.runs)
        print(f"snapshot write, an account with every kind of resource: median {ms:.1f} ms "
              f"({size / 1024:.0f} KiB, {args.runs} writes)")
    finally:
        shutil.rmtree(cloud.data_dir, ignore_errors=True)

    cloud = start_cloud(tmp)
    try:
        started = time.perf_counter()
        for _ in range(args.accounts):
            a_learner(cloud, new_account())
        print(f"{args.accounts} learners' accounts made in {time.perf_counter() - started:.0f} s")
        stop_cloud(cloud, keep_data=True)
        snapshots = list((cloud.data_dir / "state" / "snapshots").glob("*.snapshot"))
        total = sum(p.stat().st_size for p in snapshots)
        print(f"  {len(snapshots)} snapshots, {total / 1024 / 1024:.1f} MiB")
        empty = statistics.median(start_seconds(None) for _ in range(args.starts))
        restored = statistics.median(start_seconds(cloud.data_dir) for _ in range(args.starts))
        print(f"start to first answer: empty median {empty:.2f} s, with {args.accounts} restored accounts "
              f"median {restored:.2f} s ({args.starts} starts each)")
    finally:
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
