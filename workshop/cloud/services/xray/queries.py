"""X-Ray's wire format for what answers questions: get_service_graph,
get_trace_graph and get_time_series_service_statistics (graph.py over the trace
store, a group's traces when GroupName/GroupARN names one), groups, sampling rules
and targets, tags (settings.py), and the account's groups for get_trace_summaries'
``group.name = "..."`` filters."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from moto.xray.responses import XRayResponse

from workshop.cloud.services import extend, paging
from workshop.cloud.services.xray import graph, responses, store
from workshop.cloud.services.xray.filters import FilterError, current_groups, matches, parse
from workshop.cloud.services.xray.groups import XRayError, invalid
from workshop.cloud.services.xray.settings import settings
from workshop.cloud.services.xray.trace_parts import take_apart

GRAPH_MAX_SECONDS = 24 * 3600        # a graph covers at most a day, as get_trace_summaries
MAX_TRACE_GRAPH_IDS = 5
RULES_PAGE = 100
GROUPS_PAGE = 100

_their_trace_summaries = XRayResponse.get_trace_summaries    # responses.py's, wrapped below


def _answer(code: str, message: str, status: int = 400):
    # JSON said so: the gateway takes an HTML 404 for "no such operation".
    return json.dumps({"__type": code, "message": message}), {"status": status, "x-amzn-ErrorType": code,
                                                               "Content-Type": "application/json"}


def _time(value: Any, name: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
    raise invalid(f"{name} is required (a timestamp).")


def _range(params: dict) -> tuple[float, float]:
    start, end = _time(params.get("StartTime"), "StartTime"), _time(params.get("EndTime"), "EndTime")
    if end < start:
        raise invalid("EndTime must not be before StartTime.")
    if end - start > GRAPH_MAX_SECONDS:
        raise invalid("The time range must not exceed 24 hours.")
    return start, end


def _handled(operation):
    """AWS-shaped answers for XRayError, FilterError and a body that is not a JSON object."""

    def answer(self):
        try:
            params = json.loads(self.body or "{}")
        except ValueError:
            return _answer("InvalidRequestException", "The request body is not a JSON object.")
        if not isinstance(params, dict):
            return _answer("InvalidRequestException", "The request body is not a JSON object.")
        try:
            result = operation(self, params, settings(self.current_account, self.region))
        except XRayError as exc:
            return _answer(exc.code, exc.message, exc.status)
        except FilterError as exc:
            return _answer("InvalidRequestException", str(exc))
        return json.dumps(result)

    answer.__name__ = operation.__name__
    return answer


def _group_expression(backend, params: dict, start: float = 0.0) -> tuple[str | None, bool]:
    """The filter of the group the request names (None: no group, or a group of every trace),
    and whether that filter changed after ``start`` (the range then holds older versions)."""
    if not params.get("GroupName") and not params.get("GroupARN"):
        return None, False
    group = backend.find_group(params.get("GroupName"), params.get("GroupARN"))
    return group.filter_expression or None, group.filter_changed > start


def _traces_of_group(account: str, region: str, backend, start: float, end: float, expression: str | None):
    parsed = parse(expression) if expression else None
    for trace in store.traces(account, region, start, end):
        parts = take_apart(trace)
        if parsed is None or matches(parsed, parts, groups=backend.group_filter):
            yield parts


@extend(XRayResponse)
class XRayQueries:
    # -- graphs and statistics ------------------------------------------------------
    @_handled
    def get_service_graph(self, params, backend):
        start, end = _range(params)
        expression, old_versions = _group_expression(backend, params, start)
        parts = _traces_of_group(self.current_account, self.region, backend, start, end, expression)
        return {"StartTime": start, "EndTime": end,
                "Services": graph.service_graph(parts, self.current_account),
                "ContainsOldGroupVersions": old_versions}

    @_handled
    def get_trace_graph(self, params, backend):
        ids = params.get("TraceIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise invalid("TraceIds is required (a list of trace ids).")
        if len(ids) > MAX_TRACE_GRAPH_IDS:
            raise invalid(f"TraceIds must contain at most {MAX_TRACE_GRAPH_IDS} trace ids.")
        found = [t for t in (store.get(self.current_account, self.region, i) for i in dict.fromkeys(ids)) if t]
        return {"Services": graph.service_graph(found, self.current_account)}

    @_handled
    def get_time_series_service_statistics(self, params, backend):
        start, end = _range(params)
        period = params.get("Period", 60)
        if isinstance(period, bool) or not isinstance(period, int) or period <= 0 or period % 60:
            raise invalid("Period must be a multiple of 60 seconds.")
        selector = graph.entity_selector(params.get("EntitySelectorExpression"))
        expression, old_versions = _group_expression(backend, params, start)
        parts = _traces_of_group(self.current_account, self.region, backend, start, end, expression)
        return {"TimeSeriesServiceStatistics": graph.time_series(parts, start, end, period, selector),
                "ContainsOldGroupVersions": old_versions}

    def get_trace_summaries(self):
        """responses.py's, with this account's groups for group.name and group.arn."""
        token = current_groups.set(settings(self.current_account, self.region).group_filter)
        try:
            return _their_trace_summaries(self)
        finally:
            current_groups.reset(token)

    # -- groups ---------------------------------------------------------------------
    @_handled
    def create_group(self, params, backend):
        group = backend.create_group(params.get("GroupName"), params.get("FilterExpression"),
                                     params.get("InsightsConfiguration"), params.get("Tags"))
        return {"Group": group.describe()}

    @_handled
    def get_group(self, params, backend):
        return {"Group": backend.find_group(params.get("GroupName"), params.get("GroupARN")).describe()}

    @_handled
    def get_groups(self, params, backend):
        groups, token = paging.page(backend.list_groups(), params.get("NextToken"), GROUPS_PAGE,
                                    lambda: invalid("The NextToken is not valid."))
        result: dict[str, Any] = {"Groups": [g.describe() for g in groups]}
        if token:
            result["NextToken"] = token
        return result

    @_handled
    def update_group(self, params, backend):
        group = backend.update_group(params.get("GroupName"), params.get("GroupARN"),
                                     params.get("FilterExpression"), params.get("InsightsConfiguration"))
        return {"Group": group.describe()}

    @_handled
    def delete_group(self, params, backend):
        backend.delete_group(params.get("GroupName"), params.get("GroupARN"))
        return {}

    # -- sampling -------------------------------------------------------------------
    @_handled
    def create_sampling_rule(self, params, backend):
        rule = backend.create_sampling_rule(params.get("SamplingRule"), params.get("Tags"))
        return {"SamplingRuleRecord": rule.describe()}

    @_handled
    def get_sampling_rules(self, params, backend):
        rules, token = paging.page(backend.list_rules(), params.get("NextToken"), RULES_PAGE,
                                   lambda: invalid("The NextToken is not valid."))
        result: dict[str, Any] = {"SamplingRuleRecords": [r.describe() for r in rules]}
        if token:
            result["NextToken"] = token
        return result

    @_handled
    def update_sampling_rule(self, params, backend):
        return {"SamplingRuleRecord": backend.update_sampling_rule(params.get("SamplingRuleUpdate")).describe()}

    @_handled
    def delete_sampling_rule(self, params, backend):
        rule = backend.delete_sampling_rule(params.get("RuleName"), params.get("RuleARN"))
        return {"SamplingRuleRecord": rule.describe()}

    @_handled
    def get_sampling_targets(self, params, backend):
        found = backend.sampling_targets(params.get("SamplingStatisticsDocuments"))
        return {"SamplingTargetDocuments": found["targets"], "LastRuleModification": found["last_modification"],
                "UnprocessedStatistics": found["unprocessed"]}

    @_handled
    def get_sampling_statistic_summaries(self, params, backend):
        return {"SamplingStatisticSummaries": backend.statistic_summaries()}

    # -- tags -----------------------------------------------------------------------
    @_handled
    def tag_resource(self, params, backend):
        backend.tag_resource(params.get("ResourceARN"), params.get("Tags"))
        return {}

    @_handled
    def untag_resource(self, params, backend):
        backend.untag_resource(params.get("ResourceARN"), params.get("TagKeys"))
        return {}

    @_handled
    def list_tags_for_resource(self, params, backend):
        return {"Tags": backend.list_tags(params.get("ResourceARN"))}


responses.add_routes()   # (idempotent) every X-Ray path, before moto builds its URL map
