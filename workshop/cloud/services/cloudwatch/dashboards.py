"""CloudWatch dashboards checked as CloudWatch checks them: ``put_dashboard`` refuses
a name or body AWS refuses, with ``DashboardValidationMessages`` (DataPath and Message,
as AWS's schema validator words them) on ``DashboardInvalidInputError``; get, list and
delete keep moto's store. ``widget_errors`` also checks GetMetricWidgetImage's widget."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch.exceptions import DashboardInvalidInputError, ResourceNotFound
from moto.cloudwatch.models import CloudWatchBackend, Dashboard

from workshop.cloud.services import extend

WIDGET_TYPES = ("metric", "text", "log", "alarm", "explorer", "custom")
VIEWS = ("timeSeries", "singleValue", "bar", "pie", "gauge", "table")
MAX_WIDGETS = 500
MAX_BODY = 1_048_576
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# Widget metric options CloudWatch knows (anything else is an additional property).
METRIC_OPTIONS = {"accountId", "color", "expression", "id", "label", "period", "region", "stat", "visible",
                  "yAxis"}


@extend(CloudWatchBackend)
class Dashboards:
    def put_dashboard(self, name: str, body: str) -> Dashboard:
        if not name or len(name) > 255 or not _NAME.match(name):
            raise DashboardInvalidInputError(
                "The value for field DashboardName contains invalid characters. It can only contain "
                "alphanumerics, dash (-) and underscore (_).")
        messages = body_errors(body)
        if messages:
            raise invalid(messages)
        dashboard = Dashboard(self.account_id, self.region_name, name, body)
        dashboard.last_modified = datetime.now(timezone.utc)
        self.dashboards[name] = dashboard
        return dashboard

    def get_dashboard(self, dashboard: str) -> Dashboard:
        found = self.dashboards.get(dashboard)
        if found is None:
            raise ResourceNotFound(f"Dashboard {dashboard} does not exist")
        return found


def invalid(messages: list[dict]) -> DashboardInvalidInputError:
    """AWS's error for a body with errors: the messages in the text and as a member."""
    listed = json.dumps([{"dataPath": m["DataPath"], "message": m["Message"]} for m in messages], indent=2)
    error = DashboardInvalidInputError(
        f"The dashboard body is invalid, there are {len(messages)} validation errors:\n{listed}")
    error.dashboardValidationMessages = messages
    return error


def body_errors(body: Any) -> list[dict]:
    """The DashboardValidationMessages of a body (empty: valid)."""
    if not isinstance(body, str) or not body:
        return [_msg("", "Should be a JSON object")]
    if len(body.encode()) > MAX_BODY:
        return [_msg("", f"The dashboard body must not be larger than {MAX_BODY} bytes")]
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        return [_msg("", f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
    if not isinstance(parsed, dict):
        return [_msg("", "Should be object")]
    out: list[dict] = []
    widgets = parsed.get("widgets")
    if widgets is None:
        out.append(_msg("", "Should have required property 'widgets'"))
    elif not isinstance(widgets, list):
        out.append(_msg("/widgets", "Should be array"))
    else:
        if len(widgets) > MAX_WIDGETS:
            out.append(_msg("/widgets", f"Should NOT have more than {MAX_WIDGETS} items"))
        for i, widget in enumerate(widgets):
            out.extend(_widget(widget, f"/widgets/{i}"))
    for key in ("start", "end"):
        if key in parsed and not isinstance(parsed[key], str):
            out.append(_msg(f"/{key}", "Should be string"))
    if "periodOverride" in parsed and parsed["periodOverride"] not in ("auto", "inherit"):
        out.append(_msg("/periodOverride", "Should be equal to one of the allowed values"))
    return out


def _widget(widget: Any, path: str) -> list[dict]:
    if not isinstance(widget, dict):
        return [_msg(path, "Should be object")]
    out: list[dict] = []
    kind = widget.get("type")
    if kind is None:
        out.append(_msg(path, "Should have required property 'type'"))
    elif kind not in WIDGET_TYPES:
        out.append(_msg(f"{path}/type", "Should be equal to one of the allowed values"))
    for key, low, high in (("x", 0, 23), ("y", 0, None), ("width", 1, 24), ("height", 1, 1000)):
        if key in widget:
            out.extend(_integer(widget[key], f"{path}/{key}", low, high))
    props = widget.get("properties")
    if props is None:
        if kind in ("metric", "text", "log", "alarm"):
            out.append(_msg(path, "Should have required property 'properties'"))
        return out
    if not isinstance(props, dict):
        return out + [_msg(f"{path}/properties", "Should be object")]
    if kind == "metric":
        out.extend(widget_errors(props, f"{path}/properties", in_dashboard=True))
    elif kind == "text":
        if not isinstance(props.get("markdown"), str):
            out.append(_msg(f"{path}/properties", "Should have required property 'markdown'")
                       if "markdown" not in props else _msg(f"{path}/properties/markdown", "Should be string"))
    elif kind == "log":
        if not isinstance(props.get("query"), str):
            out.append(_msg(f"{path}/properties", "Should have required property 'query'")
                       if "query" not in props else _msg(f"{path}/properties/query", "Should be string"))
    elif kind == "alarm":
        alarms = props.get("alarms")
        if alarms is None:
            out.append(_msg(f"{path}/properties", "Should have required property 'alarms'"))
        elif not isinstance(alarms, list):
            out.append(_msg(f"{path}/properties/alarms", "Should be array"))
        else:
            for j, arn in enumerate(alarms):
                if not isinstance(arn, str) or not arn.startswith("arn:") or ":alarm:" not in arn:
                    out.append(_msg(f"{path}/properties/alarms/{j}", "Should be an alarm ARN"))
    return out


def widget_errors(props: Any, path: str = "", in_dashboard: bool = False) -> list[dict]:
    """Errors in a metric widget's properties (a dashboard's, or GetMetricWidgetImage's whole widget)."""
    if not isinstance(props, dict):
        return [_msg(path, "Should be object")]
    out: list[dict] = []
    metrics = props.get("metrics")
    alarms = (props.get("annotations") or {}).get("alarms") if isinstance(props.get("annotations"), dict) else None
    if metrics is None and not alarms:
        out.append(_msg(path, "Should have required property 'metrics'"))
    elif metrics is not None and not isinstance(metrics, list):
        out.append(_msg(f"{path}/metrics", "Should be array"))
    elif metrics:
        for i, row in enumerate(metrics):
            out.extend(_metric_row(row, f"{path}/metrics/{i}", i == 0))
    if "view" in props and props["view"] not in VIEWS:
        out.append(_msg(f"{path}/view", "Should be equal to one of the allowed values"))
    if "stacked" in props and not isinstance(props["stacked"], bool):
        out.append(_msg(f"{path}/stacked", "Should be boolean"))
    if "period" in props:
        out.extend(_integer(props["period"], f"{path}/period", 1, None))
        if isinstance(props["period"], int) and props["period"] not in (1, 5, 10, 20, 30) and props["period"] % 60:
            out.append(_msg(f"{path}/period", "Should be 1, 5, 10, 20, 30 or a multiple of 60"))
    for key in ("title", "stat", "region", "start", "end"):
        if key in props and not isinstance(props[key], str):
            out.append(_msg(f"{path}/{key}", "Should be string"))
    if not in_dashboard:
        for key in ("width", "height"):
            if key in props:
                out.extend(_integer(props[key], f"{path}/{key}", 1, 2000))
    annotations = props.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            out.append(_msg(f"{path}/annotations", "Should be object"))
        else:
            for j, line in enumerate(annotations.get("horizontal") or []):
                where = f"{path}/annotations/horizontal/{j}"
                if not isinstance(line, dict):
                    out.append(_msg(where, "Should be object"))
                elif "value" not in line:
                    out.append(_msg(where, "Should have required property 'value'"))
                elif isinstance(line["value"], bool) or not isinstance(line["value"], (int, float)):
                    out.append(_msg(f"{where}/value", "Should be number"))
    return out


def _metric_row(row: Any, path: str, first: bool) -> list[dict]:
    if not isinstance(row, list):
        return [_msg(path, "Should be array")]
    if not row:
        return [_msg(path, "Should NOT have fewer than 1 items")]
    names = row[:-1] if isinstance(row[-1], dict) else row
    options = row[-1] if isinstance(row[-1], dict) else {}
    out = []
    if isinstance(options, dict) and "expression" in options:
        if names:
            out.append(_msg(path, "Should NOT have more than 1 items"))
        if not isinstance(options["expression"], str):
            out.append(_msg(f"{path}/{len(row) - 1}/expression", "Should be string"))
    else:
        if len(names) < 2:
            out.append(_msg(path, "Should NOT have fewer than 2 items"))
        elif len(names) % 2 and names[-1] != "...":
            out.append(_msg(path, "Should have a value for every dimension name"))
        for k, value in enumerate(names):
            if not isinstance(value, str):
                out.append(_msg(f"{path}/{k}", "Should be string"))
            elif first and value in (".", "..."):
                out.append(_msg(f"{path}/{k}", "The first metric cannot repeat a previous one"))
    for key in options:
        if key not in METRIC_OPTIONS:
            out.append(_msg(f"{path}/{len(row) - 1}", "Should NOT have additional properties"))
            break
    return out


def _integer(value: Any, path: str, low: int | None, high: int | None) -> list[dict]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [_msg(path, "Should be integer")]
    if low is not None and value < low:
        return [_msg(path, f"Should be >= {low}")]
    if high is not None and value > high:
        return [_msg(path, f"Should be <= {high}")]
    return []


def _msg(path: str, message: str) -> dict:
    return {"DataPath": path, "Message": message}
