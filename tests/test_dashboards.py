"""Dashboards and widget pictures against a running workshop cloud: put/get/list/delete,
a malformed body refused with DashboardValidationMessages (DataPath, Message), and
GetMetricWidgetImage's PNG (its size from the widget, pixels that are not background,
the lines, areas, numbers, annotations and alarm thresholds it draws), and labkit's
notebook helper."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from tests.test_alarms import wait_state

NS = "Workshop/Shop"
RED = (214, 39, 40)   # CloudWatch's (and matplotlib's) red: annotations and thresholds


def widget_body(**properties) -> str:
    return json.dumps({"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
                                    "properties": {"metrics": [[NS, "Latency", "Service", "orders"]],
                                                   "region": "us-east-1", **properties}}]})


def put_minutes(cw, hours: float = 3.0, metrics=("Latency", "Errors", "Requests")) -> None:
    """Minute data for the last ``hours``: three metrics, each its own shape."""
    now = datetime.now(timezone.utc)
    data = []
    for minute in range(int(hours * 60)):
        at = now - timedelta(minutes=minute)
        for k, name in enumerate(metrics):
            data.append({"MetricName": name, "Dimensions": [{"Name": "Service", "Value": "orders"}],
                         "Value": float((minute * (k + 1)) % 17 + 10 * k), "Timestamp": at})
    for i in range(0, len(data), 1000):
        cw.put_metric_data(Namespace=NS, MetricData=data[i:i + 1000])


def decode(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png)).convert("RGB")


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    raw = image.tobytes()
    return [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]


def not_background(image: Image.Image) -> int:
    return sum(1 for pixel in pixels(image) if pixel != (255, 255, 255))


def colored(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 30) -> int:
    return sum(1 for p in pixels(image) if all(abs(a - b) <= tolerance for a, b in zip(p, rgb)))


# -- dashboards ------------------------------------------------------------------------
def test_put_get_list_delete(cloud, account):
    cw = cloud.client("cloudwatch", account)
    assert cw.put_dashboard(DashboardName="shop", DashboardBody=widget_body())["DashboardValidationMessages"] == []
    cw.put_dashboard(DashboardName="shop-2", DashboardBody=json.dumps(
        {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2, "properties": {"markdown": "# Shop"}},
                     {"type": "alarm", "properties": {"alarms": [f"arn:aws:cloudwatch:us-east-1:{account}:alarm:x"]}},
                     {"type": "log", "properties": {"query": "fields @message", "region": "us-east-1"}}]}))
    got = cw.get_dashboard(DashboardName="shop")
    assert got["DashboardBody"] == widget_body()
    assert got["DashboardArn"] == f"arn:aws:cloudwatch::{account}:dashboard/shop"
    entries = cw.list_dashboards(DashboardNamePrefix="shop")["DashboardEntries"]
    assert [e["DashboardName"] for e in entries] == ["shop", "shop-2"]
    assert entries[0]["Size"] == len(widget_body())
    cw.delete_dashboards(DashboardNames=["shop"])
    with pytest.raises(ClientError) as caught:
        cw.get_dashboard(DashboardName="shop")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFound"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as caught:
        cw.delete_dashboards(DashboardNames=["shop-2", "nope"])
    assert caught.value.response["Error"]["Code"] == "ResourceNotFound"
    assert [e["DashboardName"] for e in cw.list_dashboards()["DashboardEntries"]] == ["shop-2"]


@pytest.mark.parametrize("body, messages", [
    ("{not json", [("", "Invalid JSON")]),
    (json.dumps([]), [("", "Should be object")]),
    (json.dumps({}), [("", "Should have required property 'widgets'")]),
    (json.dumps({"widgets": [{"x": 0}]}), [("/widgets/0", "Should have required property 'type'")]),
    (json.dumps({"widgets": [{"type": "chart", "properties": {}}]}),
     [("/widgets/0/type", "Should be equal to one of the allowed values")]),
    (json.dumps({"widgets": [{"type": "text", "x": 24, "width": 0, "height": 1001, "properties": {"markdown": "m"}}]}),
     [("/widgets/0/x", "Should be <= 23"), ("/widgets/0/width", "Should be >= 1"),
      ("/widgets/0/height", "Should be <= 1000")]),
    (json.dumps({"widgets": [{"type": "metric", "properties": {"metrics": [["Only-namespace"]]}}]}),
     [("/widgets/0/properties/metrics/0", "Should NOT have fewer than 2 items")]),
    (json.dumps({"widgets": [{"type": "metric", "properties": {"metrics": [[NS, 5]]}}]}),
     [("/widgets/0/properties/metrics/0/1", "Should be string")]),
    (json.dumps({"widgets": [{"type": "metric", "properties": {"metrics": "Latency"}}]}),
     [("/widgets/0/properties/metrics", "Should be array")]),
    (json.dumps({"widgets": [{"type": "metric", "properties": {
        "metrics": [[NS, "Latency", {"colour": "#fff"}]], "view": "chart", "period": 45}}]}),
     [("/widgets/0/properties/metrics/0/2", "Should NOT have additional properties"),
      ("/widgets/0/properties/view", "Should be equal to one of the allowed values"),
      ("/widgets/0/properties/period", "Should be 1, 5, 10, 20, 30 or a multiple of 60")]),
    (json.dumps({"widgets": [{"type": "text", "properties": {}}]}),
     [("/widgets/0/properties", "Should have required property 'markdown'")]),
    (json.dumps({"widgets": [{"type": "alarm", "properties": {"alarms": ["errors"]}}]}),
     [("/widgets/0/properties/alarms/0", "Should be an alarm ARN")]),
])
def test_a_malformed_body_gets_dashboard_validation_messages(cloud, account, body, messages):
    cw = cloud.client("cloudwatch", account)
    with pytest.raises(ClientError) as caught:
        cw.put_dashboard(DashboardName="broken", DashboardBody=body)
    error = caught.value.response
    assert error["Error"]["Code"] == "InvalidParameterInput"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Message"].startswith(f"The dashboard body is invalid, there are {len(messages)} validation errors")
    got = [(m["DataPath"], m["Message"]) for m in error["dashboardValidationMessages"]]
    assert [path for path, _ in got] == [path for path, _ in messages]
    for (_, text), (_, wanted) in zip(got, messages):
        assert text.startswith(wanted)
    assert cw.list_dashboards()["DashboardEntries"] == []   # nothing stored


def test_a_bad_name_is_refused(cloud, account):
    cw = cloud.client("cloudwatch", account)
    with pytest.raises(ClientError) as caught:
        cw.put_dashboard(DashboardName="my dashboard", DashboardBody=widget_body())
    assert caught.value.response["Error"]["Code"] == "InvalidParameterInput"
    assert "can only contain alphanumerics" in caught.value.response["Error"]["Message"]


# -- pictures ----------------------------------------------------------------------------
def test_a_three_metric_widget_is_a_png_of_its_size_with_lines(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_minutes(cw)
    widget = {"metrics": [[NS, "Latency", "Service", "orders"], [".", "Errors", ".", "."],
                          [".", "Requests", ".", ".", {"stat": "Sum", "color": "#2ca02c"}]],
              "width": 640, "height": 320, "period": 60, "start": "-PT3H", "stat": "Average",
              "title": "Orders", "view": "timeSeries",
              "annotations": {"horizontal": [{"value": 12, "label": "SLO", "color": "#d62728"}]}}
    image = decode(cw.get_metric_widget_image(MetricWidget=json.dumps(widget), OutputFormat="png")["MetricWidgetImage"])
    assert image.size == (640, 320)
    assert not_background(image) > 0.05 * 640 * 320
    assert colored(image, (31, 119, 180)) > 500      # the first metric's line
    assert colored(image, (44, 160, 44)) > 500       # the third's, in the colour it asked for
    assert colored(image, RED) > 100                 # the annotation


def test_an_empty_widget_is_still_a_picture_that_says_so(cloud, account):
    cw = cloud.client("cloudwatch", account)
    widget = {"metrics": [[NS, "Nothing"]], "width": 300, "height": 200}
    image = decode(cw.get_metric_widget_image(MetricWidget=json.dumps(widget))["MetricWidgetImage"])
    assert image.size == (300, 200)
    assert 0 < not_background(image) < 0.2 * 300 * 200   # axes and "No data available." only


@pytest.mark.parametrize("view, stacked", [("timeSeries", True), ("singleValue", False), ("bar", False), ("pie", False)])
def test_other_views_draw_something(cloud, account, view, stacked):
    cw = cloud.client("cloudwatch", account)
    put_minutes(cw, hours=0.5)
    widget = {"metrics": [[NS, "Latency", "Service", "orders"], [".", "Errors", ".", "."]],
              "view": view, "stacked": stacked, "period": 60, "start": "-PT30M", "width": 400, "height": 250}
    image = decode(cw.get_metric_widget_image(MetricWidget=json.dumps(widget))["MetricWidgetImage"])
    assert image.size == (400, 250)
    assert not_background(image) > 1000


def test_an_alarm_annotation_draws_its_metric_and_threshold(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_minutes(cw, hours=1)
    cw.put_metric_alarm(AlarmName="slow", Namespace=NS, MetricName="Latency",
                        Dimensions=[{"Name": "Service", "Value": "orders"}], Statistic="Average", Period=60,
                        EvaluationPeriods=1, Threshold=14, ComparisonOperator="LessThanThreshold",
                        TreatMissingData="ignore")   # the newest point (0) breaches; then no data: it stays
    arn = wait_state(cw, "slow", "ALARM")["AlarmArn"]
    widget = {"annotations": {"alarms": [arn]}, "start": "-PT1H", "period": 60, "width": 500, "height": 300,
              "title": "slow"}
    image = decode(cw.get_metric_widget_image(MetricWidget=json.dumps(widget))["MetricWidgetImage"])
    assert colored(image, (31, 119, 180)) > 300      # the alarm's metric
    assert colored(image, RED) > 200                 # its threshold, red while in ALARM


def test_metric_math_in_a_widget(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_minutes(cw, hours=1)
    widget = {"metrics": [[NS, "Errors", "Service", "orders", {"id": "e", "visible": False, "stat": "Sum"}],
                          [NS, "Requests", "Service", "orders", {"id": "r", "visible": False, "stat": "Sum"}],
                          [{"expression": "100 * e / r", "label": "error %", "id": "rate", "color": "#9467bd"}]],
              "period": 60, "start": "-PT1H", "width": 400, "height": 250}
    image = decode(cw.get_metric_widget_image(MetricWidget=json.dumps(widget))["MetricWidgetImage"])
    assert colored(image, (148, 103, 189)) > 300     # the expression's line
    assert colored(image, (31, 119, 180), 10) < 50   # the hidden metrics are not drawn


@pytest.mark.parametrize("widget, words", [
    ("not json", "must be a JSON object"),
    (json.dumps({"metrics": [["N"]]}), "Should NOT have fewer than 2 items"),
    (json.dumps({"metrics": [[NS, "Latency"]], "width": 2001}), "Should be <= 2000"),
    (json.dumps({"metrics": [[NS, "Latency"]], "start": "yesterday"}), "neither an ISO 8601 time"),
])
def test_bad_widgets_get_validation_errors(cloud, account, widget, words):
    cw = cloud.client("cloudwatch", account)
    with pytest.raises(ClientError) as caught:
        cw.get_metric_widget_image(MetricWidget=widget)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert words in caught.value.response["Error"]["Message"]


def test_labkit_shows_a_dashboards_widget(cloud, account):
    from labkit import dashboards

    cw = cloud.client("cloudwatch", account)
    put_minutes(cw, hours=1)
    cw.put_dashboard(DashboardName="shop", DashboardBody=widget_body(period=60, title="Latency"))
    widget = dashboards.dashboard_widget("shop", client=cw)
    assert (widget["width"], widget["height"]) == (600, 396)
    [shown] = dashboards.show_dashboard("shop", client=cw)
    assert shown.format == "png"
    assert decode(shown.data).size == (600, 396)


def test_the_cloud_does_not_import_matplotlib_until_a_picture_is_asked_for():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys; from workshop.cloud import services; services.load_eager(); "
            "services.ensure_loaded('cloudwatch'); services.ensure_loaded('cloudformation'); "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_a_right_axis_and_a_timezone(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_minutes(cw, hours=1)
    widget = {"metrics": [[NS, "Latency", "Service", "orders"],
                          [".", "Requests", ".", ".", {"yAxis": "right", "stat": "Sum", "color": "#ff7f0e"}]],
              "yAxis": {"left": {"label": "ms", "min": 0}, "right": {"label": "requests"}},
              "annotations": {"horizontal": [{"value": 25, "yAxis": "right", "label": "capacity", "fill": "above"}]},
              "timezone": "+0530", "period": 60, "start": "-PT1H", "width": 500, "height": 300}
    image = decode(cw.get_metric_widget_image(MetricWidget=json.dumps(widget))["MetricWidgetImage"])
    assert image.size == (500, 300)
    assert colored(image, (255, 127, 14)) > 300      # the right axis's metric
    assert colored(image, (31, 119, 180)) > 300
