"""The engine that serves application load balancers' listeners: one threaded HTTP
reverse proxy per listener, in the cloud process, on a local port the cloud picks (the
listener's AWS port stays in the API; 443 is served as plain HTTP here). Each request
follows the listener's rules (rules.py), goes round-robin to a routable target of the
chosen group over kept-alive connections, with X-Forwarded-For/Proto/Port, and answers
as ALB does when it cannot: 502 (target refused or broke), 503 (no target), 504 (timeout).
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from workshop.cloud import services
from workshop.cloud.services.elbv2 import access_logs, metrics, rules

log = logging.getLogger(__name__)

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "content-length"}
DEFAULT_IDLE_TIMEOUT = 60.0     # ALB's idle_timeout.timeout_seconds (real time: the target's own work)
POOL_PER_TARGET = 16            # idle kept-alive connections kept per target
ERROR_PAGE = ("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
              "<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n")
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
           504: "Gateway Time-out", 400: "Bad Request", 404: "Not Found"}


class ListenerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, account_id: str, region: str, load_balancer_arn: str, listener_arn: str):
        self.account_id = account_id
        self.region = region
        self.load_balancer_arn = load_balancer_arn
        self.listener_arn = listener_arn
        super().__init__(("127.0.0.1", port), ProxyHandler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"elb-listener-{self.server_address[1]}", daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]


class Servers:
    """The local HTTP servers of one kind, by key (a listener's ARN, an Express endpoint's host,
    an App Runner service's ARN), each with ``port``, ``thread`` and ``account_id``: opened on a
    preferred port when it is free (a restart keeps its ports), stopped off the caller's thread,
    all of an account's closed when the account is reset."""

    def __init__(self, what: str):
        self.what = what
        self._servers: dict[str, ListenerServer] = {}
        self._lock = threading.Lock()

    def open(self, key: str, make, preferred_port: int | None = None) -> int:
        """The port of ``key``'s server, started with ``make(port)`` unless it runs already."""
        with self._lock:
            server = self._servers.get(key)
            if server is not None:
                return server.port
            if preferred_port:
                try:
                    server = make(int(preferred_port))
                except OSError:
                    log.info("%s %s: port %s is taken, picking another", self.what, key, preferred_port)
            if server is None:
                server = make(0)
            self._servers[key] = server
            server.thread.start()
        return server.port

    def close(self, key: str) -> None:
        with self._lock:
            server = self._servers.pop(key, None)
        if server is not None:
            # shutdown() waits for the serving loop: not on the API request's time.
            threading.Thread(target=_stop, args=(server,), daemon=True).start()

    def close_account(self, account_id: str) -> None:
        with self._lock:
            keys = [key for key, server in self._servers.items() if server.account_id == account_id]
        for key in keys:
            self.close(key)

    def served(self) -> dict[str, int]:
        with self._lock:
            return {key: server.port for key, server in self._servers.items()}


def _stop(server) -> None:
    server.shutdown()
    server.server_close()


_listeners = Servers("listener")
_lock = threading.Lock()
# Routing state per target group: the round-robin position, requests in flight per target.
_next: dict[str, int] = {}
_in_flight: dict[tuple[str, str], int] = {}
_pool: dict[tuple[str, int], list[http.client.HTTPConnection]] = {}


# -- opening and closing (what the models announce) ------------------------------------

@services.on("elbv2.listener-opened")
def open_listener(account_id: str, region: str, load_balancer_arn: str, listener_arn: str,
                  preferred_port: int | None = None) -> int:
    port = _listeners.open(listener_arn, lambda port: ListenerServer(port, account_id, region, load_balancer_arn,
                                                                     listener_arn), preferred_port)
    metrics.start()
    return port


@services.on("elbv2.listener-closed")
def close_listener(listener_arn: str) -> None:
    _listeners.close(listener_arn)


@services.on_account_reset
def _close_account(account_id: str) -> None:
    _listeners.close_account(account_id)


def served() -> dict[str, int]:
    """Listener ARN -> local port, of every listener being served."""
    return _listeners.served()


def in_flight(target_group_arn: str, key: str) -> int:
    with _lock:
        return _in_flight.get((target_group_arn, key), 0)


def forget_target(host: str, port: int) -> None:
    """A target left every group: close the kept-alive connections to it."""
    with _lock:
        idle = _pool.pop((host, port), [])
    for conn in idle:
        conn.close()


# -- choosing a target -----------------------------------------------------------------

def target_host(target_id: str) -> str:
    """Where a target is reached: its IP address; an instance id is this machine (every EC2
    instance and ECS container instance of the workshop cloud is the machine it runs on)."""
    try:
        ipaddress.ip_address(target_id)
        return target_id
    except ValueError:
        return "127.0.0.1"


def _pick(backend, group) -> tuple[str, str, int] | None:
    """Round robin over the group's healthy targets; when none is healthy, over its unhealthy
    ones (ALB fails open); None when nothing can take the request (503)."""
    with backend.lock:
        states = list(group.states().values())
        usable = [s for s in states if s.routable] or [s for s in states if s.state == "unhealthy"]
        if not usable:
            return None
        with _lock:
            position = _next.get(group.arn, 0)
            _next[group.arn] = position + 1
            chosen = usable[position % len(usable)]
            flight = (group.arn, chosen.key)
            _in_flight[flight] = _in_flight.get(flight, 0) + 1
        return chosen.key, target_host(chosen.id), chosen.port


def _done(group_arn: str, key: str) -> None:
    with _lock:
        flight = (group_arn, key)
        left = _in_flight.get(flight, 1) - 1
        if left > 0:
            _in_flight[flight] = left
        else:
            _in_flight.pop(flight, None)


def _connection(host: str, port: int, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
    with _lock:
        idle = _pool.get((host, port))
        if idle:
            conn = idle.pop()
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn, True
    return http.client.HTTPConnection(host, port, timeout=timeout), False


def _release(host: str, port: int, conn: http.client.HTTPConnection) -> None:
    with _lock:
        idle = _pool.setdefault((host, port), [])
        if len(idle) < POOL_PER_TARGET:
            idle.append(conn)
            return
    conn.close()


# -- serving a request -----------------------------------------------------------------

class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awselb/2.0"
    sys_version = ""
    # Buffered: headers and body leave in one send (flushed after each request). Unbuffered,
    # they were two, and a client's delayed ACK held every answer 40 ms (measured: 44 ms a request).
    wbufsize = -1
    # A client's kept-alive connection idle this long is closed (ALB's default idle timeout),
    # so idle clients do not hold a thread each for ever.
    timeout = DEFAULT_IDLE_TIMEOUT

    def log_message(self, format: str, *args) -> None:   # noqa: A002  (the base class's name)
        pass

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue`` (curl's large POSTs): the interim answer leaves at once, not
        in the buffer with the final one (curl would wait a second for it)."""
        self.send_response_only(100)
        self.end_headers()
        self.wfile.flush()
        return True

    def do_GET(self) -> None:
        self._answered = False
        # What the access log says of this request (access_logs.entry reads these).
        self.received_at, self.started = time.time(), time.monotonic()
        self.balancer = self.rule = self.action = self.group_arn = self.target = self.target_status = None
        self.target_seconds = self.redirect_url = self.error_reason = None
        self.received_bytes = 0
        self.scheme = "http"
        try:
            self._serve()
        except (ConnectionError, socket.timeout):
            self.close_connection = True        # the client went away
        except Exception:   # a fault of ours is ALB's 500, never a dropped connection
            log.exception("listener %s", self.server.listener_arn)
            self.close_connection = True
            if not self._answered:
                self._answer(500, record=(self.server, None, None))

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _serve(self) -> None:
        server: ListenerServer = self.server
        started = self.started
        body = self._body()
        if body is None:
            return
        self.received_bytes = len(body)
        found = _listener(server)
        if found is None:
            self._answer(503, record=(server, None, None))
            return
        backend, balancer, listener = found
        self.balancer = balancer
        path, _, query = self.path.partition("?")
        if not path.startswith("/"):        # an absolute-form target: keep its path
            path = "/" + path.split("://", 1)[-1].partition("/")[2]
        # An Express endpoint's server stands for one host name (its DNS name on AWS).
        host = getattr(server, "host_header", None) or self.headers.get("Host", "")
        request = rules.Request(self.command, path, query, host,
                                {k.lower(): v for k, v in self.headers.items()}, self.client_address[0],
                                int(listener.port), "https" if listener.protocol == "HTTPS" else "http")
        self.scheme = request.protocol
        rule = self.rule = rules.matching_rule(listener, request)
        action = self.action = rules.final_action(rule.actions) if rule is not None else None
        record = (server, backend, None)
        if action is None:
            self._answer(503, record=record)
        elif action["Type"] == "fixed-response":
            config = action.get("FixedResponseConfig") or {}
            self._answer(int(config.get("StatusCode", 200)), (config.get("MessageBody") or "").encode(),
                         config.get("ContentType") or "text/plain; charset=utf-8", record=record)
        elif action["Type"] == "redirect":
            local = {int(l.port): l.local_port for l in balancer.listeners.values()
                     if getattr(l, "local_port", None) and l.port}
            status, location = rules.redirect(action.get("RedirectConfig") or {}, request, local)
            self.redirect_url = location
            self._answer(status, b"", "text/html", extra=[("Location", location)], record=record)
        else:
            self._forward(backend, balancer, action, request, body, started)

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._answer(400, record=(self.server, None, None))
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _forward(self, backend, balancer, action: dict, request: rules.Request, body: bytes,
                 started: float) -> None:
        server: ListenerServer = self.server
        group_arn = self.group_arn = rules.forward_group(action)
        group = backend.target_groups.get(group_arn or "")
        if group is None:
            self._answer(503, record=(server, backend, group_arn))
            return
        chosen = _pick(backend, group)
        if chosen is None:
            self._answer(503, record=(server, backend, group_arn))
            return
        key, host, port = chosen
        self.target = f"{host}:{port}"
        timeout = _idle_timeout(balancer)
        headers = self._forward_headers(request)
        try:
            sent = time.monotonic()
            outcome = _exchange(host, port, timeout, self.command, self.path, headers, body)
        except socket.timeout:
            self.error_reason = "TargetResponseTimeout"
            self._answer(504, record=(server, backend, group_arn))
            return
        except ConnectionRefusedError:
            self.error_reason = "TargetConnectionErrorCode"
            self._answer(502, record=(server, backend, group_arn))
            return
        except (OSError, http.client.HTTPException) as exc:
            log.debug("target %s:%s: %s", host, port, exc)
            self.error_reason = "TargetResponseError"
            self._answer(502, record=(server, backend, group_arn))
            return
        finally:
            _done(group.arn, key)
        status, reason, response_headers, data = outcome
        target_seconds = self.target_seconds = time.monotonic() - sent
        self.target_status = status
        self._answered = True
        try:
            self.send_response_only(status, reason)
            if not any(k.lower() == "server" for k, _ in response_headers):
                self.send_header("Server", "awselb/2.0")
            self.send_header("Date", self.date_time_string())
            for name, value in response_headers:
                if name.lower() not in HOP_BY_HOP and name.lower() != "date":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            metrics.record(server.account_id, server.region, server.load_balancer_arn, group.arn,
                           status, elb=False, target_seconds=target_seconds)
            access_logs.record(self, status, len(data))

    def _forward_headers(self, request: rules.Request) -> list[tuple[str, str]]:
        # Expect: 100-continue was answered here (the whole body is read before forwarding).
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "expect" and not k.lower().startswith("x-forwarded-")]
        forwarded = self.headers.get("X-Forwarded-For")
        client = self.client_address[0]
        headers.append(("X-Forwarded-For", f"{forwarded}, {client}" if forwarded else client))
        headers.append(("X-Forwarded-Proto", request.protocol))
        headers.append(("X-Forwarded-Port", str(request.port)))
        if not self.headers.get("X-Amzn-Trace-Id"):
            headers.append(("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"))
        return headers

    def _answer(self, status: int, body: bytes | None = None, content_type: str = "text/html",
                extra: list[tuple[str, str]] = (), record=None) -> None:
        if body is None:
            body = ERROR_PAGE.format(code=status, reason=REASONS.get(status, "Error")).encode()
        self._answered = True
        self.send_response_only(status, REASONS.get(status) if status in REASONS else None)
        self.send_header("Server", "awselb/2.0")
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if record is not None:
            server, _backend, group_arn = record
            metrics.record(server.account_id, server.region, server.load_balancer_arn, group_arn,
                           status, elb=True)
            access_logs.record(self, status, len(body))


def _exchange(host: str, port: int, timeout: float, method: str, path: str,
              headers: list[tuple[str, str]], body: bytes):
    """One request to a target over a kept-alive connection; a kept connection the target had
    closed is retried once on a new one (the request never reached it)."""
    for attempt in (0, 1):
        if attempt == 0:
            conn, reused = _connection(host, port, timeout)
        else:       # the retry never takes another kept connection: it may be as stale
            conn, reused = http.client.HTTPConnection(host, port, timeout=timeout), False
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read() if method != "HEAD" else b""
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                http.client.BadStatusLine) as exc:
            conn.close()
            if reused and attempt == 0:
                continue
            raise OSError(str(exc)) from exc
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            _release(host, port, conn)
        return response.status, response.reason, response.getheaders(), data
    raise OSError("unreachable")


def _listener(server: ListenerServer):
    from workshop.cloud.services.elbv2.models import elbv2_backends

    try:
        backend = dict.__getitem__(dict.__getitem__(elbv2_backends, server.account_id), server.region)
        balancer = backend.load_balancers[server.load_balancer_arn]
        return backend, balancer, balancer.listeners[server.listener_arn]
    except KeyError:
        return None


def _idle_timeout(balancer) -> float:
    try:
        return float(balancer.attrs.get("idle_timeout.timeout_seconds") or DEFAULT_IDLE_TIMEOUT)
    except (TypeError, ValueError):
        return DEFAULT_IDLE_TIMEOUT
