"""Logs Insights over the on-disk log store (issue 14, item 4): StartQuery runs off the
request (Scheduled/Running/Complete), a stats query returns exactly the expected rows, a
filter+sort+limit query the expected events, across several log groups named by name or
ARN, with AWS's statistics; a malformed query gets MalformedQueryException with where."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.persistence_scenario import wait_for

BASE_MINUTE = 40      # the events start this many minutes ago, on a 5-minute boundary


def _base_ms() -> int:
    now = int(time.time() * 1000)
    return (now // 300_000) * 300_000 - BASE_MINUTE // 5 * 300_000


def _fill(logs, base: int) -> None:
    """orders: 10 requests, one a minute; pricing: 4; plus a plain line in each."""
    for group, stream in (("/shop/orders", "web-1"), ("/shop/pricing", "api-1")):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    orders = [{"timestamp": base + i * 60_000 + 1_000,
               "message": json.dumps({"service": "orders", "latency": 100 + 10 * i,
                                      "status": 500 if i in (3, 7) else 200, "req": {"path": f"/o/{i}"}})}
              for i in range(10)]
    orders.append({"timestamp": base + 9 * 60_000 + 2_000, "message": "INFO orders drained"})
    pricing = [{"timestamp": base + i * 120_000 + 3_000,
                "message": json.dumps({"service": "pricing", "latency": 40 * (i + 1),
                                       "status": 503 if i == 2 else 200, "req": {"path": "/p"}})}
               for i in range(4)]
    pricing.append({"timestamp": base + 8 * 60_000 + 4_000, "message": "WARN cache cold"})
    logs.put_log_events(logGroupName="/shop/orders", logStreamName="web-1", logEvents=orders)
    logs.put_log_events(logGroupName="/shop/pricing", logStreamName="api-1",
                        logEvents=sorted(pricing, key=lambda e: e["timestamp"]))


def _run(logs, query: str, base: int, **where) -> dict:
    if not where:
        where = {"logGroupNames": ["/shop/orders", "/shop/pricing"]}
    query_id = logs.start_query(startTime=base // 1000 - 60, endTime=base // 1000 + 3600, queryString=query,
                                **where)["queryId"]
    return wait_for(lambda: (r := logs.get_query_results(queryId=query_id))["status"] == "Complete" and r,
                    timeout=30, what="the query's completion") | {"queryId": query_id}


def _rows(result: dict) -> list[dict[str, str]]:
    return [{f["field"]: f["value"] for f in row} for row in result["results"]]


def _stamp(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}"


def test_a_stats_query_returns_the_expected_rows(cloud, account):
    logs = cloud.client("logs", account)
    base = _base_ms()
    _fill(logs, base)
    result = _run(logs, "filter ispresent(latency) | stats count(*) as requests, sum(latency), avg(latency), "
                        "min(latency), max(latency), pct(latency, 50) by bin(5m), service", base)
    assert _rows(result) == [
        {"bin(5m)": _stamp(base), "service": "orders", "requests": "5", "sum(latency)": "600",
         "avg(latency)": "120", "min(latency)": "100", "max(latency)": "140", "pct(latency, 50)": "120"},
        {"bin(5m)": _stamp(base), "service": "pricing", "requests": "3", "sum(latency)": "240",
         "avg(latency)": "80", "min(latency)": "40", "max(latency)": "120", "pct(latency, 50)": "80"},
        {"bin(5m)": _stamp(base + 300_000), "service": "orders", "requests": "5", "sum(latency)": "850",
         "avg(latency)": "170", "min(latency)": "150", "max(latency)": "190", "pct(latency, 50)": "170"},
        {"bin(5m)": _stamp(base + 300_000), "service": "pricing", "requests": "1", "sum(latency)": "160",
         "avg(latency)": "160", "min(latency)": "160", "max(latency)": "160", "pct(latency, 50)": "160"},
    ]
    sizes = sum(len(m) + 26 for m in _messages(logs))
    assert result["statistics"] == {"recordsMatched": 14.0, "recordsScanned": 16.0, "bytesScanned": float(sizes)}

    errors = _run(logs, "filter status >= 500 | stats count(*) as faults by service | sort faults desc", base)
    assert _rows(errors) == [{"service": "orders", "faults": "2"}, {"service": "pricing", "faults": "1"}]

    described = logs.describe_queries(logGroupName="/shop/orders")["queries"]
    assert [q["queryId"] for q in described[:2]] == [errors["queryId"], result["queryId"]]
    assert {q["status"] for q in described} == {"Complete"}
    with pytest.raises(ClientError) as done:
        logs.stop_query(queryId=errors["queryId"])
    assert done.value.response["Error"]["Code"] == "InvalidParameterException"


def _messages(logs) -> list[str]:
    out = []
    for group in ("/shop/orders", "/shop/pricing"):
        out += [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    return out


def test_filter_sort_limit_returns_the_expected_events(cloud, account):
    logs = cloud.client("logs", account)
    base = _base_ms()
    _fill(logs, base)
    arn = logs.describe_log_groups(logGroupNamePrefix="/shop/pricing")["logGroups"][0]["arn"]
    result = _run(logs, "fields @timestamp, service, latency, req.path, @logStream, @log "
                        "| filter status = 200 and (latency > 150 or service like /pric/) and req.path not in [\"/o/9\"] "
                        "| sort latency desc | limit 3", base,
                  logGroupIdentifiers=["/shop/orders", arn])
    assert [{k: v for k, v in row.items() if k != "@ptr"} for row in _rows(result)] == [
        {"@timestamp": _stamp(base + 8 * 60_000 + 1_000), "service": "orders", "latency": "180",
         "req.path": "/o/8", "@logStream": "web-1", "@log": f"{account}:/shop/orders"},
        {"@timestamp": _stamp(base + 6 * 60_000 + 1_000), "service": "orders", "latency": "160",
         "req.path": "/o/6", "@logStream": "web-1", "@log": f"{account}:/shop/orders"},
        {"@timestamp": _stamp(base + 3 * 120_000 + 3_000), "service": "pricing", "latency": "160",
         "req.path": "/p", "@logStream": "api-1", "@log": f"{account}:/shop/pricing"},
    ]
    assert all(row["@ptr"] for row in _rows(result))
    assert result["statistics"]["recordsMatched"] == 5.0     # 8, 6, pricing 0, 1, 3

    parsed = _run(logs, 'parse @message "* * *" as level, who, what | filter level in ["WARN", "INFO"] '
                        "| sort @timestamp asc | display level, who, what", base)
    assert [{k: v for k, v in row.items() if k != "@ptr"} for row in _rows(parsed)] == [
        {"level": "WARN", "who": "cache", "what": "cold"}, {"level": "INFO", "who": "orders", "what": "drained"}]
    regex = _run(logs, r"parse @message /\"latency\": (?<ms>\d+)/ | filter ms > 170 | stats count(*) as slow", base)
    assert _rows(regex) == [{"slow": "2"}]


@pytest.mark.parametrize("query, symbol, start", [
    ("fields @timestamp | sortt @timestamp", "sortt", 20),
    ("stats count(*) by", "<EOF>", 17),
    ("filter latency >", "<EOF>", 16),
    ("fields @message | limit 0", "0", 24),
])
def test_a_malformed_query_gets_aws_error_with_its_location(cloud, account, query, symbol, start):
    logs = cloud.client("logs", account)
    logs.create_log_group(logGroupName="/bad/query")
    with pytest.raises(ClientError) as bad:
        logs.start_query(logGroupName="/bad/query", startTime=0, endTime=10, queryString=query)
    error = bad.value.response
    assert error["Error"]["Code"] == "MalformedQueryException"
    assert error["Error"]["Message"] == f"unexpected symbol found {symbol} at line 1 and position {start + 1}"
    assert error["queryCompileError"]["location"]["startCharOffset"] == start
    assert logs.describe_queries(logGroupName="/bad/query")["queries"] == []
    with pytest.raises(ClientError) as missing:
        logs.start_query(logGroupName="/no/such", startTime=0, endTime=10, queryString="fields @message")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_metric_filters_and_query_results_survive_a_restart(tmp_path):
    from tests.conftest import new_account, start_cloud, stop_cloud

    cloud = start_cloud(tmp_path)
    try:
        account = new_account()
        logs = cloud.client("logs", account)
        base = _base_ms()
        _fill(logs, base)
        logs.put_metric_filter(logGroupName="/shop/orders", filterName="faults", filterPattern="{ $.status >= 500 }",
                               metricTransformations=[{"metricName": "Faults", "metricNamespace": "Kept",
                                                       "metricValue": "1", "unit": "Count"}])
        filters = logs.describe_metric_filters(logGroupName="/shop/orders")["metricFilters"]
        done = _run(logs, "stats count(*) as n, max(latency) by service", base)
        stop_cloud(cloud, keep_data=True)
        assert cloud.process.returncode == 0
        cloud = start_cloud(tmp_path, data_dir=cloud.data_dir, port=cloud.port)
        logs = cloud.client("logs", account)
        assert logs.describe_metric_filters(logGroupName="/shop/orders")["metricFilters"] == filters
        kept = logs.get_query_results(queryId=done["queryId"])
        assert (kept["status"], kept["results"], kept["statistics"]) == \
            ("Complete", done["results"], done["statistics"])
        assert _rows(kept) == [{"service": "orders", "n": "10", "max(latency)": "190"},
                               {"service": "pricing", "n": "4", "max(latency)": "160"},
                               {"n": "2"}]     # the plain lines: no service, no latency
        assert [q["queryId"] for q in logs.describe_queries()["queries"]] == [done["queryId"]]
        # The restored filter still turns new events into metrics.
        now = int(time.time() * 1000)
        logs.put_log_events(logGroupName="/shop/orders", logStreamName="web-1", logEvents=[
            {"timestamp": now, "message": json.dumps({"status": 504})}])
        cw = cloud.client("cloudwatch", account)
        got = cw.get_metric_statistics(Namespace="Kept", MetricName="Faults", StartTime=now / 1000 - 120,
                                       EndTime=now / 1000 + 60, Period=60, Statistics=["Sum"])
        assert [p["Sum"] for p in got["Datapoints"]] == [1.0]
    finally:
        stop_cloud(cloud)
