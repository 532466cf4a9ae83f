"""CloudFormation resource AWS::CodePipeline::Pipeline: template properties
become the same backend calls the API makes (so a stack's pipeline runs like
one made with create_pipeline); Ref is the name, GetAtt Version the version."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.codepipeline.models import codepipeline_backend


def _lower(key: str) -> str:
    return key[:1].lower() + key[1:]


def _api(value: Any, verbatim: bool = False) -> Any:
    """PascalCase template properties as the API's camelCase members; an
    action's Configuration keeps its keys, with every value as a string."""
    if isinstance(value, list):
        return [_api(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "Configuration" and isinstance(item, dict):
            out["configuration"] = {k: _text(v) for k, v in item.items()}
        elif key == "ArtifactStores" and isinstance(item, list):
            out["artifactStores"] = {s.get("Region"): _api(s.get("ArtifactStore") or {}) for s in item}
        elif key == "RunOrder":
            out["runOrder"] = int(item)
        else:
            out[_lower(key)] = _api(item)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value)
    return str(value)


def _declaration(name: str, properties: dict) -> tuple[dict, list[dict]]:
    keep = ("RoleArn", "ArtifactStore", "ArtifactStores", "Stages", "PipelineType", "ExecutionMode",
            "Variables", "Triggers")
    pipeline = _api({k: v for k, v in properties.items() if k in keep})
    pipeline["name"] = name
    tags = [{"key": t.get("Key"), "value": t.get("Value", "")} for t in properties.get("Tags") or []]
    return pipeline, tags


class CodePipelinePipeline(CloudFormationModel):
    def __init__(self, account_id: str, region: str, name: str):
        self.account_id, self.region, self.name = account_id, region, name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodePipeline::Pipeline"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Version"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Version":
            declaration, _ = codepipeline_backend(self.account_id, self.region).get_pipeline(self.name)
            return str(declaration["version"])
        raise UnformattedGetAttTemplateException()

    @staticmethod
    def _disable_transitions(backend, name: str, properties: dict) -> None:
        for item in properties.get("DisableInboundStageTransitions") or []:
            backend.set_transition(name, item.get("StageName"), "Inbound", False, item.get("Reason"),
                                   f"arn:aws:iam::{backend.account_id}:root")

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                        region_name: str, **kwargs: Any) -> CodePipelinePipeline:
        properties = cloudformation_json.get("Properties") or {}
        name = properties.get("Name") or resource_name
        backend = codepipeline_backend(account_id, region_name)
        pipeline, tags = _declaration(name, properties)
        backend.create_pipeline(pipeline, tags)
        cls._disable_transitions(backend, name, properties)
        return cls(account_id, region_name, name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: CodePipelinePipeline, new_resource_name: str,
                                        cloudformation_json: dict, account_id: str,
                                        region_name: str) -> CodePipelinePipeline:
        properties = cloudformation_json.get("Properties") or {}
        name = properties.get("Name") or new_resource_name
        backend = codepipeline_backend(account_id, region_name)
        if name != original_resource.name:  # a new name replaces the pipeline
            created = cls.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
            backend.delete_pipeline(original_resource.name)
            return created
        pipeline, tags = _declaration(name, properties)
        backend.update_pipeline(pipeline)
        existing = backend.get(name)
        existing.tags = {t["key"]: t["value"] for t in tags}
        for stage in [s["name"] for s in pipeline.get("stages") or []][1:]:
            if not existing.transition(stage).get("enabled", True):
                backend.set_transition(name, stage, "Inbound", True, None, f"arn:aws:iam::{account_id}:root")
        cls._disable_transitions(backend, name, properties)
        if str(properties.get("RestartExecutionOnUpdate", "false")).lower() == "true":
            backend.start_for_change(existing, {"triggerType": "StartPipelineExecution",
                                                "triggerDetail": "CloudFormation RestartExecutionOnUpdate"}, {})
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                        region_name: str) -> None:
        properties = cloudformation_json.get("Properties") or {}
        codepipeline_backend(account_id, region_name).delete_pipeline(properties.get("Name") or resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        codepipeline_backend(account_id, region_name).delete_pipeline(self.name)

    def is_created(self) -> bool:
        return True
