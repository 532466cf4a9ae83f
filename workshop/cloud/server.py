"""Runs the workshop cloud in the foreground: the data dir taken for this cloud
alone (a lock), the port checked, the state kept in the data dir restored
(persistence.py), the gateway on a keep-alive WSGI server (waitress), and a
clean stop on Ctrl-C or SIGTERM that writes what is not yet on disk."""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import fcntl
import signal
import socket
import sys
import threading
import time
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


LOCK_FILE = "cloud.lock"


class DataDirBusy(Exception):
    """Another cloud holds the data dir."""


def lock_data_dir(data: Path) -> int:
    """Take the data dir for this cloud alone, before anything in it is touched: an
    flock held for the process's life (released by the kernel when it ends, even on
    SIGKILL; close-on-exec, so no build or hook inherits it)."""
    data.mkdir(parents=True, exist_ok=True)
    fd = os.open(data / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        running = ""
        try:
            info = json.loads((data / PID_FILE).read_text())
            running = f" (pid {info.get('pid')}, port {info.get('port')})"
        except (OSError, ValueError):
            pass
        raise DataDirBusy(f"another workshop cloud{running} is using the data dir {data}. "
                          f"Stop it first, or give this one another --data-dir.") from None
    return fd


def prepare_data_dir(data: Path, fresh: bool = False) -> Path:
    """The state folder, kept from the last run (``fresh``: that one is moved aside,
    never deleted, and the cloud starts empty). A state folder written before state
    was kept (no snapshots in it) holds nothing a restart could use: it is moved aside."""
    from workshop.cloud import persistence

    data.mkdir(parents=True, exist_ok=True)
    state = data / STATE_DIR
    if state.exists() and (fresh or not (state / persistence.SNAPSHOT_DIR).is_dir()):
        aside = data / f"{STATE_DIR}.{time.strftime('%Y%m%d-%H%M%S')}"
        while aside.exists():
            aside = aside.with_name(aside.name + "+")
        state.rename(aside)
        if fresh:
            print(f"workshop cloud: starting empty; the previous state is kept in {aside}", flush=True)
    state.mkdir(exist_ok=True)
    return state


def _port_taken(host: str, port: int) -> str | None:
    """Why the port cannot be listened on (checked before any state is touched), or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def listen_addresses(host: str, port: int) -> str:
    """Waitress's ``listen`` for ``host``: localhost is both loopbacks, 127.0.0.1 and ::1
    (clients resolve localhost to either, and /etc/hosts often names only one), ::1 only
    where the machine has IPv6."""
    if host != "localhost":
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return f"127.0.0.1:{port}"
    return f"127.0.0.1:{port} [::1]:{port}"


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


def serve(host: str, port: int, time_scale: float, data_dir: str | None, threads: int = 8,
          fresh: bool = False, xray_daemon_port: int = 2000) -> int:
    import waitress.server

    from workshop.cloud import persistence, services
    from workshop.cloud.snapshot import SnapshotError

    logging.basicConfig(level=os.environ.get("WORKSHOP_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # moto's API Gateway imports jsonschema (through openapi-spec-validator), and jsonschema
    # imports rfc3987-syntax when it is installed (JupyterLab's jupyter-events brings it),
    # which builds a grammar at import: measured, 5 of the 6.5 s of CPU that loading every
    # service took, competing with the first requests. The cloud validates no IRI formats.
    sys.modules.setdefault("rfc3987_syntax", None)
    # moto must not print warnings about unknown hosts or load managed policies by itself.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    data = settings.data_dir(data_dir)
    # One cloud per data dir, and nothing in it touched before that is sure (nor when the
    # port is taken): a second cloud started by mistake changes nothing of the first's.
    try:
        lock_data_dir(data)
    except DataDirBusy as exc:
        print(f"workshop cloud: {exc}", file=sys.stderr)
        return 2
    taken = _port_taken(host, port)
    if taken:
        print(f"workshop cloud: cannot listen on {host}:{port}: {taken}.\n"
              f"Is another cloud already running? Try `workshop doctor`, or --port.", file=sys.stderr)
        return 2
    state = prepare_data_dir(data, fresh)
    try:
        if persistence.stored_accounts(state):
            services.load_all()  # the classes the snapshots name, and every restore hook
        states = persistence.read_all(state)
    except SnapshotError as exc:
        print(f"workshop cloud: the state kept in {state} cannot be restored:\n{exc}\n"
              f"Nothing was changed. To start empty instead, run the cloud with --fresh "
              f"(`workshop cloud --fresh` or `workshop up --fresh`): the state is moved aside, "
              f"not deleted.", file=sys.stderr)
        return 2
    # The address the cloud gives the code it runs (functions, builds, hooks) and writes into
    # URLs (presigned, the registry's): on the loopback, by number, since SDKs that address
    # S3 buckets by virtual host (the Node SDK) would ask DNS for BUCKET.localhost, which does
    # not resolve. Learners' notebooks and `workshop up` still speak of http://localhost:PORT.
    local_host = "127.0.0.1" if host in ("0.0.0.0", "::", "", "localhost") else host
    listen = listen_addresses(host, port)
    _allow_open_files(CONNECTION_LIMIT + 4096)
    gateway = build_gateway(data, time_scale, f"http://{local_host}:{port}")
    try:
        # poll(), not select(): a class's cloud holds more than 1024 files open (repositories,
        # large objects), and select() on a descriptor past 1024 kills waitress's loop.
        socket_map: dict = {}
        server = waitress.server.create_server(
            gateway, map=socket_map, listen=listen, threads=threads, ident="workshop-cloud",
            channel_timeout=300, cleanup_interval=30, clear_untrusted_proxy_headers=True,
            asyncore_use_poll=True, connection_limit=CONNECTION_LIMIT)
    except OSError as exc:
        print(f"workshop cloud: cannot listen on {host}:{port}: {exc.strerror or exc}.\n"
              f"Is another cloud already running? Try `workshop doctor`, or --port.", file=sys.stderr)
        return 2

    from workshop.cloud import tls_refusal

    tls_refusal.install(socket_map)
    restored = persistence.start(state, states)
    from workshop.cloud.services.xray import daemon as xray_daemon

    daemon, daemon_line = xray_daemon.start(local_host if host == "localhost" else host, xray_daemon_port)
    (data / PID_FILE).write_text(json.dumps({"pid": os.getpid(), "host": host, "port": port}))
    # Warm the project's extensions in the background; requests that need one wait for it.
    threading.Thread(target=services.load_all, name="warm-up", daemon=True).start()

    def stop(signum, frame):
        raise KeyboardInterrupt

    # `kill -USR1 PID` prints every thread's stack to the cloud's output: what a cloud that
    # seems stuck is doing, without stopping it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    # Ctrl-C stops the cloud even when it was started with SIGINT ignored (a background
    # job of a script, nohup'd CI): Python keeps an inherited SIG_IGN, and the cloud then
    # went on after the SIGINT that `workshop up` and a terminal send to stop it.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    kept = f", {len(restored)} account(s) restored" if restored else ""
    print(f"workshop cloud ready on http://{host}:{port} "
          f"(time scale {time_scale:g}, data dir {data}{kept}; {daemon_line})", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        # A second signal must not cut the last write short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.close()
        if daemon is not None:
            daemon.stop()
        written = persistence.stop()
        log.info("state written for %d account(s) at stop", written)
        try:
            (data / PID_FILE).unlink()
        except FileNotFoundError:
            pass
    print("workshop cloud stopped", flush=True)
    return 0
