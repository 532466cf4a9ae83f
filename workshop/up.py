"""``workshop up``: the workshop cloud (started, or reused when one is already
healthy on the port) and JupyterLab on ``labs/``, with the learner's AWS
environment set for every kernel; it says where everything is once, and keeps
JupyterLab's own messages in a log. Ctrl-C or SIGTERM stops what it started."""

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
# nbgrader's extensions off for learners). It is passed as
# LabApp.app_settings_dir, so nothing is written into the user's own
# Jupyter configuration. Instructors get the same defaults without page_config.json.
LAB_SETTINGS_DIR = Path(__file__).resolve().parents[1] / "jupyter" / "lab" / "settings"
INSTRUCTOR_SETTINGS_DIR = Path(__file__).resolve().parents[1] / "jupyter" / "lab" / "instructor-settings"

# nbgrader's server extensions, off for learners (the workshop grades with `workshop check`
# and `workshop course`; its Validate would judge an unsolved lab against hidden tests).
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.validate_assignment",
)
JUPYTER_LOG = "jupyterlab.log"
JUPYTER_CONFIG = "jupyterlab-up.json"  # the token, 0600: never on a command line (ps shows those)

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
    data.mkdir(parents=True, exist_ok=True)
    external = getattr(args, "endpoint", None)
    # One name for the cloud throughout: localhost (the cloud listens on 127.0.0.1 and ::1;
    # the CDK's default synthesizer needs localhost in template URLs).
    cloud_url = f"http://{url_host(args.host)}:{args.port}"
    endpoint = external or cloud_url
    instructor = getattr(args, "instructor", False)

    cloud: subprocess.Popen | None = None
    jupyter: subprocess.Popen | None = None
    config = data / JUPYTER_CONFIG
    previous = _install_signal_handlers()
    try:
        if external:
            cloud_line = "an endpoint of your own (no workshop cloud started)"
            print(f"workshop up: waiting for {external} ...", flush=True)
            if not _wait(lambda: _health(external.rstrip("/") + "/_localstack/health") is not None,
                         EXTERNAL_ENDPOINT_TIMEOUT, None):
                print(f"workshop up: {external} did not answer /_localstack/health within "
                      f"{EXTERNAL_ENDPOINT_TIMEOUT:g} s", file=sys.stderr)
                return 2
        else:
            health = _health(f"{cloud_url}/_workshop/health")
            if health is not None:
                scale = health.get("time_scale", "?")
                cloud_line = f"the workshop cloud already running (time scale {scale}; it stays up when this stops)"
                if getattr(args, "fresh", False):
                    cloud_line += ("; --fresh does nothing to a cloud already running: stop it and run "
                                   "`workshop up --fresh` again to start empty")
                if health.get("time_scale") not in (None, args.time_scale):
                    cloud_line += f"; not the time scale {args.time_scale:g} asked for"
            else:
                cloud = _start_cloud(args, data)
                cloud_line = f"the workshop cloud (time scale {args.time_scale:g}; log {data / 'cloud.log'})"
                if not _wait(lambda: _health(f"{cloud_url}/_workshop/health") is not None,
                             CLOUD_START_TIMEOUT, cloud):
                    print(f"workshop up: the cloud did not become healthy on {cloud_url}.", file=sys.stderr)
                    _print_tail(data / "cloud.log")
                    return cloud.returncode if cloud.poll() not in (None, 0) else 2

        token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
        _write_private(config, json.dumps({"IdentityProvider": {"token": token}}))
        no_browser = args.no_browser or not has_display()
        jupyter = _start_jupyter(jupyter_command(args, notebook_dir, config, no_browser, instructor),
                                 learner_env(endpoint, root), data / JUPYTER_LOG)
        lab_host = url_host(args.host)
        status_url = f"http://{lab_host}:{args.jupyter_port}/api/status?token={token}"
        if not _wait(lambda: _health(status_url) is not None, JUPYTER_START_TIMEOUT, jupyter):
            print(f"workshop up: JupyterLab did not start on port {args.jupyter_port} "
                  f"(is the port taken? try --jupyter-port)", file=sys.stderr)
            _print_tail(data / JUPYTER_LOG)
            return 2
        config.unlink(missing_ok=True)  # read at start-up; the token now lives only in JupyterLab
        account = _account_id(os.environ.get("WORKSHOP_ACCOUNT") or "test")
        if not external:
            _make_base_image(settings.data_dir())
        print(f"""
JupyterLab is ready: http://{lab_host}:{args.jupyter_port}/lab?token={token}
  notebooks   {notebook_dir}{"  (instructor: nbgrader's menus shown)" if instructor else ""}
  endpoint    {endpoint}: {cloud_line}
  account     {account} (region {settings.DEFAULT_REGION})
  log         {data / JUPYTER_LOG} (JupyterLab's own messages)
Press Ctrl-C to stop.""", flush=True)

        while True:
            if jupyter.poll() is not None:
                print(f"workshop up: JupyterLab exited ({jupyter.returncode}); its log: {data / JUPYTER_LOG}",
                      file=sys.stderr)
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
        config.unlink(missing_ok=True)
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


def jupyter_command(args, notebook_dir: Path, config: Path, no_browser: bool = True,
                    instructor: bool = False) -> list[str]:
    """JupyterLab's command line: nothing secret on it (the token is in ``config``, 0600)."""
    command = [
        sys.executable, "-m", "jupyterlab",
        f"--config={config}",
        f"--ServerApp.ip={args.host}",
        f"--ServerApp.port={args.jupyter_port}",
        "--ServerApp.port_retries=0",  # the URL printed must be the one it serves
        f"--ServerApp.root_dir={notebook_dir}",
    ]
    settings_dir = INSTRUCTOR_SETTINGS_DIR if instructor else LAB_SETTINGS_DIR
    if settings_dir.is_dir():
        command.append(f"--LabApp.app_settings_dir={settings_dir}")
    if not instructor:
        for extension in NBGRADER_SERVER_EXTENSIONS:
            command += ["--ServerApp.jpserver_extensions", f"{extension}=False"]
    if no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses root without it (CI runs as root)
    return command


def has_display() -> bool:
    """Whether a web browser can open here: on Linux only with an X or Wayland display
    (over SSH or in a container Python's webbrowser finds none and JupyterLab says so)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


# -- processes ---------------------------------------------------------------
def _start_cloud(args, data: Path) -> subprocess.Popen:
    data.mkdir(parents=True, exist_ok=True)
    log = open(data / "cloud.log", "w")
    command = [sys.executable, "-m", "workshop", "cloud", "--host", args.host, "--port", str(args.port),
               "--time-scale", f"{args.time_scale:g}", "--data-dir", str(data),
               "--xray-daemon-port", str(getattr(args, "xray_daemon_port", 2000))]
    if getattr(args, "fresh", False):
        command.append("--fresh")
    print(f"workshop up: starting the workshop cloud on http://{url_host(args.host)}:{args.port} "
          f"and JupyterLab on port {args.jupyter_port} ...", flush=True)
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


def _start_jupyter(command: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    # JupyterLab's own messages (kernels, websockets, trust) go to its log, not the terminal.
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as log:
        return _spawn(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (made 0600 before anything is in it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


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
def url_host(host: str) -> str:
    """The host name URLs use for a listening address: localhost for the loopback and
    every-address forms (the cloud listens on both 127.0.0.1 and ::1 for localhost)."""
    if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::", ""):
        return "localhost"
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
