"""X-Ray filter expressions against a fixed set of hand-written traces
(tests/data/xray/traces.json): each expression with the exact traces it selects,
and expressions X-Ray refuses to parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workshop.cloud.services.xray import filters

TRACES = json.loads((Path(__file__).parent / "data" / "xray" / "traces.json").read_text())["traces"]
GROUPS = {("name", "slow"): "responsetime > 5", ("name", "everything"): "",
          ("arn", "arn:aws:xray:us-east-1:000000000000:group/faulty/ABC"): "fault"}


def selected(expression: str) -> list[str]:
    parsed = filters.parse(expression)
    return sorted(name for name, trace in TRACES.items()
                  if filters.matches(parsed, trace, groups=lambda field, value: GROUPS.get((field, value))))


def ids(*names: str) -> list[str]:
    return sorted(n for n in TRACES if n.split("-")[0] in names)


TABLE = [
    # number keywords
    ("responsetime > 5", ids("T8")),
    ("duration >= 1 AND duration <= 3", ids("T2", "T7")),
    ("duration < 0.1", ids("T4", "T5", "T6")),
    ("http.status != 200", ids("T2", "T5")),
    ("http.status >= 500", ids("T2")),
    # boolean keywords: the entry point's response, as the trace's user saw it
    ("error", ids("T5")),
    ("fault", ids("T2")),
    ("throttle", []),
    ("ok", ids("T1", "T3", "T4", "T7", "T8")),
    ("!ok", ids("T2", "T5", "T6")),
    ("ok = false", ids("T2", "T5", "T6")),
    ("partial", ids("T6")),
    ("ok !partial duration <3", ids("T1", "T3", "T4", "T7")),
    # string keywords
    ('http.url CONTAINS "/orders/"', ids("T1", "T2", "T3", "T6", "T8")),
    ('http.method = "POST"', ids("T5")),
    ('http.method != "GET"', ids("T5")),
    ('http.useragent BEGINSWITH "ELB"', ids("T4")),
    ('http.clientip = "10.0.0.5"', ids("T1", "T3", "T6", "T8")),
    ('http.url ENDSWITH "/health"', ids("T4")),
    ('user = "alice"', ids("T1", "T8")),
    ('user CONTAINS ""', ids("T1", "T2", "T5", "T8")),
    ('name = "checkout"', ids("T7")),
    # annotations, in both spellings, of each value type
    ('annotation.customer = "alice"', ids("T1", "T8")),
    ("annotation.items > 2", ids("T1", "T8")),
    ("annotation[items] = 0", ids("T5")),
    ("annotation.priority", ids("T5")),
    ("annotation.express = false", ids("T1")),
    ('annotation.customer BEGINSWITH "dave"', ids("T7")),
    # services and edges, by name and by id()
    ('service("inventory") { fault }', ids("T2")),
    ('service("pricing") { throttle }', ids("T3")),
    ("service() { fault }", ids("T2", "T7")),
    ('service("DynamoDB")', ids("T1")),
    ('service(id(name: "checkout", type: "AWS::Lambda::Function")) { error }', ids("T7")),
    ('service(id(type: "AWS::Lambda"))', ids("T7")),
    ('service("orders") { http.status = 502 }', ids("T2")),
    ('edge("orders", "pricing") { error }', ids("T3")),
    ('edge("pricing", "inventory") { responsetime > 1 }', ids("T2", "T8")),
    ('edge(id(name: "checkout", type: "AWS::Lambda::Function"), "api.example.com") { fault }', ids("T7")),
    # combinations
    ('http.url BEGINSWITH "http://orders.local/" AND http.url CONTAINS "/orders/" AND !service("DynamoDB")',
     ids("T2", "T3", "T6", "T8")),
    ("responsetime > 5 OR fault", ids("T2", "T8")),
    ("(fault || error) && !partial", ids("T2", "T5")),
    ('NOT service("pricing")', ids("T4", "T5", "T6", "T7")),
    ('service("pricing") AND (annotation.items >= 5 OR http.status = 502)', ids("T2", "T8")),
    # groups: their filter applied
    ('group.name = "slow"', ids("T8")),
    ('group.name = "everything" AND ok', ids("T1", "T3", "T4", "T7", "T8")),
    ('group.arn = "arn:aws:xray:us-east-1:000000000000:group/faulty/ABC"', ids("T2")),
    ('group.name = "no-such-group"', []),
]


@pytest.mark.parametrize("expression, expected", TABLE, ids=[row[0] for row in TABLE])
def test_expression_selects_exactly(expression, expected):
    assert selected(expression) == expected


def test_table_is_large_enough():
    assert len(TABLE) >= 30 and len(FAILING) >= 5


FAILING = [
    "",
    "responsetime >",
    "http.url CONTAINS 5",               # string values are quoted
    "http.status CONTAINS \"5\"",        # a number keyword takes number operators
    "error > true",                      # a boolean keyword takes = and != only
    "nosuchkeyword = 1",
    'service("api" { fault }',
    "(fault",
    'http.url = "unterminated',
    "responsetime > 5 AND",
    "service() { }",
    'edge("only-one") { fault }',
    "responsetime = \"5\"",
    'service(id()) { fault }',
]


@pytest.mark.parametrize("expression", FAILING)
def test_expression_fails_to_parse(expression):
    with pytest.raises(filters.FilterError) as err:
        filters.parse(expression)
    assert str(err.value).startswith("Invalid filter expression")


def test_matches_takes_text_and_batch_get_traces_documents():
    doc = TRACES["T4-health"][0]
    assert filters.matches("ok", [json.dumps(doc)])
    assert filters.matches("ok", [{"Id": doc["id"], "Document": json.dumps(doc)}])
    assert not filters.matches("fault", [doc])
