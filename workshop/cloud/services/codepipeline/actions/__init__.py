"""The action providers the workshop cloud runs, one handler per AWS action
type (category, provider): the runner looks a handler up here."""

from __future__ import annotations

from workshop.cloud.services.codepipeline.actions.approval import ManualApproval
from workshop.cloud.services.codepipeline.actions.base import ActionContext, ActionFailed, Handler, Result
from workshop.cloud.services.codepipeline.actions.build import CodeBuildAction
from workshop.cloud.services.codepipeline.actions.cloudformation import CloudFormationDeploy
from workshop.cloud.services.codepipeline.actions.codedeploy import CodeDeployAction
from workshop.cloud.services.codepipeline.actions.s3_deploy import S3Deploy
from workshop.cloud.services.codepipeline.actions.source import CodeCommitSource, S3Source

HANDLERS: dict[tuple[str, str], Handler] = {
    ("Source", "CodeCommit"): CodeCommitSource(),
    ("Source", "S3"): S3Source(),
    ("Build", "CodeBuild"): CodeBuildAction(),
    ("Test", "CodeBuild"): CodeBuildAction(),
    ("Approval", "Manual"): ManualApproval(),
    ("Deploy", "CloudFormation"): CloudFormationDeploy(),
    ("Deploy", "CodeDeploy"): CodeDeployAction(),
    ("Deploy", "S3"): S3Deploy(),
}


def handler_for(type_id: dict) -> Handler | None:
    if type_id.get("owner") != "AWS" or str(type_id.get("version")) != "1":
        return None
    return HANDLERS.get((type_id.get("category"), type_id.get("provider")))


__all__ = ["ActionContext", "ActionFailed", "Handler", "Result", "handler_for"]
