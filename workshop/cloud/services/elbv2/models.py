"""Elastic Load Balancing v2 beyond moto: targets keyed by id and port (ECS registers
127.0.0.1 on many host ports), their health as AWS reports it (initial, healthy,
unhealthy, draining, unused, with AWS's reasons), listeners that an engine serves on a
local port the cloud picks (kept across restarts), and AWS's errors for bad input.

The models announce (``services``) and never import the engines: ``elbv2.listener-opened``
(asked: the engine answers the local port), ``elbv2.listener-closed`` and
``elbv2.targets-changed``. The health checker writes target states back through
``TargetState`` under the backend's ``lock``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from moto.elbv2 import models as moto_elbv2
from moto.elbv2.exceptions import (DuplicateListenerError, InvalidConfigurationRequest, InvalidTargetError,
                                   ListenerNotFoundError, TargetGroupNotFoundError, ValidationError)

from workshop.cloud import persistence
from workshop.cloud import services
from workshop.cloud.clock import get_clock

URL_TAG = "workshop:url"       # on each served listener: the local URL the cloud serves it on
SERVED_PROTOCOLS = ("HTTP", "HTTPS")   # HTTPS listeners are served as plain HTTP here

# AWS's reasons, by state (describe_target_health's Reason and Description).
REASONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Target.ResponseCodeMismatch": "Health checks failed with these codes: [{codes}]",
    "Target.Timeout": "Request timed out",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.NotInUse": "Target group is not configured to receive traffic from the load balancer",
    "Target.HealthCheckDisabled": "Health checks are disabled",
}


class TargetState:
    """One registered target (id and port) and its health, as the health checker last saw it.
    Plain data: it is pickled with the backend."""

    def __init__(self, target_id: str, port: int, zone: str | None = None):
        self.id = target_id
        self.port = int(port)
        self.zone = zone
        self.state = "initial"
        self.reason: str | None = "Elb.RegistrationInProgress"
        self.description: str | None = REASONS["Elb.RegistrationInProgress"]
        self.successes = 0          # consecutive, since the last change of state
        self.failures = 0
        self.drain_until: float | None = None   # wall-clock time draining ends (on the clock)

    @property
    def key(self) -> str:
        return target_key(self.id, self.port)

    def set(self, state: str, reason: str | None, description: str | None = None) -> None:
        self.state = state
        self.reason = reason
        self.description = description if description is not None else REASONS.get(reason or "")
        self.successes = self.failures = 0

    @property
    def routable(self) -> bool:
        """Gets new requests (when healthy; unhealthy ones only when none is healthy: fail-open)."""
        return self.state in ("healthy", "unavailable")


def target_key(target_id: str, port: int | str) -> str:
    return f"{target_id}:{int(port)}"


def _port(value: Any, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"1 validation error detected: Value '{value}' at '{what}' failed to satisfy "
                              "constraint: Member must be an integer") from None
    if port < 1:
        raise ValidationError(f"1 validation error detected: Value '{port}' at '{what}' failed to satisfy "
                              "constraint: Member must have value greater than or equal to 1")
    if port > 65535:
        raise ValidationError(f"1 validation error detected: Value '{port}' at '{what}' failed to satisfy "
                              "constraint: Member must have value less than or equal to 65535")
    return port


def _in_range(value: Any, what: str, low: int, high: int) -> None:
    """AWS's bounds on health-check settings (an interval of 0 would check without pause)."""
    if value is None:
        return
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"1 validation error detected: Value '{value}' at '{what}' failed to satisfy "
                              "constraint: Member must be an integer") from None
    if not low <= number <= high:
        bound = f"greater than or equal to {low}" if number < low else f"less than or equal to {high}"
        raise ValidationError(f"1 validation error detected: Value '{number}' at '{what}' failed to satisfy "
                              f"constraint: Member must have value {bound}")


def _health_settings(interval: Any, timeout: Any, healthy: Any, unhealthy: Any) -> None:
    _in_range(interval, "healthCheckIntervalSeconds", 5, 300)
    _in_range(timeout, "healthCheckTimeoutSeconds", 2, 120)
    _in_range(healthy, "healthyThresholdCount", 2, 10)
    _in_range(unhealthy, "unhealthyThresholdCount", 2, 10)


# -- target groups: targets by id and port, health from our states -----------------------

@services.extend(moto_elbv2.FakeTargetGroup)
class _TargetGroup:
    def states(self) -> OrderedDict:
        """Registered targets by ``id:port`` (created on first use: groups from older snapshots)."""
        states = self.__dict__.get("workshop_states")
        if states is None:
            states = self.__dict__["workshop_states"] = OrderedDict()
        return states

    def register(self, targets: list[dict[str, Any]]) -> None:
        states = self.states()
        for target in targets:
            if not target.get("Id"):
                raise ValidationError("A target ID must be specified")
            if instance := self.ec2_backend.get_instance_by_id(target["Id"]):
                if instance.state != "running":
                    raise moto_elbv2.TargetNotRunning(instance_id=target["Id"])
            port = _port(target.get("Port", self.port), "targets.member.port")
            key = target_key(target["Id"], port)
            state = states.get(key)
            if state is not None and state.state != "draining":
                continue        # registering a registered target again changes nothing (as AWS)
            states[key] = TargetState(target["Id"], port, target.get("AvailabilityZone"))
            if not self.health_check_enabled:
                states[key].set("unavailable", "Target.HealthCheckDisabled")
            self.targets[key] = {"Id": target["Id"], "Port": port}
            self.deregistered_targets.pop(key, None)

    def deregister(self, targets: list[dict[str, Any]]) -> None:
        states = self.states()
        delay = float(self.attributes.get("deregistration_delay.timeout_seconds", 300))
        clock = get_clock()
        for target in targets:
            port = _port(target.get("Port", self.port), "targets.member.port")
            key = target_key(target.get("Id", ""), port)
            state = states.get(key)
            if state is None:
                raise InvalidTargetError()
            if state.state == "draining":
                continue
            state.set("draining", "Target.DeregistrationInProgress")
            state.drain_until = clock.timestamp() + clock.real_seconds(delay)
            self.targets.pop(key, None)
            self.deregistered_targets[key] = {"Id": state.id, "Port": state.port}

    def finish_draining(self, key: str) -> None:
        """The health checker: a draining target's delay is over (or nothing was in flight)."""
        self.states().pop(key, None)

    def health_for(self, target: dict[str, Any], ec2_backend=None) -> moto_elbv2.FakeHealthStatus:
        port = int(target.get("Port") or self.port or 0)
        state = self.states().get(target_key(target.get("Id", ""), port))
        health_port = self.health_check_port
        if state is None:
            return moto_elbv2.FakeHealthStatus(target.get("Id"), port, health_port, "unused",
                                               "Target.NotRegistered", REASONS["Target.NotRegistered"])
        if health_port in (None, "traffic-port"):
            health_port = str(state.port)       # AWS names the port it checks
        status = moto_elbv2.FakeHealthStatus(state.id, state.port, health_port, state.state,
                                             state.reason, state.description)
        if state.state == "healthy":
            status.reason = status.description = None
        return status


# -- the backend -----------------------------------------------------------------------

class WorkshopELBv2Backend(moto_elbv2.ELBv2Backend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()   # target states: the health checker and requests

    def __getattr__(self, name: str):
        if name == "lock":      # a backend moto made before this module was loaded (kept, see below)
            return self.__dict__.setdefault("lock", threading.RLock())
        raise AttributeError(name)

    def _announce_targets(self, target_group_arn: str) -> None:
        services.announce("elbv2.targets-changed", account_id=self.account_id, region=self.region_name,
                          target_group_arn=target_group_arn)

    # -- targets (the API and ECS's task runner, in-process, both come here) --------------
    def register_targets(self, target_group_arn: str, instances: list[Any]) -> None:
        with self.lock:
            super().register_targets(target_group_arn, instances)
        self._announce_targets(target_group_arn)

    def deregister_targets(self, target_group_arn: str, instances: list[dict[str, Any]]) -> None:
        with self.lock:
            super().deregister_targets(target_group_arn, instances)
        self._announce_targets(target_group_arn)

    def describe_target_health(self, target_group_arn: str, targets: list[dict[str, Any]]):
        group = self.target_groups.get(target_group_arn)
        if group is None:
            raise TargetGroupNotFoundError()
        with self.lock:
            if not targets:
                targets = [{"Id": s.id, "Port": s.port} for s in group.states().values()]
            found = [group.health_for(t) for t in targets]
            if not self.in_use(target_group_arn):
                for status in found:
                    if status.status not in ("unused", "draining"):
                        status.status, status.reason = "unused", "Target.NotInUse"
                        status.description = REASONS["Target.NotInUse"]
            return found

    def in_use(self, target_group_arn: str) -> bool:
        """A listener's default action or a rule forwards to the group (else its targets are unused)."""
        return self._any_listener_using(target_group_arn)

    def modify_target_group_attributes(self, target_group_arn: str, attributes: dict[str, Any]) -> None:
        delay = attributes.get("deregistration_delay.timeout_seconds")
        if delay is not None:
            try:
                seconds = int(delay)
            except (TypeError, ValueError):
                seconds = -1
            if not 0 <= seconds <= 3600:
                raise ValidationError(f"'deregistration_delay.timeout_seconds' value '{delay}' must be "
                                      "between '0-3600' inclusive")
            attributes = {**attributes, "deregistration_delay.timeout_seconds": "3599"} if seconds == 3600 \
                else attributes
            super().modify_target_group_attributes(target_group_arn, attributes)
            if seconds == 3600:     # moto's range check stops at 3599; AWS allows 3600
                self.target_groups[target_group_arn].attributes["deregistration_delay.timeout_seconds"] = "3600"
            return
        super().modify_target_group_attributes(target_group_arn, attributes)

    def create_target_group(self, name: str, **kwargs: Any):
        _health_settings(kwargs.get("healthcheck_interval_seconds"), kwargs.get("healthcheck_timeout_seconds"),
                         kwargs.get("healthy_threshold_count"), kwargs.get("unhealthy_threshold_count"))
        if kwargs.get("port") is not None:
            kwargs["port"] = _port(kwargs["port"], "port")
        hc_port = kwargs.get("healthcheck_port")
        if hc_port not in (None, "traffic-port"):
            _port(hc_port, "healthCheckPort")
        return super().create_target_group(name, **kwargs)

    def modify_target_group(self, arn: str, health_check_proto: str | None = None,
                            health_check_port: str | None = None, health_check_path: str | None = None,
                            health_check_interval: int | None = None, health_check_timeout: int | None = None,
                            healthy_threshold_count: str | None = None, unhealthy_threshold_count: str | None = None,
                            *args: Any, **kwargs: Any):
        _health_settings(health_check_interval, health_check_timeout, healthy_threshold_count,
                         unhealthy_threshold_count)
        if health_check_port not in (None, "traffic-port"):
            _port(health_check_port, "healthCheckPort")
        group = self.target_groups.get(arn)
        if group is not None and (health_check_interval is not None or health_check_timeout is not None):
            interval = int(health_check_interval or group.health_check_interval_seconds or 30)
            timeout = int(health_check_timeout or group.health_check_timeout_seconds or 5)
            if timeout >= interval:
                raise ValidationError(f"Health check timeout '{timeout}' must be smaller than the interval "
                                      f"'{interval}'")
        return super().modify_target_group(arn, health_check_proto, health_check_port, health_check_path,
                                           health_check_interval, health_check_timeout, healthy_threshold_count,
                                           unhealthy_threshold_count, *args, **kwargs)

    # -- listeners: served on a local port -------------------------------------------------
    def create_listener(self, load_balancer_arn: str, protocol: str, port: str, ssl_policy: str,
                        certificate: str | None, actions: list[dict[str, Any]],
                        alpn_policy: list[str] | None = None, tags: list[dict[str, str]] | None = None):
        balancer = self.load_balancers.get(load_balancer_arn)
        if balancer is not None and port is not None:
            port = _port(port, "port")
            if any(int(other.port) == port for other in balancer.listeners.values() if other.port):
                raise DuplicateListenerError()
        listener = super().create_listener(load_balancer_arn, protocol, port, ssl_policy, certificate,
                                           actions, alpn_policy, tags)
        self.open_listener(listener)
        return listener

    def open_listener(self, listener, preferred_port: int | None = None) -> None:
        """Have the engine serve an application load balancer's HTTP(S) listener; remember its
        local port (tried first on restart, so the URL stays the same) and tag its URL."""
        balancer = self.load_balancers.get(listener.load_balancer_arn)
        if balancer is None or balancer.type != "application" or listener.protocol not in SERVED_PROTOCOLS:
            return
        local_port = services.ask("elbv2.listener-opened", account_id=self.account_id, region=self.region_name,
                                  load_balancer_arn=balancer.arn, listener_arn=listener.arn,
                                  preferred_port=preferred_port)
        listener.local_port = local_port
        url = f"http://127.0.0.1:{local_port}"
        self.tagging_service.tag_resource(listener.arn, [{"Key": URL_TAG, "Value": url}])
        balancer.state = "active"

    def delete_listener(self, listener_arn: str):
        listener = super().delete_listener(listener_arn)
        services.announce("elbv2.listener-closed", listener_arn=listener_arn)
        return listener

    def modify_listener(self, arn: str, port: str | None = None, *args: Any, **kwargs: Any):
        if port is not None:
            port = _port(port, "port")
            for balancer in self.load_balancers.values():
                if arn in balancer.listeners:
                    if any(int(o.port) == port for a, o in balancer.listeners.items() if a != arn and o.port):
                        raise DuplicateListenerError()
                    break
            else:
                raise ListenerNotFoundError()
        return super().modify_listener(arn, port, *args, **kwargs)

    def modify_load_balancer_attributes(self, arn: str, attrs: dict[str, Any]):
        timeout = attrs.get("idle_timeout.timeout_seconds")
        if timeout is not None and not (str(timeout).isdigit() and 1 <= int(timeout) <= 4000):
            raise ValidationError(f"Idle timeout value '{timeout}' must be between 1 and 4000 seconds")
        balancer = self.load_balancers.get(arn)
        merged = {**(balancer.attrs if balancer is not None else {}), **attrs}
        if balancer is not None and str(merged.get("access_logs.s3.enabled", "false")).lower() == "true":
            from workshop.cloud.services.s3 import objects

            bucket = merged.get("access_logs.s3.bucket") or ""
            try:
                objects.object_keys(self.account_id, bucket, "\0")
            except objects.S3ObjectError:
                raise InvalidConfigurationRequest(f"Access Denied for bucket: {bucket}. Please check S3bucket "
                                                  "permission") from None
        return super().modify_load_balancer_attributes(arn, attrs)

    def delete_load_balancer(self, arn: str) -> None:
        balancer = self.load_balancers.get(arn)
        if balancer is not None:
            for listener_arn in list(balancer.listeners):
                services.announce("elbv2.listener-closed", listener_arn=listener_arn)
        super().delete_load_balancer(arn)

    def served_listeners(self) -> list:
        return [listener for balancer in self.load_balancers.values()
                for listener in balancer.listeners.values() if getattr(listener, "local_port", None)]


elbv2_backends = moto_elbv2.elbv2_backends
# Backends moto made before this module loaded keep their load balancers: they become ours.
for _per_region in list(dict.values(elbv2_backends)):
    for _backend in list(dict.values(_per_region)):
        if type(_backend) is moto_elbv2.ELBv2Backend:
            _backend.__class__ = WorkshopELBv2Backend
services.replace_backend(elbv2_backends, WorkshopELBv2Backend)


@services.on(persistence.RESTORED)
def _reopen_listeners(account_id: str) -> None:
    """A restart re-opens every served listener, on its old local port when that is free."""
    for backend in persistence.backends(elbv2_backends, account_id):
        if not isinstance(backend, WorkshopELBv2Backend):
            continue
        for listener in backend.served_listeners():
            try:
                backend.open_listener(listener, preferred_port=listener.local_port)
            except Exception:   # one listener that cannot open must not stop the restore
                import logging

                logging.getLogger(__name__).exception("could not re-open listener %s", listener.arn)
        for arn in backend.target_groups:
            backend._announce_targets(arn)

