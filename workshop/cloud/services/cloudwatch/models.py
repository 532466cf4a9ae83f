"""CloudWatch alarm state and its rules, added to moto's CloudWatch backend:
``put_metric_alarm`` validated and stored whole (a new alarm starts at
INSUFFICIENT_DATA), state changes recorded with history and run as actions
(SNS notifications in AWS's format), and the read API other engines use
(``alarm_states``). Which state an alarm should be in is the alarm evaluator's
business (``alarm_evaluator.py``); this module records it and announces
``cloudwatch.alarm-changed`` (put, set) and ``cloudwatch.alarm-state-changed``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch.exceptions import (
    InvalidFormat,
    InvalidParameterCombination,
    InvalidParameterValue,
    ResourceNotFound,
    ValidationError,
)
from moto.cloudwatch.models import Alarm, CloudWatchBackend, cloudwatch_backends

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services import extend
from workshop.cloud.services.cloudwatch import alarm_rule
from workshop.cloud.services.cloudwatch.metric_math import check_expressions
from workshop.cloud.services.cloudwatch.period_stats import parse_extended_statistic  # noqa: F401  (others read it here)

log = logging.getLogger(__name__)

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
STATIC_OPERATORS = ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
                    "LessThanThreshold", "LessThanOrEqualToThreshold")
BAND_OPERATORS = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold",
                  "GreaterThanUpperThreshold")
COMPARISON_OPERATORS = STATIC_OPERATORS + BAND_OPERATORS
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
TREAT_MISSING_DATA = ("missing", "ignore", "breaching", "notBreaching")
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
ALARM_TYPES = ("MetricAlarm", "CompositeAlarm")
HISTORY_ITEM_TYPES = ("ConfigurationUpdate", "StateUpdate", "Action",
                      "AlarmContributorStateUpdate", "AlarmContributorAction")
INITIAL_REASON = "Unchecked: Initial alarm creation"
# A backend's history is bounded (AWS keeps 30 days); the oldest items go first.
MAX_HISTORY_ITEMS = 10_000

# One lock for every alarm's state: the evaluator thread and request threads
# (set_alarm_state, put, delete) both change it.
STATE_LOCK = threading.RLock()

_moto_put_metric_alarm = CloudWatchBackend.put_metric_alarm


# -- the read API other engines use ------------------------------------------
def alarm_states(account: str, region: str, names: Iterable[str]) -> dict[str, str]:
    """The state value of each named alarm that exists (absent names are left out).

    For engines such as the CodeDeploy deployment runner that stop on alarms.
    """
    backend = cloudwatch_backends[account][region]
    alarms = getattr(backend, "alarms", {})
    found = {}
    for name in names:
        alarm = alarms.get(name)
        if alarm is not None:
            found[name] = alarm.state_value
    return found


def alarms_fired(account: str, region: str, names: Iterable[str], since: float) -> list[str]:
    """The named alarms that were in ALARM at some moment at or after ``since`` (wall clock):
    in ALARM now, or left it since. For engines that stop on alarms and look now and then: a
    scaled alarm period (a minute on AWS, longer than any look takes) lasts a second or less
    here, and the next evaluation, or a set_alarm_state, can end an ALARM between two looks."""
    backend = cloudwatch_backends[account][region]
    alarms = getattr(backend, "alarms", {})
    fired = []
    for name in names:
        alarm = alarms.get(name)
        if alarm is not None and (alarm.state_value == "ALARM"
                                  or (alarm.__dict__.get("_alarm_left_at") or 0.0) >= since):
            fired.append(name)
    return fired


def rule_references(rule: str) -> list[str]:
    """The names of the alarms a composite alarm's AlarmRule refers to (by name or ARN)."""
    try:
        tree = alarm_rule.parse(rule or "")
    except alarm_rule.RuleError:
        return []
    return list(dict.fromkeys(alarm_rule.alarm_name(ref.reference) for ref in alarm_rule.references(tree)))


def alarm_type(alarm: Alarm) -> str:
    return "CompositeAlarm" if getattr(alarm, "rule", None) is not None else "MetricAlarm"


# -- the backend ----------------------------------------------------------------
@extend(CloudWatchBackend)
class AlarmRules:
    """Methods served on moto's CloudWatchBackend in place of, or beside, moto's."""

    def put_metric_alarm(
        self,
        name: str,
        namespace: str | None,
        metric_name: str | None,
        comparison_operator: str | None,
        evaluation_periods: int | None,
        period: int | None,
        threshold: float | None,
        statistic: str | None,
        description: str | None,
        dimensions: list[dict[str, str]] | None,
        alarm_actions: list[str] | None,
        metric_data_queries: Any = None,
        datapoints_to_alarm: int | None = None,
        extended_statistic: str | None = None,
        ok_actions: list[str] | None = None,
        insufficient_data_actions: list[str] | None = None,
        unit: str | None = None,
        actions_enabled: bool | None = True,
        treat_missing_data: str | None = None,
        evaluate_low_sample_count_percentile: str | None = None,
        threshold_metric_id: str | None = None,
        rule: str | None = None,
        tags: list[dict[str, str]] | None = None,
        metrics: list[dict[str, Any]] | None = None,
        composite_settings: dict[str, Any] | None = None,
    ) -> Alarm:
        old = self.alarms.get(name)
        if rule is None and old is not None and alarm_type(old) == "CompositeAlarm":
            raise ValidationError(f"The alarm {name} is a composite alarm; a metric alarm cannot replace it.")
        if rule is None:
            validate_metric_alarm(
                name=name, namespace=namespace, metric_name=metric_name,
                comparison_operator=comparison_operator, evaluation_periods=evaluation_periods,
                period=period, threshold=threshold, statistic=statistic,
                extended_statistic=extended_statistic, dimensions=dimensions or [],
                datapoints_to_alarm=datapoints_to_alarm, unit=unit,
                treat_missing_data=treat_missing_data,
                evaluate_low_sample_count_percentile=evaluate_low_sample_count_percentile,
                threshold_metric_id=threshold_metric_id, metrics=metrics or [],
                actions=(alarm_actions or []) + (ok_actions or []) + (insufficient_data_actions or []),
            )
        with STATE_LOCK:
            old = self.alarms.get(name)
            old_config = alarm_configuration(old) if old is not None else None
            alarm = _moto_put_metric_alarm(
                self, name=name, namespace=namespace, metric_name=metric_name,
                metric_data_queries=None, comparison_operator=comparison_operator,
                evaluation_periods=evaluation_periods, datapoints_to_alarm=datapoints_to_alarm,
                period=period, threshold=threshold, statistic=statistic,
                extended_statistic=None, description=description,
                dimensions=dimensions or [], alarm_actions=alarm_actions or [],
                ok_actions=ok_actions or [], insufficient_data_actions=insufficient_data_actions or [],
                unit=unit, actions_enabled=True if actions_enabled is None else bool(actions_enabled),
                treat_missing_data=treat_missing_data,
                evaluate_low_sample_count_percentile=evaluate_low_sample_count_percentile,
                threshold_metric_id=threshold_metric_id, rule=rule, tags=tags,
            )
            # Set here: moto's put refuses every extended statistic but pNN.
            alarm.extended_statistic = extended_statistic
            alarm.metrics = [dict(m) for m in metrics or []]
            for key, value in (composite_settings or {}).items():  # ActionsSuppressor and its periods
                setattr(alarm, key, value)
            if metric_data_queries and not metrics:  # called with moto's own parsed queries
                alarm.metric_data_queries = metric_data_queries
            now = get_clock().now()
            alarm.configuration_updated_timestamp = now
            if old is None:
                # AWS: a new alarm has not been evaluated yet.
                alarm.state_value = "INSUFFICIENT_DATA"
                alarm.state_reason = INITIAL_REASON
                alarm.state_reason_data = None
                alarm.state_updated_timestamp = now
                alarm.state_transitioned_timestamp = now
                record_history(self, alarm, "ConfigurationUpdate", f'Alarm "{name}" created',
                               {"type": "Create", "version": "1.0",
                                "createdAlarm": alarm_configuration(alarm)}, now)
            else:
                # AWS: an update overwrites the configuration and leaves the state alone.
                for attr in ("state_value", "state_reason", "state_reason_data",
                             "state_updated_timestamp", "state_transitioned_timestamp", "_suppression",
                             "_alarm_left_at"):
                    setattr(alarm, attr, getattr(old, attr, None))
                record_history(self, alarm, "ConfigurationUpdate", f'Alarm "{name}" updated',
                               {"type": "Update", "version": "1.0",
                                "originalUpdatedAlarm": old_config,
                                "updatedAlarm": alarm_configuration(alarm)}, now)
        services.announce("cloudwatch.alarm-changed")
        return alarm

    def set_alarm_state(self, alarm_name: str, reason: str, reason_data: str | None,
                        state_value: str) -> None:
        if reason_data is not None:
            try:
                json.loads(reason_data)
            except ValueError:
                raise InvalidFormat("Unknown")
        if state_value not in STATES:
            raise ValidationError(
                "1 validation error detected: "
                f"Value '{state_value}' at 'stateValue' failed to satisfy constraint: "
                "Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]")
        alarm = self.alarms.get(alarm_name)
        if alarm is None:
            raise ResourceNotFound(f"Alarm {alarm_name} not found")
        # AWS re-evaluates at the next period, which may set the state back.
        change_state(self, alarm, state_value, reason, reason_data)
        services.announce("cloudwatch.alarm-changed")

    def delete_alarms(self, alarm_names: list[str]) -> None:
        missing = [name for name in alarm_names if name not in self.alarms]
        if missing:
            # AWS deletes nothing when any name is wrong.
            raise ResourceNotFound(f"The named resource does not exist: {', '.join(missing)}")
        going = set(alarm_names)
        needed = [name for name in dict.fromkeys(alarm_names)
                  if any(a.name not in going and name in rule_references(a.rule)
                         for a in list(self.alarms.values()) if alarm_type(a) == "CompositeAlarm")]
        if needed:  # AWS keeps an alarm a composite alarm that stays depends on
            raise ValidationError(f"Cannot delete {','.join(needed)} as there are composite alarm(s) "
                                  f"depending on {'it' if len(needed) == 1 else 'them'}.")
        now = get_clock().now()
        with STATE_LOCK:
            for name in alarm_names:
                alarm = self.alarms.pop(name, None)
                if alarm is None:
                    continue
                self.tagger.delete_all_tags_for_resource(alarm.alarm_arn)
                record_history(self, alarm, "ConfigurationUpdate", f'Alarm "{name}" deleted',
                               {"type": "Delete", "version": "1.0",
                                "deletedAlarm": alarm_configuration(alarm)}, now)

    def find_alarms(self, names: list[str] | None = None, name_prefix: str | None = None,
                    state_value: str | None = None, action_prefix: str | None = None,
                    alarm_types: list[str] | None = None, children_of: str | None = None,
                    parents_of: str | None = None) -> list[Alarm]:
        """describe_alarms' filters, all applied together, sorted by name as AWS does.
        Without AlarmTypes only metric alarms are listed (AWS's default), except for
        the children or parents of an alarm, which may be of either type."""
        types = set(alarm_types or (ALARM_TYPES if children_of or parents_of else ["MetricAlarm"]))
        candidates = list(self.alarms.values())
        if children_of is not None:
            parent = self.alarms.get(children_of)
            referenced = set(rule_references(parent.rule)) if parent is not None and parent.rule else set()
            candidates = [a for a in candidates if a.name in referenced]
        if parents_of is not None:
            candidates = [a for a in candidates
                          if a.rule and parents_of in rule_references(a.rule)]
        found = []
        for alarm in candidates:
            if names and alarm.name not in names:
                continue
            if name_prefix and not alarm.name.startswith(name_prefix):
                continue
            if state_value and alarm.state_value != state_value:
                continue
            if action_prefix and not any(a.startswith(action_prefix) for a in alarm.alarm_actions or []):
                continue
            if alarm_type(alarm) not in types:
                continue
            found.append(alarm)
        return sorted(found, key=lambda a: a.name)

    def alarms_for_metric(self, namespace: str, metric_name: str, dimensions: list[dict] | None,
                          statistic: str | None, extended_statistic: str | None,
                          period: int | None, unit: str | None) -> list[Alarm]:
        found = []
        for alarm in list(self.alarms.values()):
            if alarm_type(alarm) != "MetricAlarm":
                continue
            if alarm.namespace != namespace or alarm.metric_name != metric_name:
                continue
            if dimensions and dimension_key(alarm_dimensions(alarm)) != dimension_key(dimensions):
                continue
            if statistic and alarm.statistic != statistic:
                continue
            if extended_statistic and alarm.extended_statistic != extended_statistic:
                continue
            if period and alarm.period != period:
                continue
            if unit and alarm.unit != unit:
                continue
            found.append(alarm)
        return sorted(found, key=lambda a: a.name)

    def alarm_history(self, alarm_name: str | None = None, alarm_types: list[str] | None = None,
                      item_type: str | None = None, start: datetime | None = None,
                      end: datetime | None = None, newest_first: bool = True) -> list[dict]:
        if item_type and item_type not in HISTORY_ITEM_TYPES:
            raise ValidationError(
                "1 validation error detected: "
                f"Value '{item_type}' at 'historyItemType' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(HISTORY_ITEM_TYPES)}]")
        types = set(alarm_types or ALARM_TYPES)
        start, end = _aware(start), _aware(end)
        items = []
        for item in list(history_of(self)):  # oldest first: equal timestamps keep that order
            if alarm_name and item["AlarmName"] != alarm_name:
                continue
            if item["AlarmType"] not in types:
                continue
            if item_type and item["HistoryItemType"] != item_type:
                continue
            if start and item["Timestamp"] < start:
                continue
            if end and item["Timestamp"] > end:
                continue
            items.append(item)
        items.sort(key=lambda i: i["Timestamp"])
        if newest_first:
            items.reverse()
        return items


# -- validation -------------------------------------------------------------------
def validate_metric_alarm(*, name, namespace, metric_name, comparison_operator, evaluation_periods,
                          period, threshold, statistic, extended_statistic, dimensions,
                          datapoints_to_alarm, unit, treat_missing_data,
                          evaluate_low_sample_count_percentile, threshold_metric_id, metrics,
                          actions) -> None:
    """PutMetricAlarm's rules, with AWS's error codes (ValidationError and friends)."""
    if not name:
        raise ValidationError("1 validation error detected: Value null at 'alarmName' "
                              "failed to satisfy constraint: Member must not be null")
    if len(name) > 255:
        raise ValidationError(f"1 validation error detected: Value '{name}' at 'alarmName' failed "
                              "to satisfy constraint: Member must have length less than or equal to 255")
    if comparison_operator is None:
        raise ValidationError("1 validation error detected: Value null at 'comparisonOperator' "
                              "failed to satisfy constraint: Member must not be null")
    if comparison_operator not in COMPARISON_OPERATORS:
        raise ValidationError(
            f"1 validation error detected: Value '{comparison_operator}' at 'comparisonOperator' "
            "failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(COMPARISON_OPERATORS)}]")
    if evaluation_periods is None:
        raise ValidationError("1 validation error detected: Value null at 'evaluationPeriods' "
                              "failed to satisfy constraint: Member must not be null")
    if int(evaluation_periods) < 1:
        raise ValidationError(
            f"1 validation error detected: Value '{evaluation_periods}' at 'evaluationPeriods' "
            "failed to satisfy constraint: Member must have value greater than or equal to 1")
    if datapoints_to_alarm is not None:
        if int(datapoints_to_alarm) < 1:
            raise ValidationError(
                f"1 validation error detected: Value '{datapoints_to_alarm}' at 'datapointsToAlarm' "
                "failed to satisfy constraint: Member must have value greater than or equal to 1")
        if int(datapoints_to_alarm) > int(evaluation_periods):
            raise ValidationError("DatapointsToAlarm must be less than or equal to EvaluationPeriods")
    if treat_missing_data is not None and treat_missing_data not in TREAT_MISSING_DATA:
        raise ValidationError(
            f"Option {treat_missing_data} is not supported. Supported options for parameter "
            "TreatMissingData are missing, ignore, breaching and notBreaching.")
    if evaluate_low_sample_count_percentile not in (None, "", "evaluate", "ignore"):
        raise ValidationError(
            f"Option {evaluate_low_sample_count_percentile} is not supported. Supported options "
            "for parameter EvaluateLowSampleCountPercentile are evaluate and ignore.")
    for arn in actions:
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise ValidationError(f"Invalid arn syntax: {arn}")

    # The threshold: a number for static operators, a band (ThresholdMetricId) for ranges.
    if comparison_operator in STATIC_OPERATORS:
        if threshold_metric_id:
            raise ValidationError("ComparisonOperators for static thresholds do not support ThresholdMetricId")
        if threshold is None:
            raise ValidationError("ComparisonOperators for static thresholds require Threshold to be set")
    else:
        if threshold is not None:
            raise ValidationError("Threshold and ThresholdMetricId cannot both be set")
        if not threshold_metric_id:
            raise ValidationError("ComparisonOperators for ranges require ThresholdMetricId to be set")
        if not metrics:
            raise ValidationError("ThresholdMetricId can only be used with the Metrics list")
    if threshold is not None and threshold != threshold:
        raise InvalidParameterValue("The value NaN for parameter Threshold is invalid.")

    if metrics:
        for field, value in (("MetricName", metric_name), ("Namespace", namespace),
                             ("Statistic", statistic), ("ExtendedStatistic", extended_statistic),
                             ("Period", period)):
            if value is not None:
                raise InvalidParameterCombination(
                    f"{field} should not be set if list of Metrics is set.")
        if dimensions:
            raise InvalidParameterCombination("Dimensions should not be set if list of Metrics is set.")
        if unit:
            raise ValidationError("Unit should not be set if list of Metrics is set.")
        _validate_metrics(metrics, threshold_metric_id, int(evaluation_periods))
        return

    if not metric_name or not namespace:
        raise ValidationError("Either MetricName and Namespace, or a list of Metrics, must be set.")
    if statistic and extended_statistic:
        raise InvalidParameterCombination(
            "Statistic and ExtendedStatistic are mutually exclusive; specify only one of them.")
    if not statistic and not extended_statistic:
        raise InvalidParameterCombination("Exactly one of Statistic or ExtendedStatistic must be set.")
    if statistic and statistic not in STATISTICS:
        raise ValidationError(
            f"1 validation error detected: Value '{statistic}' at 'statistic' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(STATISTICS)}]")
    if extended_statistic and parse_extended_statistic(extended_statistic) is None:
        raise InvalidParameterValue(
            f"The value {extended_statistic} for parameter ExtendedStatistic is not supported.")
    _validate_period(period, int(evaluation_periods))
    if len(dimensions) > 30:
        raise InvalidParameterValue("The collection Dimensions must not have a size greater than 30.")
    seen = set()
    for dim in dimensions:
        if not dim.get("Name") or dim.get("Value") is None:
            raise InvalidParameterValue("Each dimension must have a Name and a Value.")
        if dim["Name"] in seen:
            raise InvalidParameterValue(f"No Metric may specify the same dimension twice: {dim['Name']}")
        seen.add(dim["Name"])


def _validate_period(period, evaluation_periods: int, field: str = "Period") -> None:
    if period is None:
        raise ValidationError(f"{field} must be set when MetricName is set.")
    period = int(period)
    if period < 10 or (period not in HIGH_RESOLUTION_PERIODS and period % 60):
        raise ValidationError(f"{field} must be 10, 20, 30 or a multiple of 60")
    limit = 86_400 if period < 3600 else 604_800
    if period * evaluation_periods > limit:
        raise ValidationError(
            "The evaluation period (Period * EvaluationPeriods) must not exceed "
            f"{'one day' if limit == 86_400 else 'seven days'} ({limit} seconds).")


def _validate_metrics(metrics: list[dict], threshold_metric_id: str | None, evaluation_periods: int) -> None:
    ids = set()
    returning = []
    periods = set()
    for i, query in enumerate(metrics, 1):
        qid = query.get("Id")
        if not qid:
            raise ValidationError(f"The parameter Metrics.member.{i}.Id is required.")
        if not qid[0].islower() or not qid.replace("_", "a").isalnum():
            raise ValidationError(
                f"Invalid metrics list: Id '{qid}' must start with a lowercase letter and contain "
                "only letters, numbers and underscore.")
        if qid in ids:
            raise ValidationError(f"Invalid metrics list: duplicate Id '{qid}'.")
        ids.add(qid)
        stat, expression = query.get("MetricStat"), query.get("Expression")
        if bool(stat) == bool(expression):
            raise ValidationError(
                f"Exactly one of MetricStat and Expression must be set in Metrics.member.{i}.")
        if stat:
            metric = stat.get("Metric") or {}
            if not metric.get("MetricName") or not metric.get("Namespace"):
                raise ValidationError(f"Metrics.member.{i}.MetricStat.Metric needs MetricName and Namespace.")
            if not stat.get("Stat") or (stat["Stat"] not in STATISTICS
                                        and parse_extended_statistic(stat["Stat"]) is None):
                raise InvalidParameterValue(
                    f"The value {stat.get('Stat')} for parameter Metrics.member.{i}.MetricStat.Stat "
                    "is not supported.")
            _validate_period(stat.get("Period"), evaluation_periods,
                             f"Metrics.member.{i}.MetricStat.Period")
            periods.add(int(stat["Period"]))
        if query.get("ReturnData", True) and qid != threshold_metric_id:
            returning.append(qid)
    if len(returning) != 1:
        raise ValidationError("Exactly one element of the metrics list should return data.")
    problem = check_expressions(metrics, threshold_metric_id)
    if problem:
        raise ValidationError(problem)
    if len(periods) > 1:
        raise ValidationError("All metrics in an alarm's Metrics list must use the same period.")
    if threshold_metric_id and threshold_metric_id not in ids:
        raise ValidationError("Metrics list must contain exactly one metric matching the "
                              "ThresholdMetricId parameter")


# -- state changes --------------------------------------------------------------
def change_state(backend: CloudWatchBackend, alarm: Alarm, new_state: str, reason: str,
                 reason_data: str | None, *, expect: str | None = None) -> bool:
    """Move an alarm to ``new_state``: history, timestamps, actions, listeners.

    Same state: only the reason is refreshed (no history, no actions), as
    SetAlarmState does. ``expect`` (the evaluator's view of the old state)
    makes the change conditional, so a concurrent set_alarm_state or update
    is not overwritten by an evaluation computed just before it. Returns
    whether the state changed.
    """
    with STATE_LOCK:
        if backend.alarms.get(alarm.name) is not alarm:
            return False  # deleted or replaced meanwhile
        old_state = alarm.state_value
        if expect is not None and old_state != expect:
            return False
        now = get_clock().now()
        if old_state == new_state:
            alarm.state_reason, alarm.state_reason_data = reason, reason_data
            alarm.state_updated_timestamp = now
            return False
        old_reason, old_reason_data = alarm.state_reason, alarm.state_reason_data
        old_updated = alarm.state_updated_timestamp
        alarm.state_value, alarm.state_reason, alarm.state_reason_data = new_state, reason, reason_data
        alarm.state_updated_timestamp = now
        alarm.state_transitioned_timestamp = now
        if old_state == "ALARM":
            alarm._alarm_left_at = now.timestamp()     # for alarms_fired
        new_entry = {"stateValue": new_state, "stateReason": reason}
        if reason_data:
            try:
                new_entry["stateReasonData"] = json.loads(reason_data)
            except ValueError:
                pass
        persistence.changed(backend.account_id)
        record_history(backend, alarm, "StateUpdate", f"Alarm updated from {old_state} to {new_state}",
                       {"version": "1.0",
                        "oldState": {"stateValue": old_state, "stateReason": old_reason},
                        "newState": new_entry}, now)
        actions = list({"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
                        "INSUFFICIENT_DATA": alarm.insufficient_data_actions}[new_state] or [])
        enabled = alarm.actions_enabled
    if enabled and actions and not _held(backend, alarm, old_state, new_state, actions, now):
        run_actions(backend, alarm, old_state, actions, now)
    publish_event(backend, alarm, {"value": old_state, "reason": old_reason,
                                   "reasonData": old_reason_data, "timestamp": _millis(old_updated)})
    try:   # after the state lock: a subscriber (composite alarms, a deployment) may read states
        services.announce("cloudwatch.alarm-state-changed", account_id=backend.account_id,
                          region=backend.region_name, alarm=alarm, old_state=old_state, new_state=new_state)
    except Exception:
        log.exception("a subscriber of cloudwatch.alarm-state-changed failed for %s", alarm.name)
    return True


def _held(backend: CloudWatchBackend, alarm: Alarm, old_state: str, new_state: str,
          actions: list[str], when: datetime) -> bool:
    """Whether a composite alarm's ActionsSuppressor holds this transition's actions back."""
    if not getattr(alarm, "actions_suppressor", None):
        return False
    from workshop.cloud.services.cloudwatch import composite

    return composite.hold(backend, alarm, old_state, new_state, actions, when)


def run_actions(backend: CloudWatchBackend, alarm: Alarm, old_state: str, actions: list[str],
                when: datetime) -> None:
    """Publish AWS's alarm notification to SNS topics; record other actions only."""
    message = json.dumps(alarm_notification(backend, alarm, old_state))
    subject = f'{alarm.state_value}: "{alarm.name}" in {region_title(backend.region_name)}'[:100]
    for arn in actions:
        parts = arn.split(":")
        service = parts[2] if len(parts) > 5 else ""
        if service == "sns":
            try:
                from moto.sns.models import sns_backends

                sns_backends[parts[4]][parts[3]].publish(message, arn=arn, subject=subject)
            except Exception as exc:
                record_history(backend, alarm, "Action", f"Failed to execute action {arn}. "
                               f"Received error: \"{getattr(exc, 'message', None) or exc}\"",
                               {"actionState": "Failed", "notificationResource": arn,
                                "stateUpdateTimestamp": _millis(when), "error": str(exc)}, when)
                continue
            record_history(backend, alarm, "Action", f"Successfully executed action {arn}",
                           {"actionState": "Succeeded", "notificationResource": arn,
                            "stateUpdateTimestamp": _millis(when),
                            "publishedMessage": message}, when)
        else:
            record_history(backend, alarm, "Action",
                           f"Recorded action {arn}; the workshop cloud runs only SNS alarm actions",
                           {"actionState": "Recorded", "notificationResource": arn,
                            "stateUpdateTimestamp": _millis(when)}, when)


def publish_event(backend: CloudWatchBackend, alarm: Alarm, previous: dict) -> None:
    """EventBridge's "CloudWatch Alarm State Change" event on the default bus, for
    accounts that use EventBridge in the alarm's region (nobody else has a rule)."""
    import sys

    events_models = sys.modules.get("moto.events.models")
    if events_models is None:
        return
    account_backends = dict.get(events_models.events_backends, backend.account_id)
    if account_backends is None or backend.region_name not in dict.keys(account_backends):
        return
    state = {"value": alarm.state_value, "reason": alarm.state_reason,
             "timestamp": _millis(alarm.state_updated_timestamp)}
    if alarm.state_reason_data:
        state["reasonData"] = alarm.state_reason_data
    configuration: dict[str, Any] = {"description": alarm.description}
    if alarm_type(alarm) == "CompositeAlarm":
        configuration["alarmRule"] = alarm.rule
        if getattr(alarm, "actions_suppressor", None):
            configuration.update({"actionsSuppressor": alarm.actions_suppressor,
                                  "actionsSuppressorWaitPeriod": alarm.actions_suppressor_wait_period,
                                  "actionsSuppressorExtensionPeriod": alarm.actions_suppressor_extension_period})
        held = alarm.__dict__.get("_suppression")
        if held:
            state.update({"actionsSuppressedBy": held["by"], "actionsSuppressedReason": held["reason"]})
    elif getattr(alarm, "metrics", None):
        configuration["metrics"] = [_event_query(q) for q in alarm.metrics]
    else:
        configuration["metrics"] = [_event_query({"Id": "m1", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": alarm.namespace, "MetricName": alarm.metric_name,
                       "Dimensions": alarm_dimensions(alarm)},
            "Period": alarm.period, "Stat": alarm.extended_statistic or alarm.statistic}})]
    detail = {"alarmName": alarm.name, "state": state,
              "previousState": {k: v for k, v in previous.items() if v is not None},
              "configuration": configuration}
    try:
        dict.__getitem__(account_backends, backend.region_name).put_events([{
            "Source": "aws.cloudwatch", "DetailType": "CloudWatch Alarm State Change",
            "Resources": [alarm.alarm_arn], "Detail": json.dumps(detail)}])
    except Exception:
        log.exception("could not put the state change event of %s", alarm.name)


def _event_query(query: dict) -> dict:
    out: dict[str, Any] = {"id": query["Id"], "returnData": query.get("ReturnData", True)}
    if query.get("Expression"):
        out["expression"] = query["Expression"]
    if query.get("Label"):
        out["label"] = query["Label"]
    stat = query.get("MetricStat")
    if stat:
        metric = stat.get("Metric", {})
        out["metricStat"] = {
            "metric": {"namespace": metric.get("Namespace"), "name": metric.get("MetricName"),
                       "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}},
            "period": stat.get("Period"), "stat": stat.get("Stat")}
    return out


def alarm_notification(backend: CloudWatchBackend, alarm: Alarm, old_state: str) -> dict:
    """The JSON CloudWatch publishes to an SNS topic on a state change."""
    trigger: dict[str, Any] = {}
    if alarm_type(alarm) == "MetricAlarm":
        if getattr(alarm, "metrics", None):
            trigger["Period"] = metric_period(alarm)
            trigger["EvaluationPeriods"] = alarm.evaluation_periods
        else:
            trigger.update({
                "MetricName": alarm.metric_name,
                "Namespace": alarm.namespace,
                "StatisticType": "ExtendedStatistic" if alarm.extended_statistic else "Statistic",
            })
            if alarm.extended_statistic:
                trigger["ExtendedStatistic"] = alarm.extended_statistic
            else:
                trigger["Statistic"] = (alarm.statistic or "").upper().replace("SAMPLECOUNT", "SAMPLE_COUNT")
            trigger.update({
                "Unit": alarm.unit,
                "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm_dimensions(alarm)],
                "Period": alarm.period,
                "EvaluationPeriods": alarm.evaluation_periods,
            })
        if alarm.datapoints_to_alarm is not None:
            trigger["DatapointsToAlarm"] = alarm.datapoints_to_alarm
        trigger.update({
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data or "missing",
            "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
        })
        if getattr(alarm, "metrics", None):
            trigger["Metrics"] = [_notification_query(q) for q in alarm.metrics]
        if alarm.threshold_metric_id:
            trigger["ThresholdMetricId"] = alarm.threshold_metric_id
    else:
        trigger = {"AlarmRule": alarm.rule}
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": backend.account_id,
        "AlarmConfigurationUpdatedTimestamp": _millis(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _millis(alarm.state_updated_timestamp),
        "Region": region_title(backend.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": trigger,
    }


def _notification_query(query: dict) -> dict:
    out: dict[str, Any] = {"Id": query["Id"]}
    if query.get("Expression"):
        out["Expression"] = query["Expression"]
    if query.get("Label"):
        out["Label"] = query["Label"]
    if query.get("MetricStat"):
        stat = query["MetricStat"]
        metric = stat.get("Metric", {})
        out["MetricStat"] = {
            "Metric": {"Dimensions": [{"value": d["Value"], "name": d["Name"]}
                                      for d in metric.get("Dimensions", [])],
                       "MetricName": metric.get("MetricName"), "Namespace": metric.get("Namespace")},
            "Period": stat.get("Period"), "Stat": stat.get("Stat"),
        }
        if stat.get("Unit"):
            out["MetricStat"]["Unit"] = stat["Unit"]
    out["ReturnData"] = query.get("ReturnData", True)
    return out


# -- history --------------------------------------------------------------------
def history_of(backend: CloudWatchBackend) -> list[dict]:
    # Kept on the backend so that an account reset (moto's backend.reset) empties it.
    items = backend.__dict__.get("_workshop_alarm_history")
    if items is None:
        items = backend.__dict__.setdefault("_workshop_alarm_history", [])
    return items


def record_history(backend: CloudWatchBackend, alarm: Alarm, item_type: str, summary: str,
                   data: dict, when: datetime) -> None:
    items = history_of(backend)
    items.append({
        "AlarmName": alarm.name,
        "AlarmType": alarm_type(alarm),
        "Timestamp": when,
        "HistoryItemType": item_type,
        "HistorySummary": summary,
        "HistoryData": json.dumps(data, default=str),
    })
    if len(items) > MAX_HISTORY_ITEMS:
        del items[: len(items) - MAX_HISTORY_ITEMS]


def alarm_configuration(alarm: Alarm) -> dict:
    """An alarm's settings as history items show them (camelCase, like AWS)."""
    config: dict[str, Any] = {
        "alarmName": alarm.name,
        "alarmArn": alarm.alarm_arn,
        "alarmDescription": alarm.description,
        "actionsEnabled": alarm.actions_enabled,
        "okactions": list(alarm.ok_actions or []),
        "alarmActions": list(alarm.alarm_actions or []),
        "insufficientDataActions": list(alarm.insufficient_data_actions or []),
        "timestamp": _millis(alarm.configuration_updated_timestamp),
    }
    if alarm_type(alarm) == "CompositeAlarm":
        config["alarmRule"] = alarm.rule
        if getattr(alarm, "actions_suppressor", None):
            config.update({"actionsSuppressor": alarm.actions_suppressor,
                           "actionsSuppressorWaitPeriod": alarm.actions_suppressor_wait_period,
                           "actionsSuppressorExtensionPeriod": alarm.actions_suppressor_extension_period})
        return config
    config.update({
        "metricName": alarm.metric_name,
        "namespace": alarm.namespace,
        "statistic": alarm.statistic,
        "extendedStatistic": alarm.extended_statistic,
        "dimensions": [{"name": d["Name"], "value": d["Value"]} for d in alarm_dimensions(alarm)],
        "period": alarm.period,
        "unit": alarm.unit,
        "evaluationPeriods": alarm.evaluation_periods,
        "datapointsToAlarm": alarm.datapoints_to_alarm,
        "threshold": alarm.threshold,
        "comparisonOperator": alarm.comparison_operator,
        "treatMissingData": alarm.treat_missing_data,
        "thresholdMetricId": alarm.threshold_metric_id,
        "metrics": getattr(alarm, "metrics", None) or None,
    })
    return {k: v for k, v in config.items() if v is not None}


# -- small shared helpers ----------------------------------------------------------
def alarm_dimensions(alarm: Alarm) -> list[dict[str, str]]:
    return [{"Name": d.name, "Value": d.value} for d in alarm.dimensions or []]


def dimension_key(dimensions: Iterable[dict[str, str]]) -> frozenset:
    return frozenset((d["Name"], d["Value"]) for d in dimensions)


def metric_period(alarm: Alarm) -> int:
    """The alarm's period in AWS seconds (a math alarm's comes from its metrics)."""
    if alarm.period:
        return int(alarm.period)
    for query in getattr(alarm, "metrics", None) or []:
        stat = query.get("MetricStat")
        if stat and stat.get("Period"):
            return int(stat["Period"])
        if query.get("Period"):
            return int(query["Period"])
    return 60


_REGION_TITLES = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)", "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)", "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)", "eu-north-1": "EU (Stockholm)",
    "ap-southeast-1": "Asia Pacific (Singapore)", "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)", "ap-south-1": "Asia Pacific (Mumbai)",
    "ca-central-1": "Canada (Central)", "sa-east-1": "South America (Sao Paulo)",
}


def region_title(region: str) -> str:
    return _REGION_TITLES.get(region, region)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _millis(value: datetime | None) -> str | None:
    """AWS's timestamp format in alarm JSON: 2026-11-26T07:20:03.748+0000."""
    if value is None:
        return None
    value = _aware(value).astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


@services.on(persistence.RESTORED)
def _resume_evaluating(account_id: str) -> None:
    """Restored alarms evaluate again from where they stopped."""
    if any(backend.alarms for backend in persistence.backends(cloudwatch_backends, account_id)):
        services.announce("cloudwatch.alarm-changed")
