"""Logs that become metrics: a log group's metric filters (PutMetricFilter and friends,
kept on the group, so they go with it) and the embedded metric format. ``on_events`` is
called with every batch a stream stores (PutLogEvents, Lambda's and CodeBuild's output):
each filter's matches become data points stamped with their events' timestamps, in the
filter's namespace; EMF lines become the metrics they declare. Both write into the
learner's CloudWatch metrics, never an ``AWS/`` namespace."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from typing import Any

from moto.core.utils import unix_time_millis, utcnow
from moto.logs.exceptions import InvalidParameterException, LimitExceededException, ResourceNotFoundException

from workshop.cloud import persistence
from workshop.cloud.services.logs.filter_pattern import (
    MISSING,
    JsonPattern,
    Pattern,
    PatternError,
    compile_pattern,
    field_value,
    parse_json,
)

log = logging.getLogger(__name__)

FILTERS_PER_GROUP = 100          # AWS's quota
MAX_DIMENSIONS = 3
DEFAULT_MINUTES_KEPT = 240       # minutes a filter remembers having matched or emitted its default
EMF_METRICS = 100                # EMF: at most 100 metrics per directive, 30 dimensions per set
EMF_DIMENSIONS = 30
EMF_VALUES = 100
UNITS = frozenset("Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes Bits "
                  "Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second "
                  "Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second "
                  "Megabits/Second Gigabits/Second Terabits/Second Count/Second None".split())


class MetricFilter:
    """One metric filter of a log group (plain data: pickled with the group)."""

    def __init__(self, name: str, group_name: str, pattern: str, transformations: list[dict[str, Any]]):
        self.name, self.group_name, self.pattern = name, group_name, pattern
        self.transformations = transformations
        self.creation_time = int(unix_time_millis(utcnow()))
        self.minutes: dict[int, bool] = {}   # minute -> True matched / False default emitted

    def to_dict(self) -> dict[str, Any]:
        return {"filterName": self.name, "filterPattern": self.pattern,
                "metricTransformations": [dict(t) for t in self.transformations],
                "creationTime": self.creation_time, "logGroupName": self.group_name}


def filters_of(group: Any) -> dict[str, MetricFilter]:
    found = getattr(group, "metric_filters", None)
    if found is None:
        found = group.metric_filters = {}
    return found


def compiled(pattern: str) -> Pattern:
    try:
        return compile_pattern(pattern)
    except PatternError:
        raise InvalidParameterException("Invalid metric filter pattern") from None


def _reference_ok(pattern: Pattern, reference: str) -> bool:
    if reference.startswith("$.") or reference.startswith("$["):
        return pattern.kind == "json"
    return pattern.kind == "delimited" and reference in pattern.fields


def validate(pattern_text: str, transformations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transformations as stored, or AWS's InvalidParameterException."""
    pattern = compiled(pattern_text)
    if len(transformations or []) != 1:
        raise InvalidParameterException(
            f"1 validation error detected: Value '{transformations}' at 'metricTransformations' failed to "
            "satisfy constraint: Member must have length less than or equal to 1")
    out = []
    for t in transformations:
        t = dict(t)
        namespace = t.get("metricNamespace") or ""
        if namespace.startswith("AWS/"):
            raise InvalidParameterException(f"The value {namespace} for parameter metricNamespace is invalid.")
        value = str(t.get("metricValue", ""))
        t["metricValue"] = value
        if value.startswith("$"):
            if not _reference_ok(pattern, value):
                raise InvalidParameterException(f"Invalid metric value {value}: the filter pattern names no such field")
        elif _number(value) is None:
            raise InvalidParameterException(f"Invalid metric value {value}: a number or a field ($.name, $name)")
        if "defaultValue" in t and t["defaultValue"] is not None:
            t["defaultValue"] = float(t["defaultValue"])
        dimensions = t.get("dimensions") or {}
        if dimensions:
            if pattern.kind not in ("json", "delimited"):
                raise InvalidParameterException("The specified filter pattern does not support dimensions")
            if len(dimensions) > MAX_DIMENSIONS:
                raise InvalidParameterException("A metric filter can have at most 3 dimensions")
            if t.get("defaultValue") is not None:
                raise InvalidParameterException("A metric filter with dimensions cannot have a default value")
            for name, reference in dimensions.items():
                if not str(reference).startswith("$") or not _reference_ok(pattern, str(reference)):
                    raise InvalidParameterException(
                        f"Invalid dimension value {reference} for {name}: the filter pattern names no such field")
        unit = t.get("unit")
        if unit is not None and unit not in UNITS:
            raise InvalidParameterException(f"Invalid unit {unit}")
        out.append(t)
    return out


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# -- the API's model side ----------------------------------------------------------------

def put_metric_filter(backend: Any, group_name: str, name: str, pattern: str,
                      transformations: list[dict[str, Any]]) -> None:
    group = backend.groups.get(group_name)
    if group is None:
        raise ResourceNotFoundException("The specified log group does not exist.")
    stored = validate(pattern, transformations)
    filters = filters_of(group)
    if name not in filters and len(filters) >= FILTERS_PER_GROUP:
        raise LimitExceededException()
    old = filters.get(name)
    new = MetricFilter(name, group_name, pattern, stored)
    if old is not None:
        new.creation_time = old.creation_time
    filters[name] = new


def describe_metric_filters(backend: Any, prefix: str | None, group_name: str | None,
                            metric_name: str | None, namespace: str | None) -> list[dict[str, Any]]:
    if group_name:
        group = backend.groups.get(group_name)
        if group is None:
            raise ResourceNotFoundException("The specified log group does not exist.")
        groups = [group]
    else:
        groups = list(backend.groups.values())
    found = []
    for group in groups:
        for f in filters_of(group).values():
            if prefix and not f.name.startswith(prefix):
                continue
            if metric_name and not any(t.get("metricName") == metric_name and t.get("metricNamespace") == namespace
                                       for t in f.transformations):
                continue
            found.append(f.to_dict())
    return sorted(found, key=lambda f: (f["filterName"], f["logGroupName"]))


def delete_metric_filter(backend: Any, group_name: str, name: str) -> None:
    group = backend.groups.get(group_name)
    if group is None:
        raise ResourceNotFoundException("The specified log group does not exist.")
    if filters_of(group).pop(name, None) is None:
        raise ResourceNotFoundException("The specified metric filter does not exist.")


def test_metric_filter(pattern_text: str, messages: list[str]) -> list[dict[str, Any]]:
    pattern = compiled(pattern_text)
    matches = []
    for number, message in enumerate(messages, start=1):
        found = pattern.match(message)
        if found is None:
            continue
        extracted = {k: _text(v) for k, v in found.items() if k != "document"}
        matches.append({"eventNumber": number, "eventMessage": message, "extractedValues": extracted})
    return matches


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- events becoming metrics --------------------------------------------------------------

def on_events(account_id: str, region: str, group: Any, events: list[dict[str, Any]], emf: bool) -> None:
    """Turn a stored batch into metric data (never raises: the events are stored already)."""
    try:
        data: dict[str, list[dict[str, Any]]] = {}
        documents: dict[int, Any] = {}      # each event's JSON, parsed once for all the filters
        for f in list(filters_of(group).values()):
            _apply(f, events, data, documents)
        if emf:
            for event in events:
                for namespace, datum in emf_data(event["message"]):
                    data.setdefault(namespace, []).append(datum)
        if data:
            publish(account_id, region, data)
    except Exception:
        log.exception("could not turn the logs of %s into metrics", getattr(group, "name", "?"))


def _apply(f: MetricFilter, events: list[dict[str, Any]], data: dict[str, list[dict[str, Any]]],
           documents: dict[int, Any]) -> None:
    pattern = compile_pattern(f.pattern)
    minutes: dict[int, int] = {}     # minute -> timestamp of its first event, for those with no match
    matched: set[int] = set()
    as_json = isinstance(pattern, JsonPattern)
    for i, event in enumerate(events):
        minute = event["timestamp"] // 60_000
        if as_json:
            document = documents.get(i, MISSING)
            if document is MISSING:
                document = documents[i] = parse_json(event["message"])
            found = pattern.match_document(document)
        else:
            found = pattern.match(event["message"])
        if found is None:
            minutes.setdefault(minute, event["timestamp"])
            continue
        matched.add(minute)
        for t in f.transformations:
            datum = _datum(t, pattern, found, event["timestamp"])
            if datum is not None:
                data.setdefault(t["metricNamespace"], []).append(datum)
    for minute in matched:
        f.minutes[minute] = True
    # defaultValue: once for each minute that had events but none matching (AWS: "the value
    # reported during a period when logs are ingested but no matching logs are found").
    for minute, timestamp in minutes.items():
        if minute in matched or minute in f.minutes:
            continue
        defaults = [t for t in f.transformations if t.get("defaultValue") is not None]
        if not defaults:
            continue
        f.minutes[minute] = False
        for t in defaults:
            data.setdefault(t["metricNamespace"], []).append(_point(t["metricName"], float(t["defaultValue"]),
                                                                    t.get("unit"), {}, timestamp))
    if len(f.minutes) > DEFAULT_MINUTES_KEPT:
        for minute in sorted(f.minutes)[:len(f.minutes) - DEFAULT_MINUTES_KEPT]:
            del f.minutes[minute]


def _datum(t: dict[str, Any], pattern: Pattern, found: dict[str, Any], timestamp: int) -> dict[str, Any] | None:
    raw = t["metricValue"]
    value = field_value(pattern, found, raw) if raw.startswith("$") else raw
    value = None if value is MISSING else _number(value)
    if value is None:           # a field that is absent or not a number: no data point
        return None
    dimensions = {}
    for name, reference in (t.get("dimensions") or {}).items():
        got = field_value(pattern, found, reference)
        if got is MISSING or got is None or isinstance(got, (dict, list)):
            return None
        dimensions[name] = _text(got)
    return _point(t["metricName"], value, t.get("unit"), dimensions, timestamp)


def _point(name: str, value: float, unit: str | None, dimensions: dict[str, str], timestamp: int) -> dict[str, Any]:
    point = {"MetricName": name, "Value": value, "Timestamp": _naive_utc(timestamp),
             "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}
    if unit and unit != "None":
        point["Unit"] = unit
    return point


def _naive_utc(millis: int) -> datetime:
    """moto keeps metric timestamps as naive UTC."""
    return datetime.fromtimestamp(millis / 1000, timezone.utc).replace(tzinfo=None)


def emf_data(message: str) -> list[tuple[str, dict[str, Any]]]:
    """The (namespace, data point) pairs an embedded-metric-format line declares; [] when
    the line is not valid EMF (it stays a log event and makes no metric)."""
    if "_aws" not in message:
        return []
    root = parse_json(message)
    if root is None:
        return []
    meta = root.get("_aws")
    if not isinstance(meta, dict):
        return []
    timestamp = meta.get("Timestamp")
    directives = meta.get("CloudWatchMetrics")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not isinstance(directives, list):
        return []
    out = []
    for directive in directives:
        points = _directive(root, directive, int(timestamp))
        if points is None:
            return []           # one invalid directive: the whole line makes no metric
        out += points
    return out


def _directive(root: dict, directive: Any, timestamp: int) -> list[tuple[str, dict[str, Any]]] | None:
    if not isinstance(directive, dict):
        return None
    namespace, sets, metrics = directive.get("Namespace"), directive.get("Dimensions"), directive.get("Metrics")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255 or namespace.startswith("AWS/"):
        return None
    if not isinstance(sets, list) or not isinstance(metrics, list) or len(metrics) > EMF_METRICS:
        return None
    dimension_sets = []
    for names in sets:
        if not isinstance(names, list) or len(names) > EMF_DIMENSIONS:
            return None
        values = {}
        for name in names:
            if not isinstance(name, str) or not isinstance(root.get(name), str):
                return None     # a dimension's value must be a string member of the root
            values[name] = root[name]
        dimension_sets.append(values)
    if not dimension_sets:
        dimension_sets = [{}]
    out = []
    for metric in metrics:
        if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str) or not metric["Name"]:
            return None
        unit = metric.get("Unit")
        if unit is not None and unit not in UNITS:
            return None
        raw = root.get(metric["Name"])
        values = raw if isinstance(raw, list) else [raw]
        if not values or len(values) > EMF_VALUES or any(_number(v) is None for v in values):
            return None
        for dimensions in dimension_sets:
            for value in values:
                out.append((namespace, _point(metric["Name"], float(value), unit, dimensions, timestamp)))
    return out


def publish(account_id: str, region: str, data: dict[str, list[dict[str, Any]]]) -> None:
    """Into the account's CloudWatch metrics (the learner's namespaces, as PutMetricData)."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region]
    for namespace, points in data.items():
        backend.put_metric_data(namespace, points)
    persistence.changed(account_id)
