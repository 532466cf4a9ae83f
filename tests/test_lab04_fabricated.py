"""Lab 04-iac's checks against the evidence a learner could fabricate with plain
boto3 in a fresh account, without doing the work: a drift report written by
hand, one drift detection of an untouched stack, a fix never detected, a
parameter nothing uses, a bucket policy wider than the bucket, a stack made
with the change already in it or changed by UpdateStack. Each check must fail
and say what evidence is missing. And the honest path the checker once failed:
a second, corrective change set.

Part 2 (CDK): what tells a synthesized template from one written by hand is in the
template CloudFormation keeps. CDK derives each logical id from the resource's construct
path (``aws:cdk:path``; the readable path and an MD5 of it), and its CDKMetadata resource
lists, gzip-compressed, the class of every construct used. A template with made-up
``aws:cdk:path`` metadata, created with plain boto3, fails every CDK check; so does a
synthesized template edited before deployment, two L2 buckets passed off as a construct
of one's own, and a measurement with made-up numbers (the checker recomputes them from
the stored templates). What cannot be told apart: a learner who re-derives CDK's ids
and writes its compressed metadata by hand has done the synthesis themselves; the app
source in the bucket is the learner's (the checker only requires it to name the
deployed construct ids); and the real synthesized template deployed by any client
through a change set is exactly what the lab asks for."""

from __future__ import annotations

import json

import copy

from checker.labs.lab04_cdk import CDK_STACK, logical_id
from checker.labs.lab04_iac import REPORT_KEY, STACK_NAME
from tests.conftest import new_account
from tests.test_lab04_checks import (
    FAST,
    LAB_TAGS,
    app_source,
    checks,
    comparison,
    deploy_cdk,
    detect,
    lab_bucket,
    measured,
    save_measurement,
    solve,
    synthesize,
    templates,
)

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


# -- Part 2: CDK ------------------------------------------------------------------------------

CDK_CHECKS = ("cdk-synthesized", "cdk-stack-deployed", "cdk-construct-reused")


def hand_written_cdk_template() -> dict:
    """The CDK stack's resources written by hand, with CDK-looking metadata: paths as CDK would
    record them, logical ids a person would choose, a CDKMetadata resource with a made-up string."""
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketName": {"Fn::Sub": "workshop-04-cdk-NAME-${AWS::AccountId}-${AWS::Region}"},
        "VersioningConfiguration": {"Status": "Enabled"},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "Tags": [{"Key": "workshop:lab", "Value": "04-iac"}]}}
    resources: dict = {}
    for scope in ("Data", "Logs"):
        b = copy.deepcopy(bucket)
        b["Properties"]["BucketName"]["Fn::Sub"] = b["Properties"]["BucketName"]["Fn::Sub"].replace(
            "NAME", scope.lower())
        b["Metadata"] = {"aws:cdk:path": f"{CDK_STACK}/{scope}/Bucket/Resource"}
        resources[f"{scope}Bucket"] = b
        resources[f"{scope}BucketPolicy"] = {
            "Type": "AWS::S3::BucketPolicy",
            "Metadata": {"aws:cdk:path": f"{CDK_STACK}/{scope}/Bucket/Policy/Resource"},
            "Properties": {"Bucket": {"Ref": f"{scope}Bucket"}, "PolicyDocument": {"Statement": [{
                "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [{"Fn::GetAtt": [f"{scope}Bucket", "Arn"]}, {"Fn::Sub": f"${{{scope}Bucket.Arn}}/*"}],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}}
    resources["Alerts"] = {"Type": "AWS::SNS::Topic", "Metadata": {"aws:cdk:path": f"{CDK_STACK}/Alerts/Resource"},
                           "Properties": {"TopicName": "workshop-04-cdk-alerts"}}
    resources["AlertsQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "workshop-04-cdk-alerts"},
                                "Metadata": {"aws:cdk:path": f"{CDK_STACK}/AlertsQueue/Resource"}}
    resources["AlertsSubscription"] = {
        "Type": "AWS::SNS::Subscription", "Metadata": {"aws:cdk:path": f"{CDK_STACK}/AlertsQueue/Sub/Resource"},
        "Properties": {"TopicArn": {"Ref": "Alerts"}, "Protocol": "sqs",
                       "Endpoint": {"Fn::GetAtt": ["AlertsQueue", "Arn"]}}}
    resources["EnvironmentParameter"] = {
        "Type": "AWS::SSM::Parameter", "Metadata": {"aws:cdk:path": f"{CDK_STACK}/EnvironmentParameter/Resource"},
        "Properties": {"Name": "/workshop/04-iac-cdk/environment", "Type": "String", "Value": "dev"}}
    resources["CDKMetadata"] = {"Type": "AWS::CDK::Metadata",
                                "Metadata": {"aws:cdk:path": f"{CDK_STACK}/CDKMetadata/Default"},
                                "Properties": {"Analytics": "v2:deflate64:H4sIAAAAAAAA/made/up="}}
    return {"Resources": resources}


def test_a_hand_written_template_with_cdk_metadata_created_with_boto3_fails(cloud, account):
    solve(cloud, account, upto="fix-drift")
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName=CDK_STACK, TemplateBody=json.dumps(hand_written_cdk_template()), Tags=LAB_TAGS)
    cfn.get_waiter("stack_create_complete").wait(StackName=CDK_STACK, WaiterConfig=FAST)
    found = checks(cloud, account)
    for slug in CDK_CHECKS:
        assert not found[slug].passed, (slug, found[slug].message)
    assert "not the v2:deflate64 string CDK writes" in found["cdk-synthesized"].message
    assert "not the v2:deflate64" in found["cdk-construct-reused"].message

    # The made-up string replaced by real CDK metadata: the ids still do not follow from the paths.
    second = new_account()
    solve(cloud, second, upto="fix-drift")
    faked = hand_written_cdk_template()
    real = synthesize(app_source())["Resources"]["CDKMetadata"]
    faked["Resources"]["CDKMetadata"] = {k: v for k, v in real.items() if k != "Condition"}
    deploy_cdk(cloud, second, faked)  # through a change set, as the lab asks
    found = checks(cloud, second)
    for slug in CDK_CHECKS:
        assert not found[slug].passed, (slug, found[slug].message)
    assert "from which CDK derives the logical id" in found["cdk-synthesized"].message


def test_a_synthesized_template_edited_before_deployment_fails(cloud, account):
    """A resource added by hand to the synthesized template: with a path its id does not follow
    from, or (id re-derived) of a class CDK's metadata does not list."""
    solve(cloud, account, upto="fix-drift")
    template = copy.deepcopy(synthesize(app_source()))
    path = f"{CDK_STACK}/AuditLog/Resource"
    template["Resources"]["AuditLog"] = {"Type": "AWS::Logs::LogGroup", "Metadata": {"aws:cdk:path": path},
                                         "Properties": {"LogGroupName": "added-by-hand"}}
    deploy_cdk(cloud, account, template)
    found = checks(cloud, account)
    assert not found["cdk-synthesized"].passed and not found["cdk-stack-deployed"].passed
    assert f"AuditLog claims the construct path {path}" in found["cdk-synthesized"].message

    second = new_account()
    solve(cloud, second, upto="fix-drift")
    template["Resources"][logical_id(path)] = template["Resources"].pop("AuditLog")
    deploy_cdk(cloud, second, template)
    found = checks(cloud, second)
    assert not found["cdk-synthesized"].passed
    assert "does not list aws_logs.CfnLogGroup" in found["cdk-synthesized"].message


def test_two_l2_buckets_are_not_a_construct_of_ones_own(cloud, account):
    solve(cloud, account, upto="fix-drift")
    l2 = ('s3.Bucket(self, "{0}", bucket_name=f"workshop-04-cdk-{1}-{{cdk.Aws.ACCOUNT_ID}}-{{cdk.Aws.REGION}}", '
          'versioned=True, encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, '
          'removal_policy=cdk.RemovalPolicy.DESTROY)')
    source = (app_source()
              .replace('SecureBucket(self, "Data", prefix="workshop-04-cdk-data")', l2.format("Data", "data"))
              .replace('SecureBucket(self, "Logs", prefix="workshop-04-cdk-logs")', l2.format("Logs", "logs"))
              .replace("data.bucket.bucket_name", "data.bucket_name"))
    assert source.count('s3.Bucket(self, "') == 2
    deploy_cdk(cloud, account, synthesize(source))
    found = checks(cloud, account)
    assert found["cdk-synthesized"].passed and found["cdk-stack-deployed"].passed, found
    assert not found["cdk-construct-reused"].passed
    assert "No two scopes" in found["cdk-construct-reused"].message


def test_a_measurement_with_made_up_numbers_fails(cloud, account):
    solve(cloud, account, upto="cdk-deploy")
    source = app_source()
    honest = measured(cloud, account, source, synthesize(source))
    made_up = dict(honest, cdk_lines=12, ratio=12 / honest["template_lines"])
    save_measurement(cloud, account, {"measured": made_up, "comparison": comparison()}, source)
    found = checks(cloud, account)
    assert not found["cdk-reduction-measured"].passed
    assert f"cdk_lines is 12, the deployed stacks give {honest['cdk_lines']}" in found["cdk-reduction-measured"].message

    # A short "app" to match made-up figures: it is not the app that made the stack.
    save_measurement(cloud, account, {"measured": made_up, "comparison": comparison()}, "x = 1\n" * 12)
    found = checks(cloud, account)
    assert not found["cdk-reduction-measured"].passed
    assert "is not the app that made" in found["cdk-reduction-measured"].message

    save_measurement(cloud, account, {"measured": honest, "comparison": {
        "templates_when": ["small"], "cdk_when": ["always, it is better"], "criteria": ["vibes", "reuse"],
        "choice": "both", "why": "yes"}}, source)
    found = checks(cloud, account)
    assert found["cdk-reduction-measured"].passed, found["cdk-reduction-measured"].message
    assert not found["templates-or-code"].passed
    for problem in ("templates_when needs two", "cdk_when needs two", "criteria names 1", "choice is 'both'",
                    "why needs a sentence"):
        assert problem in found["templates-or-code"].message
