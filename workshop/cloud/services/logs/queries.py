"""Logs Insights queries as state: StartQuery compiles the query (MalformedQueryException
with its location), keeps a ``InsightsQuery`` (Scheduled, Running, Complete, Failed,
Cancelled; results and statistics once done) in the account's backend, and announces
``logs.query-started`` for the query runner (``query_runner.py``) to run it off the request.
Plain data: a query and its results are in the account's snapshot."""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.utils import unix_time_millis, utcnow
from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
from moto.logs.models import LogsBackend

from workshop.cloud import persistence
from workshop.cloud.services import announce, extend, on
from workshop.cloud.services.logs import insights

STARTED = "logs.query-started"
RUNNING_STATES = ("Scheduled", "Running")
MAX_GROUPS = 50
KEPT_QUERIES = 1000          # finished queries an account keeps (the oldest go first)


class MalformedQueryException(JsonRESTError):
    code = 400

    def __init__(self, error: insights.QueryError):
        super().__init__("MalformedQueryException", error.message)
        self.description = json.dumps({
            "__type": "MalformedQueryException", "message": error.message,
            "queryCompileError": {"location": {"startCharOffset": error.start, "endCharOffset": error.end},
                                  "message": error.message}})


class InsightsQuery:
    def __init__(self, account_id: str, region: str, query_string: str, group_names: list[str],
                 start_ms: int, end_ms: int, limit: int | None):
        self.query_id = str(uuid.uuid4())
        self.account_id, self.region = account_id, region
        self.query_string, self.group_names = query_string, group_names
        self.start_ms, self.end_ms, self.limit = start_ms, end_ms, limit
        self.status = "Scheduled"
        self.create_time = int(unix_time_millis(utcnow()))
        self.duration_ms = 0
        self.results: list[list[dict[str, str]]] = []
        self.statistics = {"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0}

    def info(self) -> dict[str, Any]:
        found = {"queryLanguage": "CWLI", "queryId": self.query_id, "queryString": self.query_string,
                 "status": self.status, "createTime": self.create_time, "logGroupName": self.group_names[0]}
        if self.status not in RUNNING_STATES:
            found["queryDuration"] = self.duration_ms
            found["bytesScanned"] = self.statistics["bytesScanned"]
        return found


def queries_of(backend: Any) -> dict[str, InsightsQuery]:
    found = getattr(backend, "insights_queries", None)
    if found is None:
        found = backend.insights_queries = {}
    return found


def group_name(identifier: str) -> str:
    """A log group's name from a name or an ARN (with or without the trailing :*)."""
    if identifier.startswith("arn:"):
        resource = identifier.split(":", 5)[5] if identifier.count(":") >= 5 else ""
        name = resource[len("log-group:"):] if resource.startswith("log-group:") else resource
        return name[:-2] if name.endswith(":*") else name
    return identifier


@extend(LogsBackend)
class _InsightsBackend:
    def start_insights_query(self, identifiers: list[str], start_time: int, end_time: int, query_string: str,
                             limit: int | None) -> str:
        if not identifiers:
            raise InvalidParameterException("Specify exactly one of logGroupName, logGroupNames or "
                                            "logGroupIdentifiers.")
        if len(identifiers) > MAX_GROUPS:
            raise InvalidParameterException(f"A query can name at most {MAX_GROUPS} log groups.")
        if start_time is None or end_time is None or end_time < start_time:
            raise InvalidParameterException("The end time of the query must not be before its start time.")
        if limit is not None and not 1 <= limit <= insights.MAX_LIMIT:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
                f"Member must have value less than or equal to {insights.MAX_LIMIT}")
        names = []
        for identifier in identifiers:
            name = group_name(identifier)
            if name not in self.groups:
                raise ResourceNotFoundException(f"Log group '{name}' does not exist for account ID "
                                                f"'{self.account_id}'")
            names.append(name)
        try:
            insights.parse_query(query_string)
        except insights.QueryError as error:
            raise MalformedQueryException(error) from None
        query = InsightsQuery(self.account_id, self.region_name, query_string, names, start_time * 1000,
                              (end_time + 1) * 1000, limit)
        kept = queries_of(self)
        kept[query.query_id] = query
        finished = [q for q in kept.values() if q.status not in RUNNING_STATES]
        for old in finished[:max(0, len(kept) - KEPT_QUERIES)]:
            kept.pop(old.query_id, None)
        announce(STARTED, query=query)
        return query.query_id

    def insights_query(self, query_id: str) -> InsightsQuery:
        query = queries_of(self).get(query_id or "")
        if query is None:
            raise ResourceNotFoundException(f"Query {query_id} does not exist.")
        return query

    def stop_insights_query(self, query_id: str) -> bool:
        query = self.insights_query(query_id)
        if query.status not in RUNNING_STATES:
            raise InvalidParameterException(f"Query {query_id} is not running; it is {query.status}.")
        query.status = "Cancelled"
        return True

    def describe_insights_queries(self, group: str | None, status: str | None) -> list[InsightsQuery]:
        found = [q for q in queries_of(self).values()
                 if (not group or group in q.group_names) and (not status or q.status == status)]
        return sorted(found, key=lambda q: q.create_time, reverse=True)


@on(persistence.RESTORED)
def _run_cut_short(account_id: str) -> None:
    """Queries the stop cut short run again (their results were never given)."""
    from moto.logs.models import logs_backends

    for backend in persistence.backends(logs_backends, account_id):
        for query in list(queries_of(backend).values()):
            if query.status in RUNNING_STATES:
                query.status = "Scheduled"
                announce(STARTED, query=query)
