"""The engine that checks targets' health as ELB does: every HealthCheckIntervalSeconds
(on the workshop clock) an HTTP GET of the group's path on the traffic port (or the
health-check port), answered within HealthCheckTimeoutSeconds (real time: the target's
own work) with a code the Matcher accepts; HealthyThresholdCount successes in a row make
an initial or unhealthy target healthy, UnhealthyThresholdCount failures make it
unhealthy, with AWS's reasons. Draining targets leave after the group's
``deregistration_delay.timeout_seconds`` (on the clock). Groups no listener forwards to are
not checked (their targets are ``unused``)."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.elbv2 import proxy

log = logging.getLogger(__name__)

TICK = 0.05                     # real seconds between looks at what is due
WORKERS = 8                     # health checks in flight at once (the cloud has 2 cores)

_watched: set[tuple[str, str]] = set()      # (account, region) with target groups to look after
_due: dict[tuple[str, str], float] = {}     # (group arn, target key) -> monotonic time of its next check
_running: set[tuple[str, str]] = set()
_lock = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None
_pool: ThreadPoolExecutor | None = None


@services.on("elbv2.targets-changed")
def targets_changed(account_id: str, region: str, target_group_arn: str) -> None:
    with _lock:
        _watched.add((account_id, region))
    _start()
    _wake.set()


def _start() -> None:
    global _thread, _pool
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="elb-health")
        _thread = threading.Thread(target=_run, name="elb-health-checker", daemon=True)
        _thread.start()


def _run() -> None:
    while True:
        _wake.wait(TICK)
        _wake.clear()
        try:
            _look()
        except Exception:   # one bad record must not stop every health check
            log.exception("health checks")


def _look() -> None:
    from workshop.cloud.services.elbv2.models import elbv2_backends

    with _lock:
        watched = list(_watched)
    now = time.monotonic()
    wall = get_clock().timestamp()
    for account, region in watched:
        try:
            backend = dict.__getitem__(dict.__getitem__(elbv2_backends, account), region)
        except KeyError:
            continue
        for group in list(backend.target_groups.values()):
            _look_at_group(account, backend, group, now, wall)


def _look_at_group(account: str, backend, group, now: float, wall: float) -> None:
    states = group.states()
    in_use = None
    for key, state in list(states.items()):
        if state.state == "draining":
            if state.drain_until is not None and wall >= state.drain_until:
                with backend.lock:
                    if states.get(key) is state and state.state == "draining":
                        group.finish_draining(key)
                        with _lock:
                            _due.pop((group.arn, key), None)
                        if not any(s.id == state.id and s.port == state.port for s in states.values()):
                            proxy.forget_target(proxy.target_host(state.id), state.port)
                persistence.changed(account)
            continue
        if not group.health_check_enabled:
            continue
        if in_use is None:
            in_use = backend.in_use(group.arn)
        if not in_use:
            continue
        check = (group.arn, key)
        with _lock:
            if check in _running or _due.get(check, 0) > now:
                continue
            _running.add(check)
            _due[check] = now + get_clock().real_seconds(float(group.health_check_interval_seconds or 30))
        _pool.submit(_check, account, backend, group, key, state)


def _check(account: str, backend, group, key: str, state) -> None:
    try:
        ok, reason, description = probe(group, state)
        _apply(account, backend, group, key, state, ok, reason, description)
    except Exception:
        log.exception("health check of %s in %s", key, group.arn)
    finally:
        with _lock:
            _running.discard((group.arn, key))


def probe(group, state) -> tuple[bool, str | None, str | None]:
    """One health check: (passed, AWS's reason, description) for a failure."""
    host = proxy.target_host(state.id)
    port_setting = str(group.health_check_port or "traffic-port")
    port = state.port if port_setting == "traffic-port" else int(port_setting)
    timeout = float(group.health_check_timeout_seconds or 5)
    if (group.health_check_protocol or "HTTP").upper() in ("TCP", "TLS", "UDP", "TCP_UDP"):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return True, None, None
        except socket.timeout:
            return False, "Target.Timeout", "Request timed out"
        except OSError:
            return False, "Target.FailedHealthChecks", "Health checks failed"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", group.health_check_path or "/",
                     headers={"User-Agent": "ELB-HealthChecker/2.0", "Host": f"{host}:{port}",
                              "Connection": "close"})
        response = conn.getresponse()
        response.read()
        status = response.status
    except socket.timeout:
        return False, "Target.Timeout", "Request timed out"
    except (OSError, http.client.HTTPException):
        return False, "Target.FailedHealthChecks", "Health checks failed"
    finally:
        conn.close()
    if code_matches(status, (group.matcher or {}).get("HttpCode") or "200"):
        return True, None, None
    return False, "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]"


def code_matches(status: int, matcher: str) -> bool:
    """ELB's Matcher HttpCode: ``200``, ``200,202``, ``200-399``."""
    for part in str(matcher).split(","):
        low, _, high = part.strip().partition("-")
        try:
            if int(low) <= status <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def _apply(account: str, backend, group, key: str, state, ok: bool, reason: str | None,
           description: str | None) -> None:
    healthy_needed = int(group.healthy_threshold_count or 5)
    unhealthy_needed = int(group.unhealthy_threshold_count or 2)
    changed = False
    with backend.lock:
        if group.states().get(key) is not state or state.state not in ("initial", "healthy", "unhealthy"):
            return      # deregistered (or registered again) while the check ran
        if ok:
            state.failures = 0
            state.successes += 1
            if state.state != "healthy" and state.successes >= healthy_needed:
                state.set("healthy", None, None)
                changed = True
        else:
            state.successes = 0
            state.failures += 1
            if state.state == "unhealthy":
                changed = (state.reason, state.description) != (reason, description)
                state.reason, state.description = reason, description
            elif state.failures >= unhealthy_needed:
                state.set("unhealthy", reason, description)
                changed = True
    if changed:
        persistence.changed(account)
