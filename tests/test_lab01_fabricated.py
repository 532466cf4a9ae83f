"""Lab 01-source's checks against the evidence a learner could fabricate with plain
boto3 in a fresh account, without doing the work: the sample app's paths with
empty files, a trigger message written by hand (and commits made without a git
push), a push before the trigger existed, an approval from outside the
template's approval pool, GitFlow branches that do not carry the changelog or
the version bump. Each check must fail and say what evidence is missing."""

from __future__ import annotations

import json

import boto3

from checker.labs.lab01_source import MAIN_REF, REPO_NAME, TEMPLATE_NAME
from tests.conftest import new_account
from tests.test_lab01_checks import SAMPLE, ByApi, checks


def test_the_sample_apps_paths_with_empty_files_fail(cloud, account):
    lab = ByApi(cloud, account)
    lab.repo(files={path: b"" for path in SAMPLE})
    found = checks(cloud, account)
    assert not found["sample-app-on-main"].passed
    assert "differ from the sample app" in found["sample-app-on-main"].message
    assert "app/service.py" in found["sample-app-on-main"].message


def test_a_hand_written_trigger_message_without_a_push_fails(cloud, account, tmp_path):
    lab = ByApi(cloud, account)
    commit = lab.repo()  # the app committed through the API: no git push
    lab.trigger()
    record = {"eventSource": "aws:codecommit", "eventName": "ReferenceChanges", "eventTriggerName": "main-pushes",
              "eventSourceARN": f"arn:aws:codecommit:us-east-1:{account}:{REPO_NAME}",
              "codecommit": {"references": [{"ref": MAIN_REF, "commit": commit, "created": True}]}}
    lab.save_evidence(json.dumps({"Records": [record]}).encode())
    found = checks(cloud, account)
    assert found["trigger-on-main"].passed
    assert not found["trigger-delivered"].passed
    assert "no git push by you that moved main" in found["trigger-delivered"].message


def test_a_push_before_the_trigger_existed_fails(cloud, account, tmp_path):
    lab = ByApi(cloud, account)
    lab.repo()
    lab.push(tmp_path, "NOTES.md", "pushed before any trigger\n")
    lab.trigger()
    found = checks(cloud, account)
    assert found["trigger-on-main"].passed
    assert not found["trigger-delivered"].passed
    assert "delivered nothing" in found["trigger-delivered"].message
    lab.push(tmp_path, "MORE.md", "pushed with the trigger in place\n")
    assert checks(cloud, account)["trigger-delivered"].passed


def session_of(cloud, account: str, role: str):
    """A CodeCommit client acting as a session of ``role`` (made here, trusting the account)."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
    cloud.client("iam", account).create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    creds = cloud.client("sts", account).assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                                                     RoleSessionName="someone")["Credentials"]
    return boto3.client("codecommit", endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def test_an_approval_from_outside_the_templates_pool_fails(cloud, account):
    lab = ByApi(cloud, account)
    lab.repo()
    lab.template({"Version": "2018-11-08", "DestinationReferences": [MAIN_REF], "Statements": [{
        "Type": "Approvers", "NumberOfApprovalsNeeded": 1,
        "ApprovalPoolMembers": [f"arn:aws:sts::{account}:assumed-role/workshop-01-source-reviewer/*"]}]})
    # The template taken off the repository; the pull request gets a rule of the learner's own,
    # whose pool is a role the learner controls.
    lab.cc.disassociate_approval_rule_template_from_repository(approvalRuleTemplateName=TEMPLATE_NAME,
                                                               repositoryName=REPO_NAME)
    main = lab.cc.get_branch(repositoryName=REPO_NAME, branchName="main")["branch"]["commitId"]
    lab.cc.create_branch(repositoryName=REPO_NAME, branchName="guide", commitId=main)
    lab.cc.put_file(repositoryName=REPO_NAME, branchName="guide", filePath="GUIDE.md", fileContent=b"g\n",
                    parentCommitId=main)
    pr = lab.cc.create_pull_request(title="guide", targets=[
        {"repositoryName": REPO_NAME, "sourceReference": "guide", "destinationReference": "main"}])["pullRequest"]
    lab.cc.create_pull_request_approval_rule(
        pullRequestId=pr["pullRequestId"], approvalRuleName="mine", approvalRuleContent=json.dumps({
            "Version": "2018-11-08", "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1,
                                                     "ApprovalPoolMembers": [
                                                         f"arn:aws:sts::{account}:assumed-role/friend/*"]}]}))
    lab.cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName=TEMPLATE_NAME,
                                                            repositoryName=REPO_NAME)
    session_of(cloud, account, "friend").update_pull_request_approval_state(
        pullRequestId=pr["pullRequestId"], revisionId=pr["revisionId"], approvalState="APPROVE")
    lab.cc.merge_pull_request_by_fast_forward(pullRequestId=pr["pullRequestId"], repositoryName=REPO_NAME)
    found = checks(cloud, account)
    assert found["protect-main"].passed
    assert not found["pr-approved"].passed
    assert "do not come from the template" in found["pr-approved"].message


def test_gitflow_without_the_changelog_or_the_version_bump_fails(cloud, account):
    lab = ByApi(cloud, account)
    lab.repo()
    cc = lab.cc
    main = cc.get_branch(repositoryName=REPO_NAME, branchName="main")["branch"]["commitId"]
    cc.create_branch(repositoryName=REPO_NAME, branchName="develop", commitId=main)
    cc.create_branch(repositoryName=REPO_NAME, branchName="feature/changelog", commitId=main)
    cc.put_file(repositoryName=REPO_NAME, branchName="feature/changelog", filePath="notes.txt",
                fileContent=b"no changelog here\n", parentCommitId=main)
    cc.merge_branches_by_three_way(repositoryName=REPO_NAME, sourceCommitSpecifier="feature/changelog",
                                   destinationCommitSpecifier="develop", targetBranch="develop")
    develop = cc.get_branch(repositoryName=REPO_NAME, branchName="develop")["branch"]["commitId"]
    cc.create_branch(repositoryName=REPO_NAME, branchName="release/1.1.0", commitId=develop)
    cc.put_file(repositoryName=REPO_NAME, branchName="release/1.1.0", filePath="VERSION", fileContent=b"1.1.0\n",
                parentCommitId=develop)
    found = checks(cloud, account)
    assert not found["gitflow-branches"].passed
    assert "brought the changelog" in found["gitflow-branches"].message
    assert "notes.txt" in found["gitflow-branches"].message

    other = ByApi(cloud, new_account())
    other.repo()
    other.gitflow(bump=False)
    release = other.cc.get_branch(repositoryName=REPO_NAME, branchName="release/1.1.0")["branch"]["commitId"]
    other.cc.put_file(repositoryName=REPO_NAME, branchName="release/1.1.0", filePath="README.md",
                      fileContent=b"release notes\n", parentCommitId=release)
    found = checks(cloud, other.account)
    assert not found["gitflow-branches"].passed and "not VERSION" in found["gitflow-branches"].message
    release = other.cc.get_branch(repositoryName=REPO_NAME, branchName="release/1.1.0")["branch"]["commitId"]
    other.cc.put_file(repositoryName=REPO_NAME, branchName="release/1.1.0", filePath="VERSION",
                      fileContent=b"9.9.9\n", parentCommitId=release)
    found = checks(cloud, other.account)
    assert not found["gitflow-branches"].passed and "not '1.1.0'" in found["gitflow-branches"].message

