"""Change sets through boto3 (and `aws cloudformation deploy`) against the real
cloud: real Changes (Add / Modify / Remove, Replacement and Details), stacks
created or updated through a change set keep their Outputs, executed change
sets and empty ones look as they do in AWS."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

STACK = "workshop-04-iac"

BASE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ArtifactBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "cs-${AWS::AccountId}"
      VersioningConfiguration:
        Status: Enabled
      Tags:
        - Key: lab
          Value: 04-iac
  AlertsTopic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: Workshop alerts
  ConfigParameter:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /workshop/04-iac/env
      Type: String
      Value: dev
Outputs:
  TopicArn:
    Value: !Ref AlertsTopic
  BucketName:
    Value: !Ref ArtifactBucket
"""

# Lab 04's change: a queue subscribed to the topic, and a new DisplayName.
WITH_QUEUE = BASE.replace("DisplayName: Workshop alerts", "DisplayName: Workshop alerts (v2)").replace(
    "Outputs:", """  AlertsQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  AlertsQueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref AlertsQueue]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt AlertsQueue.Arn
            Condition:
              ArnEquals: {aws:SourceArn: !Ref AlertsTopic}
  AlertsSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref AlertsTopic
      Protocol: sqs
      Endpoint: !GetAtt AlertsQueue.Arn
      RawMessageDelivery: true
Outputs:
  QueueUrl:
    Value: !Ref AlertsQueue""")


def create_change_set(cf, name: str, body: str, kind: str = "UPDATE", stack: str = STACK, **kwargs) -> dict:
    cf.create_change_set(StackName=stack, ChangeSetName=name, TemplateBody=body, ChangeSetType=kind, **kwargs)
    try:
        cf.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    except Exception:
        pass  # a FAILED change set ends the waiter; the caller looks at its status
    return cf.describe_change_set(StackName=stack, ChangeSetName=name)


def changes(change_set: dict) -> dict[str, dict]:
    return {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in change_set["Changes"]}


def stack_of(cf, name: str = STACK) -> dict:
    return cf.describe_stacks(StackName=name)["Stacks"][0]


def outputs(stack: dict) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_lab_story_create_and_update_through_change_sets(cloud, account):
    cf, sns, sqs = cloud.client("cloudformation", account), cloud.client("sns", account), cloud.client("sqs", account)
    created = create_change_set(cf, "initial", BASE, kind="CREATE")
    assert created["Status"] == "CREATE_COMPLETE" and created["ExecutionStatus"] == "AVAILABLE"
    assert stack_of(cf)["StackStatus"] == "REVIEW_IN_PROGRESS"
    assert {n: c["Action"] for n, c in changes(created).items()} == {
        "ArtifactBucket": "Add", "AlertsTopic": "Add", "ConfigParameter": "Add"}
    assert all(c["Type"] == "Resource" for c in created["Changes"])

    cf.execute_change_set(StackName=STACK, ChangeSetName="initial")
    cf.get_waiter("stack_create_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    stack = stack_of(cf)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["ChangeSetId"] == created["ChangeSetId"]
    topic_arn = outputs(stack)["TopicArn"]  # Outputs survive a change set (moto drops them)
    assert topic_arn.startswith(f"arn:aws:sns:us-east-1:{account}:")

    update = create_change_set(cf, "add-queue", WITH_QUEUE, Tags=[{"Key": "lab", "Value": "04-iac"}])
    assert update["Status"] == "CREATE_COMPLETE"
    assert update["Tags"] == [{"Key": "lab", "Value": "04-iac"}]
    found = changes(update)
    assert {n: c["Action"] for n, c in found.items()} == {
        "AlertsTopic": "Modify", "AlertsQueue": "Add", "AlertsQueuePolicy": "Add", "AlertsSubscription": "Add"}
    topic_change = found["AlertsTopic"]
    assert topic_change["Replacement"] == "False"
    assert topic_change["PhysicalResourceId"] == topic_arn
    assert topic_change["ResourceType"] == "AWS::SNS::Topic"
    assert topic_change["Scope"] == ["Properties"]
    assert topic_change["Details"] == [{
        "Target": {"Attribute": "Properties", "Name": "DisplayName", "RequiresRecreation": "Never"},
        "Evaluation": "Static", "ChangeSource": "DirectModification"}]
    assert found["AlertsQueue"]["ResourceType"] == "AWS::SQS::Queue" and "Replacement" not in found["AlertsQueue"]

    cf.execute_change_set(StackName=STACK, ChangeSetName="add-queue")
    cf.get_waiter("stack_update_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    stack = stack_of(cf)
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and stack["ChangeSetId"] == update["ChangeSetId"]
    assert stack["Tags"] == [{"Key": "lab", "Value": "04-iac"}]
    assert outputs(stack)["TopicArn"] == topic_arn  # modified in place, not replaced
    queue_url = outputs(stack)["QueueUrl"]
    assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["DisplayName"] == "Workshop alerts (v2)"

    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("sqs", queue_arn)]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Action"] == "sqs:SendMessage"
    sns.publish(TopicArn=topic_arn, Message="disk almost full")
    received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert received[0]["Body"] == "disk almost full"  # RawMessageDelivery: true

    summaries = cf.list_change_sets(StackName=STACK)["Summaries"]
    assert [(s["ChangeSetName"], s["ExecutionStatus"], s["Status"]) for s in summaries] == [
        ("add-queue", "EXECUTE_COMPLETE", "CREATE_COMPLETE")]


def test_replacement_follows_the_property(cloud, account):
    cf = cloud.client("cloudformation", account)
    cf.create_stack(StackName=STACK, TemplateBody=BASE)
    renamed = (BASE.replace('"cs-${AWS::AccountId}"', '"cs2-${AWS::AccountId}"')
               .replace("Name: /workshop/04-iac/env", "Name: /workshop/04-iac/environment")
               .replace("DisplayName: Workshop alerts", "DisplayName: Workshop alerts\n      TopicName: named")
               .replace("Value: 04-iac", "Value: lab-04")
               .replace("Status: Enabled", "Status: Suspended"))
    found = changes(create_change_set(cf, "rename", renamed))
    bucket = found["ArtifactBucket"]
    assert bucket["Replacement"] == "True"
    assert bucket["Scope"] == ["Properties", "Tags"]
    assert {(d["Target"]["Attribute"], d["Target"].get("Name"), d["Target"]["RequiresRecreation"])
            for d in bucket["Details"]} == {("Properties", "BucketName", "Always"),
                                            ("Properties", "VersioningConfiguration", "Never"),
                                            ("Tags", None, "Never")}
    assert found["ConfigParameter"]["Replacement"] == "True"
    assert found["ConfigParameter"]["Details"][0]["Target"]["Name"] == "Name"
    assert found["AlertsTopic"]["Replacement"] == "True"  # TopicName added
    assert found["AlertsTopic"]["Details"][0]["Target"] == {
        "Attribute": "Properties", "Name": "TopicName", "RequiresRecreation": "Always"}

    only_tags = BASE.replace("Value: 04-iac", "Value: lab-04")
    tags = changes(create_change_set(cf, "tags", only_tags))["ArtifactBucket"]
    assert (tags["Replacement"], tags["Scope"]) == ("False", ["Tags"])

    # Executing the rename really replaces: new bucket and parameter, old ones gone.
    s3, ssm = cloud.client("s3", account), cloud.client("ssm", account)
    cf.execute_change_set(StackName=STACK, ChangeSetName="rename")
    stack = stack_of(cf)
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs(stack)["BucketName"] == f"cs2-{account}"
    assert s3.get_bucket_versioning(Bucket=f"cs2-{account}")["Status"] == "Suspended"
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=f"cs-{account}")
    assert ssm.get_parameter(Name="/workshop/04-iac/environment")["Parameter"]["Value"] == "dev"
    with pytest.raises(ClientError):
        ssm.get_parameter(Name="/workshop/04-iac/env")
    assert outputs(stack)["TopicArn"].endswith(":named")
    assert cf.list_change_sets(StackName=STACK)["Summaries"][0]["ChangeSetName"] == "rename"  # "tags" is obsolete


PARAMETERISED = """
Parameters:
  QueueName:
    Type: String
  Delay:
    Type: Number
    Default: 0
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Ref QueueName
      DelaySeconds: !Ref Delay
  Subscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Queue.Arn
  Topic:
    Type: AWS::SNS::Topic
  Extra:
    Type: AWS::SNS::Topic
"""


def test_parameters_dynamic_references_removals_and_custom_names(cloud, account):
    cf = cloud.client("cloudformation", account)
    cf.create_stack(StackName="p", TemplateBody=PARAMETERISED,
                    Parameters=[{"ParameterKey": "QueueName", "ParameterValue": "q-one"}])
    assert stack_of(cf, "p")["StackStatus"] == "CREATE_COMPLETE"
    without_extra = PARAMETERISED.replace("  Extra:\n    Type: AWS::SNS::Topic\n", "")
    found = changes(create_change_set(cf, "cs", without_extra, stack="p", Parameters=[
        {"ParameterKey": "QueueName", "ParameterValue": "q-two"}, {"ParameterKey": "Delay", "UsePreviousValue": True}]))
    queue = found["Queue"]
    assert queue["Replacement"] == "True"
    assert queue["Details"] == [{
        "Target": {"Attribute": "Properties", "Name": "QueueName", "RequiresRecreation": "Always"},
        "Evaluation": "Static", "ChangeSource": "ParameterReference", "CausingEntity": "QueueName"}]
    subscription = found["Subscription"]
    assert subscription["Replacement"] == "Conditional"
    assert subscription["Details"][0]["Evaluation"] == "Dynamic"
    assert subscription["Details"][0]["ChangeSource"] == "ResourceAttribute"
    assert subscription["Details"][0]["CausingEntity"] == "Queue"
    assert found["Extra"]["Action"] == "Remove" and found["Extra"]["PolicyAction"] == "Delete"
    assert "Topic" not in found

    # A custom-named resource cannot be replaced under the same name: the update rolls back.
    fifo = PARAMETERISED.replace("DelaySeconds: !Ref Delay", "DelaySeconds: !Ref Delay\n      FifoQueue: true")
    fifo = fifo.replace("  Subscription:\n    Type: AWS::SNS::Subscription\n    Properties:\n"
                        "      TopicArn: !Ref Topic\n      Protocol: sqs\n      Endpoint: !GetAtt Queue.Arn\n", "")
    cf.update_stack(StackName="p", TemplateBody=fifo,
                    Parameters=[{"ParameterKey": "QueueName", "UsePreviousValue": True}])
    assert stack_of(cf, "p")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    failed = [e for e in cf.describe_stack_events(StackName="p")["StackEvents"]
              if e["ResourceStatus"] == "UPDATE_FAILED"][0]
    assert failed["LogicalResourceId"] == "Queue"
    assert "custom-named resource requires replacing. Rename q-one" in failed["ResourceStatusReason"]
    assert {r["LogicalResourceId"] for r in cf.describe_stack_resources(StackName="p")["StackResources"]} == {
        "Queue", "Subscription", "Topic", "Extra"}


def test_empty_and_failed_change_sets(cloud, account):
    cf = cloud.client("cloudformation", account)
    cf.create_stack(StackName=STACK, TemplateBody=BASE)
    empty = create_change_set(cf, "nothing", BASE + "\n# only a comment\n")
    assert empty["Status"] == "FAILED" and empty["ExecutionStatus"] == "UNAVAILABLE"
    assert empty["StatusReason"].startswith("The submitted information didn't contain changes.")
    assert empty["Changes"] == []
    with pytest.raises(ClientError) as caught:
        cf.execute_change_set(StackName=STACK, ChangeSetName="nothing")
    assert caught.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    cf.delete_change_set(StackName=STACK, ChangeSetName="nothing")
    with pytest.raises(ClientError) as missing:
        cf.describe_change_set(StackName=STACK, ChangeSetName="nothing")
    assert missing.value.response["Error"]["Code"] == "ChangeSetNotFound"

    outputs_only = BASE.replace("  BucketName:\n    Value: !Ref ArtifactBucket\n", "")
    only_outputs = create_change_set(cf, "outputs", outputs_only)
    assert only_outputs["Status"] == "CREATE_COMPLETE" and only_outputs["Changes"] == []

    with pytest.raises(ClientError) as exists:
        cf.create_change_set(StackName=STACK, ChangeSetName="again", TemplateBody=BASE, ChangeSetType="CREATE")
    assert exists.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as bad:
        cf.create_change_set(StackName=STACK, ChangeSetName="bad", TemplateBody="Resources: [", ChangeSetType="UPDATE")
    assert bad.value.response["Error"]["Code"] == "ValidationError"


TEMPLATE_FOR_DEPLOY = """
Parameters:
  Colour:
    Type: String
    Default: blue
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Sub "deploy ${Colour}"
Outputs:
  TopicArn:
    Value: !Ref Topic
    Export:
      Name: !Sub "${AWS::StackName}-topic"
"""


def test_aws_cloudformation_deploy_keeps_outputs(cloud, account, tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE_FOR_DEPLOY)
    env = cloud.env(account)

    def deploy(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "awscli", "cloudformation", "deploy", "--endpoint-url",
                               cloud.endpoint, "--stack-name", "deployed", "--template-file", str(template),
                               *extra], env=env, capture_output=True, text=True, timeout=120)

    first = deploy()
    assert first.returncode == 0, first.stderr + first.stdout
    cf = cloud.client("cloudformation", account)
    stack = stack_of(cf, "deployed")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(stack)["TopicArn"].startswith(f"arn:aws:sns:us-east-1:{account}:")
    assert [e["Name"] for e in cf.list_exports()["Exports"]] == ["deployed-topic"]

    again = deploy("--no-fail-on-empty-changeset")
    assert again.returncode == 0 and "No changes to deploy" in again.stdout + again.stderr

    changed = deploy("--parameter-overrides", "Colour=green")
    assert changed.returncode == 0, changed.stderr + changed.stdout
    stack = stack_of(cf, "deployed")
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and outputs(stack)["TopicArn"]
    attrs = cloud.client("sns", account).get_topic_attributes(TopicArn=outputs(stack)["TopicArn"])["Attributes"]
    assert attrs["DisplayName"] == "deploy green"
