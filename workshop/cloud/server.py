"""Runs the workshop cloud in the foreground: the gateway on a keep-alive
WSGI server (waitress), a fresh state folder under the data dir, and a clean
stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from workshop import settings
from workshop.cloud.clock import get_clock

log = logging.getLogger("workshop.cloud")

STATE_DIR = "state"
# A class: every learner's kernel keeps a connection open per AWS client (keep-alive), and
# so does the instructor's report. Past waitress's default limit (100), new connections
# wait minutes for idle ones to time out.
CONNECTION_LIMIT = 4000
PID_FILE = "cloud.json"


def prepare_data_dir(data: Path) -> Path:
    """A restart starts empty: the previous run's state folder is removed."""
    data.mkdir(parents=True, exist_ok=True)
    state = data / STATE_DIR
    if state.exists():
        shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    return state


def build_gateway(data: Path, time_scale: float, endpoint: str = "http://127.0.0.1:4566"):
    from workshop.cloud import runtime
    from workshop.cloud.gateway import Gateway

    runtime.configure(data / STATE_DIR, endpoint)
    clock = get_clock()
    clock.set_time_scale(time_scale)
    token = settings.admin_token(data, create=True)
    # As root, learner code runs as unprivileged users: the data dir must be the cloud's alone.
    from workshop.cloud import sandbox

    sandbox.protect_data_dir(data)
    # Jobs a killed cloud of this data dir left running end now; this cloud's end with it.
    from workshop.cloud import containment

    containment.start()
    return Gateway(clock=clock, admin_token=token, data_dir=str(data / STATE_DIR))


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files towards ``wanted`` (many systems start at
    1024): connections, repositories and large objects are all open files."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            log.warning("cannot raise the open-files limit from %d: a large class may run out", soft)


def serve(host: str, port: int, time_scale: float, data_dir: str | None, threads: int = 8) -> int:
    import waitress.server

    logging.basicConfig(level=os.environ.get("WORKSHOP_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    data = settings.data_dir(data_dir)
    prepare_data_dir(data)
    # moto's API Gateway imports jsonschema (through openapi-spec-validator), and jsonschema
    # imports rfc3987-syntax when it is installed (JupyterLab's jupyter-events brings it),
    # which builds a grammar at import: measured, 5 of the 6.5 s of CPU that loading every
    # service took, competing with the first requests. The cloud validates no IRI formats.
    sys.modules.setdefault("rfc3987_syntax", None)
    # moto must not print warnings about unknown hosts or load managed policies by itself.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    local_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    _allow_open_files(CONNECTION_LIMIT + 4096)
    gateway = build_gateway(data, time_scale, f"http://{local_host}:{port}")
    try:
        # poll(), not select(): a class's cloud holds more than 1024 files open (repositories,
        # large objects), and select() on a descriptor past 1024 kills waitress's loop.
        socket_map: dict = {}
        server = waitress.server.create_server(
            gateway, map=socket_map, host=host, port=port, threads=threads, ident="workshop-cloud",
            channel_timeout=300, cleanup_interval=30, clear_untrusted_proxy_headers=True,
            asyncore_use_poll=True, connection_limit=CONNECTION_LIMIT)
    except OSError as exc:
        print(f"workshop cloud: cannot listen on {host}:{port}: {exc.strerror or exc}.\n"
              f"Is another cloud already running? Try `workshop doctor`, or --port.", file=sys.stderr)
        return 2

    from workshop.cloud import tls_refusal

    tls_refusal.install(socket_map)
    (data / PID_FILE).write_text(json.dumps({"pid": os.getpid(), "host": host, "port": port}))
    # Warm the project's extensions in the background; requests that need one wait for it.
    from workshop.cloud import services

    threading.Thread(target=services.load_all, name="warm-up", daemon=True).start()

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"workshop cloud ready on http://{host}:{port} "
          f"(time scale {time_scale:g}, data dir {data})", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        try:
            (data / PID_FILE).unlink()
        except FileNotFoundError:
            pass
    print("workshop cloud stopped", flush=True)
    return 0
