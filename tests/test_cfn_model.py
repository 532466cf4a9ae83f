"""The one base of the project's CloudFormation resource types
(services/cfn_model.py), through boto3 against the real cloud: a property of
the wrong type fails in CloudFormation's words on create and on update, and
Fn::GetAtt of an attribute a type lacks is a template error."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ALARM = """
Resources:
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: typed
      Namespace: Workshop/Test
      MetricName: Errors
      Statistic: Sum
      Period: {period}
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanThreshold
{extra}"""

REASON = ("Properties validation failed for resource Alarm with message: "
          "#/Period: expected type: Integer, found: String")


def status(cf, name: str) -> str:
    return cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def reasons(cf, name: str, resource_status: str) -> list[str]:
    return [e.get("ResourceStatusReason") for e in cf.describe_stack_events(StackName=name)["StackEvents"]
            if e["LogicalResourceId"] == "Alarm" and e["ResourceStatus"] == resource_status]


def test_a_property_of_the_wrong_type_fails_the_create(cloud, account):
    cf, cw = cloud.client("cloudformation", account), cloud.client("cloudwatch", account)
    cf.create_stack(StackName="typed", TemplateBody=ALARM.format(period="often", extra=""))
    assert status(cf, "typed") == "ROLLBACK_COMPLETE"
    assert reasons(cf, "typed", "CREATE_FAILED") == [REASON]
    assert cw.describe_alarms(AlarmNames=["typed"])["MetricAlarms"] == []


def test_a_property_of_the_wrong_type_fails_the_update_and_the_alarm_stays(cloud, account):
    cf, cw = cloud.client("cloudformation", account), cloud.client("cloudwatch", account)
    outputs = "Outputs:\n  Arn:\n    Value: !GetAtt Alarm.Arn\n  Name:\n    Value: !Ref Alarm\n"
    cf.create_stack(StackName="typed", TemplateBody=ALARM.format(period="60", extra=outputs))
    assert status(cf, "typed") == "CREATE_COMPLETE"
    alarm = cw.describe_alarms(AlarmNames=["typed"])["MetricAlarms"][0]
    found = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName="typed")["Stacks"][0]["Outputs"]}
    assert found == {"Arn": alarm["AlarmArn"], "Name": "typed"}

    cf.update_stack(StackName="typed", TemplateBody=ALARM.format(period="often", extra=outputs))
    assert status(cf, "typed") == "UPDATE_ROLLBACK_COMPLETE"
    assert reasons(cf, "typed", "UPDATE_FAILED") == [REASON]
    assert cw.describe_alarms(AlarmNames=["typed"])["MetricAlarms"][0]["Period"] == 60


def test_getatt_of_an_attribute_the_type_lacks(cloud, account):
    cf = cloud.client("cloudformation", account)
    in_outputs = ALARM.format(period="60", extra="Outputs:\n  Nope:\n    Value: !GetAtt Alarm.Nope\n")
    with pytest.raises(ClientError) as caught:
        cf.create_stack(StackName="nope", TemplateBody=in_outputs)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "does not support attribute type Nope" in caught.value.response["Error"]["Message"]

    in_resources = ALARM.format(period="60", extra="  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n"
                                                  "      DisplayName: !GetAtt Alarm.Nope\n")
    cf.create_stack(StackName="nope", TemplateBody=in_resources)
    assert status(cf, "nope") == "ROLLBACK_COMPLETE"
    failed = [e["ResourceStatusReason"] for e in cf.describe_stack_events(StackName="nope")["StackEvents"]
              if e["LogicalResourceId"] == "Topic" and e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed == ["Template error: resource Alarm does not support attribute type Nope in Fn::GetAtt"]


def test_a_type_must_name_cloudformation_model_itself():
    # moto lists resource types with CloudFormationModel.__subclasses__(): a grandchild would be skipped silently.
    from workshop.cloud.services.cfn_model import CfnResource

    with pytest.raises(TypeError, match="CloudFormationModel"):
        type("Hidden", (CfnResource,), {"cfn_type": "AWS::Test::Hidden"})
