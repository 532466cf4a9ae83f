"""CodeBuild build (and test) actions: the input artifact becomes the build's
S3 source, the output artifact is the build's zip in the artifact store, the
build really runs in the CodeBuild runner and the action follows its status."""

from __future__ import annotations

import json

from workshop.cloud import services
from workshop.cloud.services.codepipeline.actions.base import ActionContext, ActionFailed, Handler, Result
from workshop.cloud.services.s3 import objects

POLL = 0.1  # real seconds between looks at the build


def _backend(ctx: ActionContext):
    services.ensure_loaded("codebuild")
    from workshop.cloud.services.codebuild.models import codebuild_backend

    return codebuild_backend(ctx.account, ctx.region)


def _environment(ctx: ActionContext) -> list[dict]:
    text = ctx.config.get("EnvironmentVariables")
    if not text:
        return []
    try:
        variables = json.loads(text)
    except ValueError:
        raise ActionFailed("EnvironmentVariables is not valid JSON: give a list of "
                           '{"name": ..., "value": ..., "type": "PLAINTEXT"}', "ConfigurationError") from None
    if not isinstance(variables, list) or not all(isinstance(v, dict) and v.get("name") for v in variables):
        raise ActionFailed("EnvironmentVariables must be a JSON list of objects with a name and a value",
                           "ConfigurationError")
    return [{"name": str(v["name"]), "value": str(v.get("value", "")), "type": v.get("type", "PLAINTEXT")}
            for v in variables]


class CodeBuildAction(Handler):
    def start(self, ctx: ActionContext) -> Result:
        inputs, outputs = ctx.input_names(), ctx.output_names()
        primary = ctx.config.get("PrimarySource") or inputs[0]
        if primary not in inputs:
            raise ActionFailed(f"PrimarySource {primary} is not an input artifact of the action", "ConfigurationError")
        if len(inputs) > 1 or len(outputs) > 1:
            raise ActionFailed("The workshop cloud's CodeBuild action takes one input artifact and makes at most "
                               "one output artifact (secondary sources and artifacts are not supported)",
                               "ConfigurationError")
        source = ctx.input_location(primary)
        overrides: dict = {"sourceTypeOverride": "S3",
                           "sourceLocationOverride": f"{source['bucket']}/{source['key']}",
                           "artifactsOverride": {"type": "NO_ARTIFACTS"}}
        if outputs:
            path, _, name = ctx.new_key(outputs[0]).rpartition("/")
            overrides["artifactsOverride"] = {"type": "S3", "location": ctx.store_bucket, "path": path,
                                              "name": name, "packaging": "ZIP", "namespaceType": "NONE"}
        variables = _environment(ctx)
        if variables:
            overrides["environmentVariablesOverride"] = variables
        request = {"projectName": ctx.config["ProjectName"], **overrides}
        try:
            build = _backend(ctx).start_build(ctx.config["ProjectName"], overrides,
                                              initiator=f"codepipeline/{ctx.pipeline_name}")
        except Exception as exc:  # moto's CodeBuild errors: no such project, bad overrides
            ctx.record("codebuild", "StartBuild", request, error=exc)
            message = getattr(exc, "message", None) or str(exc)
            raise ActionFailed(f"Could not start the build of project {ctx.config['ProjectName']}: {message}",
                               "ConfigurationError") from None
        ctx.record("codebuild", "StartBuild", request, {"build": {
            "id": build.id, "arn": getattr(build, "arn", None), "projectName": build.project_name,
            "initiator": f"codepipeline/{ctx.pipeline_name}"}})
        run = ctx.run
        run.state["build_id"] = build.id
        run.external_id = build.id
        run.external_url = (f"https://console.aws.amazon.com/codesuite/codebuild/projects/{build.project_name}"
                            f"/build/{build.id}/log?region={ctx.region}")
        return Result.waiting(POLL)

    def poll(self, ctx: ActionContext) -> Result:
        try:
            build = _backend(ctx).get_build(ctx.run.state["build_id"])
        except Exception:
            return Result.failed("The build no longer exists")
        if not build.complete:
            return Result.waiting(POLL)
        record = build.to_dict()
        status = record["buildStatus"]
        if status != "SUCCEEDED":
            return Result.failed(_failure_summary(record))
        ctx.run.output_variables = {v["name"]: v.get("value", "")
                                    for v in record.get("exportedEnvironmentVariables") or []}
        outputs = ctx.output_names()
        if outputs:
            location = (record.get("artifacts") or {}).get("location", "")
            bucket, _, key = location.removeprefix("arn:aws:s3:::").partition("/")
            if not self._exists(ctx, bucket, key):
                return Result.failed("The build made no output artifact: its buildspec needs an artifacts "
                                     "section naming the files of " + outputs[0])
            ctx.add_output(outputs[0], bucket, key)
        return Result.succeeded()

    def abandon(self, ctx: ActionContext) -> None:
        build_id = ctx.run.state.get("build_id")
        if build_id:
            try:
                _backend(ctx).stop_build(build_id)
                ctx.record("codebuild", "StopBuild", {"id": build_id})
            except Exception:  # already finished or gone
                pass

    @staticmethod
    def _exists(ctx: ActionContext, bucket: str, key: str) -> bool:
        return bool(bucket and key) and objects.object_exists(ctx.account, bucket, key)


def _failure_summary(record: dict) -> str:
    """AWS's words: the final state and the phase that failed."""
    status = record["buildStatus"]
    text = f"Build terminated with state: {status}"
    failed = next((p for p in record.get("phases") or []
                   if p.get("phaseStatus") not in (None, "SUCCEEDED")), None)
    if failed:
        context = (failed.get("contexts") or [{}])[0]
        text += f". Phase: {failed['phaseType']}, Code: {context.get('statusCode', '')}"
        if context.get("message"):
            text += f", Message: {context['message']}"
    return text
