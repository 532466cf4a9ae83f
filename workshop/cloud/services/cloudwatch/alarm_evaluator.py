"""The alarm evaluator: the engine that moves CloudWatch alarms between OK,
ALARM and INSUFFICIENT_DATA from the data points in moto's metric store. It
talks to backends and the clock only, never to requests.

The workshop clock rule: the waits AWS imposes are divided by the time scale;
timestamps are wall-clock. Data points keep the timestamps they were put with.
An alarm's period P lasts ``clock.real_seconds(P)`` here, and so does each of
the N periods of its evaluation window: at time scale 60 a 60-second period
is one real second, and "the last 3 periods" are the data points stamped in
the last 3 real seconds. Reasons and history show these real timestamps.

An evaluation, as AWS does it ("Evaluating an alarm", CloudWatch user guide):
- a metric alarm is evaluated every min(P, 60) AWS seconds, on the boundaries
  of that interval (wall clock); its periods end at the last boundary, so only
  complete periods count; a look that comes late (a loaded machine, held data
  points) evaluates each boundary it missed in turn (up to MAX_CATCH_UP);
- the evaluation range is N + 2 periods (the guide's example retrieves 5 for
  N = 3); each period's data points are aggregated with the statistic
  (SampleCount, Average, Sum, Minimum, Maximum, pNN, tmNN, tcNN, tsNN, wmNN,
  IQM) or, for a Metrics list, the math expression; a period without data is
  missing;
- with at least N real data points in the range, the most recent N decide:
  ALARM when at least M (DatapointsToAlarm, default N) breach, else OK, and
  TreatMissingData is not consulted; with fewer, the shortfall is filled as
  TreatMissingData says (breaching, notBreaching), or for ``missing`` the
  alarm goes INSUFFICIENT_DATA when the range holds no data at all, and
  ``ignore`` keeps the state; the guide's "premature alarm" rule (fewer than M
  real points, the oldest breaching one at least M periods old, only breaching
  or missing after it) goes ALARM (``missing``) or keeps the state (``ignore``);
  metrics in AWS/DynamoDB always ignore missing data;
- percentiles with EvaluateLowSampleCountPercentile=ignore keep the state while
  the window has fewer than 10/(1-p) samples (10/p below p50);
- anomaly detection bands (ANOMALY_DETECTION_BAND) are an approximation of
  AWS's trained model: mean +/- k standard deviations of the metric's previous
  60 periods.

Alarm kinds plug in through ``register_alarm_type(name, interval, evaluate)``:
the loop, the schedule and the state recording (``models.change_state``: history,
actions, listeners) are shared. Composite alarms go here as "CompositeAlarm"
(``models.alarm_type`` names an alarm with an AlarmRule so), evaluated from their
children's states, and can be re-evaluated at once on ``cloudwatch.alarm-state-changed``.

Data points on their way (``expect_data`` / ``landing``): the cloud's own metrics
(Lambda's) are stamped when the request arrived, as AWS stamps them, and land when
it ends: on a loaded machine, seconds later. A period is evaluated only once every
data point stamped in it has landed (each account waits for its own, at most
MAX_HOLD real seconds), so a late point is never skipped by an evaluation that
already closed its period. ``evaluated_through`` lets an engine (a canary at the
end of its bake) wait until its alarms have seen every period begun before a moment.

The thread starts with the cloud and sleeps while no alarm exists; a put
or set_alarm_state wakes it. It imports moto only once woken.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from workshop.cloud import services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudwatch.metric_math import BAND_TRAINING_PERIODS, Band, MathError, MathEvaluator  # noqa: F401
from workshop.cloud.services.cloudwatch.period_stats import aggregate, parse_extended_statistic  # noqa: F401

log = logging.getLogger(__name__)

EXTRA_PERIODS = 2            # evaluation range = N + 2 periods
MAX_SLEEP = 2.0              # real seconds: a change of time scale is followed this soon
MIN_INTERVAL = 0.05          # real seconds between evaluations of one alarm, at any scale
MAX_HOLD = 15.0              # real seconds a period waits for data points still on their way
HOLD_POLL = 0.05             # real seconds between looks while a period waits for them
MAX_CATCH_UP = 10            # periods a late look evaluates one by one (older ones: only in its range)


# -- alarm kinds ----------------------------------------------------------------
@dataclass
class Outcome:
    """What an evaluation decided: a state (None: keep the current one) and why."""
    state: str | None
    reason: str = ""
    reason_data: str | None = None


@dataclass
class AlarmType:
    interval: Callable[[Any], float]                         # AWS seconds between evaluations
    evaluate: Callable[[Any, Any, float], Outcome | None]    # (backend, alarm, window end) -> outcome


_ALARM_TYPES: dict[str, AlarmType] = {}


def register_alarm_type(name: str, interval: Callable[[Any], float],
                        evaluate: Callable[[Any, Any, float], Outcome | None]) -> None:
    _ALARM_TYPES[name] = AlarmType(interval, evaluate)


# -- data points on their way ------------------------------------------------------
_landing_lock = threading.Lock()
_landing: dict[tuple[str, str], dict[int, float]] = {}   # (account, region) -> {token: stamp}
_landing_keys: dict[int, tuple[str, str]] = {}
_landing_tokens = iter(range(1, 1 << 62))


def expect_data(account_id: str, region: str, stamp: float) -> int:
    """Hold this account's and region's periods from ``stamp`` on (wall clock) until
    ``data_landed(token)``: data points stamped so are on their way to the metric store."""
    key = (account_id, region)
    with _landing_lock:
        token = next(_landing_tokens)
        _landing.setdefault(key, {})[token] = stamp
        _landing_keys[token] = key
    return token


def data_landed(token: int) -> None:
    with _landing_lock:
        key = _landing_keys.pop(token, None)
        held = _landing.get(key, {})
        held.pop(token, None)
        if key is not None and not held:
            _landing.pop(key, None)


@contextmanager
def landing(account_id: str, region: str, stamp: float) -> Iterator[float]:
    """``expect_data`` for the duration of a block (the block puts the data points)."""
    token = expect_data(account_id, region, stamp)
    try:
        yield stamp
    finally:
        data_landed(token)


def _oldest_landing(account_id: str, region: str) -> float | None:
    with _landing_lock:
        held = _landing.get((account_id, region))
        return min(held.values()) if held else None


# -- the engine -----------------------------------------------------------------
class AlarmEvaluator:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._progress = threading.Condition()   # notified after every tick
        self._thread: threading.Thread | None = None
        self._woken = False
        self._stopping = False

    def start(self) -> None:
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self.start()
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        delay: float | None = None  # None: no alarms anywhere, sleep until woken
        while True:
            with self._cond:
                if not self._woken and not self._stopping:
                    self._cond.wait(delay)
                if self._stopping:
                    return
                self._woken = False
            try:
                delay = self.tick()
            except Exception:  # the engine must outlive any one bad alarm or race
                log.exception("alarm evaluation failed")
                delay = MAX_SLEEP

    def tick(self, now: float | None = None) -> float | None:
        """Evaluate every alarm whose window has moved on; the real seconds until
        the next one is due (None when there are no alarms at all)."""
        from workshop.cloud.services.cloudwatch import models

        clock = get_clock()
        now = clock.timestamp() if now is None else now
        next_due: float | None = None
        for backend in _backends():
            alarms = list(getattr(backend, "alarms", {}).values())
            if not alarms:
                continue
            # Data points stamped at `held` or later are still on their way: their periods wait.
            held = _oldest_landing(getattr(backend, "account_id", ""), getattr(backend, "region_name", ""))
            if held is not None and now - held > MAX_HOLD:
                held = None   # an invocation that long: evaluate with what has landed, as AWS would
            for alarm in alarms:
                kind = _ALARM_TYPES.get(models.alarm_type(alarm))
                if kind is None:
                    continue
                interval = max(clock.real_seconds(kind.interval(alarm)), MIN_INTERVAL)
                grace = min(0.1 * interval, 0.25)  # let data points stamped just before the boundary land
                end = math.floor((now - grace) / interval) * interval
                due = end + interval + grace
                if held is not None and end > held:
                    end = math.floor(held / interval) * interval
                    due = now + HOLD_POLL   # look again soon: the points are about to land
                done = alarm.__dict__.get("_evaluated_until")
                if done is None:
                    # First sight (a new or replaced alarm): evaluate from the next boundary on.
                    alarm._evaluated_until = end
                elif end > done:
                    # One evaluation a period, as on AWS: a late look (a loaded machine, or data
                    # points held while an invocation ran) catches up on the periods it missed,
                    # or a breaching period followed by a quiet one would be jumped over.
                    missed = max(1, min(MAX_CATCH_UP, math.floor((end - done) / interval + 1e-6)))
                    for back in range(missed - 1, -1, -1):
                        self._evaluate(models, backend, alarm, kind, end - back * interval)
                        alarm._evaluated_until = end - back * interval   # after: a waiter sees its state
                next_due = due if next_due is None else min(next_due, due)
        with self._progress:
            self._progress.notify_all()
        if next_due is None:
            return None
        return min(max(next_due - clock.timestamp(), 0.0), MAX_SLEEP)

    def evaluated_through(self, account_id: str, region: str, names: Iterable[str], until: float,
                          stop: threading.Event | None = None, limit: float = 2 * MAX_HOLD) -> bool:
        """Wait until each named alarm has been evaluated over every period that began before
        ``until`` (wall clock), their data points landed; False if ``stop`` was set or ``limit``
        real seconds passed first. Alarms that do not exist are not waited for."""
        from moto.cloudwatch.models import cloudwatch_backends

        from workshop.cloud.services.cloudwatch import models

        clock = get_clock()
        backend = cloudwatch_backends[account_id][region]
        deadline = time.monotonic() + limit
        names = list(names)
        while True:
            behind = False
            for name in names:
                alarm = getattr(backend, "alarms", {}).get(name)
                kind = _ALARM_TYPES.get(models.alarm_type(alarm)) if alarm is not None else None
                if kind is None:
                    continue
                interval = max(clock.real_seconds(kind.interval(alarm)), MIN_INTERVAL)
                boundary = math.ceil(until / interval) * interval
                if (alarm.__dict__.get("_evaluated_until") or 0.0) < boundary:
                    behind = True
            if not behind:
                return True
            if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                return False
            self.wake()
            with self._progress:
                self._progress.wait(HOLD_POLL)

    @staticmethod
    def _evaluate(models, backend, alarm, kind: AlarmType, end: float) -> None:
        before = alarm.state_value
        try:
            outcome = kind.evaluate(backend, alarm, end)
        except Exception:
            if not alarm.__dict__.get("_evaluation_failed"):  # once per alarm, not every period
                alarm._evaluation_failed = True
                log.exception("evaluating alarm %s failed", getattr(alarm, "name", "?"))
            return
        if outcome is None or outcome.state is None or outcome.state == before:
            return
        models.change_state(backend, alarm, outcome.state, outcome.reason, outcome.reason_data,
                            expect=before)


def _backends():
    from moto.cloudwatch.models import cloudwatch_backends

    # dict's own views: BackendDict's lookups would create backends for every region.
    for account_backends in list(dict.values(cloudwatch_backends)):
        yield from list(dict.values(account_backends))


_engine = AlarmEvaluator()


@services.on("cloudwatch.alarm-changed")
def wake() -> None:
    """Something changed (an alarm was put or its state set): plan again."""
    _engine.wake()


def engine() -> AlarmEvaluator:
    return _engine


def evaluated_through(account_id: str, region: str, names: Iterable[str], until: float,
                      stop: threading.Event | None = None) -> bool:
    """The engine's ``evaluated_through``: for engines that must not act before an alarm has seen a moment."""
    return _engine.evaluated_through(account_id, region, names, until, stop)


# -- metric alarms ----------------------------------------------------------------
def metric_alarm_interval(alarm) -> float:
    from workshop.cloud.services.cloudwatch.models import metric_period

    return float(min(metric_period(alarm), 60))


def evaluate_metric_alarm(backend, alarm, end: float) -> Outcome | None:
    from workshop.cloud.services.cloudwatch import models

    clock = get_clock()
    period = models.metric_period(alarm)
    width = max(clock.real_seconds(period), 1e-6)
    n = int(alarm.evaluation_periods)
    m = int(alarm.datapoints_to_alarm or n)
    count = n + EXTRA_PERIODS
    series = alarm_series(backend, alarm, end, width, count)
    treat = alarm.treat_missing_data or "missing"
    if alarm.namespace == "AWS/DynamoDB":
        treat = "ignore"  # AWS: alarms on AWS/DynamoDB metrics always ignore missing data

    if _low_sample_count(alarm, series, n):
        return None
    flags = [None if s.value is None else breaches(alarm, s) for s in series.slots]
    decision = decide(flags, n, m, treat)
    if decision.state is None:
        return None
    reason, data = explain(alarm, series, decision, n, m, treat, period, clock.timestamp())
    return Outcome(decision.state, reason, data)


register_alarm_type("MetricAlarm", metric_alarm_interval, evaluate_metric_alarm)


@dataclass
class Slot:
    start: float                  # wall-clock seconds
    value: float | None = None    # None: missing
    samples: float = 0.0
    lower: float | None = None    # an anomaly detection band, when the alarm has one
    upper: float | None = None


@dataclass
class Series:
    slots: list[Slot]
    statistic: str | None = None


def alarm_series(backend, alarm, end: float, width: float, count: int) -> Series:
    """The alarm's value per period over the evaluation range (oldest first)."""
    from workshop.cloud.services.cloudwatch import models

    index = metric_index(backend)
    queries = getattr(alarm, "metrics", None) or []
    if not queries:
        stat = alarm.extended_statistic or alarm.statistic
        dims = models.dimension_key(models.alarm_dimensions(alarm))
        buckets = index.buckets(alarm.namespace, alarm.metric_name, dims, alarm.unit, end, width, count)
        slots = []
        for i, bucket in enumerate(buckets):
            value, samples = aggregate(bucket, stat)
            slots.append(Slot(end - (count - i) * width, value, samples))
        return Series(slots, stat)

    band_id = alarm.threshold_metric_id
    total = count + (BAND_TRAINING_PERIODS if band_id else 0)
    values: dict[str, Any] = {}
    samples = [0.0] * total
    stats: dict[str, list] = {}
    for query in queries:
        stat_spec = query.get("MetricStat")
        if not stat_spec:
            continue
        metric = stat_spec.get("Metric", {})
        dims = models.dimension_key(metric.get("Dimensions", []))
        buckets = index.buckets(metric.get("Namespace"), metric.get("MetricName"), dims,
                                stat_spec.get("Unit"), end, width, total)
        row = []
        for i, bucket in enumerate(buckets):
            value, n_samples = aggregate(bucket, stat_spec.get("Stat"))
            row.append(value)
            samples[i] = max(samples[i], n_samples)
        stats[query["Id"]] = row
    values.update(stats)
    evaluator = MathEvaluator(values, stats, total)
    for query in queries:  # expressions may use the ids of earlier ones
        if query.get("Expression"):
            values[query["Id"]] = evaluator.evaluate(query["Expression"])
    returning = next(q["Id"] for q in queries
                     if q.get("ReturnData", True) and q["Id"] != band_id)
    result = values[returning]
    if not isinstance(result, list):
        result = [result] * total
    band = values.get(band_id) if band_id else None
    slots = []
    for i in range(total - count, total):
        slot = Slot(end - (total - i) * width, _number(result[i]), samples[i])
        if isinstance(band, Band):
            slot.lower, slot.upper = band.lower[i], band.upper[i]
            if slot.lower is None:
                slot.value = None  # no model yet: nothing to compare with
        slots.append(slot)
    return Series(slots, None)


def _number(value) -> float | None:
    if value is None or isinstance(value, (list, tuple, Band)):
        return None
    return float(value)


def breaches(alarm, slot: Slot) -> bool:
    op, value = alarm.comparison_operator, slot.value
    if op == "GreaterThanOrEqualToThreshold":
        return value >= alarm.threshold
    if op == "GreaterThanThreshold":
        return value > alarm.threshold
    if op == "LessThanThreshold":
        return value < alarm.threshold
    if op == "LessThanOrEqualToThreshold":
        return value <= alarm.threshold
    if op == "LessThanLowerOrGreaterThanUpperThreshold":
        return value < slot.lower or value > slot.upper
    if op == "LessThanLowerThreshold":
        return value < slot.lower
    if op == "GreaterThanUpperThreshold":
        return value > slot.upper
    raise ValueError(f"unknown comparison operator {op}")


def _low_sample_count(alarm, series: Series, n: int) -> bool:
    if (alarm.evaluate_low_sample_count_percentile or "evaluate") != "ignore":
        return False
    parsed = parse_extended_statistic(alarm.extended_statistic or "")
    if parsed is None or parsed[0] != "p":
        return False
    q = parsed[1]
    needed = 10 / (1 - q) if q >= 0.5 and q < 1 else (10 / q if q > 0 else math.inf)
    return sum(s.samples for s in series.slots[-n:]) < needed


# -- the decision (pure: the guide's tables are its tests) ------------------------
@dataclass
class Decision:
    state: str | None                 # None: keep the current state
    evaluated: list[int] = field(default_factory=list)  # slot indexes of the real points used
    filled: int = 0                   # missing points filled in as TreatMissingData says
    treated_as: str | None = None     # "Breaching" | "NonBreaching" for the filled ones
    premature: bool = False


def decide(flags: list[bool | None], n: int, m: int, treat: str) -> Decision:
    """The state from the evaluation range: one flag per period, oldest first
    (True breaching, False not, None missing)."""
    real = [i for i, flag in enumerate(flags) if flag is not None]
    if len(real) >= n:
        used = real[-n:]
        breaching = sum(1 for i in used if flags[i])
        return Decision("ALARM" if breaching >= m else "OK", used)
    filled = n - len(real)
    breaching = sum(1 for i in real if flags[i])
    if treat == "breaching":
        return Decision("ALARM" if breaching + filled >= m else "OK", real, filled, "Breaching")
    if treat == "notBreaching":
        return Decision("ALARM" if breaching >= m else "OK", real, filled, "NonBreaching")
    # missing / ignore
    if not real:
        return Decision("INSUFFICIENT_DATA" if treat == "missing" else None, [], filled)
    if breaching >= m:
        return Decision("ALARM", real)
    if len(real) < m and _premature_alarm(flags[-n:], m):
        return Decision("ALARM" if treat == "missing" else None, real, premature=True)
    return Decision("OK", real)


def _premature_alarm(window: list[bool | None], m: int) -> bool:
    """The oldest breaching point of the last N periods is at least M periods old
    and every real point after it breaches too."""
    for i, flag in enumerate(window):
        if flag:
            age = len(window) - i
            return age >= m and all(f is not False for f in window[i + 1:])
    return False


# -- reasons in AWS's words --------------------------------------------------------
_PHRASES = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside the band",
    "LessThanLowerThreshold": "less than the lower thresholds",
    "GreaterThanUpperThreshold": "greater than the upper thresholds",
}


def explain(alarm, series: Series, decision: Decision, n: int, m: int, treat: str,
            period: int, now: float) -> tuple[str, str]:
    slots = series.slots
    if decision.state == "INSUFFICIENT_DATA":
        reason = f"Insufficient Data: {_count(n, 'datapoint')} {_was(n)} unknown."
    else:
        alarming = decision.state == "ALARM"
        matching = [i for i in decision.evaluated
                    if breaches(alarm, slots[i]) == alarming]
        matching.reverse()  # newest first, as AWS lists them
        listed = ", ".join(f"{_fmt(slots[i].value)} ({_date(slots[i].start)})" for i in matching)
        verb = _phrase(alarm, alarming)
        threshold = _threshold_text(alarm, slots)
        if decision.filled and not decision.evaluated:
            reason = (f"Threshold Crossed: no datapoints were received for {_count(decision.filled, 'period')}"
                      f" and {_count(decision.filled, 'missing datapoint')} {_was(decision.filled)} "
                      f"treated as [{decision.treated_as}].")
        else:
            k = len(matching)
            if alarm.datapoints_to_alarm is None and n == 1 and not decision.filled:
                reason = f"Threshold Crossed: 1 datapoint [{listed}] was {verb} {threshold}."
            else:
                old = alarm.state_value
                minimum = m if alarming else n - m + 1
                reason = (f"Threshold Crossed: {k} out of the last {n} datapoints [{listed}] "
                          f"{_was(k)} {verb} {threshold}")
                if decision.filled and decision.treated_as:
                    reason += (f" and {_count(decision.filled, 'missing datapoint')} "
                               f"{_was(decision.filled)} treated as [{decision.treated_as}]")
                reason += (f" (minimum {_count(minimum, 'datapoint')} for "
                           f"{old} -> {decision.state} transition).")
    evaluated = [slots[i] for i in decision.evaluated]
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(now),
                            "startDate": _iso(slots[-n].start if len(slots) >= n else slots[0].start)}
    if series.statistic:
        data["statistic"] = series.statistic
    data["period"] = period
    if alarm.unit:
        data["unit"] = alarm.unit
    data["recentDatapoints"] = [s.value for s in evaluated]
    if alarm.threshold is not None:
        data["threshold"] = alarm.threshold
    data["evaluatedDatapoints"] = [
        {"timestamp": _iso(s.start), "sampleCount": s.samples, "value": s.value}
        for s in reversed(evaluated)]
    return reason, json.dumps(data)


def _phrase(alarm, alarming: bool) -> str:
    phrase = _PHRASES[alarm.comparison_operator]
    if alarm.comparison_operator in ("LessThanLowerThreshold", "GreaterThanUpperThreshold"):
        return phrase.split(" the ")[0] if alarming else "not " + phrase.split(" the ")[0]
    if alarm.comparison_operator == "LessThanLowerOrGreaterThanUpperThreshold":
        return "outside" if alarming else "not outside"
    return phrase if alarming else f"not {phrase}"


def _threshold_text(alarm, slots: list[Slot]) -> str:
    if alarm.threshold is not None:
        return f"the threshold ({_fmt(alarm.threshold)})"
    latest = slots[-1]
    return f"the band ({_fmt(latest.lower)}, {_fmt(latest.upper)})"


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def _was(k: int) -> str:
    return "was" if k == 1 else "were"


def _fmt(value) -> str:
    return "null" if value is None else repr(float(value))


def _date(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%d/%m/%y %H:%M:%S")


def _iso(ts: float) -> str:
    value = datetime.fromtimestamp(ts, timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


# -- the metric store, indexed ---------------------------------------------------------
class MetricIndex:
    """moto's metric_data (append-only until a reset), indexed by namespace and name;
    kept up to date incrementally so an evaluation does not scan every data point."""

    def __init__(self) -> None:
        self.source: list | None = None
        self.position = 0
        self.points: dict[tuple[str, str], list[tuple[float, frozenset, Any, Any]]] = {}

    def update(self, data: list) -> None:
        if data is not self.source or len(data) < self.position:
            self.source, self.position, self.points = data, 0, {}
        stop = len(data)
        for datum in data[self.position:stop]:
            key = (datum.namespace, datum.name)
            dims = frozenset((d.name, d.value) for d in datum.dimensions or [])
            self.points.setdefault(key, []).append((_epoch(datum.timestamp), dims, datum.unit, datum))
        self.position = stop

    def buckets(self, namespace: str, name: str, dims: frozenset, unit: str | None,
                end: float, width: float, count: int) -> list[list]:
        start = end - count * width
        out: list[list] = [[] for _ in range(count)]
        for ts, point_dims, point_unit, datum in self.points.get((namespace, name), ()):
            if ts < start or ts >= end or point_dims != dims:
                continue
            if unit and point_unit != unit:
                continue
            i = min(int((ts - start) // width), count - 1)
            out[i].append(datum)
        return out


def metric_index(backend) -> MetricIndex:
    index = backend.__dict__.get("_workshop_metric_index")
    if index is None:
        index = backend.__dict__.setdefault("_workshop_metric_index", MetricIndex())
    index.update(getattr(backend, "metric_data", []))
    return index


def _epoch(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


# Started with the cloud (an EAGER module); it sleeps until the first alarm.
_engine.start()
