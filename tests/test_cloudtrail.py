"""CloudTrail's Event History: a scripted session's calls come back through
lookup_events (boto3 and the AWS CLI) with the callers' identities, AWS's filters,
paging and errors; data events and secrets stay out; a reset empties it."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import new_account


def _client(cloud, service: str, key: str, secret: str = "test", token: str | None = None):
    return boto3.client(service, endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token)


def _all_events(trail, **kwargs) -> list[dict]:
    events, token = [], None
    while True:
        page = trail.lookup_events(**kwargs, **({"NextToken": token} if token else {}))
        events += page["Events"]
        token = page.get("NextToken")
        if not token:
            return events


def _by_name(events: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for event in events:
        found.setdefault(event["EventName"], []).append(json.loads(event["CloudTrailEvent"]))
    return found


@pytest.fixture(scope="module")
def session(cloud):
    """A scripted session: the account's root, an IAM user and an assumed role each call."""
    account = new_account()
    bucket = f"trail-{account}"
    s3 = cloud.client("s3", account)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "lab", "Value": "04-iac"}]})
    s3.put_object(Bucket=bucket, Key="data.txt", Body=b"object operations are data events")
    s3.get_object(Bucket=bucket, Key="data.txt")
    s3.list_objects_v2(Bucket=bucket)
    cloud.client("cloudwatch", account).put_metric_data(
        Namespace="Learner", MetricData=[{"MetricName": "m", "Value": 1.0}])
    sns = cloud.client("sns", account)
    topic = sns.create_topic(Name="trail-topic")["TopicArn"]
    sns.publish(TopicArn=topic, Message="a data event")
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket=bucket)  # no policy: an error event

    iam = cloud.client("iam", account)
    iam.create_user(UserName="dev")
    iam.create_login_profile(UserName="dev", Password="Secret-Passw0rd!")
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    _client(cloud, "sqs", key["AccessKeyId"], key["SecretAccessKey"]).create_queue(QueueName="trail-queue")

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    creds = cloud.client("sts", account).assume_role(RoleArn=role["Arn"], RoleSessionName="night-shift")["Credentials"]
    _client(cloud, "sns", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]).create_topic(
        Name="role-topic")
    return {"account": account, "bucket": bucket, "user_key": key["AccessKeyId"],
            "role_key": creds["AccessKeyId"], "role_arn": role["Arn"],
            "trail": cloud.client("cloudtrail", account)}


def test_each_call_is_recorded_with_its_callers_identity(session):
    account = session["account"]
    events = _all_events(session["trail"])
    found = _by_name(events)

    bucket = found["CreateBucket"][0]
    assert bucket["userIdentity"]["type"] == "Root"
    assert bucket["userIdentity"]["arn"] == f"arn:aws:iam::{account}:root"
    assert bucket["eventSource"] == "s3.amazonaws.com"
    assert bucket["awsRegion"] == "us-east-1"
    assert bucket["requestParameters"]["bucketName"] == session["bucket"]
    assert bucket["readOnly"] is False and bucket["eventVersion"] and bucket["eventID"] and bucket["requestID"]
    assert bucket["recipientAccountId"] == account and bucket["userAgent"].startswith("Boto3")

    queue = found["CreateQueue"][0]
    assert queue["userIdentity"]["type"] == "IAMUser"
    assert queue["userIdentity"]["userName"] == "dev"
    assert queue["userIdentity"]["arn"] == f"arn:aws:iam::{account}:user/dev"
    assert queue["userIdentity"]["accessKeyId"] == session["user_key"]
    assert queue["responseElements"]["queueUrl"].endswith("/trail-queue")

    by_role = [e for e in found["CreateTopic"] if e["requestParameters"]["name"] == "role-topic"][0]
    identity = by_role["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == f"arn:aws:sts::{account}:assumed-role/deployer/night-shift"
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == session["role_arn"]

    failed = found["GetBucketPolicy"][0]
    assert failed["errorCode"] == "NoSuchBucketPolicy" and failed["errorMessage"]
    assert failed["readOnly"] is True and failed["responseElements"] is None


def test_data_events_and_secrets_are_not_recorded(session):
    events = _all_events(session["trail"])
    names = {e["EventName"] for e in events}
    assert {"CreateBucket", "PutBucketTagging", "CreateTopic", "CreateAccessKey"} <= names
    assert not names & {"PutObject", "GetObject", "ListObjectsV2", "PutMetricData", "Publish"}
    found = _by_name(events)
    profile = found["CreateLoginProfile"][0]
    assert "password" not in profile["requestParameters"]
    assert "Secret-Passw0rd!" not in json.dumps(events, default=str)
    access_key = found["CreateAccessKey"][0]["responseElements"]["accessKey"]
    assert access_key["accessKeyId"] == session["user_key"] and "secretAccessKey" not in access_key


def test_every_lookup_attribute_filters(session):
    trail, account, bucket = session["trail"], session["account"], session["bucket"]

    def names(key: str, value: str) -> list[str]:
        return [e["EventName"] for e in _all_events(
            trail, LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])]

    assert names("EventName", "PutBucketTagging") == ["PutBucketTagging"]
    assert set(names("EventSource", "iam.amazonaws.com")) == {"CreateUser", "CreateLoginProfile",
                                                             "CreateAccessKey", "CreateRole"}
    assert names("ResourceName", bucket) == ["GetBucketPolicy", "PutBucketTagging", "CreateBucket"]
    assert set(names("ResourceType", "AWS::SQS::Queue")) == {"CreateQueue"}
    assert names("Username", "dev") == ["CreateQueue"]
    assert names("Username", "night-shift") == ["CreateTopic"]
    assert "CreateBucket" in names("Username", "root")
    assert names("AccessKeyId", session["role_key"]) == ["CreateTopic"]
    read_only = names("ReadOnly", "true")
    assert "GetBucketPolicy" in read_only and "CreateBucket" not in read_only
    assert "CreateBucket" in names("ReadOnly", "false")
    one = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateRole"}])
    event_id = one["Events"][0]["EventId"]
    assert names("EventId", event_id) == ["CreateRole"]
    assert names("EventName", "NoSuchCall") == []


def test_pages_newest_first_without_gaps_or_repeats(session):
    trail = session["trail"]
    everything = _all_events(trail, LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}])
    paged = _all_events(trail, LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
                        MaxResults=2)
    assert len(everything) >= 9
    assert [e["EventId"] for e in paged] == [e["EventId"] for e in everything]
    times = [e["EventTime"] for e in paged]
    assert times == sorted(times, reverse=True)
    first = trail.lookup_events(MaxResults=3)
    assert len(first["Events"]) == 3 and first["NextToken"]


def test_a_time_range_bounds_the_events(cloud, account):
    trail = cloud.client("cloudtrail", account)
    sqs = cloud.client("sqs", account)
    sqs.create_queue(QueueName="before")
    time.sleep(1.1)
    middle = datetime.now(timezone.utc)
    time.sleep(1.1)
    sqs.create_queue(QueueName="after")
    newer = _all_events(trail, StartTime=middle,
                        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateQueue"}])
    older = _all_events(trail, EndTime=middle,
                        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateQueue"}])
    assert [json.loads(e["CloudTrailEvent"])["requestParameters"]["queueName"] for e in newer] == ["after"]
    assert [json.loads(e["CloudTrailEvent"])["requestParameters"]["queueName"] for e in older] == ["before"]
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert trail.lookup_events(StartTime=future)["Events"] == []


@pytest.mark.parametrize("kwargs, code", [
    ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "A"},
                           {"AttributeKey": "ReadOnly", "AttributeValue": "true"}]}, "InvalidLookupAttributesException"),
    ({"MaxResults": 51}, "InvalidMaxResultsException"),
    ({"StartTime": datetime(2026, 12, 2, tzinfo=timezone.utc), "EndTime": datetime(2026, 12, 1, tzinfo=timezone.utc)},
     "InvalidTimeRangeException"),
    ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
])
def test_bad_lookups_get_awss_errors(cloud, account, kwargs, code):
    with pytest.raises(ClientError) as caught:
        cloud.client("cloudtrail", account).lookup_events(**kwargs)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_aws_cli_looks_up_events(cloud, account):
    cloud.client("s3", account).create_bucket(Bucket=f"cli-{account}")
    out = subprocess.run(["aws", "cloudtrail", "lookup-events", "--endpoint-url", cloud.endpoint,
                          "--lookup-attributes", "AttributeKey=EventName,AttributeValue=CreateBucket",
                          "--max-results", "5", "--output", "json"],
                         env=cloud.env(account), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)["Events"]
    assert [e["Resources"][0]["ResourceName"] for e in events] == [f"cli-{account}"]
    assert json.loads(events[0]["CloudTrailEvent"])["userIdentity"]["arn"] == f"arn:aws:iam::{account}:root"


def test_accounts_see_only_their_own_history_and_a_reset_empties_it(cloud, account):
    import urllib.request

    other = new_account()
    cloud.client("sqs", account).create_queue(QueueName="mine")
    cloud.client("sqs", other).create_queue(QueueName="theirs")
    mine = _all_events(cloud.client("cloudtrail", account))
    assert [json.loads(e["CloudTrailEvent"])["requestParameters"]["queueName"]
            for e in mine if e["EventName"] == "CreateQueue"] == ["mine"]
    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", method="POST",
                                     headers={"Authorization": f"Bearer {cloud.admin_token}"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200
    assert cloud.client("cloudtrail", account).lookup_events()["Events"] == []
    assert any(e["EventName"] == "CreateQueue" for e in _all_events(cloud.client("cloudtrail", other)))


def test_a_long_history_reads_back_whole_across_blocks(tmp_path, monkeypatch):
    """In-process: a history many read blocks long pages back every event once, newest first."""
    from workshop.cloud import runtime
    from workshop.cloud.services.cloudtrail import models

    monkeypatch.setattr(runtime, "_state_dir", tmp_path)
    start = 1_700_000_000.0
    lines = [models.encode({"EventId": f"id-{n}", "EventName": "Odd" if n % 2 else "Even", "ReadOnly": "false",
                            "EventTime": start + n, "EventSource": "s3.amazonaws.com",
                            "Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": f"b{n % 7}"}],
                            "CloudTrailEvent": "x" * (n % 300)}) for n in range(3000)]
    models.append("123456789012", "us-east-1", lines)
    assert (tmp_path / "cloudtrail" / "123456789012" / "us-east-1" / "events.jsonl").stat().st_size > 4 * 64 * 1024
    now = datetime.fromtimestamp(start + 3000, timezone.utc)

    def every(**kwargs) -> list[str]:
        ids, token = [], None
        while True:
            page = models.lookup("123456789012", "us-east-1", now, max_results=50, next_token=token, **kwargs)
            ids += [e["EventId"] for e in page.events]
            token = page.next_token
            if token is None:
                return ids

    assert every() == [f"id-{n}" for n in reversed(range(3000))]
    assert every(attributes=[{"AttributeKey": "EventName", "AttributeValue": "Odd"}]) == \
        [f"id-{n}" for n in reversed(range(3000)) if n % 2]
    assert every(attributes=[{"AttributeKey": "ResourceName", "AttributeValue": "b3"}]) == \
        [f"id-{n}" for n in reversed(range(3000)) if n % 7 == 3]
    window = every(start=datetime.fromtimestamp(start + 100, timezone.utc),
                   end=datetime.fromtimestamp(start + 199, timezone.utc))
    assert window == [f"id-{n}" for n in reversed(range(100, 200))]
    assert models.lookup("123456789012", "us-east-1", now, max_results=5).events[0]["EventTime"] == start + 2999


def test_an_events_time_is_when_its_request_arrived(tmp_path, monkeypatch):
    """In-process: eventTime is when the gateway received the request (as on AWS), not when the
    answer was ready: a CreateStack answered in the next second looked later than the stack it
    made, and lab 04's check then did not find the stack's creation."""
    from workshop.cloud import runtime
    from workshop.cloud.services.cloudtrail import models, recorder

    monkeypatch.setattr(runtime, "_state_dir", tmp_path)
    account = "123456789012"
    body = b"Action=CreateQueue&QueueName=slow&Version=2012-11-05"
    received = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=30)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "", "HTTP_HOST": "127.0.0.1:4566",
               "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
               "CONTENT_LENGTH": str(len(body)), "workshop.body": body, "workshop.account": account,
               "workshop.received": received,
               "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={account}/20261206/us-east-1/sqs/aws4_request, "
                                     "SignedHeaders=host, Signature=0"}
    answer = (b"<CreateQueueResponse><CreateQueueResult><QueueUrl>http://127.0.0.1:4566/123456789012/slow"
              b"</QueueUrl></CreateQueueResult></CreateQueueResponse>")
    recorder.request_done(environ, "200 OK", [("Content-Type", "text/xml")], [answer])
    recorder.flush()
    page = models.lookup(account, "us-east-1", datetime.now(timezone.utc),
                         attributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateQueue"}])
    assert [e["EventTime"] for e in page.events] == [received.timestamp()]
