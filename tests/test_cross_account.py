"""The cross-account rule in the workshop cloud, as AWS has it: account B reaches
account A's bucket, topic or queue only where A's resource policy allows B;
A's own access and the cloud's own deliveries (SNS to SQS) are unaffected."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import new_account


@pytest.fixture
def other():
    return new_account()


def _code(err: pytest.ExceptionInfo) -> tuple[str, int]:
    response = err.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _grant(resource: str, actions: list[str], principal, **extra) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        dict({"Effect": "Allow", "Principal": principal, "Action": actions, "Resource": resource}, **extra)]})


# -- S3 -----------------------------------------------------------------------------

@pytest.fixture
def bucket(cloud, account):
    s3 = cloud.client("s3", account)
    name = f"xacct-{account}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="secret.txt", Body=b"A's work")
    return s3, name


def test_another_account_cannot_touch_a_bucket(cloud, bucket, other):
    s3, name = bucket
    theirs = cloud.client("s3", other)
    attempts = {
        "list": lambda: theirs.list_objects_v2(Bucket=name),
        "list v1": lambda: theirs.list_objects(Bucket=name),
        "get": lambda: theirs.get_object(Bucket=name, Key="secret.txt"),
        "put": lambda: theirs.put_object(Bucket=name, Key="planted.txt", Body=b"B"),
        "delete": lambda: theirs.delete_object(Bucket=name, Key="secret.txt"),
        "delete many": lambda: theirs.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "secret.txt"}]}),
        "policy": lambda: theirs.put_bucket_policy(Bucket=name, Policy=_grant("*", ["s3:*"], "*")),
        "delete bucket": lambda: theirs.delete_bucket(Bucket=name),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ClientError) as err:
            attempt()
        assert _code(err) == ("AccessDenied", 403), what
    with pytest.raises(ClientError) as err:
        theirs.head_object(Bucket=name, Key="secret.txt")
    assert _code(err)[1] == 403
    # Nothing changed, and the owner still has everything.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["secret.txt"]
    assert s3.get_object(Bucket=name, Key="secret.txt")["Body"].read() == b"A's work"
    # The owner's own policy calls still reach moto.
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket=name)
    assert _code(err)[0] == "NoSuchBucketPolicy"


def test_copying_out_of_another_accounts_bucket_is_refused(cloud, bucket, other):
    _, name = bucket
    theirs = cloud.client("s3", other)
    mine = f"xacct-copy-{other}"
    theirs.create_bucket(Bucket=mine)
    with pytest.raises(ClientError) as err:
        theirs.copy_object(Bucket=mine, Key="stolen.txt", CopySource={"Bucket": name, "Key": "secret.txt"})
    assert _code(err) == ("AccessDenied", 403)
    assert theirs.list_objects_v2(Bucket=mine).get("KeyCount") == 0


def test_the_name_stays_taken(cloud, bucket, other):
    _, name = bucket
    with pytest.raises(ClientError) as err:
        cloud.client("s3", other).create_bucket(Bucket=name)
    assert _code(err)[0] == "BucketAlreadyExists"


@pytest.mark.parametrize("principal", ["ACCOUNT", {"AWS": "arn:aws:iam::ACCOUNT:root"}, {"AWS": ["ACCOUNT"]}, "*"])
def test_a_bucket_policy_opens_the_bucket_to_the_account_it_names(cloud, bucket, other, principal):
    s3, name = bucket
    principal = json.loads(json.dumps(principal).replace("ACCOUNT", other))
    if isinstance(principal, str) and principal != "*":
        principal = {"AWS": principal}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": f"arn:aws:s3:::{name}/*"},
        {"Effect": "Allow", "Principal": principal, "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{name}"},
    ]}))
    theirs = cloud.client("s3", other)
    assert theirs.get_object(Bucket=name, Key="secret.txt")["Body"].read() == b"A's work"
    theirs.put_object(Bucket=name, Key="shared.txt", Body=b"from B")
    assert sorted(o["Key"] for o in theirs.list_objects_v2(Bucket=name)["Contents"]) == ["secret.txt", "shared.txt"]
    # Only what the policy grants: not DeleteObject.
    with pytest.raises(ClientError) as err:
        theirs.delete_object(Bucket=name, Key="secret.txt")
    assert _code(err) == ("AccessDenied", 403)
    assert s3.get_object(Bucket=name, Key="shared.txt")["Body"].read() == b"from B"


def test_a_policy_for_a_third_account_or_a_condition_that_fails_does_not_open_it(cloud, bucket, other):
    s3, name = bucket
    third = new_account()
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{third}:root"}, "Action": "s3:*",
         "Resource": f"arn:aws:s3:::{name}/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{name}/*",
         "Condition": {"StringEquals": {"aws:PrincipalAccount": third}}},
    ]}))
    with pytest.raises(ClientError) as err:
        cloud.client("s3", other).get_object(Bucket=name, Key="secret.txt")
    assert _code(err) == ("AccessDenied", 403)
    assert cloud.client("s3", third).get_object(Bucket=name, Key="secret.txt")["Body"].read() == b"A's work"


def test_a_deny_beats_an_allow_across_accounts(cloud, bucket, other):
    s3, name = bucket
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": other}, "Action": "s3:*", "Resource": f"arn:aws:s3:::{name}/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/secret*"},
    ]}))
    theirs = cloud.client("s3", other)
    with pytest.raises(ClientError) as err:
        theirs.get_object(Bucket=name, Key="secret.txt")
    assert _code(err) == ("AccessDenied", 403)
    theirs.put_object(Bucket=name, Key="other.txt", Body=b"ok")


# -- SNS ----------------------------------------------------------------------------

def test_another_account_cannot_publish_to_a_topic(cloud, account, other):
    sns, sqs = cloud.client("sns", account), cloud.client("sqs", account)
    topic = sns.create_topic(Name="xacct-topic")["TopicArn"]
    queue = sqs.create_queue(QueueName="xacct-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})
    theirs = cloud.client("sns", other)
    for what, attempt in {
        "publish": lambda: theirs.publish(TopicArn=topic, Message="from B"),
        "subscribe": lambda: theirs.subscribe(TopicArn=topic, Protocol="email", Endpoint="b@example.com"),
        "attributes": lambda: theirs.get_topic_attributes(TopicArn=topic),
        "delete": lambda: theirs.delete_topic(TopicArn=topic),
    }.items():
        with pytest.raises(ClientError) as err:
            attempt()
        assert _code(err) == ("AuthorizationError", 403), what
    # The owner's publish is delivered to its queue (a delivery inside the cloud), B's was not.
    sns.publish(TopicArn=topic, Message="from A")
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=1).get("Messages", [])]
    assert bodies == ["from A"]
    assert topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_a_topic_policy_lets_the_named_account_publish(cloud, account, other):
    sns, sqs = cloud.client("sns", account), cloud.client("sqs", account)
    topic = sns.create_topic(Name="xacct-shared")["TopicArn"]
    queue = sqs.create_queue(QueueName="xacct-shared-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                             AttributeValue=_grant(topic, ["SNS:Publish"], {"AWS": f"arn:aws:iam::{other}:root"}))
    theirs = cloud.client("sns", other)
    theirs.publish(TopicArn=topic, Message="from B, allowed")
    with pytest.raises(ClientError) as err:   # Publish only
        theirs.get_topic_attributes(TopicArn=topic)
    assert _code(err) == ("AuthorizationError", 403)
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=1).get("Messages", [])]
    assert bodies == ["from B, allowed"]


# -- SQS ----------------------------------------------------------------------------

def test_another_account_cannot_use_a_queue(cloud, account, other):
    sqs = cloud.client("sqs", account)
    url = sqs.create_queue(QueueName="xacct-q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="A's message")
    theirs = cloud.client("sqs", other)
    theirs.create_queue(QueueName="xacct-q")   # B's own queue of the same name stays B's
    for what, attempt in {
        "send": lambda: theirs.send_message(QueueUrl=url, MessageBody="from B"),
        "send batch": lambda: theirs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "B"}]),
        "receive": lambda: theirs.receive_message(QueueUrl=url),
        "purge": lambda: theirs.purge_queue(QueueUrl=url),
        "attributes": lambda: theirs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        "set attributes": lambda: theirs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"}),
        "delete": lambda: theirs.delete_queue(QueueUrl=url),
        "url": lambda: theirs.get_queue_url(QueueName="xacct-q", QueueOwnerAWSAccountId=account),
    }.items():
        with pytest.raises(ClientError) as err:
            attempt()
        assert _code(err) == ("AccessDenied", 403), what
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in got] == ["A's message"]
    assert theirs.receive_message(QueueUrl=theirs.get_queue_url(QueueName="xacct-q")["QueueUrl"]).get("Messages") is None


def test_the_query_protocol_is_held_to_the_same_rule(cloud, account, other):
    """Older SDKs speak SQS's query protocol, posting to the queue's URL itself."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = cloud.client("sqs", account).create_queue(QueueName="xacct-query")["QueueUrl"]
    body = "Action=SendMessage&MessageBody=from+B&Version=2012-11-05"
    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(other, "test"), "sqs", "us-east-1").add_auth(request)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(url, data=body.encode(), headers=dict(request.headers),
                                                      method="POST"), timeout=10)
    assert err.value.code == 403 and b"AccessDenied" in err.value.read()
    assert cloud.client("sqs", account).receive_message(QueueUrl=url).get("Messages") is None


def test_a_queue_policy_lets_the_named_account_send_and_receive(cloud, account, other):
    sqs = cloud.client("sqs", account)
    url = sqs.create_queue(QueueName="xacct-open")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _grant(
        arn, ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:GetQueueUrl"], {"AWS": other})})
    theirs = cloud.client("sqs", other)
    assert theirs.get_queue_url(QueueName="xacct-open", QueueOwnerAWSAccountId=account)["QueueUrl"].endswith(
        f"/{account}/xacct-open")
    theirs.send_message(QueueUrl=url, MessageBody="from B")
    got = theirs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in got] == ["from B"]
    with pytest.raises(ClientError) as err:   # not granted
        theirs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert _code(err) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as err:   # owner-only, whatever the policy says
        theirs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"})
    assert _code(err) == ("AccessDenied", 403)
