"""Dashboards as pictures in a notebook (lab 06): a metric widget, or a widget of a
dashboard the learner made, drawn by CloudWatch's GetMetricWidgetImage and shown
as an image. Like every lab helper it reaches AWS only through ``checker.session``."""

from __future__ import annotations

import json
from typing import Any

# A dashboard is 24 grid columns wide; a column and a row, drawn on their own, in pixels.
COLUMN_PIXELS = 50
ROW_PIXELS = 66


def widget_image(widget: dict[str, Any] | str, client=None) -> bytes:
    """The PNG CloudWatch draws for a metric widget (its JSON, as a dict or a string)."""
    if client is None:
        from checker.session import client as make_client

        client = make_client("cloudwatch")
    text = widget if isinstance(widget, str) else json.dumps(widget)
    return client.get_metric_widget_image(MetricWidget=text, OutputFormat="png")["MetricWidgetImage"]


def show_widget(widget: dict[str, Any] | str, client=None):
    """The widget as an image a notebook shows (the cell's last value, or ``display(...)``)."""
    from IPython.display import Image

    return Image(data=widget_image(widget, client), format="png")


def dashboard_widget(dashboard: str, index: int = 0, client=None) -> dict[str, Any]:
    """A metric widget of a dashboard as GetMetricWidgetImage takes it: its properties,
    the dashboard's time range, and a size in pixels from its size on the dashboard's grid."""
    if client is None:
        from checker.session import client as make_client

        client = make_client("cloudwatch")
    body = json.loads(client.get_dashboard(DashboardName=dashboard)["DashboardBody"])
    metric_widgets = [w for w in body.get("widgets", []) if w.get("type") == "metric"]
    if not metric_widgets:
        raise LookupError(f"dashboard {dashboard} has no metric widget")
    chosen = metric_widgets[index]
    widget = dict(chosen.get("properties") or {})
    for key in ("start", "end"):
        if key in body and key not in widget:
            widget[key] = body[key]
    widget.setdefault("width", max(200, int(chosen.get("width", 6)) * COLUMN_PIXELS))
    widget.setdefault("height", max(150, int(chosen.get("height", 6)) * ROW_PIXELS))
    return widget


def show_dashboard(dashboard: str, client=None) -> list:
    """Every metric widget of a dashboard, drawn, in the order the dashboard lists them."""
    if client is None:
        from checker.session import client as make_client

        client = make_client("cloudwatch")
    body = json.loads(client.get_dashboard(DashboardName=dashboard)["DashboardBody"])
    count = sum(1 for w in body.get("widgets", []) if w.get("type") == "metric")
    return [show_widget(dashboard_widget(dashboard, i, client), client) for i in range(count)]
