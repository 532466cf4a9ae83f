"""AWS::CloudWatch::CompositeAlarm and AWS::CloudWatch::Dashboard in CloudFormation:
created through the API's own checks (a bad rule or body fails the stack in AWS's
words), a composite that settles from its stack's children, updated in place, drift
IN_SYNC then MODIFIED when the rule or the body is changed out of band, gone with the stack."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import WaiterError

from tests.test_cloudformation_drift import deploy, detect, drifts

BODY = {"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
                     "properties": {"title": "Latency", "region": "us-east-1", "period": 60,
                                    "metrics": [["Shop", "Latency", "Service", "orders"]]}}]}


def template(rule: str = "ALARM(errors) AND ALARM(latency)", body: dict = BODY, wait: int = 60) -> str:
    child = {"Namespace": "Shop", "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
             "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "ignore"}
    return json.dumps({"Resources": {
        "Errors": {"Type": "AWS::CloudWatch::Alarm",
                   "Properties": {**child, "AlarmName": "errors", "MetricName": "Errors"}},
        "Latency": {"Type": "AWS::CloudWatch::Alarm",
                    "Properties": {**child, "AlarmName": "latency", "MetricName": "Latency"}},
        "Deploying": {"Type": "AWS::CloudWatch::Alarm",
                      "Properties": {**child, "AlarmName": "deploying", "MetricName": "Deploying"}},
        "Health": {"Type": "AWS::CloudWatch::CompositeAlarm", "DependsOn": ["Errors", "Latency", "Deploying"],
                   "Properties": {"AlarmName": "health", "AlarmRule": rule, "AlarmDescription": "errors and latency",
                                  "ActionsSuppressor": {"Fn::GetAtt": ["Deploying", "Arn"]},
                                  "ActionsSuppressorWaitPeriod": wait, "ActionsSuppressorExtensionPeriod": 120}},
        "Board": {"Type": "AWS::CloudWatch::Dashboard",
                  "Properties": {"DashboardName": "shop", "DashboardBody": json.dumps(body)}},
    }, "Outputs": {"HealthArn": {"Value": {"Fn::GetAtt": ["Health", "Arn"]}},
                   "HealthName": {"Value": {"Ref": "Health"}}, "Board": {"Value": {"Ref": "Board"}}}})


def test_composite_alarm_and_dashboard_from_a_stack_with_drift(cloud, account):
    cf, cw = cloud.client("cloudformation", account), cloud.client("cloudwatch", account)
    stack = deploy(cf, template(), "observability")
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert out == {"HealthArn": f"arn:aws:cloudwatch:us-east-1:{account}:alarm:health",
                   "HealthName": "health", "Board": "shop"}
    [health] = cw.describe_alarms(AlarmNames=["health"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert (health["AlarmRule"], health["ActionsSuppressorWaitPeriod"]) == ("ALARM(errors) AND ALARM(latency)", 60)
    assert health["ActionsSuppressor"].endswith(":alarm:deploying")
    # A stack's composite is a real one.
    for name in ("errors", "latency"):
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    assert cw.describe_alarms(AlarmNames=["health"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0][
        "StateValue"] == "ALARM"
    assert json.loads(cw.get_dashboard(DashboardName="shop")["DashboardBody"]) == BODY

    assert detect(cf, "observability")["StackDriftStatus"] == "IN_SYNC"
    cw.put_composite_alarm(AlarmName="health", AlarmRule="ALARM(errors) OR ALARM(latency)",
                           AlarmDescription="errors and latency", ActionsSuppressor=health["ActionsSuppressor"],
                           ActionsSuppressorWaitPeriod=60, ActionsSuppressorExtensionPeriod=120)
    changed = json.loads(json.dumps(BODY))
    changed["widgets"][0]["properties"]["title"] = "Latency (edited in the console)"
    cw.put_dashboard(DashboardName="shop", DashboardBody=json.dumps(changed))
    assert detect(cf, "observability")["StackDriftStatus"] == "DRIFTED"
    found = drifts(cf, "observability", StackResourceDriftStatusFilters=["MODIFIED"])
    assert sorted(found) == ["Board", "Health"]
    assert [(d["PropertyPath"], d["ActualValue"]) for d in found["Health"]["PropertyDifferences"]] == [
        ("/AlarmRule", "ALARM(errors) OR ALARM(latency)")]
    assert [(d["PropertyPath"], d["ActualValue"]) for d in found["Board"]["PropertyDifferences"]] == [
        ("/DashboardBody/widgets/0/properties/title", "Latency (edited in the console)")]

    # An update of both applies the template in place; the composite keeps its state. (As on
    # AWS, an update leaves a resource whose template did not change as it is, drift and all.)
    renamed = json.loads(json.dumps(BODY))
    renamed["widgets"][0]["properties"]["title"] = "Latency, p50"
    cf.update_stack(StackName="observability", TemplateBody=template(wait=30, body=renamed))
    cf.get_waiter("stack_update_complete").wait(StackName="observability", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    [health] = cw.describe_alarms(AlarmNames=["health"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert (health["AlarmRule"], health["ActionsSuppressorWaitPeriod"], health["StateValue"]) == (
        "ALARM(errors) AND ALARM(latency)", 30, "ALARM")
    assert json.loads(cw.get_dashboard(DashboardName="shop")["DashboardBody"]) == renamed
    assert detect(cf, "observability")["StackDriftStatus"] == "IN_SYNC"

    cw.delete_dashboards(DashboardNames=["shop"])
    assert detect(cf, "observability")["StackDriftStatus"] == "DRIFTED"
    assert drifts(cf, "observability")["Board"]["StackResourceDriftStatus"] == "DELETED"
    cf.delete_stack(StackName="observability")
    cf.get_waiter("stack_delete_complete").wait(StackName="observability", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    everything = cw.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert everything["MetricAlarms"] == [] and everything["CompositeAlarms"] == []
    assert cw.list_dashboards()["DashboardEntries"] == []


@pytest.mark.parametrize("change, words", [
    (dict(rule="ALARM(errors) AND"), "Error in AlarmRule"),
    (dict(body={"widgets": [{"type": "metric", "width": 30, "properties": {"metrics": [["Shop", "Latency"]]}}]}),
     "/widgets/0/width"),
])
def test_a_bad_rule_or_body_fails_the_stack(cloud, account, change, words):
    cf = cloud.client("cloudformation", account)
    with pytest.raises(WaiterError):
        deploy(cf, template(**change), "bad")
    events = cf.describe_stack_events(StackName="bad")["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert any(words in reason for reason in reasons), reasons
