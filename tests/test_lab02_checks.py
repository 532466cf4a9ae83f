"""Lab 02-build's checks against real accounts in the workshop cloud: an empty
account fails every check with a hint; the solution notebook, run in a fresh
account, passes them all (with every call the checks make valid for AWS);
half-done and broken states (project only, a failed build only, a "fix" that
deletes the test, an artifact or logs gone, a broken project) give findings,
never exceptions; and ``workshop reset 02-build`` removes the lab and nothing
else, after which the lab runs again from the start."""

from __future__ import annotations

import re
import subprocess
import sys

import botocore.session
import pytest
from botocore.validate import validate_parameters

from checker.labs.lab02_build import (
    BUCKET_PREFIX,
    FAILING_TEST,
    PROJECT,
    REPO,
    ROLE,
    _s3_location,
    _trusts_codebuild,
)
from checker.runner import run_lab
from checker.session import Target
from tests import notebooks
from tests.conftest import ROOT, new_account
from tests.test_codebuild_builds import environment, role, wait_build

LAB = "02-build"
SOLUTION = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
ALL = {"project-source", "buildspec", "resources-tagged", "build-failed-on-test", "fixed-then-succeeded",
       "tests-all-pass", "artifact-in-s3", "logs-in-cloudwatch"}
PROJECT_STEP = {"project-source", "buildspec", "resources-tagged"}
READ_ONLY = re.compile(r"^(Describe|Get|List|Head|BatchGet|Lookup)[A-Z]")


def lab_bucket(account: str) -> str:
    return f"{BUCKET_PREFIX}-{account}-us-east-1"


def perform(cloud, accounts: list[str], tmp_path, through: str | None = None) -> None:
    """What a learner who did the lab (up to the panel of step ``through``) did, in each account."""
    notebooks.perform_solution(LAB, cloud.endpoint, accounts, tmp_path / "work", through_step=through)


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
            assert r.hint and len(r.hints) == 3 and r.docs.startswith("https://docs.aws.amazon.com/"), slug


def builds(cloud, account: str) -> list[dict]:
    cb = cloud.client("codebuild", account)
    ids = cb.list_builds_for_project(projectName=PROJECT)["ids"]
    return cb.batch_get_builds(ids=ids)["builds"] if ids else []


@pytest.fixture(scope="module")
def solved(cloud, tmp_path_factory) -> list[str]:
    """Two accounts where the whole solution ran (one kernel for both: kernels cost seconds)."""
    accounts = [new_account(), new_account()]
    perform(cloud, accounts, tmp_path_factory.mktemp("lab02-solved"))
    return accounts


# -- the tests ----------------------------------------------------------------------------

def test_empty_account_fails_every_check_with_a_hint(cloud, account):
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == set()
    assert f"no CodeBuild project named {PROJECT}" in found["project-source"].message


def test_solved_account_passes_every_check_with_calls_valid_for_aws(cloud, solved, monkeypatch):
    from checker import session as session_mod

    seen = []
    real_make = session_mod._make_client

    def recording(where, service):
        client = real_make(where, service)
        client.meta.events.register("provide-client-params",
                                    lambda params, model, **_: seen.append((service, model.name, dict(params))))
        return client

    monkeypatch.setattr(session_mod, "_make_client", recording)
    account = solved[0]
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == ALL, {s: r.message for s, r in found.items() if not r.passed}
    assert FAILING_TEST in found["build-failed-on-test"].message
    assert "17 of 17 tests SUCCEEDED" in found["tests-all-pass"].message
    assert "app/pricing.py" in found["artifact-in-s3"].message

    # Every read the checks made on a solved account is a valid, read-only AWS call.
    models = botocore.session.get_session()
    assert {op for _, op, _ in seen} >= {"BatchGetProjects", "ListBuildsForProject", "DescribeTestCases",
                                         "GetCommit", "GetLogEvents", "GetObject", "ListRoleTags"}
    for service, op, params in seen:
        shape = models.get_service_model(service).operation_model(op).input_shape
        if shape is not None:
            validate_parameters(params, shape)
        assert READ_ONLY.match(op), f"{service}.{op} is not read-only"

    # What the learner's builds really are: a FAILED build of the buggy commit, then a
    # SUCCEEDED build of its child commit, with their reports, zip and logs.
    history = sorted(builds(cloud, account), key=lambda b: b["buildNumber"])
    assert [b["buildStatus"] for b in history] == ["FAILED", "SUCCEEDED"]
    cc = cloud.client("codecommit", account)
    fix = cc.get_commit(repositoryName=REPO, commitId=history[1]["resolvedSourceVersion"])["commit"]
    assert fix["parents"] == [history[0]["resolvedSourceVersion"]]
    assert "/artifacts/" in history[1]["artifacts"]["location"]
    assert history[0]["artifacts"]["location"] != history[1]["artifacts"]["location"]  # BUILD_ID namespace


def test_artifact_and_logs_gone_are_findings(cloud, solved):
    account = solved[1]
    assert passing(checks(cloud, account)) == ALL
    last = max(builds(cloud, account), key=lambda b: b["buildNumber"])
    bucket, key = _s3_location(last["artifacts"]["location"])
    s3, logs = cloud.client("s3", account), cloud.client("logs", account)
    s3.delete_object(Bucket=bucket, Key=key)
    logs.delete_log_stream(logGroupName=last["logs"]["groupName"], logStreamName=last["logs"]["streamName"])
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == ALL - {"artifact-in-s3", "logs-in-cloudwatch"}
    assert "cannot be read" in found["artifact-in-s3"].message
    assert "cannot be read" in found["logs-in-cloudwatch"].message

    # Settings that stop the project from producing them are named.
    cb = cloud.client("codebuild", account)
    cb.update_project(name=PROJECT, artifacts={"type": "NO_ARTIFACTS"},
                      logsConfig={"cloudWatchLogs": {"status": "DISABLED"}})
    found = checks(cloud, account)
    assert "NO_ARTIFACTS" in found["artifact-in-s3"].message
    assert "DISABLED" in found["logs-in-cloudwatch"].message


def test_project_only_passes_the_project_checks(cloud, account, tmp_path):
    perform(cloud, [account], tmp_path, through="project")
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == PROJECT_STEP
    assert "has not built anything yet" in found["build-failed-on-test"].message
    assert "no successful build" in found["artifact-in-s3"].message
    assert "no finished build" in found["logs-in-cloudwatch"].message


def test_a_fix_that_deletes_the_test_is_caught(cloud, account, tmp_path):
    perform(cloud, [account], tmp_path, through="first-build")
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == PROJECT_STEP | {"build-failed-on-test", "logs-in-cloudwatch"}
    assert "fix the bug with a commit" in found["fixed-then-succeeded"].message

    # The "fix": delete the failing test through the CodeCommit API (a commit on main), build again.
    cc, cb = cloud.client("codecommit", account), cloud.client("codebuild", account)
    head = cc.get_branch(repositoryName=REPO, branchName="main")["branch"]["commitId"]
    text = cc.get_file(repositoryName=REPO, filePath="tests/test_pricing.py")["fileContent"].decode()
    start = text.index(f"def {FAILING_TEST}")
    end = text.index("\ndef ", start + 1)
    cc.put_file(repositoryName=REPO, branchName="main", filePath="tests/test_pricing.py",
                fileContent=(text[:start] + text[end + 1:]).encode(), parentCommitId=head,
                commitMessage="Make the build green")
    build = wait_build(cb, cb.start_build(projectName=PROJECT)["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED"
    found = checks(cloud, account)
    assert_findings(found)
    fixed = found["fixed-then-succeeded"]  # the commit changed the tests, not the application code
    assert not fixed.passed and "tests/test_pricing.py" in fixed.message and "not the tests" in fixed.message
    assert not found["tests-all-pass"].passed and "a test was removed" in found["tests-all-pass"].message
    assert found["artifact-in-s3"].passed and found["logs-in-cloudwatch"].passed


def test_a_broken_project_gives_findings(cloud, account):
    cb, iam = cloud.client("codebuild", account), cloud.client("iam", account)
    # A role that trusts the wrong service, a repository that does not exist, a buildspec that is not YAML.
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": '
                    '"Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}')
    cb.create_project(name=PROJECT, source={"type": "CODECOMMIT", "buildspec": "version: 0.2\nphases: [unclosed\n",
                                            "location": f"https://git-codecommit.us-east-1.amazonaws.com/v1/repos/{REPO}"},
                      artifacts={"type": "NO_ARTIFACTS"}, environment=environment(),
                      serviceRole=f"arn:aws:iam::{account}:role/{ROLE}")
    build = wait_build(cb, cb.start_build(projectName=PROJECT)["build"]["id"])
    assert build["buildStatus"] == "FAILED"  # DOWNLOAD_SOURCE: no such repository
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == set()
    assert "does not exist" in found["project-source"].message
    assert "not valid YAML" in found["buildspec"].message
    assert "in DOWNLOAD_SOURCE" in found["build-failed-on-test"].message
    assert "Without the tag" not in found["resources-tagged"].message  # the repository is missing first

    # A buildspec read from the repository when the project has none inline; the role's trust.
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName=REPO)
    cc.put_file(repositoryName=REPO, branchName="main", filePath="buildspec.yml", commitMessage="spec",
                fileContent=b"version: 0.2\nphases:\n  build:\n    commands:\n      - python -m pytest\n")
    clone_url = cc.get_repository(repositoryName=REPO)["repositoryMetadata"]["cloneUrlHttp"]
    cb.update_project(name=PROJECT, source={"type": "CODECOMMIT", "location": clone_url})
    found = checks(cloud, account)
    assert "does not trust codebuild.amazonaws.com" in found["project-source"].message
    assert "buildspec.yml in repository" in found["buildspec"].message
    assert "install, pre_build, post_build" in found["buildspec"].message


def test_reset_removes_the_lab_and_nothing_else_and_the_lab_runs_again(cloud, account, tmp_path):
    perform(cloud, [account], tmp_path)
    cb, cc, s3, iam, logs = (cloud.client(s, account) for s in ("codebuild", "codecommit", "s3", "iam", "logs"))
    # Not the lab's: another project with a build and its report group, a repository, a bucket, a role.
    cb.create_project(name="other", source={"type": "NO_SOURCE", "buildspec": (
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p r && printf '<testsuite><testcase "
        "name=\"t\"/></testsuite>' > r/x.xml\nreports:\n  unit:\n    files: [x.xml]\n    base-directory: r\n")},
        artifacts={"type": "NO_ARTIFACTS"}, environment=environment(), serviceRole=role(account))
    assert wait_build(cb, cb.start_build(projectName="other")["build"]["id"])["buildStatus"] == "SUCCEEDED"
    cc.create_repository(repositoryName="other-repo")
    s3.create_bucket(Bucket=f"other-{account}")
    iam.create_role(RoleName="other-role", AssumeRolePolicyDocument="{}")

    out = subprocess.run([sys.executable, "-m", "workshop", "reset", LAB, "--endpoint", cloud.endpoint,
                          "--account", account], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    for said in (f"deleted project {PROJECT} and its 2 build(s)", f"deleted report group {PROJECT}-unit-tests",
                 f"deleted log group /aws/codebuild/{PROJECT}", f"deleted repository {REPO}",
                 f"deleted bucket {lab_bucket(account)}", f"deleted role {ROLE}"):
        assert said in out.stdout, out.stdout

    assert cb.list_projects()["projects"] == ["other"]
    assert [g.rsplit("/", 1)[1] for g in cb.list_report_groups()["reportGroups"]] == ["other-unit"]
    assert len(cb.list_builds()["ids"]) == 1
    assert [r["repositoryName"] for r in cc.list_repositories()["repositories"]] == ["other-repo"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [f"other-{account}"]
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["other-role"]
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/aws/codebuild/other"]
    assert passing(checks(cloud, account)) == set()

    again = subprocess.run([sys.executable, "-m", "workshop", "reset", LAB, "--endpoint", cloud.endpoint,
                            "--account", account], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert again.returncode == 0 and "nothing to delete" in again.stdout, again.stdout + again.stderr

    # Start again: the same working folder holds the old clone; the lab replaces it and passes.
    perform(cloud, [account], tmp_path)
    assert passing(checks(cloud, account)) == ALL
    assert [b["buildNumber"] for b in builds(cloud, account)] in ([2, 1], [1, 2])


@pytest.mark.slow
def test_solution_notebook_is_safe_to_run_again(cloud, account, tmp_path):
    """Every step is idempotent: the whole solution, run twice in one account, raises nothing."""
    work = notebooks.lab_copy(SOLUTION.parent, tmp_path)
    for _ in range(2):
        nb = notebooks.execute(work / SOLUTION.name, cloud.env(account), allow_errors=True)
        assert notebooks.cell_errors(nb) == []
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"updated {PROJECT}" in printed
    assert [b["buildStatus"] for b in sorted(builds(cloud, account), key=lambda b: b["buildNumber"])] == [
        "FAILED", "SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert passing(checks(cloud, account)) == ALL


# -- the pieces the checks rely on, without a cloud --------------------------------------

def test_role_trust_and_artifact_location_shapes():
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
                            "Action": "sts:AssumeRole"}]}
    assert _trusts_codebuild(trust)
    assert _trusts_codebuild({"Statement": dict(trust["Statement"][0],
                                                Principal={"Service": ["ec2.amazonaws.com",
                                                                       "codebuild.amazonaws.com"]})})
    assert _trusts_codebuild("%7B%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Principal%22"
                             "%3A%20%7B%22Service%22%3A%20%22codebuild.amazonaws.com%22%7D%2C%20%22Action%22%3A"
                             "%20%22sts%3AAssumeRole%22%7D%5D%7D")
    assert not _trusts_codebuild({"Statement": [dict(trust["Statement"][0], Effect="Deny")]})
    assert not _trusts_codebuild(None) and not _trusts_codebuild("not json")
    assert _s3_location("arn:aws:s3:::bucket/artifacts/id/app.zip") == ("bucket", "artifacts/id/app.zip")
    assert _s3_location("") is None and _s3_location("arn:aws:s3:::bucket") is None and _s3_location(None) is None
