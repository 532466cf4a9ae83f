"""Lab 01-source's checks against real accounts in the workshop cloud: an empty
account fails every check with a hint; the solution notebook passes them all,
and half of it passes exactly the steps done; broken states (a trigger for
every branch, a queue SNS may not send to, a template left unassociated, a
merge that overrode the rules, a branch kept, wrong evidence, GitFlow
fast-forwarded) give findings, never exceptions; ``workshop reset 01-source``
removes the lab and nothing else, and the solution runs again afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.labs import sample_app_blobs, sample_app_dir
from checker.labs.lab01_source import (
    MESSAGE_KEY,
    QUEUE_NAME,
    REPO_NAME,
    REVIEWER_ROLE,
    TEMPLATE_NAME,
    TOPIC_NAME,
    Source,
    _lets_topic_send,
    _protects_main,
    trigger_records,
)
from checker.runner import run_lab
from checker.session import Target
from labkit.reset import reset_lab
from tests import notebooks
from tests.conftest import new_account
from tests.test_codecommit_git import commit_file, git, with_credentials

LAB = "01-source"
TAG = {"workshop:lab": LAB}
ALL = {"repo-created", "trigger-on-main", "sample-app-on-main", "trigger-delivered", "protect-main",
       "pr-approved", "trunk-merged", "gitflow-branches"}
THROUGH = {  # the checks that pass once the solution is done through a step
    "push": {"repo-created", "trigger-on-main", "sample-app-on-main", "trigger-delivered"},
    "pull-request": ALL - {"gitflow-branches"},
}
# The sample app's own files (the checks compare main's content with them).
SAMPLE = {path: (sample_app_dir() / path).read_bytes() for path in sample_app_blobs()}


def checks(cloud, account: str) -> dict:
    result = run_lab(LAB, Target(cloud.endpoint, account, "test", "us-east-1"))
    assert result.error is None and result.account == account
    return {r.id.split(".", 1)[1]: r for r in result.results}


def passing(found: dict) -> set[str]:
    return {slug for slug, r in found.items() if r.passed}


def assert_findings(found: dict) -> None:
    """Every result is a finding a learner can act on, never a crashed check."""
    assert set(found) == ALL
    for slug, r in found.items():
        assert r.message, slug
        assert "could not evaluate" not in r.message and "could not read" not in r.message, (slug, r.message)
        if not r.passed:
            assert r.hint and len(r.hints) == 3, slug
            assert r.docs.startswith("https://docs.aws.amazon.com/"), slug


def bucket(account: str) -> str:
    return f"workshop-01-source-{account}-us-east-1"


# -- the solution notebook, whole or half done, in fresh accounts ------------------------------

@pytest.fixture(scope="module")
def solved(cloud, tmp_path_factory) -> dict[str, str]:
    """Accounts where the solution notebook ran through a step ('all': to the end)."""
    accounts = {"push": new_account(), "pull-request": new_account(), "all": new_account(), "reset": new_account()}
    work = tmp_path_factory.mktemp("lab01-work")
    for step in ("push", "pull-request"):
        notebooks.perform_solution(LAB, cloud.endpoint, [accounts[step]], work, through_step=step)
    notebooks.perform_solution(LAB, cloud.endpoint, [accounts["all"], accounts["reset"]], work)
    accounts["workdir"] = str(work)
    return accounts


def test_empty_account_fails_every_check_with_a_hint(cloud, account):
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == set()
    assert REPO_NAME in found["repo-created"].message
    assert "GitPush" in found["trigger-delivered"].message or REPO_NAME in found["trigger-delivered"].message


def test_solution_passes_every_check(cloud, solved):
    found = checks(cloud, solved["all"])
    assert_findings(found)
    assert passing(found) == ALL, {s: r.message for s, r in found.items() if not r.passed}
    assert "AWS/SNS" in found["trigger-delivered"].message and "AWS/SQS" in found["trigger-delivered"].message
    assert "workshop-01-source-reviewer/alex" in found["pr-approved"].message
    assert "release/1.1.0" in found["gitflow-branches"].message


@pytest.mark.parametrize("step", ["push", "pull-request"])
def test_half_done_passes_exactly_the_steps_done(cloud, solved, step):
    found = checks(cloud, solved[step])
    assert_findings(found)
    assert passing(found) == THROUGH[step], {s: r.message for s, r in found.items()}
    if step == "push":
        assert "no approval rule template" in found["protect-main"].message
        assert "No pull request into main" in found["pr-approved"].message
    assert "no branch develop" in found["gitflow-branches"].message


def test_the_queue_received_the_pushes_and_merges_to_main(cloud, solved):
    """The trigger really delivers: the pull request's merge (after the saved first push) is in the queue."""
    sqs = cloud.client("sqs", solved["pull-request"])
    url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    records = trigger_records(messages)
    main = cloud.client("codecommit", solved["pull-request"]).get_branch(
        repositoryName=REPO_NAME, branchName="main")["branch"]["commitId"]
    assert [(r["eventTriggerName"], r["codecommit"]["references"][0]) for r in records] == [
        ("main-pushes", {"commit": main, "ref": "refs/heads/main"})]


def test_reset_removes_the_lab_and_nothing_else_and_the_lab_runs_again(cloud, solved):
    account = solved["reset"]
    cc, sns, sqs = (cloud.client(s, account) for s in ("codecommit", "sns", "sqs"))
    iam, s3 = cloud.client("iam", account), cloud.client("s3", account)
    # Somebody else's things in the same account.
    cc.create_repository(repositoryName="other-repo")
    cc.create_approval_rule_template(approvalRuleTemplateName="other-template", approvalRuleTemplateContent=json.dumps(
        {"Version": "2018-11-08", "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 2}]}))
    cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName="other-template",
                                                        repositoryName=REPO_NAME)
    other_topic = sns.create_topic(Name="other-topic")["TopicArn"]
    sqs.create_queue(QueueName="other-queue")
    iam.create_role(RoleName="OtherRole", AssumeRolePolicyDocument="{}")
    s3.create_bucket(Bucket=f"other-{account}")

    cleanup = reset_lab(LAB, Target(cloud.endpoint, account, "test", "us-east-1"), say=lambda _: None)
    assert cleanup.problems == []
    done = " ".join(cleanup.done)
    for what in (f"approval rule template {TEMPLATE_NAME}", f"repository {REPO_NAME}", f"topic {TOPIC_NAME}", f"queue {QUEUE_NAME}",
                 f"role {REVIEWER_ROLE}", f"bucket {bucket(account)}"):
        assert f"deleted {what}" in done, cleanup.done
    assert [r["repositoryName"] for r in cc.list_repositories()["repositories"]] == ["other-repo"]
    assert cc.list_approval_rule_templates()["approvalRuleTemplateNames"] == ["other-template"]
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [other_topic]
    assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", [])] == ["other-queue"]
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["OtherRole"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [f"other-{account}"]
    assert passing(checks(cloud, account)) == set()

    again = reset_lab(LAB, Target(cloud.endpoint, account, "test", "us-east-1"), say=lambda _: None)
    assert again.done == [] and again.problems == []

    # The working copy from the first run is stale: the lab starts it afresh and passes again.
    notebooks.perform_solution(LAB, cloud.endpoint, [account], Path(solved["workdir"]))
    assert passing(checks(cloud, account)) == ALL


@pytest.mark.slow
def test_solution_notebook_is_safe_to_run_again(cloud, account, tmp_path):
    """Every step is idempotent: the whole solution, run twice in one account, raises nothing."""
    from workshop.grading import solutions_dir

    solution = notebooks.lab_copy(solutions_dir() / LAB, tmp_path)
    for _ in range(2):
        nb = notebooks.execute(solution / f"{LAB}.ipynb", cloud.env(account), allow_errors=True)
        assert notebooks.cell_errors(nb) == []
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "already exists" in printed and "is already merged into main" in printed
    assert "merge refused" not in printed  # the second run found the pull request merged
    assert passing(checks(cloud, account)) == ALL


# -- broken and half-made states, made with boto3 ----------------------------------------

def reviewer(cloud, account: str):
    import boto3

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
    cloud.client("iam", account).create_role(RoleName=REVIEWER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    creds = cloud.client("sts", account).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{REVIEWER_ROLE}", RoleSessionName="alex")["Credentials"]
    return boto3.client("codecommit", endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]})


class ByApi:
    """The lab's steps done with boto3 (no git), each one open to a twist."""

    def __init__(self, cloud, account: str):
        self.cloud, self.account = cloud, account
        self.cc = cloud.client("codecommit", account)

    def repo(self, files: dict | None = None, branch: str = "main") -> str:
        self.cc.create_repository(repositoryName=REPO_NAME, repositoryDescription="lab", tags=TAG)
        return self.cc.create_commit(repositoryName=REPO_NAME, branchName=branch, commitMessage="sample app",
                                     putFiles=[{"filePath": p, "fileContent": c}
                                               for p, c in (files or SAMPLE).items()])["commitId"]

    def trigger(self, branches=("main",), policy: bool = True) -> tuple[str, str]:
        sns, sqs = self.cloud.client("sns", self.account), self.cloud.client("sqs", self.account)
        topic = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if policy:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn, topic)})
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self.cc.put_repository_triggers(repositoryName=REPO_NAME, triggers=[{
            "name": "main-pushes", "destinationArn": topic, "branches": list(branches), "events": ["all"]}])
        return topic, url

    def push(self, tmp_path, path: str, text: str) -> str:
        """A commit on main pushed with git (CloudTrail's GitPush), as the lab teaches."""
        url = with_credentials(self.cc.get_repository(repositoryName=REPO_NAME)["repositoryMetadata"]["cloneUrlHttp"],
                               self.account)
        work = tmp_path / f"work-{self.account}"
        if not work.exists():
            git("clone", "-q", url, str(work))
        git("pull", "-q", "origin", "main", cwd=work)
        commit = commit_file(work, path, text, f"Add {path}")
        git("push", "-q", "origin", "HEAD:main", cwd=work)
        return commit

    def save_evidence(self, body: bytes) -> None:
        s3 = self.cloud.client("s3", self.account)
        s3.create_bucket(Bucket=bucket(self.account))
        s3.put_object(Bucket=bucket(self.account), Key=MESSAGE_KEY, Body=body)

    def template(self, content: dict | None = None, associate: bool = True) -> None:
        content = content or {"Version": "2018-11-08", "DestinationReferences": ["refs/heads/main"],
                              "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1}]}
        self.cc.create_approval_rule_template(approvalRuleTemplateName=TEMPLATE_NAME,
                                              approvalRuleTemplateContent=json.dumps(content))
        if associate:
            self.cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName=TEMPLATE_NAME,
                                                                     repositoryName=REPO_NAME)

    def pull_request(self, branch: str = "contributing-guide", approve: bool = True, override: bool = False,
                     delete: bool = True) -> dict:
        main = self.cc.get_branch(repositoryName=REPO_NAME, branchName="main")["branch"]["commitId"]
        self.cc.create_branch(repositoryName=REPO_NAME, branchName=branch, commitId=main)
        self.cc.put_file(repositoryName=REPO_NAME, branchName=branch, filePath=f"docs/{branch}.md",
                         fileContent=b"one small change\n", parentCommitId=main)
        pr = self.cc.create_pull_request(title="guide", targets=[
            {"repositoryName": REPO_NAME, "sourceReference": branch, "destinationReference": "main"}])["pullRequest"]
        if approve:
            reviewer(self.cloud, self.account).update_pull_request_approval_state(
                pullRequestId=pr["pullRequestId"], revisionId=pr["revisionId"], approvalState="APPROVE")
        if override:
            self.cc.override_pull_request_approval_rules(pullRequestId=pr["pullRequestId"],
                                                         revisionId=pr["revisionId"], overrideStatus="OVERRIDE")
        merged = self.cc.merge_pull_request_by_fast_forward(pullRequestId=pr["pullRequestId"],
                                                            repositoryName=REPO_NAME)["pullRequest"]
        if delete:
            self.cc.delete_branch(repositoryName=REPO_NAME, branchName=branch)
        return merged

    def gitflow(self, no_ff: bool = True, bump: bool = True) -> None:
        cc = self.cc
        main = cc.get_branch(repositoryName=REPO_NAME, branchName="main")["branch"]["commitId"]
        cc.create_branch(repositoryName=REPO_NAME, branchName="develop", commitId=main)
        cc.create_branch(repositoryName=REPO_NAME, branchName="feature/changelog", commitId=main)
        cc.put_file(repositoryName=REPO_NAME, branchName="feature/changelog", filePath="CHANGELOG.md",
                    fileContent=b"changes\n", parentCommitId=main)
        merge = cc.merge_branches_by_three_way if no_ff else cc.merge_branches_by_fast_forward
        merge(repositoryName=REPO_NAME, sourceCommitSpecifier="feature/changelog",
              destinationCommitSpecifier="develop", targetBranch="develop")
        develop = cc.get_branch(repositoryName=REPO_NAME, branchName="develop")["branch"]["commitId"]
        cc.create_branch(repositoryName=REPO_NAME, branchName="release/1.1.0", commitId=develop)
        if bump:
            cc.put_file(repositoryName=REPO_NAME, branchName="release/1.1.0", filePath="VERSION",
                        fileContent=b"1.1.0\n", parentCommitId=develop)


def test_by_api_the_whole_lab_passes(cloud, account, tmp_path):
    """The checks ask for what the lab asks, not for how the notebook happens to do it."""
    lab = ByApi(cloud, account)
    lab.repo()
    _, url = lab.trigger()
    lab.push(tmp_path, "NOTES.md", "n\n")
    [message] = cloud.client("sqs", account).receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert trigger_records(message)[0]["eventSourceARN"].endswith(REPO_NAME)
    lab.template()
    lab.pull_request()
    lab.gitflow()
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == ALL, {s: r.message for s, r in found.items() if not r.passed}


def test_trigger_for_every_branch_or_a_queue_sns_may_not_send_to(cloud, account):
    lab = ByApi(cloud, account)
    lab.repo()
    lab.trigger(branches=())
    found = checks(cloud, account)
    assert_findings(found)
    assert not found["trigger-on-main"].passed and "every branch" in found["trigger-on-main"].message

    lab.cc.put_repository_triggers(repositoryName=REPO_NAME, triggers=[])
    cloud.client("sqs", account).delete_queue(QueueUrl=cloud.client("sqs", account).get_queue_url(
        QueueName=QUEUE_NAME)["QueueUrl"])
    cloud.client("sns", account).delete_topic(TopicArn=f"arn:aws:sns:us-east-1:{account}:{TOPIC_NAME}")
    lab.trigger(policy=False)
    found = checks(cloud, account)
    assert not found["trigger-on-main"].passed and "policy" in found["trigger-on-main"].message

    sns = cloud.client("sns", account)
    for sub in sns.list_subscriptions()["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    found = checks(cloud, account)
    assert "no SQS subscription" in found["trigger-on-main"].message


def test_sample_app_pushed_elsewhere_or_with_caches(cloud, account):
    lab = ByApi(cloud, account)
    lab.repo(branch="master")
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == {"repo-created"}
    assert "no branch main (master)" in found["sample-app-on-main"].message

    master = lab.cc.get_branch(repositoryName=REPO_NAME, branchName="master")["branch"]["commitId"]
    lab.cc.create_branch(repositoryName=REPO_NAME, branchName="main", commitId=master)
    assert "default branch is master" in checks(cloud, account)["sample-app-on-main"].message
    lab.cc.update_default_branch(repositoryName=REPO_NAME, defaultBranchName="main")
    assert checks(cloud, account)["sample-app-on-main"].passed

    lab.cc.put_file(repositoryName=REPO_NAME, branchName="main", filePath="app/__pycache__/service.cpython-311.pyc",
                    fileContent=b"\x00", parentCommitId=master)
    found = checks(cloud, account)
    assert not found["sample-app-on-main"].passed and "app/__pycache__" in found["sample-app-on-main"].message


def test_template_shapes_and_association(cloud, account):
    lab = ByApi(cloud, account)
    lab.repo()
    lab.template(associate=False)
    found = checks(cloud, account)
    assert_findings(found)
    assert "not associated" in found["protect-main"].message

    lab.cc.update_approval_rule_template_content(
        approvalRuleTemplateName=TEMPLATE_NAME, newRuleContent=json.dumps(
            {"Version": "2018-11-08", "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1}]}))
    lab.cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName=TEMPLATE_NAME,
                                                            repositoryName=REPO_NAME)
    assert "every branch" in checks(cloud, account)["protect-main"].message


def test_pull_requests_merged_without_review_or_with_the_branch_kept(cloud, account):
    lab = ByApi(cloud, account)
    lab.repo()
    lab.pull_request(branch="unprotected", approve=False)  # before any template: no rule at all
    lab.template()
    lab.pull_request(branch="overridden", approve=False, override=True)
    found = checks(cloud, account)
    assert_findings(found)
    assert not found["pr-approved"].passed
    assert "had no approval rule" in found["pr-approved"].message
    assert "overriding" in found["pr-approved"].message
    assert found["trunk-merged"].passed  # both were short-lived branches merged and deleted

    kept = ByApi(cloud, new_account())
    kept.repo()
    kept.template()
    kept.pull_request(delete=False)
    found = checks(cloud, kept.account)
    assert found["pr-approved"].passed
    assert not found["trunk-merged"].passed and "still exists" in found["trunk-merged"].message


def test_gitflow_fast_forwarded_or_without_release_commit(cloud, account):
    lab = ByApi(cloud, account)
    lab.repo()
    lab.gitflow(no_ff=False)
    found = checks(cloud, account)
    assert_findings(found)
    assert "develop's own line" in found["gitflow-branches"].message

    other = ByApi(cloud, new_account())
    other.repo()
    other.gitflow(bump=False)
    assert "no commit of its own" in checks(cloud, other.account)["gitflow-branches"].message

    # GitFlow deletes a finished feature branch: develop's merge commit still names it.
    other.cc.put_file(repositoryName=REPO_NAME, branchName="release/1.1.0", filePath="VERSION",
                      fileContent=b"1.1.0\n", parentCommitId=other.cc.get_branch(
                          repositoryName=REPO_NAME, branchName="release/1.1.0")["branch"]["commitId"])
    other.cc.delete_branch(repositoryName=REPO_NAME, branchName="feature/changelog")
    found = checks(cloud, other.account)
    assert found["gitflow-branches"].passed, found["gitflow-branches"].message


# -- the pieces the checks rely on, without a cloud --------------------------------------

def test_trigger_records_in_every_shape_a_learner_may_save():
    record = {"eventSource": "aws:codecommit", "eventName": "ReferenceChanges"}
    payload = {"Records": [record]}
    notification = {"Type": "Notification", "Message": json.dumps(payload)}
    sqs_message = {"MessageId": "1", "Body": json.dumps(notification)}
    for shape in (payload, notification, sqs_message, [sqs_message], record, json.dumps(notification)):
        assert trigger_records(shape) == [record], shape
    assert trigger_records({"Message": "not json"}) == [] and trigger_records(None) == []


def test_queue_policy_and_template_rules():
    topic, queue = "arn:aws:sns:us-east-1:1:t", "arn:aws:sqs:us-east-1:1:q"
    assert _lets_topic_send(json.loads(queue_policy(queue, topic)), topic)
    assert not _lets_topic_send(json.loads(queue_policy(queue, topic)), "arn:aws:sns:us-east-1:1:other")
    assert _lets_topic_send({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}}, topic)
    assert not _lets_topic_send({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sqs:*"}]}, topic)
    assert not _lets_topic_send(None, topic)

    def template(content):
        return {"approvalRuleTemplateName": "t", "approvalRuleTemplateContent": json.dumps(content)}

    main = {"DestinationReferences": ["refs/heads/main"]}
    assert _protects_main(template({**main, "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 2}]})) == ""
    assert "no approval" in _protects_main(template({**main, "Statements": []}))
    assert "not to refs/heads/main" in _protects_main(template({
        "DestinationReferences": ["refs/heads/prod"], "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1}]}))
    assert "no approval" in _protects_main({"approvalRuleTemplateName": "t", "approvalRuleTemplateContent": "{"})


def test_history_walks():
    st = Source("1", "us-east-1")
    st.commits = {"a": {"parents": []}, "b": {"parents": ["a"]}, "f": {"parents": ["b"]},
                  "m": {"parents": ["b", "f"]}}
    assert st.reach("m") == {"a", "b", "f", "m"} and st.reach("f") == {"a", "b", "f"}
    assert st.first_parents("m") == ["m", "b", "a"]
    assert st.reach("unknown") == set() and st.first_parents(None) == []
