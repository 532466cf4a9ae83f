"""X-Ray groups: a name, an ARN and a filter expression (checked by filters.parse)
that selects traces for get_service_graph and get_trace_summaries, insights
settings and tags; the Default group (every trace) always exists."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from workshop.cloud.services.xray.filters import FilterError, parse

MAX_GROUPS = 25                      # AWS: 25 groups per account and region (Default aside)
DEFAULT = "Default"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class XRayError(Exception):
    """An error X-Ray answers in its JSON shape."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def invalid(message: str) -> XRayError:
    return XRayError("InvalidRequestException", message)


@dataclass
class Group:
    name: str
    arn: str
    filter_expression: str | None = None
    insights: dict[str, bool] = field(default_factory=lambda: {"InsightsEnabled": False,
                                                                "NotificationsEnabled": False})
    filter_changed: float = 0.0      # when an update last changed the filter (ContainsOldGroupVersions)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"GroupName": self.name, "GroupARN": self.arn}
        if self.filter_expression is not None:
            out["FilterExpression"] = self.filter_expression
        out["InsightsConfiguration"] = dict(self.insights)
        return out


def check_filter(expression: Any) -> str | None:
    if expression is None:
        return None
    if not isinstance(expression, str):
        raise invalid("FilterExpression must be a string.")
    if not expression.strip():
        return None
    try:
        parse(expression)
    except FilterError as exc:
        raise invalid(str(exc)) from None
    return expression


def _insights(value: Any, current: dict[str, bool] | None = None) -> dict[str, bool]:
    out = dict(current or {"InsightsEnabled": False, "NotificationsEnabled": False})
    if value is None:
        return out
    if not isinstance(value, dict):
        raise invalid("InsightsConfiguration must be an object.")
    for key in ("InsightsEnabled", "NotificationsEnabled"):
        if key in value:
            if not isinstance(value[key], bool):
                raise invalid(f"InsightsConfiguration.{key} must be a boolean.")
            out[key] = value[key]
    if out["NotificationsEnabled"] and not out["InsightsEnabled"]:
        raise invalid("Notifications can only be enabled for a group with insights enabled.")
    return out


class GroupOperations:
    """Groups of one account and region (mixed into the settings backend)."""

    account_id: str
    region_name: str
    groups: dict[str, Group]

    def tag(self, arn: str, tags: Any) -> None: ...   # the settings backend's

    def now(self) -> float: ...

    def untag_all(self, arn: str) -> None: ...

    def _default_group(self) -> Group:
        return Group(DEFAULT, f"arn:aws:xray:{self.region_name}:{self.account_id}:group/{DEFAULT}")

    def create_group(self, name: Any, filter_expression: Any = None, insights: Any = None,
                     tags: Any = None) -> Group:
        if not isinstance(name, str) or not _NAME.match(name):
            raise invalid("GroupName must be 1 to 32 letters, digits, hyphens or underscores.")
        if name == DEFAULT or name in self.groups:
            raise invalid(f"Group {name} already exists.")
        if len(self.groups) >= MAX_GROUPS:
            raise invalid(f"The maximum number of groups ({MAX_GROUPS}) has been reached.")
        expression = check_filter(filter_expression)
        config = _insights(insights)
        suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(26))
        group = Group(name, f"arn:aws:xray:{self.region_name}:{self.account_id}:group/{name}/{suffix}",
                      expression, config)
        if tags is not None:
            self.tag(group.arn, tags)       # checked before the group exists: a bad tag creates nothing
        self.groups[name] = group
        return group

    def find_group(self, name: Any = None, arn: Any = None) -> Group:
        if not name and not arn:
            raise invalid("GroupName or GroupARN is required.")
        if name == DEFAULT or arn == self._default_group().arn:
            return self._default_group()
        for group in self.groups.values():
            if (name and group.name == name) or (arn and group.arn == arn):
                return group
        raise invalid(f"Group not found: {name or arn}")

    def update_group(self, name: Any = None, arn: Any = None, filter_expression: Any = None,
                     insights: Any = None) -> Group:
        group = self.find_group(name, arn)
        if group.name == DEFAULT:
            raise invalid("The Default group cannot be updated.")
        insights = _insights(insights, group.insights)
        if filter_expression is not None:
            expression = check_filter(filter_expression)
            if expression != group.filter_expression:
                group.filter_expression, group.filter_changed = expression, self.now()
        group.insights = insights
        return group

    def delete_group(self, name: Any = None, arn: Any = None) -> None:
        group = self.find_group(name, arn)
        if group.name == DEFAULT:
            raise invalid("The Default group cannot be deleted.")
        del self.groups[group.name]
        self.untag_all(group.arn)

    def list_groups(self) -> list[Group]:
        return [self._default_group()] + sorted(self.groups.values(), key=lambda g: g.name)

    def group_filter(self, field_name: str, value: str) -> str | None:
        """For filters' group.name / group.arn: the group's expression ("" for every trace)."""
        try:
            group = self.find_group(value if field_name == "name" else None,
                                    value if field_name == "arn" else None)
        except XRayError:
            return None
        return group.filter_expression or ""
