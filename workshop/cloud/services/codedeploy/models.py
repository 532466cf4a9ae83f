"""CodeDeploy state and rules, per account and region: applications,
deployment configurations, deployment groups (kept whole, as they were
given), on-premises instances, application revisions, and deployments with
their targets and lifecycle events. The deployment runner moves deployments;
this module records them and decides what AWS would (one active deployment
per group, which revision a rollback restores). It replaces moto's backend in
moto's own ``codedeploy_backends``, so every caller finds this one.

For other engines (a pipeline's CodeDeploy action): ``create_deployment(account,
region, application, group, revision)`` and ``deployment_status(account, region,
deployment_id)`` at the bottom of this module.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
import re
import string
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from moto.codedeploy import models as moto_codedeploy
from moto.codedeploy.exceptions import CodeDeployException
from moto.core.base_backend import BaseBackend
from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource
from moto.utilities.tagging_service import TaggingService

from workshop.cloud import runtime, services
from workshop.cloud.services import paging
from workshop.cloud.clock import get_clock
from workshop.cloud.services.codedeploy import appspec, configs
from workshop.cloud.services.codedeploy.configs import (
    COMPUTE_PLATFORMS,
    DEFAULT_FOR_PLATFORM,
    DeploymentConfig,
    DeploymentConfigDoesNotExistException,
    DeploymentConfigInUseException,
    DeploymentConfigAlreadyExistsException,
    InvalidComputePlatformException,
    InvalidDeploymentConfigNameException,
    InvalidOperationException,
)

log = logging.getLogger("workshop.cloud.codedeploy")

ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
FINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
DEPLOYMENT_STATUSES = ACTIVE_STATUSES + FINAL_STATUSES
TARGET_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown", "Ready")
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")
TRIGGER_EVENTS = ("DeploymentStart", "DeploymentSuccess", "DeploymentFailure", "DeploymentStop",
                  "DeploymentRollback", "DeploymentReady", "InstanceStart", "InstanceSuccess",
                  "InstanceFailure", "InstanceReady")
MAX_ALARMS = 10
MAX_TRIGGERS = 10
PAGE = 100
BATCH_LIMIT = 100

_APPLICATION_NAME = re.compile(r"^[A-Za-z0-9._+=,@-]{1,100}$")
_GROUP_NAME = _APPLICATION_NAME
_INSTANCE_NAME = re.compile(r"^[A-Za-z0-9._+=,@-]{1,100}$")
_DEPLOYMENT_ID = re.compile(r"^d-[A-Z0-9]{9}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+")
_IAM_SESSION_ARN = re.compile(r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/.+")
_IAM_USER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:user/.+")


def error(kind: str, message: str) -> CodeDeployException:
    """One of CodeDeploy's own errors (the ``__type`` boto3 reports as the error code)."""
    return CodeDeployException(kind, message)


def now() -> datetime:
    return get_clock().now()


def _new_deployment_id() -> str:
    return "d-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=9))


# -- resources ----------------------------------------------------------------------

class Application:
    def __init__(self, name: str, compute_platform: str):
        self.id = str(uuid.uuid4())
        self.name = name
        self.compute_platform = compute_platform
        self.create_time = now()

    def to_dict(self) -> dict[str, Any]:
        return {"applicationId": self.id, "applicationName": self.name, "createTime": self.create_time,
                "linkedToGitHub": False, "computePlatform": self.compute_platform}


# Deployment group settings, by their API names, kept as given.
GROUP_SETTINGS = ("deploymentConfigName", "ec2TagFilters", "onPremisesInstanceTagFilters", "autoScalingGroups",
                  "serviceRoleArn", "triggerConfigurations", "alarmConfiguration", "autoRollbackConfiguration",
                  "outdatedInstancesStrategy", "deploymentStyle", "blueGreenDeploymentConfiguration",
                  "loadBalancerInfo", "ec2TagSet", "ecsServices", "onPremisesTagSet", "terminationHookEnabled")


class DeploymentGroup:
    def __init__(self, application: Application, name: str, settings: dict[str, Any]):
        self.id = str(uuid.uuid4())
        self.application = application
        self.name = name
        self.settings = settings
        self.target_revision: dict | None = None
        self.last_successful: dict | None = None
        self.last_attempted: dict | None = None
        self.last_successful_revision: dict | None = None
        self.last_successful_deployment_id: str | None = None

    @property
    def compute_platform(self) -> str:
        return self.application.compute_platform

    @property
    def config_name(self) -> str:
        return self.settings["deploymentConfigName"]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"applicationName": self.application.name, "deploymentGroupId": self.id,
                               "deploymentGroupName": self.name, "computePlatform": self.compute_platform}
        out.update(copy.deepcopy(self.settings))
        # The API takes Auto Scaling group names and answers structures (name, and the hook CodeDeploy adds).
        out["autoScalingGroups"] = [{"name": n, "hook": f"CodeDeploy-managed-automatic-launch-deployment-hook-{n}"}
                                    for n in self.settings.get("autoScalingGroups") or []]
        if self.target_revision:
            out["targetRevision"] = copy.deepcopy(self.target_revision)
        if self.last_successful:
            out["lastSuccessfulDeployment"] = dict(self.last_successful)
        if self.last_attempted:
            out["lastAttemptedDeployment"] = dict(self.last_attempted)
        return out


class OnPremisesInstance:
    def __init__(self, backend: CodeDeployBackend, name: str, iam_session_arn: str | None, iam_user_arn: str | None):
        self.name = name
        self.iam_session_arn = iam_session_arn
        self.iam_user_arn = iam_user_arn
        self.arn = backend.arn(f"instance/{name}")
        self.register_time = now()
        self.deregister_time: datetime | None = None
        self.tags: list[dict[str, str]] = []

    @property
    def registered(self) -> bool:
        return self.deregister_time is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instanceName": self.name, "instanceArn": self.arn,
                               "registerTime": self.register_time, "tags": [dict(t) for t in self.tags]}
        if self.iam_session_arn:
            out["iamSessionArn"] = self.iam_session_arn
        if self.iam_user_arn:
            out["iamUserArn"] = self.iam_user_arn
        if self.deregister_time:
            out["deregisterTime"] = self.deregister_time
        return out


# -- deployments ------------------------------------------------------------------------

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

    def begin(self, name: str) -> None:
        with self.deployment.lock:
            event = self._event(name)
            event.update(status="InProgress", startTime=now())
            event.pop("endTime", None)
            self.last_updated = event["startTime"]

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
            out.update({k: v for k, v in optional.items() if v})
            return out


# -- the backend -------------------------------------------------------------------------

class CodeDeployBackend(BaseBackend, TaggableResourcesMixin):
    SERVICE_NAMESPACE = "codedeploy"

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()
        self.applications: dict[str, Application] = {}
        self.deployment_groups: dict[str, dict[str, DeploymentGroup]] = {}
        self.configs: dict[str, DeploymentConfig] = configs.predefined()
        self.deployments: dict[str, Deployment] = {}
        self.instances: dict[str, OnPremisesInstance] = {}
        self.revisions: dict[str, dict[str, dict[str, Any]]] = {}
        self.tagger = TaggingService()

    @property
    def _url_module(self):
        # moto finds a service's URLs next to its backend's module: they stay moto's.
        from moto.codedeploy import urls

        return urls

    def reset(self) -> None:
        # A reset account's running deployments stop (their scripts killed) and record nothing more.
        services.announce("codedeploy.backend-reset", account_id=self.account_id, region=self.region_name)
        super().reset()

    def arn(self, resource: str) -> str:
        return f"arn:{self.partition}:codedeploy:{self.region_name}:{self.account_id}:{resource}"

    def application_arn(self, name: str) -> str:
        return self.arn(f"application:{name}")

    def group_arn(self, application: str, group: str) -> str:
        return self.arn(f"deploymentgroup:{application}/{group}")

    def config_arn(self, name: str) -> str:
        return self.arn(f"deploymentconfig:{name}")

    # -- applications ------------------------------------------------------------
    def create_application(self, name: Any, compute_platform: Any = None, tags: Any = None) -> Application:
        name = _check_application_name(name)
        platform = compute_platform or "Server"
        if platform not in COMPUTE_PLATFORMS:
            raise InvalidComputePlatformException(
                f"The computePlatform {platform} is invalid: use one of {', '.join(COMPUTE_PLATFORMS)}")
        tags = _check_tags(tags)
        with self.lock:
            if name in self.applications:
                raise error("ApplicationAlreadyExistsException",
                            f"The application {name} already exists with the user or AWS account.")
            app = Application(name, platform)
            self.applications[name] = app
            self.deployment_groups[name] = {}
            if tags:
                self.tagger.tag_resource(self.application_arn(name), tags)
        return app

    def get_application(self, name: Any) -> Application:
        name = _check_application_name(name)
        app = self.applications.get(name)
        if app is None:
            raise error("ApplicationDoesNotExistException",
                        f"The application {name} does not exist with the user or AWS account.")
        return app

    def batch_get_applications(self, names: Any) -> list[Application]:
        names = _check_batch(names, "applicationNames", "ApplicationNameRequiredException")
        return [self.get_application(n) for n in names]

    def list_applications(self, next_token: str | None) -> tuple[list[str], str | None]:
        return _page(sorted(self.applications), next_token)

    def update_application(self, name: Any, new_name: Any) -> None:
        app = self.get_application(name)
        if not new_name or new_name == app.name:
            return
        new_name = _check_application_name(new_name)
        with self.lock:
            if new_name in self.applications:
                raise error("ApplicationAlreadyExistsException",
                            f"The application {new_name} already exists with the user or AWS account.")
            old_arn = self.application_arn(app.name)
            self.applications[new_name] = self.applications.pop(app.name)
            self.deployment_groups[new_name] = self.deployment_groups.pop(app.name, {})
            self.revisions[new_name] = self.revisions.pop(app.name, {})
            tags = self.tagger.list_tags_for_resource(old_arn)["Tags"]
            self.tagger.delete_all_tags_for_resource(old_arn)
            app.name = new_name
            if tags:
                self.tagger.tag_resource(self.application_arn(new_name), tags)

    def delete_application(self, name: Any) -> None:
        name = _check_application_name(name)
        with self.lock:
            if name not in self.applications:
                return   # AWS answers success for an application that is not there
            for group in list(self.deployment_groups.get(name, {})):
                self.delete_deployment_group(name, group)
            self.applications.pop(name)
            self.deployment_groups.pop(name, None)
            self.revisions.pop(name, None)
            self.tagger.delete_all_tags_for_resource(self.application_arn(name))

    # -- deployment configurations ---------------------------------------------------
    def create_deployment_config(self, name: Any, compute_platform: Any, minimum_healthy_hosts: Any,
                                 traffic_routing_config: Any, zonal_config: Any = None) -> DeploymentConfig:
        config = configs.new_config(name, compute_platform, minimum_healthy_hosts, traffic_routing_config,
                                    zonal_config)
        with self.lock:
            if config.name in self.configs:
                raise DeploymentConfigAlreadyExistsException(
                    f"A deployment configuration with the name {config.name} already exists with the user or "
                    "AWS account.")
            self.configs[config.name] = config
        return config

    def get_deployment_config(self, name: Any, compute_platform: str | None = None) -> DeploymentConfig:
        name = configs.check_name(name)
        config = self.configs.get(name)
        if config is None:
            raise DeploymentConfigDoesNotExistException(
                f"The deployment configuration {name} does not exist with the user or AWS account.")
        if compute_platform and config.compute_platform != compute_platform:
            raise InvalidDeploymentConfigNameException(
                f"The deployment configuration {name} is for the {config.compute_platform} compute platform and "
                f"cannot be used with the {compute_platform} compute platform.")
        return config

    def list_deployment_configs(self, next_token: str | None) -> tuple[list[str], str | None]:
        return _page(sorted(self.configs), next_token)

    def delete_deployment_config(self, name: Any) -> None:
        name = configs.check_name(name)
        with self.lock:
            config = self.configs.get(name)
            if config is None:
                return
            if config.predefined:
                raise InvalidOperationException(
                    f"The deployment configuration {name} is a predefined configuration and cannot be deleted.")
            for groups in self.deployment_groups.values():
                for group in groups.values():
                    if group.config_name == name:
                        raise DeploymentConfigInUseException(
                            f"The deployment configuration {name} is still in use by deployment group "
                            f"{group.application.name}/{group.name}.")
            del self.configs[name]

    # -- deployment groups -------------------------------------------------------------
    def create_deployment_group(self, application_name: Any, group_name: Any, params: dict[str, Any],
                                tags: Any = None) -> DeploymentGroup:
        app = self.get_application(application_name)
        group_name = _check_group_name(group_name)
        settings = self._group_settings(app, params, None)
        tags = _check_tags(tags)
        with self.lock:
            groups = self.deployment_groups.setdefault(app.name, {})
            if group_name in groups:
                raise error("DeploymentGroupAlreadyExistsException",
                            f"The deployment group {group_name} already exists with the application {app.name}.")
            group = DeploymentGroup(app, group_name, settings)
            groups[group_name] = group
            if tags:
                self.tagger.tag_resource(self.group_arn(app.name, group_name), tags)
        return group

    def get_deployment_group(self, application_name: Any, group_name: Any) -> DeploymentGroup:
        app = self.get_application(application_name)
        group_name = _check_group_name(group_name)
        group = self.deployment_groups.get(app.name, {}).get(group_name)
        if group is None:
            raise error("DeploymentGroupDoesNotExistException",
                        f"The deployment group {group_name} does not exist with the user or AWS account.")
        return group

    def batch_get_deployment_groups(self, application_name: Any, names: Any) -> tuple[list[DeploymentGroup], str]:
        app = self.get_application(application_name)
        names = _check_batch(names, "deploymentGroupNames", "DeploymentGroupNameRequiredException")
        found, missing = [], []
        for name in names:
            group = self.deployment_groups.get(app.name, {}).get(name)
            (found if group else missing).append(group or name)
        message = f"Deployment groups do not exist: {', '.join(missing)}" if missing else ""
        return found, message

    def list_deployment_groups(self, application_name: Any, next_token: str | None) -> tuple[list[str], str | None]:
        app = self.get_application(application_name)
        return _page(sorted(self.deployment_groups.get(app.name, {})), next_token)

    def update_deployment_group(self, application_name: Any, current_name: Any, new_name: Any,
                                params: dict[str, Any]) -> DeploymentGroup:
        group = self.get_deployment_group(application_name, current_name)
        settings = self._group_settings(group.application, params, group.settings)
        with self.lock:
            groups = self.deployment_groups[group.application.name]
            if new_name and new_name != group.name:
                new_name = _check_group_name(new_name)
                if new_name in groups:
                    raise error("DeploymentGroupAlreadyExistsException",
                                f"The deployment group {new_name} already exists with the application "
                                f"{group.application.name}.")
                old_arn = self.group_arn(group.application.name, group.name)
                tags = self.tagger.list_tags_for_resource(old_arn)["Tags"]
                self.tagger.delete_all_tags_for_resource(old_arn)
                groups[new_name] = groups.pop(group.name)
                group.name = new_name
                if tags:
                    self.tagger.tag_resource(self.group_arn(group.application.name, new_name), tags)
            group.settings = settings
        return group

    def delete_deployment_group(self, application_name: Any, group_name: Any) -> None:
        app_name = _check_application_name(application_name)
        group_name = _check_group_name(group_name)
        with self.lock:
            group = self.deployment_groups.get(app_name, {}).pop(group_name, None)
            if group is None:
                return   # AWS answers success for a group that is not there
            self.tagger.delete_all_tags_for_resource(self.group_arn(app_name, group_name))
        for deployment in list(self.deployments.values()):
            if deployment.group is group and deployment.active:
                services.announce("codedeploy.deployment-stop-requested", deployment=deployment, reason="request")

    def _group_settings(self, app: Application, params: dict[str, Any], current: dict | None) -> dict[str, Any]:
        """The settings of a group after a create (current None) or an update, checked as AWS checks them."""
        settings = copy.deepcopy(current) if current else {}
        given = {k: copy.deepcopy(v) for k, v in params.items() if k in GROUP_SETTINGS and v is not None}
        settings.update(given)
        platform = app.compute_platform
        if current is None:
            settings.setdefault("deploymentConfigName", DEFAULT_FOR_PLATFORM[platform])
            if platform == "Server":
                settings.setdefault("deploymentStyle", {"deploymentType": "IN_PLACE",
                                                        "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"})
            else:
                settings.setdefault("deploymentStyle", {"deploymentType": "BLUE_GREEN",
                                                        "deploymentOption": "WITH_TRAFFIC_CONTROL"})
            for key in ("ec2TagFilters", "onPremisesInstanceTagFilters", "autoScalingGroups",
                        "triggerConfigurations", "ecsServices"):
                settings.setdefault(key, [])
            settings.setdefault("alarmConfiguration", {"enabled": False, "ignorePollAlarmFailure": False,
                                                       "alarms": []})
            settings.setdefault("autoRollbackConfiguration", {"enabled": False, "events": []})
            settings.setdefault("outdatedInstancesStrategy", "UPDATE")
            settings.setdefault("terminationHookEnabled", False)
        for key, defaults in (("alarmConfiguration", {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []}),
                              ("autoRollbackConfiguration", {"enabled": False, "events": []})):
            if isinstance(settings.get(key), dict):
                settings[key] = {**defaults, **settings[key]}
        self.get_deployment_config(settings["deploymentConfigName"], platform)
        role = settings.get("serviceRoleArn")
        if not role:
            raise error("RoleRequiredException", "Role ARN is required for the deployment group.")
        if not isinstance(role, str) or not _ROLE_ARN.match(role):
            raise error("InvalidRoleException", f"The service role ARN {role} is not valid: use an IAM role ARN.")
        _check_tag_filters(settings.get("ec2TagFilters"), "InvalidEC2TagException", "EC2")
        _check_tag_filters(settings.get("onPremisesInstanceTagFilters"), "InvalidTagException", "on-premises")
        if settings.get("ec2TagFilters") and (settings.get("ec2TagSet") or {}).get("ec2TagSetList"):
            raise error("InvalidEC2TagCombinationException",
                        "The deployment group cannot have both ec2TagFilters and ec2TagSet.")
        if settings.get("onPremisesInstanceTagFilters") and \
                (settings.get("onPremisesTagSet") or {}).get("onPremisesTagSetList"):
            raise error("InvalidOnPremisesTagCombinationException",
                        "The deployment group cannot have both onPremisesInstanceTagFilters and onPremisesTagSet.")
        for key, field_name, kind in (("ec2TagSet", "ec2TagSetList", "InvalidEC2TagException"),
                                      ("onPremisesTagSet", "onPremisesTagSetList", "InvalidTagException")):
            groups = (settings.get(key) or {}).get(field_name) or []
            if len(groups) > 3:
                raise error("TagSetListLimitExceededException", f"{key} may hold at most 3 tag groups.")
            for group_filters in groups:
                _check_tag_filters(group_filters, kind, key)
        _check_alarm_configuration(settings.get("alarmConfiguration"))
        _check_auto_rollback(settings.get("autoRollbackConfiguration"))
        _check_triggers(settings.get("triggerConfigurations"))
        style = settings.get("deploymentStyle") or {}
        if style.get("deploymentType") not in (None, "IN_PLACE", "BLUE_GREEN") or \
                style.get("deploymentOption") not in (None, "WITH_TRAFFIC_CONTROL", "WITHOUT_TRAFFIC_CONTROL"):
            raise error("InvalidDeploymentStyleException", f"The deployment style {style} is invalid.")
        if platform != "Server" and style.get("deploymentType") == "IN_PLACE":
            raise error("InvalidDeploymentStyleException",
                        f"The {platform} compute platform supports only BLUE_GREEN deployments with traffic control.")
        if settings.get("outdatedInstancesStrategy") not in ("UPDATE", "IGNORE"):
            raise error("InvalidInputException", "outdatedInstancesStrategy must be UPDATE or IGNORE.")
        return settings

    # -- on-premises instances ---------------------------------------------------------
    def register_on_premises_instance(self, name: Any, iam_session_arn: Any, iam_user_arn: Any) -> None:
        name = _check_instance_name(name)
        if iam_session_arn and iam_user_arn:
            raise error("MultipleIamArnsProvidedException",
                        "Both an IAM user ARN and an IAM session ARN were included in the request. Use only one "
                        "ARN type.")
        if not iam_session_arn and not iam_user_arn:
            raise error("IamArnRequiredException", "No IAM ARN was included in the request. You must use an IAM "
                        "session ARN or user ARN in the request.")
        if iam_session_arn and not _IAM_SESSION_ARN.match(str(iam_session_arn)):
            raise error("InvalidIamSessionArnException", f"The IAM session ARN {iam_session_arn} is not valid.")
        if iam_user_arn and not _IAM_USER_ARN.match(str(iam_user_arn)):
            raise error("InvalidIamUserArnException", f"The IAM user ARN {iam_user_arn} is not valid.")
        with self.lock:
            existing = self.instances.get(name)
            if existing is not None and existing.registered:
                raise error("InstanceNameAlreadyRegisteredException",
                            f"The on-premises instance name {name} was already registered.")
            for other in self.instances.values():
                if not other.registered:
                    continue
                if iam_session_arn and other.iam_session_arn == iam_session_arn:
                    raise error("IamSessionArnAlreadyRegisteredException",
                                f"The IAM session ARN {iam_session_arn} is already registered.")
                if iam_user_arn and other.iam_user_arn == iam_user_arn:
                    raise error("IamUserArnAlreadyRegisteredException",
                                f"The IAM user ARN {iam_user_arn} is already registered.")
            self.instances[name] = OnPremisesInstance(self, name, iam_session_arn, iam_user_arn)

    def get_on_premises_instance(self, name: Any) -> OnPremisesInstance:
        name = _check_instance_name(name)
        instance = self.instances.get(name)
        if instance is None:
            raise error("InstanceNotRegisteredException", f"The on-premises instance {name} is not registered.")
        return instance

    def batch_get_on_premises_instances(self, names: Any) -> list[OnPremisesInstance]:
        names = _check_batch(names, "instanceNames", "InstanceNameRequiredException")
        return [self.instances[n] for n in names if n in self.instances]

    def deregister_on_premises_instance(self, name: Any) -> None:
        instance = self.instances.get(_check_instance_name(name))
        if instance is not None and instance.registered:
            instance.deregister_time = now()

    def list_on_premises_instances(self, status: str | None, tag_filters: Any,
                                   next_token: str | None) -> tuple[list[str], str | None]:
        if status not in (None, "Registered", "Deregistered"):
            raise error("InvalidRegistrationStatusException", f"The registration status {status} is invalid.")
        _check_tag_filters(tag_filters, "InvalidTagFilterException", "on-premises")
        names = []
        for instance in self.instances.values():
            if status == "Registered" and not instance.registered:
                continue
            if status == "Deregistered" and instance.registered:
                continue
            if tag_filters and not matches_any(instance.tags, tag_filters):
                continue
            names.append(instance.name)
        return _page(sorted(names), next_token)

    def add_tags_to_on_premises_instances(self, tags: Any, names: Any) -> None:
        tags = _check_instance_tags(tags)
        instances = self._registered_instances(names)
        for instance in instances:
            kept = [t for t in instance.tags if t["Key"] not in {n["Key"] for n in tags}]
            if len(kept) + len(tags) > 10:
                raise error("TagLimitExceededException", f"The on-premises instance {instance.name} would have "
                            "more than 10 tags.")
        for instance in instances:
            instance.tags = [t for t in instance.tags if t["Key"] not in {n["Key"] for n in tags}] + tags

    def remove_tags_from_on_premises_instances(self, tags: Any, names: Any) -> None:
        tags = _check_instance_tags(tags)
        for instance in self._registered_instances(names):
            instance.tags = [t for t in instance.tags
                             if not any(t["Key"] == r["Key"] and r.get("Value") in (None, t["Value"]) for r in tags)]

    def _registered_instances(self, names: Any) -> list[OnPremisesInstance]:
        if not names:
            raise error("InstanceNameRequiredException", "An on-premises instance name was not specified.")
        if not isinstance(names, list) or len(names) > 10:
            raise error("InstanceLimitExceededException", "At most 10 on-premises instances at a time.")
        out = []
        for name in names:
            instance = self.instances.get(_check_instance_name(name))
            if instance is None or not instance.registered:
                raise error("InstanceNotRegisteredException", f"The on-premises instance {name} is not registered.")
            out.append(instance)
        return out

    # -- application revisions ------------------------------------------------------------
    def register_application_revision(self, application_name: Any, revision: Any, description: Any = None) -> None:
        app = self.get_application(application_name)
        if description is not None and len(str(description)) > 512:
            raise error("DescriptionTooLongException", "The description is too long (at most 512 characters).")
        revision = self._check_revision(app, revision)
        record = self._revision_record(app, revision)
        if description is not None:
            record["description"] = str(description)

    def _revision_record(self, app: Application, revision: dict) -> dict[str, Any]:
        key = json.dumps(_revision_key(revision), sort_keys=True)
        with self.lock:
            records = self.revisions.setdefault(app.name, {})
            if key not in records:
                records[key] = {"revisionLocation": copy.deepcopy(revision), "registerTime": now(),
                                "deploymentGroups": []}
            return records[key]

    def get_application_revision(self, application_name: Any, revision: Any) -> tuple[dict, dict]:
        app = self.get_application(application_name)
        revision = self._check_revision(app, revision, check_exists=False)
        record = self.revisions.get(app.name, {}).get(json.dumps(_revision_key(revision), sort_keys=True))
        if record is None:
            raise error("RevisionDoesNotExistException",
                        "The named revision does not exist with the user or AWS account.")
        return copy.deepcopy(record["revisionLocation"]), _generic_revision_info(record)

    def batch_get_application_revisions(self, application_name: Any, revisions: Any) -> list[dict]:
        app = self.get_application(application_name)
        if not revisions:
            raise error("RevisionRequiredException", "The revision ID was not specified.")
        if len(revisions) > BATCH_LIMIT:
            raise error("BatchLimitExceededException", "The maximum number of names or IDs allowed for this "
                        "request (100) was exceeded.")
        out = []
        for revision in revisions:
            revision = self._check_revision(app, revision, check_exists=False)
            record = self.revisions.get(app.name, {}).get(json.dumps(_revision_key(revision), sort_keys=True))
            item: dict[str, Any] = {"revisionLocation": copy.deepcopy(revision)}
            if record is not None:
                item["genericRevisionInfo"] = _generic_revision_info(record)
            out.append(item)
        return out

    def list_application_revisions(self, application_name: Any, sort_by: str | None, sort_order: str | None,
                                   bucket: str | None, prefix: str | None, deployed: str | None,
                                   next_token: str | None) -> tuple[list[dict], str | None]:
        app = self.get_application(application_name)
        if sort_by not in (None, "registerTime", "firstUsedTime", "lastUsedTime"):
            raise error("InvalidSortByException", f"The sort by value {sort_by} is invalid.")
        if sort_order not in (None, "ascending", "descending"):
            raise error("InvalidSortOrderException", f"The sort order {sort_order} is invalid.")
        if deployed not in (None, "include", "exclude", "ignore"):
            raise error("InvalidDeployedStateFilterException", f"The deployed state filter {deployed} is invalid.")
        if prefix and not bucket:
            raise error("BucketNameFilterRequiredException", "A bucket name is required when a key prefix is given.")
        records = list(self.revisions.get(app.name, {}).values())
        if bucket:
            records = [r for r in records if (r["revisionLocation"].get("s3Location") or {}).get("bucket") == bucket]
        if prefix:
            records = [r for r in records
                       if str((r["revisionLocation"].get("s3Location") or {}).get("key", "")).startswith(prefix)]
        if deployed == "include":
            records = [r for r in records if r.get("firstUsedTime")]
        elif deployed == "exclude":
            records = [r for r in records if not r.get("firstUsedTime")]
        key = sort_by or "registerTime"
        epoch = datetime.min.replace(tzinfo=now().tzinfo)
        records.sort(key=lambda r: r.get(key) or epoch, reverse=sort_order == "descending")
        return _page([copy.deepcopy(r["revisionLocation"]) for r in records], next_token)

    def _check_revision(self, app: Application, revision: Any, check_exists: bool = True) -> dict[str, Any]:
        """A revision location, checked and normalised for the application's platform."""
        if not isinstance(revision, dict) or not revision.get("revisionType"):
            raise error("RevisionRequiredException", "The revision ID was not specified.")
        kind = revision["revisionType"]
        platform = app.compute_platform
        if kind == "S3":
            s3 = dict(revision.get("s3Location") or {})
            if not s3.get("bucket") or not s3.get("key"):
                raise error("InvalidRevisionException", "The S3 revision location needs a bucket and a key.")
            bundle = s3.get("bundleType") or _bundle_from_key(s3["key"])
            allowed = ("tar", "tgz", "zip") if platform == "Server" else ("YAML", "JSON")
            if bundle not in allowed:
                raise error("InvalidRevisionException",
                            f"The bundle type {bundle} is not valid for the {platform} compute platform: use "
                            f"{', '.join(allowed)}.")
            s3["bundleType"] = bundle
            if check_exists:
                _s3_object(self.account_id, s3)   # RevisionDoesNotExistException when it is not there
            return {"revisionType": "S3", "s3Location": s3}
        if kind in ("String", "AppSpecContent"):
            if platform == "Server":
                raise error("InvalidRevisionException",
                            f"A {kind} revision is for the Lambda and ECS compute platforms; the Server platform "
                            "deploys an S3 bundle.")
            body_key = "string" if kind == "String" else "appSpecContent"
            body = dict(revision.get(body_key) or {})
            if not body.get("content"):
                raise error("InvalidRevisionException", f"The {kind} revision needs {body_key}.content.")
            digest = hashlib.sha256(body["content"].encode("utf-8")).hexdigest()
            if body.get("sha256") and body["sha256"] != digest:
                raise error("InvalidRevisionException", "The sha256 of the revision content does not match "
                            "its content.")
            body["sha256"] = digest
            return {"revisionType": kind, body_key: body}
        if kind == "GitHub":
            raise error("InvalidRevisionException",
                        "GitHub revisions need the internet, which the workshop cloud does not reach: upload the "
                        "bundle to S3 and deploy it from there.")
        raise error("InvalidRevisionException", f"The revision type {kind} is invalid.")

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
        lambda_spec = None
        if app.compute_platform == "Lambda":
            lambda_spec = self._lambda_appspec(revision)
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

    def _lambda_appspec(self, revision: dict) -> appspec.LambdaAppSpec:
        if revision["revisionType"] == "S3":
            content = _s3_object(self.account_id, revision["s3Location"])
        else:
            body = revision.get("appSpecContent") or revision.get("string") or {}
            content = body.get("content", "")
        try:
            return appspec.parse_lambda(content)
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
        elif platform == "Server":
            for target_id, arn in self.server_instances(deployment.group):
                target = Target(deployment, "InstanceTarget", target_id, arn, appspec.SERVER_EVENTS,
                                instance_dir=str(instance_dir(self.account_id, self.region_name, target_id)))
                deployment.targets[target_id] = target

    def server_instances(self, group: DeploymentGroup) -> list[tuple[str, str]]:
        """(target id, ARN) of every instance the group's tags (or Auto Scaling groups) select, in order."""
        settings = group.settings
        found: dict[str, str] = {}
        on_prem_filters = settings.get("onPremisesInstanceTagFilters") or []
        on_prem_sets = (settings.get("onPremisesTagSet") or {}).get("onPremisesTagSetList") or []
        for instance in self.instances.values():
            if not instance.registered:
                continue
            if (on_prem_filters and matches_any(instance.tags, on_prem_filters)) or \
                    (on_prem_sets and all(matches_any(instance.tags, fs) for fs in on_prem_sets)):
                found[instance.name] = instance.arn
        ec2_filters = settings.get("ec2TagFilters") or []
        ec2_sets = (settings.get("ec2TagSet") or {}).get("ec2TagSetList") or []
        asg_names = settings.get("autoScalingGroups") or []
        if ec2_filters or ec2_sets or asg_names:
            for instance_id, tags in _running_ec2_instances(self.account_id, self.region_name):
                if (ec2_filters and matches_any(tags, ec2_filters)) or \
                        (ec2_sets and all(matches_any(tags, fs) for fs in ec2_sets)):
                    found[instance_id] = f"arn:{self.partition}:ec2:{self.region_name}:{self.account_id}:" \
                                         f"instance/{instance_id}"
            for instance_id in _auto_scaling_instances(self.account_id, self.region_name, asg_names):
                found[instance_id] = f"arn:{self.partition}:ec2:{self.region_name}:{self.account_id}:" \
                                     f"instance/{instance_id}"
        return sorted(found.items())

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

    def continue_deployment(self, deployment_id: Any) -> None:
        deployment = self.get_deployment(deployment_id)
        if not deployment.active:
            raise error("DeploymentAlreadyCompletedException",
                        f"The deployment {deployment.id} has already completed.")
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
                          message: str | None = None) -> None:
        """A deployment is over: its status, error and end time, and what its group remembers."""
        with deployment.lock:
            if not deployment.active:
                return
            deployment.status = status
            deployment.complete_time = now()
            if code:
                deployment.error_information = {"code": code, "message": message or ""}
            for target in deployment.targets.values():
                if target.status == "Pending":
                    target.skip_rest()
                    target.set_status("Skipped")
        group = deployment.group
        with self.lock:
            if group.last_attempted and group.last_attempted.get("deploymentId") == deployment.id:
                group.last_attempted.update(status=status, endTime=deployment.complete_time)
            if status == "Succeeded":
                group.last_successful = {"deploymentId": deployment.id, "status": status,
                                         "endTime": deployment.complete_time, "createTime": deployment.create_time}
                group.last_successful_revision = copy.deepcopy(deployment.revision)
                group.last_successful_deployment_id = deployment.id

    def start_rollback(self, failed: Deployment, cause: str) -> Deployment | None:
        """Roll ``failed`` back, if its configuration (or stop_deployment) asks: a new deployment of
        the last good state, with rollbackInfo on both. ``cause``: failure, alarm or request."""
        if failed.is_rollback or not self._wants_rollback(failed, cause):
            return None
        group = failed.group
        if self.deployment_groups.get(group.application.name, {}).get(group.name) is not group:
            return None
        reason = {"failure": "the deployment failed", "alarm": "an alarm of the deployment group went into ALARM",
                  "request": "the deployment was stopped by a request"}[cause]
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
                with failed.lock:
                    failed.rollback_info = {"rollbackMessage": f"Automatic rollback was not started ({reason}): "
                                            "the deployment group has no earlier successful revision."}
                return None
            revision = copy.deepcopy(group.last_successful_revision)
            spec = None
            restore = [t.target_id for t in failed.targets.values() if t.touched]
            config = failed.config
        else:
            return None
        with self.lock:
            rollback = Deployment(self, group, revision, config, {"description": f"Rollback of {failed.id}"},
                                  creator="codeDeployRollback")
            while rollback.id in self.deployments:
                rollback.id = _new_deployment_id()
            rollback.rollback_of = failed
            rollback.lambda_spec = spec
            rollback.rollback_targets = restore
            rollback.previous_revision = copy.deepcopy(failed.revision)
            self._add_targets(rollback)
            if restore is not None:
                for target in rollback.targets.values():
                    if target.target_id not in restore:
                        target.skip_rest()
                        target.set_status("Skipped")
            self.deployments[rollback.id] = rollback
            group.last_attempted = {"deploymentId": rollback.id, "status": rollback.status,
                                    "createTime": rollback.create_time}
        with failed.lock:
            failed.rollback_info = {"rollbackDeploymentId": rollback.id,
                                    "rollbackMessage": f"Automatic rollback triggered because {reason}; "
                                                       f"deployment {rollback.id} restores the last good revision."}
        with rollback.lock:
            rollback.rollback_info = {"rollbackTriggeringDeploymentId": failed.id,
                                      "rollbackMessage": f"Rolls back deployment {failed.id} ({reason})."}
        services.announce("codedeploy.deployment-created", backend=self, deployment=rollback)
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
        return "DEPLOYMENT_FAILURE" in events

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

    # -- tags ---------------------------------------------------------------------------
    def _check_arn(self, arn: Any) -> None:
        if not arn:
            raise error("ResourceArnRequiredException", "The ARN of a resource is required.")
        prefix = f"arn:{self.partition}:codedeploy:{self.region_name}:{self.account_id}:"
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise error("InvalidArnException", f"The ARN {arn} is not valid.")
        if not arn.startswith(prefix):
            raise error("ArnNotSupportedException", f"The ARN {arn} is not a CodeDeploy resource of this "
                        "account and region.")
        resource = arn[len(prefix):]
        kind, _, name = resource.partition(":")
        if kind == "application":
            self.get_application(name)
        elif kind == "deploymentgroup":
            app, _, group = name.partition("/")
            self.get_deployment_group(app, group)
        elif kind == "deploymentconfig":
            self.get_deployment_config(name)
        else:
            raise error("ArnNotSupportedException", f"Tags are not supported for {arn}.")

    def list_tags_for_resource(self, arn: Any) -> list[dict[str, str]]:
        self._check_arn(arn)
        return self.tagger.list_tags_for_resource(arn)["Tags"]

    def tag_resource(self, arn: Any, tags: Any) -> None:   # also the Resource Groups Tagging API's
        if isinstance(tags, dict):   # the tagging API passes a dict
            tags = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._check_arn(arn)
        self.tagger.tag_resource(arn, _check_tags(tags, required=True))

    def untag_resource(self, arn: Any, keys: Any) -> None:
        self._check_arn(arn)
        if not keys:
            raise error("TagRequiredException", "A tag was not specified.")
        self.tagger.untag_resource_using_names(arn, list(keys))

    def iter_tagged_resources(self) -> Iterator[TaggedResource]:
        for name in list(self.applications):
            arn = self.application_arn(name)
            yield TaggedResource(arn=arn, tags=self.tagger.get_tag_dict_for_resource(arn),
                                 resource_type="codedeploy:application")
        for app_name, groups in list(self.deployment_groups.items()):
            for group_name in list(groups):
                arn = self.group_arn(app_name, group_name)
                yield TaggedResource(arn=arn, tags=self.tagger.get_tag_dict_for_resource(arn),
                                     resource_type="codedeploy:deploymentgroup")


# -- rules and helpers -------------------------------------------------------------------

def instance_dir(account_id: str, region: str, instance_id: str) -> Path:
    """Where an instance's agent keeps the revisions deployed to it (under the cloud's state dir)."""
    safe = "".join(c if c.isalnum() or c in "._-=+,@" else "_" for c in instance_id)
    return runtime.account_dir("codedeploy", account_id, region) / "instances" / safe


def _check_application_name(name: Any) -> str:
    if name is None or name == "":
        raise error("ApplicationNameRequiredException", "The minimum number of required application names was "
                    "not specified.")
    if not isinstance(name, str) or not _APPLICATION_NAME.match(name):
        raise error("InvalidApplicationNameException", f"The application name {name!r} was specified in an "
                    "invalid format: use 1-100 letters, digits and ._+=,@-.")
    return name


def _check_group_name(name: Any) -> str:
    if name is None or name == "":
        raise error("DeploymentGroupNameRequiredException", "The deployment group name was not specified.")
    if not isinstance(name, str) or not _GROUP_NAME.match(name):
        raise error("InvalidDeploymentGroupNameException", f"The deployment group name {name!r} was specified in "
                    "an invalid format: use 1-100 letters, digits and ._+=,@-.")
    return name


def _check_instance_name(name: Any) -> str:
    if name is None or name == "":
        raise error("InstanceNameRequiredException", "An on-premises instance name was not specified.")
    if not isinstance(name, str) or not _INSTANCE_NAME.match(name):
        raise error("InvalidInstanceNameException", f"The on-premises instance name {name!r} was specified in an "
                    "invalid format.")
    return name


def _check_deployment_id(deployment_id: Any) -> str:
    if not deployment_id:
        raise error("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
    if not isinstance(deployment_id, str) or not _DEPLOYMENT_ID.match(deployment_id):
        raise error("InvalidDeploymentIdException", f"Specified DeploymentId is not in the valid format: "
                    f"{deployment_id}")
    return deployment_id


def _check_batch(values: Any, name: str, required: str) -> list:
    if not values:
        raise error(required, f"{name} is required.")
    if not isinstance(values, list):
        raise error("InvalidInputException", f"{name} must be a list.")
    if len(values) > BATCH_LIMIT:
        raise error("BatchLimitExceededException", "The maximum number of names or IDs allowed for this request "
                    "(100) was exceeded.")
    return values


def _check_tags(tags: Any, required: bool = False) -> list[dict[str, str]]:
    if not tags:
        if required:
            raise error("TagRequiredException", "A tag was not specified.")
        return []
    if not isinstance(tags, list):
        raise error("InvalidTagsToAddException", "Tags must be a list of Key and Value.")
    out = []
    for tag in tags:
        if not isinstance(tag, dict) or not tag.get("Key"):
            raise error("InvalidTagsToAddException", "Every tag needs a Key.")
        out.append({"Key": str(tag["Key"]), "Value": str(tag.get("Value", ""))})
    return out


def _check_instance_tags(tags: Any) -> list[dict[str, str]]:
    if not tags:
        raise error("TagRequiredException", "A tag was not specified.")
    out = []
    for tag in tags:
        if not isinstance(tag, dict) or not tag.get("Key"):
            raise error("InvalidTagException", "Every tag needs a Key.")
        out.append({"Key": str(tag["Key"]), "Value": str(tag.get("Value", ""))})
    return out


def _check_tag_filters(filters: Any, kind: str, what: str) -> None:
    if filters is None:
        return
    if not isinstance(filters, list):
        raise error(kind, f"The {what} tag filters must be a list.")
    for tag_filter in filters:
        if not isinstance(tag_filter, dict):
            raise error(kind, f"Each {what} tag filter must have Key, Value and Type.")
        filter_type = tag_filter.get("Type") or ("KEY_AND_VALUE" if tag_filter.get("Key") and tag_filter.get("Value")
                                                 else "KEY_ONLY" if tag_filter.get("Key") else "VALUE_ONLY")
        if filter_type not in ("KEY_ONLY", "VALUE_ONLY", "KEY_AND_VALUE"):
            raise error(kind, f"The {what} tag filter type {filter_type} is invalid.")
        if filter_type in ("KEY_ONLY", "KEY_AND_VALUE") and not tag_filter.get("Key"):
            raise error(kind, f"A {filter_type} {what} tag filter needs a Key.")
        if filter_type in ("VALUE_ONLY", "KEY_AND_VALUE") and tag_filter.get("Value") is None:
            raise error(kind, f"A {filter_type} {what} tag filter needs a Value.")


def matches_any(tags: list[dict[str, str]], filters: list[dict[str, str]]) -> bool:
    """Whether an instance with ``tags`` is selected by any one of ``filters`` (AWS's rule within a tag group)."""
    pairs = [(t.get("Key", t.get("key")), t.get("Value", t.get("value"))) for t in tags]
    for tag_filter in filters:
        key, value = tag_filter.get("Key"), tag_filter.get("Value")
        kind = tag_filter.get("Type") or ("KEY_AND_VALUE" if key and value else "KEY_ONLY" if key else "VALUE_ONLY")
        for tag_key, tag_value in pairs:
            if kind == "KEY_ONLY" and tag_key == key:
                return True
            if kind == "VALUE_ONLY" and tag_value == value:
                return True
            if kind == "KEY_AND_VALUE" and tag_key == key and tag_value == value:
                return True
    return False


def _check_alarm_configuration(cfg: Any) -> None:
    if cfg is None:
        return
    if not isinstance(cfg, dict):
        raise error("InvalidAlarmConfigException", "The alarm configuration must be an object.")
    alarms = cfg.get("alarms") or []
    if len(alarms) > MAX_ALARMS:
        raise error("AlarmsLimitExceededException", f"The maximum number of alarms for a deployment group "
                    f"({MAX_ALARMS}) was exceeded.")
    names = []
    for alarm in alarms:
        name = alarm.get("name") if isinstance(alarm, dict) else None
        if not name or len(name) > 255:
            raise error("InvalidAlarmConfigException", "The format of the alarm configuration is not valid: every "
                        "alarm needs a name of 1-255 characters.")
        names.append(name)
    if len(set(names)) != len(names):
        raise error("InvalidAlarmConfigException", "The format of the alarm configuration is not valid: two alarms "
                    "with the same name have been specified.")
    if cfg.get("enabled") and not names:
        raise error("InvalidAlarmConfigException", "The format of the alarm configuration is not valid: the alarm "
                    "configuration is enabled, but the alarm list is empty.")


def _check_auto_rollback(cfg: Any) -> None:
    if cfg is None:
        return
    if not isinstance(cfg, dict):
        raise error("InvalidAutoRollbackConfigException", "The automatic rollback configuration must be an object.")
    events = cfg.get("events") or []
    for event in events:
        if event not in ROLLBACK_EVENTS:
            raise error("InvalidAutoRollbackConfigException",
                        f"The automatic rollback event {event} is invalid: use {', '.join(ROLLBACK_EVENTS)}.")
    if cfg.get("enabled") and not events:
        raise error("InvalidAutoRollbackConfigException", "The automatic rollback configuration is enabled but "
                    "names no events.")


def _check_triggers(triggers: Any) -> None:
    if not triggers:
        return
    if len(triggers) > MAX_TRIGGERS:
        raise error("TriggerTargetsLimitExceededException", f"At most {MAX_TRIGGERS} triggers per deployment group.")
    for trigger in triggers:
        if not isinstance(trigger, dict) or not trigger.get("triggerName"):
            raise error("InvalidTriggerConfigException", "Every trigger needs a triggerName.")
        arn = trigger.get("triggerTargetArn") or ""
        if not re.match(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:.+", arn):
            raise error("InvalidTriggerConfigException", f"The trigger target {arn!r} is not an SNS topic ARN.")
        for event in trigger.get("triggerEvents") or []:
            if event not in TRIGGER_EVENTS:
                raise error("InvalidTriggerConfigException", f"The trigger event {event} is invalid.")


def _check_instance_platform(deployment: Deployment) -> None:
    if deployment.compute_platform != "Server":
        raise error("InvalidComputePlatformException",
                    f"Deployment {deployment.id} is a {deployment.compute_platform} deployment: use the "
                    "deployment target APIs (ListDeploymentTargets, BatchGetDeploymentTargets).")


def _bundle_from_key(key: str) -> str | None:
    lower = key.lower()
    for suffix, bundle in ((".zip", "zip"), (".tar.gz", "tgz"), (".tgz", "tgz"), (".tar", "tar"),
                           (".yaml", "YAML"), (".yml", "YAML"), (".json", "JSON")):
        if lower.endswith(suffix):
            return bundle
    return None


def _revision_key(revision: dict) -> dict:
    if revision.get("revisionType") == "S3":
        s3 = revision.get("s3Location") or {}
        return {"S3": [s3.get("bucket"), s3.get("key"), s3.get("version"), s3.get("eTag")]}
    body = revision.get("appSpecContent") or revision.get("string") or {}
    return {revision.get("revisionType"): body.get("sha256")}


def _generic_revision_info(record: dict) -> dict:
    out = {k: record[k] for k in ("description", "firstUsedTime", "lastUsedTime", "registerTime") if record.get(k)}
    out["deploymentGroups"] = list(record.get("deploymentGroups") or [])
    return out


def _s3_object(account_id: str, s3: dict) -> bytes:
    """The bytes of an S3 revision; RevisionDoesNotExistException when there are none."""
    from moto.s3.models import s3_backends

    try:
        key = s3_backends[account_id]["aws"].get_object(s3["bucket"], s3["key"], version_id=s3.get("version"))
    except Exception:   # no such bucket, or a version id of the wrong form
        key = None
    if key is None or getattr(key, "value", None) is None:
        raise error("RevisionDoesNotExistException",
                    f"The revision s3://{s3.get('bucket')}/{s3.get('key')} does not exist: upload it first.")
    return key.value


def revision_bytes(account_id: str, revision: dict) -> bytes:
    """The bundle (Server) or AppSpec (Lambda) a revision holds."""
    if revision.get("revisionType") == "S3":
        return _s3_object(account_id, revision["s3Location"])
    body = revision.get("appSpecContent") or revision.get("string") or {}
    return str(body.get("content", "")).encode("utf-8")


def _running_ec2_instances(account_id: str, region: str) -> list[tuple[str, list[dict]]]:
    import sys

    if "moto.ec2.models" not in sys.modules:   # nobody made an instance: do not load EC2 for it
        return []
    from moto.ec2.models import ec2_backends

    try:
        backend = ec2_backends[account_id][region]
        instances = backend.all_running_instances()
    except Exception:
        log.debug("listing EC2 instances failed", exc_info=True)
        return []
    return [(i.id, i.get_tags()) for i in instances]


def _auto_scaling_instances(account_id: str, region: str, names: list[str]) -> list[str]:
    if not names:
        return []
    try:
        from moto.autoscaling.models import autoscaling_backends

        groups = autoscaling_backends[account_id][region].autoscaling_groups
        out = []
        for name in names:
            group = groups.get(name)
            for state in getattr(group, "instance_states", []) if group else []:
                instance = state.instance
                if getattr(instance, "state_code", 16) == 16:
                    out.append(instance.id)
        return out
    except Exception:
        log.debug("listing Auto Scaling instances failed", exc_info=True)
        return []


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


def _page(items: list, token: str | None, size: int = PAGE) -> tuple[list, str | None]:
    return paging.page(items, token, size, lambda: error(
        "InvalidNextTokenException", "The next token was specified in an invalid format."))


services.replace_backend(moto_codedeploy.codedeploy_backends, CodeDeployBackend)
codedeploy_backends = moto_codedeploy.codedeploy_backends


def codedeploy_backend(account_id: str, region: str) -> CodeDeployBackend:
    return codedeploy_backends[account_id][region]


# -- for other engines -----------------------------------------------------------------

def create_deployment(account: str, region: str, application: str, group: str, revision: dict[str, Any],
                      **options: Any) -> str:
    """Start a deployment as CreateDeployment does (same checks, same errors: moto
    ``CodeDeployException``s); ``options`` are CreateDeployment's other members
    (description, deploymentConfigName, ...). Returns the deployment id."""
    return codedeploy_backend(account, region).create_deployment(application, group, revision, options).id


def deployment_status(account: str, region: str, deployment_id: str) -> dict[str, Any]:
    """The deployment as GetDeployment's deploymentInfo has it: ``status`` (one of
    Created, Queued, InProgress, Baking, Ready, Succeeded, Failed, Stopped),
    ``errorInformation``, ``rollbackInfo``, ``completeTime``..."""
    return codedeploy_backend(account, region).get_deployment(deployment_id).to_dict()
