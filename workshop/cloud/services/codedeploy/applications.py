"""CodeDeploy applications, deployment configurations, deployment groups (kept
whole, as they were given) and application revisions."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from workshop.cloud import services
from workshop.cloud.services.codedeploy import configs
from workshop.cloud.services.codedeploy.configs import (
    COMPUTE_PLATFORMS,
    DEFAULT_FOR_PLATFORM,
    DeploymentConfig,
    DeploymentConfigAlreadyExistsException,
    DeploymentConfigDoesNotExistException,
    DeploymentConfigInUseException,
    InvalidComputePlatformException,
    InvalidDeploymentConfigNameException,
    InvalidOperationException,
)
from workshop.cloud.services.codedeploy.validation import (
    _check_alarm_configuration,
    _check_application_name,
    _check_auto_rollback,
    _check_batch,
    _check_group_name,
    _check_tag_filters,
    _check_tags,
    _check_triggers,
    _page,
    _ROLE_ARN,
    BATCH_LIMIT,
    error,
    now,
)
from workshop.cloud.services.s3 import objects


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


class ApplicationOperations:
    """Applications, deployment configurations, deployment groups and revisions."""

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
        if platform == "ECS":
            from workshop.cloud.services.codedeploy import ecs_appspec

            ecs_appspec.check_group(settings)
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
    try:
        return objects.read_object(account_id, s3["bucket"], s3["key"], s3.get("version")).data
    except objects.S3ObjectError:   # no such bucket or key, or a version id of the wrong form
        raise error("RevisionDoesNotExistException",
                    f"The revision s3://{s3.get('bucket')}/{s3.get('key')} does not exist: upload it first.") from None


def revision_bytes(account_id: str, revision: dict) -> bytes:
    """The bundle (Server) or AppSpec (Lambda) a revision holds."""
    if revision.get("revisionType") == "S3":
        return _s3_object(account_id, revision["s3Location"])
    body = revision.get("appSpecContent") or revision.get("string") or {}
    return str(body.get("content", "")).encode("utf-8")
