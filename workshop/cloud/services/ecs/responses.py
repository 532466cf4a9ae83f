"""ECS's wire format where moto's falls short: create_service passes on
``deploymentConfiguration`` and ``healthCheckGracePeriodSeconds`` (moto dropped them),
the service deployment operations moto lacks, and Express Mode's (express.py)."""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ecs.responses import EC2ContainerServiceResponse

from workshop.cloud.services import extend

_BRIEF = ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt", "finishedAt",
          "status", "statusReason")


@extend(EC2ContainerServiceResponse)
class _Responses:
    def create_service(self) -> ActionResult:
        service = self.ecs_backend.create_service(
            self._get_param("cluster", "default"), self._get_param("serviceName"),
            self._get_int_param("desiredCount"), self._get_param("taskDefinition"),
            self._get_param("loadBalancers"), self._get_param("schedulingStrategy"), self._get_param("tags"),
            self._get_param("deploymentController"), self._get_param("launchType"),
            network_configuration=self._get_param("networkConfiguration"),
            service_registries=self._get_param("serviceRegistries"),
            platform_version=self._get_param("platformVersion"),
            propagate_tags=self._get_param("propagateTags") or "NONE", role_arn=self._get_param("role"),
            deployment_configuration=self._get_param("deploymentConfiguration"),
            health_check_grace_period_seconds=self._get_param("healthCheckGracePeriodSeconds"))
        return ActionResult({"service": service})

    def list_service_deployments(self) -> ActionResult:
        records = self.ecs_backend.list_service_deployments(
            self._get_param("cluster"), self._get_param("service"), self._get_param("status"),
            self._get_param("createdAt"))
        briefs = []
        for record in records:
            brief = {k: record[k] for k in _BRIEF if k in record}
            brief["targetServiceRevisionArn"] = record["targetServiceRevision"]["arn"]
            briefs.append(brief)
        start = int(self._get_param("nextToken") or 0)
        size = int(self._get_param("maxResults") or 20)
        page = briefs[start:start + size]
        result = {"serviceDeployments": page}
        if start + size < len(briefs):
            result["nextToken"] = str(start + size)
        return ActionResult(result)

    def describe_service_deployments(self) -> ActionResult:
        found, failures = self.ecs_backend.describe_service_deployments(
            self._get_param("serviceDeploymentArns") or [])
        return ActionResult({"serviceDeployments": found, "failures": failures})

    def stop_service_deployment(self) -> ActionResult:
        record = self.ecs_backend.stop_service_deployment(self._get_param("serviceDeploymentArn"),
                                                          self._get_param("stopType"))
        return ActionResult({"serviceDeploymentArn": record["serviceDeploymentArn"]})

    # -- Express Mode (express.py) -------------------------------------------------------------
    def create_express_gateway_service(self) -> ActionResult:
        record = self.ecs_backend.create_express_gateway_service(self._get_params())
        return ActionResult({"service": _clean(self.ecs_backend.express_view(record, tags=True))})

    def describe_express_gateway_service(self) -> ActionResult:
        record = self.ecs_backend.describe_express_gateway_service(self._get_param("serviceArn"))
        tags = "TAGS" in (self._get_param("include") or [])
        return ActionResult({"service": _clean(self.ecs_backend.express_view(record, tags=tags))})

    def update_express_gateway_service(self) -> ActionResult:
        record, target = self.ecs_backend.update_express_gateway_service(self._get_params())
        view = self.ecs_backend.express_view(record)
        return ActionResult({"service": _clean({
            **{k: view[k] for k in ("serviceArn", "cluster", "serviceName", "status", "createdAt", "updatedAt")},
            "targetConfiguration": {k: v for k, v in target.items() if not k.startswith("ws_")}})})

    def delete_express_gateway_service(self) -> ActionResult:
        record = self.ecs_backend.delete_express_gateway_service(self._get_param("serviceArn"))
        return ActionResult({"service": _clean(self.ecs_backend.express_view(record))})

    def describe_service_revisions(self) -> ActionResult:
        found, failures = self.ecs_backend.describe_service_revisions(self._get_param("serviceRevisionArns") or [])
        return ActionResult({"serviceRevisions": _clean(found), "failures": failures})

    def delete_task_set(self) -> ActionResult:
        task_set = self.ecs_backend.delete_task_set(self._get_param("cluster", "default"), self._get_param("service"),
                                                    self._get_param("taskSet"), bool(self._get_param("force")))
        return ActionResult({"taskSet": task_set})


def _clean(value):
    """Without the null members (botocore's parser refuses null numbers)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
