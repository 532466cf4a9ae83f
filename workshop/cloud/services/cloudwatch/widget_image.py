"""GetMetricWidgetImage: a metric widget (the JSON a dashboard's metric widget holds,
plus width and height) drawn as CloudWatch draws it, into a PNG: its metrics and
expressions through ``metric_data.run_queries`` over the widget's time range and
period, as lines (``stacked``: areas), a number per metric (``singleValue``), bars or
a pie; horizontal annotations, alarms' thresholds, title, legend and y axis.

matplotlib (its object API on the Agg canvas, never pyplot) is imported on the first
image, not when the cloud starts."""

from __future__ import annotations

import io
import json
import math
import re
import threading
from datetime import datetime, timedelta, timezone

from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError

from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudwatch import dashboards, metric_data

DEFAULT_WIDTH, DEFAULT_HEIGHT = 600, 395
DEFAULT_PERIOD, DEFAULT_STAT, DEFAULT_START = 300, "Average", "-PT3H"
DPI = 100
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
_DURATION = re.compile(r"^-?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_lock = threading.Lock()   # matplotlib's text and font caches are shared: one image at a time


def metric_widget_image(backend, widget_json: str, output_format: str | None) -> bytes:
    if output_format not in (None, "", "png"):
        raise InvalidParameterValue(f"The value {output_format} for parameter OutputFormat is not supported; "
                                    "the workshop cloud answers png.")
    try:
        widget = json.loads(widget_json or "")
    except ValueError:
        raise ValidationError("The parameter MetricWidget must be a JSON object.")
    errors = dashboards.widget_errors(widget)
    if errors:
        first = errors[0]
        raise ValidationError(f"The parameter MetricWidget is invalid: {first['DataPath'] or '/'}: "
                              f"{first['Message']}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    return render(backend, widget)


# -- the widget's queries ------------------------------------------------------------------
def widget_queries(backend, widget: dict) -> tuple[list[dict], dict[str, dict], list[dict]]:
    """(MetricDataQueries, each query's drawing options by id, the alarms' threshold lines)."""
    period = int(widget.get("period") or DEFAULT_PERIOD)
    stat = widget.get("stat") or DEFAULT_STAT
    queries: list[dict] = []
    options: dict[str, dict] = {}
    previous: list[str] = []
    for i, row in enumerate(widget.get("metrics") or []):
        opts = row[-1] if row and isinstance(row[-1], dict) else {}
        names = row[:-1] if opts else list(row)
        if "expression" in opts:
            qid = opts.get("id") or f"e{i + 1}"
            queries.append({"Id": qid, "Expression": opts["expression"], "Label": opts.get("label") or qid,
                            "ReturnData": opts.get("visible", True) is not False})
        else:
            names = _expand(names, previous)
            previous = names
            qid = opts.get("id") or f"m{i + 1}"
            dims = [{"Name": names[k], "Value": names[k + 1]} for k in range(2, len(names) - 1, 2)]
            queries.append({"Id": qid, "MetricStat": {
                "Metric": {"Namespace": names[0], "MetricName": names[1], "Dimensions": dims},
                "Period": int(opts.get("period") or period), "Stat": opts.get("stat") or stat},
                "Label": opts.get("label") or names[1], "ReturnData": opts.get("visible", True) is not False})
        options[qid] = opts
    thresholds = []
    annotations = widget.get("annotations") if isinstance(widget.get("annotations"), dict) else {}
    for arn in annotations.get("alarms") or []:
        alarm = _alarm(backend, arn)
        if alarm is None or getattr(alarm, "rule", None) is not None:
            continue
        if alarm.threshold is not None:
            thresholds.append({"value": float(alarm.threshold), "label": alarm.name,
                               "state": alarm.state_value})
        if not widget.get("metrics") and alarm.metric_name:
            qid = f"alarm{len(queries) + 1}"
            queries.append({"Id": qid, "MetricStat": {
                "Metric": {"Namespace": alarm.namespace, "MetricName": alarm.metric_name,
                           "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions or []]},
                "Period": int(alarm.period or period),
                "Stat": alarm.extended_statistic or alarm.statistic or stat},
                "Label": alarm.metric_name, "ReturnData": True})
            options[qid] = {}
    return queries, options, thresholds


def _expand(names: list[str], previous: list[str]) -> list[str]:
    """CloudWatch's shorthand: "." repeats the previous row's value at that place, "..."
    repeats as many of its values as the row leaves out."""
    if "..." in names:
        k = names.index("...")
        before, after = names[:k], names[k + 1:]
        names = before + previous[len(before):max(len(before), len(previous) - len(after))] + after
    return [previous[k] if value == "." and k < len(previous) else value for k, value in enumerate(names)]


def _alarm(backend, arn: str):
    parts = arn.split(":", 6) if isinstance(arn, str) else []
    if len(parts) < 7 or parts[3] != backend.region_name or parts[4] != backend.account_id:
        return None
    return backend.alarms.get(parts[6])


def time_range(widget: dict) -> tuple[float, float]:
    now = get_clock().timestamp()
    start = _moment(widget.get("start") or DEFAULT_START, now, "start")
    end = _moment(widget.get("end"), now, "end") if widget.get("end") else now
    if start >= end:
        raise ValidationError("The widget's start must be before its end.")
    return start, end


def _moment(text: str, now: float, field: str) -> float:
    match = _DURATION.match(text)
    if match and any(match.groups()):
        weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return now - timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds).total_seconds()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"The widget's {field} '{text}' is neither an ISO 8601 time nor a duration such as -PT3H.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


# -- drawing -------------------------------------------------------------------------------
def render(backend, widget: dict) -> bytes:
    width = int(widget.get("width") or DEFAULT_WIDTH)
    height = int(widget.get("height") or DEFAULT_HEIGHT)
    queries, options, thresholds = widget_queries(backend, widget)
    start, end = time_range(widget)
    results = [r for r in metric_data.run_queries(backend, queries, start, end) if r.return_data] if queries else []
    with _lock:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        # +0.5 pixel: the figure's size in inches times the dpi must not round below the asked pixels.
        figure = Figure(figsize=((width + 0.5) / DPI, (height + 0.5) / DPI), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        view = widget.get("view") or "timeSeries"
        if view in ("singleValue", "gauge", "table"):
            _numbers(figure, widget, results, options)
        elif view in ("bar", "pie"):
            _totals(figure, widget, results, options, view)
        else:
            _time_series(figure, widget, results, options, thresholds, start, end)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
        return buffer.getvalue()


def _color(i: int, opts: dict) -> str:
    return opts.get("color") or PALETTE[i % len(PALETTE)]


def _title(figure, widget: dict) -> None:
    if widget.get("title"):
        figure.suptitle(widget["title"], x=0.01, ha="left", fontsize=11, fontweight="bold")


def _time_series(figure, widget, results, options, thresholds, start: float, end: float) -> None:
    left = figure.add_subplot(1, 1, 1)
    _title(figure, widget)
    drawn = [r for r in results if r.values]
    on_right = [r for r in drawn if options.get(r.id, {}).get("yAxis") == "right"]
    right = left.twinx() if on_right else None
    colors = {r.id + r.label: _color(i, options.get(r.id, {})) for i, r in enumerate(drawn)}
    for axes, series in ((left, [r for r in drawn if r not in on_right]), (right, on_right)):
        if axes is None or not series:
            continue
        if widget.get("stacked"):
            grid = sorted({t for r in series for t in r.timestamps})
            rows = [[dict(zip(r.timestamps, r.values)).get(t, 0.0) for t in grid] for r in series]
            axes.stackplot([_dt(t) for t in grid], rows, labels=[r.label for r in series],
                           colors=[colors[r.id + r.label] for r in series], alpha=0.8)
        else:
            for result in series:
                axes.plot([_dt(t) for t in result.timestamps], result.values, label=result.label,
                          color=colors[result.id + result.label], linewidth=1.5,
                          marker="o" if len(result.values) < 3 else None, markersize=3)
    annotations = widget.get("annotations") if isinstance(widget.get("annotations"), dict) else {}
    lines = annotations.get("horizontal") or []
    for line in lines:
        axes = right if line.get("yAxis") == "right" and right is not None else left
        color = line.get("color") or "#d62728"
        value = float(line["value"])
        axes.axhline(value, color=color, linestyle="--", linewidth=1, label=line.get("label"))
        if line.get("fill") in ("above", "below"):
            bottom, top = axes.get_ylim()
            low, high = (value, max(top, value)) if line["fill"] == "above" else (min(bottom, value), value)
            axes.axhspan(low, high, color=color, alpha=0.1)
    for line in thresholds:
        left.axhline(line["value"], color="#d62728" if line["state"] == "ALARM" else "#7f7f7f",
                     linestyle="-", linewidth=2, label=f"{line['label']} threshold")
    if not drawn:
        left.text(0.5, 0.5, "No data available.", transform=left.transAxes, ha="center", va="center",
                  color="#7f7f7f")
    left.set_xlim(_dt(start), _dt(end))
    for side, axes, series in (("left", left, [r for r in drawn if r not in on_right]), ("right", right, on_right)):
        if axes is None:
            continue
        settings = (widget.get("yAxis") or {}).get(side) or {}
        marks = [float(h["value"]) for h in lines if (h.get("yAxis") or "left") == side]
        if side == "left":
            marks += [t["value"] for t in thresholds]
        low, high = settings.get("min"), settings.get("max")
        if low is not None or high is not None:
            axes.set_ylim(bottom=low, top=high)
        elif series and min([min(r.values) for r in series] + marks) >= 0:
            axes.set_ylim(bottom=0)   # CloudWatch starts a graph of positive values at zero
        if settings.get("label"):
            axes.set_ylabel(settings["label"])
    from matplotlib.dates import DateFormatter

    left.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=_zone(widget.get("timezone"))))
    left.grid(True, color="#e5e5e5", linewidth=0.8)
    for axes in (left, right):
        if axes is not None:
            axes.spines["top"].set_visible(False)
    if right is None:
        left.spines["right"].set_visible(False)
    position = (widget.get("legend") or {}).get("position", "bottom")
    handles, labels = left.get_legend_handles_labels()
    if right is not None:
        more = right.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if handles and position != "hidden":
        if position == "right":
            left.legend(handles, labels, loc="center left", bbox_to_anchor=(1.08 if right else 1.0, 0.5),
                        fontsize=8, frameon=False)
        else:
            left.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12),
                        ncol=min(len(handles), 4), fontsize=8, frameon=False)
    figure.tight_layout()


def _zone(text: str | None) -> timezone:
    """A widget's timezone, "+HHMM" or "-HHMM" (UTC otherwise), as CloudWatch takes it."""
    match = re.match(r"^([+-])(\d{2}):?(\d{2})$", text or "")
    if not match:
        return timezone.utc
    offset = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return timezone(-offset if match.group(1) == "-" else offset)


def _numbers(figure, widget, results, options) -> None:
    _title(figure, widget)
    shown = results or []
    if not shown:
        figure.text(0.5, 0.5, "No data available.", ha="center", va="center", color="#7f7f7f")
        return
    columns = min(len(shown), 4)
    rows = math.ceil(len(shown) / columns)
    for i, result in enumerate(shown):
        x = (i % columns + 0.5) / columns
        y = 1 - (i // columns + 0.55) / (rows + 0.2)
        figure.text(x, y + 0.12 / rows, result.label, ha="center", va="center", fontsize=10, color="#444444")
        value = _number(result.values[-1]) if result.values else "-"
        figure.text(x, y - 0.08 / rows, value, ha="center", va="center", fontsize=28 if rows == 1 else 18,
                    color=_color(i, options.get(result.id, {})), fontweight="bold")


def _totals(figure, widget, results, options, view: str) -> None:
    axes = figure.add_subplot(1, 1, 1)
    _title(figure, widget)
    shown = [r for r in results if r.values]
    labels = [r.label for r in shown]
    values = [r.values[-1] for r in shown]
    colors = [_color(i, options.get(r.id, {})) for i, r in enumerate(shown)]
    if not shown:
        axes.text(0.5, 0.5, "No data available.", transform=axes.transAxes, ha="center", va="center")
        axes.set_axis_off()
    elif view == "pie":
        axes.pie([max(v, 0.0) for v in values], labels=labels, colors=colors, autopct="%1.0f%%")
    else:
        axes.bar(labels, values, color=colors)
        axes.grid(True, axis="y", color="#e5e5e5")
    figure.tight_layout()


def _number(value: float) -> str:
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)

