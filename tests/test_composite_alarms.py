"""Composite alarms against a running workshop cloud (time scale 60): the AlarmRule
language over a table of child states, AWS's validation, describe filters, the delete
guard, history and SNS actions, and the actions suppressor with its wait and extension
periods (an SQS queue subscribed to the topic receives nothing while suppressed)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.test_alarms import notifications, put_alarm, subscribed_queue, wait_for
from workshop.cloud.services.cloudwatch import alarm_rule


def child(cw, name: str) -> None:
    # No data and TreatMissingData=ignore: the evaluator leaves a state set by hand alone.
    put_alarm(cw, name, MetricName=name, TreatMissingData="ignore")


def set_state(cw, name: str, value: str) -> None:
    cw.set_alarm_state(AlarmName=name, StateValue=value, StateReason=f"test sets {value}")


def composite(cw, name: str) -> dict:
    found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert len(found) == 1, found
    return found[0]


def queued(cloud, account: str, queue: str) -> list[dict]:
    sqs = cloud.client("sqs", account)
    got = []
    for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        got.append(json.loads(json.loads(message["Body"])["Message"]))
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return got


# -- the language, without a cloud ----------------------------------------------------
@pytest.mark.parametrize("rule, states, expected", [
    ("ALARM(a)", {"a": "ALARM"}, True),
    ("ALARM(a)", {"a": "OK"}, False),
    ("OK(a)", {"a": "OK"}, True),
    ("INSUFFICIENT_DATA(a)", {"a": "INSUFFICIENT_DATA"}, True),
    ('ALARM("a") AND ALARM("b")', {"a": "ALARM", "b": "OK"}, False),
    ("ALARM(a) OR ALARM(b)", {"a": "OK", "b": "ALARM"}, True),
    ("NOT ALARM(a)", {"a": "OK"}, True),
    ("ALARM(a) OR ALARM(b) AND ALARM(c)", {"a": "ALARM", "b": "OK", "c": "OK"}, True),    # AND binds first
    ("(ALARM(a) OR ALARM(b)) AND ALARM(c)", {"a": "ALARM", "b": "OK", "c": "OK"}, False),
    ("NOT ALARM(a) AND ALARM(b)", {"a": "OK", "b": "ALARM"}, True),                       # NOT binds first
    ("NOT (ALARM(a) AND ALARM(b))", {"a": "ALARM", "b": "ALARM"}, False),
    ("TRUE", {}, True),
    ("FALSE OR TRUE", {}, True),
    ("NOT NOT FALSE", {}, False),
    ("ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:a)", {"arn:aws:cloudwatch:us-east-1:123456789012:alarm:a": "ALARM"}, True),
    ('ALARM("name with (parens) and spaces")', {"name with (parens) and spaces": "ALARM"}, True),
    ("ALARM(gone)", {}, False),
])
def test_rules_hold_as_written(rule, states, expected):
    assert alarm_rule.holds(alarm_rule.parse(rule), states.get) is expected


@pytest.mark.parametrize("rule, message", [
    ("()", "Error in AlarmRule [Unsupported token ')' at char 1]"),
    ("ALARM(a) AND", "Error in AlarmRule [Unexpected end of expression]"),
    ("ALARM(a) XOR OK(b)", "Error in AlarmRule [Unsupported token 'XOR' at char 9]"),
    ("alarm(a)", "Error in AlarmRule [Unsupported token 'alarm' at char 0]"),
    ("ALARM(a) & OK(b)", "Error in AlarmRule [Unsupported token '&' at char 9]"),
    ("(ALARM(a)", "Error in AlarmRule [Unexpected end of expression]"),
    ("ALARM()", "Error in AlarmRule [Missing alarm name at char 6]"),
])
def test_rules_that_do_not_parse_say_where(rule, message):
    with pytest.raises(alarm_rule.RuleError) as caught:
        alarm_rule.parse(rule)
    assert str(caught.value) == message


# -- against the cloud ------------------------------------------------------------------
TABLE = [  # (state of "errors", state of "latency", the composite's state)
    ("OK", "OK", "OK"),
    ("ALARM", "OK", "OK"),
    ("ALARM", "ALARM", "ALARM"),
    ("OK", "ALARM", "OK"),
    ("INSUFFICIENT_DATA", "ALARM", "OK"),
    ("ALARM", "ALARM", "ALARM"),
    ("ALARM", "INSUFFICIENT_DATA", "OK"),
]


def test_an_and_composite_follows_its_children_exactly(cloud, account):
    cw = cloud.client("cloudwatch", account)
    child(cw, "errors")
    child(cw, "latency")
    cw.put_composite_alarm(AlarmName="service-health", AlarmRule='ALARM("errors") AND ALARM(latency)')
    # Created, then evaluated at once: both children INSUFFICIENT_DATA -> the rule is FALSE.
    assert composite(cw, "service-health")["StateValue"] == "OK"
    transitions = 0
    last = "OK"
    for errors, latency, expected in TABLE:
        set_state(cw, "errors", errors)
        set_state(cw, "latency", latency)
        # Settled in the call that changed the child: no waiting.
        assert composite(cw, "service-health")["StateValue"] == expected, (errors, latency)
        transitions += expected != last
        last = expected
    updates = cw.describe_alarm_history(AlarmName="service-health", HistoryItemType="StateUpdate")
    # Exactly one state change per change of the rule's value, plus the first INSUFFICIENT_DATA -> OK.
    assert len(updates["AlarmHistoryItems"]) == transitions + 1
    newest = json.loads(updates["AlarmHistoryItems"][0]["HistoryData"])
    assert newest["newState"]["stateValue"] == "OK"
    assert newest["newState"]["stateReason"].startswith(
        f"arn:aws:cloudwatch:us-east-1:{account}:alarm:latency transitioned to INSUFFICIENT_DATA at ")


def test_or_not_and_arns_over_a_table(cloud, account):
    cw = cloud.client("cloudwatch", account)
    for name in ("a", "b", "c"):
        child(cw, name)
    arn = f"arn:aws:cloudwatch:us-east-1:{account}:alarm:c"
    cw.put_composite_alarm(AlarmName="mixed", AlarmRule=f"(ALARM(a) OR OK(b)) AND NOT ALARM({arn})")
    for a, b, c, expected in [("OK", "ALARM", "OK", "OK"), ("ALARM", "ALARM", "OK", "ALARM"),
                              ("ALARM", "ALARM", "ALARM", "OK"), ("OK", "OK", "OK", "ALARM"),
                              ("OK", "INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "OK")]:
        for name, value in (("a", a), ("b", b), ("c", c)):
            set_state(cw, name, value)
        assert composite(cw, "mixed")["StateValue"] == expected, (a, b, c)


def test_composites_of_composites_and_constant_rules(cloud, account):
    cw = cloud.client("cloudwatch", account)
    child(cw, "disk")
    cw.put_composite_alarm(AlarmName="inner", AlarmRule="ALARM(disk)")
    cw.put_composite_alarm(AlarmName="outer", AlarmRule="ALARM(inner) OR FALSE")
    cw.put_composite_alarm(AlarmName="always", AlarmRule="TRUE")
    assert composite(cw, "always")["StateValue"] == "ALARM"
    set_state(cw, "disk", "ALARM")
    assert composite(cw, "inner")["StateValue"] == "ALARM"
    assert composite(cw, "outer")["StateValue"] == "ALARM"
    # An update is evaluated again at once.
    cw.put_composite_alarm(AlarmName="outer", AlarmRule="OK(inner)")
    assert composite(cw, "outer")["StateValue"] == "OK"


def test_describe_children_parents_and_types(cloud, account):
    cw = cloud.client("cloudwatch", account)
    child(cw, "cpu")
    child(cw, "mem")
    cw.put_composite_alarm(AlarmName="host", AlarmRule="ALARM(cpu) OR ALARM(mem)",
                           AlarmDescription="either", ActionsEnabled=False)
    everything = cw.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert [a["AlarmName"] for a in everything["MetricAlarms"]] == ["cpu", "mem"]
    [host] = everything["CompositeAlarms"]
    assert (host["AlarmRule"], host["AlarmDescription"], host["ActionsEnabled"]) == (
        "ALARM(cpu) OR ALARM(mem)", "either", False)
    assert host["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{account}:alarm:host"
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["cpu", "mem"]
    assert cw.describe_alarms()["CompositeAlarms"] == []
    children = cw.describe_alarms(ChildrenOfAlarmName="host")
    assert [a["AlarmName"] for a in children["MetricAlarms"]] == ["cpu", "mem"]
    parents = cw.describe_alarms(ParentsOfAlarmName="cpu")
    assert [a["AlarmName"] for a in parents["CompositeAlarms"]] == ["host"]


@pytest.mark.parametrize("change, words", [
    (dict(AlarmRule="ALARM(a) AND"), "Error in AlarmRule [Unexpected end of expression]"),
    (dict(AlarmRule="ALARM(a) OR ALARM(nope)"),
     "Could not save the composite alarm as alarms [nope] in the alarm rule do not exist"),
    (dict(AlarmRule="ALARM(arn:aws:cloudwatch:us-east-1:111111111111:alarm:a)"), "do not exist"),
    (dict(AlarmRule="x" * 10_241), "Member must have length less than or equal to 10240"),
    (dict(ActionsSuppressor="a"), "are required when ActionsSuppressor is set"),
    (dict(ActionsSuppressor="nope", ActionsSuppressorWaitPeriod=60, ActionsSuppressorExtensionPeriod=60),
     "ActionsSuppressor alarm [nope] does not exist"),
    (dict(ActionsSuppressorWaitPeriod=60), "can only be set with ActionsSuppressor"),
    (dict(AlarmActions=["not-an-arn"]), "Invalid arn syntax: not-an-arn"),
    (dict(AlarmActions=["arn:aws:automate:us-east-1:ec2:stop"]), "not supported for composite alarms"),
    (dict(AlarmName="a"), "is a metric alarm"),
])
def test_bad_composites_get_validation_errors(cloud, account, change, words):
    cw = cloud.client("cloudwatch", account)
    child(cw, "a")
    args = {"AlarmName": "bad", "AlarmRule": "ALARM(a)", **change}
    with pytest.raises(ClientError) as caught:
        cw.put_composite_alarm(**args)
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert words in error["Error"]["Message"]
    assert cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"] == []


def test_a_child_in_use_cannot_be_deleted(cloud, account):
    cw = cloud.client("cloudwatch", account)
    child(cw, "a")
    child(cw, "b")
    cw.put_composite_alarm(AlarmName="p", AlarmRule="ALARM(a) OR ALARM(b)")
    with pytest.raises(ClientError) as caught:
        cw.delete_alarms(AlarmNames=["a"])
    assert caught.value.response["Error"]["Message"] == (
        "Cannot delete a as there are composite alarm(s) depending on it.")
    with pytest.raises(ClientError):
        cw.put_metric_alarm(AlarmName="p", Namespace="X", MetricName="Y", Statistic="Sum", Period=60,
                            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    assert len(cw.describe_alarms()["MetricAlarms"]) == 2
    cw.delete_alarms(AlarmNames=["p", "a"])   # the composite and its child together
    assert [a["AlarmName"] for a in cw.describe_alarms(
        AlarmTypes=["MetricAlarm", "CompositeAlarm"])["MetricAlarms"]] == ["b"]


def test_a_composite_notifies_sns(cloud, account):
    cw = cloud.client("cloudwatch", account)
    topic, queue = subscribed_queue(cloud, account, "composite")
    child(cw, "errors")
    cw.put_composite_alarm(AlarmName="paging", AlarmRule="ALARM(errors)", AlarmActions=[topic],
                           OKActions=[topic])
    first = notifications(cloud, account, queue)   # INSUFFICIENT_DATA -> OK at creation
    assert first[0]["NewStateValue"] == "OK"
    set_state(cw, "errors", "ALARM")
    [message] = notifications(cloud, account, queue)
    assert (message["AlarmName"], message["NewStateValue"], message["OldStateValue"]) == ("paging", "ALARM", "OK")
    assert message["Trigger"] == {"AlarmRule": "ALARM(errors)"}
    assert message["Subject"].startswith('ALARM: "paging"')


def test_a_suppressed_action_is_not_sent_until_the_extension_ends(cloud, account):
    cw = cloud.client("cloudwatch", account)
    topic, queue = subscribed_queue(cloud, account, "suppressed")
    child(cw, "errors")
    child(cw, "deploying")
    # Periods in AWS seconds: at time scale 60, 60 s is one real second, 600 s ten.
    cw.put_composite_alarm(AlarmName="paging", AlarmRule="ALARM(errors)", AlarmActions=[topic],
                           ActionsSuppressor="deploying", ActionsSuppressorWaitPeriod=60,
                           ActionsSuppressorExtensionPeriod=120)
    view = composite(cw, "paging")
    assert (view["ActionsSuppressor"], view["ActionsSuppressorWaitPeriod"],
            view["ActionsSuppressorExtensionPeriod"]) == ("deploying", 60, 120)
    set_state(cw, "deploying", "ALARM")        # a deployment starts
    set_state(cw, "errors", "ALARM")           # errors while it runs
    view = composite(cw, "paging")
    assert view["StateValue"] == "ALARM"
    assert (view["ActionsSuppressedBy"], view["ActionsSuppressedReason"]) == ("Alarm", "Actions suppressed by Alarm")
    time.sleep(3)                              # longer than both periods: still held by the suppressor
    assert queued(cloud, account, queue) == []
    set_state(cw, "deploying", "OK")           # the deployment ends: the extension period runs
    assert composite(cw, "paging")["ActionsSuppressedBy"] == "ExtensionPeriod"
    assert queued(cloud, account, queue) == []
    [message] = notifications(cloud, account, queue)   # the composite is still in ALARM after it
    assert (message["AlarmName"], message["NewStateValue"]) == ("paging", "ALARM")
    assert "ActionsSuppressedBy" not in composite(cw, "paging")
    actions = cw.describe_alarm_history(AlarmName="paging", HistoryItemType="Action")["AlarmHistoryItems"]
    summaries = [a["HistorySummary"] for a in actions]
    assert summaries[0] == f"Successfully executed action {topic}"
    assert "Actions suppressed by Alarm" in summaries


def test_the_wait_period_holds_actions_then_lets_them_go(cloud, account):
    cw = cloud.client("cloudwatch", account)
    topic, queue = subscribed_queue(cloud, account, "waiting")
    child(cw, "errors")
    child(cw, "deploying")
    cw.put_composite_alarm(AlarmName="paging", AlarmRule="ALARM(errors)", AlarmActions=[topic],
                           ActionsSuppressor="deploying", ActionsSuppressorWaitPeriod=180,
                           ActionsSuppressorExtensionPeriod=0)
    set_state(cw, "errors", "ALARM")
    assert composite(cw, "paging")["ActionsSuppressedBy"] == "WaitPeriod"
    assert queued(cloud, account, queue) == []
    [message] = notifications(cloud, account, queue)   # after 3 real seconds, no suppressor came
    assert message["NewStateValue"] == "ALARM"
    # A wait that ends with the composite back in OK sends nothing.
    set_state(cw, "errors", "OK")
    set_state(cw, "errors", "ALARM")
    assert composite(cw, "paging")["ActionsSuppressedBy"] == "WaitPeriod"
    set_state(cw, "deploying", "ALARM")        # the suppressor came in time
    set_state(cw, "errors", "OK")
    set_state(cw, "deploying", "OK")           # extension 0: the held OK transition has no actions
    wait_for(lambda: "ActionsSuppressedBy" not in composite(cw, "paging"), what="the suppression to end")
    time.sleep(1)
    assert queued(cloud, account, queue) == []


def test_composites_their_suppression_and_dashboards_survive_a_restart(tmp_path):
    """A composite's state, its held actions and a dashboard are in the snapshot: after a
    restart on the same data dir the suppressor's end still lets the held notification go."""
    from tests.conftest import start_cloud, stop_cloud

    cloud = start_cloud(tmp_path)
    account = "135792468013"
    try:
        cw = cloud.client("cloudwatch", account)
        topic, queue = subscribed_queue(cloud, account, "kept")
        child(cw, "errors")
        child(cw, "deploying")
        cw.put_composite_alarm(AlarmName="paging", AlarmRule="ALARM(errors)", AlarmActions=[topic],
                               ActionsSuppressor="deploying", ActionsSuppressorWaitPeriod=60,
                               ActionsSuppressorExtensionPeriod=60)
        set_state(cw, "deploying", "ALARM")
        set_state(cw, "errors", "ALARM")
        body = json.dumps({"widgets": [{"type": "text", "properties": {"markdown": "# kept"}}]})
        cw.put_dashboard(DashboardName="kept", DashboardBody=body)
        stop_cloud(cloud, keep_data=True)
        cloud = start_cloud(tmp_path, data_dir=cloud.data_dir, port=cloud.port)
        cw = cloud.client("cloudwatch", account)
        view = composite(cw, "paging")
        assert (view["StateValue"], view["ActionsSuppressedBy"], view["ActionsSuppressor"]) == (
            "ALARM", "Alarm", "deploying")
        assert cw.get_dashboard(DashboardName="kept")["DashboardBody"] == body
        assert queued(cloud, account, queue) == []
        set_state(cw, "deploying", "OK")
        [message] = notifications(cloud, account, queue)
        assert (message["AlarmName"], message["NewStateValue"]) == ("paging", "ALARM")
        set_state(cw, "errors", "OK")           # still settled from its children after the restart
        assert composite(cw, "paging")["StateValue"] == "OK"
    finally:
        stop_cloud(cloud)


def test_state_changes_and_configuration_reach_eventbridge_and_history(cloud, account):
    cw, events, sqs = (cloud.client(s, account) for s in ("cloudwatch", "events", "sqs"))
    queue = sqs.create_queue(QueueName="composite-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="composite-changes", EventPattern=json.dumps(
        {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
         "resources": [f"arn:aws:cloudwatch:us-east-1:{account}:alarm:paging"]}))
    events.put_targets(Rule="composite-changes", Targets=[{"Id": "inbox", "Arn": queue_arn}])
    child(cw, "errors")
    child(cw, "deploying")
    set_state(cw, "deploying", "ALARM")
    cw.put_composite_alarm(AlarmName="paging", AlarmRule="ALARM(errors)", AlarmActions=[
        f"arn:aws:sns:us-east-1:{account}:nobody"], ActionsSuppressor="deploying",
        ActionsSuppressorWaitPeriod=60, ActionsSuppressorExtensionPeriod=60)
    set_state(cw, "errors", "ALARM")
    got: list[dict] = []

    def received():
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            got.append(json.loads(message["Body"])["detail"])
        return len(got) >= 2 and got

    details = wait_for(received, what="the composite's two state change events")
    assert [(d["previousState"]["value"], d["state"]["value"]) for d in details] == [
        ("INSUFFICIENT_DATA", "OK"), ("OK", "ALARM")]
    last = details[-1]
    assert last["configuration"]["alarmRule"] == "ALARM(errors)"
    assert last["configuration"]["actionsSuppressor"] == "deploying"
    assert last["state"]["actionsSuppressedBy"] == "Alarm"
    assert json.loads(last["state"]["reasonData"])["triggeringAlarms"][0]["arn"].endswith(":alarm:errors")
    [created] = cw.describe_alarm_history(AlarmName="paging", HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]
    config = json.loads(created["HistoryData"])["createdAlarm"]
    assert (created["AlarmType"], config["alarmRule"], config["actionsSuppressorWaitPeriod"]) == (
        "CompositeAlarm", "ALARM(errors)", 60)
