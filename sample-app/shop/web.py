"""What the three services share: a threaded WSGI server, JSON in and out, and a
small HTTP client on urllib (which OpenTelemetry instruments, so each call to
another service is a client span carrying the trace context)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

MAX_BODY = 64 * 1024
TIMEOUT = float(os.environ.get("SHOP_CALL_TIMEOUT", "10"))

REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class HttpError(Exception):
    """An answer with a status the service passes on (4xx: the caller's fault, 5xx: ours)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # at a stop, finish the requests in flight (server_close joins them) so that their spans end and
    # are sent: a request's server span ends after its response is written, so with daemon threads
    # the order a client had just been answered could lose its span at SIGTERM
    daemon_threads = False
    block_on_close = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):   # noqa: A002 - the stdlib's name
        if os.environ.get("SHOP_ACCESS_LOG"):
            super().log_message(format, *args)


def request_log(service: str, method: str, path: str, status: int, started: float) -> str:
    """One request as a line in CloudWatch's embedded metric format: shipped to CloudWatch
    Logs with the ``json/emf`` header, its ``Latency`` becomes a metric (namespace
    ``Workshop06/Shop``, dimension ``Service``); ``status`` is there for metric filters."""
    now = time.time()
    return json.dumps({
        "_aws": {"Timestamp": int(now * 1000), "CloudWatchMetrics": [{
            "Namespace": "Workshop06/Shop", "Dimensions": [["Service"]],
            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": service, "Latency": round((now - started) * 1000, 1), "method": method, "path": path,
        "status": status})


def json_app(route: Callable[[str, list[str], dict, dict], tuple[int, dict]], service: str = ""):
    """A WSGI app around ``route(method, path_parts, query, body) -> (status, payload)``;
    with ``SHOP_REQUEST_LOG=emf`` each request is a line on stderr (``request_log``)."""
    from urllib.parse import parse_qs

    emf = os.environ.get("SHOP_REQUEST_LOG", "").lower() == "emf"

    def app(environ, start_response):
        started = time.time()
        method = environ.get("REQUEST_METHOD", "GET")
        parts = [p for p in (environ.get("PATH_INFO") or "/").split("/") if p]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            body = read_json(environ) if method in ("POST", "PUT") else {}
            status, payload = route(method, parts, query, body)
        except HttpError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except ValueError as exc:
            status, payload = 400, {"error": str(exc)}
        except Exception as exc:  # the service answers, it does not crash
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}: {exc}"}
        data = json.dumps(payload).encode()
        if emf:
            print(request_log(service, method, environ.get("PATH_INFO") or "/", status, started), file=sys.stderr,
                  flush=True)
        start_response(f"{status} {REASONS.get(status, 'Error')}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    return app


def read_json(environ) -> dict:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        raise HttpError(400, "request body too large")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise HttpError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "the body must be a JSON object")
    return body


def call(method: str, url: str, body: dict | None = None) -> dict:
    """Call another service; its 4xx comes back as the same HttpError, anything else
    that goes wrong (5xx, refused, timeout) as a 502 naming the service that failed."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read() or b"{}").get("error") or exc.reason
        except ValueError:
            message = exc.reason
        if 400 <= exc.code < 500:
            raise HttpError(exc.code, message) from None
        raise HttpError(502, f"{url.split('/')[2]} answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise HttpError(502, f"{url.split('/')[2]} unreachable: {exc}") from None


def serve(name: str, app) -> None:
    """Serve ``app`` on HOST:PORT (default 127.0.0.1 and a free port), printing the URL."""

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "0"))
    with make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler) as server:
        print(f"{name} listening on http://{host}:{server.server_port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
