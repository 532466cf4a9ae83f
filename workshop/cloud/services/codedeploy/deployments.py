"""CodeDeploy deployments, their targets and lifecycle events: what AWS decides
(one active deployment per group, which revision a rollback restores, the
triggers' notifications); the deployment runner moves them."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
import string
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workshop.cloud import persistence, services
from workshop.cloud.services.codedeploy import appspec, configs, ecs_appspec
from workshop.cloud.services.codedeploy.configs import DeploymentConfig
from workshop.cloud.services.codedeploy.applications import _s3_object, DeploymentGroup
from workshop.cloud.services.codedeploy.validation import (
    _check_alarm_configuration,
    _check_auto_rollback,
    _check_batch,
    _check_deployment_id,
    _page,
    error,
    now,
)
from workshop.cloud.services.codedeploy.instances import instance_dir

if TYPE_CHECKING:   # the backend composes this module's class
    from workshop.cloud.services.codedeploy.models import CodeDeployBackend


log = logging.getLogger("workshop.cloud.codedeploy")
ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
FINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
DEPLOYMENT_STATUSES = ACTIVE_STATUSES + FINAL_STATUSES
TARGET_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown", "Ready")


def _new_deployment_id() -> str:
    return "d-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=9))


class Target:
    """One target of a deployment (an instance, or a Lambda function's alias) and
    its lifecycle events. Changes go through these methods, under the
    deployment's lock."""

    def __init__(self, deployment: Deployment, kind: str, target_id: str, arn: str, events: tuple[str, ...],
                 instance_dir: str | None = None):
        self.deployment = deployment
        self.kind = kind               # InstanceTarget | LambdaTarget | ECSTarget
        self.target_id = target_id
        self.arn = arn
        self.status = "Pending"
        self.last_updated = now()
        self.events: list[dict[str, Any]] = [{"lifecycleEventName": e, "status": "Pending"} for e in events]
        self.instance_dir = instance_dir
        self.lambda_info: dict[str, Any] | None = None

    @property
    def touched(self) -> bool:
        """Whether the deployment changed anything here (it began at least one event)."""
        return any(e["status"] not in ("Pending", "Skipped") for e in self.events)

    def _event(self, name: str) -> dict[str, Any]:
        for event in self.events:
            if event["lifecycleEventName"] == name:
                return event
        raise KeyError(name)

    def set_status(self, status: str) -> None:
        with self.deployment.lock:
            self.status = status
            self.last_updated = now()
        persistence.changed(self.deployment.account_id)

    def begin(self, name: str) -> None:
        with self.deployment.lock:
            event = self._event(name)
            event.update(status="InProgress", startTime=now())
            event.pop("endTime", None)
            self.last_updated = event["startTime"]
        persistence.changed(self.deployment.account_id)

    def end(self, name: str, status: str, error_code: str = "Success", message: str = "",
            script_name: str = "", log_tail: str = "") -> None:
        with self.deployment.lock:
            event = self._event(name)
            stamp = now()
            event.setdefault("startTime", stamp)
            event.update(status=status, endTime=stamp)
            if status in ("Succeeded", "Failed"):
                event["diagnostics"] = {"errorCode": error_code, "scriptName": script_name,
                                        "message": message or status, "logTail": log_tail}
            self.last_updated = stamp
        persistence.changed(self.deployment.account_id)

    def skip(self, name: str) -> None:
        with self.deployment.lock:
            self._event(name)["status"] = "Skipped"

    def skip_rest(self) -> None:
        """Every event not yet begun is Skipped (the instance failed or the deployment stopped)."""
        with self.deployment.lock:
            for event in self.events:
                if event["status"] == "Pending":
                    event["status"] = "Skipped"
            self.last_updated = now()

    def event_status(self, name: str) -> str:
        with self.deployment.lock:
            return self._event(name)["status"]

    def _body(self) -> dict[str, Any]:
        return {"deploymentId": self.deployment.id, "targetId": self.target_id, "targetArn": self.arn,
                "status": self.status, "lastUpdatedAt": self.last_updated,
                "lifecycleEvents": copy.deepcopy(self.events)}

    def to_target(self) -> dict[str, Any]:
        with self.deployment.lock:
            body = self._body()
            if self.kind == "InstanceTarget":
                body["instanceLabel"] = "Blue"
                return {"deploymentTargetType": "InstanceTarget", "instanceTarget": body}
            if self.kind == "LambdaTarget":
                body["lambdaFunctionInfo"] = dict(self.lambda_info or {})
                return {"deploymentTargetType": "LambdaTarget", "lambdaTarget": body}
            body["taskSetsInfo"] = copy.deepcopy(getattr(self, "task_sets_info", None) or [])
            return {"deploymentTargetType": self.kind, "ecsTarget": body}

    def to_instance_summary(self) -> dict[str, Any]:
        with self.deployment.lock:
            return {"deploymentId": self.deployment.id, "instanceId": self.target_id, "status": self.status,
                    "lastUpdatedAt": self.last_updated, "lifecycleEvents": copy.deepcopy(self.events),
                    "instanceType": "Blue"}


class Deployment:
    def __init__(self, backend: CodeDeployBackend, group: DeploymentGroup, revision: dict[str, Any],
                 config: DeploymentConfig, options: dict[str, Any], creator: str = "user"):
        self.id = _new_deployment_id()
        self.account_id = backend.account_id
        self.region = backend.region_name
        self.lock = threading.RLock()
        self.group = group
        self.application = group.application
        self.config = config
        self.revision = revision
        self.previous_revision = copy.deepcopy(group.last_successful_revision)
        self.status = "Created"
        self.error_information: dict[str, str] | None = None
        self.create_time = now()
        self.start_time: datetime | None = None
        self.complete_time: datetime | None = None
        self.creator = creator
        self.description = options.get("description")
        self.ignore_application_stop_failures = bool(options.get("ignoreApplicationStopFailures", False))
        self.update_outdated_instances_only = bool(options.get("updateOutdatedInstancesOnly", False))
        self.file_exists_behavior = options.get("fileExistsBehavior") or "DISALLOW"
        self.target_instances = options.get("targetInstances")
        self.override_alarm_configuration = options.get("overrideAlarmConfiguration")
        self.external_id = options.get("externalId")
        settings = group.settings
        # What the deployment goes by, fixed when it is created (AWS's rule for an override).
        self.auto_rollback = copy.deepcopy(options.get("autoRollbackConfiguration")
                                           or settings.get("autoRollbackConfiguration") or {"enabled": False})
        self.alarm_configuration = copy.deepcopy(self.override_alarm_configuration
                                                 or settings.get("alarmConfiguration") or {"enabled": False})
        self.deployment_style = copy.deepcopy(settings.get("deploymentStyle"))
        self.load_balancer_info = copy.deepcopy(settings.get("loadBalancerInfo"))
        self.blue_green = copy.deepcopy(settings.get("blueGreenDeploymentConfiguration"))
        self.rollback_info: dict[str, str] = {}
        self.targets: dict[str, Target] = {}
        self.lambda_spec: appspec.LambdaAppSpec | None = None
        self.ecs_spec: ecs_appspec.EcsAppSpec | None = None
        self.ecs: dict[str, Any] | None = None           # an ECS deployment's task sets, groups, weights
        self.rollback_of: Deployment | None = None
        self.rollback_targets: list[str] | None = None   # a Server rollback: the instances to restore
        self.hook_executions: dict[str, dict[str, Any]] = {}
        self.stop_requested: str | None = None           # "request" once stop_deployment asked
        self.stop_rollback: bool | None = None           # stop_deployment's autoRollbackEnabled

    @property
    def compute_platform(self) -> str:
        return self.application.compute_platform

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_rollback(self) -> bool:
        return self.rollback_of is not None

    def alarm_names(self) -> list[str]:
        """The alarms that stop this deployment (none for a rollback, or when disabled)."""
        cfg = self.alarm_configuration or {}
        if self.is_rollback or not cfg.get("enabled"):
            return []
        return [a["name"] for a in cfg.get("alarms") or [] if a.get("name")]

    def ignores_alarm_poll_failure(self) -> bool:
        return bool((self.alarm_configuration or {}).get("ignorePollAlarmFailure"))

    def overview(self) -> dict[str, int]:
        counts = {s: 0 for s in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")}
        with self.lock:
            for target in self.targets.values():
                if target.status in counts:
                    counts[target.status] += 1
        return counts

    def start(self) -> None:
        with self.lock:
            self.status = "InProgress"
            self.start_time = now()
        persistence.changed(self.account_id)

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {
                "applicationName": self.application.name,
                "deploymentGroupName": self.group.name,
                "deploymentConfigName": self.config.name,
                "deploymentId": self.id,
                "revision": copy.deepcopy(self.revision),
                "status": self.status,
                "createTime": self.create_time,
                "creator": self.creator,
                "ignoreApplicationStopFailures": self.ignore_application_stop_failures,
                "autoRollbackConfiguration": copy.deepcopy(self.auto_rollback),
                "updateOutdatedInstancesOnly": self.update_outdated_instances_only,
                "instanceTerminationWaitTimeStarted": False,
                "fileExistsBehavior": self.file_exists_behavior,
                "deploymentStatusMessages": [],
                "computePlatform": self.compute_platform,
                "deploymentOverview": self.overview(),
            }
            optional = {
                "previousRevision": copy.deepcopy(self.previous_revision),
                "errorInformation": dict(self.error_information) if self.error_information else None,
                "startTime": self.start_time,
                "completeTime": self.complete_time,
                "description": self.description,
                "rollbackInfo": dict(self.rollback_info) if self.rollback_info else None,
                "deploymentStyle": copy.deepcopy(self.deployment_style),
                "targetInstances": copy.deepcopy(self.target_instances),
                "blueGreenDeploymentConfiguration": copy.deepcopy(self.blue_green),
                "loadBalancerInfo": copy.deepcopy(self.load_balancer_info),
                "externalId": self.external_id,
                "overrideAlarmConfiguration": copy.deepcopy(self.override_alarm_configuration),
            }
            if self.compute_platform == "ECS":
                out.update(ecs_appspec.info(self))
            out.update({k: v for k, v in optional.items() if v})
            return out


class DeploymentOperations:
    """Deployments: created, listed, stopped, finished, rolled back, notified."""

    # -- deployments ------------------------------------------------------------------------
    def create_deployment(self, application_name: Any, group_name: Any, revision: Any,
                          options: dict[str, Any] | None = None, creator: str = "user") -> Deployment:
        options = dict(options or {})
        if not application_name:
            raise error("ApplicationNameRequiredException", "The minimum number of required application names "
                        "was not specified.")
        app = self.get_application(application_name)
        if not group_name:
            raise error("DeploymentGroupNameRequiredException", "The deployment group name was not specified.")
        group = self.get_deployment_group(app.name, group_name)
        if revision is None:
            if group.target_revision is None:
                raise error("RevisionRequiredException", "The revision ID was not specified.")
            revision = group.target_revision
        revision = self._check_revision(app, revision)
        config = self.get_deployment_config(options.get("deploymentConfigName") or group.config_name,
                                            app.compute_platform)
        description = options.get("description")
        if description is not None and len(str(description)) > 512:
            raise error("DescriptionTooLongException", "The description is too long (at most 512 characters).")
        if options.get("fileExistsBehavior") not in (None,) + appspec.FILE_EXISTS_BEHAVIORS:
            raise error("InvalidFileExistsBehaviorException",
                        f"The fileExistsBehavior {options.get('fileExistsBehavior')} is invalid: use "
                        f"{', '.join(appspec.FILE_EXISTS_BEHAVIORS)}.")
        if options.get("autoRollbackConfiguration") is not None:
            _check_auto_rollback(options["autoRollbackConfiguration"])
        if options.get("overrideAlarmConfiguration") is not None:
            _check_alarm_configuration(options["overrideAlarmConfiguration"])
        lambda_spec = ecs_spec = None
        if app.compute_platform == "Lambda":
            lambda_spec = self._lambda_appspec(revision)
        elif app.compute_platform == "ECS":
            ecs_spec = self._lambda_appspec(revision, ecs_appspec.parse)
        with self.lock:
            for other in self.deployments.values():
                if other.group is group and other.active:
                    raise error("DeploymentLimitExceededException",
                                f"The Deployment Group '{group.name}' already has an active Deployment "
                                f"'{other.id}'")
            deployment = Deployment(self, group, revision, config, options, creator)
            while deployment.id in self.deployments:
                deployment.id = _new_deployment_id()
            deployment.lambda_spec = lambda_spec
            deployment.ecs_spec = ecs_spec
            self._add_targets(deployment)
            self.deployments[deployment.id] = deployment
            group.target_revision = copy.deepcopy(revision)
            group.last_attempted = {"deploymentId": deployment.id, "status": deployment.status,
                                    "createTime": deployment.create_time}
            record = self._revision_record(app, revision)
            record.setdefault("firstUsedTime", deployment.create_time)
            record["lastUsedTime"] = deployment.create_time
            if group.name not in record["deploymentGroups"]:
                record["deploymentGroups"].append(group.name)
        services.announce("codedeploy.deployment-created", backend=self, deployment=deployment)
        return deployment

    def _lambda_appspec(self, revision: dict, parse=appspec.parse_lambda):
        if revision["revisionType"] == "S3":
            content = _s3_object(self.account_id, revision["s3Location"])
        else:
            body = revision.get("appSpecContent") or revision.get("string") or {}
            content = body.get("content", "")
        try:
            return parse(content)
        except appspec.AppSpecError as exc:
            raise error("InvalidRevisionException", f"The AppSpec is invalid: {exc}") from None

    def _add_targets(self, deployment: Deployment) -> None:
        platform = deployment.compute_platform
        if platform == "Lambda":
            spec = deployment.lambda_spec
            target_id = f"{spec.function_name}:{spec.alias}"
            arn = f"arn:{self.partition}:lambda:{self.region_name}:{self.account_id}:function:{target_id}"
            events = appspec.LAMBDA_EVENTS
            target = Target(deployment, "LambdaTarget", target_id, arn, events)
            target.lambda_info = {"functionName": spec.function_name, "functionAlias": spec.alias,
                                  "currentVersion": spec.current_version, "targetVersion": spec.target_version,
                                  "targetVersionWeight": 0.0}
            deployment.targets[target_id] = target
        elif platform == "ECS":
            ecs_appspec.add_target(self, deployment)
        elif platform == "Server":
            for target_id, arn in self.server_instances(deployment.group):
                target = Target(deployment, "InstanceTarget", target_id, arn, appspec.SERVER_EVENTS,
                                instance_dir=str(instance_dir(self.account_id, self.region_name, target_id)))
                deployment.targets[target_id] = target

    def get_deployment(self, deployment_id: Any) -> Deployment:
        deployment_id = _check_deployment_id(deployment_id)
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            raise error("DeploymentDoesNotExistException",
                        f"The deployment {deployment_id} does not exist with the user or AWS account.")
        return deployment

    def batch_get_deployments(self, ids: Any) -> list[Deployment]:
        ids = _check_batch(ids, "deploymentIds", "DeploymentIdRequiredException")
        return [self.deployments[_check_deployment_id(i)] for i in ids if i in self.deployments]

    def list_deployments(self, application_name: Any, group_name: Any, external_id: Any, statuses: Any,
                         time_range: Any, next_token: str | None) -> tuple[list[str], str | None]:
        if application_name and not group_name:
            raise error("DeploymentGroupNameRequiredException",
                        "If applicationName is specified, then deploymentGroupName must be specified.")
        if group_name and not application_name:
            raise error("ApplicationNameRequiredException",
                        "If deploymentGroupName is specified, applicationName must be specified.")
        group = self.get_deployment_group(application_name, group_name) if application_name else None
        for status in statuses or []:
            if status not in DEPLOYMENT_STATUSES:
                raise error("InvalidDeploymentStatusException", f"The deployment status {status} is invalid.")
        start = (time_range or {}).get("start")
        end = (time_range or {}).get("end")
        if start and end and start > end:
            raise error("InvalidTimeRangeException", "The start time must be earlier than the end time.")
        out = []
        for deployment in sorted(self.deployments.values(), key=lambda d: d.create_time, reverse=True):
            if group is not None and deployment.group is not group:
                continue
            if external_id and deployment.external_id != external_id:
                continue
            if statuses and deployment.status not in statuses:
                continue
            if start and deployment.create_time < _aware(start):
                continue
            if end and deployment.create_time > _aware(end):
                continue
            out.append(deployment.id)
        return _page(out, next_token)

    def stop_deployment(self, deployment_id: Any, auto_rollback: bool | None) -> tuple[str, str]:
        deployment = self.get_deployment(deployment_id)
        with deployment.lock:
            if not deployment.active:
                raise error("DeploymentAlreadyCompletedException",
                            f"The deployment {deployment.id} has already completed.")
            deployment.stop_rollback = auto_rollback
            deployment.stop_requested = "request"
        services.announce("codedeploy.deployment-stop-requested", deployment=deployment, reason="request")
        return "Pending", "Stopping Pending. Stopping to schedule commands in the deployment instances"

    def continue_deployment(self, deployment_id: Any, wait_type: str | None = None) -> None:
        deployment = self.get_deployment(deployment_id)
        if not deployment.active:
            raise error("DeploymentAlreadyCompletedException",
                        f"The deployment {deployment.id} has already completed.")
        if wait_type not in (None, "READY_WAIT", "TERMINATION_WAIT"):
            raise error("InvalidDeploymentWaitTypeException", f"The wait type {wait_type} is invalid.")
        if deployment.compute_platform == "ECS" and services.ask("codedeploy.ecs-continue", deployment=deployment,
                                                                 wait_type=wait_type):
            return
        raise error("DeploymentIsNotInReadyStateException",
                    f"The deployment {deployment.id} is not in the Ready state (it waits for no one).")

    # targets
    def deployment_targets(self, deployment_id: Any) -> Deployment:
        deployment = self.get_deployment(deployment_id)
        if deployment.status == "Created" and not deployment.targets:
            raise error("DeploymentNotStartedException", f"The deployment {deployment.id} has not started.")
        return deployment

    def list_deployment_targets(self, deployment_id: Any, filters: Any,
                                next_token: str | None) -> tuple[list[str], str | None]:
        deployment = self.deployment_targets(deployment_id)
        filters = filters or {}
        for name in filters:
            if name not in ("TargetStatus", "ServerInstanceLabel"):
                raise error("InvalidTargetFilterNameException", f"The target filter name {name} is invalid.")
        statuses = filters.get("TargetStatus") or []
        for status in statuses:
            if status not in TARGET_STATUSES:
                raise error("InvalidInstanceStatusException", f"The target status {status} is invalid.")
        labels = filters.get("ServerInstanceLabel") or []
        for label in labels:
            if label not in ("Blue", "Green"):
                raise error("InvalidInstanceTypeException", f"The instance label {label} is invalid.")
        ids = [t.target_id for t in deployment.targets.values()
               if (not statuses or t.status in statuses) and (not labels or "Blue" in labels)]
        return _page(ids, next_token)

    def get_deployment_target(self, deployment_id: Any, target_id: Any) -> Target:
        deployment = self.deployment_targets(deployment_id)
        if not target_id:
            raise error("DeploymentTargetIdRequiredException", "A deployment target ID was not provided.")
        target = deployment.targets.get(str(target_id))
        if target is None:
            raise error("DeploymentTargetDoesNotExistException",
                        f"The target {target_id} is not part of deployment {deployment.id}.")
        return target

    def batch_get_deployment_targets(self, deployment_id: Any, target_ids: Any) -> list[Target]:
        if not target_ids:
            raise error("DeploymentTargetIdRequiredException", "A deployment target ID was not provided.")
        if len(target_ids) > 25:
            raise error("DeploymentTargetListSizeExceededException",
                        "The maximum number of targets that can be associated with this request (25) was exceeded.")
        return [self.get_deployment_target(deployment_id, t) for t in target_ids]

    def list_deployment_instances(self, deployment_id: Any, statuses: Any, types: Any,
                                  next_token: str | None) -> tuple[list[str], str | None]:
        deployment = self.deployment_targets(deployment_id)
        _check_instance_platform(deployment)
        for status in statuses or []:
            if status not in TARGET_STATUSES:
                raise error("InvalidInstanceStatusException", f"The instance status {status} is invalid.")
        for kind in types or []:
            if kind not in ("Blue", "Green"):
                raise error("InvalidInstanceTypeException", f"The instance type {kind} is invalid.")
        ids = [t.target_id for t in deployment.targets.values()
               if (not statuses or t.status in statuses) and (not types or "Blue" in types)]
        return _page(ids, next_token)

    def get_deployment_instance(self, deployment_id: Any, instance_id: Any) -> Target:
        deployment = self.get_deployment(deployment_id)
        _check_instance_platform(deployment)
        if not instance_id:
            raise error("InstanceIdRequiredException", "The instance ID was not specified.")
        target = deployment.targets.get(str(instance_id))
        if target is None:
            raise error("InstanceDoesNotExistException",
                        f"The instance {instance_id} is not part of deployment {deployment.id}.")
        return target

    def batch_get_deployment_instances(self, deployment_id: Any, instance_ids: Any) -> tuple[list[Target], str]:
        deployment = self.get_deployment(deployment_id)
        _check_instance_platform(deployment)
        instance_ids = _check_batch(instance_ids, "instanceIds", "InstanceIdRequiredException")
        found = [deployment.targets[i] for i in instance_ids if i in deployment.targets]
        missing = [i for i in instance_ids if i not in deployment.targets]
        return found, (f"Instances not found in deployment {deployment.id}: {', '.join(missing)}" if missing else "")

    def put_lifecycle_event_hook_execution_status(self, deployment_id: Any, execution_id: Any,
                                                  status: Any) -> str:
        if not deployment_id:
            raise error("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
        deployment = self.get_deployment(deployment_id)
        if deployment.compute_platform == "Server":
            raise error("UnsupportedActionForDeploymentTypeException",
                        "Lifecycle hook execution status is reported by Lambda and ECS hook functions; instance "
                        "hooks are scripts that the agent runs.")
        if status not in ("Succeeded", "Failed"):
            raise error("InvalidLifecycleEventHookExecutionStatusException",
                        f"The status {status} is invalid: report Succeeded or Failed.")
        with deployment.lock:
            execution = deployment.hook_executions.get(str(execution_id or ""))
            if execution is None:
                raise error("InvalidLifecycleEventHookExecutionIdException",
                            f"The lifecycle event hook execution ID {execution_id} is invalid for deployment "
                            f"{deployment.id}.")
            if execution.get("status") is not None or execution.get("done"):
                raise error("LifecycleEventAlreadyCompletedException",
                            f"The lifecycle event {execution['event']} of deployment {deployment.id} has already "
                            "completed.")
            execution["status"] = status
        return str(execution_id)

    # -- what the runner reports -------------------------------------------------------
    def finish_deployment(self, deployment: Deployment, status: str, code: str | None = None,
                          message: str | None = None, cause: str | None = None) -> Deployment | None:
        """A deployment is over: its status, error and end time, what its group remembers and,
        when ``cause`` (failure, alarm or request) and its configuration ask, its rollback with
        rollbackInfo on both. All of it under the backend's lock and the deployment's, which
        get_deployment reads under: nobody sees it Failed or Stopped without its rollbackInfo.
        Returns the rollback, handed to the runner once the locks are released."""
        with self.lock, deployment.lock:
            if not deployment.active:
                return None
            deployment.status = status
            deployment.complete_time = now()
            if code:
                deployment.error_information = {"code": code, "message": message or ""}
            for target in deployment.targets.values():
                if target.status == "Pending":
                    target.skip_rest()
                    target.set_status("Skipped")
            group = deployment.group
            if group.last_attempted and group.last_attempted.get("deploymentId") == deployment.id:
                group.last_attempted.update(status=status, endTime=deployment.complete_time)
            if status == "Succeeded":
                group.last_successful = {"deploymentId": deployment.id, "status": status,
                                         "endTime": deployment.complete_time, "createTime": deployment.create_time}
                group.last_successful_revision = copy.deepcopy(deployment.revision)
                group.last_successful_deployment_id = deployment.id
            rollback = self._rollback(deployment, cause) if cause else None
        persistence.changed(self.account_id)
        if rollback is not None:
            services.announce("codedeploy.deployment-created", backend=self, deployment=rollback)
        return rollback

    def _rollback(self, failed: Deployment, cause: str) -> Deployment | None:
        """The rollback of ``failed`` if its configuration (or stop_deployment) asks: a new deployment
        of the last good state. The caller holds the backend's and ``failed``'s locks."""
        if failed.is_rollback or not self._wants_rollback(failed, cause):
            return None
        group = failed.group
        if self.deployment_groups.get(group.application.name, {}).get(group.name) is not group:
            return None
        reason = {"failure": "the deployment failed", "alarm": "an alarm of the deployment group went into ALARM",
                  "request": "the deployment was stopped by a request",
                  "lost": "the workshop cloud stopped during the deployment"}[cause]
        if failed.compute_platform == "Lambda":
            spec = failed.lambda_spec.reversed()
            revision = copy.deepcopy(group.last_successful_revision) or {
                "revisionType": "AppSpecContent", "appSpecContent": {"content": spec.to_content()}}
            if revision.get("revisionType") == "AppSpecContent":
                revision["appSpecContent"].setdefault(
                    "sha256", hashlib.sha256(revision["appSpecContent"]["content"].encode()).hexdigest())
            restore = None
            config = self.configs[configs.PREFIX + "LambdaAllAtOnce"]
        elif failed.compute_platform == "Server":
            if group.last_successful_revision is None:
                failed.rollback_info = {"rollbackMessage": f"Automatic rollback was not started ({reason}): "
                                        "the deployment group has no earlier successful revision."}
                return None
            revision = copy.deepcopy(group.last_successful_revision)
            spec = None
            restore = [t.target_id for t in failed.targets.values() if t.touched]
            config = failed.config
        elif failed.compute_platform == "ECS":
            ecs_state = ecs_appspec.rollback_state(failed)
            if ecs_state is None:
                failed.rollback_info = {"rollbackMessage": f"Automatic rollback was not started ({reason}): "
                                        "no replacement task set was created."}
                return None
            revision = copy.deepcopy(group.last_successful_revision or failed.revision)
            spec = restore = None
            config = failed.config
        else:
            return None
        rollback = Deployment(self, group, revision, config, {"description": f"Rollback of {failed.id}"},
                              creator="codeDeployRollback")
        while rollback.id in self.deployments:
            rollback.id = _new_deployment_id()
        rollback.rollback_of = failed
        rollback.lambda_spec = spec
        if failed.compute_platform == "ECS":
            rollback.ecs_spec, rollback.ecs = failed.ecs_spec, ecs_state
        rollback.rollback_targets = restore
        rollback.previous_revision = copy.deepcopy(failed.revision)
        self._add_targets(rollback)
        if restore is not None:
            for target in rollback.targets.values():
                if target.target_id not in restore:
                    target.skip_rest()
                    target.set_status("Skipped")
        rollback.rollback_info = {"rollbackTriggeringDeploymentId": failed.id,
                                  "rollbackMessage": f"Rolls back deployment {failed.id} ({reason})."}
        self.deployments[rollback.id] = rollback
        group.last_attempted = {"deploymentId": rollback.id, "status": rollback.status,
                                "createTime": rollback.create_time}
        failed.rollback_info = {"rollbackDeploymentId": rollback.id,
                                "rollbackMessage": f"Automatic rollback triggered because {reason}; "
                                                   f"deployment {rollback.id} restores the last good revision."}
        return rollback

    @staticmethod
    def _wants_rollback(deployment: Deployment, cause: str) -> bool:
        cfg = deployment.auto_rollback or {}
        events = set(cfg.get("events") or []) if cfg.get("enabled") else set()
        if cause == "request":
            if deployment.stop_rollback is not None:
                return deployment.stop_rollback
            return "DEPLOYMENT_STOP_ON_REQUEST" in events
        if cause == "alarm":
            return bool(events & {"DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_FAILURE"})
        return "DEPLOYMENT_FAILURE" in events   # failure, or lost (the cloud stopped under it)

    def notify(self, deployment: Deployment, event: str, target: Target | None = None) -> None:
        """Send the group's triggers for ``event`` (SNS, in AWS's message format)."""
        triggers = [t for t in deployment.group.settings.get("triggerConfigurations") or []
                    if event in (t.get("triggerEvents") or [])]
        if not triggers:
            return
        status = {"DeploymentStart": "CREATED", "DeploymentSuccess": "SUCCEEDED", "DeploymentFailure": "FAILED",
                  "DeploymentStop": "STOPPED", "DeploymentRollback": "ROLLBACK", "DeploymentReady": "READY",
                  "InstanceStart": "STARTED", "InstanceSuccess": "SUCCEEDED", "InstanceFailure": "FAILED",
                  "InstanceReady": "READY"}[event]
        info = deployment.to_dict()
        message: dict[str, Any] = {
            "region": self.region_name, "accountId": self.account_id,
            "applicationName": deployment.application.name, "deploymentId": deployment.id,
            "deploymentGroupName": deployment.group.name, "status": status,
            "createTime": _trigger_time(deployment.create_time),
            "deploymentOverview": json.dumps(info["deploymentOverview"]),
        }
        if deployment.complete_time:
            message["completeTime"] = _trigger_time(deployment.complete_time)
        if deployment.error_information:
            message["errorInformation"] = json.dumps({"ErrorCode": deployment.error_information["code"],
                                                      "ErrorMessage": deployment.error_information["message"]})
        if target is not None:
            summary = target.to_instance_summary()
            message.update(instanceId=target.target_id, instanceStatus=target.status,
                           lastUpdatedAt=_trigger_time(summary["lastUpdatedAt"]),
                           lifecycleEvents=json.dumps([
                               {"LifecycleEvent": e["lifecycleEventName"], "LifecycleEventStatus": e["status"]}
                               for e in summary["lifecycleEvents"]]))
        subject = f"{status}: AWS CodeDeploy {deployment.id} in {self.region_name} to {deployment.application.name}"
        for trigger in triggers:
            _publish(trigger.get("triggerTargetArn", ""), dict(message, eventTriggerName=trigger.get("triggerName")),
                     subject[:100])


def _check_instance_platform(deployment: Deployment) -> None:
    if deployment.compute_platform != "Server":
        raise error("InvalidComputePlatformException",
                    f"Deployment {deployment.id} is a {deployment.compute_platform} deployment: use the "
                    "deployment target APIs (ListDeploymentTargets, BatchGetDeploymentTargets).")


def _publish(topic_arn: str, message: dict, subject: str) -> None:
    try:
        from moto.sns.models import sns_backends

        _, _, _, region, account, _ = topic_arn.split(":", 5)
        sns_backends[account][region].publish(json.dumps(message), arn=topic_arn, subject=subject)
    except Exception:   # a trigger to a topic that is gone must not break the deployment
        log.info("CodeDeploy trigger to %s failed", topic_arn, exc_info=True)


def _trigger_time(value: datetime) -> str:
    return value.strftime("%a %b %d %H:%M:%S UTC %Y")


def _aware(value: Any) -> datetime:
    if isinstance(value, (int, float)):
        from datetime import timezone

        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, datetime) and value.tzinfo is None:
        from datetime import timezone

        return value.replace(tzinfo=timezone.utc)
    return value
