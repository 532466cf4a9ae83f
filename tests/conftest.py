"""Shared fixtures: one real workshop cloud process for the session (started
the way a user starts it, ``python -m workshop cloud``), and a fresh
12-digit account for every test, so tests never see each other's resources."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from workshop.settings import learner_aws_env

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was healthy")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not healthy after {timeout} s")


@dataclass
class Cloud:
    endpoint: str
    port: int
    data_dir: Path
    admin_token: str
    process: subprocess.Popen
    xray_daemon_port: int = 0      # the X-Ray daemon's UDP port (a free one per test cloud)

    def client(self, service: str, account: str = "000000000000", **kwargs):
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=account, aws_secret_access_key="test", **kwargs)

    def env(self, account: str) -> dict:
        """The environment a learner's notebook has (what `workshop up` sets)."""
        env = dict(os.environ)
        env.update(learner_aws_env(self.endpoint, account))
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        return env


def start_cloud(tmp: Path, time_scale: float = 60.0, extra_env: dict | None = None,
                data_dir: Path | None = None, port: int | None = None, xray_daemon_port: int | None = None) -> Cloud:
    """A cloud on a new data dir (or on ``data_dir`` and ``port``, to start again on what a
    stopped one kept)."""
    port = port or free_port()
    # Never the daemon's 2000: test clouds of several sessions run at once on this machine.
    daemon_port = free_udp_port() if xray_daemon_port is None else xray_daemon_port
    env = {**os.environ, "WORKSHOP_ADMIN_TOKEN": ADMIN_TOKEN, **(extra_env or {})}
    log = open(tmp / "cloud.log", "a")
    # Not under pytest's basetemp (0700, and reset to 0700 whenever a pytest session starts):
    # as root, the cloud runs learner code as unprivileged users who must reach their folders here.
    data = data_dir or Path(tempfile.mkdtemp(prefix="workshop-data-"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "workshop", "cloud", "--port", str(port), "--data-dir", str(data),
         "--time-scale", str(time_scale), "--xray-daemon-port", str(daemon_port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{endpoint}/_workshop/health", proc=proc)
    except Exception:
        proc.kill()
        if data_dir is None:
            shutil.rmtree(data, ignore_errors=True)
        raise
    return Cloud(endpoint, port, data, ADMIN_TOKEN, proc, daemon_port)


def stop_cloud(cloud: Cloud, keep_data: bool = False) -> None:
    cloud.process.terminate()
    try:
        cloud.process.wait(30)
    except subprocess.TimeoutExpired:
        cloud.process.kill()
        cloud.process.wait(10)
    if not keep_data:
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory) -> Cloud:
    c = start_cloud(tmp_path_factory.mktemp("cloud"))
    yield c
    stop_cloud(c)


@pytest.fixture
def account() -> str:
    """A fresh account id nobody else in this test session uses."""
    return new_account()


_used: set[str] = set()


def new_account() -> str:
    while True:
        acct = "".join(random.choice("0123456789") for _ in range(12))
        if acct not in _used and acct != "000000000000":
            _used.add(acct)
            return acct


@pytest.fixture(scope="session")
def lab_runs(cloud, tmp_path_factory):
    """Each lab graded once for the session (tests/lab_runs.py), read by the
    notebook, autograde, instructor-grading and class-report tests."""
    from tests.lab_runs import LabRuns

    return LabRuns(cloud, tmp_path_factory.mktemp("lab-runs"))


def pytest_collection_modifyitems(config, items):
    """Under README's `-n 2 --dist loadgroup`, every test that reads the shared lab runs goes to one
    worker, so each lab is graded once (a second worker would grade them all again)."""
    for item in items:
        if "lab_runs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("lab-runs"))
