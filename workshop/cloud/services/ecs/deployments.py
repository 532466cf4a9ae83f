"""ECS services' deployments as the API reports them (state only; scheduler.py moves
them): ``deploymentConfiguration`` kept (moto dropped it), a new deployment on every
update_service that changes the task definition or forces one, the service's
``events``, and the ServiceDeployment records of ``list/describe_service_deployments``
and ``stop_service_deployment``."""

from __future__ import annotations

import math
import random
import string
import time
from typing import Any

from moto.ecs.exceptions import InvalidParameterException, ServiceNotFoundException
from moto.ecs.models import EC2ContainerServiceBackend, Service

from workshop.cloud import persistence, services
from workshop.cloud.services import extend
from workshop.cloud.services.ecs.models import LOCK

MAX_EVENTS = 100
DEFAULT_CONFIGURATION = {"deploymentCircuitBreaker": {"enable": False, "rollback": False},
                         "maximumPercent": 200, "minimumHealthyPercent": 100}
STRATEGIES = ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY")
TRAFFIC_STRATEGIES = ("BLUE_GREEN", "LINEAR", "CANARY")    # bluegreen.py moves these
HOOK_STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
               "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")


def failure_threshold(desired: int) -> int:
    """ECS's circuit breaker: max(3, min(200, ceil(0.5 x desiredCount))) failed tasks."""
    return max(3, min(200, math.ceil(0.5 * desired)))


def add_event(service: Service, message: str) -> None:
    service.events.insert(0, {"id": str(random.getrandbits(128)), "createdAt": time.time(),
                              "message": message})
    del service.events[MAX_EVENTS:]


def configuration(given: dict | None, old: dict | None = None) -> dict:
    config = {**DEFAULT_CONFIGURATION, **(old or {}), **(given or {})}
    maximum, minimum = config.get("maximumPercent"), config.get("minimumHealthyPercent")
    if not isinstance(maximum, int) or not 100 <= maximum <= 2147483647:
        raise InvalidParameterException("maximumPercent must be 100 or more.")
    if not isinstance(minimum, int) or not 0 <= minimum <= 100:
        raise InvalidParameterException("minimumHealthyPercent must be between 0 and 100.")
    breaker = config.get("deploymentCircuitBreaker") or {}
    config["deploymentCircuitBreaker"] = {"enable": bool(breaker.get("enable")),
                                          "rollback": bool(breaker.get("rollback"))}
    alarms = config.get("alarms")
    if alarms is not None:
        config["alarms"] = {"alarmNames": list(alarms.get("alarmNames") or []),
                            "enable": bool(alarms.get("enable")), "rollback": bool(alarms.get("rollback"))}
    strategy = config.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise InvalidParameterException(f"Invalid deployment strategy: {strategy}")
    _minutes(config.get("bakeTimeInMinutes"), "bakeTimeInMinutes")
    canary, linear = config.get("canaryConfiguration"), config.get("linearConfiguration")
    if canary is not None:
        _percent(canary.get("canaryPercent"), "canaryPercent", 0.1)
        _minutes(canary.get("canaryBakeTimeInMinutes"), "canaryBakeTimeInMinutes")
    if linear is not None:
        _percent(linear.get("stepPercent"), "stepPercent", 3.0)
        _minutes(linear.get("stepBakeTimeInMinutes"), "stepBakeTimeInMinutes")
    if strategy == "CANARY" and canary is None:
        raise InvalidParameterException("canaryConfiguration must be specified for the CANARY deployment strategy.")
    if strategy == "LINEAR" and linear is None:
        raise InvalidParameterException("linearConfiguration must be specified for the LINEAR deployment strategy.")
    for hook in config.get("lifecycleHooks") or []:
        if not hook.get("hookTargetArn") and hook.get("targetType", "AWS_LAMBDA") == "AWS_LAMBDA":
            raise InvalidParameterException("hookTargetArn must be specified for a lifecycle hook.")
        stages = hook.get("lifecycleStages") or []
        if not stages or any(stage not in HOOK_STAGES for stage in stages):
            raise InvalidParameterException(f"lifecycleStages must be one or more of {', '.join(HOOK_STAGES)}.")
    return config


def _minutes(value, name: str) -> None:
    if value is not None and (not isinstance(value, int) or not 0 <= value <= 1440):
        raise InvalidParameterException(f"{name} must be between 0 and 1440.")


def _percent(value, name: str, low: float) -> None:
    if not isinstance(value, (int, float)) or not low <= value <= 100:
        raise InvalidParameterException(f"{name} must be between {low} and 100.0.")


def check_load_balancers(load_balancers: list | None, config: dict) -> None:
    """A blue/green, canary or linear service names where the green revision goes and which rules
    ECS moves (AWS refuses such a service without them)."""
    if config.get("strategy") not in TRAFFIC_STRATEGIES:
        return
    for lb in load_balancers or []:
        advanced = lb.get("advancedConfiguration")
        if not advanced:
            raise InvalidParameterException(
                f"advancedConfiguration must be specified for a load balancer of a {config['strategy']} deployment.")
        for key in ("alternateTargetGroupArn", "productionListenerRule", "roleArn"):
            if not advanced.get(key):
                raise InvalidParameterException(f"advancedConfiguration.{key} must be specified.")
        if advanced["alternateTargetGroupArn"] == lb.get("targetGroupArn"):
            raise InvalidParameterException("alternateTargetGroupArn must differ from targetGroupArn.")


def _deployment_id() -> str:
    return "ecs-svc/" + "".join(random.choice(string.digits) for _ in range(19))


def start_deployment(backend, service: Service, task_definition: str, rollback_of: dict | None = None) -> dict:
    """A new PRIMARY deployment of ``task_definition``; the one before becomes ACTIVE
    (its tasks are replaced by the scheduler)."""
    now = time.time()
    for old in service.deployments:
        if old["status"] == "PRIMARY":
            old["status"] = "ACTIVE"
            old["updatedAt"] = now
    if rollback_of is None:
        # A service deployment still under way when a newer one starts stops there.
        for old in getattr(service, "ws_service_deployments", None) or []:
            if old["status"] in ("PENDING", "IN_PROGRESS"):
                old["status"] = "STOPPED"
                old["statusReason"] = "Superseded by a newer service deployment."
                old["finishedAt"] = old["stoppedAt"] = old["updatedAt"] = now
    deployment_id = _deployment_id()
    service.ws_revision = getattr(service, "ws_revision", 0) + 1
    revision_arn = (f"arn:aws:ecs:{service.region_name}:{backend.account_id}:service-revision/"
                    f"{service.cluster_name}/{service.name}/{service.ws_revision}{random.randint(10**8, 10**9)}")
    deployment = {"id": deployment_id, "status": "PRIMARY", "taskDefinition": task_definition,
                  "desiredCount": service.desired_count, "pendingCount": 0, "runningCount": 0,
                  "failedTasks": 0, "createdAt": now, "updatedAt": now, "launchType": service.launch_type,
                  "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
                  "networkConfiguration": service.network_configuration or None,
                  "rolloutState": "IN_PROGRESS",
                  "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
                  "ws_revision_arn": revision_arn}
    if service.launch_type == "FARGATE":
        deployment["platformVersion"] = "1.4.0"
    config = service.deployment_configuration
    last = getattr(service, "ws_last_completed", None) or {}
    production = last.get("ws_groups") or [lb.get("targetGroupArn") for lb in service.load_balancers or []]
    deployment["ws_strategy"] = config.get("strategy") or "ROLLING"
    deployment["ws_groups"] = list(production)
    if deployment["ws_strategy"] in TRAFFIC_STRATEGIES and last and rollback_of is None:
        # The green revision goes to the target group production does not use (AWS alternates them).
        deployment["ws_blue"] = last["id"]
        deployment["ws_blue_groups"] = list(production)
        deployment["ws_groups"] = [_other_group(lb, group) for lb, group in
                                   zip(service.load_balancers or [], production)]
    service.deployments.insert(0, deployment)
    sources = [{"arn": d["ws_revision_arn"], "requestedTaskCount": d["desiredCount"],
                "runningTaskCount": d["runningCount"], "pendingTaskCount": d["pendingCount"]}
               for d in service.deployments[1:] if d["status"] == "ACTIVE" and d.get("ws_revision_arn")]
    record = {"serviceDeploymentArn": (f"arn:aws:ecs:{service.region_name}:{backend.account_id}:service-deployment/"
                                       f"{service.cluster_name}/{service.name}/"
                                       + "".join(random.choice(string.ascii_letters + string.digits)
                                                 for _ in range(22))),
              "serviceArn": service.arn, "clusterArn": service.cluster_arn,
              "createdAt": now, "startedAt": now, "updatedAt": now,
              "sourceServiceRevisions": sources,
              "targetServiceRevision": {"arn": revision_arn, "requestedTaskCount": service.desired_count,
                                        "runningTaskCount": 0, "pendingTaskCount": 0},
              "status": "IN_PROGRESS", "lifecycleStage": "RECONCILE_SERVICE",
              "deploymentConfiguration": config,
              "deploymentCircuitBreaker": {
                  "status": "MONITORING" if config["deploymentCircuitBreaker"]["enable"] else "DISABLED",
                  "failureCount": 0, "threshold": failure_threshold(service.desired_count)},
              "ws_deployment_id": deployment_id,
              # The revision's own task definition: its deployment leaves the service once replaced.
              "ws_task_definition": task_definition}
    alarms = config.get("alarms")
    record["alarms"] = ({"status": "MONITORING", "alarmNames": alarms["alarmNames"], "triggeredAlarmNames": []}
                        if alarms and alarms["enable"] else {"status": "DISABLED"})
    if rollback_of is not None:
        record["status"] = "ROLLBACK_IN_PROGRESS"
        record["rollback"] = {"reason": rollback_of["reason"], "startedAt": now,
                              "serviceRevisionArn": revision_arn}
    if deployment.get("ws_blue"):
        record["lifecycleStage"] = "RECONCILE_SERVICE"
        record["ws_bg"] = {}
    service.ws_service_deployments.insert(0, record)
    deployment["ws_record"] = record["serviceDeploymentArn"]
    persistence.changed(backend.account_id)
    return deployment


def _other_group(lb: dict, group: str | None) -> str | None:
    advanced = lb.get("advancedConfiguration") or {}
    if not advanced.get("alternateTargetGroupArn"):
        return group
    return advanced["alternateTargetGroupArn"] if group == lb.get("targetGroupArn") else lb.get("targetGroupArn")


def record_of(service: Service, deployment: dict) -> dict | None:
    arn = deployment.get("ws_record")
    return next((r for r in service.ws_service_deployments if r["serviceDeploymentArn"] == arn), None)


_create_service = EC2ContainerServiceBackend.create_service
_update_service = EC2ContainerServiceBackend.update_service
_delete_service = EC2ContainerServiceBackend.delete_service


@extend(EC2ContainerServiceBackend)
class _Backend:
    def create_service(self, cluster_str, service_name, desired_count, task_definition_str=None,
                       *args, deployment_configuration=None, health_check_grace_period_seconds=None,
                       **kwargs):
        cluster = self._get_cluster(cluster_str)
        existing = self.services.get(f"{cluster.name}:{service_name}")
        if existing is not None and existing.status == "ACTIVE":
            raise InvalidParameterException("Creation of service was not idempotent.")
        # deploymentController comes positionally from the response layer (moto's order), or by keyword.
        controller = kwargs.get("deployment_controller") or (args[3] if len(args) > 3 else None) or {}
        if not task_definition_str and controller.get("type") != "EXTERNAL":
            raise InvalidParameterException("TaskDefinition must be specified.")
        if desired_count is not None and desired_count < 0:
            raise InvalidParameterException("desiredCount must be 0 or more.")
        config = configuration(deployment_configuration)
        check_load_balancers(args[0] if args else kwargs.get("load_balancers"), config)
        with LOCK:
            service = _create_service(self, cluster_str, service_name, desired_count, task_definition_str,
                                      *args, **kwargs)
            service.deployment_configuration = config
            service.health_check_grace_period_seconds = health_check_grace_period_seconds or 0
            service.created_at = time.time()
            service.running_count = service.pending_count = 0
            service.ws_service_deployments = []
            service.ws_last_completed = None
            service.deployments = []
            if service.deployment_controller.get("type", "ECS") == "ECS" and service.task_definition:
                start_deployment(self, service, service.task_definition)
        services.announce("ecs.service-changed", backend=self, service=service)
        return service

    def update_service(self, service_properties: dict[str, Any]):
        cluster_str = service_properties.get("cluster", "default")
        service = self._get_service(cluster_str, (service_properties.get("service") or "").split("/")[-1])
        if service.status != "ACTIVE":
            raise ServiceNotFoundException()
        definition = service_properties.get("task_definition")
        force = bool(service_properties.get("force_new_deployment"))
        desired = service_properties.get("desired_count")
        if desired is not None and desired < 0:
            raise InvalidParameterException("desiredCount must be 0 or more.")
        config = (configuration(service_properties.pop("deployment_configuration"), service.deployment_configuration)
                  if service_properties.get("deployment_configuration") is not None else None)
        check_load_balancers(service_properties.get("load_balancers") or service.load_balancers,
                             config or service.deployment_configuration)
        with LOCK:
            before = service.task_definition
            # moto sets running_count to the desired count: the scheduler counts them instead.
            running, pending = service.running_count, service.pending_count
            service = _update_service(self, service_properties)
            service.running_count, service.pending_count = running, pending
            if config is not None:
                service.deployment_configuration = config
            if definition:
                service.task_definition = self.describe_task_definition(definition).arn
            if service.deployment_controller.get("type", "ECS") == "ECS" and (
                    force or (definition and service.task_definition != before)):
                start_deployment(self, service, service.task_definition)
            elif desired is not None and service.deployments:
                service.deployments[0]["desiredCount"] = desired
            persistence.changed(self.account_id)
        services.announce("ecs.service-changed", backend=self, service=service)
        return service

    def delete_service(self, cluster_name: str, service_name: str, force: bool):
        with LOCK:
            service = _delete_service(self, cluster_name, service_name, force)
            service.desired_count = 0
            service.status = "DRAINING"
            for deployment in service.deployments:
                deployment["desiredCount"] = 0
        services.announce("ecs.service-changed", backend=self, service=service)
        return service

    # -- service deployments (ListServiceDeployments, DescribeServiceDeployments, StopServiceDeployment)
    def list_service_deployments(self, cluster_str: str | None, service_str: str, status: list[str] | None,
                                 created_at: dict | None) -> list[dict]:
        service = self._get_service(cluster_str or "default", (service_str or "").split("/")[-1])
        found = []
        for record in getattr(service, "ws_service_deployments", []):
            if status and record["status"] not in status:
                continue
            if created_at and (("before" in created_at and record["createdAt"] >= _seconds(created_at["before"]))
                               or ("after" in created_at and record["createdAt"] <= _seconds(created_at["after"]))):
                continue
            found.append(record)
        return found

    def describe_service_deployments(self, arns: list[str]) -> tuple[list[dict], list[dict]]:
        records = {r["serviceDeploymentArn"]: r for service in self.services.values()
                   for r in getattr(service, "ws_service_deployments", [])}
        found, failures = [], []
        for arn in arns:
            if arn in records:
                found.append(records[arn])
            else:
                failures.append({"arn": arn, "reason": "MISSING", "detail": "The service deployment was not found."})
        return found, failures

    def stop_service_deployment(self, arn: str, stop_type: str | None) -> dict:
        for service in self.services.values():
            for record in getattr(service, "ws_service_deployments", []):
                if record["serviceDeploymentArn"] != arn:
                    continue
                if record["status"] not in ("PENDING", "IN_PROGRESS"):
                    raise InvalidParameterException(
                        f"The service deployment is in {record['status']} and cannot be stopped.")
                with LOCK:
                    record["status"] = "STOP_REQUESTED" if (stop_type or "ROLLBACK") == "ROLLBACK" else "STOPPED"
                    record["ws_stop_type"] = stop_type or "ROLLBACK"
                    record["updatedAt"] = time.time()
                    persistence.changed(self.account_id)
                services.announce("ecs.service-changed", backend=self, service=service)
                return record
        from moto.ecs.exceptions import ECSException

        raise ECSException("ServiceDeploymentNotFoundException", "The service deployment was not found.")


def _seconds(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    from datetime import datetime

    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
