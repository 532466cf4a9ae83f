"""CloudFormation resources AWS::CodeDeploy::Application, ::DeploymentConfig and
::DeploymentGroup: template properties become the same backend calls the API
makes (a group's Deployment property starts a deployment, as in AWS), so a
stack's group deploys exactly like one made with create_deployment_group."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

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


# -- AWS::CodeDeploy::Application --------------------------------------------------

class CodeDeployApplication(CloudFormationModel):
    def __init__(self, account_id: str, region: str, name: str):
        self.account_id, self.region, self.name = account_id, region, name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ApplicationName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeDeploy::Application"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                        region_name: str, **kwargs: Any) -> CodeDeployApplication:
        props = cloudformation_json.get("Properties") or {}
        codedeploy_backend(account_id, region_name).create_application(
            resource_name, props.get("ComputePlatform") or "Server", api_shape(props.get("Tags") or [], "tags"))
        return cls(account_id, region_name, resource_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: CodeDeployApplication, new_resource_name: str,
                                        cloudformation_json: dict, account_id: str,
                                        region_name: str) -> CodeDeployApplication:
        props = cloudformation_json.get("Properties") or {}
        backend = codedeploy_backend(account_id, region_name)
        arn = backend.application_arn(original_resource.name)
        backend.tagger.delete_all_tags_for_resource(arn)
        tags = api_shape(props.get("Tags") or [], "tags")
        if tags:
            backend.tag_resource(arn, tags)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                        region_name: str) -> None:
        codedeploy_backend(account_id, region_name).delete_application(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        codedeploy_backend(account_id, region_name).delete_application(self.name)

    def is_created(self) -> bool:
        return True


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

class CodeDeployDeploymentConfig(CloudFormationModel):
    def __init__(self, account_id: str, region: str, name: str):
        self.account_id, self.region, self.name = account_id, region, name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DeploymentConfigName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeDeploy::DeploymentConfig"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                        region_name: str, **kwargs: Any) -> CodeDeployDeploymentConfig:
        params = api_shape(cloudformation_json.get("Properties") or {})
        codedeploy_backend(account_id, region_name).create_deployment_config(
            resource_name, params.get("computePlatform"), params.get("minimumHealthyHosts"),
            params.get("trafficRoutingConfig"), params.get("zonalConfig"))
        return cls(account_id, region_name, resource_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                        region_name: str) -> None:
        codedeploy_backend(account_id, region_name).delete_deployment_config(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        codedeploy_backend(account_id, region_name).delete_deployment_config(self.name)

    def is_created(self) -> bool:
        return True


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


class CodeDeployDeploymentGroup(CloudFormationModel):
    def __init__(self, account_id: str, region: str, application: str, name: str):
        self.account_id, self.region, self.application, self.name = account_id, region, application, name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DeploymentGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeDeploy::DeploymentGroup"

    @staticmethod
    def _params(props: dict) -> dict:
        return api_shape({k: v for k, v in props.items() if k in _GROUP_PROPERTIES})

    @staticmethod
    def _deploy(backend, application: str, group: str, props: dict) -> None:
        deployment = props.get("Deployment")
        if not deployment:
            return
        spec = api_shape(deployment)
        options = {k: spec[k] for k in ("description", "ignoreApplicationStopFailures") if k in spec}
        backend.create_deployment(application, group, spec.get("revision"), options, creator="CloudFormation")

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                        region_name: str, **kwargs: Any) -> CodeDeployDeploymentGroup:
        props = cloudformation_json.get("Properties") or {}
        backend = codedeploy_backend(account_id, region_name)
        application = props.get("ApplicationName")
        backend.create_deployment_group(application, resource_name, cls._params(props),
                                        api_shape(props.get("Tags") or [], "tags"))
        try:
            cls._deploy(backend, application, resource_name, props)
        except Exception:
            backend.delete_deployment_group(application, resource_name)
            raise
        model = cls(account_id, region_name, application, resource_name)
        model._deployment = props.get("Deployment")   # an update deploys again only when this changes
        return model

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: CodeDeployDeploymentGroup, new_resource_name: str,
                                        cloudformation_json: dict, account_id: str,
                                        region_name: str) -> CodeDeployDeploymentGroup:
        props = cloudformation_json.get("Properties") or {}
        backend = codedeploy_backend(account_id, region_name)
        params = cls._params(props)
        # What the template no longer names goes back to the default, as in AWS.
        defaults = {"alarmConfiguration": {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []},
                    "autoRollbackConfiguration": {"enabled": False, "events": []}, "autoScalingGroups": [],
                    "ec2TagFilters": [], "onPremisesInstanceTagFilters": [], "triggerConfigurations": [],
                    "ec2TagSet": {"ec2TagSetList": []}, "onPremisesTagSet": {"onPremisesTagSetList": []}}
        for key, value in defaults.items():
            params.setdefault(key, value)
        group = backend.update_deployment_group(original_resource.application, original_resource.name,
                                                None, params)
        arn = backend.group_arn(group.application.name, group.name)
        backend.tagger.delete_all_tags_for_resource(arn)
        tags = api_shape(props.get("Tags") or [], "tags")
        if tags:
            backend.tag_resource(arn, tags)
        old_deployment = getattr(original_resource, "_deployment", None)
        if props.get("Deployment") and props.get("Deployment") != old_deployment:
            cls._deploy(backend, original_resource.application, original_resource.name, props)
        original_resource._deployment = props.get("Deployment")
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                        region_name: str) -> None:
        props = cloudformation_json.get("Properties") or {}
        codedeploy_backend(account_id, region_name).delete_deployment_group(props.get("ApplicationName"),
                                                                            resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        codedeploy_backend(account_id, region_name).delete_deployment_group(self.application, self.name)

    def is_created(self) -> bool:
        return True


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


def _forget_cached_models() -> None:
    """moto caches its model list on first use; a stack made before this import would miss ours."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


_forget_cached_models()
