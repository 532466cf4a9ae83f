"""CodeBuild with a CodeCommit source: the sample app pushed with real git
builds from the branch, a tag or a commit; the planted bug fails the build
and the fixing commit makes the next one succeed (issue 3's acceptance)."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import new_account
from tests.test_codebuild_builds import environment, phases, plant_tool, role, run, sample_app_copy


def git(cwd, *args, env=None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


def git_env(tmp_path) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "AWS_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               GIT_AUTHOR_NAME="Learner", GIT_AUTHOR_EMAIL="learner@example.com",
               GIT_COMMITTER_NAME="Learner", GIT_COMMITTER_EMAIL="learner@example.com")
    return env


def test_sample_app_from_codecommit_fails_then_the_fixing_commit_succeeds(cloud, account, tmp_path):
    cc, cb, s3 = (cloud.client(s, account) for s in ("codecommit", "codebuild", "s3"))
    repo = cc.create_repository(repositoryName="sample-app")["repositoryMetadata"]
    clone_url = repo["cloneUrlHttp"]
    app, env, tool = sample_app_copy(tmp_path), git_env(tmp_path), plant_tool()
    tool.plant(app)
    push_url = clone_url.replace("://", f"://{account}:test@", 1)
    git(app, "init", "-q", "-b", "main", env=env)
    git(app, "add", "-A", env=env)
    git(app, "commit", "-q", "-m", "Sample app", env=env)
    git(app, "push", "-q", push_url, "main", env=env)
    buggy = git(app, "rev-parse", "HEAD", env=env)
    assert cc.get_branch(repositoryName="sample-app", branchName="main")["branch"]["commitId"] == buggy

    bucket = f"cc-artifacts-{account}"
    s3.create_bucket(Bucket=bucket)
    cb.create_project(name="sample-app", source={"type": "CODECOMMIT", "location": clone_url},
                      sourceVersion="refs/heads/main",
                      artifacts={"type": "S3", "location": bucket, "packaging": "ZIP", "name": "app.zip"},
                      environment=environment(), serviceRole=role(account))
    failed = run(cb, "sample-app")
    assert failed["buildStatus"] == "FAILED"
    assert failed["resolvedSourceVersion"] == buggy
    assert failed["sourceVersion"] == "refs/heads/main"
    failing = cb.describe_test_cases(reportArn=failed["reportArns"][0], filter={"status": "FAILED"})["testCases"]
    assert [c["name"] for c in failing] == ["test_bulk_discount_starts_at_ten"]

    tool.fix(app)
    git(app, "commit", "-q", "-am", "Fix the bulk discount threshold", env=env)
    git(app, "tag", "v1.0.0", env=env)
    git(app, "push", "-q", push_url, "main", "v1.0.0", env=env)
    fixed = git(app, "rev-parse", "HEAD", env=env)
    passed = run(cb, "sample-app")
    assert passed["buildStatus"] == "SUCCEEDED", phases(passed)
    assert passed["resolvedSourceVersion"] == fixed

    # A tag and a commit id pick the source too.
    assert run(cb, "sample-app", sourceVersion="v1.0.0")["resolvedSourceVersion"] == fixed
    old = run(cb, "sample-app", sourceVersion=buggy)
    assert old["buildStatus"] == "FAILED" and old["resolvedSourceVersion"] == buggy
    missing = run(cb, "sample-app", sourceVersion="no-such-branch")
    download = phases(missing)["DOWNLOAD_SOURCE"]
    assert download["phaseStatus"] == "FAILED" and "no-such-branch" in download["contexts"][0]["message"]


def test_another_accounts_repository_is_not_a_source(cloud, account):
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="private")
    clone_url = cc.get_repository(repositoryName="private")["repositoryMetadata"]["cloneUrlHttp"]
    cc.put_file(repositoryName="private", branchName="main", fileContent=b"version: 0.2\nphases: {}\n",
                filePath="buildspec.yml")
    other = new_account()
    cb = cloud.client("codebuild", other)
    cb.create_project(name="steal", source={"type": "CODECOMMIT", "location": clone_url},
                      artifacts={"type": "NO_ARTIFACTS"}, environment=environment(), serviceRole=role(other))
    build = run(cb, "steal")
    assert build["buildStatus"] == "FAILED"
    assert phases(build)["DOWNLOAD_SOURCE"]["phaseStatus"] == "FAILED"
    assert "BUILD" not in phases(build)
