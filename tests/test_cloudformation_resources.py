"""Resource types the workshop adds to moto's CloudFormation (the extension
pattern): AWS::S3::BucketPolicy, AWS::SNS::Subscription, AWS::SQS::QueuePolicy
created, updated and deleted by stacks through boto3; and the fixes to moto's
own types that the labs rely on (SNS topic tags, SSM tags, ECR names)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


def policy(bucket_ref: str, sid: str) -> str:
    return f"""
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Sid: {sid}
            Effect: Allow
            Principal: {{AWS: !Sub "arn:aws:iam::${{AWS::AccountId}}:root"}}
            Action: s3:GetObject
            Resource: !Sub "arn:aws:s3:::${{{bucket_ref}}}/*"
"""


def bucket_template(sid: str, with_policy: bool = True) -> str:
    body = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "policy-${AWS::AccountId}"
"""
    if with_policy:
        body += """  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
""" + policy("Bucket", sid)
    return body


def status(cf, name: str) -> str:
    return cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def test_bucket_policy_lifecycle(cloud, account):
    cf, s3 = cloud.client("cloudformation", account), cloud.client("s3", account)
    bucket = f"policy-{account}"
    cf.create_stack(StackName="bp", TemplateBody=bucket_template("ReadOne"))
    assert status(cf, "bp") == "CREATE_COMPLETE"
    document = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert document["Statement"][0]["Sid"] == "ReadOne"
    assert document["Statement"][0]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    policy_resource = cf.describe_stack_resource(StackName="bp", LogicalResourceId="Policy")["StackResourceDetail"]
    assert policy_resource["ResourceType"] == "AWS::S3::BucketPolicy"
    assert policy_resource["ResourceStatus"] == "CREATE_COMPLETE"

    cf.update_stack(StackName="bp", TemplateBody=bucket_template("ReadTwo"))
    assert status(cf, "bp") == "UPDATE_COMPLETE"
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "ReadTwo"

    # Drift: a policy changed by hand is MODIFIED, a deleted one DELETED.
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    drift = cf.detect_stack_resource_drift(StackName="bp", LogicalResourceId="Policy")["StackResourceDrift"]
    assert drift["StackResourceDriftStatus"] == "MODIFIED"
    assert drift["PropertyDifferences"][0]["PropertyPath"].startswith("/PolicyDocument/Statement/0")
    s3.delete_bucket_policy(Bucket=bucket)
    drift = cf.detect_stack_resource_drift(StackName="bp", LogicalResourceId="Policy")["StackResourceDrift"]
    assert drift["StackResourceDriftStatus"] == "DELETED"

    cf.update_stack(StackName="bp", TemplateBody=bucket_template("ReadThree"))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "ReadThree"
    cf.update_stack(StackName="bp", TemplateBody=bucket_template("", with_policy=False))
    assert status(cf, "bp") == "UPDATE_COMPLETE"
    with pytest.raises(ClientError) as no_policy:
        s3.get_bucket_policy(Bucket=bucket)
    assert no_policy.value.response["Error"]["Code"] == "NoSuchBucketPolicy"
    s3.head_bucket(Bucket=bucket)  # removing the policy left the bucket alone

    cf.delete_stack(StackName="bp")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=bucket)


def test_bucket_policy_on_a_missing_bucket_fails_honestly(cloud, account):
    cf = cloud.client("cloudformation", account)
    cf.create_stack(StackName="bp-missing", TemplateBody="""
Resources:
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: no-such-bucket-for-the-workshop
      PolicyDocument: {Version: "2012-10-17", Statement: []}
""")
    assert status(cf, "bp-missing") == "ROLLBACK_COMPLETE"
    failed = cf.describe_stack_resources(StackName="bp-missing")["StackResources"][0]
    assert failed["ResourceStatus"] == "CREATE_FAILED"
    assert "bucket does not exist" in failed["ResourceStatusReason"]


SUBSCRIBED = """
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      Tags:
        - Key: lab
          Value: 04-iac
  Queue:
    Type: AWS::SQS::Queue
  QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Queue]
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt Queue.Arn
  Subscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Queue.Arn
      RawMessageDelivery: RAW
      FilterPolicy:
        severity: [high]
Outputs:
  SubscriptionArn:
    Value: !Ref Subscription
  SubscriptionArnAttribute:
    Value: !GetAtt Subscription.Arn
  QueueUrl:
    Value: !Ref Queue
  TopicArn:
    Value: !Ref Topic
"""


def test_sns_subscription_delivers_and_updates_in_place(cloud, account):
    cf, sns, sqs = cloud.client("cloudformation", account), cloud.client("sns", account), cloud.client("sqs", account)
    cf.create_stack(StackName="sub", TemplateBody=SUBSCRIBED.replace("RAW", "true"))
    assert status(cf, "sub") == "CREATE_COMPLETE"
    out = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName="sub")["Stacks"][0]["Outputs"]}
    arn = out["SubscriptionArn"]
    assert arn == out["SubscriptionArnAttribute"] and arn.startswith(out["TopicArn"] + ":")
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert json.loads(attributes["FilterPolicy"]) == {"severity": ["high"]}
    assert sns.list_tags_for_resource(ResourceArn=out["TopicArn"])["Tags"] == [{"Key": "lab", "Value": "04-iac"}]
    policy_doc = json.loads(sqs.get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["Policy"])[
        "Attributes"]["Policy"])
    assert policy_doc["Statement"][0]["Principal"] == {"Service": "sns.amazonaws.com"}

    sns.publish(TopicArn=out["TopicArn"], Message="ignored", MessageAttributes={
        "severity": {"DataType": "String", "StringValue": "low"}})
    sns.publish(TopicArn=out["TopicArn"], Message="page someone", MessageAttributes={
        "severity": {"DataType": "String", "StringValue": "high"}})
    messages = sqs.receive_message(QueueUrl=out["QueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in messages] == ["page someone"]

    cf.update_stack(StackName="sub", TemplateBody=SUBSCRIBED.replace("RAW", "false"))
    assert status(cf, "sub") == "UPDATE_COMPLETE"
    assert cf.describe_stack_resource(StackName="sub", LogicalResourceId="Subscription")[
        "StackResourceDetail"]["PhysicalResourceId"] == arn  # in place: same subscription
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["RawMessageDelivery"] == "false"
    assert cf.detect_stack_resource_drift(StackName="sub", LogicalResourceId="Subscription")[
        "StackResourceDrift"]["StackResourceDriftStatus"] == "IN_SYNC"

    cf.delete_stack(StackName="sub")
    assert sns.list_subscriptions()["Subscriptions"] == []
    assert sns.list_topics()["Topics"] == []


def test_moto_types_the_labs_use(cloud, account):
    cf, ssm, ecr = cloud.client("cloudformation", account), cloud.client("ssm", account), cloud.client("ecr", account)
    cf.create_stack(StackName="Types-Stack", TemplateBody="""
Resources:
  Setting:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /types/setting
      Type: String
      Value: "1"
      Tags: {lab: 04-iac}
  Images:
    Type: AWS::ECR::Repository
    Properties:
      ImageScanningConfiguration: {ScanOnPush: true}
""")
    assert status(cf, "Types-Stack") == "CREATE_COMPLETE"
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/types/setting")["TagList"]
    assert tags == [{"Key": "lab", "Value": "04-iac"}]
    name = cf.describe_stack_resource(StackName="Types-Stack", LogicalResourceId="Images")[
        "StackResourceDetail"]["PhysicalResourceId"]
    assert name == name.lower() and name.startswith("types-stack-images-")
    repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
