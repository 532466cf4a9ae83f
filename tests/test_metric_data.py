"""GetMetricData against a running workshop cloud: statistics per epoch-aligned period,
exact dimensions, metric math (arithmetic, SUM/AVG/MAX/MIN over METRICS(), FILL, IF,
RATE, DIFF), labels, ReturnData, ScanBy, AWS's errors; and a math alarm end to end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.test_alarms import wait_state

NS = "Workshop/Shop"
BASE = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)   # a whole hour: periods align with it
ERRORS = [2, 0, None, 5, 1]       # per minute from BASE; None: no data that minute
REQUESTS = [10, 10, 20, 50, 10]


def stat(metric: str, stat: str = "Sum", period: int = 60, **extra) -> dict:
    return {"MetricStat": {"Metric": {"Namespace": NS, "MetricName": metric,
                                      "Dimensions": [{"Name": "Service", "Value": "orders"}]},
                           "Period": period, "Stat": stat}, **extra}


@pytest.fixture
def cw(cloud, account):
    client = cloud.client("cloudwatch", account)
    data = []
    for minute, (errors, requests) in enumerate(zip(ERRORS, REQUESTS)):
        at = BASE + timedelta(minutes=minute, seconds=10)
        dims = [{"Name": "Service", "Value": "orders"}]
        if errors is not None:
            data.append({"MetricName": "Errors", "Dimensions": dims, "Value": errors, "Timestamp": at})
        data.append({"MetricName": "Requests", "Dimensions": dims, "Value": requests / 2, "Timestamp": at})
        data.append({"MetricName": "Requests", "Dimensions": dims, "Value": requests / 2,
                     "Timestamp": at + timedelta(seconds=20)})
        # Another service's data, and the same metric with one more dimension: neither counts.
        data.append({"MetricName": "Errors", "Dimensions": [{"Name": "Service", "Value": "billing"}],
                     "Value": 100, "Timestamp": at})
        data.append({"MetricName": "Errors", "Dimensions": dims + [{"Name": "Version", "Value": "2"}],
                     "Value": 100, "Timestamp": at})
    client.put_metric_data(Namespace=NS, MetricData=data)
    return client


def query(cw, queries: list[dict], **extra) -> dict[str, dict]:
    answer = cw.get_metric_data(MetricDataQueries=queries, StartTime=BASE,
                                EndTime=BASE + timedelta(minutes=5), ScanBy="TimestampAscending", **extra)
    return {r["Id"]: r for r in answer["MetricDataResults"]}


def minutes(result: dict) -> list[int]:
    return [int((t - BASE).total_seconds() // 60) for t in result["Timestamps"]]


def test_statistics_per_period_of_exactly_the_metric(cw):
    got = query(cw, [{"Id": "errors", **stat("Errors")}, {"Id": "avg", **stat("Requests", "Average")},
                     {"Id": "n", **stat("Requests", "SampleCount")}, {"Id": "most", **stat("Requests", "Maximum", 120)}])
    assert (minutes(got["errors"]), got["errors"]["Values"]) == ([0, 1, 3, 4], [2.0, 0.0, 5.0, 1.0])
    assert got["errors"]["Label"] == "Errors" and got["errors"]["StatusCode"] == "Complete"
    assert got["avg"]["Values"] == [5.0, 5.0, 10.0, 25.0, 5.0]
    assert got["n"]["Values"] == [2.0] * 5
    assert (minutes(got["most"]), got["most"]["Values"]) == ([0, 2, 4], [5.0, 25.0, 5.0])


def test_scan_by_descending_is_the_default(cw):
    answer = cw.get_metric_data(MetricDataQueries=[{"Id": "e", **stat("Errors")}], StartTime=BASE,
                                EndTime=BASE + timedelta(minutes=5))
    assert answer["MetricDataResults"][0]["Values"] == [1.0, 5.0, 0.0, 2.0]


@pytest.mark.parametrize("expression, expected_minutes, expected", [
    ("e + r", [0, 1, 3, 4], [12.0, 10.0, 55.0, 11.0]),
    ("100 * e / r", [0, 1, 3, 4], [20.0, 0.0, 10.0, 10.0]),
    ("FILL(e, 0)", [0, 1, 2, 3, 4], [2.0, 0.0, 0.0, 5.0, 1.0]),
    ("FILL(e, REPEAT)", [0, 1, 2, 3, 4], [2.0, 0.0, 0.0, 5.0, 1.0]),
    ("FILL(e, LINEAR)", [0, 1, 2, 3, 4], [2.0, 0.0, 2.5, 5.0, 1.0]),
    ("SUM(METRICS())", [0, 1, 2, 3, 4], [12.0, 10.0, 20.0, 55.0, 11.0]),
    ("AVG([e, r])", [0, 1, 2, 3, 4], [6.0, 5.0, 20.0, 27.5, 5.5]),
    ("MAX(METRICS())", [0, 1, 2, 3, 4], [10.0, 10.0, 20.0, 50.0, 10.0]),
    ("MIN([e, r])", [0, 1, 2, 3, 4], [2.0, 0.0, 20.0, 5.0, 1.0]),
    ("IF(e > 1, 1, 0)", [0, 1, 3, 4], [1.0, 0.0, 1.0, 0.0]),
    ("IF(e >= 2 AND r < 20, e, 0)", [0, 1, 3, 4], [2.0, 0.0, 0.0, 0.0]),
    ("DIFF(r)", [1, 2, 3, 4], [0.0, 10.0, 30.0, -40.0]),
    ("RATE(r)", [1, 2, 3, 4], [0.0, 10 / 60, 30 / 60, -40 / 60]),
    ("MAX(r)", [0, 1, 2, 3, 4], [50.0] * 5),           # one value over the range, at every period
])
def test_metric_math_expressions(cw, expression, expected_minutes, expected):
    got = query(cw, [{"Id": "e", **stat("Errors"), "ReturnData": False},
                     {"Id": "r", **stat("Requests"), "ReturnData": False},
                     {"Id": "x", "Expression": expression, "Label": "result"}])
    assert list(got) == ["x"]                                  # ReturnData false: not returned
    assert got["x"]["Label"] == "result"
    assert minutes(got["x"]) == expected_minutes
    assert got["x"]["Values"] == pytest.approx(expected)


def test_an_expression_of_several_series_returns_each_with_its_label(cw):
    answer = cw.get_metric_data(MetricDataQueries=[
        {"Id": "e", **stat("Errors"), "Label": "errors", "ReturnData": False},
        {"Id": "r", **stat("Requests"), "Label": "requests", "ReturnData": False},
        {"Id": "all", "Expression": "FILL(METRICS(), 0)"}],
        StartTime=BASE, EndTime=BASE + timedelta(minutes=5), ScanBy="TimestampAscending")
    results = answer["MetricDataResults"]
    assert [(r["Id"], r["Label"]) for r in results] == [("all", "errors"), ("all", "requests")]
    assert results[0]["Values"] == [2.0, 0.0, 0.0, 5.0, 1.0]


@pytest.mark.parametrize("queries, words", [
    ([{"Id": "Upper", "Expression": "1"}], "must start with a lowercase letter"),
    ([{"Id": "a", "Expression": "1"}, {"Id": "a", "Expression": "2"}], "is duplicated"),
    ([{"Id": "a"}], "MetricStat is required"),
    ([{"Id": "a", **stat("Errors", "Median")}], "Median"),
    ([{"Id": "a", **stat("Errors", period=45)}], "multiple of 60"),
    ([{"Id": "a", **stat("Errors"), "ReturnData": False}], "must return data"),
])
def test_bad_queries_get_validation_errors(cw, queries, words):
    with pytest.raises(ClientError) as caught:
        query(cw, queries)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert words in caught.value.response["Error"]["Message"]


def test_an_expression_that_cannot_be_computed_says_so(cw):
    got = query(cw, [{"Id": "e", **stat("Errors")}, {"Id": "bad", "Expression": "NOSUCH(e)"}])
    assert got["bad"]["StatusCode"] == "InternalError" and got["bad"]["Values"] == []
    assert "NOSUCH" in got["bad"]["Messages"][0]["Value"]
    assert got["e"]["Values"] == [2.0, 0.0, 5.0, 1.0]


def test_an_error_rate_alarm_with_fill_and_if_evaluates(cloud, account):
    cw = cloud.client("cloudwatch", account)
    metric = lambda name: {"Metric": {"Namespace": NS, "MetricName": name}, "Period": 60, "Stat": "Sum"}  # noqa: E731
    cw.put_metric_alarm(
        AlarmName="error-rate", EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="ignore",
        Metrics=[{"Id": "e", "MetricStat": metric("Errors"), "ReturnData": False},
                 {"Id": "r", "MetricStat": metric("Requests"), "ReturnData": False},
                 {"Id": "rate", "Expression": "IF(r > 0, 100 * FILL(e, 0) / r, 0)", "Label": "error %"}])
    for _ in range(40):   # a real period is one second at time scale 60: keep data flowing
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Errors", "Value": 3},
                                                     {"MetricName": "Requests", "Value": 10}])
        try:
            wait_state(cw, "error-rate", "ALARM", timeout=0.5)
            break
        except AssertionError:
            continue
    assert cw.describe_alarms(AlarmNames=["error-rate"])["MetricAlarms"][0]["StateValue"] == "ALARM"


def test_max_datapoints_pages_with_a_token(cw):
    queries = [{"Id": "e", **stat("Errors")}, {"Id": "r", **stat("Requests")}]
    pages, token = [], None
    while True:
        kwargs = {"NextToken": token} if token else {}
        answer = cw.get_metric_data(MetricDataQueries=queries, StartTime=BASE, EndTime=BASE + timedelta(minutes=5),
                                    ScanBy="TimestampAscending", MaxDatapoints=3, **kwargs)
        pages.append([(r["Id"], r["Values"], r["StatusCode"]) for r in answer["MetricDataResults"]])
        token = answer.get("NextToken")
        if not token:
            break
    assert pages == [[("e", [2.0, 0.0, 5.0], "PartialData")],
                     [("e", [1.0], "PartialData"), ("r", [10.0, 10.0], "PartialData")],
                     [("r", [20.0, 50.0, 10.0], "Complete")]]
    with pytest.raises(ClientError) as caught:
        cw.get_metric_data(MetricDataQueries=queries, StartTime=BASE, EndTime=BASE + timedelta(minutes=5),
                           NextToken="garbage")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_dynamic_labels(cw):
    got = query(cw, [{"Id": "e", **stat("Errors"),
                      "Label": "${PROP('Dim.Service')} ${PROP('MetricName')} last ${LAST} max ${MAX} sum ${SUM}"},
                     {"Id": "rate", "Expression": "e / 2", "Label": "${LABEL}: avg ${AVG} over ${DATAPOINT_COUNT}"}])
    assert got["e"]["Label"] == "orders Errors last 1 max 5 sum 8"
    assert got["rate"]["Label"] == "rate: avg 1 over 4"
