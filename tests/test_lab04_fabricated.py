"""Lab 04-iac's checks against the evidence a learner could fabricate with plain
boto3 in a fresh account, without doing the work: a drift report written by
hand, one drift detection of an untouched stack, a fix never detected, a
parameter nothing uses, a bucket policy wider than the bucket, a stack made
with the change already in it or changed by UpdateStack. Each check must fail
and say what evidence is missing. And the honest path the checker once failed:
a second, corrective change set."""

from __future__ import annotations

import json

from checker.labs.lab04_iac import REPORT_KEY, STACK_NAME
from tests.conftest import new_account
from tests.test_lab04_checks import FAST, LAB_TAGS, checks, detect, lab_bucket, solve, templates

V1, V2 = templates()
DEV = [{"ParameterKey": "Environment", "ParameterValue": "dev"}]


def create(cloud, account: str, template: str = V1) -> None:
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName=STACK_NAME, TemplateBody=template, Tags=LAB_TAGS, Parameters=DEV)
    cfn.get_waiter("stack_create_complete").wait(StackName=STACK_NAME, WaiterConfig=FAST)


def change_set(cloud, account: str, name: str, template: str) -> None:
    cfn = cloud.client("cloudformation", account)
    cfn.create_change_set(StackName=STACK_NAME, ChangeSetName=name, ChangeSetType="UPDATE", TemplateBody=template,
                          Tags=LAB_TAGS, Parameters=[{"ParameterKey": "Environment", "UsePreviousValue": True}])
    cfn.get_waiter("change_set_create_complete").wait(StackName=STACK_NAME, ChangeSetName=name, WaiterConfig=FAST)
    cfn.execute_change_set(StackName=STACK_NAME, ChangeSetName=name)
    cfn.get_waiter("stack_update_complete").wait(StackName=STACK_NAME, WaiterConfig=FAST)


def test_a_hand_written_drift_report_and_a_detection_of_an_untouched_stack_fail(cloud, account):
    solve(cloud, account, upto="change-set")
    cfn, s3 = cloud.client("cloudformation", account), cloud.client("s3", account)
    stack_id = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackId"]
    report = {"StackResourceDrifts": [{
        "StackId": stack_id, "LogicalResourceId": "LabBucket", "ResourceType": "AWS::S3::Bucket",
        "StackResourceDriftStatus": "MODIFIED", "Timestamp": "2030-01-01T00:00:00Z",
        "PropertyDifferences": [{"PropertyPath": "/VersioningConfiguration/Status", "ExpectedValue": "Enabled",
                                 "ActualValue": "Suspended", "DifferenceType": "NOT_EQUAL"}]}]}
    s3.put_object(Bucket=lab_bucket(account), Key=REPORT_KEY, Body=json.dumps(report).encode())
    assert detect(cfn)["StackDriftStatus"] == "IN_SYNC"  # the stack was never touched
    found = checks(cloud, account)
    assert not found["drift-detected"].passed
    assert "no PutBucketVersioning by you" in found["drift-detected"].message
    assert not found["drift-fixed"].passed and "Detect the drift first" in found["drift-fixed"].message


def test_a_change_never_detected_or_a_fix_never_detected_fails(cloud, account):
    solve(cloud, account, upto="change-set")
    cfn, s3 = cloud.client("cloudformation", account), cloud.client("s3", account)
    detect(cfn)  # a detection before the change does not count
    s3.put_bucket_versioning(Bucket=lab_bucket(account), VersioningConfiguration={"Status": "Suspended"})
    found = checks(cloud, account)
    assert not found["drift-detected"].passed
    assert "no detection after it found the stack DRIFTED" in found["drift-detected"].message

    assert detect(cfn)["StackDriftStatus"] == "DRIFTED"
    s3.put_bucket_versioning(Bucket=lab_bucket(account), VersioningConfiguration={"Status": "Enabled"})
    found = checks(cloud, account)
    assert found["drift-detected"].passed, found["drift-detected"].message
    assert not found["drift-fixed"].passed and "IN_SYNC" in found["drift-fixed"].message  # fixed, never detected
    assert detect(cfn)["StackDriftStatus"] == "IN_SYNC"
    assert checks(cloud, account)["drift-fixed"].passed


def test_a_parameter_nothing_uses_and_a_policy_wider_than_the_bucket_fail(cloud, account):
    wide = V1.replace('!Sub "${LabBucket.Arn}/*"', '"*"')
    assert wide != V1
    create(cloud, account, wide.replace("!Ref Environment", "dev"))
    found = checks(cloud, account)
    assert not found["template-parameters"].passed
    assert "No resource of the template uses Environment" in found["template-parameters"].message
    assert not found["bucket-secure"].passed and "names *" in found["bucket-secure"].message


def test_the_change_made_at_creation_or_by_update_stack_fails(cloud, account):
    create(cloud, account, V2)  # the queue there from the start; then a change set that only renames the topic
    change_set(cloud, account, "rename", V2.replace("Workshop alerts (04-iac)", "Alerts"))
    found = checks(cloud, account)
    assert not found["change-set-executed"].passed
    assert "created with AWS::SNS::Subscription, AWS::SQS::Queue already" in found["change-set-executed"].message

    second = new_account()  # the change by UpdateStack, no change set at all
    create(cloud, second)
    cfn = cloud.client("cloudformation", second)
    cfn.update_stack(StackName=STACK_NAME, TemplateBody=V2, Tags=LAB_TAGS,
                     Parameters=[{"ParameterKey": "Environment", "UsePreviousValue": True}])
    cfn.get_waiter("stack_update_complete").wait(StackName=STACK_NAME, WaiterConfig=FAST)
    found = checks(cloud, second)
    assert not found["change-set-executed"].passed
    assert "no ExecuteChangeSet by you" in found["change-set-executed"].message


def test_a_second_corrective_change_set_passes(cloud, account):
    """The first change set added the queue but kept the old DisplayName; the second renamed the topic.
    Executing the second deleted the first, so no change set left describes the whole change."""
    create(cloud, account)
    change_set(cloud, account, "add-alerts-queue", V2.replace("Workshop alerts (04-iac)", "Workshop alerts"))
    found = checks(cloud, account)
    assert not found["change-set-executed"].passed  # the topic's DisplayName is not the new one yet
    change_set(cloud, account, "rename-topic", V2)
    listed = cloud.client("cloudformation", account).list_change_sets(StackName=STACK_NAME)["Summaries"]
    assert [c["ChangeSetName"] for c in listed] == ["rename-topic"]
    found = checks(cloud, account)
    assert found["change-set-executed"].passed, found["change-set-executed"].message
    assert "add-alerts-queue" in found["change-set-executed"].message
