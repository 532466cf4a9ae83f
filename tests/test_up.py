"""``workshop up`` as a learner runs it (in the background, no browser): the
cloud and JupyterLab come up, JupyterLab serves labs/ with the workshop's
settings, a kernel there sees the learner's AWS environment, and SIGTERM
stops JupyterLab, its kernels and the cloud. A cloud already running is
reused and left running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, start_cloud, stop_cloud, wait_healthy

pytestmark = pytest.mark.slow

LABS = ROOT / "labs"
URL_RE = re.compile(r"JupyterLab is ready: (http://\S+/lab\?token=(\w+))")


class Up:
    """A `workshop up` process and what it printed."""

    def __init__(self, tmp: Path, *args: str, env: dict | None = None):
        self.log = tmp / "up.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "workshop", "up", *args], cwd=ROOT, env=env,
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text()

    def wait_for_url(self, timeout: float = 180.0) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = URL_RE.search(self.output())
            if match:
                return match.group(1), match.group(2)
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"workshop up printed no JupyterLab URL:\n{self.output()}")

    def children(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        return json.load(resp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent has not reaped it yet).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def _run_in_kernel(base: str, token: str, code: str) -> str:
    """Start a kernel through JupyterLab's REST API and run ``code`` over its websocket
    (what the browser does); return what it printed."""
    import websocket  # websocket-client, a jupyter_server dependency

    request = urllib.request.Request(f"{base}/api/kernels?token={token}", data=b'{"name": "python3"}',
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        kernel = json.load(resp)
    ws = websocket.create_connection(
        f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel['id']}/channels?token={token}", timeout=60)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        printed = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])
            elif message["msg_type"] == "error":
                raise AssertionError("\n".join(message["content"]["traceback"]))
            elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                return "".join(printed)
        raise AssertionError("the kernel did not finish in time")
    finally:
        ws.close()


def test_up_serves_labs_with_the_learner_environment_and_stops_cleanly(tmp_path):
    port, jupyter_port = free_port(), free_port()
    env = dict(os.environ)
    # As on a server over SSH: no display, and no --no-browser given.
    for name in ("WORKSHOP_ACCOUNT", "JUPYTER_TOKEN", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "DISPLAY",
                 "WAYLAND_DISPLAY"):
        env.pop(name, None)
    env["AWS_PROFILE"] = "someone-elses-profile"  # must not leak into the labs
    data = tmp_path / "data"
    up = Up(tmp_path, "--port", str(port), "--jupyter-port", str(jupyter_port), "--data-dir", str(data), env=env)
    try:
        url, token = up.wait_for_url()
        assert url == f"http://localhost:{jupyter_port}/lab?token={token}"

        # It speaks once, clearly: one host name for everything, no browser attempt, the
        # JupyterLab log named (and Jupyter's own messages in it, not on the terminal).
        said = up.output()
        assert set(re.findall(r"https?://\[?([\w.:-]+?)\]?:\d+", said)) == {"localhost"}, said
        assert f"  endpoint    http://localhost:{port}: the workshop cloud" in said
        assert "browser" not in said.lower(), said
        log = data / "jupyterlab.log"
        assert f"  log         {log} " in said
        assert "Jupyter" in log.read_text() and "[I " not in said and "[W " not in said
        # The token is on no command line (ps shows those to every user).
        for pid in up.children():
            assert token not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        assert not (data / "jupyterlab-up.json").exists()
        # The cloud answers on both loopbacks, whichever one localhost resolves to.
        from workshop.cloud.server import listen_addresses

        if "[::1]" in listen_addresses("localhost", port):  # the machine has IPv6
            assert _get(f"http://[::1]:{port}/_workshop/health")["time_scale"] == 60

        # The cloud, on the port asked for.
        health = _get(f"http://127.0.0.1:{port}/_localstack/health")
        assert health["services"]["s3"] in ("available", "running")
        assert _get(f"http://127.0.0.1:{port}/_workshop/health")["time_scale"] == 60

        # JupyterLab, with the token printed, serving labs/.
        base = f"http://127.0.0.1:{jupyter_port}"
        assert "started" in _get(f"{base}/api/status?token={token}")
        listed = {item["name"] for item in _get(f"{base}/api/contents?token={token}")["content"]
                  if item["type"] == "directory"}
        on_disk = {p.name for p in LABS.iterdir() if p.is_dir() and not p.name.startswith(".")}
        assert on_disk, "labs/ has no lab folders"
        assert listed == on_disk

        # The settings the project ships: no news pop-up, no instructor menus.
        notification = _get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}")
        defaults = {k: v.get("default") for k, v in notification["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10) as resp:
            page = resp.read().decode()
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>\s*(\{.*?\})\s*</script>', page, re.S).group(1))
        assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= set(
            config["disabledExtensions"])

        # A kernel there has the learner's AWS environment and reaches the cloud.
        printed = _run_in_kernel(base, token, (
            "import json, os, boto3\n"
            "env = {k: os.environ.get(k) for k in ('AWS_ENDPOINT_URL', 'AWS_DEFAULT_REGION', 'AWS_REGION',"
            " 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE')}\n"
            "env['account'] = boto3.client('sts').get_caller_identity()['Account']\n"
            "env['pid'] = os.getpid()\n"
            "print(json.dumps(env))\n"))
        seen = json.loads(printed.strip().splitlines()[-1])
        assert seen["AWS_ENDPOINT_URL"] == f"http://localhost:{port}"
        assert seen["AWS_DEFAULT_REGION"] == seen["AWS_REGION"] == "us-east-1"
        assert seen["AWS_ACCESS_KEY_ID"] == "test" and seen["AWS_SECRET_ACCESS_KEY"] == "test"
        assert seen["AWS_PROFILE"] is None
        assert seen["account"] == "000000000000"

        processes = up.children() + [seen["pid"]]
        assert len(processes) == 3  # the cloud, JupyterLab, the kernel
    finally:
        code = up.stop()
    assert code == 0, up.output()
    assert _wait_gone(processes) == [], f"left running: {processes}\n{up.output()}"
    assert "stopped JupyterLab and the cloud" in up.output()
    assert "Traceback" not in up.output()


def test_up_reuses_a_healthy_cloud_and_leaves_it_running(tmp_path):
    cloud = start_cloud(tmp_path)
    try:
        account = "123456789012"
        env = dict(os.environ, WORKSHOP_ACCOUNT=account)
        up = Up(tmp_path, "--no-browser", "--port", str(cloud.port), "--jupyter-port", str(free_port()),
                "--data-dir", str(tmp_path / "up-data"), env=env)
        try:
            url, token = up.wait_for_url()
            assert f"endpoint    http://localhost:{cloud.port}: the workshop cloud already running" in up.output()
            assert f"account     {account}" in up.output()
            assert len(up.children()) == 1  # JupyterLab only
        finally:
            assert up.stop() == 0, up.output()
        assert "stopped JupyterLab\n" in up.output()
        assert cloud.process.poll() is None
        wait_healthy(f"{cloud.endpoint}/_workshop/health", timeout=5)
    finally:
        stop_cloud(cloud)
