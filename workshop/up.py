"""``workshop up``: the workshop cloud (started, or reused when one is already
healthy on the port) and JupyterLab on ``labs/``, with the learner's AWS
environment set for every kernel. Ctrl-C or SIGTERM stops what it started."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from workshop import settings

# What the project ships for JupyterLab, in jupyter/ beside this package
# (overrides.json: news pop-up and update check off; page_config.json:
# nbgrader's instructor extensions off). It is passed as
# LabApp.app_settings_dir, so nothing is written into the user's own
# Jupyter configuration.
LAB_SETTINGS_DIR = Path(__file__).resolve().parents[1] / "jupyter" / "lab" / "settings"

# nbgrader's instructor-side server extensions; learners keep assignment_list
# and validate_assignment.
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)

CLOUD_START_TIMEOUT = 60.0
EXTERNAL_ENDPOINT_TIMEOUT = 180.0  # LocalStack takes its time to boot
JUPYTER_START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


class _Stop(Exception):
    """Raised from the signal handler: Ctrl-C, SIGTERM or SIGHUP."""


def up(args) -> int:
    root = settings.project_root()
    notebook_dir = Path(args.notebook_dir).expanduser().resolve() if args.notebook_dir else root / "labs"
    if not notebook_dir.is_dir():
        print(f"workshop up: {notebook_dir} is not a folder (give one with --notebook-dir)", file=sys.stderr)
        return 2
    data = settings.data_dir(args.data_dir)
    external = getattr(args, "endpoint", None)
    local_host = _local_host(args.host)
    cloud_url = f"http://{_url_host(local_host)}:{args.port}"
    # The learner's endpoint says localhost: the CDK's default synthesizer needs it.
    endpoint = external or (f"http://localhost:{args.port}" if local_host == "127.0.0.1" else cloud_url)

    cloud: subprocess.Popen | None = None
    jupyter: subprocess.Popen | None = None
    previous = _install_signal_handlers()
    try:
        if external:
            print(f"workshop up: using the AWS endpoint {external} (no workshop cloud started)", flush=True)
            if not _wait(lambda: _health(external.rstrip("/") + "/_localstack/health") is not None,
                         EXTERNAL_ENDPOINT_TIMEOUT, None):
                print(f"workshop up: {external} did not answer /_localstack/health within "
                      f"{EXTERNAL_ENDPOINT_TIMEOUT:g} s", file=sys.stderr)
                return 2
        else:
            health = _health(f"{cloud_url}/_workshop/health")
            if health is not None:
                print(f"workshop up: reusing the workshop cloud already running on {cloud_url} "
                      f"(time scale {health.get('time_scale', '?')}); it stays up when this stops", flush=True)
                if getattr(args, "fresh", False):
                    print("workshop up: note: --fresh does nothing to a cloud already running; stop it "
                          "and run `workshop up --fresh` again to start empty", flush=True)
                if health.get("time_scale") not in (None, args.time_scale):
                    print(f"workshop up: note: that cloud's time scale is {health['time_scale']}, "
                          f"not the {args.time_scale:g} asked for", flush=True)
            else:
                cloud = _start_cloud(args, data)
                if not _wait(lambda: _health(f"{cloud_url}/_workshop/health") is not None,
                             CLOUD_START_TIMEOUT, cloud):
                    print(f"workshop up: the cloud did not become healthy on {cloud_url}.", file=sys.stderr)
                    _print_tail(data / "cloud.log")
                    return cloud.returncode if cloud.poll() not in (None, 0) else 2
                print(f"workshop up: cloud ready on {cloud_url} (time scale {args.time_scale:g}, "
                      f"log {data / 'cloud.log'})", flush=True)

        token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
        jupyter = _start_jupyter(args, notebook_dir, token, learner_env(endpoint, root))
        lab_host = "localhost" if local_host == "127.0.0.1" else _url_host(local_host)
        status_url = f"http://{_url_host(local_host)}:{args.jupyter_port}/api/status?token={token}"
        if not _wait(lambda: _health(status_url) is not None, JUPYTER_START_TIMEOUT, jupyter):
            print(f"workshop up: JupyterLab did not start on port {args.jupyter_port} "
                  f"(is the port taken? try --jupyter-port)", file=sys.stderr)
            return 2
        account = _account_id(os.environ.get("WORKSHOP_ACCOUNT") or "test")
        if not external:
            _make_base_image(settings.data_dir())
        print(f"""
JupyterLab is ready: http://{lab_host}:{args.jupyter_port}/lab?token={token}
  notebooks   {notebook_dir}
  endpoint    {endpoint}
  account     {account} (region {settings.DEFAULT_REGION})
Press Ctrl-C to stop.""", flush=True)

        while True:
            if jupyter.poll() is not None:
                print(f"workshop up: JupyterLab exited ({jupyter.returncode})", file=sys.stderr)
                return jupyter.returncode or 0
            if cloud is not None and cloud.poll() is not None:
                print(f"workshop up: the cloud exited ({cloud.returncode}); stopping JupyterLab",
                      file=sys.stderr)
                _print_tail(data / "cloud.log")
                return 1
            time.sleep(0.5)
    except _Stop:
        return 0
    finally:
        # A second Ctrl-C must not cut the clean-up short (each stop is bounded).
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        # JupyterLab first (it shuts its kernels down), then the cloud this run started.
        stopped = [name for name, proc in (("JupyterLab", jupyter), ("the cloud", cloud))
                   if proc is not None and _stop(proc)]
        _restore_signal_handlers(previous)
        if stopped:
            print(f"workshop up: stopped {' and '.join(stopped)}", flush=True)


def learner_env(endpoint: str, root: Path) -> dict:
    """The environment of JupyterLab and so of every kernel it starts."""
    env = dict(os.environ)
    # Credentials from the user's own AWS set-up must not leak into the labs.
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        env.pop(name, None)
    env.update(settings.learner_aws_env(endpoint, os.environ.get("WORKSHOP_ACCOUNT") or "test"),
               WORKSHOP_HOME=str(root))
    # Started from a virtualenv that is not activated, tools that nbgrader and
    # the labs call by name (alembic, git helpers) must still be found.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    return env


def jupyter_command(args, notebook_dir: Path, token: str) -> list[str]:
    command = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.ip={args.host}",
        f"--ServerApp.port={args.jupyter_port}",
        "--ServerApp.port_retries=0",  # the URL printed must be the one it serves
        f"--ServerApp.root_dir={notebook_dir}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.log_level=WARN", "--LabApp.log_level=WARN",
    ]
    if LAB_SETTINGS_DIR.is_dir():
        command.append(f"--LabApp.app_settings_dir={LAB_SETTINGS_DIR}")
    for extension in INSTRUCTOR_SERVER_EXTENSIONS:
        command += ["--ServerApp.jpserver_extensions", f"{extension}=False"]
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses root without it (CI runs as root)
    return command


# -- processes ---------------------------------------------------------------
def _start_cloud(args, data: Path) -> subprocess.Popen:
    data.mkdir(parents=True, exist_ok=True)
    log = open(data / "cloud.log", "w")
    command = [sys.executable, "-m", "workshop", "cloud", "--host", args.host, "--port", str(args.port),
               "--time-scale", f"{args.time_scale:g}", "--data-dir", str(data)]
    if getattr(args, "fresh", False):
        command.append("--fresh")
    print(f"workshop up: starting the cloud on {args.host}:{args.port}", flush=True)
    try:
        return _spawn(command, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def _make_base_image(data: Path) -> subprocess.Popen | None:
    """Lab 05 builds images on a Python base: make it once, in the background (15-30 s).
    Images are the user's ($WORKSHOP_DATA_DIR, else ~/.workshop), not one cloud's."""
    from workshop.images import base

    if base.get(data) is not None:
        return None
    print(f"workshop up: making the Python base image for containers (log {data / 'image-base.log'})",
          flush=True)
    with open(data / "image-base.log", "w") as log:
        return _spawn([sys.executable, "-m", "workshop", "image", "base", "--if-missing", "--data-dir", str(data)],
                      stdout=log, stderr=subprocess.STDOUT)


def _start_jupyter(args, notebook_dir: Path, token: str, env: dict) -> subprocess.Popen:
    print(f"workshop up: starting JupyterLab on port {args.jupyter_port}", flush=True)
    return _spawn(jupyter_command(args, notebook_dir, token), env=env)


def _spawn(command: list[str], **kwargs) -> subprocess.Popen:
    # Own session: a Ctrl-C in the terminal reaches only `workshop up`, which
    # then stops its children in order (JupyterLab would otherwise ask
    # "Shutdown this Jupyter server?"). The parent-death signal keeps them
    # from outliving a `workshop up` that is killed outright.
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_die_with_parent, **kwargs)


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _stop(proc: subprocess.Popen) -> bool:
    """SIGTERM, then SIGKILL after a while; True when this call stopped it."""
    if proc.poll() is not None:
        return False
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return True


def _wait(ready, timeout: float, proc: subprocess.Popen | None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def _health(url: str) -> dict | None:
    """The JSON a health URL answers with, or None when nothing healthy answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status != 200:
                return None
            try:
                return json.loads(resp.read() or b"{}")
            except ValueError:
                return {}
    except (OSError, urllib.error.URLError, ValueError):
        return None


# -- signals -----------------------------------------------------------------
def _install_signal_handlers() -> dict:
    def handler(signum, frame):
        raise _Stop

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signal_handlers(previous: dict) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)


# -- helpers -----------------------------------------------------------------
def _local_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "localhost") else ("::1" if host == "::" else host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _account_id(key: str) -> str:
    from workshop.cloud.accounts import account_for_key

    return account_for_key(key)


def _print_tail(path: Path, lines: int = 20) -> None:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return
    if text:
        print(f"--- last lines of {path} ---", file=sys.stderr)
        print("\n".join(text), file=sys.stderr)
