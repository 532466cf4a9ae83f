"""CloudFormation resources AWS::CodeBuild::Project and AWS::CodeBuild::ReportGroup:
template properties become the same backend calls the API makes, so a
stack's project builds exactly like one made with create_project."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.codebuild.models import codebuild_backend, service_model, validate_input

# CloudFormation names that are not the API's name with a lower-case first letter.
_RENAMED = {"BuildSpec": "buildspec", "SourceIdentifier": "sourceIdentifier"}
# Property values that are free-form maps or strings: keep their keys as written.
_VERBATIM = {"Tags"}


def api_shape(value: Any) -> Any:
    """CloudFormation's PascalCase properties as the API's camelCase parameters."""
    if isinstance(value, list):
        return [api_shape(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = _RENAMED.get(key) or (key[:1].lower() + key[1:])
        if key in _VERBATIM and isinstance(item, list):
            item = [{"key": t.get("Key"), "value": t.get("Value")} for t in item if isinstance(t, dict)]
            out[name] = item
            continue
        out[name] = api_shape(item)
    return out


@lru_cache(maxsize=1)
def _create_members() -> frozenset[str]:
    return frozenset(service_model().operation_model("CreateProject").input_shape.members)


def _ints(params: dict, *names: str) -> None:
    for name in names:
        if name in params and isinstance(params[name], str) and params[name].strip().isdigit():
            params[name] = int(params[name])


class CodeBuildProject(CloudFormationModel):
    def __init__(self, account_id: str, region: str, name: str):
        self.account_id, self.region, self.name = account_id, region, name

    @property
    def arn(self) -> str:
        return codebuild_backend(self.account_id, self.region).arn(f"project/{self.name}")

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeBuild::Project"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @staticmethod
    def _params(resource_name: str, cloudformation_json: dict) -> dict:
        properties = dict(cloudformation_json.get("Properties") or {})
        properties["Name"] = resource_name
        params = api_shape(properties)
        _ints(params, "timeoutInMinutes", "queuedTimeoutInMinutes", "concurrentBuildLimit")
        env = params.get("environment") or {}
        if isinstance(env.get("privilegedMode"), str):
            env["privilegedMode"] = env["privilegedMode"].lower() == "true"
        if "badgeEnabled" in params and isinstance(params["badgeEnabled"], str):
            params["badgeEnabled"] = params["badgeEnabled"].lower() == "true"
        # Keep what the API knows (CloudFormation has a few extras, e.g. Triggers).
        known = {k: v for k, v in params.items() if k in _create_members()}
        return validate_input("CreateProject", known)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict,
                                        account_id: str, region_name: str, **kwargs: Any) -> CodeBuildProject:
        backend = codebuild_backend(account_id, region_name)
        backend.create_project(cls._params(resource_name, cloudformation_json))
        return cls(account_id, region_name, resource_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: CodeBuildProject, new_resource_name: str,
                                        cloudformation_json: dict, account_id: str,
                                        region_name: str) -> CodeBuildProject:
        backend = codebuild_backend(account_id, region_name)
        if new_resource_name != original_resource.name:  # a new name replaces the project
            created = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json,
                                                          account_id, region_name)
            backend.delete_project(original_resource.name)
            return created
        params = cls._params(new_resource_name, cloudformation_json)
        # Settings the template no longer names go back to their defaults.
        params.setdefault("description", "")
        params.setdefault("timeoutInMinutes", 60)
        params.setdefault("queuedTimeoutInMinutes", 480)
        params.setdefault("tags", [])
        backend.update_project(params)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict,
                                        account_id: str, region_name: str) -> None:
        codebuild_backend(account_id, region_name).delete_project(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        codebuild_backend(account_id, region_name).delete_project(self.name)

    def is_created(self) -> bool:
        return True


class CodeBuildReportGroup(CloudFormationModel):
    def __init__(self, account_id: str, region: str, arn: str, name: str, delete_reports: bool):
        self.account_id, self.region, self.arn, self.name = account_id, region, arn, name
        self.delete_reports = delete_reports

    @property
    def physical_resource_id(self) -> str:
        return self.arn  # Ref of a report group is its ARN

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeBuild::ReportGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "Name")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.arn
        if attribute_name == "Name":
            return self.name
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict,
                                        account_id: str, region_name: str, **kwargs: Any) -> CodeBuildReportGroup:
        props = cloudformation_json.get("Properties") or {}
        export = api_shape(props.get("ExportConfig") or {"ExportConfigType": "NO_EXPORT"})
        tags = api_shape({"Tags": props.get("Tags") or []})["tags"]
        group = codebuild_backend(account_id, region_name).create_report_group(
            resource_name, props.get("Type", "TEST"), export, tags)
        delete_reports = str(props.get("DeleteReports", "false")).lower() == "true"
        return cls(account_id, region_name, group.arn, group.name, delete_reports)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: CodeBuildReportGroup, new_resource_name: str,
                                        cloudformation_json: dict, account_id: str,
                                        region_name: str) -> CodeBuildReportGroup:
        props = cloudformation_json.get("Properties") or {}
        backend = codebuild_backend(account_id, region_name)
        if new_resource_name != original_resource.name or props.get("Type", "TEST") != \
                backend.get_report_group(original_resource.arn).type:
            created = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json,
                                                          account_id, region_name)
            original_resource.delete(account_id, region_name)
            return created
        export = api_shape(props.get("ExportConfig") or {"ExportConfigType": "NO_EXPORT"})
        tags = api_shape({"Tags": props.get("Tags") or []})["tags"]
        backend.update_report_group(original_resource.arn, export, tags)
        original_resource.delete_reports = str(props.get("DeleteReports", "false")).lower() == "true"
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict,
                                        account_id: str, region_name: str) -> None:
        props = cloudformation_json.get("Properties") or {}
        backend = codebuild_backend(account_id, region_name)
        group = backend.find_report_group(resource_name)
        if group is not None:
            backend.delete_report_group(group.arn, str(props.get("DeleteReports", "false")).lower() == "true")

    def delete(self, account_id: str, region_name: str) -> None:
        backend = codebuild_backend(account_id, region_name)
        if backend.find_report_group(self.arn) is not None:
            backend.delete_report_group(self.arn, self.delete_reports)

    def is_created(self) -> bool:
        return True
