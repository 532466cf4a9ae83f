"""The ``AWS/ApplicationELB`` metrics the load balancers publish: what the proxy counted
(RequestCount, HTTPCode_Target_NXX_Count, HTTPCode_ELB_NXX_Count and _502/_503/_504,
TargetResponseTime) and the targets' health (HealthyHostCount, UnHealthyHostCount), by
``LoadBalancer`` (``app/NAME/ID``) and by ``TargetGroup`` with ``LoadBalancer``, as AWS
dimensions them. Counted per minute of the workshop clock (0.5 s to 60 s of real time), each
minute published once it has ended; only through ``aws_metrics.publish``: learners cannot write
these, so a check counting failed requests reads the load balancer's own records."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudwatch import aws_metrics

log = logging.getLogger(__name__)
NAMESPACE = "AWS/ApplicationELB"

_lock = threading.Lock()
# (account, region, load balancer arn, target group arn or "", period start) -> metric -> [sum, count]
_counts: dict[tuple, dict[str, list[float]]] = {}
_tokens: dict[tuple[str, str, float], int] = {}     # the alarm evaluator waits for these periods
_health_seen: dict[tuple[str, str, str, str], tuple[int, int, float]] = {}
_thread: threading.Thread | None = None
_stop = threading.Event()
HEALTH_EVERY = 60.0     # real seconds between health data points of a quiet, unchanged group


def dimension(arn: str) -> str:
    """``app/NAME/ID`` of a load balancer ARN, ``targetgroup/NAME/ID`` of a target group's."""
    tail = arn.split(":", 5)[-1]
    return tail[len("loadbalancer/"):] if tail.startswith("loadbalancer/") else tail


def _width() -> float:
    """A minute of the workshop clock in real seconds (0.5 s to 60 s)."""
    return min(60.0, max(0.5, get_clock().real_seconds(60)))


def record(account_id: str, region: str, load_balancer_arn: str, target_group_arn: str | None, status: int,
           elb: bool, target_seconds: float | None = None) -> None:
    """One request the listener answered: by the target (``elb`` False) or by itself."""
    from workshop.cloud.services.cloudwatch import alarm_evaluator

    klass = f"{status // 100}XX"
    width = _width()
    now = get_clock().timestamp()
    period = now - now % width
    with _lock:
        if (account_id, region, period) not in _tokens:
            _tokens[(account_id, region, period)] = alarm_evaluator.expect_data(account_id, region, period)
        lb = _cell(account_id, region, load_balancer_arn, "", period)
        group = _cell(account_id, region, load_balancer_arn, target_group_arn, period) if target_group_arn else None
        for counts in [c for c in (lb, group) if c is not None]:
            counts["RequestCount"][0] += 1
            if elb:
                if counts is lb:         # AWS reports the load balancer's own codes per load balancer only
                    counts[f"HTTPCode_ELB_{klass}_Count"][0] += 1
                    if status in (500, 502, 503, 504):
                        counts[f"HTTPCode_ELB_{status}_Count"][0] += 1
            else:
                counts[f"HTTPCode_Target_{klass}_Count"][0] += 1
                if target_seconds is not None:
                    cell = counts["TargetResponseTime"]
                    cell[0] += target_seconds
                    cell[1] += 1


def _cell(account: str, region: str, lb_arn: str, group_arn: str, period: float) -> dict[str, list[float]]:
    key = (account, region, lb_arn, group_arn, period)
    cell = _counts.get(key)
    if cell is None:
        cell = _counts[key] = defaultdict(lambda: [0.0, 0])
    return cell


def start() -> None:
    global _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_run, name="elb-metrics", daemon=True)
        _thread.start()


def _run() -> None:
    while not _stop.wait(min(0.25, _width() / 4)):
        try:
            flush()
        except Exception:   # metrics never stop the load balancers
            log.exception("publishing AWS/ApplicationELB metrics")


def flush(everything: bool = False) -> None:
    """Publish the periods that have ended (``everything``: also the current one), and the
    targets' health where it changed, had traffic, or was last published a while ago."""
    from workshop.cloud.services.cloudwatch import alarm_evaluator

    now = get_clock().timestamp()
    width = _width()
    with _lock:
        keys = [k for k in _counts if everything or k[4] + width <= now]
        taken = {key: _counts.pop(key) for key in keys}
        periods = {(k[0], k[1], k[4]) for k in keys}
        tokens = [_tokens.pop(p) for p in periods if p in _tokens]
    busy = set()
    for (account, region, lb_arn, group_arn, period), values in taken.items():
        busy.add((account, region, lb_arn))
        dims = {"LoadBalancer": dimension(lb_arn)}
        if group_arn:
            dims["TargetGroup"] = dimension(group_arn)
        data = {name: (total, "Count") for name, (total, _) in values.items() if name != "TargetResponseTime"}
        total, n = values.get("TargetResponseTime", (0.0, 0))
        if n:
            data["TargetResponseTime"] = (total / n, "Seconds")
        if data:
            aws_metrics.publish(account, region, NAMESPACE, data, [dims], period)
    for token in tokens:
        alarm_evaluator.data_landed(token)
    _publish_health(busy, now)


def _publish_health(busy: set, now: float) -> None:
    from workshop.cloud.services.elbv2.models import elbv2_backends

    for account, per_region in list(dict.items(elbv2_backends)):
        for region, backend in list(dict.items(per_region)):
            for balancer in list(getattr(backend, "load_balancers", {}).values()):
                if not any(getattr(listener, "local_port", None) for listener in balancer.listeners.values()):
                    continue
                for group in _groups_of(backend, balancer):
                    states = list(group.states().values())
                    healthy = sum(1 for s in states if s.state == "healthy")
                    unhealthy = sum(1 for s in states if s.state == "unhealthy")
                    key = (account, region, balancer.arn, group.arn)
                    seen = _health_seen.get(key)
                    if seen and seen[:2] == (healthy, unhealthy) and now - seen[2] < HEALTH_EVERY \
                            and (account, region, balancer.arn) not in busy:
                        continue
                    _health_seen[key] = (healthy, unhealthy, now)
                    aws_metrics.publish(account, region, NAMESPACE,
                                        {"HealthyHostCount": (healthy, "Count"),
                                         "UnHealthyHostCount": (unhealthy, "Count")},
                                        [{"LoadBalancer": dimension(balancer.arn),
                                          "TargetGroup": dimension(group.arn)}], now)


def _groups_of(backend, balancer) -> list:
    arns: list[str] = []
    for listener in balancer.listeners.values():
        for rule in listener.rules.values():
            for action in rule.actions:
                for arn in backend._get_target_group_arns_from(action_data=action.data):
                    if arn not in arns:
                        arns.append(arn)
    return [backend.target_groups[arn] for arn in arns if arn in backend.target_groups]
