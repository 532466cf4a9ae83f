"""A build that prints a lot (issue 10): 200 MB of output in 1 KiB lines goes to
CloudWatch Logs on disk, the cloud's resident memory stays within 100 MB of where it
was, and the last line is read back from the tail of the stream."""

from __future__ import annotations

import threading
import time
import uuid

from tests.test_codebuild_builds import inline_project, wait_build

MIB = 1024 * 1024


def resident(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_200_mb_of_build_output_stays_on_disk(cloud, account):
    cb = cloud.client("codebuild", account)
    logs = cloud.client("logs", account)
    # Warm up: the first build loads CodeBuild, CloudWatch Logs and S3 into the cloud.
    inline_project(cb, account, "warm", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo warm\n")
    assert wait_build(cb, cb.start_build(projectName="warm")["build"]["id"])["buildStatus"] == "SUCCEEDED"

    last = f"LAST LINE {uuid.uuid4()}"
    spec = ("version: 0.2\nphases:\n  build:\n    commands:\n"
            "      - python3 -c \"import sys; line = 'x' * 1023 + '\\n'; "
            "[sys.stdout.write(line) for _ in range(204800)]\"\n"
            f"      - echo '{last}'\n")
    inline_project(cb, account, "loud", spec)
    before = resident(cloud.process.pid)
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], resident(cloud.process.pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        build = wait_build(cb, cb.start_build(projectName="loud")["build"]["id"], timeout=600)
    finally:
        done.set()
        watcher.join()
    peak[0] = max(peak[0], resident(cloud.process.pid))
    assert build["buildStatus"] == "SUCCEEDED"
    print(f"resident memory: {before / MIB:.0f} MiB before, peak {peak[0] / MIB:.0f} MiB")
    assert peak[0] - before < 100 * MIB, f"resident memory grew by {(peak[0] - before) / MIB:.0f} MiB"

    tail = logs.get_log_events(logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"],
                               startFromHead=False)
    messages = [e["message"] for e in tail["events"]]
    assert last in messages
    assert sum(len(m) + 26 for m in messages) <= 1_048_576
    stream = logs.describe_log_streams(logGroupName=build["logs"]["groupName"],
                                       logStreamNamePrefix=build["logs"]["streamName"])["logStreams"][0]
    assert stream["storedBytes"] >= 204800 * 1023   # every line, without its newline
