"""The engine that runs Logs Insights queries: a small pool of threads takes each query
``queries.py`` announces, streams its log groups' events from disk in time order
(``models.scan``, merged across groups) through ``insights.execute``, and records the
results and statistics on the query (Running, then Complete, Failed or Cancelled)."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workshop.cloud import persistence
from workshop.cloud.services import on
from workshop.cloud.services.logs import insights, queries

log = logging.getLogger(__name__)

WORKERS = 2
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="logs-insights")
        return _pool


@on(queries.STARTED)
def _schedule(query: queries.InsightsQuery) -> None:
    _executor().submit(run, query)


def records(account_id: str, region: str, group_names: list[str], start_ms: int, end_ms: int):
    """Every event of the groups in the window as Insights records, in time order."""
    from workshop.cloud.services.logs.models import logs_backend, scan

    backend = logs_backend(account_id, region)
    streams = []
    for name in group_names:
        group = backend.groups.get(name)
        if group is not None:
            streams.append(_group_records(account_id, group, start_ms, end_ms, scan))
    return heapq.merge(*streams, key=lambda r: r.timestamp)


def _group_records(account_id: str, group: Any, start_ms: int, end_ms: int, scan):
    log_field = f"{account_id}:{group.name}"
    for stream, event in scan(group, start_ms, end_ms):
        yield insights.Record(event.timestamp, event.message, stream, log_field, event.ingestion_time,
                              (group.arn, stream, event.position))


def run(query: queries.InsightsQuery) -> None:
    if query.status != "Scheduled":
        return
    query.status = "Running"
    began = time.monotonic()
    stats = insights.Stats()
    try:
        compiled = insights.parse_query(query.query_string)
        if query.limit is not None and not any(kind == "limit" for kind, _ in compiled.stages):
            compiled.stages.append(("limit", query.limit))
        rows = insights.execute(compiled, records(query.account_id, query.region, query.group_names,
                                                  query.start_ms, query.end_ms),
                                stats, cancelled=lambda: query.status == "Cancelled")
        if query.status == "Cancelled":
            return
        query.results = rows
        query.statistics = stats.to_dict()
        query.status = "Complete"
    except Exception:
        log.exception("Logs Insights query %s failed", query.query_id)
        query.status = "Failed"
    finally:
        query.duration_ms = int((time.monotonic() - began) * 1000)
        persistence.changed(query.account_id)
