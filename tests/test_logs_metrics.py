"""Logs that become metrics (issue 14, item 4): metric filters in CloudWatch Logs' filter
pattern syntax turn events into the data points a get_metric_statistics reads back
(defaultValue periods included), and embedded-metric-format lines become metrics from
Lambda's output and from PutLogEvents with the json/emf header; bad patterns and bad EMF
get what AWS gives."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from tests.persistence_scenario import wait_for
from tests.test_lambda_invoke import invoke, make_function


def _minute_start(minutes_ago: int) -> int:
    now = int(time.time() * 1000)
    return (now // 60_000 - minutes_ago) * 60_000


def _stats(cw, namespace: str, name: str, start_ms: int, minutes: int, dimensions=None,
           stats=("Sum", "SampleCount")) -> list[dict]:
    got = cw.get_metric_statistics(
        Namespace=namespace, MetricName=name, Dimensions=dimensions or [],
        StartTime=datetime.fromtimestamp(start_ms / 1000, timezone.utc),
        EndTime=datetime.fromtimestamp((start_ms + minutes * 60_000) / 1000, timezone.utc),
        Period=60, Statistics=list(stats))
    return sorted(got["Datapoints"], key=lambda p: p["Timestamp"])


def _group(cloud, account, group: str, stream: str = "s"):
    logs = cloud.client("logs", account)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return logs


def test_metric_filters_produce_the_expected_metric_values(cloud, account):
    logs = _group(cloud, account, "/app/orders")
    cw = cloud.client("cloudwatch", account)
    logs.put_metric_filter(
        logGroupName="/app/orders", filterName="errors", filterPattern="ERROR -timeout",
        metricTransformations=[{"metricName": "Errors", "metricNamespace": "Orders", "metricValue": "1",
                                "defaultValue": 0, "unit": "Count"}])
    logs.put_metric_filter(
        logGroupName="/app/orders", filterName="slow", filterPattern="{ $.latency > 500 && $.service = \"orders\" }",
        metricTransformations=[{"metricName": "SlowLatency", "metricNamespace": "Orders",
                                "metricValue": "$.latency", "unit": "Milliseconds"}])
    logs.put_metric_filter(
        logGroupName="/app/orders", filterName="status",
        filterPattern="[ip, user, ..., status_code = 5*, bytes]",
        metricTransformations=[{"metricName": "ServerErrors", "metricNamespace": "Orders", "metricValue": "$bytes",
                                "dimensions": {"Status": "$status_code"}}])
    start = _minute_start(30)
    access = '10.0.0.1 - frank [10/Oct/2026:13:55:36 -0700] "GET /orders HTTP/1.1" {} {}'
    events = [
        # minute 0: two errors (one with "timeout" is excluded), a slow request, a 503
        (start + 1_000, "ERROR payment declined"),
        (start + 2_000, "ERROR upstream timeout"),
        (start + 3_000, "[ERROR] card expired"),
        (start + 4_000, json.dumps({"service": "orders", "latency": 750})),
        (start + 5_000, json.dumps({"service": "pricing", "latency": 900})),
        (start + 6_000, access.format(503, 120)),
        # minute 1: nothing matches "errors": its defaultValue 0, once
        (start + 61_000, "INFO all good"),
        (start + 65_000, json.dumps({"service": "orders", "latency": 501})),
        (start + 66_000, access.format(200, 99)),
        (start + 67_000, access.format(502, 80)),
        # minute 2: no events at all: no data point
        # minute 3: one error
        (start + 181_000, "ERROR again"),
        (start + 182_000, json.dumps({"service": "orders", "latency": "n/a"})),   # not a number: no point
    ]
    logs.put_log_events(logGroupName="/app/orders", logStreamName="s",
                        logEvents=[{"timestamp": t, "message": m} for t, m in events])

    # (moto's get_metric_statistics starts its periods at the first data point, not at StartTime:
    # each metric's points here sit at the same second of their minutes, so both agree.)
    errors = _stats(cw, "Orders", "Errors", start, 5)
    assert [(p["Timestamp"].timestamp() * 1000 - start) // 60_000 for p in errors] == [0, 1, 3]
    assert [(p["Sum"], p["SampleCount"]) for p in errors] == [(2.0, 2.0), (0.0, 1.0), (1.0, 1.0)]
    assert {p["Unit"] for p in errors} == {"Count"}
    slow = _stats(cw, "Orders", "SlowLatency", start, 5, stats=("Sum", "Maximum", "SampleCount"))
    assert [(p["Sum"], p["Maximum"], p["SampleCount"]) for p in slow] == [(750.0, 750.0, 1.0), (501.0, 501.0, 1.0)]
    by_status = {code: [p["Sum"] for p in _stats(cw, "Orders", "ServerErrors", start, 5,
                                                 dimensions=[{"Name": "Status", "Value": code}])]
                 for code in ("503", "502", "200")}
    assert by_status == {"503": [120.0], "502": [80.0], "200": []}

    # A later batch in minute 1 does not add a second default for it.
    logs.put_log_events(logGroupName="/app/orders", logStreamName="s",
                        logEvents=[{"timestamp": start + 190_000, "message": "INFO later"}])
    again = _stats(cw, "Orders", "Errors", start, 5)
    assert [(p["Sum"], p["SampleCount"]) for p in again] == [(2.0, 2.0), (0.0, 1.0), (1.0, 1.0)]

    # After delete_metric_filter nothing more is counted.
    logs.delete_metric_filter(logGroupName="/app/orders", filterName="errors")
    logs.put_log_events(logGroupName="/app/orders", logStreamName="s",
                        logEvents=[{"timestamp": start + 191_000, "message": "ERROR ignored now"}])
    assert [p["Sum"] for p in _stats(cw, "Orders", "Errors", start, 5)] == [2.0, 0.0, 1.0]


def test_describe_test_and_bad_metric_filters(cloud, account):
    logs = _group(cloud, account, "/app/described")
    _group(cloud, account, "/app/other")
    for name, group, metric in (("b-latency", "/app/described", "Latency"), ("a-errors", "/app/described", "Errors"),
                                ("a-other", "/app/other", "Errors")):
        logs.put_metric_filter(logGroupName=group, filterName=name, filterPattern="ERROR",
                               metricTransformations=[{"metricName": metric, "metricNamespace": "App",
                                                       "metricValue": "1"}])
    listed = logs.describe_metric_filters(logGroupName="/app/described")["metricFilters"]
    assert [f["filterName"] for f in listed] == ["a-errors", "b-latency"]
    assert listed[0]["metricTransformations"] == [{"metricName": "Errors", "metricNamespace": "App",
                                                  "metricValue": "1"}]
    assert listed[0]["logGroupName"] == "/app/described" and listed[0]["creationTime"] > 0
    by_prefix = logs.describe_metric_filters(filterNamePrefix="a-")["metricFilters"]
    assert [(f["filterName"], f["logGroupName"]) for f in by_prefix] == [("a-errors", "/app/described"),
                                                                         ("a-other", "/app/other")]
    by_metric = logs.describe_metric_filters(metricName="Errors", metricNamespace="App")["metricFilters"]
    assert [f["filterName"] for f in by_metric] == ["a-errors", "a-other"]
    with pytest.raises(ClientError) as half:
        logs.describe_metric_filters(metricName="Errors")
    assert half.value.response["Error"]["Code"] == "InvalidParameterException"

    tested = logs.test_metric_filter(
        filterPattern="[ip, user, username, timestamp, request, status_code = 4*, bytes > 1000]",
        logEventMessages=['127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /x HTTP/1.0" 404 1534',
                          '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /x HTTP/1.0" 200 1534',
                          '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /x HTTP/1.0" 404 10'])
    assert [m["eventNumber"] for m in tested["matches"]] == [1]
    assert tested["matches"][0]["extractedValues"] == {
        "$ip": "127.0.0.1", "$user": "-", "$username": "frank", "$timestamp": "10/Oct/2000:13:25:15 -0700",
        "$request": "GET /x HTTP/1.0", "$status_code": "404", "$bytes": "1534"}
    json_test = logs.test_metric_filter(
        filterPattern='{ ($.level = "ERROR" || $.level = "WARN") && $.tags[0] = "db*" && $.user IS NULL '
                      '&& $.retry NOT EXISTS }',
        logEventMessages=[json.dumps({"level": "WARN", "tags": ["dbpool"], "user": None}),
                          json.dumps({"level": "WARN", "tags": ["dbpool"], "user": None, "retry": 1}),
                          json.dumps({"level": "INFO", "tags": ["dbpool"], "user": None}), "not json"])
    assert [m["eventNumber"] for m in json_test["matches"]] == [1]
    terms = logs.test_metric_filter(filterPattern='?ERROR ?"Connection refused"',
                                    logEventMessages=["ok", "WARN Connection refused", "ERROR x"])
    assert [m["eventNumber"] for m in terms["matches"]] == [2, 3]

    for pattern in ("{ $.latency > }", "[a, , b]", "{ latency = 1 }", '"unterminated', "{ $.a > fast }"):
        with pytest.raises(ClientError) as bad:
            logs.put_metric_filter(logGroupName="/app/described", filterName="bad", filterPattern=pattern,
                                   metricTransformations=[{"metricName": "M", "metricNamespace": "App",
                                                           "metricValue": "1"}])
        assert bad.value.response["Error"] == {"Code": "InvalidParameterException",
                                               "Message": "Invalid metric filter pattern"}, pattern
        with pytest.raises(ClientError) as bad_test:
            logs.test_metric_filter(filterPattern=pattern, logEventMessages=["x"])
        assert bad_test.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as dims:
        logs.put_metric_filter(logGroupName="/app/described", filterName="dims", filterPattern="ERROR",
                               metricTransformations=[{"metricName": "M", "metricNamespace": "App",
                                                       "metricValue": "1", "dimensions": {"D": "$.d"}}])
    assert dims.value.response["Error"]["Message"] == "The specified filter pattern does not support dimensions"
    with pytest.raises(ClientError) as reserved:
        logs.put_metric_filter(logGroupName="/app/described", filterName="aws", filterPattern="ERROR",
                               metricTransformations=[{"metricName": "Errors", "metricNamespace": "AWS/Lambda",
                                                       "metricValue": "1"}])
    assert reserved.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as missing:
        logs.put_metric_filter(logGroupName="/app/none", filterName="x", filterPattern="ERROR",
                               metricTransformations=[{"metricName": "M", "metricNamespace": "App",
                                                       "metricValue": "1"}])
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # Nothing already saved was lost.
    assert len(logs.describe_metric_filters(logGroupName="/app/described")["metricFilters"]) == 2


def _emf(namespace: str, timestamp: int, **values) -> str:
    return json.dumps({"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [{
        "Namespace": namespace, "Dimensions": [["Service"]],
        "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Faults", "Unit": "Count"}]}]},
        "Service": "orders", **values})


def _with_emf_header(logs) -> None:
    def add(request, **_):
        request.headers["x-amzn-logs-format"] = "json/emf"
    logs.meta.events.register("before-sign.cloudwatch-logs.PutLogEvents", add)


def test_emf_lines_from_put_log_events_with_the_header_become_metrics(cloud, account):
    plain = _group(cloud, account, "/app/emf")
    cw = cloud.client("cloudwatch", account)
    start = _minute_start(20)
    dims = [{"Name": "Service", "Value": "orders"}]
    # Without the header an EMF line is only a log event (as AWS).
    plain.put_log_events(logGroupName="/app/emf", logStreamName="s", logEvents=[
        {"timestamp": start + 1_000, "message": _emf("Shop", start + 1_000, Latency=10, Faults=0)}])
    assert _stats(cw, "Shop", "Latency", start, 3, dims) == []

    emf = cloud.client("logs", account)
    _with_emf_header(emf)
    lines = [
        _emf("Shop", start + 2_000, Latency=120, Faults=1),
        _emf("Shop", start + 63_000, Latency=[30, 50], Faults=0),
        _emf("Shop", start + 62_000, Latency="slow", Faults=1),              # not a number: invalid, no metric
        json.dumps({"_aws": {"Timestamp": "yesterday", "CloudWatchMetrics": []}}),   # invalid
        _emf("AWS/Lambda", start + 63_000, Latency=1, Faults=1),            # AWS/ namespaces are AWS's
        "plain text line",
    ]
    emf.put_log_events(logGroupName="/app/emf", logStreamName="s", logEvents=[
        {"timestamp": start + 2_000 + i, "message": m} for i, m in enumerate(lines)])
    latency = _stats(cw, "Shop", "Latency", start, 3, dims, stats=("Sum", "SampleCount", "Maximum"))
    assert [(p["Sum"], p["SampleCount"], p["Maximum"], p["Unit"]) for p in latency] == [
        (120.0, 1.0, 120.0, "Milliseconds"), (80.0, 2.0, 50.0, "Milliseconds")]
    assert [p["Sum"] for p in _stats(cw, "Shop", "Faults", start, 3, dims)] == [1.0, 0.0]
    assert cw.list_metrics(Namespace="AWS/Lambda", MetricName="Latency")["Metrics"] == []
    # Every line, valid or not, is kept as a log event.
    kept = plain.get_log_events(logGroupName="/app/emf", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in kept][1:] == lines


EMF_FUNCTION = """
    import json, time

    def handler(event, context):
        print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": "LambdaShop", "Dimensions": [["Function"]],
            "Metrics": [{"Name": "ItemsPriced", "Unit": "Count"}]}]},
            "Function": "pricer", "ItemsPriced": event["items"]}))
        print('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "LambdaShop"}]}}')
        return "ok"
"""


def test_emf_lines_from_lambda_output_become_metrics(cloud, account):
    make_function(cloud, account, "pricer", EMF_FUNCTION)
    logs = cloud.client("logs", account)
    logs.create_log_group(logGroupName="/aws/lambda/pricer")      # a metric filter on Lambda's group too
    logs.put_metric_filter(logGroupName="/aws/lambda/pricer", filterName="big", filterPattern="{ $.ItemsPriced >= 4 }",
                           metricTransformations=[{"metricName": "BigOrders", "metricNamespace": "LambdaShop",
                                                   "metricValue": "$.ItemsPriced"}])
    client = cloud.client("lambda", account)
    for items in (3, 4):
        response, payload = invoke(client, "pricer", {"items": items})
        assert payload == "ok" and "FunctionError" not in response
    cw = cloud.client("cloudwatch", account)
    start = _minute_start(5)
    points = wait_for(lambda: _stats(cw, "LambdaShop", "ItemsPriced", start, 10,
                                           [{"Name": "Function", "Value": "pricer"}]))
    assert sum(p["Sum"] for p in points) == 7.0 and sum(p["SampleCount"] for p in points) == 2.0
    big = _stats(cw, "LambdaShop", "BigOrders", start, 10)
    assert [(p["Sum"], p["SampleCount"]) for p in big] == [(4.0, 1.0)]


def test_codebuild_output_goes_through_metric_filters(cloud, account):
    from tests.test_codebuild_builds import inline_project, wait_build

    logs, cb = cloud.client("logs", account), cloud.client("codebuild", account)
    logs.create_log_group(logGroupName="/aws/codebuild/counted")
    logs.put_metric_filter(logGroupName="/aws/codebuild/counted", filterName="failures",
                           filterPattern='"TEST FAILED"',
                           metricTransformations=[{"metricName": "TestFailures", "metricNamespace": "Builds",
                                                   "metricValue": "1"}])
    inline_project(cb, account, "counted", "version: 0.2\nphases:\n  build:\n    commands:\n"
                   "      - echo TEST FAILED one\n      - echo TEST FAILED two\n      - echo fine\n")
    build = wait_build(cb, cb.start_build(projectName="counted")["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED"
    cw = cloud.client("cloudwatch", account)
    start = _minute_start(5)
    # "echo TEST FAILED one" as the command line, then its output: CodeBuild logs both.
    counted = wait_for(lambda: _stats(cw, "Builds", "TestFailures", start, 10), timeout=30)
    matching = [e for e in logs.filter_log_events(logGroupName="/aws/codebuild/counted",
                                                  filterPattern='"TEST FAILED"')["events"]]
    assert sum(p["Sum"] for p in counted) == len(matching) >= 2


def test_filter_log_events_speaks_the_same_pattern_syntax(cloud, account):
    logs = _group(cloud, account, "/app/search")
    start = _minute_start(10)
    lines = ["ERROR disk full", json.dumps({"level": "ERROR", "ms": 900}), json.dumps({"level": "INFO", "ms": 20}),
             '10.0.0.1 - - [x] "GET /a" 503 12']
    logs.put_log_events(logGroupName="/app/search", logStreamName="s",
                        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(lines)])

    def found(pattern):
        return [e["message"] for e in logs.filter_log_events(logGroupName="/app/search",
                                                              filterPattern=pattern)["events"]]

    assert found("ERROR") == lines[:2]
    assert found("{ $.ms > 100 }") == [lines[1]]
    assert found("[ip, ..., status = 5*, size]") == [lines[3]]
    with pytest.raises(ClientError) as bad:
        found("{ $.ms > }")
    assert bad.value.response["Error"]["Code"] == "InvalidParameterException"


METRIC_FILTER_TEMPLATE = """
Resources:
  Group:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: /cfn/orders}
  Faults:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: !Ref Group
      FilterPattern: '{ $.status >= 500 }'
      MetricTransformations:
        - {MetricName: Faults, MetricNamespace: CfnShop, MetricValue: "1", DefaultValue: 0, Unit: Count}
Outputs:
  FilterName: {Value: !Ref Faults}
"""


def test_cloudformation_metric_filter_with_drift(cloud, account):
    from tests.test_cloudformation_drift import deploy, detect, drifts

    cf, logs = cloud.client("cloudformation", account), cloud.client("logs", account)
    stack = deploy(cf, METRIC_FILTER_TEMPLATE, "metric-filter-stack")
    name = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["FilterName"]
    listed = logs.describe_metric_filters(logGroupName="/cfn/orders")["metricFilters"]
    assert [(f["filterName"], f["filterPattern"]) for f in listed] == [(name, "{ $.status >= 500 }")]
    assert listed[0]["metricTransformations"] == [{"metricName": "Faults", "metricNamespace": "CfnShop",
                                                  "metricValue": "1", "defaultValue": 0.0, "unit": "Count"}]
    # It counts like one made with the API.
    logs.create_log_stream(logGroupName="/cfn/orders", logStreamName="s")
    start = _minute_start(10)
    logs.put_log_events(logGroupName="/cfn/orders", logStreamName="s", logEvents=[
        {"timestamp": start + i * 1000, "message": json.dumps({"status": s})} for i, s in enumerate((200, 502, 503))])
    assert [p["Sum"] for p in _stats(cloud.client("cloudwatch", account), "CfnShop", "Faults", start, 2)] == [2.0]

    assert detect(cf, "metric-filter-stack")["StackDriftStatus"] == "IN_SYNC"
    logs.put_metric_filter(logGroupName="/cfn/orders", filterName=name, filterPattern="{ $.status >= 400 }",
                           metricTransformations=[{"metricName": "Faults", "metricNamespace": "CfnShop",
                                                   "metricValue": "1", "defaultValue": 0, "unit": "Count"}])
    assert detect(cf, "metric-filter-stack")["StackDriftStatus"] == "DRIFTED"
    drift = drifts(cf, "metric-filter-stack")["Faults"]
    assert drift["StackResourceDriftStatus"] == "MODIFIED"
    assert [(d["PropertyPath"], d["ExpectedValue"], d["ActualValue"]) for d in drift["PropertyDifferences"]] == [
        ("/FilterPattern", "{ $.status >= 500 }", "{ $.status >= 400 }")]
    logs.delete_metric_filter(logGroupName="/cfn/orders", filterName=name)
    assert detect(cf, "metric-filter-stack")["StackDriftStatus"] == "DRIFTED"
    assert drifts(cf, "metric-filter-stack")["Faults"]["StackResourceDriftStatus"] == "DELETED"

    # An update puts it back as the template says; deleting the stack removes it.
    cf.update_stack(StackName="metric-filter-stack",
                    TemplateBody=METRIC_FILTER_TEMPLATE.replace("$.status >= 500", "$.status >= 501"))
    cf.get_waiter("stack_update_complete").wait(StackName="metric-filter-stack",
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert [f["filterPattern"] for f in logs.describe_metric_filters(logGroupName="/cfn/orders")["metricFilters"]] \
        == ["{ $.status >= 501 }"]
    assert detect(cf, "metric-filter-stack")["StackDriftStatus"] == "IN_SYNC"
    cf.delete_stack(StackName="metric-filter-stack")
    cf.get_waiter("stack_delete_complete").wait(StackName="metric-filter-stack",
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert logs.describe_metric_filters(filterNamePrefix=name)["metricFilters"] == []

    # A pattern AWS refuses fails the resource with AWS's message.
    cf.create_stack(StackName="bad-filter", TemplateBody=METRIC_FILTER_TEMPLATE.replace(
        "'{ $.status >= 500 }'", "'{ $.status >= }'").replace("/cfn/orders", "/cfn/bad"))
    events = wait_for(lambda: [e for e in cf.describe_stack_events(StackName="bad-filter")["StackEvents"]
                               if e["LogicalResourceId"] == "Faults" and e["ResourceStatus"] == "CREATE_FAILED"],
                      timeout=30, what="the filter's failure")
    assert "Invalid metric filter pattern" in events[0]["ResourceStatusReason"]
