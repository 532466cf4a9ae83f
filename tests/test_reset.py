"""``workshop reset 04-iac`` deletes exactly what the lab made (its stacks, Part 1's
and Part 2's, their change sets, their buckets with every object version) and nothing
else in the account; it is safe to run twice, and says clearly when the
cloud is down (exit 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from labkit.reset import LAB_MODULES, get_resetter
from tests.conftest import ROOT, free_port, new_account
from tests.test_lab04_checks import FAST, LAB_TAGS, lab_bucket, solve, templates

OTHER_TEMPLATE = """\
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: not-the-lab
"""


def reset(endpoint: str, account: str, lab: str = "04-iac") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workshop", "reset", lab, "--endpoint", endpoint,
                           "--account", account], capture_output=True, text=True, cwd=ROOT, timeout=300)


def stack_names(cfn) -> set[str]:
    return {s["StackName"] for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"}


def bucket_exists(s3, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
        return True
    except ClientError:
        return False


def test_reset_deletes_the_lab_and_nothing_else(cloud, account):
    cfn, s3 = cloud.client("cloudformation", account), cloud.client("s3", account)
    solve(cloud, account, upto="drift")  # stack, change set, versioned bucket holding the report
    bucket = lab_bucket(account)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="notes.txt", Body=body)
    s3.delete_object(Bucket=bucket, Key="notes.txt")  # leaves a delete marker too
    # A second stack the learner tagged for the lab is the lab's as well.
    cfn.create_stack(StackName="my-04-iac-try", TemplateBody=OTHER_TEMPLATE.replace("not-the-lab", "my-try"),
                     Tags=LAB_TAGS)
    # What is not the lab's: an untagged stack, another lab's stack, a bucket.
    cfn.create_stack(StackName="unrelated", TemplateBody=OTHER_TEMPLATE)
    cfn.create_stack(StackName="lab-03-stack", TemplateBody=OTHER_TEMPLATE.replace("not-the-lab", "lab-03"),
                     Tags=[{"Key": "workshop:lab", "Value": "03-deploy"}])
    keep = f"keep-{account}"
    s3.create_bucket(Bucket=keep)
    s3.put_object(Bucket=keep, Key="data.txt", Body=b"mine")
    for name in ("my-04-iac-try", "unrelated", "lab-03-stack"):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)

    out = reset(cloud.endpoint, account)
    assert out.returncode == 0, out.stdout + out.stderr
    # The report, two versions of notes.txt and its delete marker; then the stack deletes the bucket.
    assert f"emptied bucket {bucket} (4 object version(s))" in out.stdout
    assert "deleted stack workshop-04-iac and its 1 change set(s)" in out.stdout
    assert "deleted stack my-04-iac-try" in out.stdout

    assert stack_names(cfn) == {"unrelated", "lab-03-stack"}
    assert not bucket_exists(s3, bucket)
    assert s3.get_object(Bucket=keep, Key="data.txt")["Body"].read() == b"mine"
    sns_topics = {t["TopicArn"].rsplit(":", 1)[1] for t in cloud.client("sns", account).list_topics()["Topics"]}
    assert {"not-the-lab", "lab-03"} <= sns_topics and "workshop-04-iac-alerts" not in sns_topics
    assert not cloud.client("sqs", account).list_queues().get("QueueUrls")

    again = reset(cloud.endpoint, account)
    assert again.returncode == 0 and "nothing to delete" in again.stdout, again.stdout + again.stderr
    assert stack_names(cfn) == {"unrelated", "lab-03-stack"}


def test_reset_deletes_both_parts_stacks_and_their_buckets(cloud, account):
    """Part 2's CDK stack goes too, with its two buckets (emptied first) and the measurement."""
    cfn, s3 = cloud.client("cloudformation", account), cloud.client("s3", account)
    solve(cloud, account)  # both parts
    cdk_bucket = f"workshop-04-cdk-data-{account}-us-east-1"
    s3.put_object(Bucket=cdk_bucket, Key="data.txt", Body=b"in a CDK bucket")
    assert stack_names(cfn) == {"workshop-04-iac", "workshop-04-iac-cdk"}
    out = reset(cloud.endpoint, account)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "deleted stack workshop-04-iac-cdk" in out.stdout
    assert stack_names(cfn) == set()
    for name in (lab_bucket(account), cdk_bucket, f"workshop-04-cdk-logs-{account}-us-east-1"):
        assert not bucket_exists(s3, name), name


def test_reset_removes_a_bucket_that_outlived_its_stack(cloud, account):
    s3 = cloud.client("s3", account)
    bucket = lab_bucket(account)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="drift/report.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="drift/report.json", Body=b"{ }")
    out = reset(cloud.endpoint, account)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 object version(s)" in out.stdout
    assert not bucket_exists(s3, bucket)


def test_reset_deletes_a_rolled_back_stack(cloud, account):
    cfn = cloud.client("cloudformation", account)
    squatter = cloud.client("s3", new_account())
    squatter.create_bucket(Bucket=lab_bucket(account))  # the name is taken: creation fails
    cfn.create_stack(StackName="workshop-04-iac", TemplateBody=templates()[0], Tags=LAB_TAGS)
    with pytest.raises(Exception):
        cfn.get_waiter("stack_create_complete").wait(StackName="workshop-04-iac", WaiterConfig=FAST)
    out = reset(cloud.endpoint, account)
    assert out.returncode == 0, out.stdout + out.stderr
    assert stack_names(cfn) == set()
    assert bucket_exists(squatter, lab_bucket(account)), "another account's bucket must survive"


def test_reset_when_the_cloud_is_down():
    out = reset(f"http://127.0.0.1:{free_port()}", "123456789012")
    assert out.returncode == 2
    assert "workshop up" in out.stderr and "Traceback" not in out.stderr + out.stdout


def test_reset_of_an_unknown_lab():
    out = reset("http://127.0.0.1:1", "123456789012", lab="99-nope")
    assert out.returncode == 2 and "no reset for lab" in out.stderr and "Traceback" not in out.stderr


def test_every_registered_reset_resolves():
    assert "04-iac" in LAB_MODULES
    for lab_id in LAB_MODULES:
        assert callable(get_resetter(lab_id))
