"""CloudWatch's CloudFormation types: ``AWS::CloudWatch::Alarm`` (moto lacks it),
``AWS::CloudWatch::CompositeAlarm`` and ``AWS::CloudWatch::Dashboard`` (in place of
moto's, which replaced on every update and checked nothing). Each goes through the same
backend call as the API's (put_metric_alarm, put_composite_alarm, put_dashboard), so it
is validated, evaluated and reported the same way, and drift reads each back. Ref is
the name; GetAtt Arn for alarms."""

from __future__ import annotations

import json
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource, PropertyError, flag, integer, number
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register
from workshop.cloud.services.cloudwatch import composite, dashboards, models  # noqa: F401  (our backend methods)


def _backend(account_id: str, region: str):
    return cloudwatch_backends[account_id][region]


class CloudWatchAlarmResource(CfnResource, CloudFormationModel):
    cfn_type = "AWS::CloudWatch::Alarm"
    cfn_name_property = "AlarmName"
    cfn_attributes = {"Arn": "arn"}
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> CloudWatchAlarmResource:
        alarm = backend.put_metric_alarm(**alarm_arguments(name, props))
        return cls(alarm.name, arn=alarm.alarm_arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> CloudWatchAlarmResource:
        name = props.get("AlarmName") or self.name
        if name != self.name:  # a new AlarmName replaces the alarm
            return self._replace(backend, name, props)
        backend.put_metric_alarm(**alarm_arguments(name, props))  # in place: its state stays
        return self

    def _delete(self, backend) -> None:
        if self.name in backend.alarms:
            backend.delete_alarms([self.name])


def alarm_arguments(name: str, props: dict[str, Any]) -> dict[str, Any]:
    """put_metric_alarm's arguments from the resource's Properties (template
    values may be strings: "1", "true")."""
    return {
        "name": name,
        "namespace": props.get("Namespace"),
        "metric_name": props.get("MetricName"),
        "comparison_operator": props.get("ComparisonOperator"),
        "evaluation_periods": _int(props.get("EvaluationPeriods"), "EvaluationPeriods"),
        "datapoints_to_alarm": _int(props.get("DatapointsToAlarm"), "DatapointsToAlarm"),
        "period": _int(props.get("Period"), "Period"),
        "threshold": _float(props.get("Threshold"), "Threshold"),
        "statistic": props.get("Statistic"),
        "extended_statistic": props.get("ExtendedStatistic"),
        "description": props.get("AlarmDescription"),
        "dimensions": [{"Name": d.get("Name"), "Value": d.get("Value")} for d in props.get("Dimensions") or []],
        "alarm_actions": list(props.get("AlarmActions") or []),
        "ok_actions": list(props.get("OKActions") or []),
        "insufficient_data_actions": list(props.get("InsufficientDataActions") or []),
        "unit": props.get("Unit"),
        "actions_enabled": flag(props.get("ActionsEnabled"), True),
        "treat_missing_data": props.get("TreatMissingData"),
        "evaluate_low_sample_count_percentile": props.get("EvaluateLowSampleCountPercentile"),
        "threshold_metric_id": props.get("ThresholdMetricId"),
        "tags": list(props.get("Tags") or []),
        "metrics": [_query(q, f"Metrics/{i}") for i, q in enumerate(props.get("Metrics") or [])],
    }


def _query(query: dict, path: str) -> dict:
    out: dict[str, Any] = {"Id": query.get("Id")}
    for key in ("Expression", "Label", "AccountId"):
        if query.get(key) is not None:
            out[key] = query[key]
    if query.get("Period") is not None:
        out["Period"] = _int(query["Period"], f"{path}/Period")
    if query.get("ReturnData") is not None:
        out["ReturnData"] = flag(query["ReturnData"], True)
    stat = query.get("MetricStat")
    if stat:
        metric = stat.get("Metric") or {}
        out["MetricStat"] = {
            "Metric": {"Namespace": metric.get("Namespace"), "MetricName": metric.get("MetricName"),
                       "Dimensions": [{"Name": d.get("Name"), "Value": d.get("Value")}
                                      for d in metric.get("Dimensions") or []]},
            "Period": _int(stat.get("Period"), f"{path}/MetricStat/Period"),
            "Stat": stat.get("Stat"),
        }
        if stat.get("Unit"):
            out["MetricStat"]["Unit"] = stat["Unit"]
    return out


def _int(value: Any, path: str) -> int | None:
    return None if value == "" else integer(value, path)


def _float(value: Any, path: str) -> float | None:
    return None if value == "" else number(value, path)


_ALARM_FIELDS = {"AlarmName": "name", "AlarmDescription": "description", "Namespace": "namespace",
                 "MetricName": "metric_name", "ComparisonOperator": "comparison_operator",
                 "EvaluationPeriods": "evaluation_periods", "DatapointsToAlarm": "datapoints_to_alarm",
                 "Period": "period", "Threshold": "threshold", "Statistic": "statistic",
                 "ExtendedStatistic": "extended_statistic", "Unit": "unit", "ActionsEnabled": "actions_enabled",
                 "TreatMissingData": "treat_missing_data", "AlarmActions": "alarm_actions",
                 "OKActions": "ok_actions", "InsufficientDataActions": "insufficient_data_actions"}


class AlarmRules(TypeRules):
    type_name = "AWS::CloudWatch::Alarm"
    drift_properties = frozenset(set(_ALARM_FIELDS) | {"Dimensions"})

    def live(self, physical_id, props, account, region):
        alarm = _backend(account, region).alarms.get(physical_id)
        if alarm is None:
            return None
        live = {prop: getattr(alarm, field) for prop, field in _ALARM_FIELDS.items()
                if getattr(alarm, field, None) is not None}
        dimensions = [dict(d) if isinstance(d, dict) else {"Name": d.name, "Value": d.value}
                      for d in alarm.dimensions or []]
        if dimensions:
            live["Dimensions"] = dimensions
        return live


register(AlarmRules())


# -- composite alarms ---------------------------------------------------------------------
class CloudWatchCompositeAlarmResource(CfnResource, CloudFormationModel):
    cfn_type = "AWS::CloudWatch::CompositeAlarm"
    cfn_name_property = "AlarmName"
    cfn_attributes = {"Arn": "arn"}
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> CloudWatchCompositeAlarmResource:
        alarm = backend.put_composite_alarm(**composite_arguments(name, props))
        return cls(alarm.name, arn=alarm.alarm_arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> CloudWatchCompositeAlarmResource:
        name = props.get("AlarmName") or self.name
        if name != self.name:
            return self._replace(backend, name, props)
        backend.put_composite_alarm(**composite_arguments(name, props))   # in place: its state stays
        return self

    def _delete(self, backend) -> None:
        if self.name in backend.alarms:
            backend.delete_alarms([self.name])


def composite_arguments(name: str, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "rule": props.get("AlarmRule"),
        "description": props.get("AlarmDescription"),
        "actions_enabled": flag(props.get("ActionsEnabled"), True),
        "alarm_actions": list(props.get("AlarmActions") or []),
        "ok_actions": list(props.get("OKActions") or []),
        "insufficient_data_actions": list(props.get("InsufficientDataActions") or []),
        "tags": list(props.get("Tags") or []),
        "actions_suppressor": props.get("ActionsSuppressor"),
        "actions_suppressor_wait_period": _int(props.get("ActionsSuppressorWaitPeriod"),
                                               "ActionsSuppressorWaitPeriod"),
        "actions_suppressor_extension_period": _int(props.get("ActionsSuppressorExtensionPeriod"),
                                                    "ActionsSuppressorExtensionPeriod"),
    }


_COMPOSITE_FIELDS = {"AlarmName": "name", "AlarmRule": "rule", "AlarmDescription": "description",
                     "ActionsEnabled": "actions_enabled", "AlarmActions": "alarm_actions",
                     "OKActions": "ok_actions", "InsufficientDataActions": "insufficient_data_actions",
                     "ActionsSuppressor": "actions_suppressor",
                     "ActionsSuppressorWaitPeriod": "actions_suppressor_wait_period",
                     "ActionsSuppressorExtensionPeriod": "actions_suppressor_extension_period"}


class CompositeAlarmRules(TypeRules):
    type_name = "AWS::CloudWatch::CompositeAlarm"
    drift_properties = frozenset(_COMPOSITE_FIELDS)

    def live(self, physical_id, props, account, region):
        alarm = _backend(account, region).alarms.get(physical_id)
        if alarm is None or getattr(alarm, "rule", None) is None:
            return None
        return {prop: getattr(alarm, field) for prop, field in _COMPOSITE_FIELDS.items()
                if getattr(alarm, field, None) is not None}


register(CompositeAlarmRules())


# -- dashboards -----------------------------------------------------------------------------
class CloudWatchDashboardResource(CfnResource, CloudFormationModel):
    cfn_type = "AWS::CloudWatch::Dashboard"
    cfn_name_property = "DashboardName"
    cfn_attributes = {}
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> CloudWatchDashboardResource:
        body = props.get("DashboardBody")
        if body is None:
            raise PropertyError("", "required key [DashboardBody] not found")
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        dashboard = backend.put_dashboard(name, body)
        return cls(dashboard.name)

    def _update(self, backend, name: str, props: dict[str, Any]) -> CloudWatchDashboardResource:
        name = props.get("DashboardName") or self.name
        if name != self.name:
            return self._replace(backend, name, props)
        type(self)._create(backend, name, props)
        return self

    def _delete(self, backend) -> None:
        backend.dashboards.pop(self.name, None)


class DashboardRules(TypeRules):
    type_name = "AWS::CloudWatch::Dashboard"
    replace_on = frozenset({"DashboardName"})
    drift_properties = frozenset({"DashboardName", "DashboardBody"})

    def live(self, physical_id, props, account, region):
        dashboard = _backend(account, region).dashboards.get(physical_id)
        if dashboard is None:
            return None
        try:
            body: Any = json.loads(dashboard.body)   # compared as JSON: a change shows its path
        except ValueError:
            body = dashboard.body
        return {"DashboardName": dashboard.name, "DashboardBody": body}


register(DashboardRules())
