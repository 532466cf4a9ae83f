"""CodePipeline's errors, as AWS names them: every rule fails with one of
these, so boto3 raises a ClientError whose code a learner can look up."""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError


class CodePipelineError(JsonRESTError):
    code = 400

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)


def error(error_type: str, message: str) -> CodePipelineError:
    return CodePipelineError(error_type, message)


def validation(message: str) -> CodePipelineError:
    return CodePipelineError("ValidationException", message)


def structure(message: str) -> CodePipelineError:
    return CodePipelineError("InvalidStructureException", message)


def pipeline_not_found(account_id: str, name: str) -> CodePipelineError:
    return CodePipelineError("PipelineNotFoundException",
                             f"Account '{account_id}' does not have a pipeline with name '{name}'")


def stage_not_found(pipeline: str, stage: str) -> CodePipelineError:
    return CodePipelineError("StageNotFoundException",
                             f"Stage '{stage}' does not exist in pipeline '{pipeline}'")
