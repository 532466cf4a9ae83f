"""GetMetricData as CloudWatch answers it: each MetricStat's statistic per period
(periods aligned to the epoch, a metric is exactly its dimensions), metric math
Expressions over them (``metric_math``: arithmetic, SUM/AVG/MIN/MAX, METRICS(), FILL,
IF, RATE, DIFF, ...), labels, ReturnData, ScanBy, and AWS's checks. ``run_queries`` is
also what dashboard widget images draw (``widget_image.py``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
from moto.cloudwatch.models import CloudWatchBackend

from workshop.cloud.services import extend, paging
from workshop.cloud.services.cloudwatch.metric_math import MathError, MathEvaluator
from workshop.cloud.services.cloudwatch.period_stats import aggregate, parse_extended_statistic

MAX_QUERIES = 500
MAX_DATAPOINTS = 100_800
STANDARD_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")


@dataclass
class Result:
    id: str
    label: str
    timestamps: list[float] = field(default_factory=list)   # wall-clock seconds, oldest first
    values: list[float] = field(default_factory=list)
    return_data: bool = True
    messages: list[dict] = field(default_factory=list)


@extend(CloudWatchBackend)
class MetricDataQueries:
    def get_metric_data(self, queries: list[dict[str, Any]], start_time: datetime, end_time: datetime,
                        scan_by: str = "TimestampDescending", max_datapoints: int | None = None,
                        next_token: str | None = None) -> tuple[list[Result], str | None]:
        """The returned results, at most MaxDatapoints points a page (AWS's default 100,800),
        and the token of the next page."""
        start, end = _epoch(start_time), _epoch(end_time)
        if start > end:
            raise ValidationError("The parameter EndTime must be greater than StartTime.")
        if start == end:
            raise ValidationError("The parameter StartTime must not equal parameter EndTime.")
        if scan_by not in ("TimestampDescending", "TimestampAscending"):
            raise ValidationError(f"1 validation error detected: Value '{scan_by}' at 'scanBy' failed to satisfy "
                                  "constraint: Member must satisfy enum value set: "
                                  "[TimestampDescending, TimestampAscending]")
        check_queries(queries)
        if max_datapoints is not None and max_datapoints < 1:
            raise InvalidParameterValue(f"The value {max_datapoints} for parameter MaxDatapoints is not valid.")
        results = [r for r in run_queries(self, queries, start, end) if r.return_data]
        if scan_by == "TimestampDescending":
            for result in results:
                result.timestamps.reverse()
                result.values.reverse()
        return _page(results, next_token, max_datapoints or MAX_DATAPOINTS)


def _page(results: list[Result], token: str | None, size: int) -> tuple[list[Result], str | None]:
    """Points counted across the results in order; a page ends after ``size`` of them."""
    total = sum(len(r.values) for r in results)
    offset = 0
    if token:
        offset = paging.decode_token(token)
        if offset is None or offset > total:
            raise InvalidParameterValue("The value for parameter NextToken is not valid.")
    stop, seen, out = offset + size, 0, []
    for result in results:
        first, last = max(offset - seen, 0), min(stop - seen, len(result.values))
        seen += len(result.values)
        if first >= last and (result.values or token):
            continue   # wholly on another page
        out.append(Result(result.id, result.label, result.timestamps[first:last], result.values[first:last],
                          True, result.messages))
    return out, (paging.encode_token(stop) if stop < total else None)


def check_queries(queries: list[dict]) -> None:
    """GetMetricData's rules for MetricDataQueries, in AWS's words."""
    if not queries:
        raise ValidationError("The parameter MetricDataQueries is required.")
    if len(queries) > MAX_QUERIES:
        raise ValidationError(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
    ids = set()
    for i, query in enumerate(queries, 1):
        qid = query.get("Id")
        if not qid:
            raise ValidationError(f"The parameter MetricDataQueries.member.{i}.Id is required.")
        if not _ID.match(qid):
            raise ValidationError(f"Invalid metric data query Id '{qid}': it must start with a lowercase "
                                  "letter and contain only letters, numbers and underscore.")
        if qid in ids:
            raise ValidationError(f"The value {qid} for parameter MetricDataQueries.member.{i}.Id is duplicated.")
        ids.add(qid)
        stat, expression = query.get("MetricStat"), query.get("Expression")
        if not stat and not expression:
            raise ValidationError(f"The parameter MetricDataQueries.member.{i}.MetricStat is required.\n")
        if stat and expression:
            raise ValidationError(f"Exactly one of MetricStat and Expression must be set in "
                                  f"MetricDataQueries.member.{i}.")
        if stat:
            metric = stat.get("Metric") or {}
            if not metric.get("MetricName") or not metric.get("Namespace"):
                raise ValidationError(f"The parameter MetricDataQueries.member.{i}.MetricStat.Metric needs "
                                      "MetricName and Namespace.")
            name = stat.get("Stat")
            if name not in STANDARD_STATS and parse_extended_statistic(name or "") is None:
                raise ValidationError(f"The value {name} for parameter MetricDataQueries.member.{i}.MetricStat.Stat "
                                      "is not supported.")
            _check_period(stat.get("Period"), f"MetricDataQueries.member.{i}.MetricStat.Period")
        if expression and query.get("Period") is not None:
            _check_period(query.get("Period"), f"MetricDataQueries.member.{i}.Period")
    if not any(q.get("ReturnData", True) for q in queries):
        raise ValidationError("At least one query in MetricDataQueries must return data.")


def _check_period(period, where: str) -> None:
    try:
        value = int(period)
    except (TypeError, ValueError):
        raise ValidationError(f"The parameter {where} is required and must be a number of seconds.")
    if value < 1 or (value not in (1, 5, 10, 20, 30) and value % 60):
        raise ValidationError(f"The parameter {where} must be 1, 5, 10, 20, 30 or a multiple of 60.")


# -- the evaluation ---------------------------------------------------------------------
def run_queries(backend, queries: list[dict], start: float, end: float) -> list[Result]:
    """Every query's result (ReturnData false ones too), timestamps oldest first; an
    expression that cannot be computed gives a result with an error message."""
    index = _index(backend)
    stats: dict[str, dict[float, float]] = {}   # id -> {period start: value}
    labels: dict[str, str] = {}
    periods: list[int] = []
    for query in queries:
        stat = query.get("MetricStat")
        if not stat:
            continue
        period = int(stat["Period"])
        periods.append(period)
        metric = stat["Metric"]
        dims = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])
        first = math.floor(start / period) * period
        count = max(1, math.ceil((end - first) / period))
        buckets: list[list] = [[] for _ in range(count)]
        for ts, point_dims, unit, datum in index.get((metric["Namespace"], metric["MetricName"]), ()):
            if ts < first or ts >= end or point_dims != dims:
                continue
            if stat.get("Unit") and unit != stat["Unit"]:
                continue
            buckets[min(int((ts - first) // period), count - 1)].append(datum)
        series = {}
        for i, bucket in enumerate(buckets):
            value, _ = aggregate(bucket, stat["Stat"])
            if value is not None:
                series[first + i * period] = value
        stats[query["Id"]] = series
        labels[query["Id"]] = query.get("Label") or metric["MetricName"]

    # Expressions run over one grid: every period of every metric in the request.
    period = min(periods) if periods else int(next((q.get("Period") for q in queries if q.get("Period")), 60))
    first = math.floor(start / period) * period
    grid = [first + i * period for i in range(max(1, math.ceil((end - first) / period)))]
    for series in stats.values():
        extra = set(series) - set(grid)
        if extra:
            grid = sorted(set(grid) | extra)
    position = {t: i for i, t in enumerate(grid)}
    rows: dict[str, list] = {}
    for qid, series in stats.items():
        row: list = [None] * len(grid)
        for t, v in series.items():
            row[position[t]] = v
        rows[qid] = row
    values: dict[str, Any] = dict(rows)
    evaluator = MathEvaluator(values, rows, len(grid), period=period, times=grid)

    results: list[Result] = []
    for query in queries:
        qid, returns = query["Id"], bool(query.get("ReturnData", True))
        if query.get("MetricStat"):
            series = stats[qid]
            times = sorted(series)
            results.append(Result(qid, labels[qid], times, [series[t] for t in times], returns))
            continue
        try:
            value = evaluator.evaluate(query["Expression"])
        except (MathError, TypeError, IndexError, ValueError, ZeroDivisionError) as exc:
            results.append(Result(qid, query.get("Label") or qid, [], [], returns,
                                  [{"Code": "InternalError", "Value": f"Error in expression {qid}: {exc}"}]))
            values[qid] = None
            continue
        values[qid] = value
        if isinstance(value, tuple):  # several series: one result each, labelled by their metric
            names = [q for q, row in rows.items() if any(row is s for s in value)]
            if len(names) != len(value) and len(value) == len(rows):
                names = list(rows)   # METRICS() through a function: the metrics in order
            for k, row in enumerate(value):
                label = labels.get(names[k]) if k < len(names) else f"{qid} {k + 1}"
                results.append(_from_row(qid, f"{query['Label']} {label}" if query.get("Label") else label,
                                         grid, row, returns))
            continue
        if not isinstance(value, list):
            value = [value] * len(grid) if value is not None else [None] * len(grid)
        results.append(_from_row(qid, query.get("Label") or qid, grid, value, returns))
    dynamic_labels(results, queries)
    return results


_DYNAMIC = re.compile(r"\$\{(LAST|FIRST|MIN|MAX|AVG|SUM|DATAPOINT_COUNT|LABEL|PROP\('([A-Za-z.:_-]+)'\))\}")


def dynamic_labels(results: list[Result], queries: list[dict]) -> None:
    """CloudWatch's dynamic labels: ${LAST}, ${FIRST}, ${MIN}, ${MAX}, ${AVG}, ${SUM},
    ${DATAPOINT_COUNT}, ${LABEL} and ${PROP('MetricName'|'Namespace'|'Period'|'Stat'|'Dim.NAME')}
    in a label become the result's own values (over the whole time range)."""
    by_id = {q["Id"]: q for q in queries}
    for result in results:
        if "${" not in result.label:
            continue
        query = by_id.get(result.id, {})
        values = result.values

        def value(match: re.Match) -> str:
            word, prop = match.group(1), match.group(2)
            if prop is not None:
                return _prop(query, prop)
            if word == "LABEL":
                return query.get("Id", result.id)
            if word == "DATAPOINT_COUNT":
                return str(len(values))
            if not values:
                return ""
            ordered = [v for _, v in sorted(zip(result.timestamps, values))]
            number = {"LAST": ordered[-1], "FIRST": ordered[0], "MIN": min(values), "MAX": max(values),
                      "AVG": sum(values) / len(values), "SUM": sum(values)}[word]
            return _figure(number)

        result.label = _DYNAMIC.sub(value, result.label)


def _prop(query: dict, prop: str) -> str:
    stat = query.get("MetricStat") or {}
    metric = stat.get("Metric") or {}
    if prop.startswith("Dim."):
        return next((d["Value"] for d in metric.get("Dimensions") or [] if d["Name"] == prop[4:]), "")
    return str({"MetricName": metric.get("MetricName"), "Namespace": metric.get("Namespace"),
                "Period": stat.get("Period"), "Stat": stat.get("Stat")}.get(prop) or "")


def _figure(number: float) -> str:
    return f"{number:.0f}" if float(number).is_integer() else f"{number:.4g}"


def _from_row(qid: str, label: str, grid: list[float], row: list, returns: bool) -> Result:
    times, out = [], []
    for t, v in zip(grid, row):
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            times.append(t)
            out.append(float(v))
    return Result(qid, label, times, out, returns)


def _index(backend) -> dict[tuple[str, str], list]:
    index: dict[tuple[str, str], list] = {}
    for datum in backend.get_all_metrics():
        dims = frozenset((d.name, d.value) for d in datum.dimensions or [])
        index.setdefault((datum.namespace, datum.name), []).append(
            (_epoch(datum.timestamp), dims, datum.unit, datum))
    return index


def _epoch(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()
