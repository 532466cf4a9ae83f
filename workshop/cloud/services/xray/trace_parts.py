"""One trace taken apart as X-Ray's service map sees it: its segment documents
become nodes (a service's name and type), calls observed at each node, and
edges between nodes (client -> entry service, service -> downstream, service ->
an inferred AWS or remote node from its subsegments). Filters and graphs read this."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# A node of the service map: (name, type); type None when the segment names no origin.
NodeKey = tuple[str, "str | None"]
CLIENT: NodeKey = ("client", "client")


@dataclass(slots=True)
class Call:
    """One request as seen at a node or on an edge: a segment or subsegment document."""

    doc: dict
    start: float
    end: float | None
    status: int | None
    error: bool
    fault: bool
    throttle: bool

    @property
    def response_time(self) -> float:
        return 0.0 if self.end is None else max(0.0, self.end - self.start)

    @property
    def ok(self) -> bool:
        # A request still in progress has no response yet: not OK, not an error either.
        return not (self.error or self.fault or self.throttle or self.end is None)

    @property
    def partial(self) -> bool:
        return self.end is None


@dataclass(slots=True)
class TraceParts:
    trace_id: str
    segments: list[dict]
    root: Call | None
    root_key: NodeKey | None
    start: float
    end: float
    partial: bool
    nodes: list[tuple[NodeKey, Call]] = field(default_factory=list)
    edges: list[tuple[NodeKey, NodeKey, Call]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


def documents(trace: Any) -> list[dict]:
    """A trace's segment documents as dicts: from the store's trace (its ``segments``), a
    list of documents, or of their JSON text, or batch_get_traces' {Id, Document}."""
    trace = getattr(trace, "segments", trace)
    out = []
    for doc in trace:
        if isinstance(doc, (str, bytes)):
            doc = json.loads(doc)
        elif isinstance(doc, dict) and "Document" in doc and "name" not in doc:  # batch_get_traces' shape
            doc = json.loads(doc["Document"])
        out.append(doc)
    return out


def call_of(doc: dict) -> Call:
    response = ((doc.get("http") or {}).get("response") or {})
    status = response.get("status")
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        status = None
    error, fault, throttle = bool(doc.get("error")), bool(doc.get("fault")), bool(doc.get("throttle"))
    if status is not None and not (error or fault or throttle):
        # A status alone says it as the SDKs would have: 429 throttle (an error), 4XX error, 5XX fault.
        throttle = status == 429
        error = 400 <= status < 500
        fault = 500 <= status < 600
    end = doc.get("end_time")
    if doc.get("in_progress") or end is None:
        end = None
    return Call(doc, float(doc.get("start_time") or 0.0), None if end is None else float(end),
                status, error, fault, throttle)


def node_key(doc: dict) -> NodeKey:
    return (str(doc.get("name", "")), doc.get("origin") or None)


def inferred_key(sub: dict) -> NodeKey:
    """The node a subsegment's downstream call reaches when that service sent no segment of its own."""
    name = str(sub.get("name", ""))
    if sub.get("namespace") == "aws":
        aws = sub.get("aws") or {}
        kind = f"AWS::{name}"
        if aws.get("table_name") and name == "DynamoDB":
            kind = "AWS::DynamoDB::Table"
        return (name, kind)
    return (name, "remote")


def _walk(subsegments: list | None, owner: dict, index: dict[str, tuple[dict, dict]]) -> None:
    for sub in subsegments or ():
        if isinstance(sub, dict):
            if sub.get("id"):
                index[str(sub["id"])] = (owner, sub)
            _walk(sub.get("subsegments"), owner, index)


def take_apart(trace: Any) -> TraceParts:
    segments = documents(trace)
    subs: dict[str, tuple[dict, dict]] = {}
    by_id: dict[str, dict] = {}
    for seg in segments:
        if seg.get("id"):
            by_id[str(seg["id"])] = seg
        _walk(seg.get("subsegments"), seg, subs)
    parts = TraceParts(trace_id=str(segments[0].get("trace_id", "")) if segments else "", segments=segments,
                       root=None, root_key=None, start=0.0, end=0.0, partial=False)
    resolved: set[str] = set()
    roots: list[tuple[NodeKey, Call]] = []
    starts, ends = [], []
    for seg in segments:
        key, call = node_key(seg), call_of(seg)
        parts.nodes.append((key, call))
        starts.append(call.start)
        if call.end is None:
            parts.partial = True
        else:
            ends.append(call.end)
        parent = str(seg.get("parent_id") or "")
        if parent in subs:          # called from another service's subsegment: the caller's view of the call
            owner, sub = subs[parent]
            resolved.add(parent)
            edge_call = call_of(sub)
            if edge_call.status is None and not (edge_call.error or edge_call.fault or edge_call.throttle):
                edge_call = Call(sub, edge_call.start, edge_call.end, call.status, call.error, call.fault, call.throttle)
            parts.edges.append((node_key(owner), key, edge_call))
        elif parent in by_id:       # a segment made by its upstream service (Lambda's service -> function)
            parts.edges.append((node_key(by_id[parent]), key, call))
        else:                       # the entry point: a client called it
            roots.append((key, call))
            parts.edges.append((CLIENT, key, call))
    for sub_id, (owner, sub) in subs.items():
        if sub_id in resolved or sub.get("namespace") not in ("aws", "remote"):
            continue
        key, call = inferred_key(sub), call_of(sub)
        parts.nodes.append((key, call))
        parts.edges.append((node_key(owner), key, call))
    if roots:
        roots.sort(key=lambda kc: kc[1].start)
        parts.root_key, parts.root = roots[0]
    parts.start = min(starts) if starts else 0.0
    parts.end = max(ends) if ends else parts.start
    return parts
