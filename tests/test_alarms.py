"""CloudWatch metric alarms against a running workshop cloud (time scale 60: a
60-second period lasts one real second): creation at INSUFFICIENT_DATA,
evaluation from put data, missing data, M out of N, percentiles, history,
SNS notifications through to SQS, set_alarm_state, the describe filters,
AWS-shaped errors, CloudFormation, and account isolation."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.conftest import new_account

DIMS = [{"Name": "FunctionName", "Value": "orders"}]


# -- helpers ----------------------------------------------------------------------
def wait_for(probe, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until probe() is truthy (bounded); its value, or an AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")


def describe(cw, name: str) -> dict:
    alarms = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(alarms) == 1, alarms
    return alarms[0]


def state(cw, name: str) -> str:
    return describe(cw, name)["StateValue"]


def wait_state(cw, name: str, wanted: str, timeout: float = 30.0) -> dict:
    return wait_for(lambda: (a := describe(cw, name))["StateValue"] == wanted and a,
                    timeout, what=f"{name} in {wanted}")


def evaluations_pass(cw, rounds: int = 2) -> None:
    """Return once every alarm in the account has been evaluated after this call.

    A probe alarm without data is set to ALARM; the evaluator puts it back to
    INSUFFICIENT_DATA at its next evaluation. The evaluator runs one tick at a
    time, so once the second round is seen, the whole tick of the first round
    (every alarm, window ending after this call) is over."""
    names = {a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix="probe-")["MetricAlarms"]}
    if "probe-evaluations" not in names:
        put_alarm(cw, "probe-evaluations", Namespace="Workshop/Probe", MetricName="Nothing", Dimensions=[])
    for _ in range(rounds):
        cw.set_alarm_state(AlarmName="probe-evaluations", StateValue="ALARM", StateReason="probe")
        wait_state(cw, "probe-evaluations", "INSUFFICIENT_DATA")


def put_alarm(cw, name: str, **overrides) -> None:
    args = dict(AlarmName=name, Namespace="Workshop/Test", MetricName="Errors", Dimensions=DIMS,
                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold")
    args.update(overrides)
    cw.put_metric_alarm(**{key: value for key, value in args.items() if value is not None})


def put_data(cw, value, metric: str = "Errors", at: datetime | None = None, **extra) -> None:
    datum = {"MetricName": metric, "Dimensions": DIMS, "Value": value, **extra}
    if at is not None:
        datum["Timestamp"] = at
    cw.put_metric_data(Namespace="Workshop/Test", MetricData=[datum])


def history(cw, name: str, item_type: str | None = None) -> list[dict]:
    kwargs = {"AlarmName": name}
    if item_type:
        kwargs["HistoryItemType"] = item_type
    return cw.describe_alarm_history(**kwargs)["AlarmHistoryItems"]


def transitions(cw, name: str) -> list[tuple[str, str]]:
    """(old, new) state pairs, oldest first."""
    out = []
    for item in reversed(history(cw, name, "StateUpdate")):
        data = json.loads(item["HistoryData"])
        out.append((data["oldState"]["stateValue"], data["newState"]["stateValue"]))
    return out


def subscribed_queue(cloud, account: str, topic_name: str = "alarms") -> tuple[str, str]:
    """(topic ARN, queue URL) with the queue subscribed to the topic."""
    sns, sqs = cloud.client("sns", account), cloud.client("sqs", account)
    topic = sns.create_topic(Name=topic_name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{topic_name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def notifications(cloud, account: str, queue: str, wanted: int = 1, timeout: float = 30.0) -> list[dict]:
    sqs = cloud.client("sqs", account)
    got: list[dict] = []

    def more():
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            envelope = json.loads(message["Body"])
            got.append({"Subject": envelope.get("Subject"), **json.loads(envelope["Message"])})
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return len(got) >= wanted

    wait_for(more, timeout, what=f"{wanted} notification(s)")
    return got


# -- creation ---------------------------------------------------------------------
def test_a_new_alarm_starts_insufficient_data_with_everything_it_was_given(cloud, account):
    cw = cloud.client("cloudwatch", account)
    topic = f"arn:aws:sns:us-east-1:{account}:alarms"
    put_alarm(cw, "orders-errors", AlarmDescription="errors of orders", Statistic="Average",
              Period=300, EvaluationPeriods=5, DatapointsToAlarm=3, Threshold=2.5,
              ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
              Unit="Count", ActionsEnabled=False, AlarmActions=[topic], OKActions=[topic],
              InsufficientDataActions=[topic], Tags=[{"Key": "lab", "Value": "03-deploy"}])
    alarm = describe(cw, "orders-errors")
    # The evaluator runs every real second at the test cloud's time scale: on a
    # loaded machine it may have evaluated the new alarm (notBreaching: OK) before
    # this describe. The state it was created in is then the history's oldState.
    moved = history(cw, "orders-errors", "StateUpdate")
    if moved:
        first = json.loads(moved[-1]["HistoryData"])["oldState"]
        initial = (first["stateValue"], first["stateReason"])
    else:
        initial = (alarm["StateValue"], alarm["StateReason"])
    assert initial == ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
    expected = {"AlarmDescription": "errors of orders", "Namespace": "Workshop/Test",
                "MetricName": "Errors", "Dimensions": DIMS, "Statistic": "Average", "Period": 300,
                "EvaluationPeriods": 5, "DatapointsToAlarm": 3, "Threshold": 2.5,
                "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
                "Unit": "Count", "ActionsEnabled": False, "AlarmActions": [topic],
                "OKActions": [topic], "InsufficientDataActions": [topic],
                "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{account}:alarm:orders-errors"}
    assert {key: alarm.get(key) for key in expected} == expected
    assert alarm["StateUpdatedTimestamp"] <= alarm["StateTransitionedTimestamp"] + timedelta(seconds=1)
    created = history(cw, "orders-errors", "ConfigurationUpdate")
    assert [h["HistorySummary"] for h in created] == ['Alarm "orders-errors" created']
    assert json.loads(created[0]["HistoryData"])["createdAlarm"]["threshold"] == 2.5
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert tags == [{"Key": "lab", "Value": "03-deploy"}]


def test_updating_an_alarm_keeps_its_state_and_records_the_change(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_alarm(cw, "kept", TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName="kept", StateValue="ALARM", StateReason="by hand")
    put_alarm(cw, "kept", TreatMissingData="ignore", Threshold=5.0, AlarmDescription="now five")
    alarm = describe(cw, "kept")
    assert (alarm["StateValue"], alarm["StateReason"], alarm["Threshold"]) == ("ALARM", "by hand", 5.0)
    assert alarm["AlarmDescription"] == "now five"
    summaries = [h["HistorySummary"] for h in history(cw, "kept", "ConfigurationUpdate")]
    assert summaries == ['Alarm "kept" updated', 'Alarm "kept" created']


# -- evaluation -------------------------------------------------------------------
def test_breaching_data_raises_the_alarm_with_history_and_an_sns_notification(cloud, account):
    cw = cloud.client("cloudwatch", account)
    topic, queue = subscribed_queue(cloud, account)
    put_alarm(cw, "orders-errors", AlarmActions=[topic])

    def alarmed():
        put_data(cw, 3.0)
        return state(cw, "orders-errors") == "ALARM"

    wait_for(alarmed, interval=0.2, what="ALARM")
    alarm = describe(cw, "orders-errors")
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [")
    assert alarm["StateReason"].endswith("was greater than or equal to the threshold (1.0).")
    data = json.loads(alarm["StateReasonData"])
    assert data["statistic"] == "Sum" and data["period"] == 60 and data["threshold"] == 1.0
    assert data["recentDatapoints"] and data["recentDatapoints"][0] >= 3.0

    assert transitions(cw, "orders-errors")[0] == ("INSUFFICIENT_DATA", "ALARM")
    # Actions run just after the state changes (as in AWS, not within the same call).
    actions = wait_for(lambda: history(cw, "orders-errors", "Action"), what="the action's history item")
    assert actions[0]["HistorySummary"] == f"Successfully executed action {topic}"

    [note] = notifications(cloud, account, queue)
    assert note["Subject"] == 'ALARM: "orders-errors" in US East (N. Virginia)'
    assert (note["AlarmName"], note["OldStateValue"], note["NewStateValue"]) == \
        ("orders-errors", "INSUFFICIENT_DATA", "ALARM")
    assert note["NewStateReason"] == alarm["StateReason"]
    assert note["AWSAccountId"] == account
    assert note["AlarmArn"] == alarm["AlarmArn"]
    trigger = note["Trigger"]
    assert (trigger["MetricName"], trigger["Namespace"], trigger["Statistic"]) == ("Errors", "Workshop/Test", "SUM")
    assert trigger["Dimensions"] == [{"value": "orders", "name": "FunctionName"}]
    assert (trigger["Period"], trigger["Threshold"]) == (60, 1.0)
    assert trigger["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_data_within_the_threshold_sets_ok_and_runs_the_ok_actions(cloud, account):
    cw = cloud.client("cloudwatch", account)
    topic, queue = subscribed_queue(cloud, account)
    put_alarm(cw, "quiet", OKActions=[topic])

    def ok():
        put_data(cw, 0.0)
        return state(cw, "quiet") == "OK"

    wait_for(ok, interval=0.2, what="OK")
    assert "was not greater than or equal to the threshold (1.0)" in describe(cw, "quiet")["StateReason"]
    [note] = notifications(cloud, account, queue)
    assert (note["OldStateValue"], note["NewStateValue"]) == ("INSUFFICIENT_DATA", "OK")


def test_each_missing_data_treatment(cloud, account):
    cw = cloud.client("cloudwatch", account)
    for treatment in ("missing", "ignore", "breaching", "notBreaching"):
        put_alarm(cw, f"no-data-{treatment}", MetricName="NeverPut", TreatMissingData=treatment)
    # Set two by hand: missing data puts one back, ignore keeps the other.
    cw.set_alarm_state(AlarmName="no-data-missing", StateValue="OK", StateReason="by hand")
    cw.set_alarm_state(AlarmName="no-data-ignore", StateValue="OK", StateReason="by hand")
    wait_state(cw, "no-data-breaching", "ALARM")
    wait_state(cw, "no-data-notBreaching", "OK")
    evaluations_pass(cw)
    assert state(cw, "no-data-missing") == "INSUFFICIENT_DATA"
    assert describe(cw, "no-data-missing")["StateReason"] == "Insufficient Data: 1 datapoint was unknown."
    assert state(cw, "no-data-ignore") == "OK"
    assert describe(cw, "no-data-ignore")["StateReason"] == "by hand"
    assert describe(cw, "no-data-breaching")["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint "
        "was treated as [Breaching].")
    assert describe(cw, "no-data-notBreaching")["StateReason"].endswith("treated as [NonBreaching].")


def test_data_that_stops_leaves_the_alarm_insufficient_data(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_alarm(cw, "stopped")

    def ok():
        put_data(cw, 0.0)
        return state(cw, "stopped") == "OK"

    wait_for(ok, interval=0.2, what="OK")
    wait_state(cw, "stopped", "INSUFFICIENT_DATA")  # the range (3 periods) empties
    assert transitions(cw, "stopped") == [("INSUFFICIENT_DATA", "OK"), ("OK", "INSUFFICIENT_DATA")]


def test_m_out_of_n_needs_m_breaching_periods(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_alarm(cw, "two-of-three", EvaluationPeriods=3, DatapointsToAlarm=2, TreatMissingData="notBreaching")
    put_alarm(cw, "three-of-three", EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData="notBreaching")
    # Three periods (1 s each at scale 60) starting two seconds from now: breach, fine, breach.
    start = math.ceil(time.time()) + 2
    for offset, value in ((0.5, 4.0), (1.5, 0.0), (2.5, 4.0)):
        put_data(cw, value, at=datetime.fromtimestamp(start + offset, timezone.utc))
    wait_for(lambda: ("OK", "ALARM") in transitions(cw, "two-of-three"), what="2 of 3 in ALARM")
    evaluations_pass(cw)
    alarmed = next(json.loads(h["HistoryData"]) for h in history(cw, "two-of-three", "StateUpdate")
                   if json.loads(h["HistoryData"])["newState"]["stateValue"] == "ALARM")
    assert alarmed["newState"]["stateReason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints")
    assert alarmed["newState"]["stateReasonData"]["recentDatapoints"] == [4.0, 0.0, 4.0]
    # The same periods never put the 3-of-3 alarm in ALARM.
    assert all(new != "ALARM" for _, new in transitions(cw, "three-of-three"))
    assert state(cw, "three-of-three") == "OK"


def test_percentile_alarms(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_alarm(cw, "p90-high", MetricName="Latency", Statistic=None, ExtendedStatistic="p90", Threshold=90.0)
    put_alarm(cw, "p90-higher", MetricName="Latency", Statistic=None, ExtendedStatistic="p90", Threshold=95.0)
    cw.put_metric_data(Namespace="Workshop/Test", MetricData=[
        {"MetricName": "Latency", "Dimensions": DIMS, "Values": [float(v) for v in range(1, 101)],
         "Unit": "Milliseconds"}])
    assert wait_state(cw, "p90-high", "ALARM")["ExtendedStatistic"] == "p90"
    wait_state(cw, "p90-higher", "OK")


def test_set_alarm_state_runs_actions_and_the_next_evaluation_puts_it_back(cloud, account):
    cw = cloud.client("cloudwatch", account)
    topic, queue = subscribed_queue(cloud, account)
    put_alarm(cw, "by-hand", MetricName="NeverPut", AlarmActions=[topic], InsufficientDataActions=[topic])
    cw.set_alarm_state(AlarmName="by-hand", StateValue="ALARM", StateReason="testing the pager",
                       StateReasonData='{"by": "test"}')
    alarm = describe(cw, "by-hand")
    assert (alarm["StateValue"], alarm["StateReason"]) in {("ALARM", "testing the pager"),
                                                           ("INSUFFICIENT_DATA", "Insufficient Data: 1 datapoint was unknown.")}
    wait_state(cw, "by-hand", "INSUFFICIENT_DATA")
    assert transitions(cw, "by-hand") == [("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "INSUFFICIENT_DATA")]
    notes = notifications(cloud, account, queue, wanted=2)
    assert [n["NewStateValue"] for n in notes] == ["ALARM", "INSUFFICIENT_DATA"]
    assert notes[0]["NewStateReason"] == "testing the pager"

    # With actions disabled the same changes notify nobody.
    cw.disable_alarm_actions(AlarmNames=["by-hand"])
    assert describe(cw, "by-hand")["ActionsEnabled"] is False
    cw.set_alarm_state(AlarmName="by-hand", StateValue="ALARM", StateReason="again")
    wait_state(cw, "by-hand", "INSUFFICIENT_DATA")
    evaluations_pass(cw)
    assert len(transitions(cw, "by-hand")) == 4
    sqs = cloud.client("sqs", account)
    assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []
    cw.enable_alarm_actions(AlarmNames=["by-hand"])
    assert describe(cw, "by-hand")["ActionsEnabled"] is True


def test_set_alarm_state_errors(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_alarm(cw, "exists")
    cases = [
        (dict(AlarmName="absent", StateValue="ALARM", StateReason="x"), "ResourceNotFound", 404),
        (dict(AlarmName="exists", StateValue="BROKEN", StateReason="x"), "ValidationError", 400),
        (dict(AlarmName="exists", StateValue="ALARM", StateReason="x", StateReasonData="{not json"),
         "InvalidFormat", 400),
    ]
    for kwargs, code, status in cases:  # the statuses of CloudWatch's API model
        with pytest.raises(ClientError) as err:
            cw.set_alarm_state(**kwargs)
        assert err.value.response["Error"]["Code"] == code, kwargs
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


# -- describing -------------------------------------------------------------------
def test_describe_alarms_filters_and_pages(cloud, account):
    cw = cloud.client("cloudwatch", account)
    topic = f"arn:aws:sns:us-east-1:{account}:pager"
    put_alarm(cw, "app-b", TreatMissingData="ignore")
    put_alarm(cw, "app-a", TreatMissingData="ignore", AlarmActions=[topic])
    put_alarm(cw, "other", TreatMissingData="ignore", Statistic="Maximum",
              Dimensions=[{"Name": "FunctionName", "Value": "billing"}])
    cw.set_alarm_state(AlarmName="app-a", StateValue="ALARM", StateReason="by hand")

    def names(**kwargs):
        return [a["AlarmName"] for a in cw.describe_alarms(**kwargs)["MetricAlarms"]]

    assert names() == ["app-a", "app-b", "other"]
    assert names(AlarmNamePrefix="app-") == ["app-a", "app-b"]
    assert names(AlarmNames=["other", "app-b", "absent"]) == ["app-b", "other"]
    assert names(StateValue="ALARM") == ["app-a"]
    assert names(AlarmNamePrefix="app-", StateValue="INSUFFICIENT_DATA") == ["app-b"]
    assert names(ActionPrefix=f"arn:aws:sns:us-east-1:{account}:") == ["app-a"]
    assert names(AlarmTypes=["MetricAlarm"]) == ["app-a", "app-b", "other"]
    composite_only = cw.describe_alarms(AlarmTypes=["CompositeAlarm"])
    assert composite_only["MetricAlarms"] == [] and composite_only["CompositeAlarms"] == []

    first = cw.describe_alarms(MaxRecords=2)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == ["app-a", "app-b"]
    rest = cw.describe_alarms(MaxRecords=2, NextToken=first["NextToken"])
    assert [a["AlarmName"] for a in rest["MetricAlarms"]] == ["other"] and "NextToken" not in rest
    paged = [a["AlarmName"] for page in cw.get_paginator("describe_alarms").paginate(PaginationConfig={"PageSize": 1})
             for a in page["MetricAlarms"]]
    assert paged == ["app-a", "app-b", "other"]

    for_metric = cw.describe_alarms_for_metric(Namespace="Workshop/Test", MetricName="Errors", Dimensions=DIMS)
    assert sorted(a["AlarmName"] for a in for_metric["MetricAlarms"]) == ["app-a", "app-b"]
    for_max = cw.describe_alarms_for_metric(Namespace="Workshop/Test", MetricName="Errors", Statistic="Maximum")
    assert [a["AlarmName"] for a in for_max["MetricAlarms"]] == ["other"]

    with pytest.raises(ClientError) as err:
        cw.describe_alarms(AlarmNames=["app-a"], AlarmNamePrefix="app")
    assert err.value.response["Error"]["Code"] == "InvalidParameterCombination"


def test_delete_alarms_is_all_or_nothing(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_alarm(cw, "first")
    put_alarm(cw, "second")
    with pytest.raises(ClientError) as err:
        cw.delete_alarms(AlarmNames=["first", "absent"])
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["first", "second"]
    cw.delete_alarms(AlarmNames=["first", "second"])
    assert cw.describe_alarms()["MetricAlarms"] == []
    # History outlives the alarm, as in AWS.
    assert history(cw, "first", "ConfigurationUpdate")[0]["HistorySummary"] == 'Alarm "first" deleted'


def test_describe_alarm_history_filters(cloud, account):
    cw = cloud.client("cloudwatch", account)
    put_alarm(cw, "noisy", TreatMissingData="ignore")
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    for value in ("ALARM", "OK", "ALARM"):
        cw.set_alarm_state(AlarmName="noisy", StateValue=value, StateReason=f"to {value}")
    items = history(cw, "noisy")
    assert [i["HistoryItemType"] for i in items] == ["StateUpdate"] * 3 + ["ConfigurationUpdate"]
    assert all(i["AlarmType"] == "MetricAlarm" and i["AlarmName"] == "noisy" for i in items)
    assert items[0]["HistorySummary"] == "Alarm updated from OK to ALARM"
    oldest_first = cw.describe_alarm_history(AlarmName="noisy", ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert oldest_first == list(reversed(items))
    page = cw.describe_alarm_history(AlarmName="noisy", MaxRecords=3)
    assert len(page["AlarmHistoryItems"]) == 3
    tail = cw.describe_alarm_history(AlarmName="noisy", MaxRecords=3, NextToken=page["NextToken"])
    assert tail["AlarmHistoryItems"] == items[3:]
    window = cw.describe_alarm_history(AlarmName="noisy", StartDate=before,
                                       EndDate=before + timedelta(seconds=1))["AlarmHistoryItems"]
    assert window == []
    assert cw.describe_alarm_history(AlarmName="noisy", AlarmTypes=["CompositeAlarm"])["AlarmHistoryItems"] == []


# -- bad input ------------------------------------------------------------------------
BAD_ALARMS = [
    ("no threshold", dict(Threshold=None), "ValidationError", "require Threshold"),
    ("unknown operator", dict(ComparisonOperator="BiggerThan"), "ValidationError", "comparisonOperator"),
    ("unknown statistic", dict(Statistic="Median"), "ValidationError", "statistic"),
    ("both statistics", dict(ExtendedStatistic="p90"), "InvalidParameterCombination", "ExtendedStatistic"),
    ("no statistic", dict(Statistic=None), "InvalidParameterCombination", "Statistic"),
    ("bad percentile", dict(Statistic=None, ExtendedStatistic="q90"), "InvalidParameterValue", "q90"),
    ("odd period", dict(Period=45), "ValidationError", "Period must be 10, 20, 30 or a multiple of 60"),
    ("too long a window", dict(Period=3600, EvaluationPeriods=200), "ValidationError", "seven days"),
    ("M above N", dict(EvaluationPeriods=2, DatapointsToAlarm=3), "ValidationError", "DatapointsToAlarm"),
    ("bad treatment", dict(TreatMissingData="sometimes"), "ValidationError", "TreatMissingData"),
    ("no evaluation periods", dict(EvaluationPeriods=None), "ValidationError", "evaluationPeriods"),
    ("range operator without band", dict(ComparisonOperator="GreaterThanUpperThreshold", Threshold=None),
     "ValidationError", "ThresholdMetricId"),
    ("bad action", dict(AlarmActions=["pager-duty"]), "ValidationError", "arn"),
    ("metrics and a metric name", dict(Metrics=[{"Id": "m1", "MetricStat": {
        "Metric": {"Namespace": "A", "MetricName": "B"}, "Period": 60, "Stat": "Sum"}}]),
     "InvalidParameterCombination", "Metrics"),
]


@pytest.mark.parametrize("case,change,code,words", BAD_ALARMS, ids=[c[0] for c in BAD_ALARMS])
def test_bad_alarms_get_aws_errors_not_500s(cloud, account, case, change, code, words):
    cw = cloud.client("cloudwatch", account)
    args = dict(AlarmName="bad", Namespace="Workshop/Test", MetricName="Errors", Statistic="Sum",
                Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    for key, value in change.items():
        if value is None:
            args.pop(key)
        else:
            args[key] = value
    with pytest.raises(ClientError) as err:
        cw.put_metric_alarm(**args)
    error = err.value.response["Error"]
    assert error["Code"] == code
    assert words in error["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_bad_math_expressions_are_refused(cloud, account):
    cw = cloud.client("cloudwatch", account)
    metrics = [{"Id": "m1", "ReturnData": False,
                "MetricStat": {"Metric": {"Namespace": "A", "MetricName": "B"}, "Period": 60, "Stat": "Sum"}},
               {"Id": "e1", "Expression": "m1 + nosuch"}]
    with pytest.raises(ClientError) as err:
        cw.put_metric_alarm(AlarmName="math", EvaluationPeriods=1, Threshold=1.0,
                            ComparisonOperator="GreaterThanThreshold", Metrics=metrics)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "nosuch" in err.value.response["Error"]["Message"]


def test_a_math_alarm_evaluates(cloud, account):
    cw = cloud.client("cloudwatch", account)
    metric = {"Namespace": "Workshop/Test", "Dimensions": DIMS}
    cw.put_metric_alarm(
        AlarmName="error-rate", EvaluationPeriods=1, Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[{"Id": "errors", "ReturnData": False,
                  "MetricStat": {"Metric": {**metric, "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}},
                 {"Id": "calls", "ReturnData": False,
                  "MetricStat": {"Metric": {**metric, "MetricName": "Invocations"}, "Period": 60, "Stat": "Sum"}},
                 {"Id": "rate", "Expression": "100 * errors / calls", "Label": "Error rate"}])
    alarm = describe(cw, "error-rate")
    assert [m["Id"] for m in alarm["Metrics"]] == ["errors", "calls", "rate"]
    assert "MetricName" not in alarm and "Period" not in alarm

    def alarmed():
        cw.put_metric_data(Namespace="Workshop/Test", MetricData=[
            {"MetricName": "Errors", "Dimensions": DIMS, "Value": 1.0},
            {"MetricName": "Invocations", "Dimensions": DIMS, "Value": 4.0}])
        return state(cw, "error-rate") == "ALARM"

    wait_for(alarmed, interval=0.2, what="the error rate alarm")


# -- CloudFormation ------------------------------------------------------------------
TEMPLATE = {
    "Resources": {
        "Pager": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "pager"}},
        "ErrorsAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": "orders-errors",
                "AlarmDescription": "from a stack",
                "Namespace": "Workshop/Test", "MetricName": "Errors", "Dimensions": DIMS,
                "Statistic": "Sum", "Period": "60", "EvaluationPeriods": "1",
                "Threshold": "1", "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "breaching", "ActionsEnabled": "true",
                "AlarmActions": [{"Ref": "Pager"}],
            },
        },
        "Unnamed": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {"Namespace": "Workshop/Test", "MetricName": "Latency", "Statistic": "Average",
                           "Period": 60, "EvaluationPeriods": 2, "Threshold": 300,
                           "ComparisonOperator": "GreaterThanThreshold"},
        },
    },
    "Outputs": {
        "AlarmArn": {"Value": {"Fn::GetAtt": ["ErrorsAlarm", "Arn"]}},
        "AlarmName": {"Value": {"Ref": "ErrorsAlarm"}},
    },
}


def test_cloudformation_creates_updates_and_deletes_alarms(cloud, account):
    cfn, cw = cloud.client("cloudformation", account), cloud.client("cloudwatch", account)
    cfn.create_stack(StackName="alarms", TemplateBody=json.dumps(TEMPLATE))
    stack = cfn.describe_stacks(StackName="alarms")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == {"AlarmName": "orders-errors",
                       "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{account}:alarm:orders-errors"}
    alarm = describe(cw, "orders-errors")
    assert (alarm["Threshold"], alarm["Period"], alarm["AlarmDescription"]) == (1.0, 60, "from a stack")
    assert alarm["AlarmActions"] == [f"arn:aws:sns:us-east-1:{account}:pager"]
    names = [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]]
    generated = [n for n in names if n != "orders-errors"]
    assert len(generated) == 1 and generated[0].startswith("alarms-Unnamed-")
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in cfn.describe_stack_resources(StackName="alarms")["StackResources"]}
    assert resources["ErrorsAlarm"] == "orders-errors"
    # A stack's alarm is a real one: with no data treated as breaching it goes to ALARM.
    wait_state(cw, "orders-errors", "ALARM")

    updated = json.loads(json.dumps(TEMPLATE))
    updated["Resources"]["ErrorsAlarm"]["Properties"]["Threshold"] = 5
    cfn.update_stack(StackName="alarms", TemplateBody=json.dumps(updated))
    alarm = describe(cw, "orders-errors")
    assert alarm["Threshold"] == 5.0 and alarm["StateValue"] == "ALARM"  # updated in place

    cfn.delete_stack(StackName="alarms")
    assert cw.describe_alarms()["MetricAlarms"] == []


# -- accounts -----------------------------------------------------------------------
def test_accounts_have_their_own_alarms(cloud, account):
    other = new_account()
    mine, theirs = cloud.client("cloudwatch", account), cloud.client("cloudwatch", other)
    put_alarm(mine, "same-name", TreatMissingData="ignore")
    put_alarm(theirs, "same-name", TreatMissingData="ignore")
    mine.set_alarm_state(AlarmName="same-name", StateValue="ALARM", StateReason="mine only")
    assert state(mine, "same-name") == "ALARM"
    assert state(theirs, "same-name") == "INSUFFICIENT_DATA"
    assert describe(theirs, "same-name")["AlarmArn"].split(":")[4] == other
    assert len(history(theirs, "same-name")) == 1


# -- EventBridge --------------------------------------------------------------------
def test_state_changes_reach_eventbridge_rules(cloud, account):
    cw, events, sqs = (cloud.client(s, account) for s in ("cloudwatch", "events", "sqs"))
    queue = sqs.create_queue(QueueName="alarm-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="alarm-changes", EventPattern=json.dumps(
        {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}))
    events.put_targets(Rule="alarm-changes", Targets=[{"Id": "inbox", "Arn": queue_arn}])
    put_alarm(cw, "watched", TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName="watched", StateValue="ALARM", StateReason="by hand")

    def received():
        return sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])

    [message] = wait_for(received, what="the state change event")
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == ("aws.cloudwatch", "CloudWatch Alarm State Change")
    assert event["resources"] == [describe(cw, "watched")["AlarmArn"]]
    detail = event["detail"]
    assert detail["alarmName"] == "watched"
    assert (detail["state"]["value"], detail["state"]["reason"]) == ("ALARM", "by hand")
    assert detail["previousState"]["value"] == "INSUFFICIENT_DATA"
    metric = detail["configuration"]["metrics"][0]["metricStat"]
    assert metric["metric"] == {"namespace": "Workshop/Test", "name": "Errors",
                                "dimensions": {"FunctionName": "orders"}}


def test_an_account_reset_removes_its_alarms_and_history(cloud, account):
    import urllib.request

    cw = cloud.client("cloudwatch", account)
    put_alarm(cw, "doomed", TreatMissingData="breaching")
    wait_state(cw, "doomed", "ALARM")
    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", data=b"",
                                     method="POST", headers={"X-Workshop-Admin-Token": cloud.admin_token})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert cw.describe_alarms()["MetricAlarms"] == []
    assert cw.describe_alarm_history()["AlarmHistoryItems"] == []
    # The evaluator carries on with the account's new alarms.
    put_alarm(cw, "reborn", TreatMissingData="breaching")
    wait_state(cw, "reborn", "ALARM")
