"""CloudWatch metric math: the expressions of an alarm's Metrics list evaluated
over per-period values (``MathEvaluator``), and ``check_expressions``, which
put_metric_alarm uses to refuse a list that cannot drive an alarm."""

from __future__ import annotations

import ast
import functools
import math
import threading
from dataclasses import dataclass
from typing import Any

BAND_TRAINING_PERIODS = 60   # history an anomaly detection band is fitted on


@dataclass
class Band:
    lower: list
    upper: list


class MathError(ValueError):
    pass


class MathEvaluator:
    """CloudWatch metric math over per-period values: arithmetic, ABS, CEIL, FLOOR,
    FILL, AVG, MIN, MAX, SUM, STDDEV, METRICS() and ANOMALY_DETECTION_BAND."""

    def __init__(self, values: dict[str, Any], metric_series: dict[str, list], length: int):
        self.values = values
        self.metric_series = metric_series
        self.length = length

    def evaluate(self, expression: str):
        return self._eval(_parse(expression.strip()))

    def _eval(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in self.values:
                raise MathError(f"unknown id {node.id}")
            return self.values[node.id]
        if isinstance(node, ast.List):
            return tuple(self._eval(e) for e in node.elts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self._map(self._eval(node.operand), lambda v: -v)
        if isinstance(node, ast.BinOp):
            ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                   ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b if b else None,
                   ast.Pow: lambda a, b: a ** b}
            op = ops.get(type(node.op))
            if op is None:
                raise MathError("unsupported operator")
            return self._combine(self._eval(node.left), self._eval(node.right), op)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [self._eval(a) for a in node.args]
            return self._call(node.func.id.upper(), args)
        raise MathError("unsupported expression")

    def _call(self, name: str, args: list):
        if name == "METRICS":
            text = args[0] if args else ""
            return tuple(series for qid, series in self.metric_series.items() if text in qid)
        if name in ("ABS", "CEIL", "FLOOR"):
            fn = {"ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor}[name]
            return self._map(args[0], lambda v: float(fn(v)))
        if name == "FILL":
            fill = args[1]
            if isinstance(args[0], tuple):
                return tuple(self._fill(s, fill) for s in args[0])
            return self._fill(args[0], fill)
        if name in ("SUM", "AVG", "MIN", "MAX", "STDDEV"):
            reduce = {"SUM": sum, "AVG": lambda v: sum(v) / len(v), "MIN": min, "MAX": max,
                      "STDDEV": _stddev}[name]
            arg = args[0] if len(args) == 1 else tuple(args)
            if isinstance(arg, tuple):  # an array of series: one value per period
                rows = [s if isinstance(s, list) else [s] * self.length for s in arg]
                out = []
                for i in range(self.length):
                    present = [r[i] for r in rows if r[i] is not None]
                    out.append(reduce(present) if present else None)
                return out
            if isinstance(arg, list):  # one series: one value over time
                present = [v for v in arg if v is not None]
                return reduce(present) if present else None
            return arg
        if name == "ANOMALY_DETECTION_BAND":
            k = float(args[1]) if len(args) > 1 else 2.0
            return _band(args[0] if isinstance(args[0], list) else [args[0]] * self.length, k)
        raise MathError(f"unsupported function {name}")

    def _fill(self, series, fill):
        if not isinstance(series, list):
            return series
        if isinstance(fill, str) and fill.upper() == "REPEAT":
            out, last = [], None
            for v in series:
                last = v if v is not None else last
                out.append(last)
            return out
        return [v if v is not None else fill for v in series]

    def _map(self, value, fn):
        if isinstance(value, tuple):
            return tuple(self._map(v, fn) for v in value)
        if isinstance(value, list):
            return [None if v is None else fn(v) for v in value]
        return None if value is None else fn(value)

    def _combine(self, a, b, op):
        if isinstance(a, tuple) or isinstance(b, tuple):
            left = a if isinstance(a, tuple) else (a,) * len(b)
            right = b if isinstance(b, tuple) else (b,) * len(left)
            return tuple(self._combine(x, y, op) for x, y in zip(left, right))
        if isinstance(a, list) or isinstance(b, list):
            left = a if isinstance(a, list) else [a] * self.length
            right = b if isinstance(b, list) else [b] * self.length
            return [None if x is None or y is None else op(x, y) for x, y in zip(left, right)]
        return None if a is None or b is None else op(a, b)


_parse_lock = threading.Lock()


@functools.lru_cache(maxsize=1024)
def _parse(expression: str) -> ast.expr:
    # Once per expression, and one at a time: CPython 3.11 before 3.11.9 can fail
    # ast.parse in two threads at once ("AST constructor recursion depth mismatch").
    with _parse_lock:
        try:
            return ast.parse(expression, mode="eval").body
        except SyntaxError as exc:
            raise MathError(f"cannot parse expression {expression!r}") from exc


def check_expressions(queries: list[dict], band_id: str | None = None) -> str | None:
    """Why a Metrics list cannot drive an alarm (None when it can)."""
    values: dict[str, Any] = {}
    metric_series: dict[str, list] = {}
    for query in queries:
        if query.get("MetricStat"):
            metric_series[query["Id"]] = [1.0, 2.0, 3.0, 4.0]
    values.update(metric_series)
    evaluator = MathEvaluator(values, metric_series, 4)
    for query in queries:
        if query.get("Expression"):
            try:
                values[query["Id"]] = evaluator.evaluate(query["Expression"])
            except (MathError, TypeError, IndexError, ValueError, ZeroDivisionError) as exc:
                return f"Error in expression '{query['Id']}': {exc}"
    for query in queries:
        value = values.get(query["Id"])
        if query["Id"] == band_id:
            if not isinstance(value, Band):
                return "The ThresholdMetricId must refer to an ANOMALY_DETECTION_BAND expression."
        elif isinstance(value, Band):
            return "ANOMALY_DETECTION_BAND can only be used as the alarm's ThresholdMetricId."
        elif query.get("ReturnData", True) and isinstance(value, tuple):
            return (f"The expression '{query['Id']}' returns several time series; "
                    "an alarm needs exactly one.")
    return None


def _stddev(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _band(series: list, k: float) -> Band:
    lower, upper = [], []
    for i in range(len(series)):
        history = [v for v in series[max(0, i - BAND_TRAINING_PERIODS):i] if v is not None]
        if len(history) < 3:
            lower.append(None)
            upper.append(None)
            continue
        mean = sum(history) / len(history)
        spread = k * max(_stddev(history), 0.01 * abs(mean), 1e-9)
        lower.append(mean - spread)
        upper.append(mean + spread)
    return Band(lower, upper)
