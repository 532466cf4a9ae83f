"""A trace as ``get_trace_summaries`` and ``batch_get_traces`` describe it: the summary's
fields (entry point, services, HTTP, annotations, error/fault/throttle, response time)
computed from the trace's segment documents."""

from __future__ import annotations

import json
from collections.abc import Iterator

from workshop.cloud.services.xray.store import Trace


def walk(doc: dict) -> Iterator[dict]:
    """A segment and every subsegment in it, depth first."""
    yield doc
    for sub in doc.get("subsegments") or ():
        if isinstance(sub, dict):
            yield from walk(sub)


def entry_point(trace: Trace) -> dict | None:
    """The segment the request entered by: the earliest one whose parent is not in the trace."""
    ids = {d.get("id") for seg in trace.segments for d in walk(seg)}
    roots = [seg for seg in trace.segments if seg.get("parent_id") not in ids]
    return (roots or trace.segments or [None])[0]


def service_id(doc: dict, account_id: str, segment: bool) -> dict:
    name = doc.get("name", "")
    found = {"Name": name, "Names": [name], "AccountId": (doc.get("aws") or {}).get("account_id") or account_id}
    if segment:
        if doc.get("origin"):
            found["Type"] = doc["origin"]
    elif doc.get("namespace") == "aws":
        found["Type"] = "AWS::" + name
    else:
        found["Type"] = "remote"
    return found


def service_ids(trace: Trace, account_id: str) -> list[dict]:
    """The trace's services: each segment's, and the downstream ones its subsegments call
    (namespace aws or remote) unless that call's own segment is in the trace."""
    parents = {seg.get("parent_id") for seg in trace.segments}
    found: dict[tuple, dict] = {}
    for seg in trace.segments:
        sid = service_id(seg, account_id, True)
        found.setdefault((sid["Name"], sid.get("Type")), sid)
        for sub in walk(seg):
            if sub is seg or sub.get("namespace") not in ("aws", "remote") or sub.get("id") in parents:
                continue
            sid = service_id(sub, account_id, False)
            found.setdefault((sid["Name"], sid.get("Type")), sid)
    return list(found.values())


def _annotation_value(value) -> dict | None:
    if isinstance(value, bool):
        return {"BooleanValue": value}
    if isinstance(value, (int, float)):
        return {"NumberValue": value}
    if isinstance(value, str):
        return {"StringValue": value}
    return None


def summarize(trace: Trace, account_id: str) -> dict:
    root = entry_point(trace) or {}
    flags = {"error": False, "fault": False, "throttle": False}
    annotations: dict[str, list[dict]] = {}
    users: dict[str, list[dict]] = {}
    for seg in trace.segments:
        sid = service_id(seg, account_id, True)
        for doc in walk(seg):
            for flag in flags:
                flags[flag] = flags[flag] or doc.get(flag) is True
            for key, value in (doc.get("annotations") or {}).items():
                encoded = _annotation_value(value)
                if encoded is None:
                    continue
                values = annotations.setdefault(key, [])
                for known in values:
                    if known["AnnotationValue"] == encoded:
                        if sid not in known["ServiceIds"]:
                            known["ServiceIds"].append(sid)
                        break
                else:
                    values.append({"AnnotationValue": encoded, "ServiceIds": [sid]})
            if doc is seg and doc.get("user"):
                users.setdefault(doc["user"], []).append(sid)
    http = {}
    request = (root.get("http") or {}).get("request") or {}
    response = (root.get("http") or {}).get("response") or {}
    for ours, theirs, source in (("HttpURL", "url", request), ("HttpMethod", "method", request),
                                 ("UserAgent", "user_agent", request), ("ClientIp", "client_ip", request),
                                 ("HttpStatus", "status", response)):
        if source.get(theirs) is not None:
            http[ours] = source[theirs]
    response_time = 0.0
    if root.get("end_time") is not None:
        response_time = round(float(root["end_time"]) - float(root["start_time"]), 6)
    summary = {
        "Id": trace.trace_id,
        "StartTime": trace.start,
        "Duration": round(trace.duration, 6),
        "ResponseTime": response_time,
        "HasFault": flags["fault"],
        "HasError": flags["error"],
        "HasThrottle": flags["throttle"],
        "IsPartial": bool(trace.orphans) or trace.in_progress,
        "Http": http,
        "Annotations": annotations,
        "Users": [{"UserName": user, "ServiceIds": sids} for user, sids in users.items()],
        "ServiceIds": service_ids(trace, account_id),
        "ResourceARNs": [], "InstanceIds": [], "AvailabilityZones": [],
        "FaultRootCauses": [], "ErrorRootCauses": [], "ResponseTimeRootCauses": [],
        "Revision": 1,
    }
    if root:
        summary["EntryPoint"] = service_id(root, account_id, True)
    return summary


def batch_entry(trace: Trace) -> dict:
    """A trace as batch_get_traces returns it: each segment a document of its own."""
    return {"Id": trace.trace_id, "Duration": round(trace.duration, 6), "LimitExceeded": trace.limit_exceeded,
            "Segments": [{"Id": seg.get("id"), "Document": json.dumps(seg, separators=(",", ":"))}
                         for seg in trace.segments]}
