"""Composite alarms: ``put_composite_alarm`` validated as AWS validates it, the
state a composite's AlarmRule gives from its children's states (``settle``), and
the actions suppressor (``ActionsSuppressor`` with its wait and extension periods
on the workshop clock: ``hold`` keeps a transition's actions back, ``suppressor_changed``
and ``release_due`` let them go). Which child changed is the engine's news
(``composite_evaluator.py``); this module records states through ``models.change_state``.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.models import Alarm, CloudWatchBackend

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services import extend
from workshop.cloud.services.cloudwatch import alarm_rule, models

log = logging.getLogger(__name__)

MAX_ACTIONS = 5           # per state, as AWS limits them
COMPOSITE_ACTION_SERVICES = ("sns", "lambda", "ssm", "ssm-incidents")
_settling = threading.local()   # the composites being settled in this thread (a cycle stops here)


@extend(CloudWatchBackend)
class CompositeAlarms:
    def put_composite_alarm(self, name: str, rule: str, description: str | None = None,
                            actions_enabled: bool | None = True, alarm_actions: list[str] | None = None,
                            ok_actions: list[str] | None = None,
                            insufficient_data_actions: list[str] | None = None,
                            tags: list[dict[str, str]] | None = None,
                            actions_suppressor: str | None = None,
                            actions_suppressor_wait_period: int | None = None,
                            actions_suppressor_extension_period: int | None = None) -> Alarm:
        validate_composite(self, name, rule, alarm_actions or [], ok_actions or [],
                           insufficient_data_actions or [], actions_suppressor,
                           actions_suppressor_wait_period, actions_suppressor_extension_period)
        alarm = self.put_metric_alarm(
            name=name, namespace=None, metric_name=None, comparison_operator=None,
            evaluation_periods=None, period=None, threshold=None, statistic=None,
            description=description, dimensions=[], alarm_actions=list(alarm_actions or []),
            ok_actions=list(ok_actions or []), insufficient_data_actions=list(insufficient_data_actions or []),
            actions_enabled=actions_enabled, rule=rule, tags=tags,
            composite_settings={
                "actions_suppressor": actions_suppressor,
                "actions_suppressor_wait_period": actions_suppressor_wait_period,
                "actions_suppressor_extension_period": actions_suppressor_extension_period,
            })
        # AWS: a new composite alarm is evaluated at once, an updated one again.
        settle(self, alarm)
        return alarm


def validate_composite(backend, name, rule, alarm_actions, ok_actions, insufficient_data_actions,
                       suppressor, wait_period, extension_period) -> None:
    if not name:
        raise ValidationError("1 validation error detected: Value null at 'alarmName' "
                              "failed to satisfy constraint: Member must not be null")
    if len(name) > 255:
        raise ValidationError(f"1 validation error detected: Value '{name}' at 'alarmName' failed "
                              "to satisfy constraint: Member must have length less than or equal to 255")
    if rule is None or rule == "":
        raise ValidationError("1 validation error detected: Value null at 'alarmRule' "
                              "failed to satisfy constraint: Member must not be null")
    if len(rule) > alarm_rule.MAX_RULE_LENGTH:
        raise ValidationError(
            f"1 validation error detected: Value '{rule[:64]}...' at 'alarmRule' failed to satisfy "
            f"constraint: Member must have length less than or equal to {alarm_rule.MAX_RULE_LENGTH}")
    try:
        tree = alarm_rule.parse(rule)
    except alarm_rule.RuleError as exc:
        raise ValidationError(str(exc))
    children = []
    for ref in alarm_rule.references(tree):
        child = alarm_rule.alarm_name(ref.reference)
        if child not in children:
            children.append(child)
    if len(children) > alarm_rule.MAX_CHILDREN:
        raise ValidationError(f"The AlarmRule can reference at most {alarm_rule.MAX_CHILDREN} alarms; "
                              f"it references {len(children)}.")
    missing = [ref.reference for ref in alarm_rule.references(tree) if find(backend, ref.reference) is None]
    if missing:
        missing = list(dict.fromkeys(missing))
        raise ValidationError("Could not save the composite alarm as alarms "
                              f"[{', '.join(missing)}] in the alarm rule do not exist")
    existing = backend.alarms.get(name)
    if existing is not None and models.alarm_type(existing) != "CompositeAlarm":
        raise ValidationError(f"The alarm {name} is a metric alarm; a composite alarm cannot replace it.")
    for field, actions in (("alarmActions", alarm_actions), ("oKActions", ok_actions),
                           ("insufficientDataActions", insufficient_data_actions)):
        if len(actions) > MAX_ACTIONS:
            raise ValidationError(
                f"1 validation error detected: Value '{actions}' at '{field}' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_ACTIONS}")
        for arn in actions:
            parts = arn.split(":") if isinstance(arn, str) else []
            if len(parts) < 6 or parts[0] != "arn":
                raise ValidationError(f"Invalid arn syntax: {arn}")
            if parts[2] not in COMPOSITE_ACTION_SERVICES:
                raise ValidationError(f"The action {arn} is not supported for composite alarms: "
                                      "they can notify SNS topics, invoke Lambda functions and "
                                      "create OpsItems and incidents.")
    if suppressor:
        if wait_period is None or extension_period is None:
            raise ValidationError("ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod "
                                  "are required when ActionsSuppressor is set.")
        for field, value in (("actionsSuppressorWaitPeriod", wait_period),
                             ("actionsSuppressorExtensionPeriod", extension_period)):
            if int(value) < 0:
                raise ValidationError(
                    f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
                    "constraint: Member must have value greater than or equal to 0")
        if len(suppressor) > 1600:
            raise ValidationError(
                f"1 validation error detected: Value '{suppressor}' at 'actionsSuppressor' failed to "
                "satisfy constraint: Member must have length less than or equal to 1600")
        if alarm_rule.alarm_name(suppressor) == name:
            raise ValidationError("A composite alarm cannot be its own ActionsSuppressor.")
        if find(backend, suppressor) is None:
            raise ValidationError(f"Could not save the composite alarm as the ActionsSuppressor "
                                  f"alarm [{suppressor}] does not exist")
    elif wait_period is not None or extension_period is not None:
        raise ValidationError("ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod "
                              "can only be set with ActionsSuppressor.")


# -- reading ----------------------------------------------------------------------------
def find(backend, reference: str) -> Alarm | None:
    """The alarm a rule or suppressor names, by name or by an ARN of this account and region."""
    if reference.startswith("arn:"):
        parts = reference.split(":", 6)
        if (len(parts) < 7 or parts[2] != "cloudwatch" or parts[3] != backend.region_name
                or parts[4] != backend.account_id or parts[5] != "alarm"):
            return None
        reference = parts[6]
    return backend.alarms.get(reference)


def refers_to(composite: Alarm, name: str) -> bool:
    return any(alarm_rule.alarm_name(ref.reference) == name for ref in rule_references(composite))


def rule_references(composite: Alarm) -> list[alarm_rule.StateOf]:
    try:
        return alarm_rule.references(alarm_rule.parse(composite.rule))
    except alarm_rule.RuleError:
        return []


def parents_of(backend, name: str) -> list[Alarm]:
    return [a for a in list(backend.alarms.values())
            if getattr(a, "rule", None) is not None and refers_to(a, name)]


def suppressed_by_this(backend, name: str) -> list[Alarm]:
    """The composite alarms whose ActionsSuppressor is the named alarm."""
    return [a for a in list(backend.alarms.values())
            if getattr(a, "actions_suppressor", None)
            and alarm_rule.alarm_name(a.actions_suppressor) == name]


# -- the state a rule gives ---------------------------------------------------------
def settle(backend, composite: Alarm, trigger: Alarm | None = None) -> bool:
    """Move the composite to the state its rule gives (TRUE: ALARM, FALSE: OK) now;
    ``trigger`` is the child whose change prompted it. Returns whether it changed.
    A cycle of composites is not followed (AWS stops evaluating one)."""
    busy = _settling.__dict__.setdefault("names", set())
    key = (backend.account_id, backend.region_name, composite.name)
    if key in busy:
        log.warning("composite alarm %s is part of a cycle; not evaluated again", composite.name)
        return False
    busy.add(key)
    try:
        with models.STATE_LOCK:
            if backend.alarms.get(composite.name) is not composite:
                return False
            try:
                tree = alarm_rule.parse(composite.rule)
            except alarm_rule.RuleError:
                return False
            refs = alarm_rule.references(tree)
            states = {}
            for ref in refs:
                child = find(backend, ref.reference)
                states[ref.reference] = child.state_value if child is not None else None
            value = alarm_rule.holds(tree, states.get)
            new_state = "ALARM" if value else "OK"
            before = composite.state_value
            if before == new_state:
                return False
            reason, data = _reason(backend, composite, new_state, refs, trigger)
        return models.change_state(backend, composite, new_state, reason, data, expect=before)
    finally:
        busy.discard(key)


def _reason(backend, composite, new_state, refs, trigger) -> tuple[str, str]:
    """AWS's words: the child whose transition decided it, and the triggering alarms."""
    children = []
    for ref in refs:
        child = find(backend, ref.reference)
        if child is not None and child not in children:
            children.append(child)
    if trigger is not None and trigger in children:
        deciding = trigger
    elif children:
        deciding = max(children, key=lambda c: _aware(c.state_updated_timestamp))
    else:
        deciding = None
    if deciding is None:
        rule_value = "TRUE" if new_state == "ALARM" else "FALSE"
        return f"The alarm rule evaluates to {rule_value}", json.dumps({"triggeringAlarms": []})
    when = _aware(deciding.state_updated_timestamp)
    reason = (f"{deciding.alarm_arn} transitioned to {deciding.state_value} at "
              f"{when.strftime('%A %d %B, %Y %H:%M:%S')} UTC")
    data = {"triggeringAlarms": [{"arn": deciding.alarm_arn, "state": {
        "value": deciding.state_value, "timestamp": models._millis(when)}}]}
    return reason, json.dumps(data)


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.fromtimestamp(0, timezone.utc)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


# -- the actions suppressor -----------------------------------------------------------
def suppression(alarm: Alarm) -> dict | None:
    """{"by": Alarm | WaitPeriod | ExtensionPeriod, "until": wall-clock seconds or None,
    "pending": the held transition or None}, while the composite's actions are suppressed."""
    return alarm.__dict__.get("_suppression")


def _suppress(backend, alarm: Alarm, by: str, until: float | None, pending: dict | None) -> None:
    alarm._suppression = {"by": by, "reason": f"Actions suppressed by {by}", "until": until,
                          "pending": pending}
    persistence.changed(backend.account_id)


def _suppressor_state(backend, alarm: Alarm) -> str | None:
    suppressor = find(backend, alarm.actions_suppressor)
    return suppressor.state_value if suppressor is not None else None


def hold(backend, alarm: Alarm, old_state: str, new_state: str, actions: list[str], when: datetime) -> bool:
    """Called by ``change_state`` for every transition with actions to run: True when the
    composite's ActionsSuppressor holds them back (they run later, or never)."""
    if not getattr(alarm, "actions_suppressor", None):
        return False
    pending = {"state": new_state, "old_state": old_state, "actions": list(actions)}
    clock = get_clock()
    with models.STATE_LOCK:
        current = suppression(alarm)
        if _suppressor_state(backend, alarm) == "ALARM":
            _suppress(backend, alarm, "Alarm", None, pending)
        elif current is not None and current["until"] is not None and current["until"] > clock.timestamp():
            current["pending"] = pending   # a wait or extension still running: the newest transition waits
        elif new_state == "ALARM" and int(alarm.actions_suppressor_wait_period or 0) > 0:
            until = clock.timestamp() + clock.real_seconds(int(alarm.actions_suppressor_wait_period))
            _suppress(backend, alarm, "WaitPeriod", until, pending)
        else:
            alarm._suppression = None
            return False
        by = suppression(alarm)["by"]
    models.record_history(backend, alarm, "Action", f"Actions suppressed by {by}",
                          {"actionState": "Suppressed", "actionsSuppressedBy": by,
                           "actions": list(actions), "stateUpdateTimestamp": models._millis(when)}, when)
    services.announce("cloudwatch.alarm-changed")   # the evaluator looks at the clock again
    return True


def suppressor_changed(backend, composite: Alarm, old_state: str, new_state: str) -> None:
    """The composite's suppressor moved: into ALARM it suppresses; out of ALARM the
    extension period starts, after which held actions run."""
    clock = get_clock()
    with models.STATE_LOCK:
        current = suppression(composite)
        pending = current["pending"] if current else None
        if new_state == "ALARM":
            _suppress(backend, composite, "Alarm", None, pending)
        elif old_state == "ALARM":
            until = clock.timestamp() + clock.real_seconds(int(composite.actions_suppressor_extension_period or 0))
            _suppress(backend, composite, "ExtensionPeriod", until, pending)
        else:
            return
    release_due(backend, composite)
    services.announce("cloudwatch.alarm-changed")


def release_due(backend, composite: Alarm, now: float | None = None) -> bool:
    """End a wait or extension period that is over: the held transition's actions run
    if the composite is still in that state (AWS performs them then). True when one ended."""
    clock = get_clock()
    now = clock.timestamp() if now is None else now
    with models.STATE_LOCK:
        current = suppression(composite)
        if current is None or current["until"] is None or current["until"] > now:
            return False
        if backend.alarms.get(composite.name) is not composite:
            return False
        composite._suppression = None
        persistence.changed(backend.account_id)
        pending = current["pending"]
        run = (pending is not None and pending["actions"] and composite.actions_enabled
               and composite.state_value == pending["state"])
    if run:
        models.run_actions(backend, composite, pending["old_state"], pending["actions"], clock.now())
    return True


def next_deadline(composite: Alarm) -> float | None:
    current = suppression(composite)
    return current["until"] if current else None


def settings_view(alarm: Alarm) -> dict[str, Any]:
    """The suppressor fields of a composite alarm as DescribeAlarms shows them."""
    view: dict[str, Any] = {}
    if getattr(alarm, "actions_suppressor", None):
        view["ActionsSuppressor"] = alarm.actions_suppressor
        view["ActionsSuppressorWaitPeriod"] = int(alarm.actions_suppressor_wait_period or 0)
        view["ActionsSuppressorExtensionPeriod"] = int(alarm.actions_suppressor_extension_period or 0)
    current = suppression(alarm)
    if current is not None:
        view["ActionsSuppressedBy"] = current["by"]
        view["ActionsSuppressedReason"] = current["reason"]
    return view
