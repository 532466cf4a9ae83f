"""CloudWatch Logs whose events live on disk under the state dir, not in memory:
``store.py`` (the files of a stream: append-only events, an index by time),
``models.py`` (moto's groups and streams over those files, AWS's pages and tokens,
and ``scan``, how other engines read a group's events by time), ``metric_filters.py``
and ``filter_pattern.py`` (logs that become metrics, EMF included), ``insights.py`` (the
Logs Insights language), ``queries.py`` (queries as state) with its engine
``query_runner.py``, and ``responses.py``."""

from workshop.cloud.services.logs import models  # noqa: F401  (registers)
from workshop.cloud.services.logs import queries, query_runner, responses  # noqa: F401  (register, subscribe)
