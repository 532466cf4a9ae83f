"""Pull requests through the API: approval rule templates protect a branch, the
author cannot approve, a merge the rules do not allow fails with AWS's error
code and succeeds after approval; the three merge kinds produce the history
git would; new commits on the source make a new revision."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


LINES = b"".join(b"line %d\n" % i for i in range(1, 8))


def code_of(raised) -> str:
    return raised.value.response["Error"]["Code"]


def rule_content(account: str, approvals: int = 1, pool: list[str] | None = None,
                 branches: list[str] | None = None) -> str:
    statement = {"Type": "Approvers", "NumberOfApprovalsNeeded": approvals}
    if pool is not None:
        statement["ApprovalPoolMembers"] = pool
    content = {"Version": "2018-11-08", "Statements": [statement]}
    if branches is not None:
        content["DestinationReferences"] = [f"refs/heads/{b}" for b in branches]
    return json.dumps(content)


def reviewer_client(cloud, account: str, role: str = "Reviewer", session: str = "alex"):
    """A second identity in the same account: a session of an assumed IAM role."""
    import boto3

    iam = cloud.client("iam", account)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
    try:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    except ClientError:
        pass
    creds = cloud.client("sts", account).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=session)["Credentials"]
    return boto3.client("codecommit", endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def repo_with_feature(cc, name: str = "app") -> tuple[str, str]:
    """A repository with main and a feature branch one commit ahead: (main tip, feature tip)."""
    cc.create_repository(repositoryName=name)
    main = cc.put_file(repositoryName=name, branchName="main", filePath="app.py",
                       fileContent=LINES, commitMessage="start")["commitId"]
    cc.create_branch(repositoryName=name, branchName="feature", commitId=main)
    feature = cc.put_file(repositoryName=name, branchName="feature", filePath="app.py",
                          fileContent=LINES.replace(b"line 5", b"line 5 changed"),
                          parentCommitId=main, commitMessage="change line 5")["commitId"]
    return main, feature


def open_pr(cc, name: str = "app", source: str = "feature", dest: str = "main") -> dict:
    return cc.create_pull_request(title="Change line 5", description="please review", targets=[
        {"repositoryName": name, "sourceReference": source, "destinationReference": dest}])["pullRequest"]


def test_template_requiring_one_approval_blocks_the_merge_until_approved(cloud, account):
    cc = cloud.client("codecommit", account)
    main, feature = repo_with_feature(cc)
    pool = [f"arn:aws:sts::{account}:assumed-role/Reviewer/*"]
    cc.create_approval_rule_template(approvalRuleTemplateName="protect-main",
                                     approvalRuleTemplateContent=rule_content(account, 1, pool, ["main"]))
    cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName="protect-main",
                                                        repositoryName="app")
    pr = open_pr(cc)
    pr_id, revision = pr["pullRequestId"], pr["revisionId"]
    assert [r["approvalRuleName"] for r in pr["approvalRules"]] == ["protect-main"]
    assert pr["approvalRules"][0]["originApprovalRuleTemplate"]["approvalRuleTemplateName"] == "protect-main"
    assert pr["pullRequestTargets"][0]["sourceCommit"] == feature
    assert pr["pullRequestTargets"][0]["destinationReference"] == "refs/heads/main"

    with pytest.raises(ClientError) as raised:
        cc.merge_pull_request_by_fast_forward(pullRequestId=pr_id, repositoryName="app")
    assert code_of(raised) == "PullRequestApprovalRulesNotSatisfiedException"
    assert cc.get_branch(repositoryName="app", branchName="main")["branch"]["commitId"] == main

    with pytest.raises(ClientError) as raised:  # the author cannot approve their own pull request
        cc.update_pull_request_approval_state(pullRequestId=pr_id, revisionId=revision, approvalState="APPROVE")
    assert code_of(raised) == "PullRequestCannotBeApprovedByAuthorException"

    reviewer = reviewer_client(cloud, account)
    reviewer.update_pull_request_approval_state(pullRequestId=pr_id, revisionId=revision, approvalState="APPROVE")
    states = cc.get_pull_request_approval_states(pullRequestId=pr_id, revisionId=revision)["approvals"]
    assert [s["userArn"] for s in states] == [f"arn:aws:sts::{account}:assumed-role/Reviewer/alex"]
    evaluation = cc.evaluate_pull_request_approval_rules(pullRequestId=pr_id, revisionId=revision)["evaluation"]
    assert evaluation["approved"] and evaluation["approvalRulesSatisfied"] == ["protect-main"]

    merged = cc.merge_pull_request_by_fast_forward(pullRequestId=pr_id, repositoryName="app")["pullRequest"]
    assert merged["pullRequestStatus"] == "CLOSED"
    assert merged["pullRequestTargets"][0]["mergeMetadata"]["isMerged"] is True
    assert merged["pullRequestTargets"][0]["mergeMetadata"]["mergeOption"] == "FAST_FORWARD_MERGE"
    assert cc.get_branch(repositoryName="app", branchName="main")["branch"]["commitId"] == feature


def test_approvals_from_outside_the_pool_do_not_count(cloud, account):
    cc = cloud.client("codecommit", account)
    repo_with_feature(cc)
    cc.create_approval_rule_template(
        approvalRuleTemplateName="seniors",
        approvalRuleTemplateContent=rule_content(account, 1, [f"arn:aws:sts::{account}:assumed-role/Senior/*"]))
    cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName="seniors", repositoryName="app")
    pr = open_pr(cc)
    junior = reviewer_client(cloud, account, role="Junior", session="sam")
    junior.update_pull_request_approval_state(pullRequestId=pr["pullRequestId"], revisionId=pr["revisionId"],
                                              approvalState="APPROVE")
    evaluation = cc.evaluate_pull_request_approval_rules(pullRequestId=pr["pullRequestId"],
                                                         revisionId=pr["revisionId"])["evaluation"]
    assert not evaluation["approved"] and evaluation["approvalRulesNotSatisfied"] == ["seniors"]
    senior = reviewer_client(cloud, account, role="Senior", session="kim")
    senior.update_pull_request_approval_state(pullRequestId=pr["pullRequestId"], revisionId=pr["revisionId"],
                                              approvalState="APPROVE")
    assert cc.evaluate_pull_request_approval_rules(pullRequestId=pr["pullRequestId"],
                                                   revisionId=pr["revisionId"])["evaluation"]["approved"]


def test_template_for_another_branch_does_not_apply(cloud, account):
    cc = cloud.client("codecommit", account)
    repo_with_feature(cc)
    cc.create_approval_rule_template(approvalRuleTemplateName="prod-only",
                                     approvalRuleTemplateContent=rule_content(account, 2, branches=["prod"]))
    cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName="prod-only", repositoryName="app")
    pr = open_pr(cc)
    assert pr["approvalRules"] == []
    merged = cc.merge_pull_request_by_squash(pullRequestId=pr["pullRequestId"], repositoryName="app")
    assert merged["pullRequest"]["pullRequestTargets"][0]["mergeMetadata"]["isMerged"]


def test_pull_request_rule_and_new_revision_resets_approvals(cloud, account):
    cc = cloud.client("codecommit", account)
    _, feature = repo_with_feature(cc)
    pr = open_pr(cc)
    pr_id = pr["pullRequestId"]
    cc.create_pull_request_approval_rule(pullRequestId=pr_id, approvalRuleName="one-reviewer",
                                         approvalRuleContent=rule_content(account, 1))
    reviewer = reviewer_client(cloud, account)
    reviewer.update_pull_request_approval_state(pullRequestId=pr_id, revisionId=pr["revisionId"],
                                                approvalState="APPROVE")
    cc.put_file(repositoryName="app", branchName="feature", filePath="more.txt", fileContent=b"more\n",
                parentCommitId=feature)
    fresh = cc.get_pull_request(pullRequestId=pr_id)["pullRequest"]
    assert fresh["revisionId"] != pr["revisionId"]
    with pytest.raises(ClientError) as raised:
        reviewer.update_pull_request_approval_state(pullRequestId=pr_id, revisionId=pr["revisionId"],
                                                    approvalState="APPROVE")
    assert code_of(raised) == "RevisionNotCurrentException"
    assert not cc.evaluate_pull_request_approval_rules(pullRequestId=pr_id,
                                                       revisionId=fresh["revisionId"])["evaluation"]["approved"]
    with pytest.raises(ClientError) as raised:
        cc.merge_pull_request_by_three_way(pullRequestId=pr_id, repositoryName="app")
    assert code_of(raised) == "PullRequestApprovalRulesNotSatisfiedException"
    events = cc.describe_pull_request_events(pullRequestId=pr_id)["pullRequestEvents"]
    kinds = [e["pullRequestEventType"] for e in events]
    assert kinds[:3] == ["PULL_REQUEST_CREATED", "PULL_REQUEST_APPROVAL_RULE_CREATED",
                         "PULL_REQUEST_APPROVAL_STATE_CHANGED"]
    assert "PULL_REQUEST_SOURCE_REFERENCE_UPDATED" in kinds


def test_three_way_merge_combines_changes_to_different_lines(cloud, account):
    cc = cloud.client("codecommit", account)
    main, feature = repo_with_feature(cc)
    main2 = cc.put_file(repositoryName="app", branchName="main", filePath="app.py",
                        fileContent=LINES.replace(b"line 1", b"line 1 on main"), parentCommitId=main)["commitId"]
    pr = open_pr(cc)
    with pytest.raises(ClientError) as raised:
        cc.merge_pull_request_by_fast_forward(pullRequestId=pr["pullRequestId"], repositoryName="app")
    assert code_of(raised) == "ManualMergeRequiredException"
    merged = cc.merge_pull_request_by_three_way(pullRequestId=pr["pullRequestId"], repositoryName="app",
                                                sourceCommitId=feature)["pullRequest"]
    merge_commit = merged["pullRequestTargets"][0]["mergeMetadata"]["mergeCommitId"]
    assert cc.get_commit(repositoryName="app", commitId=merge_commit)["commit"]["parents"] == [main2, feature]
    content = cc.get_file(repositoryName="app", filePath="app.py")["fileContent"]
    assert content == LINES.replace(b"line 1", b"line 1 on main").replace(b"line 5", b"line 5 changed")


def test_conflicting_changes_need_a_manual_merge(cloud, account):
    cc = cloud.client("codecommit", account)
    main, feature = repo_with_feature(cc)
    main2 = cc.put_file(repositoryName="app", branchName="main", filePath="app.py",
                        fileContent=LINES.replace(b"line 5", b"line 5 on main"), parentCommitId=main)["commitId"]
    options = cc.get_merge_options(repositoryName="app", sourceCommitSpecifier="feature",
                                   destinationCommitSpecifier="main")
    assert options["mergeOptions"] == [] and options["baseCommitId"] == main
    assert cc.get_merge_options(repositoryName="app", sourceCommitSpecifier="feature",
                                destinationCommitSpecifier=main)["mergeOptions"] == \
        ["FAST_FORWARD_MERGE", "SQUASH_MERGE", "THREE_WAY_MERGE"]
    conflicts = cc.get_merge_conflicts(repositoryName="app", destinationCommitSpecifier="main",
                                       sourceCommitSpecifier="feature", mergeOption="THREE_WAY_MERGE")
    assert conflicts["mergeable"] is False
    assert [c["filePath"] for c in conflicts["conflictMetadataList"]] == ["app.py"]
    pr = open_pr(cc)
    with pytest.raises(ClientError) as raised:
        cc.merge_pull_request_by_squash(pullRequestId=pr["pullRequestId"], repositoryName="app")
    assert code_of(raised) == "ManualMergeRequiredException"
    assert cc.get_branch(repositoryName="app", branchName="main")["branch"]["commitId"] == main2
    squashed = cc.merge_pull_request_by_squash(pullRequestId=pr["pullRequestId"], repositoryName="app",
                                               conflictResolutionStrategy="ACCEPT_SOURCE")["pullRequest"]
    commit_id = squashed["pullRequestTargets"][0]["mergeMetadata"]["mergeCommitId"]
    assert cc.get_commit(repositoryName="app", commitId=commit_id)["commit"]["parents"] == [main2]
    assert cc.get_file(repositoryName="app", filePath="app.py")["fileContent"] == \
        LINES.replace(b"line 5", b"line 5 changed")


def test_pull_request_listing_updates_and_closing(cloud, account):
    cc = cloud.client("codecommit", account)
    repo_with_feature(cc)
    pr = open_pr(cc)
    pr_id = pr["pullRequestId"]
    assert cc.list_pull_requests(repositoryName="app", pullRequestStatus="OPEN")["pullRequestIds"] == [pr_id]
    cc.update_pull_request_title(pullRequestId=pr_id, title="Better title")
    cc.update_pull_request_description(pullRequestId=pr_id, description="more words")
    closed = cc.update_pull_request_status(pullRequestId=pr_id, pullRequestStatus="CLOSED")["pullRequest"]
    assert (closed["title"], closed["description"], closed["pullRequestStatus"]) == \
           ("Better title", "more words", "CLOSED")
    assert cc.list_pull_requests(repositoryName="app", pullRequestStatus="OPEN")["pullRequestIds"] == []
    with pytest.raises(ClientError) as raised:
        cc.merge_pull_request_by_fast_forward(pullRequestId=pr_id, repositoryName="app")
    assert code_of(raised) == "PullRequestAlreadyClosedException"


def test_templates_lifecycle(cloud, account):
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="one")
    cc.create_repository(repositoryName="two")
    created = cc.create_approval_rule_template(approvalRuleTemplateName="t1", approvalRuleTemplateDescription="d",
                                               approvalRuleTemplateContent=rule_content(account))
    template = created["approvalRuleTemplate"]
    assert template["lastModifiedUser"] == f"arn:aws:iam::{account}:root"  # a 12-digit key is the root
    out = cc.batch_associate_approval_rule_template_with_repositories(approvalRuleTemplateName="t1",
                                                                      repositoryNames=["one", "two", "nope"])
    assert sorted(out["associatedRepositoryNames"]) == ["one", "two"]
    assert [e["errorCode"] for e in out["errors"]] == ["RepositoryDoesNotExistException"]
    assert cc.list_repositories_for_approval_rule_template(approvalRuleTemplateName="t1")["repositoryNames"] == \
        ["one", "two"]
    assert cc.list_associated_approval_rule_templates_for_repository(
        repositoryName="one")["approvalRuleTemplateNames"] == ["t1"]
    with pytest.raises(ClientError) as raised:
        cc.delete_approval_rule_template(approvalRuleTemplateName="t1")
    assert code_of(raised) == "ApprovalRuleTemplateInUseException"
    with pytest.raises(ClientError) as raised:
        cc.update_approval_rule_template_content(approvalRuleTemplateName="t1", newRuleContent=rule_content(account, 2),
                                                 existingRuleContentSha256="0" * 64)
    assert code_of(raised) == "InvalidRuleContentSha256Exception"
    cc.update_approval_rule_template_content(approvalRuleTemplateName="t1", newRuleContent=rule_content(account, 2),
                                             existingRuleContentSha256=template["ruleContentSha256"])
    renamed = cc.update_approval_rule_template_name(oldApprovalRuleTemplateName="t1",
                                                    newApprovalRuleTemplateName="t2")["approvalRuleTemplate"]
    assert renamed["approvalRuleTemplateId"] == template["approvalRuleTemplateId"]
    assert json.loads(renamed["approvalRuleTemplateContent"])["Statements"][0]["NumberOfApprovalsNeeded"] == 2
    cc.update_approval_rule_template_description(approvalRuleTemplateName="t2",
                                                 approvalRuleTemplateDescription="new")
    assert cc.list_approval_rule_templates()["approvalRuleTemplateNames"] == ["t2"]
    cc.batch_disassociate_approval_rule_template_from_repositories(approvalRuleTemplateName="t2",
                                                                   repositoryNames=["one"])
    cc.disassociate_approval_rule_template_from_repository(approvalRuleTemplateName="t2", repositoryName="two")
    assert cc.delete_approval_rule_template(approvalRuleTemplateName="t2")["approvalRuleTemplateId"] == \
        template["approvalRuleTemplateId"]
    with pytest.raises(ClientError) as raised:
        cc.get_approval_rule_template(approvalRuleTemplateName="t2")
    assert code_of(raised) == "ApprovalRuleTemplateDoesNotExistException"


@pytest.mark.parametrize("content", [
    "not json",
    json.dumps({"Version": "2020-01-01", "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1}]}),
    json.dumps({"Version": "2018-11-08", "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 0}]}),
    json.dumps({"Version": "2018-11-08", "Statements": []}),
])
def test_bad_rule_content_is_refused(cloud, account, content):
    cc = cloud.client("codecommit", account)
    with pytest.raises(ClientError) as raised:
        cc.create_approval_rule_template(approvalRuleTemplateName="bad", approvalRuleTemplateContent=content)
    assert code_of(raised) == "InvalidApprovalRuleTemplateContentException"


def test_pull_request_merged_with_git_is_closed_as_merged(cloud, account, tmp_path):
    from tests.test_codecommit_git import git, with_credentials

    cc = cloud.client("codecommit", account)
    _, feature = repo_with_feature(cc)
    pr = open_pr(cc)
    url = cc.get_repository(repositoryName="app")["repositoryMetadata"]["cloneUrlHttp"]
    work = tmp_path / "app"
    git("clone", "-q", with_credentials(url, account), str(work))
    git("merge", "-q", "--no-edit", "origin/feature", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    merged = cc.get_pull_request(pullRequestId=pr["pullRequestId"])["pullRequest"]
    assert merged["pullRequestStatus"] == "CLOSED"
    assert merged["pullRequestTargets"][0]["mergeMetadata"]["isMerged"] is True


@pytest.mark.parametrize("pattern, arn, expected", [
    ("arn:aws:sts::111122223333:assumed-role/Reviewer/*", "arn:aws:sts::111122223333:assumed-role/Reviewer/alex", True),
    ("arn:aws:sts::111122223333:assumed-role/Reviewer/*", "arn:aws:sts::111122223333:assumed-role/Dev/alex", False),
    ("arn:aws:sts::111122223333:assumed-role/Reviewer/*", "arn:aws:sts::444455556666:assumed-role/Reviewer/a", False),
    ("arn:aws:iam::111122223333:role/Reviewer", "arn:aws:sts::111122223333:assumed-role/Reviewer/alex", True),
    ("arn:aws:iam::111122223333:user/mary", "arn:aws:iam::111122223333:user/mary", True),
    ("CodeCommitApprovers:111122223333:alex", "arn:aws:sts::111122223333:assumed-role/Reviewer/alex", True),
    ("CodeCommitApprovers:111122223333:mary", "arn:aws:iam::111122223333:user/mary", True),
    ("CodeCommitApprovers:111122223333:mary", "arn:aws:iam::444455556666:user/mary", False),
])
def test_approval_pool_member_patterns(pattern, arn, expected):
    from workshop.cloud.services.codecommit.models import member_matches

    assert member_matches(pattern, arn) is expected
