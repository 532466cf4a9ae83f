"""AWS::XRay::Group and AWS::XRay::SamplingRule in CloudFormation: created
through the same checks as the API (a bad filter expression fails the stack),
Ref and GetAtt, updated in place, drift IN_SYNC then MODIFIED after a change
out of band, and gone with the stack."""

from __future__ import annotations

from botocore.exceptions import WaiterError
import pytest

from tests.test_cloudformation_drift import deploy, detect, drifts

TEMPLATE = """
Resources:
  Slow:
    Type: AWS::XRay::Group
    Properties:
      GroupName: slow-orders
      FilterExpression: 'service("orders") { responsetime > 2 }'
      InsightsConfiguration: {InsightsEnabled: true, NotificationsEnabled: false}
      Tags: [{Key: lab, Value: 06-observability}]
  Orders:
    Type: AWS::XRay::SamplingRule
    Properties:
      SamplingRule:
        RuleName: orders-rule
        ResourceARN: "*"
        Priority: 10
        FixedRate: 0.1
        ReservoirSize: 2
        ServiceName: orders
        ServiceType: "*"
        Host: "*"
        HTTPMethod: "*"
        URLPath: "*"
        Version: 1
Outputs:
  GroupArn: {Value: !GetAtt Slow.GroupARN}
  GroupRef: {Value: !Ref Slow}
  RuleArn: {Value: !GetAtt Orders.RuleARN}
"""


def test_group_and_rule_from_a_stack_with_drift(cloud, account):
    cf, xray = cloud.client("cloudformation", account), cloud.client("xray", account)
    stack = deploy(cf, TEMPLATE, "xray")
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    group = xray.get_group(GroupName="slow-orders")["Group"]
    assert out["GroupArn"] == out["GroupRef"] == group["GroupARN"]
    assert group["FilterExpression"] == 'service("orders") { responsetime > 2 }'
    assert group["InsightsConfiguration"]["InsightsEnabled"] is True
    rules = {r["SamplingRule"]["RuleName"]: r["SamplingRule"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]}
    assert rules["orders-rule"]["RuleARN"] == out["RuleArn"] and rules["orders-rule"]["ReservoirSize"] == 2

    assert detect(cf, "xray")["StackDriftStatus"] == "IN_SYNC"
    xray.update_group(GroupName="slow-orders", FilterExpression="responsetime > 9")
    xray.update_sampling_rule(SamplingRuleUpdate={"RuleName": "orders-rule", "FixedRate": 0.5})
    assert detect(cf, "xray")["StackDriftStatus"] == "DRIFTED"
    found = drifts(cf, "xray", StackResourceDriftStatusFilters=["MODIFIED"])
    assert [d["PropertyPath"] for d in found["Slow"]["PropertyDifferences"]] == ["/FilterExpression"]
    assert found["Slow"]["PropertyDifferences"][0]["ActualValue"] == "responsetime > 9"
    assert [(d["PropertyPath"], d["ActualValue"]) for d in found["Orders"]["PropertyDifferences"]] == [
        ("/SamplingRule/FixedRate", "0.5")]

    # a stack update of both: applied in place (same ARNs), the out-of-band changes gone, in sync again
    cf.update_stack(StackName="xray", TemplateBody=TEMPLATE.replace("ReservoirSize: 2", "ReservoirSize: 3")
                    .replace("responsetime > 2", "responsetime > 3"))
    cf.get_waiter("stack_update_complete").wait(StackName="xray", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    group = xray.get_group(GroupName="slow-orders")["Group"]
    assert (group["GroupARN"], group["FilterExpression"]) == (out["GroupArn"], 'service("orders") { responsetime > 3 }')
    rules = {r["SamplingRule"]["RuleName"]: r["SamplingRule"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]}
    assert (rules["orders-rule"]["FixedRate"], rules["orders-rule"]["ReservoirSize"]) == (0.1, 3)
    assert detect(cf, "xray")["StackDriftStatus"] == "IN_SYNC"

    cf.delete_stack(StackName="xray")
    cf.get_waiter("stack_delete_complete").wait(StackName="xray", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert [g["GroupName"] for g in xray.get_groups()["Groups"]] == ["Default"]
    assert [r["SamplingRule"]["RuleName"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]] == ["Default"]


def test_bad_filter_expression_fails_the_stack(cloud, account):
    cf = cloud.client("cloudformation", account)
    with pytest.raises(WaiterError):
        deploy(cf, TEMPLATE.replace("responsetime > 2", "responsetime >"), "xray-bad")
    events = cf.describe_stack_events(StackName="xray-bad")["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events if e["LogicalResourceId"] == "Slow"
               and e["ResourceStatus"] == "CREATE_FAILED"]
    assert reasons and "Invalid filter expression" in reasons[0]
