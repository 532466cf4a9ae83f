"""CloudWatch wire format for the operations the workshop adds or fixes:
PutMetricData (refused in AWS/ namespaces), PutMetricAlarm (stores everything,
validates), PutCompositeAlarm, DescribeAlarms (every filter, paging, AlarmTypes),
GetMetricData with metric math, dashboards (validated) and GetMetricWidgetImage,
DescribeAlarmsForMetric and DescribeAlarmHistory."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch.exceptions import (
    InvalidParameterCombination,
    InvalidParameterValue,
    ValidationError,
)
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult, EmptyResult

from workshop.cloud.services import extend
from workshop.cloud.services.cloudwatch import aws_metrics, composite, dashboards, metric_data, models  # noqa: F401
from workshop.cloud.services.cloudwatch import statistics  # noqa: F401  (exact dimensions, as AWS)
from workshop.cloud.services import paging


@extend(CloudWatchResponse)
class AlarmResponses:
    def put_metric_data(self) -> ActionResult:
        namespace = self._get_param("Namespace")
        refused = aws_metrics.refused_namespace(namespace)
        if refused:  # AWS/ namespaces are written by AWS's services only (aws_metrics.publish)
            raise InvalidParameterValue(refused)
        self.cloudwatch_backend.put_metric_data(namespace, self._get_param("MetricData", []))
        return EmptyResult()

    def get_metric_data(self) -> ActionResult:
        get = self._get_param
        if get("StartTime") is None or get("EndTime") is None:
            raise ValidationError("The parameters StartTime and EndTime are required.")
        results, token = self.cloudwatch_backend.get_metric_data(
            queries=get("MetricDataQueries", []) or [], start_time=get("StartTime"),
            end_time=get("EndTime"), scan_by=get("ScanBy") or "TimestampDescending",
            max_datapoints=_int(get("MaxDatapoints")), next_token=get("NextToken"))
        status = "PartialData" if token else "Complete"
        answer: dict[str, Any] = {"MetricDataResults": [{
            "Id": r.id, "Label": r.label, "StatusCode": "InternalError" if r.messages else status,
            "Timestamps": [datetime.fromtimestamp(t, timezone.utc) for t in r.timestamps],
            "Values": r.values, "Messages": r.messages} for r in results], "Messages": []}
        if token:
            answer["NextToken"] = token
        return ActionResult(answer)

    def put_dashboard(self) -> ActionResult:
        self.cloudwatch_backend.put_dashboard(self._get_param("DashboardName"), self._get_param("DashboardBody"))
        return ActionResult({"DashboardValidationMessages": []})

    def get_dashboard(self) -> ActionResult:
        dashboard = self.cloudwatch_backend.get_dashboard(self._get_param("DashboardName"))
        return ActionResult({"DashboardArn": dashboard.arn, "DashboardBody": dashboard.body,
                             "DashboardName": dashboard.name})

    def list_dashboards(self) -> ActionResult:
        prefix = self._get_param("DashboardNamePrefix") or ""
        entries = sorted(self.cloudwatch_backend.list_dashboards(prefix), key=lambda d: d.name)
        page, token = paging.page(entries, self._get_param("NextToken"), 1000,
                                  lambda: InvalidParameterValue("The value for parameter NextToken is not valid."))
        result: dict[str, Any] = {"DashboardEntries": [
            {"DashboardName": d.name, "DashboardArn": d.arn, "LastModified": d.last_modified,
             "Size": len(d.body.encode())} for d in page]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def get_metric_widget_image(self) -> ActionResult:
        from workshop.cloud.services.cloudwatch import widget_image

        image = widget_image.metric_widget_image(self.cloudwatch_backend, self._get_param("MetricWidget"),
                                                 self._get_param("OutputFormat"))
        return ActionResult({"MetricWidgetImage": image})

    def put_metric_alarm(self) -> ActionResult:
        get = self._get_param
        self.cloudwatch_backend.put_metric_alarm(
            name=get("AlarmName"),
            namespace=get("Namespace"),
            metric_name=get("MetricName"),
            comparison_operator=get("ComparisonOperator"),
            evaluation_periods=_int(get("EvaluationPeriods")),
            datapoints_to_alarm=_int(get("DatapointsToAlarm")),
            period=_int(get("Period")),
            threshold=_float(get("Threshold")),
            statistic=get("Statistic"),
            extended_statistic=get("ExtendedStatistic"),
            description=get("AlarmDescription"),
            dimensions=get("Dimensions", []) or [],
            alarm_actions=get("AlarmActions", []) or [],
            ok_actions=get("OKActions", []) or [],
            insufficient_data_actions=get("InsufficientDataActions", []) or [],
            unit=get("Unit"),
            actions_enabled=_bool(get("ActionsEnabled"), True),
            treat_missing_data=get("TreatMissingData"),
            evaluate_low_sample_count_percentile=get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=get("ThresholdMetricId"),
            tags=get("Tags", []) or [],
            metrics=get("Metrics", []) or [],
        )
        return EmptyResult()

    def put_composite_alarm(self) -> ActionResult:
        get = self._get_param
        self.cloudwatch_backend.put_composite_alarm(
            name=get("AlarmName"),
            rule=get("AlarmRule"),
            description=get("AlarmDescription"),
            actions_enabled=_bool(get("ActionsEnabled"), True),
            alarm_actions=get("AlarmActions", []) or [],
            ok_actions=get("OKActions", []) or [],
            insufficient_data_actions=get("InsufficientDataActions", []) or [],
            tags=get("Tags", []) or [],
            actions_suppressor=get("ActionsSuppressor"),
            actions_suppressor_wait_period=_int(get("ActionsSuppressorWaitPeriod")),
            actions_suppressor_extension_period=_int(get("ActionsSuppressorExtensionPeriod")),
        )
        return EmptyResult()

    def describe_alarms(self) -> ActionResult:
        get = self._get_param
        names = get("AlarmNames", []) or []
        prefix = get("AlarmNamePrefix")
        if names and prefix:
            raise InvalidParameterCombination(
                "AlarmNames and AlarmNamePrefix are mutually exclusive; specify only one of them.")
        children_of, parents_of = get("ChildrenOfAlarmName"), get("ParentsOfAlarmName")
        related = children_of or parents_of
        if related and (names or prefix or get("StateValue") or get("ActionPrefix")
                        or (children_of and parents_of)):
            raise InvalidParameterCombination(
                "ChildrenOfAlarmName or ParentsOfAlarmName can only be used with MaxRecords "
                "and NextToken.")
        state_value = get("StateValue")
        if state_value and state_value not in models.STATES:
            raise ValidationError(
                f"1 validation error detected: Value '{state_value}' at 'stateValue' failed to "
                "satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]")
        types = get("AlarmTypes", []) or []
        for kind in types:
            if kind not in models.ALARM_TYPES:
                raise InvalidParameterValue(
                    f"The value {kind} for parameter AlarmTypes is not valid; use "
                    "MetricAlarm or CompositeAlarm.")
        alarms = self.cloudwatch_backend.find_alarms(
            names=names, name_prefix=prefix, state_value=state_value,
            action_prefix=get("ActionPrefix"), alarm_types=types,
            children_of=children_of, parents_of=parents_of)
        page, token = _page(alarms, get("NextToken"), _int(get("MaxRecords")) or 50, 100)
        views = {"MetricAlarm": metric_alarm_view, "CompositeAlarm": composite_alarm_view}
        result: dict[str, Any] = {"MetricAlarms": [], "CompositeAlarms": []}
        for alarm in page:
            kind = models.alarm_type(alarm)
            view = views[kind](alarm)
            if related:  # AWS returns only these four for an alarm's children or parents
                view = {k: view[k] for k in ("AlarmName", "AlarmArn", "StateValue",
                                             "StateUpdatedTimestamp") if k in view}
            result[kind + "s"].append(view)
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def describe_alarms_for_metric(self) -> ActionResult:
        get = self._get_param
        alarms = self.cloudwatch_backend.alarms_for_metric(
            namespace=get("Namespace"), metric_name=get("MetricName"),
            dimensions=get("Dimensions"), statistic=get("Statistic"),
            extended_statistic=get("ExtendedStatistic"), period=_int(get("Period")),
            unit=get("Unit"))
        return ActionResult({"MetricAlarms": [metric_alarm_view(a) for a in alarms]})

    def describe_alarm_history(self) -> ActionResult:
        get = self._get_param
        scan_by = get("ScanBy") or "TimestampDescending"
        if scan_by not in ("TimestampDescending", "TimestampAscending"):
            raise InvalidParameterValue(
                f"The value {scan_by} for parameter ScanBy is not valid; use "
                "TimestampDescending or TimestampAscending.")
        items = self.cloudwatch_backend.alarm_history(
            alarm_name=get("AlarmName"), alarm_types=get("AlarmTypes", []) or [],
            item_type=get("HistoryItemType"), start=get("StartDate"), end=get("EndDate"),
            newest_first=scan_by == "TimestampDescending")
        page, token = _page(items, get("NextToken"), _int(get("MaxRecords")) or 100, 100)
        result: dict[str, Any] = {"AlarmHistoryItems": page}
        if token:
            result["NextToken"] = token
        return ActionResult(result)


def _alarm_view(alarm, **kind) -> dict[str, Any]:
    """What metric and composite alarms both show, with ``kind``'s own members; None left out."""
    view = {
        "AlarmName": alarm.name,
        "AlarmArn": alarm.alarm_arn,
        "AlarmDescription": alarm.description,
        "AlarmConfigurationUpdatedTimestamp": alarm.configuration_updated_timestamp,
        "ActionsEnabled": alarm.actions_enabled,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "StateValue": alarm.state_value,
        "StateReason": alarm.state_reason,
        "StateReasonData": alarm.state_reason_data,
        "StateUpdatedTimestamp": alarm.state_updated_timestamp,
        "StateTransitionedTimestamp": getattr(alarm, "state_transitioned_timestamp", None),
        **kind,
    }
    return {key: value for key, value in view.items() if value is not None}


def metric_alarm_view(alarm) -> dict[str, Any]:
    return _alarm_view(
        alarm,
        MetricName=alarm.metric_name,
        Namespace=alarm.namespace,
        Statistic=alarm.statistic,
        ExtendedStatistic=alarm.extended_statistic,
        Dimensions=models.alarm_dimensions(alarm),
        Period=alarm.period,
        Unit=alarm.unit,
        EvaluationPeriods=alarm.evaluation_periods,
        DatapointsToAlarm=alarm.datapoints_to_alarm,
        Threshold=alarm.threshold,
        ComparisonOperator=alarm.comparison_operator,
        TreatMissingData=alarm.treat_missing_data,
        EvaluateLowSampleCountPercentile=alarm.evaluate_low_sample_count_percentile or None,
        Metrics=getattr(alarm, "metrics", None) or None,
        ThresholdMetricId=alarm.threshold_metric_id)


def composite_alarm_view(alarm) -> dict[str, Any]:
    return _alarm_view(alarm, AlarmRule=alarm.rule, **composite.settings_view(alarm))


def _page(items: list, token: str | None, size: int, limit: int) -> tuple[list, str | None]:
    if not 1 <= size <= limit:
        raise InvalidParameterValue(f"The value {size} for parameter MaxRecords must be between 1 and {limit}.")
    return paging.page(items, token, size,
                       lambda: InvalidParameterValue("The value for parameter NextToken is not valid."))


def _int(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidParameterValue(f"The value {value} is not a valid integer.")


def _float(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidParameterValue(f"The value {value} is not a valid number.")


def _bool(value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)
