"""Each App Runner service's URL: a threaded HTTP listener in the cloud process on a local
port (kept across restarts when free), forwarding every request to the service's healthy
instance over the load balancer's kept-alive connections (elbv2/proxy.py's exchange), with
X-Forwarded-For/Proto as App Runner's front end adds them; 503 while no instance serves
(creating, paused, every instance unhealthy), 502 when the instance breaks the exchange."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from workshop.cloud.services.elbv2 import proxy

log = logging.getLogger(__name__)

TIMEOUT = 120.0         # App Runner's request timeout (real seconds: the app's own work)


class ServiceServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, service_arn: str, account_id: str, region: str):
        self.service_arn = service_arn
        self.account_id = account_id
        self.region = region
        super().__init__(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"apprunner-url-{self.server_address[1]}", daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]


_services = proxy.Servers("apprunner service")     # service ARN -> its URL's server


def open(service_arn: str, account_id: str, region: str, preferred_port: int | None = None) -> int:  # noqa: A001
    """Serve the service's URL (once); its local port."""
    return _services.open(service_arn, lambda port: ServiceServer(port, service_arn, account_id, region),
                          preferred_port)


def close(service_arn: str) -> None:
    _services.close(service_arn)


def close_account(account_id: str) -> None:
    _services.close_account(account_id)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "envoy"
    sys_version = ""
    wbufsize = -1           # headers and body in one send (see elbv2/proxy.py)
    timeout = 60.0

    def log_message(self, format: str, *args) -> None:   # noqa: A002
        pass

    def handle_expect_100(self) -> bool:
        self.send_response_only(100)
        self.end_headers()
        self.wfile.flush()
        return True

    def do_GET(self) -> None:
        try:
            self._serve()
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception:
            log.exception("apprunner url %s", self.server.service_arn)
            self.close_connection = True

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _serve(self) -> None:
        from workshop.cloud.services.apprunner import service_runner

        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        target = service_runner.serving(self.server.service_arn)
        if target is None:
            self._answer(503, b"no healthy upstream")
            return
        host, port = target
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in proxy.HOP_BY_HOP and k.lower() != "expect"
                   and not k.lower().startswith("x-forwarded-")]
        forwarded = self.headers.get("X-Forwarded-For")
        client = self.client_address[0]
        headers += [("X-Forwarded-For", f"{forwarded}, {client}" if forwarded else client),
                    ("X-Forwarded-Proto", "http"), ("X-Request-Id", str(uuid.uuid4()))]
        started = time.monotonic()
        try:
            status, reason, response_headers, data = proxy._exchange(host, port, TIMEOUT, self.command, self.path,
                                                                     headers, body)
        except socket.timeout:
            self._answer(504, b"upstream request timeout")
            return
        except (OSError, http.client.HTTPException):
            self._answer(502, b"upstream connect error or disconnect/reset before headers")
            return
        self.send_response_only(status, reason)
        names = {k.lower() for k, _ in response_headers}
        if "server" not in names:
            self.send_header("Server", "envoy")
        self.send_header("Date", self.date_time_string())
        self.send_header("x-envoy-upstream-service-time", str(int((time.monotonic() - started) * 1000)))
        for name, value in response_headers:
            if name.lower() not in proxy.HOP_BY_HOP and name.lower() != "date":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response_only(status)
        self.send_header("Server", "envoy")
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
