"""CodePipeline's state and rules, per account and region: pipelines (their
versions, tags, stage transitions), executions with their stage and action
runs, approvals, stops and retries, and change detection on CodeCommit pushes.

It replaces moto's backend (whose executions said Succeeded at once) in moto's
own ``codepipeline_backends``; the pipeline runner moves executions along.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from datetime import datetime
from typing import Any

from moto.codepipeline import models as moto_codepipeline
from moto.core.base_backend import BaseBackend

from workshop.cloud import persistence, services
from workshop.cloud.services import paging
from workshop.cloud.clock import get_clock
from workshop.cloud.services.codepipeline import declaration
from workshop.cloud.services.codepipeline.exceptions import (
    error,
    pipeline_not_found,
    stage_not_found,
    structure,
    validation,
)

log = logging.getLogger("workshop.cloud.codepipeline")

FINAL = ("Succeeded", "Failed", "Stopped", "Superseded", "Cancelled")
_REVISION_TYPES = {"CodeCommit": ("COMMIT_ID",), "S3": ("S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY")}
PAGE = 100


def now() -> datetime:
    return get_clock().now()


def console_url(region: str, path: str) -> str:
    return f"https://console.aws.amazon.com/{path}?region={region}"


# -- runs ----------------------------------------------------------------------------

class ActionRun:
    """One run of one action in one execution (a retry makes a new one)."""

    def __init__(self, execution: Execution, stage: str, action: dict):
        self.id = str(uuid.uuid4())
        self.execution = execution
        self.stage = stage
        self.name = action["name"]
        self.declaration = action
        self.status = "InProgress"
        self.summary: str | None = None
        self.external_id: str | None = None
        self.external_url: str | None = None
        self.error: dict | None = None
        self.start = self.updated = now()
        self.updated_by = execution.role_arn
        self.token: str | None = None
        self.percent: int | None = None
        self.resolved_configuration: dict = {}
        self.input_artifacts: list[dict] = []
        self.output_artifacts: list[dict] = []
        self.output_variables: dict[str, str] = {}
        self.revision: dict | None = None  # source actions: what they fetched
        self.state: dict = {}  # the action handler's own notes (build id, deadline...)
        self.approval: dict | None = None  # put_approval_result's answer, until the runner reads it
        self.next_poll: float | None = None  # monotonic time of the next poll; None: until kicked
        self.started = False  # the handler's start() has returned

    @property
    def done(self) -> bool:
        return self.status != "InProgress"

    def finish(self, status: str, summary: str | None = None, code: str | None = None) -> None:
        self.status = status
        if summary is not None:
            self.summary = summary[:2048]
        if status == "Failed":
            self.error = {"code": code or "JobFailed", "message": (summary or "The action failed")[:5000]}
        self.token = None
        self.updated = now()
        persistence.changed(self.execution.account_id)

    def latest_execution(self) -> dict:
        out: dict[str, Any] = {"actionExecutionId": self.id, "status": self.status,
                               "lastStatusChange": self.updated, "lastUpdatedBy": self.updated_by}
        for key, value in (("summary", self.summary), ("token", self.token),
                           ("externalExecutionId", self.external_id), ("externalExecutionUrl", self.external_url),
                           ("errorDetails", self.error), ("percentComplete", self.percent)):
            if value is not None:
                out[key] = value
        return out

    def detail(self) -> dict:
        d = self.declaration
        result: dict[str, Any] = {}
        for key, value in (("externalExecutionId", self.external_id), ("externalExecutionSummary", self.summary),
                           ("externalExecutionUrl", self.external_url), ("errorDetails", self.error)):
            if value is not None:
                result[key] = value
        action_input: dict[str, Any] = {
            "actionTypeId": d["actionTypeId"], "configuration": d.get("configuration") or {},
            "resolvedConfiguration": self.resolved_configuration or d.get("configuration") or {},
            "region": d.get("region") or self.execution.region,
            "inputArtifacts": self.input_artifacts,
        }
        if d.get("roleArn"):
            action_input["roleArn"] = d["roleArn"]
        if d.get("namespace"):
            action_input["namespace"] = d["namespace"]
        return {
            "pipelineExecutionId": self.execution.id, "actionExecutionId": self.id,
            "pipelineVersion": self.execution.version, "stageName": self.stage, "actionName": self.name,
            "startTime": self.start, "lastUpdateTime": self.updated, "updatedBy": self.updated_by,
            "status": self.status, "input": action_input,
            "output": {"outputArtifacts": self.output_artifacts, "executionResult": result,
                       "outputVariables": dict(self.output_variables)},
        }


class StageRun:
    def __init__(self, stage: dict):
        self.name = stage["name"]
        self.declaration = stage
        self.status = "InProgress"
        self.actions: dict[str, ActionRun | None] = {a["name"]: None for a in stage["actions"]}

    def reset(self, all_actions: bool) -> None:
        """A retry: failed (or every) action runs again."""
        self.status = "InProgress"
        for name, run in list(self.actions.items()):
            if run is None or all_actions or run.status != "Succeeded":
                self.actions[name] = None


class Execution:
    def __init__(self, pipeline: Pipeline, trigger: dict, variables: list[dict],
                 source_overrides: dict[str, tuple[str, str]]):
        self.id = str(uuid.uuid4())
        self.pipeline = pipeline
        self.account_id = pipeline.account_id
        self.region = pipeline.region
        self.name = pipeline.name
        self.declaration = copy.deepcopy(pipeline.declaration)  # an execution runs the version it started on
        self.version = self.declaration["version"]
        self.mode = self.declaration.get("executionMode", "SUPERSEDED")
        self.role_arn = self.declaration["roleArn"]
        self.status = "InProgress"
        self.summary: str | None = None
        self.trigger = trigger
        self.variables = variables  # [{"name", "resolvedValue"}]
        self.source_overrides = source_overrides
        self.start = self.updated = now()
        self.stage_index = 0
        self.in_stage = False
        self.stages: dict[str, StageRun] = {}
        self.runs: list[ActionRun] = []  # every action run, oldest first
        self.artifacts: dict[str, dict] = {}  # artifact name -> {"bucket", "key"}
        self.namespaces: dict[str, dict[str, str]] = {}
        self.stop_mode: str | None = None  # "finish" | "abandon"
        self.stop_reason: str | None = None
        self.sequence = pipeline.next_sequence()
        # runner bookkeeping
        self.queued = self.running = self.again = False

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def stage_names(self) -> list[str]:
        return [s["name"] for s in self.declaration["stages"]]

    def set_status(self, status: str, summary: str | None = None) -> None:
        self.status = status
        if summary is not None:
            self.summary = summary[:2048]
        self.updated = now()
        persistence.changed(self.account_id)

    def source_runs(self) -> list[ActionRun]:
        first = self.stage_names[0]
        stage = self.stages.get(first)
        return [r for r in (stage.actions.values() if stage else []) if r is not None and r.revision]

    def artifact_revisions(self) -> list[dict]:
        out = []
        for run in self.source_runs():
            for artifact in run.declaration.get("outputArtifacts") or []:
                item = {"name": artifact["name"], "revisionId": run.revision["revisionId"],
                        "created": run.revision.get("created", run.start)}
                for key in ("revisionSummary", "revisionUrl", "revisionChangeIdentifier"):
                    if run.revision.get(key):
                        item[key] = run.revision[key]
                out.append(item)
        return out

    def source_revisions(self) -> list[dict]:
        out = []
        for run in self.source_runs():
            item = {"actionName": run.name, "revisionId": run.revision["revisionId"]}
            for key in ("revisionSummary", "revisionUrl"):
                if run.revision.get(key):
                    item[key] = run.revision[key]
            out.append(item)
        return out

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "pipelineName": self.name, "pipelineVersion": self.version, "pipelineExecutionId": self.id,
            "status": self.status, "artifactRevisions": self.artifact_revisions(),
            "variables": list(self.variables), "trigger": dict(self.trigger),
            "executionMode": self.mode, "executionType": "STANDARD",
        }
        if self.summary:
            out["statusSummary"] = self.summary
        return out

    def summary_dict(self) -> dict:
        out: dict[str, Any] = {
            "pipelineExecutionId": self.id, "status": self.status, "startTime": self.start,
            "lastUpdateTime": self.updated, "sourceRevisions": self.source_revisions(),
            "trigger": dict(self.trigger), "executionMode": self.mode, "executionType": "STANDARD",
        }
        if self.summary:
            out["statusSummary"] = self.summary
        if self.stop_mode:
            out["stopTrigger"] = {"reason": self.stop_reason or ""}
        return out


# -- pipelines ---------------------------------------------------------------------------

class Pipeline:
    def __init__(self, backend: CodePipelineBackend, pipeline: dict):
        self.account_id = backend.account_id
        self.region = backend.region_name
        self.lock = backend.lock
        self.declaration = pipeline
        self.name = pipeline["name"]
        self.versions: dict[int, dict] = {pipeline["version"]: copy.deepcopy(pipeline)}
        self.arn = f"arn:aws:codepipeline:{self.region}:{self.account_id}:{self.name}"
        self.created = self.updated = now()
        self.tags: dict[str, str] = {}
        self.executions: dict[str, Execution] = {}
        self.transitions: dict[str, dict] = {}  # stage -> inbound transition state
        self.occupant: dict[str, str] = {}  # stage -> the execution in it (SUPERSEDED / QUEUED)
        self.waiting: dict[str, list[str]] = {}  # stage -> executions waiting to enter, oldest first
        self.latest_in_stage: dict[str, str] = {}  # stage -> the last execution that entered it
        self.deleted = False
        self._sequence = 0

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    @property
    def role_arn(self) -> str:
        return self.declaration["roleArn"]

    def stage(self, name: str) -> dict | None:
        return next((s for s in self.declaration["stages"] if s["name"] == name), None)

    def transition(self, stage: str) -> dict:
        return self.transitions.setdefault(stage, {"enabled": True})

    def metadata(self) -> dict:
        return {"pipelineArn": self.arn, "created": self.created, "updated": self.updated}

    def summary(self) -> dict:
        return {"name": self.name, "version": self.declaration["version"],
                "pipelineType": self.declaration.get("pipelineType", "V1"),
                "executionMode": self.declaration.get("executionMode", "SUPERSEDED"),
                "created": self.created, "updated": self.updated}

    def state(self) -> dict:
        stages = []
        for index, stage in enumerate(self.declaration["stages"]):
            name = stage["name"]
            latest = self.executions.get(self.latest_in_stage.get(name, ""))
            run = latest.stages.get(name) if latest else None
            entry: dict[str, Any] = {"stageName": name, "actionStates": []}
            if index > 0:
                entry["inboundTransitionState"] = dict(self.transition(name))
            for action in stage["actions"]:
                state: dict[str, Any] = {"actionName": action["name"]}
                previous = self._last_run(name, action["name"])
                if previous is not None:
                    state["latestExecution"] = previous.latest_execution()
                    if previous.revision:
                        state["currentRevision"] = {"revisionId": previous.revision["revisionId"],
                                                    "created": previous.revision.get("created", previous.start)}
                        if previous.revision.get("revisionChangeIdentifier"):
                            state["currentRevision"]["revisionChangeId"] = \
                                previous.revision["revisionChangeIdentifier"]
                url = _entity_url(self.region, action)
                if url:
                    state["entityUrl"] = url
                entry["actionStates"].append(state)
            if run is not None:
                entry["latestExecution"] = {"pipelineExecutionId": latest.id, "status": run.status}
            waiting = [self.executions[i] for i in self.waiting.get(name, []) if i in self.executions]
            if waiting:
                entry["inboundExecution"] = {"pipelineExecutionId": waiting[0].id, "status": "InProgress"}
                entry["inboundExecutions"] = [{"pipelineExecutionId": e.id, "status": "InProgress"}
                                              for e in waiting]
            stages.append(entry)
        return {"pipelineName": self.name, "pipelineVersion": self.declaration["version"],
                "stageStates": stages, "created": self.created, "updated": self.updated}

    def _last_run(self, stage: str, action: str) -> ActionRun | None:
        """The newest run of an action across executions (what the console shows)."""
        best = None
        for execution in self.executions.values():
            run = execution.stages.get(stage).actions.get(action) if stage in execution.stages else None
            if run is not None and (best is None or run.start >= best.start):
                best = run
        return best


def _entity_url(region: str, action: dict) -> str | None:
    provider = (action.get("actionTypeId") or {}).get("provider")
    config = action.get("configuration") or {}
    if provider == "CodeCommit" and config.get("RepositoryName"):
        return console_url(region, f"codesuite/codecommit/repositories/{config['RepositoryName']}/browse")
    if provider == "CodeBuild" and config.get("ProjectName"):
        return console_url(region, f"codesuite/codebuild/projects/{config['ProjectName']}")
    if provider == "CloudFormation":
        return console_url(region, "cloudformation/home")
    if provider == "CodeDeploy" and config.get("ApplicationName"):
        return console_url(region, f"codesuite/codedeploy/applications/{config['ApplicationName']}")
    return None


# -- the backend --------------------------------------------------------------------------

class CodePipelineBackend(BaseBackend):
    """One account's CodePipeline in one region."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()
        self.pipelines: dict[str, Pipeline] = {}

    @property
    def _url_module(self):
        # moto finds a service's URLs next to its backend's module: they stay moto's.
        from moto.codepipeline import urls

        return urls

    def reset(self) -> None:
        with self.lock:
            for pipeline in self.pipelines.values():
                pipeline.deleted = True
                for execution in pipeline.executions.values():
                    if not execution.finished:
                        execution.status = "Cancelled"
        services.announce("codepipeline.backend-reset", account_id=self.account_id, region=self.region_name)
        super().reset()

    def get(self, name: Any) -> Pipeline:
        pipeline = self.pipelines.get(name) if isinstance(name, str) else None
        if pipeline is None:
            raise pipeline_not_found(self.account_id, name)
        return pipeline

    # -- pipelines ---------------------------------------------------------------
    def _declaration(self, pipeline: dict) -> dict:
        self._check_role(pipeline.get("roleArn"))
        return declaration.normalize(pipeline, self.region_name)

    def _check_role(self, role_arn: Any) -> None:
        """The role must exist and trust codepipeline.amazonaws.com (among any others)."""
        from moto.iam.models import iam_backends

        denied = structure(f"CodePipeline is not authorized to perform AssumeRole on role {role_arn}")
        if not isinstance(role_arn, str) or f":iam::{self.account_id}:role/" not in role_arn:
            raise denied
        try:
            role = iam_backends[self.account_id]["aws"].get_role_by_arn(role_arn)
            policy = json.loads(role.assume_role_policy_document)
        except Exception:
            raise denied from None
        statements = policy.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        for statement in statements:
            if not isinstance(statement, dict) or statement.get("Effect", "Allow") != "Allow":
                continue
            actions = statement.get("Action") or []
            actions = [actions] if isinstance(actions, str) else actions
            if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
                continue
            principal = statement.get("Principal") or {}
            services = principal.get("Service", []) if isinstance(principal, dict) else []
            services = [services] if isinstance(services, str) else services
            if "codepipeline.amazonaws.com" in services:
                return
        raise denied

    def create_pipeline(self, pipeline: dict, tags: list[dict] | None) -> tuple[Pipeline, Execution | None]:
        pipeline = dict(pipeline)
        pipeline["version"] = 1
        normalized = self._declaration(pipeline)
        _check_tags(tags or [])
        with self.lock:
            if normalized["name"] in self.pipelines:
                raise error("PipelineNameInUseException", f"A pipeline with the name '{normalized['name']}' "
                            f"already exists in account '{self.account_id}'")
            created = Pipeline(self, normalized)
            created.tags = {t["key"]: t.get("value", "") for t in tags or []}
            self.pipelines[created.name] = created
            # As in AWS: a new pipeline runs once at once.
            execution = self._start(created, {"triggerType": "CreatePipeline", "triggerDetail": created.arn})
        return created, execution

    def get_pipeline(self, name: Any, version: Any = None) -> tuple[dict, dict]:
        with self.lock:
            pipeline = self.get(name)
            if version is None:
                return copy.deepcopy(pipeline.declaration), pipeline.metadata()
            if version not in pipeline.versions:
                raise error("PipelineVersionNotFoundException",
                            f"Pipeline '{name}' does not have a version {version}")
            return copy.deepcopy(pipeline.versions[version]), pipeline.metadata()

    def update_pipeline(self, pipeline: dict) -> dict:
        name = pipeline.get("name")
        with self.lock:
            existing = self.pipelines.get(name)
            if existing is None:
                raise error("ResourceNotFoundException", f"The account with id '{self.account_id}' does not "
                            f"include a pipeline with the name '{name}'")
            pipeline = dict(pipeline)
            pipeline["version"] = existing.declaration["version"] + 1
        normalized = self._declaration(pipeline)
        with self.lock:
            existing.declaration = normalized
            existing.versions[normalized["version"]] = copy.deepcopy(normalized)
            existing.updated = now()
            return copy.deepcopy(normalized)

    def delete_pipeline(self, name: Any) -> None:
        with self.lock:
            pipeline = self.pipelines.pop(name, None) if isinstance(name, str) else None
            if pipeline is None:
                return  # as in AWS: deleting a pipeline that is not there succeeds
            pipeline.deleted = True
            executions = [e for e in pipeline.executions.values() if not e.finished]
            for execution in executions:
                execution.stop_mode, execution.stop_reason = "abandon", "The pipeline was deleted"
                execution.set_status("Stopping")
        for execution in executions:
            services.announce("codepipeline.execution-changed", execution=execution)

    def list_pipelines(self, token: Any, max_results: Any) -> tuple[list[dict], str | None]:
        with self.lock:
            items = [p.summary() for p in sorted(self.pipelines.values(), key=lambda p: p.name)]
        return _page(items, token, max_results, 1000)

    # -- tags --------------------------------------------------------------------------
    def _by_arn(self, arn: Any) -> Pipeline:
        if not isinstance(arn, str) or not arn.startswith("arn:") or arn.count(":") < 5:
            raise error("InvalidArnException", f"The ARN {arn!r} is not valid")
        parts = arn.split(":", 5)
        pipeline = self.pipelines.get(parts[5])
        if parts[2] != "codepipeline" or parts[4] != self.account_id or pipeline is None or pipeline.arn != arn:
            raise error("ResourceNotFoundException", f"The resource with the ARN {arn} does not exist")
        return pipeline

    def list_tags(self, arn: Any) -> list[dict]:
        with self.lock:
            pipeline = self._by_arn(arn)
            return [{"key": k, "value": v} for k, v in sorted(pipeline.tags.items())]

    def tag_resource(self, arn: Any, tags: list[dict]) -> None:
        with self.lock:
            pipeline = self._by_arn(arn)
            _check_tags(tags)
            merged = dict(pipeline.tags)
            merged.update({t["key"]: t.get("value", "") for t in tags})
            if len(merged) > 50:
                raise error("TooManyTagsException", f"Tag limit exceeded for resource [{arn}].")
            pipeline.tags = merged

    def untag_resource(self, arn: Any, keys: list[str]) -> None:
        with self.lock:
            pipeline = self._by_arn(arn)
            for key in keys:
                if key.startswith("aws:"):
                    raise error("InvalidTagsException", "Not allowed to modify system tags.")
                pipeline.tags.pop(key, None)

    # -- executions --------------------------------------------------------------------
    def _start(self, pipeline: Pipeline, trigger: dict, variables: list[dict] | None = None,
               overrides: dict[str, tuple[str, str]] | None = None) -> Execution:
        execution = Execution(pipeline, trigger, _resolve_variables(pipeline.declaration, variables or []),
                              overrides or {})
        pipeline.executions[execution.id] = execution
        services.announce("codepipeline.execution-changed", execution=execution)
        return execution

    def start_pipeline_execution(self, name: Any, variables: list[dict] | None,
                                 source_revisions: list[dict] | None, user_arn: str) -> Execution:
        with self.lock:
            pipeline = self.get(name)
            sources = {a["name"]: a for a in declaration.first_stage_sources(pipeline.declaration)}
            overrides = {}
            for revision in source_revisions or []:
                action = sources.get(revision.get("actionName"))
                if action is None:
                    raise validation(f"Source revision override names action '{revision.get('actionName')}', "
                                     "which is not a source action of the pipeline")
                kinds = _REVISION_TYPES.get(action["actionTypeId"].get("provider"), ())
                if revision["revisionType"] not in kinds:
                    raise validation(f"Source revision type {revision['revisionType']} does not fit action "
                                     f"'{action['name']}': use {' or '.join(kinds) or 'none'}")
                overrides[action["name"]] = (revision["revisionType"], revision["revisionValue"])
            if variables and pipeline.declaration.get("pipelineType", "V1") != "V2":
                raise validation("Pipeline variables are only supported for pipelines of type V2")
            return self._start(pipeline, {"triggerType": "StartPipelineExecution", "triggerDetail": user_arn},
                               variables, overrides)

    def start_for_change(self, pipeline: Pipeline, trigger: dict, overrides: dict) -> Execution:
        with self.lock:
            return self._start(pipeline, trigger, None, overrides)

    def get_execution(self, name: Any, execution_id: Any) -> Execution:
        pipeline = self.get(name)
        execution = pipeline.executions.get(execution_id) if isinstance(execution_id, str) else None
        if execution is None:
            raise error("PipelineExecutionNotFoundException", f"Pipeline execution ID {execution_id} does not "
                        f"exist for pipeline {name} in account '{self.account_id}'")
        return execution

    def get_pipeline_execution(self, name: Any, execution_id: Any) -> dict:
        with self.lock:
            return self.get_execution(name, execution_id).to_dict()

    def list_pipeline_executions(self, name: Any, token: Any, max_results: Any,
                                 succeeded_in_stage: str | None = None) -> tuple[list[dict], str | None]:
        with self.lock:
            pipeline = self.get(name)
            executions = list(reversed(pipeline.executions.values()))
            if succeeded_in_stage:
                executions = [e for e in executions if e.stages.get(succeeded_in_stage)
                              and e.stages[succeeded_in_stage].status == "Succeeded"]
            items = [e.summary_dict() for e in executions]
        return _page(items, token, max_results, 100)

    def get_pipeline_state(self, name: Any) -> dict:
        with self.lock:
            return self.get(name).state()

    def list_action_executions(self, name: Any, execution_id: Any, token: Any,
                               max_results: Any) -> tuple[list[dict], str | None]:
        with self.lock:
            pipeline = self.get(name)
            if execution_id:
                executions = [self.get_execution(name, execution_id)]
            else:
                executions = list(pipeline.executions.values())
            runs = [r for e in executions for r in e.runs]
            runs.sort(key=lambda r: r.start, reverse=True)
            items = [r.detail() for r in runs]
        return _page(items, token, max_results, 100)

    def stop_pipeline_execution(self, name: Any, execution_id: Any, abandon: bool, reason: str | None) -> str:
        with self.lock:
            execution = self.get_execution(name, execution_id)
            if execution.status == "Stopping":
                if not abandon or execution.stop_mode == "abandon":
                    raise error("DuplicatedStopRequestException", f"Execution {execution_id} is already being "
                                "stopped")
            elif execution.status != "InProgress":
                raise error("PipelineExecutionNotStoppableException", f"Unable to stop pipeline execution "
                            f"{execution_id}: it is {execution.status}")
            execution.stop_mode = "abandon" if abandon else "finish"
            execution.stop_reason = reason or ""
            execution.set_status("Stopping", reason or None)
        services.announce("codepipeline.execution-changed", execution=execution)
        return execution.id

    def retry_stage_execution(self, name: Any, stage: Any, execution_id: Any, mode: str) -> str:
        with self.lock:
            pipeline = self.get(name)
            if pipeline.stage(stage) is None:
                raise stage_not_found(name, stage)
            execution = pipeline.executions.get(execution_id) if isinstance(execution_id, str) else None
            if execution is None or pipeline.latest_in_stage.get(stage) != execution.id:
                raise error("NotLatestPipelineExecutionException", f"Execution {execution_id} is not the latest "
                            f"execution of stage {stage}: only the latest one can be retried")
            run = execution.stages.get(stage)
            if run is None or run.status not in ("Failed", "Stopped") or not execution.finished:
                raise error("StageNotRetryableException", f"Stage {stage} of execution {execution_id} cannot be "
                            f"retried: it is {run.status if run else 'not started'}"
                            + ("" if execution.finished else f" and the execution is {execution.status}"))
            if stage not in execution.stage_names:
                raise error("StageNotRetryableException", f"Stage {stage} is not part of the pipeline version "
                            f"execution {execution_id} runs")
            occupant = pipeline.occupant.get(stage)
            if occupant and occupant != execution.id and execution.mode != "PARALLEL":
                raise error("ConflictException", f"Stage {stage} is in use by execution {occupant}")
            run.reset(all_actions=(mode == "ALL_ACTIONS"))
            execution.stage_index = execution.stage_names.index(stage)
            execution.in_stage = True
            execution.stop_mode = execution.stop_reason = None
            execution.summary = None
            execution.set_status("InProgress")
            if execution.mode != "PARALLEL":
                pipeline.occupant[stage] = execution.id
        services.announce("codepipeline.execution-changed", execution=execution)
        return execution.id

    def put_approval_result(self, name: Any, stage: Any, action: Any, result: dict, token: Any,
                            user_arn: str) -> datetime:
        with self.lock:
            pipeline = self.get(name)
            stage_decl = pipeline.stage(stage)
            if stage_decl is None:
                raise stage_not_found(name, stage)
            decl = next((a for a in stage_decl["actions"] if a["name"] == action), None)
            if decl is None:
                raise error("ActionNotFoundException", f"Action '{action}' does not exist in stage '{stage}' "
                            f"of pipeline '{name}'")
            if (decl["actionTypeId"].get("category"), decl["actionTypeId"].get("provider")) != ("Approval", "Manual"):
                raise validation(f"Action '{action}' is not a manual approval action")
            runs = [r for e in pipeline.executions.values() for r in e.runs
                    if r.stage == stage and r.name == action]
            match = next((r for r in runs if r.state.get("token") == token), None)
            if match is None:
                raise error("InvalidApprovalTokenException", f"The token {token} is not valid for approval "
                            f"action '{action}' in stage '{stage}'")
            if match.done or match.approval is not None:
                raise error("ApprovalAlreadyCompletedException", f"The approval action '{action}' with token "
                            f"{token} is already {match.status if match.done else 'answered'}")
            when = now()
            match.approval = {"status": result["status"], "summary": result.get("summary") or "",
                              "by": user_arn, "at": when}
            execution = match.execution
        services.announce("codepipeline.execution-changed", execution=execution)
        return when

    def set_transition(self, name: Any, stage: Any, transition_type: str, enabled: bool,
                       reason: str | None, user_arn: str) -> None:
        with self.lock:
            pipeline = self.get(name)
            names = [s["name"] for s in pipeline.declaration["stages"]]
            if stage not in names:
                raise stage_not_found(name, stage)
            index = names.index(stage)
            if transition_type == "Outbound":
                if index == len(names) - 1:
                    raise validation(f"Stage {stage} is the last stage: it has no outbound transition")
                index += 1
            elif index == 0:
                raise validation(f"Stage {stage} is the first stage: it has no inbound transition")
            target = names[index]
            state = {"enabled": enabled, "lastChangedBy": user_arn, "lastChangedAt": now()}
            if not enabled:
                state["disabledReason"] = reason or ""
            pipeline.transitions[target] = state
            waiting = [pipeline.executions[i] for i in pipeline.waiting.get(target, []) if i in pipeline.executions]
        for execution in waiting:
            services.announce("codepipeline.execution-changed", execution=execution)


# -- helpers -------------------------------------------------------------------------------

def _resolve_variables(decl: dict, given: list[dict]) -> list[dict]:
    declared = {v["name"]: v for v in decl.get("variables") or []}
    values = {}
    for item in given:
        if item["name"] not in declared:
            raise validation(f"Pipeline variable {item['name']} is not declared in the pipeline")
        values[item["name"]] = item["value"]
    out = []
    for name, var in declared.items():
        value = values.get(name, var.get("defaultValue"))
        if value is None:
            raise validation(f"Pipeline variable {name} has no default value: give it a value")
        out.append({"name": name, "resolvedValue": value})
    return out


def _check_tags(tags: list[dict]) -> None:
    for tag in tags:
        if str(tag.get("key", "")).startswith("aws:"):
            raise error("InvalidTagsException", "Not allowed to modify system tags. System tags start with "
                        "'aws:'. msg=[Caller is an end user and not allowed to mutate system tags]")
    if len(tags) > 50:
        raise error("TooManyTagsException", "Tag limit exceeded: a pipeline may have at most 50 tags")


def _page(items: list, token: Any, max_results: Any, limit: int) -> tuple[list, str | None]:
    size = int(max_results) if max_results else limit
    return paging.page(items, token, size, lambda: error("InvalidNextTokenException", "The next token is not valid"))


# -- change detection -------------------------------------------------------------------------

@services.on("codecommit.references-changed")
def _on_ref_changes(repo, changes: list[tuple[str, str | None, str | None]], user_arn: str) -> None:
    """A push or merge to a branch that a pipeline's CodeCommit source watches starts the pipeline."""
    backends = codepipeline_backends
    if repo.account_id not in dict.keys(backends) or repo.region not in dict.keys(backends[repo.account_id]):
        return
    backend = backends[repo.account_id][repo.region]
    moved = {ref[len("refs/heads/"):]: new for ref, _, new in changes if new and ref.startswith("refs/heads/")}
    if not moved:
        return
    with backend.lock:
        pipelines = list(backend.pipelines.values())
    for pipeline in pipelines:
        overrides, trigger = {}, None
        for action in declaration.first_stage_sources(pipeline.declaration):
            type_id, config = action["actionTypeId"], action.get("configuration") or {}
            if type_id.get("provider") != "CodeCommit" or config.get("RepositoryName") != repo.name:
                continue
            commit = moved.get(config.get("BranchName"))
            if commit is None:
                continue
            overrides[action["name"]] = ("COMMIT_ID", commit)
            if trigger is None:
                trigger = _change_trigger(pipeline, action, repo)
        if overrides:
            backend.start_for_change(pipeline, trigger, overrides)


def _change_trigger(pipeline: Pipeline, action: dict, repo) -> dict:
    """What AWS names as the trigger: polling, or the EventBridge rule that targets the pipeline."""
    poll = str((action.get("configuration") or {}).get("PollForSourceChanges", "true")).lower() == "true"
    if poll:
        return {"triggerType": "PollForSourceChanges", "triggerDetail": action["name"]}
    rule = _rule_targeting(pipeline)
    return {"triggerType": "CloudWatchEvent", "triggerDetail": rule or repo.arn}


def _rule_targeting(pipeline: Pipeline) -> str | None:
    import sys

    events = sys.modules.get("moto.events.models")
    if events is None or pipeline.account_id not in dict.keys(events.events_backends):
        return None
    try:
        backend = events.events_backends[pipeline.account_id][pipeline.region]
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                if any(t.get("Arn") == pipeline.arn for t in rule.targets):
                    return rule.arn
    except Exception:  # naming the rule is a courtesy
        log.debug("looking for the rule that targets %s", pipeline.arn, exc_info=True)
    return None


services.replace_backend(moto_codepipeline.codepipeline_backends, CodePipelineBackend)
codepipeline_backends = moto_codepipeline.codepipeline_backends


def codepipeline_backend(account_id: str, region: str) -> CodePipelineBackend:
    return codepipeline_backends[account_id][region]


LOST = "The workshop cloud stopped while this action ran: its work was lost. Release the change again."


@services.on(persistence.RESTORED)
def _end_lost_executions(account_id: str) -> None:
    """Executions the cloud's stop cut short fail, each running action with a message saying
    why (the runner's own bookkeeping, held in memory, is gone with it)."""
    for backend in persistence.backends(codepipeline_backends, account_id):
        with backend.lock:
            for pipeline in backend.pipelines.values():
                pipeline.occupant.clear()
                pipeline.waiting.clear()
                for execution in pipeline.executions.values():
                    execution.queued = execution.running = execution.again = False
                    if execution.finished:
                        continue
                    lost = [run for run in execution.runs if not run.done]
                    for run in lost:
                        run.finish("Failed", LOST)
                    for stage in execution.stages.values():
                        if stage.status == "InProgress":
                            stage.status = "Failed"
                    if lost:
                        execution.set_status("Failed", f"Action {lost[0].name} in stage {lost[0].stage} failed: "
                                             f"{LOST}")
                    else:
                        execution.set_status("Stopped" if execution.status == "Stopping" else "Failed",
                                             "The workshop cloud stopped during this execution.")

