"""CloudFormation deploy actions: CREATE_UPDATE, REPLACE_ON_FAILURE,
DELETE_ONLY, CHANGE_SET_REPLACE and CHANGE_SET_EXECUTE on the account's own
stacks, with the template (and its configuration) read from input artifacts,
parameter overrides (Fn::GetParam, Fn::GetArtifactAtt) and stack outputs as
the action's output variables."""

from __future__ import annotations

import json
from typing import Any

from workshop.cloud import services
from workshop.cloud.services.codepipeline.actions.base import (
    ActionContext,
    ActionFailed,
    Handler,
    Result,
    zip_files,
    zip_member,
)

DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")
FAILED_CREATE = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED")
NO_UPDATES = "No updates are to be performed."


def _backend(ctx: ActionContext):
    services.ensure_loaded("cloudformation")
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[ctx.account][ctx.region]


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


class CloudFormationDeploy(Handler):
    def start(self, ctx: ActionContext) -> Result:
        backend = _backend(ctx)
        mode, name = ctx.config["ActionMode"], ctx.config["StackName"]
        role = ctx.config.get("RoleArn")
        existing = next((s for s in list(backend.stacks.values()) if s.name == name), None)
        if mode == "DELETE_ONLY":
            return self._delete(ctx, backend, existing)
        if mode == "CHANGE_SET_EXECUTE":
            return self._execute(ctx, backend, existing)
        template = self._artifact_file(ctx, ctx.config["TemplatePath"]).decode("utf-8", "replace")
        parameters, tags = self._parameters(ctx)
        if mode == "CHANGE_SET_REPLACE":
            return self._change_set(ctx, backend, existing, template, parameters, tags, role)
        if existing is not None and mode == "REPLACE_ON_FAILURE" and existing.status in FAILED_CREATE:
            backend.delete_stack(existing.stack_id)
            ctx.record("cloudformation", "DeleteStack", {"StackName": existing.stack_id})
            existing = None
        operation = "CreateStack" if existing is None else "UpdateStack"
        request = {"StackName": name, "TemplateBody": template, "RoleARN": role,
                   "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]}
        try:
            if existing is None:
                stack = backend.create_stack(name=name, template=template, parameters=parameters, tags=tags,
                                             role_arn=role)
            else:
                stack = backend.update_stack(name=existing.stack_id, template=template, role_arn=role,
                                             parameters=request["Parameters"], tags=tags or None)
        except Exception as exc:
            ctx.record("cloudformation", operation, request, error=exc)
            if existing is not None and _message(exc) == NO_UPDATES:
                self._finish(ctx, existing)
                return Result.succeeded(NO_UPDATES)
            raise ActionFailed(_message(exc)) from None
        ctx.record("cloudformation", operation, request, {"StackId": stack.stack_id})
        return self._settled(ctx, stack)

    # -- modes --------------------------------------------------------------------------
    def _delete(self, ctx: ActionContext, backend, existing) -> Result:
        name = ctx.config["StackName"]
        if existing is None:
            return Result.succeeded(f"Stack {name} does not exist: nothing to delete")
        ctx.run.external_id = existing.stack_id
        try:
            backend.delete_stack(existing.stack_id)
        except Exception as exc:
            ctx.record("cloudformation", "DeleteStack", {"StackName": existing.stack_id}, error=exc)
            raise ActionFailed(_message(exc)) from None
        ctx.record("cloudformation", "DeleteStack", {"StackName": existing.stack_id})
        left = next((s for s in list(backend.stacks.values()) if s.stack_id == existing.stack_id), None)
        if left is not None:
            raise ActionFailed(f"Stack {name} could not be deleted: it is {left.status}")
        return Result.succeeded(f"Stack {name} was deleted")

    def _change_set(self, ctx: ActionContext, backend, existing, template: str, parameters: dict,
                    tags: dict, role: str | None) -> Result:
        name, change_set = ctx.config["StackName"], ctx.config["ChangeSetName"]
        kind = "CREATE" if existing is None or existing.status == "REVIEW_IN_PROGRESS" else "UPDATE"
        request = {"StackName": name, "ChangeSetName": change_set, "TemplateBody": template, "RoleARN": role,
                   "ChangeSetType": kind,
                   "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]}
        try:
            if existing is not None:
                for old in list(backend.change_sets.values()):
                    if old.change_set_name == change_set and old.stack_id == existing.stack_id:
                        backend.delete_change_set(old.change_set_id)
                        ctx.record("cloudformation", "DeleteChangeSet",
                                   {"ChangeSetName": old.change_set_id, "StackName": existing.stack_id})
            change_set_id, stack_id = backend.create_change_set(
                stack_name=name, change_set_name=change_set, template=template, parameters=parameters,
                description=f"Created by CodePipeline {ctx.pipeline_name}", change_set_type=kind,
                tags=tags, role_arn=role)
        except Exception as exc:
            ctx.record("cloudformation", "CreateChangeSet", request, error=exc)
            raise ActionFailed(_message(exc)) from None
        ctx.record("cloudformation", "CreateChangeSet", request, {"Id": change_set_id, "StackId": stack_id})
        created = backend.describe_change_set(change_set_id)
        ctx.run.external_id = stack_id
        ctx.run.external_url = _stack_url(ctx, stack_id)
        self._write_outputs(ctx, {})
        if created.status == "FAILED":
            reason = created.status_reason or "The change set failed"
            if "didn't contain changes" in reason or "No updates" in reason:
                return Result.succeeded(reason)
            raise ActionFailed(reason)
        return Result.succeeded(f"Change set {change_set} was created for stack {name}")

    def _execute(self, ctx: ActionContext, backend, existing) -> Result:
        name, change_set = ctx.config["StackName"], ctx.config["ChangeSetName"]
        if existing is None:
            raise ActionFailed(f"Stack {name} does not exist: create change set {change_set} first "
                               "(ActionMode CHANGE_SET_REPLACE)")
        try:
            found = backend.describe_change_set(change_set, existing.stack_id)
        except Exception:
            raise ActionFailed(f"Change set {change_set} does not exist for stack {name}") from None
        if found.status == "FAILED" and found.status_reason and "didn't contain changes" in found.status_reason:
            self._finish(ctx, existing)
            return Result.succeeded(f"Change set {change_set} had no changes to execute")
        request = {"ChangeSetName": found.change_set_id, "StackName": existing.stack_id}
        try:
            backend.execute_change_set(found.change_set_id, existing.stack_id)
        except Exception as exc:
            ctx.record("cloudformation", "ExecuteChangeSet", request, error=exc)
            raise ActionFailed(_message(exc)) from None
        ctx.record("cloudformation", "ExecuteChangeSet", request)
        return self._settled(ctx, existing)

    # -- helpers ----------------------------------------------------------------------------
    def _settled(self, ctx: ActionContext, stack) -> Result:
        ctx.run.external_id = stack.stack_id
        ctx.run.external_url = _stack_url(ctx, stack.stack_id)
        if stack.status not in DONE:
            reason = getattr(stack, "stack_status_reason", None) or ""
            raise ActionFailed(f"Stack {stack.name} is in {stack.status} state" + (f": {reason}" if reason else ""))
        self._finish(ctx, stack)
        verb = "created" if stack.status == "CREATE_COMPLETE" else "updated"
        return Result.succeeded(f"Stack {stack.name} was {verb}")

    def _finish(self, ctx: ActionContext, stack) -> None:
        outputs = {o["OutputKey"]: str(o["OutputValue"]) for o in (stack.outputs or [])}
        ctx.run.external_id = stack.stack_id
        ctx.run.external_url = _stack_url(ctx, stack.stack_id)
        ctx.run.output_variables = outputs
        self._write_outputs(ctx, outputs)

    @staticmethod
    def _write_outputs(ctx: ActionContext, outputs: dict) -> None:
        names = ctx.output_names()
        if not names:
            return
        files = {}
        if ctx.config.get("OutputFileName"):
            files[ctx.config["OutputFileName"]] = (json.dumps(outputs, indent=2).encode(), 0o644)
        ctx.write_output(names[0], zip_files(files))

    def _artifact_file(self, ctx: ActionContext, reference: str) -> bytes:
        artifact, _, path = reference.partition("::")
        if artifact not in ctx.input_names():
            raise ActionFailed(f"{reference} names artifact {artifact}, which is not an input artifact of the "
                               "action", "ConfigurationError")
        return zip_member(ctx.read_input(artifact), path, artifact)

    def _parameters(self, ctx: ActionContext) -> tuple[dict[str, str], dict[str, str]]:
        """TemplateConfiguration's Parameters and Tags, then ParameterOverrides (which win)."""
        parameters: dict[str, str] = {}
        tags: dict[str, str] = {}
        if ctx.config.get("TemplateConfiguration"):
            raw = self._artifact_file(ctx, ctx.config["TemplateConfiguration"])
            try:
                config = json.loads(raw)
            except ValueError:
                raise ActionFailed("TemplateConfiguration is not a JSON file", "ConfigurationError") from None
            if not isinstance(config, dict):
                raise ActionFailed("TemplateConfiguration must be a JSON object", "ConfigurationError")
            parameters.update({k: str(v) for k, v in (config.get("Parameters") or {}).items()})
            tags.update({k: str(v) for k, v in (config.get("Tags") or {}).items()})
        if ctx.config.get("ParameterOverrides"):
            try:
                overrides = json.loads(ctx.config["ParameterOverrides"])
            except ValueError:
                raise ActionFailed("ParameterOverrides is not valid JSON", "ConfigurationError") from None
            if not isinstance(overrides, dict):
                raise ActionFailed("ParameterOverrides must be a JSON object", "ConfigurationError")
            for key, value in overrides.items():
                parameters[key] = self._parameter_value(ctx, key, value)
        return parameters, tags

    def _parameter_value(self, ctx: ActionContext, key: str, value: Any) -> str:
        if isinstance(value, dict) and "Fn::GetParam" in value:
            args = value["Fn::GetParam"]
            if not (isinstance(args, list) and len(args) == 3):
                raise ActionFailed(f"Parameter {key}: Fn::GetParam takes [artifact, file, key]", "ConfigurationError")
            try:
                document = json.loads(self._artifact_file(ctx, f"{args[0]}::{args[1]}"))
                return str(document[args[2]])
            except (ValueError, KeyError, TypeError):
                raise ActionFailed(f"Parameter {key}: {args[2]} was not found in {args[0]}::{args[1]}",
                                   "ConfigurationError") from None
        if isinstance(value, dict) and "Fn::GetArtifactAtt" in value:
            args = value["Fn::GetArtifactAtt"]
            if not (isinstance(args, list) and len(args) == 2):
                raise ActionFailed(f"Parameter {key}: Fn::GetArtifactAtt takes [artifact, attribute]",
                                   "ConfigurationError")
            location = ctx.input_location(args[0])
            attributes = {"BucketName": location["bucket"], "ObjectKey": location["key"],
                          "URL": f"https://{location['bucket']}.s3.amazonaws.com/{location['key']}"}
            if args[1] not in attributes:
                raise ActionFailed(f"Parameter {key}: Fn::GetArtifactAtt attribute {args[1]} is not one of "
                                   f"{', '.join(attributes)}", "ConfigurationError")
            return attributes[args[1]]
        if isinstance(value, (dict, list)):
            raise ActionFailed(f"Parameter {key} must be a string, Fn::GetParam or Fn::GetArtifactAtt",
                               "ConfigurationError")
        return str(value)


def _stack_url(ctx: ActionContext, stack_id: str) -> str:
    return (f"https://console.aws.amazon.com/cloudformation/home?region={ctx.region}"
            f"#/stacks/stackinfo?stackId={stack_id}")
