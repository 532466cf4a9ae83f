"""CloudFormation's ``AWS::ECS::Cluster``, ``::TaskDefinition`` and ``::Service`` on the
cfn_model base (in place of moto's, which dropped a service's load balancers, network and
deployment configuration and a definition's cpu, network mode and roles): each goes
through the backend calls the ECS API makes, so a stack's service runs tasks, registers
them with its target groups and rolls deployments like one made by hand. As CloudFormation
does, a service's create and update wait until it is stable (its deployment COMPLETED,
runningCount = desiredCount) and fail when the circuit breaker trips; its delete waits
for the tasks to stop. Stacks with a service therefore run in the background."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ecs.exceptions import ClusterNotFoundException, ServiceNotFoundException, TaskDefinitionNotFoundException
from moto.ecs.models import ecs_backends

from workshop.cloud.services.cfn_model import CfnResource, failure, flag, integer, wait_until
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register, tag_list
from workshop.cloud.services.ecs import models  # noqa: F401  (the workshop's ECS backend methods)

# Maps whose keys are the user's own (log driver options, labels): kept as written.
_USER_KEYS = {"options", "dockerLabels", "Options", "DockerLabels", "secretOptions", "SecretOptions"}
_INTEGERS = {"containerPort", "hostPort", "cpu", "memory", "memoryReservation", "interval", "timeout", "retries",
             "startPeriod", "softLimit", "hardLimit", "startTimeout", "stopTimeout", "sizeInGiB",
             "maximumPercent", "minimumHealthyPercent", "weight", "base"}
_BOOLEANS = {"essential", "enable", "rollback", "readOnly", "privileged", "interactive", "pseudoTerminal",
             "initProcessEnabled", "readOnlyRootFilesystem", "disableNetworking"}
# A task definition's cpu and memory are strings in the API; a container's are integers.
_TASK_STRINGS = {"cpu", "memory"}


def _backend(account_id: str, region: str):
    return ecs_backends[account_id][region]


def api_shape(value: Any, path: str = "", top: bool = True) -> Any:
    """CloudFormation's PascalCase properties as the ECS API's camelCase members."""
    if isinstance(value, list):
        return [api_shape(v, path, False) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _USER_KEYS:
                out[key[:1].lower() + key[1:]] = dict(item) if isinstance(item, dict) else item
                continue
            name = key[:1].lower() + key[1:]
            out[name] = api_shape(item, f"{path}/{key}", False) if isinstance(item, (dict, list)) \
                else _scalar(name, item, f"{path}/{key}", top)
        return out
    return value


def _scalar(name: str, value: Any, path: str, top: bool) -> Any:
    if top and name in _TASK_STRINGS:
        return None if value is None else str(value)
    if name in _INTEGERS:
        return integer(value, path.lstrip("/"))
    if name in _BOOLEANS:
        return flag(value)
    return value


def cfn_shape(value: Any) -> Any:
    """An API (camelCase) shape in CloudFormation's PascalCase, for drift read-backs."""
    if isinstance(value, list):
        return [cfn_shape(v) for v in value]
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: (dict(item) if key in _USER_KEYS and isinstance(item, dict)
                                            else cfn_shape(item))
                for key, item in value.items()}
    return value


def ecs_tags(tags: Any) -> list[dict[str, str]]:
    return [{"key": t["Key"], "value": t["Value"]} for t in tag_list(tags)]


def cfn_tags(tags: Any) -> list[dict[str, str]]:
    return [{"Key": t["key"], "Value": t["value"]} for t in tags or [] if not t["key"].startswith("aws:")]


def _retag(backend, arn: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    if old.get("Tags") == new.get("Tags"):
        return
    wanted = {t["Key"]: t["Value"] for t in tag_list(new.get("Tags"))}
    gone = [t["Key"] for t in tag_list(old.get("Tags")) if t["Key"] not in wanted]
    if gone:
        backend.untag_resource(arn, gone)
    if wanted:
        backend.tag_resource(arn, wanted)


# -- AWS::ECS::Cluster ----------------------------------------------------------------

class EcsCluster(CfnResource, CloudFormationModel):
    cfn_type = "AWS::ECS::Cluster"
    cfn_name_property = "ClusterName"
    cfn_attributes = {"Arn": "arn"}
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> EcsCluster:
        existing = backend.clusters.get(name)
        if existing is not None and existing.status == "ACTIVE":
            raise failure(f"Resource of type 'AWS::ECS::Cluster' with identifier '{name}' already exists.")
        cluster = backend.create_cluster(
            name, ecs_tags(props.get("Tags")) or None, api_shape(props.get("ClusterSettings")),
            api_shape(props.get("Configuration")), props.get("CapacityProviders"),
            api_shape(props.get("DefaultCapacityProviderStrategy")),
            service_connect_defaults=api_shape(props.get("ServiceConnectDefaults")))
        return cls(cluster.name, arn=cluster.arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> EcsCluster:
        old = self.properties
        backend.update_cluster(self.name, api_shape(props.get("ClusterSettings")) or
                               [{"name": "containerInsights", "value": "disabled"}],
                               api_shape(props.get("Configuration")) or {},
                               api_shape(props.get("ServiceConnectDefaults")))
        if props.get("CapacityProviders") != old.get("CapacityProviders") or \
                props.get("DefaultCapacityProviderStrategy") != old.get("DefaultCapacityProviderStrategy"):
            backend.put_cluster_capacity_providers(self.name, props.get("CapacityProviders") or [],
                                                   api_shape(props.get("DefaultCapacityProviderStrategy")) or [])
        _retag(backend, self.arn, old, props)
        return self

    def _delete(self, backend) -> None:
        cluster = backend.clusters.get(self.name)
        if cluster is not None and cluster.status == "ACTIVE":
            backend.delete_cluster(self.name)

    @classmethod
    def _restore(cls, backend, physical_id: str, props: dict[str, Any]) -> EcsCluster:
        return cls(physical_id, arn="")


class ClusterRules(TypeRules):
    type_name = "AWS::ECS::Cluster"
    replace_on = frozenset({"ClusterName"})
    drift_properties = frozenset({"ClusterName", "ClusterSettings", "Configuration", "CapacityProviders",
                                  "DefaultCapacityProviderStrategy", "ServiceConnectDefaults", "Tags"})

    def live(self, physical_id, props, account, region):
        cluster = _backend(account, region).clusters.get(physical_id)
        if cluster is None or cluster.status != "ACTIVE":
            return None
        live: dict[str, Any] = {"ClusterName": cluster.name, "ClusterSettings": cfn_shape(cluster.settings or [])}
        for prop, value in (("Configuration", cluster.configuration),
                            ("CapacityProviders", cluster.capacity_providers),
                            ("DefaultCapacityProviderStrategy", cluster.default_capacity_provider_strategy),
                            ("ServiceConnectDefaults", cluster.service_connect_defaults)):
            if value:
                live[prop] = cfn_shape(value)
        if cfn_tags(cluster.tags):
            live["Tags"] = cfn_tags(cluster.tags)
        return live


# -- AWS::ECS::TaskDefinition ----------------------------------------------------------

_DEFINITION_MEMBERS = ("ContainerDefinitions", "Volumes", "NetworkMode", "PlacementConstraints",
                       "RequiresCompatibilities", "Cpu", "Memory", "TaskRoleArn", "ExecutionRoleArn",
                       "ProxyConfiguration", "InferenceAccelerators", "RuntimePlatform", "IpcMode", "PidMode",
                       "EphemeralStorage")


class EcsTaskDefinition(CfnResource, CloudFormationModel):
    # Every property but Tags makes a new revision (TaskDefinitionRules.replace_on).
    cfn_type = "AWS::ECS::TaskDefinition"
    cfn_attributes = {"TaskDefinitionArn": "arn"}
    ref_attribute = "arn"
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> EcsTaskDefinition:
        args = api_shape({k: props[k] for k in _DEFINITION_MEMBERS if k in props})
        definition = backend.register_task_definition(
            props.get("Family") or name, args.pop("containerDefinitions", None) or [],
            volumes=args.get("volumes"), network_mode=args.get("networkMode"),
            tags=ecs_tags(props.get("Tags")) or None, placement_constraints=args.get("placementConstraints"),
            requires_compatibilities=args.get("requiresCompatibilities"), cpu=args.get("cpu"),
            memory=args.get("memory"), task_role_arn=args.get("taskRoleArn"),
            execution_role_arn=args.get("executionRoleArn"), proxy_configuration=args.get("proxyConfiguration"),
            inference_accelerators=args.get("inferenceAccelerators"), runtime_platform=args.get("runtimePlatform"),
            ipc_mode=args.get("ipcMode"), pid_mode=args.get("pidMode"),
            ephemeral_storage=args.get("ephemeralStorage"))
        return cls(definition.family, arn=definition.arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> EcsTaskDefinition:
        _retag(backend, self.arn, self.properties, props)
        return self

    def _delete(self, backend) -> None:
        try:
            definition = backend.describe_task_definition(self.arn)
        except (TaskDefinitionNotFoundException, ValueError):
            return
        if definition.status == "ACTIVE":
            backend.deregister_task_definition(self.arn)


class TaskDefinitionRules(TypeRules):
    type_name = "AWS::ECS::TaskDefinition"
    replace_on = frozenset({"Family", *_DEFINITION_MEMBERS})
    drift_properties = frozenset({"Family", *_DEFINITION_MEMBERS, "Tags"})

    def live(self, physical_id, props, account, region):
        try:
            definition = _backend(account, region).describe_task_definition(physical_id)
        except (TaskDefinitionNotFoundException, ValueError):
            return None
        if definition.status != "ACTIVE":
            return None   # deregistered: gone, for CloudFormation (the revision stays describable)
        live: dict[str, Any] = {"Family": definition.family,
                                "ContainerDefinitions": cfn_shape(definition.container_definitions)}
        for prop, attribute in (("Volumes", "volumes"), ("NetworkMode", "network_mode"),
                                ("PlacementConstraints", "placement_constraints"),
                                ("RequiresCompatibilities", "requires_compatibilities"), ("Cpu", "cpu"),
                                ("Memory", "memory"), ("TaskRoleArn", "task_role_arn"),
                                ("ExecutionRoleArn", "execution_role_arn"),
                                ("ProxyConfiguration", "proxy_configuration"),
                                ("InferenceAccelerators", "inference_accelerators"),
                                ("RuntimePlatform", "runtime_platform"), ("IpcMode", "ipc_mode"),
                                ("PidMode", "pid_mode"), ("EphemeralStorage", "ephemeral_storage")):
            value = getattr(definition, attribute, None)
            if value:
                live[prop] = cfn_shape(value)
        if cfn_tags(definition.tags):
            live["Tags"] = cfn_tags(definition.tags)
        return live


# -- AWS::ECS::Service -------------------------------------------------------------------

def _cluster_name(props: dict[str, Any]) -> str:
    return str(props.get("Cluster") or "default").split("/")[-1]


def _service_arguments(props: dict[str, Any]) -> dict[str, Any]:
    """update_service's (and create_service's) arguments from the template, as the API's."""
    return {"task_definition": props.get("TaskDefinition"),
            "desired_count": integer(props.get("DesiredCount"), "DesiredCount"),
            "load_balancers": api_shape(props.get("LoadBalancers")),
            "network_configuration": api_shape(props.get("NetworkConfiguration")),
            "deployment_configuration": api_shape(props.get("DeploymentConfiguration")),
            "health_check_grace_period_seconds": integer(props.get("HealthCheckGracePeriodSeconds"),
                                                         "HealthCheckGracePeriodSeconds"),
            "platform_version": props.get("PlatformVersion"),
            "propagate_tags": props.get("PropagateTags"),
            "service_registries": api_shape(props.get("ServiceRegistries"))}


class EcsService(CfnResource, CloudFormationModel):
    cfn_type = "AWS::ECS::Service"
    cfn_name_property = "ServiceName"
    cfn_attributes = {"Name": "name", "ServiceArn": "arn"}
    ref_attribute = "arn"
    cfn_takes_time = True
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> EcsService:
        cluster = _cluster_name(props)
        args = _service_arguments(props)
        desired = args["desired_count"]
        service = backend.create_service(
            cluster, name, 1 if desired is None else desired, args["task_definition"],
            load_balancers=args["load_balancers"], scheduling_strategy=props.get("SchedulingStrategy"),
            tags=ecs_tags(props.get("Tags")) or None,
            deployment_controller=api_shape(props.get("DeploymentController")),
            launch_type=props.get("LaunchType"), network_configuration=args["network_configuration"],
            service_registries=args["service_registries"], platform_version=args["platform_version"],
            propagate_tags=args["propagate_tags"] or "NONE", role_arn=props.get("Role"),
            deployment_configuration=args["deployment_configuration"],
            health_check_grace_period_seconds=args["health_check_grace_period_seconds"])
        model = cls(service.name, arn=service.arn, cluster=cluster)
        model._wait_stable(backend, service.deployments[0]["id"] if service.deployments else None)
        return model

    def _update(self, backend, name: str, props: dict[str, Any]) -> EcsService:
        args = {k: v for k, v in _service_arguments(props).items() if v is not None}
        service = backend._get_service(self.cluster, self.name)
        before = service.deployments[0]["id"] if service.deployments else None
        service = backend.update_service({"cluster": self.cluster, "service": self.name, **args})
        _retag(backend, self.arn, self.properties, props)
        started = service.deployments[0]["id"] if service.deployments else None
        self._wait_stable(backend, started if started != before else None)
        return self

    def _wait_stable(self, backend, deployment_id: str | None) -> None:
        """Until the service is stable, as CloudFormation waits; a failed deployment fails the resource."""
        def stable() -> bool:
            service = backend.services.get(f"{self.cluster}:{self.name}")
            if service is None or service.status != "ACTIVE":
                raise failure(f"Service {self.name} was deleted while CloudFormation waited for it to stabilize.")
            if (service.deployment_controller or {}).get("type", "ECS") != "ECS":
                return True   # CodeDeploy or an external controller deploys it, not ECS
            # The deployment's record, not only the deployment: a rollback that completes between
            # two looks has already removed the failed deployment from the service.
            mine = next((d for d in service.deployments if d["id"] == deployment_id), None)
            record = next((r for r in getattr(service, "ws_service_deployments", [])
                           if r.get("ws_deployment_id") == deployment_id), None)
            if (mine is not None and mine["rolloutState"] == "FAILED") or (record is not None and (
                    record["status"].startswith("ROLLBACK") or record["status"] in ("STOPPED", "STOP_REQUESTED"))):
                if (record or {}).get("deploymentCircuitBreaker", {}).get("status") == "TRIGGERED" or \
                        "circuit" in str((mine or {}).get("rolloutStateReason", "")).lower():
                    reason = "ECS Deployment Circuit Breaker was triggered"
                else:
                    reason = (record or {}).get("statusReason") or (mine or {}).get("rolloutStateReason")
                raise failure(f"Error occurred during operation '{reason}'.")
            primary = service.deployments[0] if service.deployments else None
            return len(service.deployments) <= 1 and (primary is None or primary["rolloutState"] == "COMPLETED") \
                and service.running_count == service.desired_count

        wait_until(stable, f"Service {self.name} did not stabilize.")

    def _delete(self, backend) -> None:
        service = backend.services.get(f"{self.cluster}:{self.name}")
        if service is None or service.status != "ACTIVE":
            return
        backend.delete_service(self.cluster, self.name, True)
        # CloudFormation's delete ends when the service is INACTIVE: its tasks stopped.
        wait_until(lambda: service.status == "INACTIVE", f"Service {self.name} did not stop its tasks.")

    @classmethod
    def _restore(cls, backend, physical_id: str, props: dict[str, Any]) -> EcsService:
        return cls(physical_id.split("/")[-1], arn=physical_id, cluster=_cluster_name(props))


class ServiceRules(TypeRules):
    type_name = "AWS::ECS::Service"
    replace_on = frozenset({"Cluster", "ServiceName", "LaunchType", "DeploymentController", "SchedulingStrategy",
                            "Role"})
    drift_properties = frozenset({"ServiceName", "Cluster", "TaskDefinition", "DesiredCount", "LaunchType",
                                  "LoadBalancers", "NetworkConfiguration", "DeploymentConfiguration",
                                  "DeploymentController", "HealthCheckGracePeriodSeconds", "SchedulingStrategy",
                                  "PlatformVersion", "PropagateTags", "ServiceRegistries", "Tags"})

    def live(self, physical_id, props, account, region):
        backend = _backend(account, region)
        try:
            service = backend._get_service(_cluster_name(props), physical_id.split("/")[-1])
        except (ClusterNotFoundException, ServiceNotFoundException):
            return None
        if service.status != "ACTIVE":
            return None
        live: dict[str, Any] = {
            "ServiceName": service.name, "DesiredCount": service.desired_count, "LaunchType": service.launch_type,
            "Cluster": service.cluster_arn if str(props.get("Cluster", "")).startswith("arn:") else service.cluster_name,
            "TaskDefinition": _as_given(service.task_definition, props.get("TaskDefinition")),
            "LoadBalancers": cfn_shape(service.load_balancers or []),
            "DeploymentConfiguration": cfn_shape(service.deployment_configuration),
            "DeploymentController": cfn_shape(service.deployment_controller),
            "HealthCheckGracePeriodSeconds": getattr(service, "health_check_grace_period_seconds", 0),
            "SchedulingStrategy": service.scheduling_strategy, "PropagateTags": service.propagate_tags,
        }
        if service.network_configuration:
            live["NetworkConfiguration"] = cfn_shape(service.network_configuration)
        if service.platform_version:
            live["PlatformVersion"] = service.platform_version
        if service.service_registries:
            live["ServiceRegistries"] = cfn_shape(service.service_registries)
        if cfn_tags(service.tags):
            live["Tags"] = cfn_tags(service.tags)
        return live


def _as_given(arn: str | None, given: Any) -> str | None:
    """A task definition's ARN in the template's spelling (ARN, family:revision or family)."""
    if not arn or not isinstance(given, str) or given.startswith("arn:"):
        return arn
    family_revision = arn.split("/")[-1]
    return family_revision if ":" in given else family_revision.split(":")[0]


for _rules in (ClusterRules(), TaskDefinitionRules(), ServiceRules()):
    register(_rules)
