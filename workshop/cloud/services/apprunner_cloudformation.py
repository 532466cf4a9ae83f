"""CloudFormation's ``AWS::AppRunner::Service`` on the cfn_model base, through the workshop's
App Runner backend (its properties are the API's members), waiting as CloudFormation does:
the create until RUNNING (CREATE_FAILED fails it), an update until its operation ends, the
delete until DELETED. Ref is the ARN; GetAtt ServiceArn, ServiceId, ServiceUrl, Status.

Beside the package, not in ``apprunner/``: that package loads CloudFormation's extensions
first (services.ensure_loaded), so a module inside it cannot be one of them; App Runner's
modules are loaded here when a stack first uses the type."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud import services
from workshop.cloud.services.cfn_model import CfnResource, failure, wait_until
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register, tag_list

_MEMBERS = ("SourceConfiguration", "InstanceConfiguration", "HealthCheckConfiguration", "NetworkConfiguration",
            "ObservabilityConfiguration", "EncryptionConfiguration", "AutoScalingConfigurationArn")


def _backend(account_id: str, region: str):
    services.ensure_loaded("apprunner")
    from workshop.cloud.services.apprunner.models import apprunner_backends

    return apprunner_backends[account_id][region]


def _settle(backend, arn: str, operation, wanted: str) -> None:
    """Until ``operation`` ended; it must leave the service ``wanted``."""
    def ended() -> bool:
        if operation.status in ("IN_PROGRESS", "PENDING"):
            return False
        service = backend.services.get(arn)
        status = service.status if service is not None else "DELETED"
        if operation.status != "SUCCEEDED" or status != wanted:
            reason = getattr(operation, "reason", None) or f"the service is {status}"
            raise failure(f"Resource handler returned message: \"{operation.type} ended {operation.status}: "
                          f"{reason}\"")
        return True

    wait_until(ended, f"App Runner operation {operation.type} of {arn} did not end.")


class AppRunnerService(CfnResource, CloudFormationModel):
    cfn_type = "AWS::AppRunner::Service"
    cfn_name_property = "ServiceName"
    cfn_attributes = {"ServiceArn": "arn", "ServiceId": "id", "ServiceUrl": "url", "Status": "status"}
    ref_attribute = "arn"
    cfn_takes_time = True
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> AppRunnerService:
        service, operation = backend.create_service({"ServiceName": name, "Tags": tag_list(props.get("Tags")) or None,
                                                     **{k: props[k] for k in _MEMBERS if k in props}})
        _settle(backend, service.arn, operation, "RUNNING")
        return cls(service.name, arn=service.arn, id=service.id, url=service.url, status=service.status)

    def _update(self, backend, name: str, props: dict[str, Any]) -> AppRunnerService:
        old = self.properties
        changed = {k: props.get(k) for k in _MEMBERS if props.get(k) != old.get(k)}
        if changed:
            _, operation = backend.update_service({"ServiceArn": self.arn, **changed})
            _settle(backend, self.arn, operation, "RUNNING")
        if props.get("Tags") != old.get("Tags"):
            wanted = {t["Key"]: t["Value"] for t in tag_list(props.get("Tags"))}
            backend.untag_resource(self.arn, [t["Key"] for t in tag_list(old.get("Tags")) if t["Key"] not in wanted])
            if wanted:
                backend.tag_resource(self.arn, [{"Key": k, "Value": v} for k, v in wanted.items()])
        self.status = backend.services[self.arn].status
        return self

    def _delete(self, backend) -> None:
        service = backend.services.get(self.arn)
        if service is None or service.status == "DELETED":
            return
        wait_until(lambda: service.status != "OPERATION_IN_PROGRESS",
                   f"App Runner service {self.name} stayed OPERATION_IN_PROGRESS.")
        if service.status != "DELETED":
            _, operation = backend.delete_service(self.arn)
            _settle(backend, self.arn, operation, "DELETED")

    @classmethod
    def _restore(cls, backend, physical_id: str, props: dict[str, Any]) -> AppRunnerService:
        return cls(physical_id.split("/")[-2] if physical_id.count("/") >= 2 else physical_id, arn=physical_id,
                   id=physical_id.split("/")[-1], url="", status="")


class ServiceRules(TypeRules):
    type_name = "AWS::AppRunner::Service"
    replace_on = frozenset({"ServiceName", "EncryptionConfiguration"})
    drift_properties = frozenset({"ServiceName", *_MEMBERS, "Tags"})

    def live(self, physical_id, props, account, region):
        backend = _backend(account, region)
        service = backend.services.get(physical_id)
        if service is None or service.status == "DELETED":
            return None
        live = {k: v for k, v in service.describe(backend).items() if k in self.drift_properties and v is not None}
        live["ServiceName"] = service.name
        live["AutoScalingConfigurationArn"] = service.auto_scaling_arn
        tags = backend.list_tags(physical_id)
        if tags:
            live["Tags"] = tags
        return live


register(ServiceRules())
