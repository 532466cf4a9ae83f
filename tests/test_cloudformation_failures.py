"""Failing honestly, through boto3 against the real cloud: a type the cloud
cannot create or a create that raises ends CREATE_FAILED with a reason and a
rollback (ROLLBACK_COMPLETE; UPDATE_ROLLBACK_COMPLETE keeping the old
resources), and invalid templates are ValidationErrors, never 500s."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

UNSUPPORTED = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "failing-${AWS::AccountId}"
  Topic:
    Type: AWS::SNS::Topic
    DependsOn: Bucket
  Widget:
    Type: AWS::Foo::Bar
    DependsOn: Topic
    Properties:
      Size: 3
  Later:
    Type: AWS::SQS::Queue
    DependsOn: Widget
Outputs:
  BucketName:
    Value: !Ref Bucket
"""


def wait_for(cf, name: str, *statuses: str) -> dict:
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] in statuses, (stack["StackStatus"], stack.get("StackStatusReason"))
    return stack


def events(cf, name: str) -> list[tuple[str, str]]:
    """(logical id, status) oldest first, as a learner reads them in the console."""
    return [(e["LogicalResourceId"], e["ResourceStatus"])
            for e in reversed(cf.describe_stack_events(StackName=name)["StackEvents"])]


def resources(cf, name: str) -> dict[str, dict]:
    return {r["LogicalResourceId"]: r for r in cf.describe_stack_resources(StackName=name)["StackResources"]}


def error_of(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_unsupported_type_fails_and_rolls_back(cloud, account):
    cf, s3, sns = cloud.client("cloudformation", account), cloud.client("s3", account), cloud.client("sns", account)
    cf.create_stack(StackName="honest", TemplateBody=UNSUPPORTED)
    stack = wait_for(cf, "honest", "ROLLBACK_COMPLETE")
    assert "Outputs" not in stack
    assert "Widget" in stack["StackStatusReason"]

    found = resources(cf, "honest")
    widget = found["Widget"]
    assert widget["ResourceStatus"] == "CREATE_FAILED"
    assert widget["ResourceType"] == "AWS::Foo::Bar"
    assert widget["ResourceStatusReason"] == "Resource type AWS::Foo::Bar is not supported by the workshop cloud"
    # What was created before the failure is deleted; what came after never started.
    assert found["Bucket"]["ResourceStatus"] == "DELETE_COMPLETE"
    assert found["Topic"]["ResourceStatus"] == "DELETE_COMPLETE"
    assert "Later" not in found
    assert all(r["LogicalResourceId"] and r["ResourceType"] for r in found.values())
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=f"failing-{account}")
    assert sns.list_topics()["Topics"] == []

    assert events(cf, "honest") == [
        ("honest", "CREATE_IN_PROGRESS"),
        ("Bucket", "CREATE_IN_PROGRESS"), ("Bucket", "CREATE_COMPLETE"),
        ("Topic", "CREATE_IN_PROGRESS"), ("Topic", "CREATE_COMPLETE"),
        ("Widget", "CREATE_IN_PROGRESS"), ("Widget", "CREATE_FAILED"),
        ("honest", "ROLLBACK_IN_PROGRESS"),
        ("Topic", "DELETE_IN_PROGRESS"), ("Topic", "DELETE_COMPLETE"),
        ("Bucket", "DELETE_IN_PROGRESS"), ("Bucket", "DELETE_COMPLETE"),
        ("honest", "ROLLBACK_COMPLETE"),
    ]
    failed_event = [e for e in cf.describe_stack_events(StackName="honest")["StackEvents"]
                    if e["ResourceStatus"] == "CREATE_FAILED"][0]
    assert "AWS::Foo::Bar" in failed_event["ResourceStatusReason"]

    # As in AWS: a ROLLBACK_COMPLETE stack cannot be updated, only deleted.
    code, message, _ = error_of(cf.update_stack, StackName="honest", TemplateBody=UNSUPPORTED)
    assert code == "ValidationError" and "ROLLBACK_COMPLETE" in message
    cf.delete_stack(StackName="honest")
    cf.get_waiter("stack_delete_complete").wait(StackName=stack["StackId"], WaiterConfig={"Delay": 1})


def test_a_create_that_raises_fails_with_the_service_message(cloud, account):
    cf, sqs = cloud.client("cloudformation", account), cloud.client("sqs", account)
    cf.create_stack(StackName="bad-property", TemplateBody="""
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: first-queue
  Topic:
    Type: AWS::SNS::Topic
    DependsOn: Queue
    Properties:
      TopicName: "not a valid name!"
""")
    wait_for(cf, "bad-property", "ROLLBACK_COMPLETE")
    topic = resources(cf, "bad-property")["Topic"]
    assert topic["ResourceStatus"] == "CREATE_FAILED"
    assert "Topic names must be made up of only" in topic["ResourceStatusReason"]
    assert resources(cf, "bad-property")["Queue"]["ResourceStatus"] == "DELETE_COMPLETE"
    assert "QueueUrls" not in sqs.list_queues()

    cf.create_stack(StackName="missing-property", TemplateBody="""
Resources:
  Subscription:
    Type: AWS::SNS::Subscription
    Properties:
      Protocol: sqs
""")
    wait_for(cf, "missing-property", "ROLLBACK_COMPLETE")
    reason = resources(cf, "missing-property")["Subscription"]["ResourceStatusReason"]
    assert "required key [" in reason and "Subscription" in reason


def test_failed_update_rolls_back_to_the_old_resources(cloud, account):
    cf, sns, sqs = cloud.client("cloudformation", account), cloud.client("sns", account), cloud.client("sqs", account)
    old = """
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: before
Outputs:
  TopicArn:
    Value: !Ref Topic
"""
    cf.create_stack(StackName="upd", TemplateBody=old)
    topic_arn = wait_for(cf, "upd", "CREATE_COMPLETE")["Outputs"][0]["OutputValue"]
    new = """
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: after
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: added-then-removed
  Widget:
    Type: AWS::Foo::Bar
    DependsOn: [Topic, Queue]
Outputs:
  TopicArn:
    Value: !Ref Topic
"""
    cf.update_stack(StackName="upd", TemplateBody=new)
    stack = wait_for(cf, "upd", "UPDATE_ROLLBACK_COMPLETE")
    assert stack["Outputs"][0]["OutputValue"] == topic_arn
    attrs = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attrs["DisplayName"] == "before"
    assert "QueueUrls" not in sqs.list_queues()
    assert set(resources(cf, "upd")) == {"Topic"}
    assert resources(cf, "upd")["Topic"]["PhysicalResourceId"] == topic_arn
    assert cf.get_template(StackName="upd")["TemplateBody"].strip() == old.strip()
    history = events(cf, "upd")
    assert ("Widget", "CREATE_FAILED") in history
    start = history.index(("upd", "UPDATE_ROLLBACK_IN_PROGRESS"))
    assert history[start:] == [
        ("upd", "UPDATE_ROLLBACK_IN_PROGRESS"),
        ("Topic", "UPDATE_IN_PROGRESS"), ("Topic", "UPDATE_COMPLETE"),
        ("upd", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("Queue", "DELETE_IN_PROGRESS"), ("Queue", "DELETE_COMPLETE"),
        ("upd", "UPDATE_ROLLBACK_COMPLETE"),
    ]
    # The rolled-back stack can be updated again.
    cf.update_stack(StackName="upd", TemplateBody=old.replace("before", "again"))
    wait_for(cf, "upd", "UPDATE_COMPLETE")
    assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["DisplayName"] == "again"


def test_on_failure_do_nothing_and_delete(cloud, account):
    cf, sns = cloud.client("cloudformation", account), cloud.client("sns", account)
    cf.create_stack(StackName="keep", TemplateBody=UNSUPPORTED, OnFailure="DO_NOTHING")
    wait_for(cf, "keep", "CREATE_FAILED")
    assert resources(cf, "keep")["Topic"]["ResourceStatus"] == "CREATE_COMPLETE"
    assert len(sns.list_topics()["Topics"]) == 1
    cf.delete_stack(StackName="keep")
    assert sns.list_topics()["Topics"] == []

    cf.create_stack(StackName="gone", TemplateBody=UNSUPPORTED.replace("failing-", "gone-"), OnFailure="DELETE")
    code, _, _ = error_of(cf.describe_stacks, StackName="gone")
    assert code == "ValidationError"
    deleted = [s for s in cf.list_stacks()["StackSummaries"] if s["StackName"] == "gone"]
    assert deleted[0]["StackStatus"] == "DELETE_COMPLETE"


@pytest.mark.parametrize("body, fragment", [
    ("Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n   Properties: {}\n", "YAML not well-formed"),
    ('{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket",}}}', "JSON not well-formed"),
    ("Description: nothing here\n", "At least one Resources member must be defined"),
    ("Resources:\n  Bucket:\n    Properties: {}\n", "Every Resources object must contain a Type member"),
    ("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\nOutputs:\n  Arn:\n    Value: !GetAtt Missing.Arn\n",
     "Fn::GetAtt references undefined resource Missing"),
    ("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: !GetAtt Nope.Name\n",
     "Fn::GetAtt references undefined resource Nope"),
    ("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: !Ref Nope\n",
     "Unresolved resource dependencies [Nope]"),
    ("Resources:\n  A:\n    Type: AWS::SNS::Topic\n    DependsOn: B\n  B:\n    Type: AWS::SNS::Topic\n"
     "    DependsOn: A\n", "Circular dependency between resources"),
    ("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n"
     "      DisplayName: !!python/object/apply:os.getcwd []\n", "YAML not well-formed"),
    ("Parameters:\n  Env:\n    Type: String\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n",
     "Parameters: [Env] must have values"),
    ("Parameters:\n  Env:\n    Type: String\n    Default: dev\n    AllowedValues: [dev, prod]\n"
     "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n", None),
    ("Transform: AWS::Serverless-2016-10-31\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n",
     "is not supported by the workshop cloud"),
    ("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\nOutputs:\n  Name:\n    Value: !GetAtt Topic.NoSuchThing\n",
     "does not support attribute type NoSuchThing"),
])
def test_invalid_templates_are_validation_errors(cloud, account, body, fragment):
    cf = cloud.client("cloudformation", account)
    if fragment is None:  # the valid template, with an invalid parameter value
        code, message, status = error_of(cf.create_stack, StackName="invalid", TemplateBody=body,
                                         Parameters=[{"ParameterKey": "Env", "ParameterValue": "qa"}])
        fragment = "must be one of AllowedValues"
    else:
        code, message, status = error_of(cf.create_stack, StackName="invalid", TemplateBody=body)
    assert (code, status) == ("ValidationError", 400)
    assert fragment in message
    assert cf.list_stacks()["StackSummaries"] == []  # nothing was started


def test_update_errors(cloud, account):
    cf = cloud.client("cloudformation", account)
    body = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: fixed-name\n"
    cf.create_stack(StackName="u", TemplateBody=body)
    code, message, _ = error_of(cf.update_stack, StackName="u", TemplateBody=body + "\n# a comment\n")
    assert (code, message) == ("ValidationError", "No updates are to be performed.")
    code, message, _ = error_of(cf.update_stack, StackName="u",
                                TemplateBody=body.replace("AWS::SNS::Topic", "AWS::SQS::Queue"))
    assert code == "ValidationError" and "Update of resource type is not permitted" in message
    wait_for(cf, "u", "CREATE_COMPLETE")
    code, _, _ = error_of(cf.update_stack, StackName="nope", TemplateBody=body)
    assert code == "ValidationError"


def test_delete_failures_and_retained_resources(cloud, account):
    cf, s3, sns = cloud.client("cloudformation", account), cloud.client("s3", account), cloud.client("sns", account)
    cf.create_stack(StackName="del", TemplateBody=f"""
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: del-{account}
  Kept:
    Type: AWS::SNS::Topic
    DeletionPolicy: Retain
    Properties:
      TopicName: kept
""")
    s3.put_object(Bucket=f"del-{account}", Key="report.txt", Body=b"not empty")
    cf.delete_stack(StackName="del")
    stack = wait_for(cf, "del", "DELETE_FAILED")
    assert "Bucket" in stack["StackStatusReason"]
    bucket = resources(cf, "del")["Bucket"]
    assert bucket["ResourceStatus"] == "DELETE_FAILED"
    assert "not empty" in bucket["ResourceStatusReason"]
    assert resources(cf, "del")["Kept"]["ResourceStatus"] == "DELETE_SKIPPED"

    s3.delete_object(Bucket=f"del-{account}", Key="report.txt")
    cf.delete_stack(StackName="del")
    code, _, _ = error_of(cf.describe_stacks, StackName="del")
    assert code == "ValidationError"
    assert [t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics()["Topics"]] == ["kept"]
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=f"del-{account}")
