"""``AWS::CloudWatch::Alarm`` for CloudFormation (moto lacks it): a stack's
alarm is put through the same ``put_metric_alarm`` as the API's, so it is
validated, evaluated and reported the same way. Ref is the name; GetAtt Arn."""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cloudwatch import models  # noqa: F401  (our put_metric_alarm on moto's backend)


class CloudWatchAlarmResource(CloudFormationModel):
    def __init__(self, name: str, arn: str):
        self.name = name
        self.arn = arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> CloudWatchAlarmResource:
        backend = cloudwatch_backends[account_id][region_name]
        alarm = backend.put_metric_alarm(**alarm_arguments(resource_name, cloudformation_json))
        return cls(alarm.name, alarm.alarm_arn)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: CloudWatchAlarmResource, new_resource_name: str,
        cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    ) -> CloudWatchAlarmResource:
        backend = cloudwatch_backends[account_id][region_name]
        name = (cloudformation_json.get("Properties") or {}).get("AlarmName") or original_resource.name
        # A new AlarmName replaces the alarm; anything else updates it in place (its state stays).
        alarm = backend.put_metric_alarm(**alarm_arguments(name, cloudformation_json))
        if name != original_resource.name and original_resource.name in backend.alarms:
            backend.delete_alarms([original_resource.name])
        return cls(alarm.name, alarm.alarm_arn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str,
    ) -> None:
        backend = cloudwatch_backends[account_id][region_name]
        if resource_name in backend.alarms:
            backend.delete_alarms([resource_name])


def alarm_arguments(name: str, cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    """put_metric_alarm's arguments from the resource's Properties (template
    values may be strings: "1", "true")."""
    props = cloudformation_json.get("Properties") or {}
    return {
        "name": name,
        "namespace": props.get("Namespace"),
        "metric_name": props.get("MetricName"),
        "comparison_operator": props.get("ComparisonOperator"),
        "evaluation_periods": _int(props.get("EvaluationPeriods")),
        "datapoints_to_alarm": _int(props.get("DatapointsToAlarm")),
        "period": _int(props.get("Period")),
        "threshold": _float(props.get("Threshold")),
        "statistic": props.get("Statistic"),
        "extended_statistic": props.get("ExtendedStatistic"),
        "description": props.get("AlarmDescription"),
        "dimensions": [{"Name": d.get("Name"), "Value": d.get("Value")} for d in props.get("Dimensions") or []],
        "alarm_actions": list(props.get("AlarmActions") or []),
        "ok_actions": list(props.get("OKActions") or []),
        "insufficient_data_actions": list(props.get("InsufficientDataActions") or []),
        "unit": props.get("Unit"),
        "actions_enabled": _bool(props.get("ActionsEnabled"), True),
        "treat_missing_data": props.get("TreatMissingData"),
        "evaluate_low_sample_count_percentile": props.get("EvaluateLowSampleCountPercentile"),
        "threshold_metric_id": props.get("ThresholdMetricId"),
        "tags": list(props.get("Tags") or []),
        "metrics": [_query(q) for q in props.get("Metrics") or []],
    }


def _query(query: dict) -> dict:
    out: dict[str, Any] = {"Id": query.get("Id")}
    for key in ("Expression", "Label", "AccountId"):
        if query.get(key) is not None:
            out[key] = query[key]
    if query.get("Period") is not None:
        out["Period"] = _int(query["Period"])
    if query.get("ReturnData") is not None:
        out["ReturnData"] = _bool(query["ReturnData"], True)
    stat = query.get("MetricStat")
    if stat:
        metric = stat.get("Metric") or {}
        out["MetricStat"] = {
            "Metric": {"Namespace": metric.get("Namespace"), "MetricName": metric.get("MetricName"),
                       "Dimensions": [{"Name": d.get("Name"), "Value": d.get("Value")}
                                      for d in metric.get("Dimensions") or []]},
            "Period": _int(stat.get("Period")),
            "Stat": stat.get("Stat"),
        }
        if stat.get("Unit"):
            out["MetricStat"]["Unit"] = stat["Unit"]
    return out


def _int(value) -> int | None:
    return None if value is None or value == "" else int(value)


def _float(value) -> float | None:
    return None if value is None or value == "" else float(value)


def _bool(value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)
