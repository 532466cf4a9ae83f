"""The engine side of composite alarms: a child's state change settles every composite
that names it (at once, in the thread that changed the child) and moves the suppression
of every composite it suppresses; the alarm evaluator's loop ends wait and extension
periods on the workshop clock (alarm kind "CompositeAlarm"). AWS re-evaluates a
composite only when a child changes or it is updated, so nothing else settles it."""

from __future__ import annotations

import logging

from workshop.cloud import services
from workshop.cloud.services.cloudwatch.alarm_evaluator import Outcome, register_alarm_type

log = logging.getLogger(__name__)

SUPPRESSION_INTERVAL = 1.0   # AWS seconds between looks at a running wait or extension period
IDLE_INTERVAL = 60.0         # ... while none runs


@services.on("cloudwatch.alarm-state-changed")
def child_changed(account_id: str, region: str, alarm, old_state: str, new_state: str) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    from workshop.cloud.services.cloudwatch import composite

    backend = cloudwatch_backends[account_id][region]
    for parent in composite.parents_of(backend, alarm.name):
        try:
            composite.settle(backend, parent, trigger=alarm)
        except Exception:
            log.exception("settling composite alarm %s failed", parent.name)
    for suppressed in composite.suppressed_by_this(backend, alarm.name):
        try:
            composite.suppressor_changed(backend, suppressed, old_state, new_state)
        except Exception:
            log.exception("the suppression of composite alarm %s failed", suppressed.name)


def composite_interval(alarm) -> float:
    from workshop.cloud.services.cloudwatch import composite

    return SUPPRESSION_INTERVAL if composite.next_deadline(alarm) is not None else IDLE_INTERVAL


def evaluate_composite(backend, alarm, end: float) -> Outcome | None:
    """Only the suppressor's clock: a period that is over lets its held actions go."""
    from workshop.cloud.services.cloudwatch import composite

    composite.release_due(backend, alarm)
    return None


register_alarm_type("CompositeAlarm", composite_interval, evaluate_composite)
