"""CodeDeploy deploy actions (Server and Lambda platforms): a deployment of
the application's group with the input artifact as its revision (the zip as
an S3 bundle for Server; its appspec for Lambda); the action follows the
deployment until it succeeds, fails or stops."""

from __future__ import annotations

from workshop.cloud import services
from workshop.cloud.services.codepipeline.actions.base import (
    ActionContext,
    ActionFailed,
    Handler,
    Result,
    zip_member,
)

POLL = 0.1  # real seconds between looks at the deployment
APPSPEC_NAMES = ("appspec.yaml", "appspec.yml", "appspec.json")


def _codedeploy():
    services.ensure_loaded("codedeploy")
    from workshop.cloud.services import codedeploy

    return codedeploy


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


class CodeDeployAction(Handler):
    def start(self, ctx: ActionContext) -> Result:
        codedeploy = _codedeploy()
        application, group = ctx.config["ApplicationName"], ctx.config["DeploymentGroupName"]
        artifact = ctx.input_names()[0]
        try:
            platform = codedeploy.models.codedeploy_backend(ctx.account, ctx.region) \
                .get_application(application).compute_platform
        except Exception as exc:
            raise ActionFailed(_message(exc), "ConfigurationError") from None
        if platform == "Lambda":
            revision = {"revisionType": "AppSpecContent",
                        "appSpecContent": {"content": self._appspec(ctx, artifact)}}
        elif platform == "Server":
            location = ctx.input_location(artifact)
            revision = {"revisionType": "S3", "s3Location": {"bucket": location["bucket"], "key": location["key"],
                                                              "bundleType": "zip"}}
        else:
            raise ActionFailed(f"Application {application} is for the {platform} platform: use the "
                               "CodeDeployToECS action for ECS", "ConfigurationError")
        description = f"Deployed by CodePipeline {ctx.pipeline_name} execution {ctx.execution.id}"
        request = {"applicationName": application, "deploymentGroupName": group, "revision": revision,
                   "description": description}
        try:
            deployment_id = codedeploy.create_deployment(ctx.account, ctx.region, application, group, revision,
                                                         description=description)
        except Exception as exc:
            ctx.record("codedeploy", "CreateDeployment", request, error=exc)
            raise ActionFailed(_message(exc)) from None
        ctx.record("codedeploy", "CreateDeployment", request, {"deploymentId": deployment_id})
        run = ctx.run
        run.state["deployment_id"] = deployment_id
        run.external_id = deployment_id
        run.external_url = (f"https://console.aws.amazon.com/codesuite/codedeploy/deployments/{deployment_id}"
                            f"?region={ctx.region}")
        return Result.waiting(POLL)

    def poll(self, ctx: ActionContext) -> Result:
        try:
            info = _codedeploy().deployment_status(ctx.account, ctx.region, ctx.run.state["deployment_id"])
        except Exception as exc:
            return Result.failed(f"The deployment can no longer be read: {_message(exc)}")
        status = info.get("status")
        if status == "Succeeded":
            return Result.succeeded(f"Deployment {info.get('deploymentId', ctx.run.external_id)} succeeded")
        if status in ("Failed", "Stopped"):
            problem = info.get("errorInformation") or {}
            text = f"Deployment {ctx.run.external_id} {status.lower()}"
            if problem.get("message"):
                text += f": {problem['message']}"
            return Result.failed(text)
        overview = info.get("deploymentOverview") or {}
        total = sum(overview.values()) if overview else 0
        if total:
            ctx.run.percent = int(100 * overview.get("Succeeded", 0) / total)
        return Result.waiting(POLL)

    def abandon(self, ctx: ActionContext) -> None:
        deployment_id = ctx.run.state.get("deployment_id")
        if deployment_id:
            try:
                _codedeploy().models.codedeploy_backend(ctx.account, ctx.region).stop_deployment(deployment_id, None)
                ctx.record("codedeploy", "StopDeployment", {"deploymentId": deployment_id})
            except Exception:  # already over
                pass

    @staticmethod
    def _appspec(ctx: ActionContext, artifact: str) -> str:
        data = ctx.read_input(artifact)
        for name in APPSPEC_NAMES:
            try:
                return zip_member(data, name, artifact).decode("utf-8", "replace")
            except ActionFailed:
                continue
        raise ActionFailed(f"Artifact {artifact} has no appspec.yaml at its root: a Lambda deployment needs one",
                           "ConfigurationError")
