"""The X-Ray daemon's UDP protocol on ``--xray-daemon-port`` (2000 as the real daemon's):
each datagram is a header line ``{"format": "json", "version": 1}`` and one segment
document, so code using aws-xray-sdk works unchanged. UDP carries no credentials: the
segments go to $WORKSHOP_ACCOUNT's account (else the default) in the default region, and
class mode keeps the port closed. A bad datagram is dropped, as the daemon drops it."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading

from workshop import settings
from workshop.cloud import accounts

log = logging.getLogger("workshop.cloud.xray")

DEFAULT_PORT = 2000
MAX_DATAGRAM = 65_535
DRAIN = 256                      # datagrams stored together when they arrive in a burst


def parse_datagram(data: bytes) -> dict | None:
    """The segment document of a datagram, checked; None when it is not one."""
    from workshop.cloud.services.xray.models import BadDocument, parse_document

    header, sep, body = data.partition(b"\n")
    if not sep:
        return None
    try:
        head = json.loads(header)
    except ValueError:
        return None
    if not isinstance(head, dict) or head.get("format") != "json" or head.get("version") != 1:
        return None
    try:
        return parse_document(body)
    except BadDocument as exc:
        log.debug("X-Ray daemon: dropped a segment (%s: %s)", exc.code, exc.message)
        return None


class Daemon:
    """A UDP listener thread (created by the server, never by a model: no state of its own)."""

    def __init__(self, host: str, port: int):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.address = self.sock.getsockname()[:2]
        self.account = accounts.account_for_key(os.environ.get("WORKSHOP_ACCOUNT") or None)
        self.region = settings.DEFAULT_REGION
        self.received = self.stored = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="xray-daemon", daemon=True)
        self.tcp = None      # daemon_proxy.Proxy: the SDKs' sampling calls on the same port

    def start(self) -> Daemon:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.tcp is not None:
            self.tcp.stop()
        self._stopping = True
        try:   # wake the blocking receive
            with socket.socket(self.sock.family, socket.SOCK_DGRAM) as poke:
                poke.sendto(b"", self.address)
        except OSError:
            pass
        self._thread.join(timeout=5)
        self.sock.close()

    def _loop(self) -> None:
        while not self._stopping:
            try:
                batch = [self.sock.recv(MAX_DATAGRAM)]
            except OSError:
                return
            self.sock.setblocking(False)
            try:
                while len(batch) < DRAIN:
                    batch.append(self.sock.recv(MAX_DATAGRAM))
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return
            finally:
                if not self._stopping:
                    self.sock.setblocking(True)
            if self._stopping:
                return
            self._store(batch)

    def _store(self, datagrams: list[bytes]) -> None:
        from workshop.cloud.services.xray.models import backend

        docs = [doc for doc in map(parse_datagram, (d for d in datagrams if d)) if doc is not None]
        self.received += len(datagrams)
        if not docs:
            return
        try:
            backend(self.account, self.region).store(docs)
            self.stored += len(docs)
        except Exception:   # the listener must outlive one bad batch
            log.exception("X-Ray daemon: could not store %d segments", len(docs))


def start(host: str, port: int) -> tuple[Daemon | None, str]:
    """The daemon on ``host:port`` and a line for the cloud's start-up message, or None
    and why not (port 0, class mode, the port taken: the cloud runs on without it)."""
    from workshop.cloud import class_mode

    if not port:
        return None, "X-Ray daemon port off (--xray-daemon-port 0)"
    if class_mode.active() is not None:
        return None, ("X-Ray daemon port off in class mode: UDP carries no credentials "
                      "(send spans to /v1/traces, SigV4-signed)")
    bind_host = "127.0.0.1" if host in ("localhost", "") else host
    try:
        daemon = Daemon(bind_host, port).start()
    except OSError as exc:
        return None, f"X-Ray daemon port off: cannot listen on UDP {bind_host}:{port} ({exc.strerror or exc})"
    from workshop.cloud.services.xray import daemon_proxy

    daemon.tcp = daemon_proxy.start(bind_host, daemon.address[1], daemon.account, daemon.region)
    return daemon, f"X-Ray daemon on UDP {bind_host}:{port}" + (" and TCP" if daemon.tcp else "")
