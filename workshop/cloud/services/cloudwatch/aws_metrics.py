"""The metrics AWS services publish in their own ``AWS/`` namespaces. Only the cloud
writes them, through ``publish`` (the one function engines call); the API refuses a
learner's PutMetricData into ``AWS/`` as AWS does (responses.py). A check that reads
``AWS/Lambda`` or ``AWS/SNS`` therefore reads what the cloud saw happen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone

from workshop.cloud import persistence
from workshop.cloud.clock import get_clock

log = logging.getLogger(__name__)

RESERVED = "AWS/"


def refused_namespace(namespace: str | None) -> str | None:
    """AWS's message when a caller's namespace is reserved for AWS's services, else None."""
    if namespace and namespace.startswith(RESERVED):
        return f"The value {namespace} for parameter Namespace is invalid."
    return None


def publish(account_id: str, region: str, namespace: str, values: Mapping[str, tuple[float, str]],
            dimension_sets: list[Mapping[str, str]], when: datetime | float | None = None) -> None:
    """Publish data points as an AWS service: each metric of ``values`` (name -> (value, unit))
    under each set of dimensions (a set may be empty: the service's account-wide metric),
    stamped ``when`` (default: now). Never raises: metrics must not break the work measured."""
    if not namespace.startswith(RESERVED):
        raise ValueError(f"{namespace} is not an AWS namespace")
    try:
        from moto.cloudwatch.models import cloudwatch_backends

        stamp = _naive_utc(when)
        data = [{"MetricName": metric, "Value": float(value), "Unit": unit, "Timestamp": stamp,
                 "Dimensions": [{"Name": k, "Value": str(v)} for k, v in dims.items()]}
                for dims in dimension_sets for metric, (value, unit) in values.items()]
        cloudwatch_backends[account_id][region].put_metric_data(namespace, data)
        persistence.changed(account_id)
    except Exception:
        log.exception("could not publish %s metrics for %s", namespace, account_id)


def _naive_utc(when: datetime | float | None) -> datetime:
    """moto keeps metric timestamps as naive UTC."""
    if when is None:
        when = get_clock().now()
    elif isinstance(when, (int, float)):
        when = datetime.fromtimestamp(when, timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when
