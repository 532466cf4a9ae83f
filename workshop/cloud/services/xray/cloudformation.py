"""CloudFormation resources AWS::XRay::Group and AWS::XRay::SamplingRule: a
stack's group and rule go through the same settings backend the API uses (so the
same checks: a filter expression X-Ray cannot parse fails the resource), and
drift detection reads them back. Ref is the ARN, as AWS's."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource, flag, integer, number
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register
from workshop.cloud.services.xray.groups import XRayError
from workshop.cloud.services.xray.settings import settings

_RULE_FIELDS = ("RuleName", "ResourceARN", "Priority", "FixedRate", "ReservoirSize", "ServiceName", "ServiceType",
                "Host", "HTTPMethod", "URLPath", "Version", "Attributes")


def _failure(exc: XRayError) -> Exception:
    from workshop.cloud.services.cloudformation.engine import ResourceFailure

    return ResourceFailure(f"{exc.message} (Service: XRay, Status Code: {exc.status}, Error Code: {exc.code})")


def _insights(props: dict) -> dict | None:
    config = props.get("InsightsConfiguration")
    if config is None:
        return None
    return {k: flag(config.get(k)) for k in ("InsightsEnabled", "NotificationsEnabled") if k in config}


def _tags(props: dict) -> list[dict[str, str]]:
    return [{"Key": str(t.get("Key")), "Value": str(t.get("Value", ""))} for t in props.get("Tags") or []]


class XRayGroupResource(CfnResource, CloudFormationModel):
    cfn_type = "AWS::XRay::Group"
    cfn_name_property = "GroupName"
    cfn_attributes = {"GroupARN": "arn"}
    ref_attribute = "arn"
    backend = staticmethod(settings)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> XRayGroupResource:
        try:
            group = backend.create_group(props.get("GroupName") or name, props.get("FilterExpression"),
                                         _insights(props), _tags(props))
        except XRayError as exc:
            raise _failure(exc) from None
        return cls(group.name, arn=group.arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> XRayGroupResource:
        if (props.get("GroupName") or name) != self.name:
            return self._replace(backend, props.get("GroupName") or name, props)
        try:
            backend.update_group(arn=self.arn, filter_expression=props.get("FilterExpression") or "",
                                 insights=_insights(props) or {"InsightsEnabled": False,
                                                               "NotificationsEnabled": False})
            backend.untag_all(self.arn)
            backend.tag(self.arn, _tags(props))
        except XRayError as exc:
            raise _failure(exc) from None
        return self

    def _delete(self, backend) -> None:
        if any(g.arn == self.arn for g in backend.groups.values()):
            backend.delete_group(arn=self.arn)


def _rule_arguments(props: dict) -> dict[str, Any]:
    rule = dict(props.get("SamplingRule") or {})
    if props.get("RuleName") and not rule.get("RuleName"):
        rule["RuleName"] = props["RuleName"]
    for key, path in (("Priority", "SamplingRule/Priority"), ("ReservoirSize", "SamplingRule/ReservoirSize"),
                      ("Version", "SamplingRule/Version")):
        if rule.get(key) is not None:
            rule[key] = integer(rule[key], path)
    if rule.get("FixedRate") is not None:
        rule["FixedRate"] = number(rule["FixedRate"], "SamplingRule/FixedRate")
    return rule


class XRaySamplingRuleResource(CfnResource, CloudFormationModel):
    cfn_type = "AWS::XRay::SamplingRule"
    cfn_name_property = ""
    cfn_attributes = {"RuleARN": "arn", "RuleName": "name"}
    ref_attribute = "arn"
    backend = staticmethod(settings)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> XRaySamplingRuleResource:
        try:
            rule = backend.create_sampling_rule(_rule_arguments(props), _tags(props))
        except XRayError as exc:
            raise _failure(exc) from None
        return cls(rule.name, arn=rule.arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> XRaySamplingRuleResource:
        wanted = _rule_arguments(props)
        if wanted.get("RuleName") != self.name:
            return self._replace(backend, name, props)
        update = {k: v for k, v in wanted.items() if k not in ("Version",)}
        update.setdefault("Attributes", {})
        try:
            backend.update_sampling_rule(update)
            backend.untag_all(self.arn)
            backend.tag(self.arn, _tags(props))
        except XRayError as exc:
            raise _failure(exc) from None
        return self

    def _delete(self, backend) -> None:
        if any(r.arn == self.arn for r in backend.rules.values()):
            backend.delete_sampling_rule(arn=self.arn)


class GroupRules(TypeRules):
    type_name = "AWS::XRay::Group"
    drift_properties = frozenset({"GroupName", "FilterExpression", "InsightsConfiguration", "Tags"})

    def live(self, physical_id, props, account, region):
        backend = settings(account, region)
        group = next((g for g in backend.groups.values() if g.arn == physical_id), None)
        if group is None:
            return None
        live: dict[str, Any] = {"GroupName": group.name, "InsightsConfiguration": dict(group.insights),
                                "Tags": backend.list_tags(group.arn)}
        if group.filter_expression is not None:
            live["FilterExpression"] = group.filter_expression
        return live


class SamplingRuleRules(TypeRules):
    type_name = "AWS::XRay::SamplingRule"
    drift_properties = frozenset({"SamplingRule", "Tags"})

    def live(self, physical_id, props, account, region):
        backend = settings(account, region)
        rule = next((r for r in backend.rules.values() if r.arn == physical_id), None)
        if rule is None:
            return None
        described = rule.describe()["SamplingRule"]
        wanted = props.get("SamplingRule") or {}
        # What the template names (RuleARN and the defaults it leaves out are not drift).
        shown = {k: described[k] for k in _RULE_FIELDS if k in wanted}
        return {"SamplingRule": shown, "Tags": backend.list_tags(rule.arn)}


register(GroupRules())
register(SamplingRuleRules())
