"""Repository triggers: a git push (or an API commit or merge) to a matching
branch publishes AWS's trigger message to the SNS topic, so an SQS queue
subscribed to it receives it; other branches and events do not."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.test_codecommit_git import clone, commit_file, git, new_repo


def subscribed_queue(cloud, account: str, name: str = "pushes") -> tuple[str, str]:
    """(topic ARN, queue URL): an SQS queue subscribed to a new SNS topic."""
    sns, sqs = cloud.client("sns", account), cloud.client("sqs", account)
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def receive_records(cloud, account: str, queue: str, wait: int = 2) -> list[dict]:
    sqs = cloud.client("sqs", account)
    records = []
    for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=wait).get("Messages", []):
        envelope = json.loads(message["Body"])
        records.extend(json.loads(envelope["Message"])["Records"])
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return records


def test_push_to_main_delivers_the_trigger_message_to_sqs(cloud, account, tmp_path):
    cc = cloud.client("codecommit", account)
    topic, queue = subscribed_queue(cloud, account)
    meta = new_repo(cloud, account)
    config = cc.put_repository_triggers(repositoryName="app", triggers=[{
        "name": "main-pushes", "destinationArn": topic, "customData": "build please",
        "branches": ["main"], "events": ["all"]}])["configurationId"]

    work = clone(cloud, account, meta, tmp_path / "app")
    git("checkout", "-q", "-b", "main", cwd=work)
    pushed = commit_file(work, "app.py", "v1\n", "v1")
    git("push", "-q", "origin", "main", cwd=work)

    [record] = receive_records(cloud, account, queue, wait=5)
    assert record["eventSource"] == "aws:codecommit"
    assert record["eventName"] == "ReferenceChanges"
    assert record["eventTriggerName"] == "main-pushes"
    assert record["eventTriggerConfigId"] == config
    assert record["customData"] == "build please"
    assert record["eventSourceARN"] == f"arn:aws:codecommit:us-east-1:{account}:app"
    assert record["awsRegion"] == "us-east-1"
    assert record["codecommit"]["references"] == [{"commit": pushed, "ref": "refs/heads/main", "created": True}]
    assert record["userIdentityARN"].split(":")[4] == account

    # An update to main: one more message, not marked as created.
    second = commit_file(work, "app.py", "v2\n", "v2")
    git("push", "-q", "origin", "main", cwd=work)
    [record] = receive_records(cloud, account, queue, wait=5)
    assert record["codecommit"]["references"] == [{"commit": second, "ref": "refs/heads/main"}]

    # A push to another branch does not match the trigger.
    git("checkout", "-q", "-b", "feature", cwd=work)
    commit_file(work, "f.txt", "f\n", "feature work")
    git("push", "-q", "origin", "feature", cwd=work)
    assert receive_records(cloud, account, queue, wait=1) == []


def test_api_commits_and_merges_fire_triggers_by_event_kind(cloud, account):
    cc = cloud.client("codecommit", account)
    topic, queue = subscribed_queue(cloud, account)
    cc.create_repository(repositoryName="app")
    cc.put_repository_triggers(repositoryName="app", triggers=[
        {"name": "created", "destinationArn": topic, "branches": [], "events": ["createReference"]},
        {"name": "updated", "destinationArn": topic, "branches": ["main"], "events": ["updateReference"]},
    ])
    first = cc.put_file(repositoryName="app", branchName="main", filePath="a.txt", fileContent=b"a\n")["commitId"]
    cc.create_branch(repositoryName="app", branchName="feature", commitId=first)
    records = receive_records(cloud, account, queue)
    assert sorted((r["eventTriggerName"], r["codecommit"]["references"][0]["ref"]) for r in records) == \
        [("created", "refs/heads/feature"), ("created", "refs/heads/main")]

    second = cc.put_file(repositoryName="app", branchName="feature", filePath="b.txt", fileContent=b"b\n",
                         parentCommitId=first)["commitId"]
    assert receive_records(cloud, account, queue, wait=1) == []  # an update of feature matches neither
    cc.merge_branches_by_fast_forward(repositoryName="app", sourceCommitSpecifier="feature",
                                      destinationCommitSpecifier="main")
    [record] = receive_records(cloud, account, queue)
    assert record["eventTriggerName"] == "updated"
    assert record["codecommit"]["references"] == [{"commit": second, "ref": "refs/heads/main"}]


def test_get_and_test_triggers(cloud, account):
    cc = cloud.client("codecommit", account)
    topic, queue = subscribed_queue(cloud, account)
    cc.create_repository(repositoryName="app")
    cc.put_file(repositoryName="app", branchName="main", filePath="a.txt", fileContent=b"a\n")
    triggers = [{"name": "t", "destinationArn": topic, "customData": "x", "branches": ["main"], "events": ["all"]}]
    config = cc.put_repository_triggers(repositoryName="app", triggers=triggers)["configurationId"]
    got = cc.get_repository_triggers(repositoryName="app")
    assert got["configurationId"] == config and got["triggers"] == triggers

    missing = f"arn:aws:sns:us-east-1:{account}:no-such-topic"
    result = cc.test_repository_triggers(repositoryName="app", triggers=triggers + [
        {"name": "broken", "destinationArn": missing, "branches": [], "events": ["all"]}])
    assert result["successfulExecutions"] == ["t"]
    assert [f["trigger"] for f in result["failedExecutions"]] == ["broken"]
    [record] = receive_records(cloud, account, queue)
    assert record["eventName"] == "TriggerEventTest"


@pytest.mark.parametrize("trigger, code", [
    ({"name": "t", "destinationArn": "not-an-arn", "events": ["all"]},
     "InvalidRepositoryTriggerDestinationArnException"),
    ({"name": "t", "destinationArn": "arn:aws:sns:eu-west-1:123456789012:t", "events": ["all"]},
     "InvalidRepositoryTriggerRegionException"),
    ({"name": "t", "destinationArn": "arn:aws:sns:us-east-1:123456789012:t", "events": ["all", "createReference"]},
     "InvalidRepositoryTriggerEventsException"),
    ({"name": "t", "destinationArn": "arn:aws:sns:us-east-1:123456789012:t", "events": ["push"]},
     "InvalidRepositoryTriggerEventsException"),
    ({"name": "t", "destinationArn": "arn:aws:sns:us-east-1:123456789012:t", "events": ["all"],
      "branches": ["bad..name"]}, "InvalidRepositoryTriggerBranchNameException"),
])
def test_bad_triggers_are_refused(cloud, account, trigger, code):
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="app")
    with pytest.raises(ClientError) as raised:
        cc.put_repository_triggers(repositoryName="app", triggers=[trigger])
    assert raised.value.response["Error"]["Code"] == code


def test_reference_changes_reach_eventbridge_rules(cloud, account):
    """The events CodePipeline's CodeCommit source listens to: "CodeCommit Repository State Change"."""
    events, sqs = cloud.client("events", account), cloud.client("sqs", account)
    queue = sqs.create_queue(QueueName="repo-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="main-changes", EventPattern=json.dumps({
        "source": ["aws.codecommit"], "detail-type": ["CodeCommit Repository State Change"],
        "detail": {"referenceName": ["main"]}}))
    events.put_targets(Rule="main-changes", Targets=[{"Id": "q", "Arn": queue_arn}])
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="app")
    commit = cc.put_file(repositoryName="app", branchName="main", filePath="a", fileContent=b"a")["commitId"]
    cc.create_branch(repositoryName="app", branchName="other", commitId=commit)

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
    details = [json.loads(m["Body"])["detail"] for m in messages]
    assert details == [{"event": "referenceCreated", "repositoryName": "app",
                        "repositoryId": details[0]["repositoryId"], "referenceType": "branch",
                        "referenceName": "main", "referenceFullName": "refs/heads/main", "commitId": commit,
                        "callerUserArn": details[0]["callerUserArn"]}]
    assert details[0]["callerUserArn"].split(":")[4] == account
