"""Drift detection: the properties a resource was last deployed with (the
template's, resolved) against the live resource read from moto's backends.
As in AWS, only properties the template sets are compared (a default the
template left alone is not drift), tags compare as a set, and a resource
deleted out of band is DELETED."""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.cloudformation.exceptions import ValidationError

from workshop.cloud.services.cloudformation.engine import ResourceRecord, now, state_of
from workshop.cloud.services.cloudformation.resource_types import rules_for

_MISSING = object()
DETECTABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED",
              "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
DRIFTED = {"MODIFIED", "DELETED"}


# -- comparing ---------------------------------------------------------------

def render(value: Any) -> str:
    """A property value as PropertyDifference shows it: scalars bare, objects as JSON."""
    if value is None or value is _MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _scalar(value: Any) -> str:
    text = render(value)
    return text.lower() if text.lower() in ("true", "false") else text


def _maybe_json(value: Any, other: Any) -> Any:
    """Policies and the like may be a JSON string on one side and an object on the other."""
    if isinstance(value, str) and isinstance(other, (dict, list)):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _is_tag_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(t, dict) and "Key" in t for t in value)


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for key, value in expected.items():
        _compare(value, actual.get(key, _MISSING), f"/{key}", found)
    return found


def _diff(found: list, path: str, expected: Any, actual: Any, kind: str) -> None:
    found.append({"PropertyPath": path, "ExpectedValue": render(expected), "ActualValue": render(actual),
                  "DifferenceType": kind})


def _compare(expected: Any, actual: Any, path: str, found: list) -> None:
    if expected is None:
        return
    if actual is _MISSING or actual is None:
        _diff(found, path, expected, None, "REMOVE")
        return
    expected, actual = _maybe_json(expected, actual), _maybe_json(actual, expected)
    if path.endswith("/Tags") and _is_tag_list(expected) and _is_tag_list(actual):
        _compare_tags(expected, actual, path, found)
    elif path.endswith("/Tags") and isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            _compare(value, actual.get(key, _MISSING), f"{path}/{key}", found)
        for key in actual:
            if key not in expected and not str(key).startswith("aws:"):
                _diff(found, f"{path}/{key}", None, actual[key], "ADD")
    elif isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            _compare(value, actual.get(key, _MISSING), f"{path}/{key}", found)
    elif isinstance(expected, list) and isinstance(actual, list):
        for i, value in enumerate(expected):
            _compare(value, actual[i] if i < len(actual) else _MISSING, f"{path}/{i}", found)
        for i in range(len(expected), len(actual)):
            _diff(found, f"{path}/{i}", None, actual[i], "ADD")
    elif isinstance(expected, (dict, list)) or isinstance(actual, (dict, list)):
        _diff(found, path, expected, actual, "NOT_EQUAL")
    elif _scalar(expected) != _scalar(actual):
        _diff(found, path, expected, actual, "NOT_EQUAL")


def _compare_tags(expected: list, actual: list, path: str, found: list) -> None:
    live = {t["Key"]: t.get("Value") for t in actual}
    wanted = {t["Key"] for t in expected}
    for i, tag in enumerate(expected):
        if tag["Key"] not in live:
            _diff(found, f"{path}/{i}", tag, None, "REMOVE")
        elif _scalar(tag.get("Value")) != _scalar(live[tag["Key"]]):
            _diff(found, f"{path}/{i}/Value", tag.get("Value"), live[tag["Key"]], "NOT_EQUAL")
    extra = [t for t in actual if t["Key"] not in wanted]
    for i, tag in enumerate(extra, start=len(expected)):
        _diff(found, f"{path}/{i}", None, tag, "ADD")


# -- detecting ---------------------------------------------------------------

def resource_drift(stack: Any, record: ResourceRecord) -> dict[str, Any]:
    """A StackResourceDrift for one resource, read now."""
    rules = rules_for(record.resource_type)
    drift: dict[str, Any] = {
        "StackId": stack.stack_id, "LogicalResourceId": record.logical_id,
        "PhysicalResourceId": record.physical_id, "ResourceType": record.resource_type,
        "PropertyDifferences": [], "Timestamp": now(),
    }
    if not rules.checks_drift:
        drift["StackResourceDriftStatus"] = "NOT_CHECKED"
        return drift
    expected = {k: v for k, v in record.properties.items() if k in rules.drift_properties}
    drift["ExpectedProperties"] = json.dumps(expected, separators=(",", ":"), default=str)
    live = rules.live(record.physical_id or "", record.properties, stack.account_id, stack.region_name)
    if live is None:
        drift["StackResourceDriftStatus"] = "DELETED"
        return drift
    actual = {k: live[k] for k in expected if k in live}
    drift["ActualProperties"] = json.dumps(actual, separators=(",", ":"), default=str)
    drift["PropertyDifferences"] = differences(expected, live)
    drift["StackResourceDriftStatus"] = "MODIFIED" if drift["PropertyDifferences"] else "IN_SYNC"
    return drift


def _check(stack: Any) -> None:
    if stack.status not in DETECTABLE:
        raise ValidationError(message=f"Stack {stack.name} is in {stack.status} state; drift detection "
                                      f"needs a stack in one of [{', '.join(sorted(DETECTABLE))}]")


def _record(stack: Any, logical_id: str) -> ResourceRecord:
    record = state_of(stack).records.get(logical_id)
    if record is None or not record.exists:
        raise ValidationError(message=f"Resource {logical_id} does not exist for stack {stack.name}")
    return record


def detections(backend: Any) -> dict[str, dict[str, Any]]:
    """Drift detection runs of one account and region, by id (kept until the account is reset)."""
    return backend.__dict__.setdefault("_workshop_drift_detections", {})


def detect_stack(backend: Any, stack: Any, logical_ids: list[str] | None = None) -> str:
    _check(stack)
    state = state_of(stack)
    # Snapshots (list(...)) of the records: another request may be changing the stack.
    records = [_record(stack, n) for n in logical_ids] if logical_ids else \
        [r for r in list(state.records.values()) if r.exists]
    started = now()
    failed: list[str] = []
    drifted = 0
    for record in records:
        try:
            drift = resource_drift(stack, record)
        except Exception:  # one unreadable resource fails the run, not the request
            failed.append(record.logical_id)
            continue
        record.drift, record.drift_status, record.drift_checked = drift, drift["StackResourceDriftStatus"], started
        drifted += drift["StackResourceDriftStatus"] in DRIFTED
    state.drift_status = "DRIFTED" if drifted else ("UNKNOWN" if failed else "IN_SYNC")
    state.drift_checked = started
    detection_id = str(uuid.uuid4())
    detections(backend)[detection_id] = {
        "StackId": stack.stack_id, "StackDriftDetectionId": detection_id,
        "StackDriftStatus": state.drift_status,
        "DetectionStatus": "DETECTION_FAILED" if failed else "DETECTION_COMPLETE",
        "DetectionStatusReason": f"Failed to detect drift on resource(s) [{', '.join(failed)}]" if failed else None,
        "DriftedStackResourceCount": drifted, "Timestamp": started,
    }
    return detection_id


def detection_status(backend: Any, detection_id: str) -> dict[str, Any]:
    found = detections(backend).get(detection_id)
    if found is None:
        raise ValidationError(message=f"Drift detection with id {detection_id} does not exist")
    return found


def detect_resource(stack: Any, logical_id: str) -> dict[str, Any]:
    _check(stack)
    record = _record(stack, logical_id)
    drift = resource_drift(stack, record)
    record.drift, record.drift_checked = drift, drift["Timestamp"]
    record.drift_status = drift["StackResourceDriftStatus"]
    return drift


def resource_drifts(stack: Any, status_filter: list[str] | None = None) -> list[dict[str, Any]]:
    """The latest drift of each resource that has been checked, in stack order."""
    drifts = [r.drift for r in list(state_of(stack).records.values()) if r.exists and r.drift]
    if status_filter:
        drifts = [d for d in drifts if d["StackResourceDriftStatus"] in status_filter]
    return drifts
