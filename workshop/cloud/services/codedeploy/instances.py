"""The instances CodeDeploy deploys to: on-premises instances (registered, tagged,
deregistered), the EC2 and Auto Scaling instances a deployment group's tags
select, and the folder each instance's agent deploys into."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workshop.cloud import runtime
from workshop.cloud.services.codedeploy.applications import DeploymentGroup
from workshop.cloud.services.codedeploy.validation import (
    _check_batch,
    _check_instance_name,
    _check_tag_filters,
    _IAM_SESSION_ARN,
    _IAM_USER_ARN,
    _page,
    error,
    now,
)

if TYPE_CHECKING:   # the backend composes this module's class
    from workshop.cloud.services.codedeploy.models import CodeDeployBackend


log = logging.getLogger("workshop.cloud.codedeploy")


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


class InstanceOperations:
    """On-premises instances, and the instances a deployment group selects."""

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


def instance_dir(account_id: str, region: str, instance_id: str) -> Path:
    """Where an instance's agent keeps the revisions deployed to it (under the cloud's state dir)."""
    safe = "".join(c if c.isalnum() or c in "._-=+,@" else "_" for c in instance_id)
    return runtime.account_dir("codedeploy", account_id, region) / "instances" / safe


def _check_instance_tags(tags: Any) -> list[dict[str, str]]:
    if not tags:
        raise error("TagRequiredException", "A tag was not specified.")
    out = []
    for tag in tags:
        if not isinstance(tag, dict) or not tag.get("Key"):
            raise error("InvalidTagException", "Every tag needs a Key.")
        out.append({"Key": str(tag["Key"]), "Value": str(tag.get("Value", ""))})
    return out


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
