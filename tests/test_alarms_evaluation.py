"""The alarm evaluator's rules, in process: the decision against the tables of
AWS's "How alarm state is evaluated when data is missing", the statistics,
metric math, and whole evaluations of alarms on moto's backend at a chosen
window end (no cloud, no waiting)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.conftest import new_account
from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudwatch import alarm_evaluator as ev
from workshop.cloud.services.cloudwatch import models  # noqa: F401  (extends moto's backend)

MISSING, IGNORE, BREACHING, NOT_BREACHING = "missing", "ignore", "breaching", "notBreaching"
TREATMENTS = (MISSING, IGNORE, BREACHING, NOT_BREACHING)
KEEP = None  # "Retain current state"


def flags(points: str) -> list[bool | None]:
    """'0 - X - X' (oldest first) -> [False, None, True, None, True]."""
    return [{"0": False, "X": True, "-": None}[p] for p in points.split()]


# AWS user guide, "How alarm state is evaluated when data is missing": the
# evaluation range is 5, Evaluation Periods 3; columns MISSING, IGNORE,
# BREACHING, NOT BREACHING.
THREE_OF_THREE = [
    ("0 - X - X", ("OK", "OK", "OK", "OK")),
    ("0 - - - -", ("OK", "OK", "OK", "OK")),
    ("- - - - -", ("INSUFFICIENT_DATA", KEEP, "ALARM", "OK")),
    ("0 X X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("- - X - -", ("ALARM", KEEP, "ALARM", "OK")),
]
TWO_OF_THREE = [
    ("0 - X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 0 X 0 X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 - X - -", ("OK", "OK", "ALARM", "OK")),
    ("- - - - 0", ("OK", "OK", "ALARM", "OK")),
    ("- - X - -", ("ALARM", KEEP, "ALARM", "OK")),
]


@pytest.mark.parametrize("points,expected", THREE_OF_THREE)
def test_three_out_of_three_follows_the_aws_table(points, expected):
    got = tuple(ev.decide(flags(points), 3, 3, treat).state for treat in TREATMENTS)
    assert got == expected


@pytest.mark.parametrize("points,expected", TWO_OF_THREE)
def test_two_out_of_three_follows_the_aws_table(points, expected):
    got = tuple(ev.decide(flags(points), 3, 2, treat).state for treat in TREATMENTS)
    assert got == expected


@pytest.mark.parametrize("points", ["- - - - X", "- - - X -"])
def test_a_recent_lone_breach_is_not_a_premature_alarm(points):
    # The guide: with 3 of 3 these do not go to ALARM, the next point may be fine.
    assert ev.decide(flags(points), 3, 3, MISSING).state == "OK"


def test_missing_points_are_filled_only_as_often_as_needed():
    decision = ev.decide(flags("0 - X - -"), 3, 3, BREACHING)
    assert (decision.state, decision.filled, decision.evaluated) == ("OK", 1, [0, 2])


def test_enough_real_points_ignore_the_treatment_and_use_the_most_recent():
    decision = ev.decide(flags("X X 0 - 0"), 3, 1, BREACHING)
    assert decision.evaluated == [1, 2, 4]
    assert decision.state == "ALARM"
    assert ev.decide(flags("X 0 0 - 0"), 3, 1, BREACHING).state == "OK"


# -- statistics ---------------------------------------------------------------------
class Point:
    def __init__(self, value):
        self.value = value


class StatSet:
    def __init__(self, sample_count, total, low, high):
        self.sample_count, self.sum, self.min, self.max = sample_count, total, low, high


def test_statistics_of_one_period_mix_values_and_statistic_sets():
    points = [Point(1.0), Point(5.0), StatSet(2, 10.0, 2.0, 8.0)]
    assert ev.aggregate(points, "SampleCount") == (4.0, 4.0)
    assert ev.aggregate(points, "Sum") == (16.0, 4.0)
    assert ev.aggregate(points, "Average") == (4.0, 4.0)
    assert ev.aggregate(points, "Minimum") == (1.0, 4.0)
    assert ev.aggregate(points, "Maximum") == (8.0, 4.0)
    assert ev.aggregate([], "Sum") == (None, 0.0)


def test_percentiles_and_trimmed_statistics():
    points = [Point(float(v)) for v in range(1, 101)]
    assert ev.aggregate(points, "p90")[0] == 90.0
    assert ev.aggregate(points, "p99.5")[0] == 100.0
    assert ev.aggregate(points, "tm10")[0] == 5.5       # mean of 1..10
    assert ev.aggregate(points, "tc10")[0] == 10.0
    assert ev.aggregate(points, "ts10")[0] == 55.0
    assert ev.aggregate(points, "IQM")[0] == 50.5       # mean of 26..75
    assert ev.aggregate(points, "wm90")[0] == pytest.approx((sum(range(1, 91)) + 10 * 90) / 100)
    assert ev.aggregate([StatSet(3, 3.0, 1.0, 1.0)], "p50")[0] is None


def test_metric_math_over_periods():
    series = {"m1": [1.0, None, 4.0], "m2": [2.0, 2.0, 0.0]}
    math = ev.MathEvaluator(dict(series), series, 3)
    assert math.evaluate("m1 / m2 * 100") == [50.0, None, None]
    assert math.evaluate("SUM(METRICS())") == [3.0, 2.0, 4.0]
    assert math.evaluate("FILL(m1, 0) + 1") == [2.0, 1.0, 5.0]
    assert math.evaluate("MAX(m1)") == 4.0
    assert math.evaluate("ABS(-m2)") == [2.0, 2.0, 0.0]
    with pytest.raises(ev.MathError):
        math.evaluate("m3 + 1")
    with pytest.raises(ev.MathError):
        math.evaluate("__import__('os')")


# -- whole evaluations on moto's backend ------------------------------------------------
END = 1_800_000_000.0  # a window end on a whole second; periods of 60 s last 1 s at scale 60


@pytest.fixture
def backend():
    from moto.cloudwatch.models import cloudwatch_backends

    clock = get_clock()
    scale = clock.time_scale
    clock.set_time_scale(60)
    yield cloudwatch_backends[new_account()]["us-east-1"]
    clock.set_time_scale(scale)


def put(backend, value, at, name="Errors", dims=(("Fn", "a"),), unit=None, namespace="App"):
    datum = {"MetricName": name, "Value": value,
             "Timestamp": datetime.fromtimestamp(at, timezone.utc),
             "Dimensions": [{"Name": k, "Value": v} for k, v in dims]}
    if unit:
        datum["Unit"] = unit
    backend.put_metric_data(namespace, [datum])


def alarm(backend, name="a", **overrides):
    args = dict(name=name, namespace="App", metric_name="Errors", comparison_operator="GreaterThanOrEqualToThreshold",
                evaluation_periods=1, period=60, threshold=1.0, statistic="Sum", description=None,
                dimensions=[{"Name": "Fn", "Value": "a"}], alarm_actions=[])
    args.update(overrides)
    return backend.put_metric_alarm(**args)


def test_a_period_sums_its_points_and_explains_itself_like_aws(backend):
    a = alarm(backend)
    put(backend, 2.0, END - 0.7)
    put(backend, 3.0, END - 0.2)
    put(backend, 50.0, END - 1.5)  # the period before: outside the one evaluated
    outcome = ev.evaluate_metric_alarm(backend, a, END)
    assert outcome.state == "ALARM"
    assert outcome.reason == ("Threshold Crossed: 1 datapoint [5.0 (15/01/27 07:59:59)] was "
                              "greater than or equal to the threshold (1.0).")
    data = json.loads(outcome.reason_data)
    assert data["statistic"] == "Sum" and data["period"] == 60 and data["threshold"] == 1.0
    assert data["recentDatapoints"] == [5.0]
    assert data["evaluatedDatapoints"] == [
        {"timestamp": "2027-01-15T07:59:59.000+0000", "sampleCount": 2.0, "value": 5.0}]


def test_only_the_exact_dimensions_and_unit_count(backend):
    a = alarm(backend, unit="Count")
    put(backend, 9.0, END - 0.5, dims=(("Fn", "a"), ("Version", "2")), unit="Count")
    put(backend, 9.0, END - 0.5, dims=(("Fn", "b"),), unit="Count")
    put(backend, 9.0, END - 0.5, unit="Seconds")
    assert ev.evaluate_metric_alarm(backend, a, END).state == "INSUFFICIENT_DATA"
    put(backend, 0.0, END - 0.5, unit="Count")
    outcome = ev.evaluate_metric_alarm(backend, a, END)
    assert outcome.state == "OK"
    assert "was not greater than or equal to the threshold (1.0)" in outcome.reason


def test_m_out_of_n_counts_periods_of_scaled_length(backend):
    a = alarm(backend, evaluation_periods=3, datapoints_to_alarm=2)
    for value, at in ((5.0, END - 2.5), (0.0, END - 1.5), (7.0, END - 0.5)):
        put(backend, value, at)
    outcome = ev.evaluate_metric_alarm(backend, a, END)
    assert outcome.state == "ALARM"
    assert outcome.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [7.0 (")
    assert outcome.reason.endswith("(minimum 2 datapoints for INSUFFICIENT_DATA -> ALARM transition).")
    # Two periods later the range (N + 2 = 5 periods) still holds all three real points...
    assert ev.evaluate_metric_alarm(backend, a, END + 2).state == "ALARM"
    # ...three periods later the oldest has left it: 1 of the 2 left breaches.
    assert ev.evaluate_metric_alarm(backend, a, END + 3).state == "OK"


def test_a_slower_time_scale_makes_periods_longer(backend):
    a = alarm(backend, evaluation_periods=2, datapoints_to_alarm=2)
    put(backend, 5.0, END - 5.5)
    put(backend, 5.0, END - 0.5)
    assert ev.evaluate_metric_alarm(backend, a, END).state == "OK"   # 1 s periods: range of 4 s holds one
    get_clock().set_time_scale(20)                                     # 3 s periods: two, in two periods
    assert ev.evaluate_metric_alarm(backend, a, END).state == "ALARM"


def test_missing_data_treated_as_breaching_says_so(backend):
    a = alarm(backend, evaluation_periods=2, treat_missing_data="breaching")
    outcome = ev.evaluate_metric_alarm(backend, a, END)
    assert outcome.state == "ALARM"
    assert outcome.reason == ("Threshold Crossed: no datapoints were received for 2 periods and "
                              "2 missing datapoints were treated as [Breaching].")


def test_low_sample_percentiles_can_be_ignored(backend):
    a = alarm(backend, statistic=None, extended_statistic="p99", threshold=50.0,
              evaluate_low_sample_count_percentile="ignore")
    for i in range(20):
        put(backend, 100.0, END - 0.5)
    assert ev.evaluate_metric_alarm(backend, a, END) is None  # 20 < 10/(1-0.99)
    b = alarm(backend, name="b", statistic=None, extended_statistic="p99", threshold=50.0)
    assert ev.evaluate_metric_alarm(backend, b, END).state == "ALARM"


def test_a_math_alarm_evaluates_its_expression(backend):
    metrics = [
        {"Id": "errors", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "App", "MetricName": "Errors", "Dimensions": [{"Name": "Fn", "Value": "a"}]},
            "Period": 60, "Stat": "Sum"}},
        {"Id": "calls", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "App", "MetricName": "Calls", "Dimensions": [{"Name": "Fn", "Value": "a"}]},
            "Period": 60, "Stat": "Sum"}},
        {"Id": "rate", "Expression": "100 * errors / calls", "Label": "error rate"},
    ]
    a = alarm(backend, namespace=None, metric_name=None, period=None, statistic=None, dimensions=[],
              threshold=10.0, metrics=metrics)
    put(backend, 2.0, END - 0.5)
    put(backend, 40.0, END - 0.5, name="Calls")
    assert ev.evaluate_metric_alarm(backend, a, END).state == "OK"       # 5 %
    put(backend, 4.0, END - 0.5)
    assert ev.evaluate_metric_alarm(backend, a, END).state == "ALARM"    # 15 %


def test_an_anomaly_band_catches_a_spike(backend):
    metrics = [
        {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency",
                                               "Dimensions": [{"Name": "Fn", "Value": "a"}]},
                                    "Period": 60, "Stat": "Average"}},
        {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)"},
    ]
    a = alarm(backend, namespace=None, metric_name=None, period=None, statistic=None, dimensions=[],
              threshold=None, threshold_metric_id="band", comparison_operator="GreaterThanUpperThreshold",
              metrics=metrics)
    for i in range(2, 30):
        put(backend, 100.0 + (i % 3), END - i - 0.5, name="Latency")
    put(backend, 101.0, END - 0.5, name="Latency")
    assert ev.evaluate_metric_alarm(backend, a, END).state == "OK"
    put(backend, 400.0, END + 0.5, name="Latency")
    assert ev.evaluate_metric_alarm(backend, a, END + 1).state == "ALARM"


def test_alarm_states_reads_states_by_name(backend):
    alarm(backend, name="first")
    alarm(backend, name="second")
    backend.set_alarm_state("second", "testing", None, "ALARM")
    states = models.alarm_states(backend.account_id, "us-east-1", ["first", "second", "absent"])
    assert states == {"first": "INSUFFICIENT_DATA", "second": "ALARM"}


def test_a_late_tick_evaluates_every_period_it_missed(backend):
    """One evaluation a period, as on AWS, even when the evaluator looks late (a loaded machine,
    data points held while an invocation ran): a breaching period followed by a quiet one raises
    the alarm, then puts it back, instead of being jumped over."""
    a = alarm(backend, name="late-look", treat_missing_data="ignore")
    put(backend, 5.0, END + 0.5)       # the period [END, END + 1) breaches
    put(backend, 0.0, END + 1.5)       # [END + 1, END + 2) does not
    a._evaluated_until = END           # evaluated through END; the next look comes 2 periods late
    ev.AlarmEvaluator().tick(now=END + 2.2)
    assert a.state_value == "OK"
    summaries = [h["HistorySummary"] for h in models.history_of(backend)
                 if h["AlarmName"] == "late-look" and h["HistoryItemType"] == "StateUpdate"]
    assert summaries == ["Alarm updated from INSUFFICIENT_DATA to ALARM", "Alarm updated from ALARM to OK"]
    assert a._evaluated_until == END + 2


def test_alarms_fired_counts_an_alarm_that_left_alarm_before_the_look(backend):
    """What deployments ask: in ALARM at some moment since they started, even if an evaluation
    (a scaled period is a second or less) or set_alarm_state ended it before they looked."""
    import time

    for name in ("blip", "before", "steady", "never"):
        alarm(backend, name=name)
    backend.set_alarm_state("before", "testing", None, "ALARM")
    backend.set_alarm_state("before", "testing", None, "OK")
    backend.set_alarm_state("steady", "testing", None, "ALARM")
    time.sleep(0.01)
    since = time.time()
    names = ["blip", "before", "steady", "never", "absent"]
    assert models.alarms_fired(backend.account_id, "us-east-1", names, since) == ["steady"]
    backend.set_alarm_state("blip", "testing", None, "ALARM")
    backend.set_alarm_state("blip", "testing", None, "OK")
    assert models.alarm_states(backend.account_id, "us-east-1", ["blip"]) == {"blip": "OK"}
    assert models.alarms_fired(backend.account_id, "us-east-1", names, since) == ["blip", "steady"]
    # An update of the alarm's configuration keeps it, as it keeps the state.
    alarm(backend, name="blip")
    assert models.alarms_fired(backend.account_id, "us-east-1", ["blip"], since) == ["blip"]
    assert models.alarms_fired(backend.account_id, "us-east-1", names, time.time() + 1) == ["steady"]


def test_children_and_parents_of_a_composite_alarm(backend):
    alarm(backend, name="cpu")
    alarm(backend, name="mem")
    alarm(backend, name="disk")
    backend.put_metric_alarm(
        name="service-health", namespace=None, metric_name=None, comparison_operator=None,
        evaluation_periods=None, period=None, threshold=None, statistic=None, description=None,
        dimensions=[], alarm_actions=[],
        rule=f'ALARM("cpu") OR (OK(mem) AND NOT ALARM("arn:aws:cloudwatch:us-east-1:{backend.account_id}:alarm:gone"))')
    assert [a.name for a in backend.find_alarms(children_of="service-health")] == ["cpu", "mem"]
    assert [a.name for a in backend.find_alarms(parents_of="cpu")] == ["service-health"]
    assert backend.find_alarms(parents_of="disk") == []
    assert [a.name for a in backend.find_alarms()] == ["cpu", "disk", "mem"]  # metric alarms by default
    assert [a.name for a in backend.find_alarms(alarm_types=["CompositeAlarm"])] == ["service-health"]
