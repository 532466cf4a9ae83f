"""Drift detection through boto3 against the real cloud: lab 04's story (deploy,
change versioning out of band, DRIFTED with the property difference, fix,
IN_SYNC; the same with a topic's DisplayName), and AWS's rules: only
properties the template sets, tags as a set, DELETED, NOT_CHECKED."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import new_account

STACK = "workshop-04-iac"

LAB_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Description: Workshop lab 04 - infrastructure as code
Resources:
  ArtifactBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "workshop-04-${AWS::AccountId}-${AWS::Region}"
      VersioningConfiguration:
        Status: Enabled
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: AES256
      Tags:
        - Key: lab
          Value: 04-iac
        - Key: owner
          Value: learner
  ArtifactBucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref ArtifactBucket
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: "s3:*"
            Resource: !Sub "${ArtifactBucket.Arn}/*"
            Condition:
              Bool:
                aws:SecureTransport: "false"
  AlertsTopic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: Workshop alerts
      Tags:
        - Key: lab
          Value: 04-iac
  ConfigParameter:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /workshop/04-iac/env
      Type: String
      Value: dev
      Description: Environment of the lab 04 stack
Outputs:
  BucketName:
    Value: !Ref ArtifactBucket
  TopicArn:
    Value: !Ref AlertsTopic
"""


def deploy(cf, body: str, name: str = STACK) -> dict:
    cf.create_stack(StackName=name, TemplateBody=body)
    cf.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return cf.describe_stacks(StackName=name)["Stacks"][0]


def outputs(stack: dict) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def detect(cf, name: str = STACK) -> dict:
    detection_id = cf.detect_stack_drift(StackName=name)["StackDriftDetectionId"]
    while True:  # AWS is asynchronous: poll as a learner would
        status = cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
        if status["DetectionStatus"] != "DETECTION_IN_PROGRESS":
            return status


def drifts(cf, name: str = STACK, **kwargs) -> dict:
    return {d["LogicalResourceId"]: d
            for d in cf.describe_stack_resource_drifts(StackName=name, **kwargs)["StackResourceDrifts"]}


def resource_drift_status(cf, name: str = STACK) -> dict:
    return {r["LogicalResourceId"]: r["DriftInformation"]["StackResourceDriftStatus"]
            for r in cf.describe_stack_resources(StackName=name)["StackResources"]}


def test_lab_story_versioning_drift_detected_and_fixed(cloud, account):
    cf, s3 = cloud.client("cloudformation", account), cloud.client("s3", account)
    stack = deploy(cf, LAB_TEMPLATE)
    assert stack["DriftInformation"]["StackDriftStatus"] == "NOT_CHECKED"
    bucket = outputs(stack)["BucketName"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    first = detect(cf)
    assert first["DetectionStatus"] == "DETECTION_COMPLETE"
    assert first["StackDriftStatus"] == "IN_SYNC" and first["DriftedStackResourceCount"] == 0
    assert set(resource_drift_status(cf).values()) == {"IN_SYNC"}

    # Out of band: someone suspends versioning in the console.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    second = detect(cf)
    assert second["StackDriftStatus"] == "DRIFTED" and second["DriftedStackResourceCount"] == 1
    assert second["StackDriftDetectionId"] != first["StackDriftDetectionId"]

    found = drifts(cf)
    bucket_drift = found["ArtifactBucket"]
    assert bucket_drift["StackResourceDriftStatus"] == "MODIFIED"
    assert bucket_drift["PhysicalResourceId"] == bucket
    assert bucket_drift["PropertyDifferences"] == [{
        "PropertyPath": "/VersioningConfiguration/Status", "ExpectedValue": "Enabled",
        "ActualValue": "Suspended", "DifferenceType": "NOT_EQUAL"}]
    assert json.loads(bucket_drift["ExpectedProperties"])["VersioningConfiguration"] == {"Status": "Enabled"}
    assert json.loads(bucket_drift["ActualProperties"])["VersioningConfiguration"] == {"Status": "Suspended"}
    assert {n: d["StackResourceDriftStatus"] for n, d in found.items() if n != "ArtifactBucket"} == {
        "ArtifactBucketPolicy": "IN_SYNC", "AlertsTopic": "IN_SYNC", "ConfigParameter": "IN_SYNC"}

    only_modified = drifts(cf, StackResourceDriftStatusFilters=["MODIFIED"])
    assert list(only_modified) == ["ArtifactBucket"]

    described = cf.describe_stacks(StackName=STACK)["Stacks"][0]["DriftInformation"]
    assert described["StackDriftStatus"] == "DRIFTED" and "LastCheckTimestamp" in described
    assert resource_drift_status(cf)["ArtifactBucket"] == "MODIFIED"
    summaries = cf.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    assert {s["LogicalResourceId"]: s["DriftInformation"]["StackResourceDriftStatus"] for s in summaries}[
        "ArtifactBucket"] == "MODIFIED"

    # Fix it back: the stack is in sync again, and the old detection still reads DRIFTED.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    third = detect(cf)
    assert third["StackDriftStatus"] == "IN_SYNC"
    assert drifts(cf)["ArtifactBucket"]["PropertyDifferences"] == []
    assert cf.describe_stacks(StackName=STACK)["Stacks"][0]["DriftInformation"]["StackDriftStatus"] == "IN_SYNC"
    old = cf.describe_stack_drift_detection_status(StackDriftDetectionId=second["StackDriftDetectionId"])
    assert old["StackDriftStatus"] == "DRIFTED" and old["DriftedStackResourceCount"] == 1


def test_lab_story_topic_display_name_drift_detected_and_fixed(cloud, account):
    cf, sns = cloud.client("cloudformation", account), cloud.client("sns", account)
    topic_arn = outputs(deploy(cf, LAB_TEMPLATE))["TopicArn"]
    assert detect(cf)["StackDriftStatus"] == "IN_SYNC"

    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="DisplayName", AttributeValue="Changed by hand")
    assert detect(cf)["StackDriftStatus"] == "DRIFTED"
    topic = drifts(cf)["AlertsTopic"]
    assert topic["StackResourceDriftStatus"] == "MODIFIED"
    assert topic["PropertyDifferences"] == [{
        "PropertyPath": "/DisplayName", "ExpectedValue": "Workshop alerts", "ActualValue": "Changed by hand",
        "DifferenceType": "NOT_EQUAL"}]

    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="DisplayName", AttributeValue="Workshop alerts")
    assert detect(cf)["StackDriftStatus"] == "IN_SYNC"
    assert resource_drift_status(cf)["AlertsTopic"] == "IN_SYNC"


QUEUE_TEMPLATE = """
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 45
      DelaySeconds: 5
      Tags:
        - Key: lab
          Value: 04-iac
        - Key: team
          Value: blue
"""


def test_only_template_properties_are_compared_and_tags_are_a_set(cloud, account):
    cf, sqs = cloud.client("cloudformation", account), cloud.client("sqs", account)
    deploy(cf, QUEUE_TEMPLATE, "queue-stack")
    url = cf.describe_stack_resource(StackName="queue-stack", LogicalResourceId="Queue")[
        "StackResourceDetail"]["PhysicalResourceId"]

    # A default the template never set is not drift.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "600"})
    assert detect(cf, "queue-stack")["StackDriftStatus"] == "IN_SYNC"

    # The same tags in another order are the same tags.
    sqs.untag_queue(QueueUrl=url, TagKeys=["lab", "team"])
    sqs.tag_queue(QueueUrl=url, Tags={"team": "blue", "lab": "04-iac"})
    assert detect(cf, "queue-stack")["StackDriftStatus"] == "IN_SYNC"

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "90"})
    sqs.tag_queue(QueueUrl=url, Tags={"team": "red", "cost": "42"})
    assert detect(cf, "queue-stack")["StackDriftStatus"] == "DRIFTED"
    differences = {d["PropertyPath"]: d for d in drifts(cf, "queue-stack")["Queue"]["PropertyDifferences"]}
    assert differences["/VisibilityTimeout"] == {"PropertyPath": "/VisibilityTimeout", "ExpectedValue": "45",
                                                 "ActualValue": "90", "DifferenceType": "NOT_EQUAL"}
    assert differences["/Tags/1/Value"]["ExpectedValue"] == "blue"
    assert differences["/Tags/1/Value"]["ActualValue"] == "red"
    added = differences["/Tags/2"]
    assert added["DifferenceType"] == "ADD" and json.loads(added["ActualValue"]) == {"Key": "cost", "Value": "42"}
    assert "/MessageRetentionPeriod" not in differences and "/DelaySeconds" not in differences

    sqs.untag_queue(QueueUrl=url, TagKeys=["lab"])
    removed = {d["PropertyPath"]: d for d in cf.detect_stack_resource_drift(
        StackName="queue-stack", LogicalResourceId="Queue")["StackResourceDrift"]["PropertyDifferences"]}
    assert removed["/Tags/0"]["DifferenceType"] == "REMOVE"
    assert json.loads(removed["/Tags/0"]["ExpectedValue"]) == {"Key": "lab", "Value": "04-iac"}


TYPES_TEMPLATE = """
Resources:
  Setting:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /drift/setting
      Type: String
      Value: blue
      Description: which colour is live
  Images:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: drift-images
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: true
  Schedule:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(5 minutes)
  Gone:
    Type: AWS::SQS::Queue
"""


def test_ssm_ecr_deleted_and_not_checked_resources(cloud, account):
    cf = cloud.client("cloudformation", account)
    ssm, ecr, sqs = cloud.client("ssm", account), cloud.client("ecr", account), cloud.client("sqs", account)
    deploy(cf, TYPES_TEMPLATE, "types")
    first = detect(cf, "types")
    assert first["StackDriftStatus"] == "IN_SYNC"
    assert drifts(cf, "types")["Schedule"]["StackResourceDriftStatus"] == "NOT_CHECKED"

    ssm.put_parameter(Name="/drift/setting", Value="green", Type="String", Overwrite=True)
    ecr.put_image_scanning_configuration(repositoryName="drift-images",
                                         imageScanningConfiguration={"scanOnPush": False})
    ecr.put_image_tag_mutability(repositoryName="drift-images", imageTagMutability="MUTABLE")
    gone_url = cf.describe_stack_resource(StackName="types", LogicalResourceId="Gone")[
        "StackResourceDetail"]["PhysicalResourceId"]
    sqs.delete_queue(QueueUrl=gone_url)

    status = detect(cf, "types")
    assert status["StackDriftStatus"] == "DRIFTED" and status["DriftedStackResourceCount"] == 3
    found = drifts(cf, "types")
    assert found["Setting"]["PropertyDifferences"] == [{
        "PropertyPath": "/Value", "ExpectedValue": "blue", "ActualValue": "green", "DifferenceType": "NOT_EQUAL"}]
    images = {d["PropertyPath"]: d for d in found["Images"]["PropertyDifferences"]}
    assert images["/ImageScanningConfiguration/ScanOnPush"]["ExpectedValue"] == "true"
    assert images["/ImageScanningConfiguration/ScanOnPush"]["ActualValue"] == "false"
    assert images["/ImageTagMutability"]["ActualValue"] == "MUTABLE"
    assert found["Gone"]["StackResourceDriftStatus"] == "DELETED"
    assert "ActualProperties" not in found["Gone"]
    assert found["Schedule"]["StackResourceDriftStatus"] == "NOT_CHECKED"
    assert resource_drift_status(cf, "types") == {"Setting": "MODIFIED", "Images": "MODIFIED",
                                                  "Schedule": "NOT_CHECKED", "Gone": "DELETED"}
    assert list(drifts(cf, "types", StackResourceDriftStatusFilters=["DELETED"])) == ["Gone"]

    # A stack whose resource was deleted out of band still deletes cleanly.
    cf.delete_stack(StackName="types")
    cf.get_waiter("stack_delete_complete").wait(StackName=first["StackId"], WaiterConfig={"Delay": 1})


def test_single_resource_drift_and_pagination(cloud, account):
    cf, s3 = cloud.client("cloudformation", account), cloud.client("s3", account)
    bucket = outputs(deploy(cf, LAB_TEMPLATE))["BucketName"]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "owner", "Value": "learner"},
                                                             {"Key": "lab", "Value": "04-iac"}]})
    one = cf.detect_stack_resource_drift(StackName=STACK, LogicalResourceId="ArtifactBucket")["StackResourceDrift"]
    assert one["StackResourceDriftStatus"] == "IN_SYNC"  # reordered tags are not drift
    s3.delete_bucket_encryption(Bucket=bucket)
    one = cf.detect_stack_resource_drift(StackName=STACK, LogicalResourceId="ArtifactBucket")["StackResourceDrift"]
    assert one["StackResourceDriftStatus"] == "MODIFIED"
    assert [(d["PropertyPath"], d["DifferenceType"]) for d in one["PropertyDifferences"]] == [
        ("/BucketEncryption", "REMOVE")]
    # A single-resource check updates that resource, not the stack's status.
    assert resource_drift_status(cf)["ArtifactBucket"] == "MODIFIED"
    assert cf.describe_stacks(StackName=STACK)["Stacks"][0]["DriftInformation"]["StackDriftStatus"] == "NOT_CHECKED"

    detect(cf)
    page = cf.describe_stack_resource_drifts(StackName=STACK, MaxResults=3)
    assert len(page["StackResourceDrifts"]) == 3 and page["NextToken"]
    rest = cf.describe_stack_resource_drifts(StackName=STACK, MaxResults=3, NextToken=page["NextToken"])
    assert len(rest["StackResourceDrifts"]) == 1 and "NextToken" not in rest


def test_drift_errors_are_validation_errors_and_ids_belong_to_their_account(cloud, account):
    cf = cloud.client("cloudformation", account)
    with pytest.raises(ClientError) as missing:
        cf.detect_stack_drift(StackName="no-such-stack")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    deploy(cf, QUEUE_TEMPLATE, "queue-stack")
    with pytest.raises(ClientError) as unknown:
        cf.detect_stack_resource_drift(StackName="queue-stack", LogicalResourceId="Nope")
    assert unknown.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as bad_id:
        cf.describe_stack_drift_detection_status(StackDriftDetectionId="00000000-0000-0000-0000-000000000000")
    assert bad_id.value.response["Error"]["Code"] == "ValidationError"

    detection_id = cf.detect_stack_drift(StackName="queue-stack")["StackDriftDetectionId"]
    other = cloud.client("cloudformation", new_account())
    with pytest.raises(ClientError):
        other.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
