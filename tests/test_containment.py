"""Contained jobs (issue 10): what a build, a deployment hook or a Lambda worker starts
is gone when the job ends, also processes that left its session (``setsid``, a double
fork), on both paths (a cgroup per job where one is writable, as root here; a child
subreaper per process where none is, forced by WORKSHOP_CONTAINMENT=subreaper); jobs left
running by a cloud killed with SIGKILL end when the cloud starts again; and a job runs
within its limits (its own pids cgroup, a lower priority than the cloud)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cloud, free_port, start_cloud, stop_cloud, wait_healthy
from tests.test_codebuild_builds import inline_project, log_text, wait_build
from tests.test_lambda_invoke import lambda_role

LINUX = sys.platform.startswith("linux")
pytestmark = pytest.mark.skipif(not LINUX, reason="containment is Linux's (cgroups, PR_SET_CHILD_SUBREAPER)")


def cgroups_writable() -> bool:
    return os.geteuid() == 0 and Path("/sys/fs/cgroup").is_dir()


def unique_seconds() -> int:
    """A sleep's length no other test's process has: tests of both pytest workers leave
    sleeps about, and each test looks for its own by their command lines. Spaced by 4 (a
    test uses this and the next three)."""
    return 100_000 + int(uuid.uuid4().int % 1_000_000) * 4


def with_marker(marker: str) -> list[int]:
    """Processes whose arguments hold ``marker``'s words, word for word in a row (``sleep 1700``
    is not ``sleep 17004``, nor a shell whose script merely mentions it)."""
    words = marker.split()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(args[i:i + len(words)] == words for i in range(len(args))):
            found.append(int(entry.name))
    return found


def described(marker: str) -> str:
    """What is left with ``marker``: pid, parent, owner, state, session and arguments of each."""
    lines = []
    for pid in with_marker(marker):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            owner = Path(f"/proc/{pid}").stat().st_uid
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        lines.append(f"pid {pid} ppid {fields[1]} uid {owner} state {fields[0]} sid {fields[3]}: {args}")
    return "; ".join(lines) or "nothing now"


def gone(marker: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not with_marker(marker):
            return True
        time.sleep(0.1)
    return False


def leaving_spec(seconds: int) -> str:
    """A buildspec whose command leaves processes behind in three ways: in the background of
    its session, in a session of its own (setsid), and orphaned by a double fork."""
    return ("version: 0.2\nphases:\n  build:\n    commands:\n"
            f"      - sleep {seconds} &\n"
            f"      - setsid sleep {seconds + 1} &\n"
            f"      - (sh -c 'sleep {seconds + 2} &' &)\n"
            "      - sleep 4\n")


@pytest.fixture(scope="module", params=["cgroup", "subreaper"])
def contained_cloud(request, tmp_path_factory):
    if request.param == "cgroup" and not cgroups_writable():
        pytest.skip("no writable cgroup here (not root)")
    env = {"WORKSHOP_CONTAINMENT": request.param} if request.param == "subreaper" else {}
    cloud = start_cloud(tmp_path_factory.mktemp(f"cloud-{request.param}"), extra_env=env)
    cloud.containment = request.param
    yield cloud
    stop_cloud(cloud)


def test_a_finished_build_leaves_no_process(contained_cloud, account):
    cb = contained_cloud.client("codebuild", account)
    seconds = unique_seconds()
    inline_project(cb, account, "leaver", leaving_spec(seconds))
    build_id = cb.start_build(projectName="leaver")["build"]["id"]
    # While the build runs, what its commands left is there...
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(with_marker(f"sleep {seconds + i}") for i in range(3)):
        time.sleep(0.1)
    assert all(with_marker(f"sleep {seconds + i}") for i in range(3))
    build = wait_build(cb, build_id)
    assert build["buildStatus"] == "SUCCEEDED"
    # ...and once it has ended, nothing is.
    for offset in range(3):
        assert gone(f"sleep {seconds + offset}"), \
            f"sleep {seconds + offset} outlived its build: {described(f'sleep {seconds + offset}')}"


def test_a_build_runs_within_its_limits(contained_cloud, account):
    cb = contained_cloud.client("codebuild", account)
    spec = ("version: 0.2\nphases:\n  build:\n    commands:\n"
            "      - python3 -c \"import os; print('NICE', os.getpriority(os.PRIO_PROCESS, 0))\"\n"
            "      - cat /proc/self/cgroup\n")
    inline_project(cb, account, "limits", spec)
    build = wait_build(cb, cb.start_build(projectName="limits")["build"]["id"])
    text = log_text(contained_cloud, account, build)
    assert "NICE 10" in text
    if contained_cloud.containment == "cgroup":
        pids = [line for line in text.splitlines() if ":pids:" in line]
        assert pids and "devops-workshop" in pids[0]
        folder = Path("/sys/fs/cgroup/pids") / pids[0].split(":pids:", 1)[1].lstrip("/")
        assert not folder.exists()   # the build's cgroup went with the build


def test_a_function_worker_leaves_no_process(contained_cloud, account):
    import io
    import zipfile

    seconds = unique_seconds()
    handler = ("import subprocess\n"
               "def handler(event, context):\n"
               f"    subprocess.Popen(['setsid', 'sleep', '{seconds}'])\n"
               f"    subprocess.Popen(['sh', '-c', \"(sleep {seconds + 1} &) &\"])\n"
               "    return 'started'\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", handler)
    lam = contained_cloud.client("lambda", account)
    lam.create_function(FunctionName="leaver", Runtime="python3.11", Role=lambda_role(contained_cloud, account),
                        Handler="app.handler", Code={"ZipFile": buffer.getvalue()})
    assert lam.invoke(FunctionName="leaver")["Payload"].read() == b'"started"'
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(with_marker(f"sleep {seconds}")) < 1:
        time.sleep(0.1)
    assert with_marker(f"sleep {seconds}")
    lam.delete_function(FunctionName="leaver")    # its warm worker stops
    assert gone(f"sleep {seconds}") and gone(f"sleep {seconds + 1}")


def _start_on(data: Path, env: dict, log: Path) -> Cloud:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workshop", "cloud", "--port", str(port), "--data-dir", str(data)],
        cwd=ROOT, env={**os.environ, "WORKSHOP_ADMIN_TOKEN": "test-admin-token", **env},
        stdout=open(log, "a"), stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    wait_healthy(f"{endpoint}/_workshop/health", proc=proc)
    return Cloud(endpoint, port, data, "test-admin-token", proc)


@pytest.mark.parametrize("how", ["cgroup", "subreaper"])
def test_a_build_running_when_the_cloud_is_killed_ends_by_the_next_start(how, tmp_path, account):
    if how == "cgroup" and not cgroups_writable():
        pytest.skip("no writable cgroup here (not root)")
    import tempfile

    env = {"WORKSHOP_CONTAINMENT": how} if how == "subreaper" else {}
    data = Path(tempfile.mkdtemp(prefix="workshop-data-"))
    cloud = _start_on(data, env, tmp_path / "cloud.log")
    seconds = unique_seconds()
    try:
        cb = cloud.client("codebuild", account)
        inline_project(cb, account, "orphan", leaving_spec(seconds).replace("sleep 4\n", f"sleep {seconds + 3}\n"))
        build_id = cb.start_build(projectName="orphan")["build"]["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not with_marker(f"sleep {seconds + 1}"):
            time.sleep(0.1)
        assert with_marker(f"sleep {seconds + 1}"), cb.batch_get_builds(ids=[build_id])["builds"][0]["phases"]
        cloud.process.send_signal(signal.SIGKILL)
        cloud.process.wait(10)
        again = _start_on(data, env, tmp_path / "cloud.log")
        try:
            for offset in range(3):
                assert gone(f"sleep {seconds + offset}"), \
                    f"sleep {seconds + offset} outlived a killed cloud: {described(f'sleep {seconds + offset}')}"
            assert gone(f"sleep {seconds + 3}"), described(f"sleep {seconds + 3}")
        finally:
            stop_cloud(again)
    finally:
        if cloud.process.poll() is None:
            cloud.process.kill()
        shutil.rmtree(data, ignore_errors=True)


def test_a_hook_leaves_no_process(contained_cloud, account):
    from tests.test_codedeploy_lambda import finished
    from tests.test_codedeploy_server import register, release, server_group, upload

    seconds = unique_seconds()
    leaver = (f"#!/bin/sh\nsetsid sleep {seconds} > /dev/null 2>&1 &\n"
              f"(sh -c 'sleep {seconds + 1} > /dev/null 2>&1 &' &)\ngrep -q v1 var/www/html/index.html\n")
    register(contained_cloud, account, ["app-1"], [{"Key": "Name", "Value": "app-1"}])
    revision = upload(contained_cloud, account, "leaver.zip", release("v1", leaver))
    cd = server_group(contained_cloud, account, "one", "CodeDeployDefault.OneAtATime",
                      onPremisesInstanceTagFilters=[{"Key": "Name", "Type": "KEY_ONLY"}])
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="one",
                                         revision=revision)["deploymentId"]
    assert finished(cd, deployment_id)["status"] == "Succeeded"
    assert gone(f"sleep {seconds}") and gone(f"sleep {seconds + 1}")
