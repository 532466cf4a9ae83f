"""The service graph from traces, in the shapes X-Ray's API answers:
``service_graph`` (GetServiceGraph and GetTraceGraph's ``Services``: nodes per
service name and type, the client, inferred AWS and remote nodes, edges with
summary statistics and response-time histograms) and ``time_series``
(GetTimeSeriesServiceStatistics for one service or edge, per period)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from workshop.cloud.services.xray.filters import Edge, FilterError, Service, parse
from workshop.cloud.services.xray.trace_parts import CLIENT, Call, NodeKey, TraceParts, take_apart

# Response times are binned to the millisecond, as X-Ray's histograms are.
RESOLUTION = 3
# An AWS call's resource, named in its subsegment's ``aws``: an edge's Aliases (the tables,
# queues, buckets and functions behind one AWS service node).
_ALIASES = (("table_name", "AWS::DynamoDB::Table"), ("queue_url", "AWS::SQS::Queue"),
            ("bucket_name", "AWS::S3::Bucket"), ("function_name", "AWS::Lambda::Function"),
            ("topic_arn", "AWS::SNS::Topic"))


class Stats:
    """Counts and response times of calls: a node's, an edge's, or one period's."""

    __slots__ = ("ok", "throttle", "other_errors", "faults", "total", "response_time", "histogram", "start", "end",
                 "aliases")

    def __init__(self) -> None:
        self.ok = self.throttle = self.other_errors = self.faults = self.total = 0
        self.response_time = 0.0
        self.histogram: dict[float, int] = {}
        self.start: float | None = None
        self.end: float | None = None
        self.aliases: set[tuple[str, str]] = set()

    def add(self, call: Call) -> None:
        self.total += 1
        if call.fault:
            self.faults += 1
        elif call.throttle:
            self.throttle += 1
        elif call.error:
            self.other_errors += 1
        elif call.ok:
            self.ok += 1
        rt = call.response_time
        self.response_time += rt
        if call.end is not None:
            bucket = round(rt, RESOLUTION)
            self.histogram[bucket] = self.histogram.get(bucket, 0) + 1
        self.start = call.start if self.start is None else min(self.start, call.start)
        end = call.end if call.end is not None else call.start
        self.end = end if self.end is None else max(self.end, end)

    def summary(self) -> dict[str, Any]:
        return {"OkCount": self.ok,
                "ErrorStatistics": {"ThrottleCount": self.throttle, "OtherCount": self.other_errors,
                                    "TotalCount": self.throttle + self.other_errors},
                "FaultStatistics": {"OtherCount": self.faults, "TotalCount": self.faults},
                "TotalCount": self.total,
                "TotalResponseTime": round(self.response_time, 6)}

    def histogram_entries(self) -> list[dict[str, Any]]:
        return [{"Value": value, "Count": count} for value, count in sorted(self.histogram.items())]


def parts_of(traces: Iterable[Any]) -> Iterator[TraceParts]:
    """Each trace taken apart as it comes: a graph of many traces never holds all their parts
    (10,000 traces' parts kept alive made the collector's passes cost more than the graph)."""
    return (t if isinstance(t, TraceParts) else take_apart(t) for t in traces)


def service_graph(traces: Iterable[Any], account_id: str | None = None) -> list[dict[str, Any]]:
    """GetServiceGraph's ``Services`` for these traces (segment document lists or TraceParts)."""
    nodes: dict[NodeKey, Stats] = {}
    edges: dict[NodeKey, dict[NodeKey, Stats]] = {}
    roots: set[NodeKey] = set()
    sent: set[NodeKey] = set()
    for parts in parts_of(traces):
        for key, call in parts.nodes:
            stats = nodes.get(key)
            if stats is None:
                stats = nodes[key] = Stats()
            stats.add(call)
            if "namespace" not in call.doc:
                sent.add(key)
        for source, destination, call in parts.edges:
            if source == CLIENT:
                roots.add(destination)
            by_destination = edges.setdefault(source, {})
            stats = by_destination.get(destination)
            if stats is None:
                stats = by_destination[destination] = Stats()
            stats.add(call)
            aws = call.doc.get("aws") if call.doc.get("namespace") == "aws" else None
            if isinstance(aws, dict):
                for key, kind in _ALIASES:
                    if isinstance(aws.get(key), str) and aws[key]:
                        stats.aliases.add((aws[key].rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1], kind))
    # Reference ids: the client first, then services by name and type (stable across calls).
    ordered = ([CLIENT] if CLIENT in edges else []) + sorted(nodes, key=lambda k: (k[0], k[1] or ""))
    reference = {key: i for i, key in enumerate(ordered)}
    services = []
    for key in ordered:
        out_edges = [_edge(reference[dst], stats) for dst, stats in
                     sorted(edges.get(key, {}).items(), key=lambda item: reference[item[0]])]
        if key == CLIENT:
            starts = [e["StartTime"] for e in out_edges]
            ends = [e["EndTime"] for e in out_edges]
            services.append({"ReferenceId": reference[key], "Names": [], "Root": False, "Type": "client",
                             "State": "unknown", "StartTime": min(starts), "EndTime": max(ends),
                             "Edges": out_edges, "SummaryStatistics": {}, "DurationHistogram": [],
                             "ResponseTimeHistogram": []})
            continue
        stats = nodes[key]
        service: dict[str, Any] = {"ReferenceId": reference[key], "Name": key[0], "Names": [key[0]],
                                   "Root": key in roots}
        if account_id and key in sent:   # services that sent segments, not inferred AWS or remote nodes
            service["AccountId"] = account_id
        if key[1]:
            service["Type"] = key[1]
        service.update({"State": "active", "StartTime": stats.start, "EndTime": stats.end, "Edges": out_edges,
                        "SummaryStatistics": stats.summary(), "DurationHistogram": stats.histogram_entries(),
                        "ResponseTimeHistogram": stats.histogram_entries()})
        services.append(service)
    return services


def _edge(reference_id: int, stats: Stats) -> dict[str, Any]:
    return {"ReferenceId": reference_id, "StartTime": stats.start, "EndTime": stats.end,
            "SummaryStatistics": stats.summary(), "ResponseTimeHistogram": stats.histogram_entries(),
            "Aliases": [{"Name": name, "Names": [name], "Type": kind} for name, kind in sorted(stats.aliases)]}


def entity_selector(expression: str | None) -> Service | Edge | None:
    """GetTimeSeriesServiceStatistics' EntitySelectorExpression: one service() or edge()."""
    if not expression:
        return None
    node = parse(expression)
    if not isinstance(node, (Service, Edge)):
        raise FilterError("Invalid entity selector expression: expected service(...) or edge(...)")
    return node


def time_series(traces: Iterable[Any], start: float, end: float, period: int,
                selector: Service | Edge | None) -> list[dict[str, Any]]:
    """Per period (timestamps on the period's boundaries in epoch time, as CloudWatch's): the
    selected service's (or edge's) statistics; without a selector, the entry services' (the
    client edges)."""
    buckets: dict[int, Stats] = {}
    for parts in parts_of(traces):
        for call in _selected_calls(parts, selector):
            if not (start <= call.start < end):
                continue
            index = int(call.start // period)
            stats = buckets.get(index)
            if stats is None:
                stats = buckets[index] = Stats()
            stats.add(call)
    kind = "EdgeSummaryStatistics" if isinstance(selector, Edge) or selector is None else "ServiceSummaryStatistics"
    out = []
    for index in sorted(buckets):
        stats = buckets[index]
        summary = stats.summary()
        if kind == "ServiceSummaryStatistics":
            summary = {k: summary[k] for k in ("OkCount", "ErrorStatistics", "FaultStatistics", "TotalCount",
                                               "TotalResponseTime")}
        out.append({"Timestamp": float(index * period), kind: summary,
                    "ResponseTimeHistogram": stats.histogram_entries()})
    return out


def _selected_calls(parts: TraceParts, selector: Service | Edge | None) -> Iterable[Call]:
    if selector is None:
        return (call for source, _, call in parts.edges if source == CLIENT)
    if isinstance(selector, Service):
        return (call for key, call in parts.nodes if selector.selector.picks(key))
    return (call for source, destination, call in parts.edges
            if selector.source.picks(source) and selector.destination.picks(destination))
