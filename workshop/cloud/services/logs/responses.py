"""CloudWatch Logs wire format for what the workshop adds or fixes: PutLogEvents with the
``x-amzn-logs-format: json/emf`` header, metric filters (Put, Describe, Delete, Test) and
Logs Insights queries (Start, GetResults, Stop, Describe)."""

from __future__ import annotations

import json
import re

from moto.logs.exceptions import InvalidParameterException
from moto.logs.responses import LogsResponse

from workshop.cloud.services import extend
from workshop.cloud.services.logs import metric_filters

EMF_FORMAT = "json/emf"
_FILTER_NAME = re.compile(r"[^:*]{1,512}\Z")


def _invalid(parameter: str, value, constraint: str) -> InvalidParameterException:
    return InvalidParameterException(constraint=constraint, parameter=parameter, value=value)


@extend(LogsResponse)
class WorkshopLogsResponse:
    def put_log_events(self) -> str:
        emf = (self.headers.get("x-amzn-logs-format") or "").strip().lower() == EMF_FORMAT
        token, rejected = self.logs_backend.put_log_events(
            self._get_param("logGroupName"), self._get_param("logStreamName"), self._get_param("logEvents"),
            emf=emf)
        body = {"nextSequenceToken": token}
        if rejected:
            body["rejectedLogEventsInfo"] = rejected
        return json.dumps(body)

    # -- metric filters ----------------------------------------------------------------
    def put_metric_filter(self) -> str:
        name = self._get_param("filterName") or ""
        if not _FILTER_NAME.match(name):
            raise _invalid("filterName", name, "Must match pattern: [^:*]*")
        pattern = self._get_param("filterPattern")
        if pattern is None or len(pattern) > 1024:
            raise _invalid("filterPattern", pattern, "Member must have length less than or equal to 1024")
        metric_filters.put_metric_filter(self.logs_backend, self._get_param("logGroupName"), name, pattern,
                                         self._get_param("metricTransformations") or [])
        return ""

    def describe_metric_filters(self) -> str:
        metric_name, namespace = self._get_param("metricName"), self._get_param("metricNamespace")
        if bool(metric_name) != bool(namespace):
            missing, given = ("metricNamespace", "metricName") if metric_name else ("metricName", "metricNamespace")
            raise InvalidParameterException(
                f"If you include the {given} parameter in your request, you must also include the "
                f"{missing} parameter.")
        found = metric_filters.describe_metric_filters(
            self.logs_backend, self._get_param("filterNamePrefix"), self._get_param("logGroupName"),
            metric_name, namespace)
        limit = int(self._get_param("limit") or 50)
        if not 1 <= limit <= 50:
            raise _invalid("limit", limit, "Member must have value less than or equal to 50")
        start = 0
        token = self._get_param("nextToken")
        if token:
            try:
                start = int(token)
            except ValueError:
                raise InvalidParameterException("The specified nextToken is invalid.") from None
        page = found[start:start + limit]
        body: dict = {"metricFilters": page}
        if start + limit < len(found):
            body["nextToken"] = str(start + limit)
        return json.dumps(body)

    def delete_metric_filter(self) -> str:
        metric_filters.delete_metric_filter(self.logs_backend, self._get_param("logGroupName"),
                                            self._get_param("filterName"))
        return ""

    def test_metric_filter(self) -> str:
        messages = self._get_param("logEventMessages") or []
        if not 1 <= len(messages) <= 50:
            raise _invalid("logEventMessages", messages, "Member must have length less than or equal to 50")
        matches = metric_filters.test_metric_filter(self._get_param("filterPattern") or "", messages)
        return json.dumps({"matches": matches})

    # -- Logs Insights ----------------------------------------------------------------
    def start_query(self) -> str:
        given = [p for p in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if self._get_param(p)]
        if len(given) != 1:
            raise InvalidParameterException(
                "Specify exactly one of logGroupName, logGroupNames or logGroupIdentifiers.")
        identifiers = self._get_param(given[0])
        if isinstance(identifiers, str):
            identifiers = [identifiers]
        limit = self._get_param("limit")
        query_id = self.logs_backend.start_insights_query(
            identifiers, self._get_int_param("startTime"), self._get_int_param("endTime"),
            self._get_param("queryString") or "", int(limit) if limit is not None else None)
        return json.dumps({"queryId": query_id})

    def get_query_results(self) -> str:
        query = self.logs_backend.insights_query(self._get_param("queryId"))
        return json.dumps({"queryLanguage": "CWLI", "results": query.results, "statistics": query.statistics,
                           "status": query.status})

    def stop_query(self) -> str:
        return json.dumps({"success": self.logs_backend.stop_insights_query(self._get_param("queryId"))})

    def describe_queries(self) -> str:
        status = self._get_param("status")
        if status and status not in ("Scheduled", "Running", "Complete", "Failed", "Cancelled", "Timeout",
                                     "Unknown"):
            raise _invalid("status", status, "Member must satisfy enum value set: [Scheduled, Running, "
                           "Complete, Failed, Cancelled, Timeout, Unknown]")
        found = self.logs_backend.describe_insights_queries(self._get_param("logGroupName"), status)
        limit = int(self._get_param("maxResults") or 1000)
        start = 0
        token = self._get_param("nextToken")
        if token:
            try:
                start = int(token)
            except ValueError:
                raise InvalidParameterException("The specified nextToken is invalid.") from None
        body: dict = {"queries": [q.info() for q in found[start:start + limit]]}
        if start + limit < len(found):
            body["nextToken"] = str(start + limit)
        return json.dumps(body)
