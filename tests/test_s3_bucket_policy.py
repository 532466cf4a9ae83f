"""Bucket policies with conditions in the workshop cloud: a TLS-only policy
lets requests through (the cloud stands in for AWS's HTTPS endpoint), while
a condition that holds and an unconditional Deny still refuse."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


def _policy(bucket: str, **statement) -> str:
    base = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}
    return json.dumps({"Version": "2012-10-17", "Statement": [dict(base, **statement)]})


@pytest.fixture
def bucket(cloud, account):
    s3 = cloud.client("s3", account)
    name = f"policy-{account}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="a.txt", Body=b"a")
    return s3, name


def test_tls_only_policy_lets_requests_through(bucket):
    s3, name = bucket
    s3.put_bucket_policy(Bucket=name, Policy=_policy(name, Condition={"Bool": {"aws:SecureTransport": "false"}}))
    s3.put_object(Bucket=name, Key="b.txt", Body=b"b")
    assert s3.get_object(Bucket=name, Key="a.txt")["Body"].read() == b"a"
    answer = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "a.txt"}, {"Key": "b.txt"}]})
    assert not answer.get("Errors") and len(answer["Deleted"]) == 2


def test_a_condition_that_holds_denies(bucket):
    s3, name = bucket
    s3.put_bucket_policy(Bucket=name, Policy=_policy(name, Condition={"Bool": {"aws:SecureTransport": ["true"]}}))
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=name, Key="a.txt")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_unconditional_deny_still_denies(bucket):
    s3, name = bucket
    s3.put_bucket_policy(Bucket=name, Policy=_policy(name, Action="s3:GetObject"))
    with pytest.raises(ClientError):
        s3.get_object(Bucket=name, Key="a.txt")
    s3.put_object(Bucket=name, Key="c.txt", Body=b"c")  # only GetObject is denied
