"""Metrics only AWS writes: a learner's PutMetricData into an AWS/ namespace is refused
as AWS refuses it, and the cloud publishes AWS/SNS, AWS/SQS and AWS/CodeBuild for the
work it saw happen (AWS/Lambda: test_lambda_invoke, test_lambda_aliases)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.test_codepipeline_executions import wait_for


def metric_sum(cw, namespace: str, metric: str, dimensions: dict[str, str]) -> float:
    now = datetime.now(timezone.utc)
    points = cw.get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Sum"])["Datapoints"]
    return sum(p["Sum"] for p in points)


@pytest.mark.parametrize("namespace", ["AWS/Lambda", "AWS/SNS", "AWS/MadeUp"])
def test_a_learner_cannot_write_into_an_aws_namespace(cloud, account, namespace):
    cw = cloud.client("cloudwatch", account)
    with pytest.raises(ClientError) as caught:
        cw.put_metric_data(Namespace=namespace, MetricData=[{
            "MetricName": "Invocations", "Value": 100.0, "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}])
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"] == f"The value {namespace} for parameter Namespace is invalid."
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert metric_sum(cw, namespace, "Invocations", {"FunctionName": "f"}) == 0
    cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Orders", "Value": 2.0}])
    assert metric_sum(cw, "Shop", "Orders", {}) == 2.0


def test_statistics_match_the_dimensions_in_any_order(cloud, account):
    # As a check names them ({"TargetGroup": ..., "LoadBalancer": ...}) or as the load balancer
    # published them: the same metric; a subset or another value is another metric.
    cw = cloud.client("cloudwatch", account)
    both = [{"Name": "LoadBalancer", "Value": "app/web/1"}, {"Name": "TargetGroup", "Value": "targetgroup/tg/2"}]
    cw.put_metric_data(Namespace="Shop", MetricData=[
        {"MetricName": "Hits", "Value": 3.0, "Dimensions": both},
        {"MetricName": "Hits", "Value": 5.0, "Dimensions": both[:1]}])
    assert metric_sum(cw, "Shop", "Hits", {"TargetGroup": "targetgroup/tg/2", "LoadBalancer": "app/web/1"}) == 3.0
    assert metric_sum(cw, "Shop", "Hits", {"LoadBalancer": "app/web/1", "TargetGroup": "targetgroup/tg/2"}) == 3.0
    assert metric_sum(cw, "Shop", "Hits", {"LoadBalancer": "app/web/1"}) == 5.0
    assert metric_sum(cw, "Shop", "Hits", {"TargetGroup": "targetgroup/tg/2", "LoadBalancer": "app/web/9"}) == 0


def test_sns_and_sqs_count_what_was_published_delivered_and_received(cloud, account):
    sns, sqs, cw = (cloud.client(s, account) for s in ("sns", "sqs", "cloudwatch"))
    topic = sns.create_topic(Name="orders")["TopicArn"]
    queue = sqs.create_queue(QueueName="order-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn.replace("order-events", "gone"))
    refunds = sqs.create_queue(QueueName="refunds")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn.replace("order-events", "refunds"),
                  Attributes={"FilterPolicy": json.dumps({"kind": ["refund"]})})
    for n in range(3):
        sns.publish(TopicArn=topic, Message=f"order {n}")
    sqs.send_message(QueueUrl=queue, MessageBody="sent directly")

    topic_dims = {"TopicName": "orders"}
    assert metric_sum(cw, "AWS/SNS", "NumberOfMessagesPublished", topic_dims) == 3
    assert metric_sum(cw, "AWS/SNS", "NumberOfNotificationsDelivered", topic_dims) == 3
    assert metric_sum(cw, "AWS/SNS", "NumberOfNotificationsFailed", topic_dims) == 3
    assert metric_sum(cw, "AWS/SNS", "NumberOfNotificationsFilteredOut", topic_dims) == 3
    queue_dims = {"QueueName": "order-events"}
    assert metric_sum(cw, "AWS/SQS", "NumberOfMessagesSent", queue_dims) == 4
    assert metric_sum(cw, "AWS/SQS", "NumberOfMessagesSent", {"QueueName": "refunds"}) == 0
    assert sqs.receive_message(QueueUrl=refunds).get("Messages") is None
    assert metric_sum(cw, "AWS/SQS", "NumberOfEmptyReceives", {"QueueName": "refunds"}) == 1
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert metric_sum(cw, "AWS/SQS", "NumberOfMessagesReceived", queue_dims) == len(received) > 0
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=received[0]["ReceiptHandle"])
    assert metric_sum(cw, "AWS/SQS", "NumberOfMessagesDeleted", queue_dims) == 1


PASSING = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n"
FAILING = "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 1\n"


def test_codebuild_counts_builds_by_outcome(cloud, account):
    cb, cw = cloud.client("codebuild", account), cloud.client("cloudwatch", account)
    cb.create_project(name="metrics", source={"type": "NO_SOURCE", "buildspec": PASSING},
                      artifacts={"type": "NO_ARTIFACTS"}, serviceRole=f"arn:aws:iam::{account}:role/build",
                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                   "computeType": "BUILD_GENERAL1_SMALL"})
    ids = [cb.start_build(projectName="metrics")["build"]["id"],
           cb.start_build(projectName="metrics", buildspecOverride=FAILING)["build"]["id"]]
    wait_for(lambda: all(b["buildComplete"] for b in cb.batch_get_builds(ids=ids)["builds"]), 90, 0.2,
             "both builds to finish")
    project = {"ProjectName": "metrics"}
    assert wait_for(lambda: metric_sum(cw, "AWS/CodeBuild", "Builds", project) == 2, 10, 0.1, "Builds")
    assert metric_sum(cw, "AWS/CodeBuild", "SucceededBuilds", project) == 1
    assert metric_sum(cw, "AWS/CodeBuild", "FailedBuilds", project) == 1
    assert metric_sum(cw, "AWS/CodeBuild", "Builds", {}) == 2  # the account-wide metric
    durations = cw.get_metric_statistics(
        Namespace="AWS/CodeBuild", MetricName="Duration", Dimensions=[{"Name": "ProjectName", "Value": "metrics"}],
        StartTime=datetime.now(timezone.utc) - timedelta(minutes=10),
        EndTime=datetime.now(timezone.utc) + timedelta(minutes=1), Period=660, Statistics=["SampleCount"])["Datapoints"]
    assert sum(p["SampleCount"] for p in durations) == 2
