"""CodePipeline's wire format (JSON 1.1): each method is one operation, named
as moto's dispatcher looks it up; it checks the request against CodePipeline's
API model, calls the backend in models.py and returns AWS's response shape.
These methods replace moto's own on its response class."""

from __future__ import annotations

import json
from functools import lru_cache

from moto.codepipeline.responses import CodePipelineResponse
from moto.core.responses import ActionResult, EmptyResult

from workshop.cloud import accounts
from workshop.cloud.services import extend
from workshop.cloud.services.codepipeline.exceptions import validation
from workshop.cloud.services.codepipeline.models import CodePipelineBackend, codepipeline_backends


@lru_cache(maxsize=1)
def service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("codepipeline")


def validate_input(operation: str, params) -> dict:
    """Types, required members, lengths and ranges, as AWS checks them first."""
    from botocore.validate import ParamValidator

    if not isinstance(params, dict):
        raise validation("The request body must be a JSON object")
    report = ParamValidator().validate(params, service_model().operation_model(operation).input_shape)
    if report.has_errors():
        raise validation(" ".join(report.generate_report().split()))
    return params


def _with_token(result: dict, token: str | None) -> dict:
    if token:
        result["nextToken"] = token
    return result


@extend(CodePipelineResponse)
class CodePipelineResponses:
    @property
    def codepipeline_backend(self) -> CodePipelineBackend:
        return codepipeline_backends[self.current_account][self.region]

    def _input(self, operation: str) -> dict:
        try:
            body = json.loads(self.body or "{}")
        except (ValueError, TypeError):
            raise validation("The request body is not valid JSON") from None
        return validate_input(operation, body)

    def _user(self) -> str:
        return accounts.request_caller(self.headers.environ)["arn"]  # the cloud's one caller rule

    # -- pipelines ----------------------------------------------------------------
    def create_pipeline(self):
        p = self._input("CreatePipeline")
        pipeline, _ = self.codepipeline_backend.create_pipeline(p["pipeline"], p.get("tags"))
        return ActionResult({"pipeline": pipeline.declaration,
                             "tags": [{"key": k, "value": v} for k, v in sorted(pipeline.tags.items())]})

    def get_pipeline(self):
        p = self._input("GetPipeline")
        pipeline, metadata = self.codepipeline_backend.get_pipeline(p["name"], p.get("version"))
        return ActionResult({"pipeline": pipeline, "metadata": metadata})

    def update_pipeline(self):
        p = self._input("UpdatePipeline")
        return ActionResult({"pipeline": self.codepipeline_backend.update_pipeline(p["pipeline"])})

    def delete_pipeline(self):
        self.codepipeline_backend.delete_pipeline(self._input("DeletePipeline")["name"])
        return EmptyResult()

    def list_pipelines(self):
        p = self._input("ListPipelines")
        items, token = self.codepipeline_backend.list_pipelines(p.get("nextToken"), p.get("maxResults"))
        return ActionResult(_with_token({"pipelines": items}, token))

    # -- tags ---------------------------------------------------------------------------
    def list_tags_for_resource(self):
        p = self._input("ListTagsForResource")
        return ActionResult({"tags": self.codepipeline_backend.list_tags(p["resourceArn"])})

    def tag_resource(self):
        p = self._input("TagResource")
        self.codepipeline_backend.tag_resource(p["resourceArn"], p["tags"])
        return EmptyResult()

    def untag_resource(self):
        p = self._input("UntagResource")
        self.codepipeline_backend.untag_resource(p["resourceArn"], p["tagKeys"])
        return EmptyResult()

    # -- executions ----------------------------------------------------------------------
    def start_pipeline_execution(self):
        p = self._input("StartPipelineExecution")
        execution = self.codepipeline_backend.start_pipeline_execution(
            p["name"], p.get("variables"), p.get("sourceRevisions"), self._user())
        return ActionResult({"pipelineExecutionId": execution.id})

    def get_pipeline_execution(self):
        p = self._input("GetPipelineExecution")
        return ActionResult({"pipelineExecution": self.codepipeline_backend.get_pipeline_execution(
            p["pipelineName"], p["pipelineExecutionId"])})

    def list_pipeline_executions(self):
        p = self._input("ListPipelineExecutions")
        succeeded_in = ((p.get("filter") or {}).get("succeededInStage") or {}).get("stageName")
        items, token = self.codepipeline_backend.list_pipeline_executions(
            p["pipelineName"], p.get("nextToken"), p.get("maxResults"), succeeded_in)
        return ActionResult(_with_token({"pipelineExecutionSummaries": items}, token))

    def get_pipeline_state(self):
        p = self._input("GetPipelineState")
        return ActionResult(self.codepipeline_backend.get_pipeline_state(p["name"]))

    def list_action_executions(self):
        p = self._input("ListActionExecutions")
        execution_id = (p.get("filter") or {}).get("pipelineExecutionId")
        items, token = self.codepipeline_backend.list_action_executions(
            p["pipelineName"], execution_id, p.get("nextToken"), p.get("maxResults"))
        return ActionResult(_with_token({"actionExecutionDetails": items}, token))

    def stop_pipeline_execution(self):
        p = self._input("StopPipelineExecution")
        execution_id = self.codepipeline_backend.stop_pipeline_execution(
            p["pipelineName"], p["pipelineExecutionId"], bool(p.get("abandon")), p.get("reason"))
        return ActionResult({"pipelineExecutionId": execution_id})

    def retry_stage_execution(self):
        p = self._input("RetryStageExecution")
        execution_id = self.codepipeline_backend.retry_stage_execution(
            p["pipelineName"], p["stageName"], p["pipelineExecutionId"], p["retryMode"])
        return ActionResult({"pipelineExecutionId": execution_id})

    def put_approval_result(self):
        p = self._input("PutApprovalResult")
        when = self.codepipeline_backend.put_approval_result(
            p["pipelineName"], p["stageName"], p["actionName"], p["result"], p["token"], self._user())
        return ActionResult({"approvedAt": when})

    def disable_stage_transition(self):
        p = self._input("DisableStageTransition")
        self.codepipeline_backend.set_transition(p["pipelineName"], p["stageName"], p["transitionType"], False,
                                                 p["reason"], self._user())
        return EmptyResult()

    def enable_stage_transition(self):
        p = self._input("EnableStageTransition")
        self.codepipeline_backend.set_transition(p["pipelineName"], p["stageName"], p["transitionType"], True,
                                                 None, self._user())
        return EmptyResult()
