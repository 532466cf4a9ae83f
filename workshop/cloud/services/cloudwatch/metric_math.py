"""CloudWatch metric math: the expressions of an alarm's Metrics list, of GetMetricData
and of dashboard widgets evaluated over per-period values (``MathEvaluator``), and
``check_expressions``, which put_metric_alarm uses to refuse a list that cannot drive an alarm."""

from __future__ import annotations

import ast
import functools
import math
import re
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
    """CloudWatch metric math over per-period values: arithmetic, comparisons and
    AND/OR/NOT (1 or 0), IF, ABS, CEIL, FLOOR, SQRT, LOG, LOG10, EXP, FILL (a value,
    REPEAT, LINEAR), AVG, MIN, MAX, SUM, STDDEV, RATE, DIFF, DIFF_TIME, PERIOD,
    RUNNING_SUM, METRICS() and ANOMALY_DETECTION_BAND. ``times``: each period's
    start in seconds (RATE and DIFF_TIME divide by them), else ``period`` apart."""

    def __init__(self, values: dict[str, Any], metric_series: dict[str, list], length: int,
                 period: float = 60.0, times: list[float] | None = None):
        self.values = values
        self.metric_series = metric_series
        self.length = length
        self.period = float(period)
        self.times = times if times is not None else [i * self.period for i in range(length)]

    def evaluate(self, expression: str):
        return self._eval(_parse(expression.strip()))

    def _eval(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in self.values and node.id.upper() in ("REPEAT", "LINEAR"):
                return node.id.upper()   # FILL's keywords
            if node.id not in self.values:
                raise MathError(f"unknown id {node.id}")
            return self.values[node.id]
        if isinstance(node, ast.List):
            return tuple(self._eval(e) for e in node.elts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self._map(self._eval(node.operand), lambda v: -v)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            return self._eval(node.operand)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._map(self._eval(node.operand), lambda v: 0.0 if v else 1.0)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            compare = {ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b, ast.Lt: lambda a, b: a < b,
                       ast.LtE: lambda a, b: a <= b, ast.Eq: lambda a, b: a == b,
                       ast.NotEq: lambda a, b: a != b}.get(type(node.ops[0]))
            if compare is None:
                raise MathError("unsupported comparison")
            return self._combine(self._eval(node.left), self._eval(node.comparators[0]),
                                 lambda a, b: 1.0 if compare(a, b) else 0.0)
        if isinstance(node, ast.BoolOp):
            both = isinstance(node.op, ast.And)
            result = self._eval(node.values[0])
            for operand in node.values[1:]:
                result = self._combine(result, self._eval(operand),
                                       (lambda a, b: 1.0 if a and b else 0.0) if both
                                       else (lambda a, b: 1.0 if a or b else 0.0))
            return result
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
        if name in _UNARY:
            self._arity(name, args, 1)
            fn = _UNARY[name]
            return self._map(args[0], lambda v: _safe(fn, v))
        if name == "IF":
            if len(args) not in (2, 3):
                raise MathError("IF takes a condition, a value if true and optionally a value if false")
            condition, yes = args[0], args[1]
            no = args[2] if len(args) == 3 else None
            return self._select(condition, yes, no)
        if name in ("RATE", "DIFF", "DIFF_TIME", "RUNNING_SUM"):
            self._arity(name, args, 1)
            return self._over_time(name, args[0])
        if name == "PERIOD":
            self._arity(name, args, 1)
            return self._map(args[0], lambda v: self.period)
        if name == "FILL":
            if len(args) != 2:
                raise MathError("FILL takes a metric and a value, REPEAT or LINEAR")
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
        if isinstance(fill, str) and fill.upper() == "LINEAR":
            known = [i for i, v in enumerate(series) if v is not None]
            out = list(series)
            for a, b in zip(known, known[1:]):
                for i in range(a + 1, b):
                    out[i] = series[a] + (series[b] - series[a]) * (i - a) / (b - a)
            return out
        if isinstance(fill, str) and fill.upper() == "REPEAT":
            out, last = [], None
            for v in series:
                last = v if v is not None else last
                out.append(last)
            return out
        return [v if v is not None else fill for v in series]

    @staticmethod
    def _arity(name: str, args: list, n: int) -> None:
        if len(args) != n:
            raise MathError(f"{name} takes {n} argument{'s' if n != 1 else ''}")

    def _select(self, condition, yes, no):
        if isinstance(condition, tuple) or isinstance(yes, tuple) or isinstance(no, tuple):
            raise MathError("IF works on single time series")
        if not isinstance(condition, list):
            return (yes if condition else no)
        rows = [v if isinstance(v, list) else [v] * self.length for v in (yes, no)]
        return [None if c is None else (rows[0][i] if c else rows[1][i]) for i, c in enumerate(condition)]

    def _over_time(self, name: str, value):
        if isinstance(value, tuple):
            return tuple(self._over_time(name, v) for v in value)
        if not isinstance(value, list):
            raise MathError(f"{name} needs a time series")
        out: list = []
        previous: int | None = None
        total = 0.0
        for i, v in enumerate(value):
            if v is None:
                out.append(None)
                continue
            if name == "RUNNING_SUM":
                total += v
                out.append(total)
            elif previous is None:
                out.append(None)
            else:
                gap = self.times[i] - self.times[previous]
                if name == "DIFF":
                    out.append(v - value[previous])
                elif name == "DIFF_TIME":
                    out.append(gap)
                else:   # RATE: change per second
                    out.append((v - value[previous]) / gap if gap else None)
            previous = i
        return out

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


_UNARY = {"ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor, "SQRT": math.sqrt, "LOG": math.log,
          "LOG10": math.log10, "EXP": math.exp}


def _safe(fn, v):
    try:
        return float(fn(v))
    except (ValueError, OverflowError):
        return None   # CloudWatch leaves a point it cannot compute out


# CloudWatch's logical operators in Python's words (the expression is parsed by ast).
_WORDS = [(re.compile(r"&&"), " and "), (re.compile(r"\|\|"), " or "),
          (re.compile(r"!(?!=)"), " not "), (re.compile(r"\bAND\b"), " and "),
          (re.compile(r"\bOR\b"), " or "), (re.compile(r"\bNOT\b"), " not ")]


@functools.lru_cache(maxsize=1024)
def _parse(expression: str) -> ast.expr:
    # Once per expression, and one at a time: CPython 3.11 before 3.11.9 can fail
    # ast.parse in two threads at once ("AST constructor recursion depth mismatch").
    with _parse_lock:
        text = expression
        for pattern, word in _WORDS:
            text = pattern.sub(word, text)
        try:
            return ast.parse(text.strip(), mode="eval").body
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
