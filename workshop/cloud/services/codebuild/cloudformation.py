"""CloudFormation resources AWS::CodeBuild::Project and AWS::CodeBuild::ReportGroup:
template properties become the same backend calls the API makes, so a
stack's project builds exactly like one made with create_project."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource, flag, integer
from workshop.cloud.services.cloudformation.resource_types import TypeRules, pascal, register
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


class CodeBuildProject(CfnResource, CloudFormationModel):
    cfn_type = "AWS::CodeBuild::Project"
    cfn_name_property = "Name"
    cfn_attributes = {"Arn": "arn"}
    backend = staticmethod(codebuild_backend)

    @property
    def arn(self) -> str:
        return codebuild_backend(self.account_id, self.region).arn(f"project/{self.name}")

    @staticmethod
    def _params(name: str, props: dict) -> dict:
        params = api_shape({**props, "Name": name})
        for key in ("TimeoutInMinutes", "QueuedTimeoutInMinutes", "ConcurrentBuildLimit"):
            api_name = key[:1].lower() + key[1:]
            if api_name in params:
                params[api_name] = integer(params[api_name], key)
        env = params.get("environment") or {}
        if "privilegedMode" in env:
            env["privilegedMode"] = flag(env["privilegedMode"])
        if "badgeEnabled" in params:
            params["badgeEnabled"] = flag(params["badgeEnabled"])
        # Keep what the API knows (CloudFormation has a few extras, e.g. Triggers).
        known = {k: v for k, v in params.items() if k in _create_members()}
        return validate_input("CreateProject", known)

    @classmethod
    def _create(cls, backend, name: str, props: dict) -> CodeBuildProject:
        backend.create_project(cls._params(name, props))
        return cls(name)

    def _update(self, backend, name: str, props: dict) -> CodeBuildProject:
        if name != self.name:  # a new name replaces the project
            return self._replace(backend, name, props)
        params = self._params(name, props)
        # Settings the template no longer names go back to their defaults.
        params.setdefault("description", "")
        params.setdefault("timeoutInMinutes", 60)
        params.setdefault("queuedTimeoutInMinutes", 480)
        params.setdefault("tags", [])
        backend.update_project(params)
        return self

    def _delete(self, backend) -> None:
        backend.delete_project(self.name)


class CodeBuildReportGroup(CfnResource, CloudFormationModel):
    cfn_type = "AWS::CodeBuild::ReportGroup"
    cfn_name_property = "Name"
    cfn_attributes = {"Arn": "arn", "Name": "name"}
    ref_attribute = "arn"  # Ref of a report group is its ARN
    backend = staticmethod(codebuild_backend)

    @staticmethod
    def _settings(props: dict) -> tuple[dict, list]:
        export = api_shape(props.get("ExportConfig") or {"ExportConfigType": "NO_EXPORT"})
        return export, api_shape({"Tags": props.get("Tags") or []})["tags"]

    @classmethod
    def _create(cls, backend, name: str, props: dict) -> CodeBuildReportGroup:
        group = backend.create_report_group(name, props.get("Type", "TEST"), *cls._settings(props))
        return cls(group.name, arn=group.arn)

    def _update(self, backend, name: str, props: dict) -> CodeBuildReportGroup:
        if name != self.name or props.get("Type", "TEST") != backend.get_report_group(self.arn).type:
            return self._replace(backend, name, props)
        backend.update_report_group(self.arn, *self._settings(props))
        return self

    def _delete(self, backend) -> None:
        if backend.find_report_group(self.arn) is not None:
            backend.delete_report_group(self.arn, flag(self.properties.get("DeleteReports")))


class ProjectRules(TypeRules):
    type_name = "AWS::CodeBuild::Project"
    drift_properties = frozenset({"Name", "Description", "Source", "Artifacts", "Environment", "ServiceRole",
                                  "TimeoutInMinutes", "QueuedTimeoutInMinutes", "Tags", "Cache", "LogsConfig",
                                  "SourceVersion", "ConcurrentBuildLimit"})

    def live(self, physical_id, props, account, region):
        project = codebuild_backend(account, region).projects.get(physical_id)
        if project is None:
            return None
        return pascal(project.to_dict())


register(ProjectRules())
