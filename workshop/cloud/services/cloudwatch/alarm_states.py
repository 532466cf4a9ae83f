"""Alarm states as other services read them (``services.ask("cloudwatch.alarm-states",
...)``: ECS's deployment alarms), so that no service imports CloudWatch's models or engines."""

from __future__ import annotations

from workshop.cloud import services


@services.on("cloudwatch.alarm-states")
def alarm_states(account_id: str, region: str, names: list[str]) -> dict[str, str]:
    """name -> StateValue (OK, ALARM, INSUFFICIENT_DATA) of the named alarms that exist."""
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[account_id][region].alarms
    return {name: alarms[name].state_value for name in names if name in alarms}
