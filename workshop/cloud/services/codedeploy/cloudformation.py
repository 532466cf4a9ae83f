"""CloudFormation resources AWS::CodeDeploy::Application, ::DeploymentConfig and
::DeploymentGroup: template properties become the same backend calls the API
makes (a group's Deployment property starts a deployment, as in AWS), so a
stack's group deploys exactly like one made with create_deployment_group."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register
from workshop.cloud.services.codedeploy.models import codedeploy_backend

# Members whose dicts keep CloudFormation's keys (the API spells them the same: Key, Value, Type).
_KEEP_KEYS = {"ec2TagFilters", "onPremisesInstanceTagFilters", "tags"}
_RENAMED = {"ECSServices": "ecsServices", "Ec2TagFilters": "ec2TagFilters", "Ec2TagSet": "ec2TagSet",
            "Ec2TagSetList": "ec2TagSetList"}
_BOOLEANS = {"enabled", "ignorePollAlarmFailure", "terminationHookEnabled", "ignoreApplicationStopFailures"}
_INTEGERS = {"value", "canaryPercentage", "canaryInterval", "linearPercentage", "linearInterval",
             "waitTimeInMinutes", "terminationWaitTimeInMinutes", "firstZoneMonitorDurationInSeconds",
             "monitorDurationInSeconds"}


def api_shape(value: Any, name: str = "") -> Any:
    """CloudFormation's PascalCase properties as the API's camelCase parameters."""
    if isinstance(value, list):
        if name in _KEEP_KEYS:
            return [dict(v) if isinstance(v, dict) else v for v in value]
        return [api_shape(v, name) for v in value]
    if not isinstance(value, dict):
        if name in _BOOLEANS and isinstance(value, str):
            return value.lower() == "true"
        if name in _INTEGERS and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        api_name = _RENAMED.get(key) or (key[:1].lower() + key[1:])
        out[api_name] = api_shape(item, api_name)
    # Tag sets: a list of {Ec2TagGroup: [filters]} is, in the API, a list of filter lists.
    for set_name, group_name in (("ec2TagSetList", "ec2TagGroup"), ("onPremisesTagSetList", "onPremisesTagGroup")):
        if set_name in out and isinstance(out[set_name], list):
            out[set_name] = [[dict(f) for f in (g.get(group_name) or [])] if isinstance(g, dict) else g
                             for g in out[set_name]]
    return out


def _retag(backend, arn: str, props: dict) -> None:
    """The resource's tags become the template's (removed ones go)."""
    backend.tagger.delete_all_tags_for_resource(arn)
    tags = api_shape(props.get("Tags") or [], "tags")
    if tags:
        backend.tag_resource(arn, tags)


# -- AWS::CodeDeploy::Application --------------------------------------------------

class CodeDeployApplication(CfnResource, CloudFormationModel):
    cfn_type = "AWS::CodeDeploy::Application"
    cfn_name_property = "ApplicationName"
    backend = staticmethod(codedeploy_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict) -> CodeDeployApplication:
        backend.create_application(name, props.get("ComputePlatform") or "Server",
                                   api_shape(props.get("Tags") or [], "tags"))
        return cls(name)

    def _update(self, backend, name: str, props: dict) -> CodeDeployApplication:
        _retag(backend, backend.application_arn(self.name), props)
        return self

    def _delete(self, backend) -> None:
        backend.delete_application(self.name)


class ApplicationRules(TypeRules):
    type_name = "AWS::CodeDeploy::Application"
    replace_on = frozenset({"ApplicationName", "ComputePlatform"})
    drift_properties = frozenset({"ApplicationName", "ComputePlatform"})

    def live(self, physical_id, props, account, region):
        app = codedeploy_backend(account, region).applications.get(physical_id)
        if app is None:
            return None
        return {"ApplicationName": app.name, "ComputePlatform": app.compute_platform}


# -- AWS::CodeDeploy::DeploymentConfig ------------------------------------------------

class CodeDeployDeploymentConfig(CfnResource, CloudFormationModel):
    # No _update: every property replaces a configuration (DeploymentConfigRules).
    cfn_type = "AWS::CodeDeploy::DeploymentConfig"
    cfn_name_property = "DeploymentConfigName"
    backend = staticmethod(codedeploy_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict) -> CodeDeployDeploymentConfig:
        params = api_shape(props)
        backend.create_deployment_config(name, params.get("computePlatform"), params.get("minimumHealthyHosts"),
                                         params.get("trafficRoutingConfig"), params.get("zonalConfig"))
        return cls(name)

    def _delete(self, backend) -> None:
        backend.delete_deployment_config(self.name)


class DeploymentConfigRules(TypeRules):
    type_name = "AWS::CodeDeploy::DeploymentConfig"
    # Every property of a deployment configuration requires replacement (it cannot be updated).
    replace_on = frozenset({"DeploymentConfigName", "ComputePlatform", "MinimumHealthyHosts",
                            "TrafficRoutingConfig", "ZonalConfig"})


# -- AWS::CodeDeploy::DeploymentGroup ------------------------------------------------------

_GROUP_PROPERTIES = ("AlarmConfiguration", "AutoRollbackConfiguration", "AutoScalingGroups",
                     "BlueGreenDeploymentConfiguration", "DeploymentConfigName", "DeploymentStyle", "ECSServices",
                     "Ec2TagFilters", "Ec2TagSet", "LoadBalancerInfo", "OnPremisesInstanceTagFilters",
                     "OnPremisesTagSet", "OutdatedInstancesStrategy", "ServiceRoleArn", "TriggerConfigurations",
                     "TerminationHookEnabled")


def _group_params(props: dict) -> dict:
    return api_shape({k: v for k, v in props.items() if k in _GROUP_PROPERTIES})


def _deploy(backend, application: str, group: str, props: dict) -> None:
    deployment = props.get("Deployment")
    if not deployment:
        return
    spec = api_shape(deployment)
    options = {k: spec[k] for k in ("description", "ignoreApplicationStopFailures") if k in spec}
    backend.create_deployment(application, group, spec.get("revision"), options, creator="CloudFormation")


class CodeDeployDeploymentGroup(CfnResource, CloudFormationModel):
    cfn_type = "AWS::CodeDeploy::DeploymentGroup"
    cfn_name_property = "DeploymentGroupName"
    backend = staticmethod(codedeploy_backend)

    @property
    def application(self) -> str:
        return self.properties.get("ApplicationName")  # a new ApplicationName replaces the group

    @classmethod
    def _create(cls, backend, name: str, props: dict) -> CodeDeployDeploymentGroup:
        application = props.get("ApplicationName")
        backend.create_deployment_group(application, name, _group_params(props),
                                        api_shape(props.get("Tags") or [], "tags"))
        try:
            _deploy(backend, application, name, props)
        except Exception:
            backend.delete_deployment_group(application, name)
            raise
        return cls(name)

    def _update(self, backend, name: str, props: dict) -> CodeDeployDeploymentGroup:
        params = _group_params(props)
        # What the template no longer names goes back to the default, as in AWS.
        defaults = {"alarmConfiguration": {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []},
                    "autoRollbackConfiguration": {"enabled": False, "events": []}, "autoScalingGroups": [],
                    "ec2TagFilters": [], "onPremisesInstanceTagFilters": [], "triggerConfigurations": [],
                    "ec2TagSet": {"ec2TagSetList": []}, "onPremisesTagSet": {"onPremisesTagSetList": []}}
        for key, value in defaults.items():
            params.setdefault(key, value)
        group = backend.update_deployment_group(self.application, self.name, None, params)
        _retag(backend, backend.group_arn(group.application.name, group.name), props)
        # Deploy again only when the Deployment property changed (self.properties: as last applied).
        if props.get("Deployment") and props.get("Deployment") != self.properties.get("Deployment"):
            _deploy(backend, self.application, self.name, props)
        return self

    def _delete(self, backend) -> None:
        backend.delete_deployment_group(self.application, self.name)


class DeploymentGroupRules(TypeRules):
    type_name = "AWS::CodeDeploy::DeploymentGroup"
    replace_on = frozenset({"ApplicationName", "DeploymentGroupName"})
    drift_properties = frozenset({"ServiceRoleArn", "DeploymentConfigName"})

    def live(self, physical_id, props, account, region):
        backend = codedeploy_backend(account, region)
        group = backend.deployment_groups.get(props.get("ApplicationName", ""), {}).get(physical_id)
        if group is None:
            return None
        return {"ServiceRoleArn": group.settings.get("serviceRoleArn"),
                "DeploymentConfigName": group.config_name}


for _rules in (ApplicationRules(), DeploymentConfigRules(), DeploymentGroupRules()):
    register(_rules)

