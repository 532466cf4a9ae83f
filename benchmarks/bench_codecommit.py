"""CodeCommit figures: `git push` to a branch with a trigger until the trigger's
message arrives in an SQS queue subscribed to its SNS topic, beside the same
push to a repository without triggers (the floor), and a clone; then a read
(GetFile, which opens the repository) beside GetRepository (no git: the floor),
and the descriptors the cloud holds before and after a class's worth of
repositories were pushed to and read. Prints medians.

    python benchmarks/bench_codecommit.py [--runs 15] [--repos 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402


def git(*args: str, cwd: Path | None = None) -> None:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def prepared_clone(cloud, account: str, name: str, work: Path) -> Path:
    meta = cloud.client("codecommit", account).create_repository(repositoryName=name)["repositoryMetadata"]
    url = meta["cloneUrlHttp"].replace("http://", f"http://{account}:test@", 1)
    git("clone", "-q", url, str(work))
    git("checkout", "-q", "-b", "main", cwd=work)
    return work


def commit(work: Path, i: int) -> None:
    (work / f"f{i}.txt").write_text(f"{i}\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", f"change {i}", cwd=work)


def open_files(pid: int) -> int:
    """The process's descriptors other than sockets (connections come and go with clients)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--repos", type=int, default=20, help="repositories pushed to for the descriptor count")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cloud = start_cloud(tmp_path)
        try:
            account = new_account()
            sns, sqs = cloud.client("sns", account), cloud.client("sqs", account)
            topic = sns.create_topic(Name="pushes")["TopicArn"]
            queue = sqs.create_queue(QueueName="pushes")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

            triggered = prepared_clone(cloud, account, "triggered", tmp_path / "triggered")
            cloud.client("codecommit", account).put_repository_triggers(repositoryName="triggered", triggers=[
                {"name": "main", "destinationArn": topic, "branches": ["main"], "events": ["all"]}])
            plain = prepared_clone(cloud, account, "plain", tmp_path / "plain")

            to_delivery, push_triggered, push_plain, clones = [], [], [], []
            for i in range(args.runs):
                commit(triggered, i)
                started = time.perf_counter()
                git("push", "-q", "origin", "main", cwd=triggered)
                pushed = time.perf_counter()
                messages = []
                while not messages:
                    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get("Messages", [])
                delivered = time.perf_counter()
                record = json.loads(json.loads(messages[0]["Body"])["Message"])["Records"][0]
                assert record["codecommit"]["references"][0]["ref"] == "refs/heads/main"
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
                to_delivery.append(delivered - started)
                push_triggered.append(pushed - started)

                commit(plain, i)
                started = time.perf_counter()
                git("push", "-q", "origin", "main", cwd=plain)
                push_plain.append(time.perf_counter() - started)

                url = f"{cloud.endpoint.replace('http://', f'http://{account}:test@')}/v1/repos/plain"
                started = time.perf_counter()
                git("clone", "-q", url, str(tmp_path / f"clone{i}"))
                clones.append(time.perf_counter() - started)

            cc = cloud.client("codecommit", account)
            get_file, get_repository = [], []
            for _ in range(max(50, args.runs)):
                started = time.perf_counter()
                cc.get_file(repositoryName="triggered", filePath="f0.txt")
                get_file.append(time.perf_counter() - started)
                started = time.perf_counter()
                cc.get_repository(repositoryName="triggered")
                get_repository.append(time.perf_counter() - started)

            fds_before = open_files(cloud.process.pid)
            class_account = new_account()
            for i in range(args.repos):
                work = prepared_clone(cloud, class_account, f"repo{i}", tmp_path / f"class{i}")
                commit(work, i)
                git("push", "-q", "origin", "main", cwd=work)
                read = cloud.client("codecommit", class_account)
                read.get_branch(repositoryName=f"repo{i}", branchName="main")
                read.get_file(repositoryName=f"repo{i}", filePath=f"f{i}.txt")
            fds_after = open_files(cloud.process.pid)
        finally:
            stop_cloud(cloud)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:7.1f} ms"

    print(f"runs: {args.runs} (median)")
    print(f"git push -> trigger message in SQS        {ms(to_delivery)}")
    print(f"  of which git push (trigger published)  {ms(push_triggered)}")
    print(f"git push, repository without triggers    {ms(push_plain)}  "
          f"(ratio {statistics.median(to_delivery) / statistics.median(push_plain):.2f})")
    print(f"git clone (up to {args.runs} commits)            {ms(clones)}")
    print(f"GetFile after {args.runs} pushes                   {ms(get_file)}  "
          f"(GetRepository, no git: {ms(get_repository).strip()}; "
          f"ratio {statistics.median(get_file) / statistics.median(get_repository):.2f})")
    print(f"descriptors held by the cloud (sockets aside): {fds_before} before, {fds_after} after "
          f"{args.repos} more repositories pushed to and read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
