"""``workshop cloud`` as a process: it starts healthy, Ctrl-C (SIGINT) and
SIGTERM stop it cleanly, a restart on the same data dir keeps the state (and
``--fresh`` starts empty, the old state moved aside), and a port already in use
is a clear message and exit 2."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from tests.conftest import ROOT, free_port, new_account, wait_healthy


def _start(port: int, data: Path, log: Path, *extra: str, sigint_ignored: bool = False) -> subprocess.Popen:
    # A background job of a script starts with SIGINT ignored, and Python keeps that.
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    return subprocess.Popen(
        [sys.executable, "-m", "workshop", "cloud", "--port", str(port), "--data-dir", str(data), *extra],
        cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT, preexec_fn=ignore)


def _client(service: str, port: int, account: str):
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id=account, aws_secret_access_key="test")


def _stop_with(proc: subprocess.Popen, sig: int, log: Path | None = None) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)     # the cloud prints its threads' stacks
        time.sleep(2)
        proc.kill()
        proc.wait()
        output = log.read_text() if log is not None else "(no log)"
        raise AssertionError(f"the cloud did not stop within 20 s of signal {sig}:\n{output}") from None


@pytest.mark.parametrize("sig,ignored", [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c", "ctrl-c-started-in-background", "sigterm"])
def test_cloud_starts_healthy_and_stops_cleanly(tmp_path, sig, ignored):
    port, data, log = free_port(), tmp_path / "data", tmp_path / "cloud.log"
    proc = _start(port, data, log, sigint_ignored=ignored)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_workshop/health", proc=proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health") as resp:
            assert "s3" in json.load(resp)["services"]
        account = new_account()
        assert _client("sts", port, account).get_caller_identity()["Account"] == account
        assert (data / "cloud.json").exists()  # where the CLI finds the running cloud
    finally:
        code = _stop_with(proc, sig, log)
    output = log.read_text()
    assert code == 0, output
    assert "workshop cloud stopped" in output
    assert "Traceback" not in output
    assert not (data / "cloud.json").exists()


def test_a_restart_keeps_the_state_and_fresh_starts_empty(tmp_path):
    port, data = free_port(), tmp_path / "data"
    account = new_account()
    proc = _start(port, data, tmp_path / "first.log")
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_workshop/health", proc=proc)
        _client("s3", port, account).create_bucket(Bucket=f"before-restart-{account}")
        _client("sqs", port, account).create_queue(QueueName="before-restart")
        kept_file = data / "state" / "kept.txt"
        kept_file.write_text("from the first run")
    finally:
        assert _stop_with(proc, signal.SIGTERM) == 0

    proc = _start(port, data, tmp_path / "second.log")
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_workshop/health", proc=proc)
        assert [b["Name"] for b in _client("s3", port, account).list_buckets()["Buckets"]] == \
            [f"before-restart-{account}"]
        assert _client("sqs", port, account).list_queues()["QueueUrls"][0].endswith("/before-restart")
        assert kept_file.read_text() == "from the first run"
    finally:
        assert _stop_with(proc, signal.SIGTERM) == 0

    proc = _start(port, data, tmp_path / "third.log", "--fresh")
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_workshop/health", proc=proc)
        assert _client("s3", port, account).list_buckets()["Buckets"] == []
        assert _client("sqs", port, account).list_queues().get("QueueUrls", []) == []
        assert not kept_file.exists()
        # The bucket's global name is free again too.
        _client("s3", port, new_account()).create_bucket(Bucket=f"before-restart-{account}")
    finally:
        assert _stop_with(proc, signal.SIGTERM) == 0
    aside = [p for p in data.iterdir() if p.name.startswith("state.")]
    assert len(aside) == 1 and (aside[0] / "kept.txt").read_text() == "from the first run"
    assert (aside[0] / "snapshots" / f"{account}.snapshot").exists()
    assert "the previous state is kept in" in (tmp_path / "third.log").read_text()


def test_port_in_use_is_a_clear_message_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "workshop", "cloud", "--port", str(port), "--data-dir", str(tmp_path / "data")],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on localhost:{port}" in result.stderr
    assert "--port" in result.stderr  # says what to do about it
    assert "Traceback" not in result.stdout + result.stderr


def test_the_first_requests_while_the_cloud_warms_up_are_answered(tmp_path):
    """Right after start the cloud loads its services in the background; requests that
    arrive meanwhile (a learner's first cells) load what they need beside it and get real
    answers: never a 501 or a 500 from a half-imported module."""
    from concurrent.futures import ThreadPoolExecutor

    from botocore.config import Config

    port, data, log = free_port(), tmp_path / "data", tmp_path / "cloud.log"
    account, config = new_account(), Config(retries={"max_attempts": 1})
    calls = [("lambda", "list_functions", "Functions"), ("codedeploy", "list_applications", "applications"),
             ("codepipeline", "list_pipelines", "pipelines"), ("codebuild", "list_projects", "projects"),
             ("codecommit", "list_repositories", "repositories"), ("cloudwatch", "describe_alarms", "MetricAlarms"),
             ("cloudformation", "describe_stacks", "Stacks"), ("s3", "list_buckets", "Buckets")]
    # The clients first, so that the calls arrive the moment the cloud is up.
    clients = [boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                            aws_access_key_id=account, aws_secret_access_key="test", config=config)
               for service, _, _ in calls]
    proc = _start(port, data, log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_workshop/health", proc=proc)
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = list(pool.map(lambda i: getattr(clients[i], calls[i][1])().get(calls[i][2], []),
                                    range(len(calls))))
        assert answers == [[]] * len(calls)
    finally:
        _stop_with(proc, signal.SIGTERM)
    assert "Traceback" not in log.read_text()
