"""CloudFormation resource AWS::CodePipeline::Pipeline: template properties
become the same backend calls the API makes (so a stack's pipeline runs like
one made with create_pipeline); Ref is the name, GetAtt Version the version."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource, flag, integer
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
            out["runOrder"] = integer(item, "RunOrder")
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


def _disable_transitions(backend, name: str, properties: dict) -> None:
    for item in properties.get("DisableInboundStageTransitions") or []:
        backend.set_transition(name, item.get("StageName"), "Inbound", False, item.get("Reason"),
                               f"arn:aws:iam::{backend.account_id}:root")


class CodePipelinePipeline(CfnResource, CloudFormationModel):
    cfn_type = "AWS::CodePipeline::Pipeline"
    cfn_name_property = "Name"
    cfn_attributes = {"Version": "version"}
    backend = staticmethod(codepipeline_backend)

    @property
    def version(self) -> str:
        declaration, _ = codepipeline_backend(self.account_id, self.region).get_pipeline(self.name)
        return str(declaration["version"])

    @classmethod
    def _create(cls, backend, name: str, props: dict) -> CodePipelinePipeline:
        name = props.get("Name") or name
        pipeline, tags = _declaration(name, props)
        backend.create_pipeline(pipeline, tags)
        _disable_transitions(backend, name, props)
        return cls(name)

    def _update(self, backend, name: str, props: dict) -> CodePipelinePipeline:
        name = props.get("Name") or name
        if name != self.name:  # a new name replaces the pipeline
            return self._replace(backend, name, props)
        pipeline, tags = _declaration(name, props)
        backend.update_pipeline(pipeline)
        existing = backend.get(name)
        existing.tags = {t["key"]: t["value"] for t in tags}
        root = f"arn:aws:iam::{backend.account_id}:root"
        for stage in [s["name"] for s in pipeline.get("stages") or []][1:]:
            if not existing.transition(stage).get("enabled", True):
                backend.set_transition(name, stage, "Inbound", True, None, root)
        _disable_transitions(backend, name, props)
        if flag(props.get("RestartExecutionOnUpdate")):
            backend.start_for_change(existing, {"triggerType": "StartPipelineExecution",
                                                "triggerDetail": "CloudFormation RestartExecutionOnUpdate"}, {})
        return self

    def _delete(self, backend) -> None:
        backend.delete_pipeline(self.name)
