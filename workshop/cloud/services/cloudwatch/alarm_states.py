"""Alarm states as other services read them (``services.ask("cloudwatch.alarms-fired", ...)``:
ECS's deployment alarms), so that no service imports CloudWatch's models or engines."""

from __future__ import annotations

from workshop.cloud import services


@services.on("cloudwatch.alarms-fired")
def alarms_fired(account_id: str, region: str, names: list[str], since: float) -> list[str]:
    """The named alarms in ALARM at some moment at or after ``since`` (``models.alarms_fired``)."""
    from workshop.cloud.services.cloudwatch.models import alarms_fired as fired

    return fired(account_id, region, names, since)
