"""CodeDeploy's ECS compute platform, the model's side: the ECS AppSpec (TaskDefinition,
LoadBalancerInfo, hooks), the deployment group's ECS settings as AWS checks them, an ECS
deployment's target and what its rollback and GetDeployment need. ecs_runner.py runs it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

ECS_EVENTS = ("BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
              "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
ECS_HOOKS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")


@dataclass
class EcsAppSpec:
    task_definition: str
    container_name: str
    container_port: int
    platform_version: str | None = None
    network_configuration: dict | None = None
    launch_type: str | None = None
    hooks: dict[str, str] = field(default_factory=dict)


def parse(text: str | bytes) -> EcsAppSpec:
    """The AppSpec of an ECS deployment (AWS's shape: one AWS::ECS::Service resource)."""
    from workshop.cloud.services.codedeploy.appspec import AppSpecError, function_hooks, one_resource

    data, resource, props = one_resource(text, "AWS::ECS::Service", "an ECS")
    if not props.get("TaskDefinition"):
        raise AppSpecError(f"The resource {resource} lacks TaskDefinition in its Properties")
    lb = props.get("LoadBalancerInfo") or {}
    if not lb.get("ContainerName") or lb.get("ContainerPort") in (None, ""):
        raise AppSpecError(f"The resource {resource} needs LoadBalancerInfo with ContainerName and ContainerPort")
    try:
        port = int(lb["ContainerPort"])
    except (TypeError, ValueError):
        raise AppSpecError("LoadBalancerInfo.ContainerPort must be a port number") from None
    hooks = function_hooks(data, ECS_HOOKS, "an ECS")
    network = props.get("NetworkConfiguration")
    if isinstance(network, dict) and "AwsvpcConfiguration" in network:
        vpc = network["AwsvpcConfiguration"] or {}
        network = {"awsvpcConfiguration": {"subnets": vpc.get("Subnets") or [],
                                           "securityGroups": vpc.get("SecurityGroups") or [],
                                           "assignPublicIp": vpc.get("AssignPublicIp") or "DISABLED"}}
    return EcsAppSpec(str(props["TaskDefinition"]), str(lb["ContainerName"]), port, props.get("PlatformVersion"),
                      network or None, props.get("LaunchType"), hooks)


def check_group(settings: dict) -> None:
    """An ECS deployment group's settings, checked as CreateDeploymentGroup does."""
    from workshop.cloud.services.codedeploy.validation import error

    ecs_services = settings.get("ecsServices") or []
    if len(ecs_services) > 1 or any(not s.get("serviceName") or not s.get("clusterName") for s in ecs_services):
        raise error("InvalidECSServiceException",
                    "An ECS deployment group takes one ECS service, with its serviceName and clusterName.")
    pairs = (settings.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList")
    if pairs is not None:
        if len(pairs) != 1:
            raise error("InvalidTargetGroupPairException", "An ECS deployment group takes exactly one target "
                        "group pair.")
        pair = pairs[0]
        if len(pair.get("targetGroups") or []) != 2 or any(not g.get("name") for g in pair["targetGroups"]):
            raise error("InvalidTargetGroupPairException", "A target group pair names exactly two target groups.")
        if len((pair.get("prodTrafficRoute") or {}).get("listenerArns") or []) != 1:
            raise error("InvalidTargetGroupPairException", "prodTrafficRoute takes exactly one listener ARN.")
        if len((pair.get("testTrafficRoute") or {}).get("listenerArns") or []) > 1:
            raise error("InvalidTargetGroupPairException", "testTrafficRoute takes at most one listener ARN.")
    blue_green = settings.get("blueGreenDeploymentConfiguration") or {}
    ready = blue_green.get("deploymentReadyOption") or {}
    terminate = blue_green.get("terminateBlueInstancesOnDeploymentSuccess") or {}
    if ready.get("actionOnTimeout") not in (None, "CONTINUE_DEPLOYMENT", "STOP_DEPLOYMENT") or \
            terminate.get("action") not in (None, "TERMINATE", "KEEP_ALIVE") or \
            not 0 <= int(terminate.get("terminationWaitTimeInMinutes") or 0) <= 2880 or \
            not 0 <= int(ready.get("waitTimeInMinutes") or 0) <= 2880:
        raise error("InvalidBlueGreenDeploymentConfigurationException",
                    f"The blue/green deployment configuration {blue_green} is invalid.")


def add_target(backend, deployment) -> None:
    from workshop.cloud.services.codedeploy.deployments import Target

    service = (deployment.group.settings.get("ecsServices") or [{}])[0]
    target_id = f"{service.get('clusterName', '')}:{service.get('serviceName', '')}"
    arn = (f"arn:{backend.partition}:ecs:{backend.region_name}:{backend.account_id}:service/"
           f"{service.get('clusterName', '')}/{service.get('serviceName', '')}")
    deployment.targets[target_id] = Target(deployment, "ECSTarget", target_id, arn, ECS_EVENTS)


def rollback_state(failed) -> dict | None:
    """What a rollback of ``failed`` needs (its task sets, groups, listeners), or None when it
    made no replacement task set (nothing to roll back)."""
    state = getattr(failed, "ecs", None) or {}
    return copy.deepcopy(state) if state.get("replacement") else None


def info(d) -> dict[str, Any]:
    """GetDeployment's members an ECS deployment adds."""
    return {"instanceTerminationWaitTimeStarted": bool((getattr(d, "ecs", None) or {})
                                                        .get("termination_wait_started"))}
