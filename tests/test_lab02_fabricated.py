"""Lab 02-build's checks against the evidence a learner could fabricate with plain
boto3 in a fresh account, without running the tests: a buildspec that only echoes
pytest, a JUnit file written by hand with one made-up test, an ``exit 1`` toggled
to ``exit 0`` for a "failed, then fixed" history, a "fix" that skips the failing
test, an artifact replaced after the build. Each check must fail and say what
evidence is missing."""

from __future__ import annotations

import io
import json
import zipfile

from checker.labs import sample_app_tests
from checker.labs.lab02_build import FAILING_TEST, PROJECT, REPO, _s3_location
from labkit.lab02_build import buggy_sample_app
from tests.test_codebuild_builds import environment, wait_build
from tests.test_lab02_checks import checks, lab_bucket

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
TAGS = {"workshop:lab": "02-build"}


def junit(*cases: tuple[str, bool]) -> bytes:
    """A JUnit file as a learner would write it by hand."""
    body = "".join(f'<testcase classname="tests.test_pricing" name="{name}" time="0.01">'
                   + ("" if ok else '<failure message="assert False">assert False</failure>') + "</testcase>"
                   for name, ok in cases)
    return (f'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{len(cases)}">{body}'
            "</testsuite></testsuites>").encode()


SPEC = """version: 0.2
phases:
  install:
    commands: ["echo install"]
  pre_build:
    commands: ["echo pre_build"]
  build:
    commands:
      - echo python -m pytest --junitxml=reports/junit.xml
      - exit {code}
  post_build:
    commands: ["echo post_build"]
reports:
  unit-tests:
    files: [junit.xml]
    base-directory: reports
    file-format: JUNITXML
artifacts:
  files: ["app/**/*", VERSION]
"""
PYTEST_SPEC = SPEC.replace("      - echo python -m pytest --junitxml=reports/junit.xml\n      - exit {code}",
                           "      - python -m pytest --junitxml=reports/junit.xml")


def setup(cloud, account: str, tmp_path) -> tuple:
    """The lab's repository (the sample app with the bug), bucket, role and project, made by hand."""
    cc, cb = cloud.client("codecommit", account), cloud.client("codebuild", account)
    iam, s3 = cloud.client("iam", account), cloud.client("s3", account)
    app = buggy_sample_app(tmp_path / "app")
    files = {str(p.relative_to(app)): p.read_bytes() for p in sorted(app.rglob("*")) if p.is_file()}
    repo = cc.create_repository(repositoryName=REPO, tags=TAGS)["repositoryMetadata"]
    first = cc.create_commit(repositoryName=REPO, branchName="main", commitMessage="app", putFiles=[
        {"filePath": path, "fileContent": content} for path, content in files.items()])["commitId"]
    s3.create_bucket(Bucket=lab_bucket(account))
    role = iam.create_role(RoleName="workshop-02-build-codebuild",
                           AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    settings = dict(name=PROJECT, source={"type": "CODECOMMIT", "location": repo["cloneUrlHttp"],
                                          "buildspec": SPEC.format(code=1)},
                    sourceVersion="refs/heads/main", environment=environment(), serviceRole=role,
                    artifacts={"type": "S3", "location": lab_bucket(account), "path": "artifacts",
                               "namespaceType": "BUILD_ID", "name": "app.zip", "packaging": "ZIP"},
                    logsConfig={"cloudWatchLogs": {"status": "ENABLED", "groupName": f"/aws/codebuild/{PROJECT}"}},
                    tags=[{"key": "workshop:lab", "value": "02-build"}])
    cb.create_project(**settings)
    return cc, cb, first, settings


def test_an_echo_buildspec_a_hand_written_report_and_an_exit_toggled_fail(cloud, account, tmp_path):
    cc, cb, first, settings = setup(cloud, account, tmp_path)
    # "Failed": the hand-written report says the test failed, and the build exits 1.
    head = cc.put_file(repositoryName=REPO, branchName="main", filePath="reports/junit.xml",
                       fileContent=junit((FAILING_TEST, False)), parentCommitId=first)["commitId"]
    assert wait_build(cb, cb.start_build(projectName=PROJECT)["build"]["id"])["buildStatus"] == "FAILED"
    # "Fixed": the same report, now passing, and exit 0.
    cc.put_file(repositoryName=REPO, branchName="main", filePath="reports/junit.xml",
                fileContent=junit((FAILING_TEST, True)), parentCommitId=head)
    settings["source"]["buildspec"] = SPEC.format(code=0)
    cb.update_project(**settings)
    assert wait_build(cb, cb.start_build(projectName=PROJECT)["build"]["id"])["buildStatus"] == "SUCCEEDED"

    found = checks(cloud, account)
    assert not found["buildspec"].passed and "does not run pytest" in found["buildspec"].message
    failed = found["build-failed-on-test"]
    assert not failed.passed and f"lacks {len(sample_app_tests()) - 1} of the sample app's" in failed.message
    fixed = found["fixed-then-succeeded"]
    assert not fixed.passed and "nothing in app/ changed" in fixed.message and "reports/junit.xml" in fixed.message
    assert not found["tests-all-pass"].passed and "lacks" in found["tests-all-pass"].message
    logs = found["logs-in-cloudwatch"]
    assert not logs.passed and "none of them pytest" in logs.message


def test_a_fix_that_skips_the_failing_test_fails(cloud, account, tmp_path):
    cc, cb, first, settings = setup(cloud, account, tmp_path)
    settings["source"]["buildspec"] = PYTEST_SPEC
    cb.update_project(**settings)
    failed = wait_build(cb, cb.start_build(projectName=PROJECT)["build"]["id"])
    assert failed["buildStatus"] == "FAILED"
    text = cc.get_file(repositoryName=REPO, filePath="tests/test_pricing.py")["fileContent"].decode()
    skipped = text.replace(f"def {FAILING_TEST}", f"@pytest.mark.skip(reason='later')\ndef {FAILING_TEST}", 1)
    if "import pytest" not in skipped:
        skipped = "import pytest\n" + skipped
    cc.put_file(repositoryName=REPO, branchName="main", filePath="tests/test_pricing.py",
                fileContent=skipped.encode(), parentCommitId=first)
    assert wait_build(cb, cb.start_build(projectName=PROJECT)["build"]["id"])["buildStatus"] == "SUCCEEDED"

    found = checks(cloud, account)
    assert found["build-failed-on-test"].passed, found["build-failed-on-test"].message  # an honest failure
    fixed = found["fixed-then-succeeded"]
    assert not fixed.passed and "tests/test_pricing.py" in fixed.message and "not the tests" in fixed.message
    passing = found["tests-all-pass"]
    assert not passing.passed and "none skipped" in passing.message, passing.message


def test_an_artifact_replaced_after_the_build_fails(cloud, account, tmp_path):
    cc, cb, first, settings = setup(cloud, account, tmp_path)
    settings["source"]["buildspec"] = PYTEST_SPEC
    cb.update_project(**settings)
    assert wait_build(cb, cb.start_build(projectName=PROJECT)["build"]["id"])["buildStatus"] == "FAILED"
    text = cc.get_file(repositoryName=REPO, filePath="app/pricing.py")["fileContent"].decode()
    cc.put_file(repositoryName=REPO, branchName="main", filePath="app/pricing.py", parentCommitId=first,
                fileContent=text.replace("if quantity > threshold:", "if quantity >= threshold:").encode())
    build = wait_build(cb, cb.start_build(projectName=PROJECT)["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED"
    honest = checks(cloud, account)["artifact-in-s3"]
    assert honest.passed, honest.message  # the honest artifact

    bucket, key = _s3_location(build["artifacts"]["location"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # the right paths, empty files
        for name in ("app/__init__.py", "app/pricing.py", "app/service.py", "VERSION"):
            archive.writestr(name, b"")
    cloud.client("s3", account).put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    found = checks(cloud, account)
    assert not found["artifact-in-s3"].passed
    assert "not the file of the built commit" in found["artifact-in-s3"].message
