"""A class on one cloud: N learners (default 50), each in its own account, work for a
minute in a realistic mix (S3 objects, CodeCommit put/get file, CloudFormation reads,
Lambda invokes, CloudWatch metrics, a build now and then), each with a short pause
between calls as a person running notebook cells has. Prints requests/s, p50/p99 latency
per kind of call, errors by status (5xx and connection errors are the cloud failing),
and the cloud's resident memory and open descriptors before and after.
Run: python3 benchmarks/bench_class_load.py [--learners 50,200] [--seconds 60] [--think 0.5]
(a benchmark, not run in CI; boto3 retries are off so that every failure is counted)
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import start_cloud, stop_cloud  # noqa: E402  (one way to start a cloud)

HANDLER = "import json\ndef handler(event, context):\n    return {'ok': True, 'n': len(json.dumps(event))}\n"
BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo building\n      - python3 -c 'print(sum(range(10**5)))'\n"
TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
ROLE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "codebuild.amazonaws.com"]},
    "Action": "sts:AssumeRole"}]})
MIX = [("s3.put", 15), ("s3.get", 15), ("codecommit.put_file", 6), ("codecommit.get_file", 9),
       ("cloudformation.describe", 10), ("lambda.invoke", 20), ("cloudwatch.put", 15), ("cloudwatch.get", 9),
       ("codebuild.start", 1)]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    return buffer.getvalue()


class Learner:
    def __init__(self, endpoint: str, account: str):
        import boto3
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": 1}, max_pool_connections=4,
                        connect_timeout=10, read_timeout=120)
        session = boto3.session.Session(aws_access_key_id=account, aws_secret_access_key="test",
                                        region_name="us-east-1")
        self.account = account
        self.clients = {name: session.client(name, endpoint_url=endpoint, config=config)
                        for name in ("s3", "codecommit", "cloudformation", "lambda", "cloudwatch", "codebuild", "iam")}
        self.bucket = f"class-{account}"
        self.parent: str | None = None
        self.counter = 0

    def setup(self) -> None:
        c = self.clients
        c["s3"].create_bucket(Bucket=self.bucket)
        role = c["iam"].create_role(RoleName="class-role", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
        c["codecommit"].create_repository(repositoryName="notes")
        self.parent = c["codecommit"].put_file(repositoryName="notes", branchName="main", filePath="notes.md",
                                               fileContent=b"# notes\n", commitMessage="start")["commitId"]
        c["lambda"].create_function(FunctionName="hello", Runtime="python3.11", Role=role, Handler="app.handler",
                                    Code={"ZipFile": _zip()})
        c["codebuild"].create_project(name="app", source={"type": "NO_SOURCE", "buildspec": BUILDSPEC},
                                      artifacts={"type": "NO_ARTIFACTS"}, serviceRole=role,
                                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                                   "computeType": "BUILD_GENERAL1_SMALL"})
        c["cloudformation"].create_stack(StackName="class-stack", TemplateBody=TEMPLATE)

    def step(self, kind: str) -> None:
        c = self.clients
        self.counter += 1
        if kind == "s3.put":
            c["s3"].put_object(Bucket=self.bucket, Key=f"data/{self.counter % 20}.txt", Body=os.urandom(2048))
        elif kind == "s3.get":
            try:
                c["s3"].get_object(Bucket=self.bucket, Key=f"data/{self.counter % 20}.txt")["Body"].read()
            except c["s3"].exceptions.NoSuchKey:
                pass
        elif kind == "codecommit.put_file":
            self.parent = c["codecommit"].put_file(
                repositoryName="notes", branchName="main", filePath="notes.md", parentCommitId=self.parent,
                fileContent=f"# notes\nline {self.counter}\n".encode(), commitMessage=f"edit {self.counter}")["commitId"]
        elif kind == "codecommit.get_file":
            c["codecommit"].get_file(repositoryName="notes", filePath="notes.md")
        elif kind == "cloudformation.describe":
            c["cloudformation"].describe_stacks(StackName="class-stack")
        elif kind == "lambda.invoke":
            c["lambda"].invoke(FunctionName="hello", Payload=json.dumps({"i": self.counter}))["Payload"].read()
        elif kind == "cloudwatch.put":
            c["cloudwatch"].put_metric_data(Namespace="Class/App", MetricData=[
                {"MetricName": "Latency", "Value": random.random() * 100, "Unit": "Milliseconds"}])
        elif kind == "cloudwatch.get":
            now = time.time()
            c["cloudwatch"].get_metric_statistics(Namespace="Class/App", MetricName="Latency", StartTime=now - 600,
                                                  EndTime=now, Period=60, Statistics=["Average"])
        elif kind == "codebuild.start":
            c["codebuild"].start_build(projectName="app")


def _status(exc: BaseException) -> str:
    from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?"))
    if isinstance(exc, (BotoConnectionError, HTTPClientError, ConnectionError, TimeoutError)):
        return "connection"
    return type(exc).__name__


def run_group(endpoint: str, accounts: list[str], seconds: float, think: float, ready) -> dict:
    """One process's learners, a thread each: setup, then (once every process has set its
    learners up) the mix until the minute is over."""
    learners = [Learner(endpoint, a) for a in accounts]
    setup_errors: Counter = Counter()
    lock = threading.Lock()

    def setup(learner: Learner) -> None:
        try:
            learner.setup()
        except Exception as exc:
            with lock:
                setup_errors[_status(exc)] += 1

    threads = [threading.Thread(target=setup, args=(learner,)) for learner in learners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ready.wait()
    start_at = time.time()
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter = Counter()
    examples: dict[str, str] = {}
    kinds, weights = zip(*MIX)

    def work(learner: Learner) -> None:
        rng = random.Random(learner.account)
        end = start_at + seconds
        time.sleep(rng.random() * think)
        while time.time() < end:
            kind = rng.choices(kinds, weights)[0]
            began = time.perf_counter()
            try:
                learner.step(kind)
                status = "ok"
            except Exception as exc:
                status = _status(exc)
                examples.setdefault(status, f"{kind}: {exc}"[:200])
            elapsed = time.perf_counter() - began
            with lock:
                latencies[kind].append(elapsed)
                statuses[status] += 1
            time.sleep(rng.expovariate(1 / think) if think > 0 else 0)

    threads = [threading.Thread(target=work, args=(learner,)) for learner in learners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": dict(latencies), "statuses": dict(statuses), "setup_errors": dict(setup_errors),
            "examples": examples}


def cloud_figures(pid: int) -> tuple[float, int]:
    rss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def run_class(learners: int, seconds: float, think: float, processes: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        cloud = start_cloud(Path(tmp))
        try:
            cloud.client("lambda").list_functions()   # the start-up warm-up has loaded Lambda
            rss0, fds0 = cloud_figures(cloud.process.pid)
            accounts = [f"{710000000000 + learners * 1000 + i:012d}" for i in range(learners)]
            groups = [accounts[i::processes] for i in range(processes)]
            began = time.monotonic()
            with multiprocessing.Manager() as manager, ProcessPoolExecutor(processes) as pool:
                ready = manager.Barrier(processes, action=None, timeout=1800)
                results = list(pool.map(run_group, [cloud.endpoint] * processes, groups,
                                        [seconds] * processes, [think] * processes, [ready] * processes))
            print(f"(set-up and the minute took {time.monotonic() - began:.0f} s)")
            rss1, fds1 = cloud_figures(cloud.process.pid)
        finally:
            stop_cloud(cloud)
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter = Counter()
    setup_errors: Counter = Counter()
    examples: dict[str, str] = {}
    for result in results:
        for kind, values in result["latencies"].items():
            latencies[kind] += values
        statuses.update(result["statuses"])
        setup_errors.update(result["setup_errors"])
        for status, text in result["examples"].items():
            examples.setdefault(status, text)
    everything = [v for values in latencies.values() for v in values]
    total = sum(statuses.values())
    print(f"\n== {learners} learners, {seconds:g} s, think {think:g} s ==")
    print(f"requests {total}  ({total / seconds:.1f}/s)   p50 {pct(everything, .5):.0f} ms   "
          f"p99 {pct(everything, .99):.0f} ms")
    for kind, _ in MIX:
        values = latencies.get(kind, [])
        print(f"  {kind:26s} n={len(values):6d}  p50 {pct(values, .5):7.0f} ms  p99 {pct(values, .99):7.0f} ms")
    print(f"statuses: {dict(sorted(statuses.items()))}   setup errors: {dict(setup_errors) or 'none'}")
    for status, text in sorted(examples.items()):
        print(f"  e.g. {status}: {text}")
    print(f"cloud: resident {rss0:.0f} -> {rss1:.0f} MiB, descriptors {fds0} -> {fds1}")
    failures = sum(n for s, n in statuses.items() if s.startswith("5") or s == "connection")
    print(f"5xx + connection errors: {failures}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", default="50", help="class sizes, comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between a learner's calls (s)")
    parser.add_argument("--processes", type=int, default=4, help="client processes (learners are threads in them)")
    args = parser.parse_args()
    failed = 0
    for n in (int(x) for x in args.learners.split(",")):
        failed += run_class(n, args.seconds, args.think, args.processes)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
