"""AWS X-Ray that ingests: OTLP/HTTP spans at ``/v1/traces`` (otlp.py, translate.py),
the X-Ray daemon's UDP protocol (daemon.py), ``put_trace_segments``, Lambda's active
tracing (lambda_tracing.py), kept on disk per account and region (store.py, models.py);
``batch_get_traces``, ``get_trace_summaries`` and the segment destination (responses.py,
summaries.py; spans also to the ``aws/spans`` log group in CloudWatchLogs mode: spans_log.py).

The trace store, for the query side (service graph, filter expressions, statistics)::

    from workshop.cloud.services.xray import store
    store.traces(account_id, region, start=None, end=None) -> Iterator[store.Trace]
        # traces with a document between start and end (epoch seconds), oldest stored first
    store.get(account_id, region, trace_id) -> store.Trace | None

A ``Trace`` has ``trace_id`` (``1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY``), ``segments`` (the
X-Ray segment documents as dicts, in start order, subsegments sent on their own nested
into their parent's ``subsegments``), ``start``, ``end``, ``duration``, ``in_progress``
``orphans`` (subsegments whose parent never came) and ``limit_exceeded``; it iterates as its
segments. ``get_trace_summaries`` with a
FilterExpression calls ``filters.matches(expression, trace) -> bool`` (a ValueError's
message becomes the InvalidRequestException) when ``xray/filters.py`` exists.

Operations are routed by path to methods named after the operation in snake_case
(``get_service_graph``, ``create_group``...); an operation nobody implements keeps moto's
method (or gets the cloud's not-implemented error).
"""

from workshop.cloud.services.xray import lambda_tracing, models, otlp, responses, spans_log  # noqa: F401  (register)

responses.add_routes()
