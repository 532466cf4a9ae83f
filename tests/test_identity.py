"""Identities as AWS shows them, by the cloud's one caller rule (accounts.caller): a
12-digit key is the account's root, an IAM user's key that user, an assumed role's
session the session; STS, CodeCommit (mergedBy, authorArn, approvals, triggers' events)
and CodeBuild's initiator all name the same caller."""

from __future__ import annotations

import json

import boto3

from tests.test_codecommit_pull_requests import open_pr, repo_with_feature, reviewer_client


def _client(cloud, service: str, key: str, secret: str = "test", token: str | None = None):
    return boto3.client(service, endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token)


def test_a_12_digit_key_is_the_account_root(cloud, account):
    who = cloud.client("sts", account).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{account}:root"
    assert who["UserId"] == who["Account"] == account  # AWS answers root's UserId with the account id


def test_any_other_key_is_the_default_accounts_root(cloud):
    who = _client(cloud, "sts", "test").get_caller_identity()
    assert (who["Account"], who["Arn"], who["UserId"]) == (
        "000000000000", "arn:aws:iam::000000000000:root", "000000000000")


def test_an_iam_users_key_and_an_assumed_role_are_themselves(cloud, account):
    iam = cloud.client("iam", account)
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    who = _client(cloud, "sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{account}:user/alice" and who["Account"] == account
    assert who["UserId"] == iam.get_user(UserName="alice")["User"]["UserId"]

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
    role = iam.create_role(RoleName="Deployer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    creds = cloud.client("sts", account).assume_role(RoleArn=role["Arn"], RoleSessionName="ci")["Credentials"]
    who = _client(cloud, "sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                  creds["SessionToken"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{account}:assumed-role/Deployer/ci"
    assert who["UserId"] == f"{role['RoleId']}:ci"


def test_codecommit_names_the_caller_in_pull_requests(cloud, account):
    cc = cloud.client("codecommit", account)
    repo_with_feature(cc)
    pr = open_pr(cc)
    root = f"arn:aws:iam::{account}:root"
    assert pr["authorArn"] == root
    reviewer = reviewer_client(cloud, account)
    reviewer.update_pull_request_approval_state(pullRequestId=pr["pullRequestId"], revisionId=pr["revisionId"],
                                                approvalState="APPROVE")
    states = cc.get_pull_request_approval_states(pullRequestId=pr["pullRequestId"],
                                                 revisionId=pr["revisionId"])["approvals"]
    assert [s["userArn"] for s in states] == [f"arn:aws:sts::{account}:assumed-role/Reviewer/alex"]

    merged = cc.merge_pull_request_by_fast_forward(pullRequestId=pr["pullRequestId"],
                                                   repositoryName="app")["pullRequest"]
    assert merged["pullRequestTargets"][0]["mergeMetadata"]["mergedBy"] == root
    events = cc.describe_pull_request_events(pullRequestId=pr["pullRequestId"])["pullRequestEvents"]
    assert {e["actorArn"] for e in events} <= {root, f"arn:aws:sts::{account}:assumed-role/Reviewer/alex"}
    assert "moto" not in json.dumps(merged, default=str) + json.dumps(events, default=str)


def test_codebuild_initiator_is_the_callers_name(cloud, account):
    iam = cloud.client("iam", account)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "codebuild.amazonaws.com"}}]}
    role = iam.create_role(RoleName="builder", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    cb = cloud.client("codebuild", account)
    cb.create_project(name="who", serviceRole=role, environment={
        "type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"},
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\n"},
        artifacts={"type": "NO_ARTIFACTS"})
    build = cb.start_build(projectName="who")["build"]
    assert build["initiator"] == "root"
    user_key = iam.create_access_key(UserName=iam.create_user(UserName="bob")["User"]["UserName"])["AccessKey"]
    build = _client(cloud, "codebuild", user_key["AccessKeyId"], user_key["SecretAccessKey"]).start_build(
        projectName="who")["build"]
    assert build["initiator"] == "bob"
