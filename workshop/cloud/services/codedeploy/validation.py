"""What CodeDeploy's operations share: its error shape, the time records are
stamped with, and the checks of names, ids, batches, tags, alarm, rollback and
trigger settings, and page tokens, in CodeDeploy's own words."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from moto.codedeploy.exceptions import CodeDeployException

from workshop.cloud.services import paging
from workshop.cloud.clock import get_clock


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


def _page(items: list, token: str | None, size: int = PAGE) -> tuple[list, str | None]:
    return paging.page(items, token, size, lambda: error(
        "InvalidNextTokenException", "The next token was specified in an invalid format."))
