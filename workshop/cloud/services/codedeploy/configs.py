"""CodeDeploy deployment configurations: every predefined one AWS provides
(Server, Lambda and ECS), the rules a custom configuration must follow
(AWS's validation errors), and what a configuration means for a deployment:
how many instances go at once and how traffic shifts."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.codedeploy.exceptions import CodeDeployException

COMPUTE_PLATFORMS = ("Server", "Lambda", "ECS")
PREFIX = "CodeDeployDefault."
_NAME = re.compile(r"^[A-Za-z0-9._+=,@-]{1,100}$")
# AWS created the predefined configurations long ago; a fixed time keeps them stable.
_PREDEFINED_TIME = datetime(2014, 11, 12, tzinfo=timezone.utc)


class InvalidDeploymentConfigNameException(CodeDeployException):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidDeploymentConfigNameException", message)


class DeploymentConfigNameRequiredException(CodeDeployException):
    code = 400

    def __init__(self, message: str = "Deployment configuration name was not specified."):
        super().__init__("DeploymentConfigNameRequiredException", message)


class DeploymentConfigAlreadyExistsException(CodeDeployException):
    code = 400

    def __init__(self, message: str):
        super().__init__("DeploymentConfigAlreadyExistsException", message)


class DeploymentConfigDoesNotExistException(CodeDeployException):
    code = 400

    def __init__(self, message: str):
        super().__init__("DeploymentConfigDoesNotExistException", message)


class DeploymentConfigInUseException(CodeDeployException):
    code = 400

    def __init__(self, message: str):
        super().__init__("DeploymentConfigInUseException", message)


class InvalidMinimumHealthyHostValueException(CodeDeployException):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidMinimumHealthyHostValueException", message)


class InvalidTrafficRoutingConfigurationException(CodeDeployException):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidTrafficRoutingConfigurationException", message)


class InvalidComputePlatformException(CodeDeployException):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidComputePlatformException", message)


class InvalidOperationException(CodeDeployException):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidOperationException", message)


@dataclass
class DeploymentConfig:
    name: str
    compute_platform: str
    minimum_healthy_hosts: dict[str, Any] | None = None
    traffic_routing_config: dict[str, Any] | None = None
    zonal_config: dict[str, Any] | None = None
    predefined: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    create_time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"deploymentConfigId": self.id, "deploymentConfigName": self.name,
                               "createTime": self.create_time, "computePlatform": self.compute_platform}
        if self.minimum_healthy_hosts is not None:
            out["minimumHealthyHosts"] = dict(self.minimum_healthy_hosts)
        if self.traffic_routing_config is not None:
            out["trafficRoutingConfig"] = dict(self.traffic_routing_config)
        if self.zonal_config is not None:
            out["zonalConfig"] = dict(self.zonal_config)
        return out

    # -- what it means for a deployment -------------------------------------------
    def traffic_steps(self) -> list[tuple[float, float]]:
        """(weight of the new version, AWS seconds to wait after it), in order; the
        last step is always (1.0, 0). AllAtOnce is a single step."""
        routing = self.traffic_routing_config or {"type": "AllAtOnce"}
        kind = routing.get("type", "AllAtOnce")
        if kind == "TimeBasedCanary":
            canary = routing.get("timeBasedCanary") or {}
            return [(int(canary["canaryPercentage"]) / 100.0, int(canary["canaryInterval"]) * 60.0), (1.0, 0.0)]
        if kind == "TimeBasedLinear":
            linear = routing.get("timeBasedLinear") or {}
            step, interval = int(linear["linearPercentage"]), int(linear["linearInterval"]) * 60.0
            steps, percent = [], step
            while percent < 100:
                steps.append((percent / 100.0, interval))
                percent += step
            return steps + [(1.0, 0.0)]
        return [(1.0, 0.0)]

    def minimum_healthy(self, instances: int) -> int:
        """How many of ``instances`` must stay healthy during an in-place deployment."""
        hosts = self.minimum_healthy_hosts or {"type": "HOST_COUNT", "value": 0}
        kind, value = hosts.get("type"), int(hosts.get("value", 0))
        if kind == "MOST_CONCURRENCY":   # OneAtATime: all but the one being deployed
            return max(0, instances - value)
        if kind == "FLEET_PERCENT":
            return math.ceil(instances * value / 100.0)
        return value

    def one_at_a_time(self) -> bool:
        return (self.minimum_healthy_hosts or {}).get("type") == "MOST_CONCURRENCY"


def _canary(percent: int, minutes: int) -> dict[str, Any]:
    return {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": percent, "canaryInterval": minutes}}


def _linear(percent: int, minutes: int) -> dict[str, Any]:
    return {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": percent, "linearInterval": minutes}}


_ALL_AT_ONCE = {"type": "AllAtOnce"}

# name -> (platform, minimumHealthyHosts, trafficRoutingConfig), as GetDeploymentConfig answers.
# OneAtATime answers MOST_CONCURRENCY 1 (the API reference's note on MinimumHealthyHosts).
_PREDEFINED: dict[str, tuple[str, dict | None, dict | None]] = {
    "AllAtOnce": ("Server", {"type": "HOST_COUNT", "value": 0}, None),
    "HalfAtATime": ("Server", {"type": "FLEET_PERCENT", "value": 50}, None),
    "OneAtATime": ("Server", {"type": "MOST_CONCURRENCY", "value": 1}, None),
    "LambdaAllAtOnce": ("Lambda", None, _ALL_AT_ONCE),
    "LambdaCanary10Percent5Minutes": ("Lambda", None, _canary(10, 5)),
    "LambdaCanary10Percent10Minutes": ("Lambda", None, _canary(10, 10)),
    "LambdaCanary10Percent15Minutes": ("Lambda", None, _canary(10, 15)),
    "LambdaCanary10Percent30Minutes": ("Lambda", None, _canary(10, 30)),
    "LambdaLinear10PercentEvery1Minute": ("Lambda", None, _linear(10, 1)),
    "LambdaLinear10PercentEvery2Minutes": ("Lambda", None, _linear(10, 2)),
    "LambdaLinear10PercentEvery3Minutes": ("Lambda", None, _linear(10, 3)),
    "LambdaLinear10PercentEvery10Minutes": ("Lambda", None, _linear(10, 10)),
    "ECSAllAtOnce": ("ECS", None, _ALL_AT_ONCE),
    "ECSCanary10Percent5Minutes": ("ECS", None, _canary(10, 5)),
    "ECSCanary10Percent15Minutes": ("ECS", None, _canary(10, 15)),
    "ECSLinear10PercentEvery1Minutes": ("ECS", None, _linear(10, 1)),
    "ECSLinear10PercentEvery3Minutes": ("ECS", None, _linear(10, 3)),
}

DEFAULT_FOR_PLATFORM = {"Server": PREFIX + "OneAtATime", "Lambda": PREFIX + "LambdaAllAtOnce",
                        "ECS": PREFIX + "ECSAllAtOnce"}


def predefined() -> dict[str, DeploymentConfig]:
    """A fresh set of the predefined configurations (each account has its own ids)."""
    out = {}
    for short, (platform, hosts, routing) in _PREDEFINED.items():
        name = PREFIX + short
        out[name] = DeploymentConfig(name, platform, hosts, routing, predefined=True,
                                     id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"codedeploy:{name}")),
                                     create_time=_PREDEFINED_TIME)
    return out


# -- custom configurations ---------------------------------------------------------

def check_name(name: Any) -> str:
    if name is None or name == "":
        raise DeploymentConfigNameRequiredException()
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidDeploymentConfigNameException(
            f"Deployment configuration name {name!r} is invalid: use 1-100 letters, digits and ._+=,@-")
    return name


def new_config(name: Any, compute_platform: Any, minimum_healthy_hosts: Any, traffic_routing_config: Any,
               zonal_config: Any = None) -> DeploymentConfig:
    """A custom configuration, checked as AWS checks it."""
    name = check_name(name)
    if name.startswith(PREFIX):
        raise InvalidDeploymentConfigNameException(
            f"Deployment configuration names may not start with the reserved prefix {PREFIX}")
    platform = compute_platform or "Server"
    if platform not in COMPUTE_PLATFORMS:
        raise InvalidComputePlatformException(
            f"The computePlatform {platform} is invalid: use one of {', '.join(COMPUTE_PLATFORMS)}")
    hosts = None
    routing = None
    if platform == "Server":
        if traffic_routing_config and (traffic_routing_config or {}).get("type") not in (None, "AllAtOnce"):
            raise InvalidTrafficRoutingConfigurationException(
                "The traffic routing configuration is only supported for the Lambda and ECS compute platforms")
        hosts = _check_minimum_healthy_hosts(minimum_healthy_hosts)
    else:
        if minimum_healthy_hosts:
            raise InvalidMinimumHealthyHostValueException(
                f"A minimum healthy hosts value is not supported for the {platform} compute platform")
        if zonal_config:
            raise InvalidTrafficRoutingConfigurationException(
                f"A zonal configuration is not supported for the {platform} compute platform")
        routing = _check_traffic_routing(traffic_routing_config)
    return DeploymentConfig(name, platform, hosts, routing, dict(zonal_config) if zonal_config else None)


def _check_minimum_healthy_hosts(hosts: Any) -> dict[str, Any]:
    if not isinstance(hosts, dict) or not hosts:
        raise InvalidMinimumHealthyHostValueException(
            "The minimum healthy instance value must be specified for the Server compute platform")
    kind = hosts.get("type")
    if kind not in ("HOST_COUNT", "FLEET_PERCENT"):
        raise InvalidMinimumHealthyHostValueException(
            f"The minimum healthy instance type {kind} is invalid: use HOST_COUNT or FLEET_PERCENT")
    value = hosts.get("value")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMinimumHealthyHostValueException("The minimum healthy instance value must be an integer")
    if value < 0:
        raise InvalidMinimumHealthyHostValueException("The minimum healthy instance value cannot be negative")
    if kind == "FLEET_PERCENT" and value > 99:
        raise InvalidMinimumHealthyHostValueException(
            "The minimum healthy instance value for FLEET_PERCENT must be between 0 and 99")
    return {"type": kind, "value": value}


def _check_traffic_routing(routing: Any) -> dict[str, Any]:
    if routing is None:
        return dict(_ALL_AT_ONCE)
    if not isinstance(routing, dict):
        raise InvalidTrafficRoutingConfigurationException("The traffic routing configuration is invalid")
    kind = routing.get("type")
    if kind == "AllAtOnce":
        if routing.get("timeBasedCanary") or routing.get("timeBasedLinear"):
            raise InvalidTrafficRoutingConfigurationException(
                "An AllAtOnce traffic routing configuration takes no canary or linear settings")
        return {"type": "AllAtOnce"}
    if kind == "TimeBasedCanary":
        canary = routing.get("timeBasedCanary")
        if routing.get("timeBasedLinear") or not isinstance(canary, dict):
            raise InvalidTrafficRoutingConfigurationException(
                "A TimeBasedCanary traffic routing configuration needs timeBasedCanary (and no timeBasedLinear)")
        percent = _whole(canary.get("canaryPercentage"), "canaryPercentage", 1, 99)
        interval = _whole(canary.get("canaryInterval"), "canaryInterval", 1, 2880)
        return _canary(percent, interval)
    if kind == "TimeBasedLinear":
        linear = routing.get("timeBasedLinear")
        if routing.get("timeBasedCanary") or not isinstance(linear, dict):
            raise InvalidTrafficRoutingConfigurationException(
                "A TimeBasedLinear traffic routing configuration needs timeBasedLinear (and no timeBasedCanary)")
        percent = _whole(linear.get("linearPercentage"), "linearPercentage", 1, 99)
        interval = _whole(linear.get("linearInterval"), "linearInterval", 1, 2880)
        return _linear(percent, interval)
    raise InvalidTrafficRoutingConfigurationException(
        f"The traffic routing type {kind} is invalid: use TimeBasedCanary, TimeBasedLinear or AllAtOnce")


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidTrafficRoutingConfigurationException(
            f"The traffic routing configuration is invalid: {name} must be a whole number from {low} to {high}")
    return value
