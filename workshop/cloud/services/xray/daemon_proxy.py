"""The X-Ray daemon's TCP side: aws-xray-sdk asks the daemon's address (TCP, the same
port as its UDP) for sampling rules and targets, unsigned (GetSamplingRules,
SamplingTargets); the real daemon signs such calls and passes them on to X-Ray. Here
they go to the cloud's own endpoint as the daemon's account, so centralized sampling
works for SDK code unchanged. Started and stopped with the daemon (never in class mode)."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from workshop.cloud import runtime

log = logging.getLogger("workshop.cloud.xray")
MAX_BODY = 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    account = "000000000000"
    region = "us-east-1"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:   # noqa: N802  (http.server's name)
        from workshop.cloud.services.xray.responses import _operations_by_path

        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        if path not in _operations_by_path() or not 0 <= length <= MAX_BODY:
            self._answer(404, b'{"__type": "UnknownOperationException", "message": "Not an X-Ray operation."}')
            return
        body = self.rfile.read(length)
        day = time.strftime("%Y%m%d", time.gmtime())
        request = urllib.request.Request(runtime.endpoint() + path, data=body, method="POST", headers={
            "Content-Type": "application/json",
            # The daemon's account and region, as the real daemon's credentials would say them.
            "Authorization": f"AWS4-HMAC-SHA256 Credential={self.server.account}/{day}/{self.server.region}/"
                             "xray/aws4_request, SignedHeaders=host, Signature=daemon"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                self._answer(answer.status, answer.read())
        except urllib.error.HTTPError as exc:
            self._answer(exc.code, exc.read())
        except OSError as exc:
            self._answer(502, b'{"__type": "ServiceUnavailableException", "message": "%s"}'
                         % str(exc).replace('"', "'").encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("X-Ray daemon TCP: " + format, *args)


class Proxy:
    def __init__(self, host: str, port: int, account: str, region: str):
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in host else _Server
        self.server = server_class((host, port), _Handler)
        self.server.account, self.server.region = account, region
        self.server.timeout = None      # block until a connection: no polling while idle
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="xray-daemon-tcp", daemon=True)

    def _serve(self) -> None:
        while not self._stopping:
            try:
                self.server.handle_request()
            except OSError:
                return

    def start(self) -> Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        try:   # wake the blocking accept
            socket.create_connection(self.server.server_address[:2], timeout=1).close()
        except OSError:
            pass
        self._thread.join(timeout=5)
        self.server.server_close()


def start(host: str, port: int, account: str, region: str) -> Proxy | None:
    """The TCP side on ``host:port``, or None (logged) when that TCP port is taken."""
    try:
        return Proxy(host, port, account, region).start()
    except OSError as exc:
        log.warning("X-Ray daemon: no TCP sampling proxy on %s:%s (%s)", host, port, exc.strerror or exc)
        return None
