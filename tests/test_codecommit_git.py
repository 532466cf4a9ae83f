"""CodeCommit and real git: clone a new repository's cloneUrlHttp, commit, push;
the API sees what git pushed and git sees what the API committed; basic auth
decides the account; two accounts never see each other's repositories."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError


_HOME = tempfile.mkdtemp(prefix="codecommit-git-home-")  # git's global config stays out of the real home


def git(*args: str, cwd: Path | None = None, check: bool = True, home: str | Path | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="Learner", GIT_AUTHOR_EMAIL="learner@example.com",
               GIT_COMMITTER_NAME="Learner", GIT_COMMITTER_EMAIL="learner@example.com",
               HOME=str(home or _HOME))
    env.pop("XDG_CONFIG_HOME", None)
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          input=stdin)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def with_credentials(url: str, account: str, secret: str = "test") -> str:
    """The clone URL with git's basic-auth credentials in it (what the labs show)."""
    return url.replace("http://", f"http://{account}:{secret}@", 1)


def new_repo(cloud, account: str, name: str = "app") -> dict:
    return cloud.client("codecommit", account).create_repository(
        repositoryName=name, repositoryDescription="lab repo")["repositoryMetadata"]


def clone(cloud, account: str, meta: dict, dest: Path) -> Path:
    git("clone", with_credentials(meta["cloneUrlHttp"], account), str(dest))
    return dest


def commit_file(work: Path, name: str, text: str, message: str) -> str:
    (work / name).parent.mkdir(parents=True, exist_ok=True)
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def test_clone_url_names_the_host_and_port_the_client_used(cloud, account):
    meta = new_repo(cloud, account)
    assert meta["cloneUrlHttp"] == f"http://127.0.0.1:{cloud.port}/v1/repos/app"
    import boto3

    localhost = boto3.client("codecommit", endpoint_url=f"http://localhost:{cloud.port}", region_name="us-east-1",
                             aws_access_key_id=account, aws_secret_access_key="test")
    got = localhost.get_repository(repositoryName="app")["repositoryMetadata"]
    assert got["cloneUrlHttp"] == f"http://localhost:{cloud.port}/v1/repos/app"


def test_clone_commit_push_then_get_branch_shows_the_pushed_commit(cloud, account, tmp_path):
    cc = cloud.client("codecommit", account)
    meta = new_repo(cloud, account)
    work = clone(cloud, account, meta, tmp_path / "app")
    git("checkout", "-q", "-b", "main", cwd=work)
    pushed = commit_file(work, "app.py", "print('hi')\n", "first commit")
    git("push", "-q", "origin", "main", cwd=work)

    assert cc.get_branch(repositoryName="app", branchName="main")["branch"]["commitId"] == pushed
    repo = cc.get_repository(repositoryName="app")["repositoryMetadata"]
    assert repo["defaultBranch"] == "main"
    commit = cc.get_commit(repositoryName="app", commitId=pushed)["commit"]
    assert commit["message"].strip() == "first commit"
    assert commit["author"]["name"] == "Learner"
    got = cc.get_file(repositoryName="app", filePath="app.py")
    assert got["fileContent"] == b"print('hi')\n" and got["commitId"] == pushed


def test_put_file_appears_after_git_pull(cloud, account, tmp_path):
    cc = cloud.client("codecommit", account)
    meta = new_repo(cloud, account)
    work = clone(cloud, account, meta, tmp_path / "app")
    git("checkout", "-q", "-b", "main", cwd=work)
    first = commit_file(work, "README.md", "# app\n", "readme")
    git("push", "-q", "origin", "main", cwd=work)

    put = cc.put_file(repositoryName="app", branchName="main", filePath="docs/guide.md",
                      fileContent=b"made through the API\n", parentCommitId=first, commitMessage="add guide")
    git("pull", "-q", "origin", "main", cwd=work)

    assert (work / "docs" / "guide.md").read_text() == "made through the API\n"
    assert git("rev-parse", "HEAD", cwd=work).stdout.strip() == put["commitId"]
    assert git("log", "-1", "--format=%s", cwd=work).stdout.strip() == "add guide"


def test_branches_and_tags_pushed_with_git_are_seen_by_the_api_and_fetch(cloud, account, tmp_path):
    cc = cloud.client("codecommit", account)
    meta = new_repo(cloud, account)
    work = clone(cloud, account, meta, tmp_path / "a")
    git("checkout", "-q", "-b", "main", cwd=work)
    base = commit_file(work, "a.txt", "a\n", "a")
    git("checkout", "-q", "-b", "feature/login", cwd=work)
    feature = commit_file(work, "b.txt", "b\n", "b")
    git("tag", "v1.0", cwd=work)
    git("push", "-q", "origin", "main", "feature/login", "v1.0", cwd=work)

    assert sorted(cc.list_branches(repositoryName="app")["branches"]) == ["feature/login", "main"]
    assert cc.get_file(repositoryName="app", commitSpecifier="v1.0", filePath="b.txt")["commitId"] == feature

    other = clone(cloud, account, meta, tmp_path / "b")
    assert git("rev-parse", "origin/feature/login", cwd=other).stdout.strip() == feature
    assert git("rev-parse", "v1.0^{commit}", cwd=other).stdout.strip() == feature
    assert git("rev-parse", "HEAD", cwd=other).stdout.strip() == base  # the default branch is checked out

    cc.create_branch(repositoryName="app", branchName="release", commitId=base)
    git("fetch", "-q", "origin", cwd=other)
    assert git("rev-parse", "origin/release", cwd=other).stdout.strip() == base
    git("push", "-q", "origin", "--delete", "feature/login", cwd=work)
    assert sorted(cc.list_branches(repositoryName="app")["branches"]) == ["main", "release"]


def test_git_without_credentials_is_asked_for_them(cloud, account, tmp_path):
    import urllib.error
    import urllib.request

    meta = new_repo(cloud, account)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(meta["cloneUrlHttp"] + "/info/refs?service=git-upload-pack", timeout=10)
    assert raised.value.code == 401
    assert raised.value.headers["WWW-Authenticate"].startswith("Basic")
    proc = git("clone", meta["cloneUrlHttp"], str(tmp_path / "x"), check=False)
    assert proc.returncode != 0


def test_two_accounts_do_not_see_each_others_repositories(cloud, tmp_path):
    from tests.conftest import new_account

    alice, bob = new_account(), new_account()
    meta = new_repo(cloud, alice, "private")
    work = clone(cloud, alice, meta, tmp_path / "alice")
    git("checkout", "-q", "-b", "main", cwd=work)
    commit_file(work, "secret.txt", "alice only\n", "secret")
    git("push", "-q", "origin", "main", cwd=work)

    bob_cc = cloud.client("codecommit", bob)
    with pytest.raises(ClientError) as raised:
        bob_cc.get_repository(repositoryName="private")
    assert raised.value.response["Error"]["Code"] == "RepositoryDoesNotExistException"
    assert bob_cc.list_repositories()["repositories"] == []

    # Bob's credentials on Alice's URL: not found, and nothing can be pushed into it.
    proc = git("clone", with_credentials(meta["cloneUrlHttp"], bob), str(tmp_path / "bob"), check=False)
    assert proc.returncode != 0 and "not found" in proc.stderr.lower()
    proc = git("push", with_credentials(meta["cloneUrlHttp"], bob), "main", cwd=work, check=False)
    assert proc.returncode != 0

    # The same name in Bob's account is Bob's own, separate repository.
    bob_meta = new_repo(cloud, bob, "private")
    bob_work = clone(cloud, bob, bob_meta, tmp_path / "bob2")
    assert not (bob_work / "secret.txt").exists()
    assert cloud.client("codecommit", alice).list_branches(repositoryName="private")["branches"] == ["main"]
    assert bob_cc.list_branches(repositoryName="private")["branches"] == []


def test_account_reset_removes_its_repositories_and_their_git_data(cloud, tmp_path):
    import urllib.request

    from tests.conftest import new_account

    keep, reset = new_account(), new_account()
    for account in (keep, reset):
        meta = new_repo(cloud, account)
        work = clone(cloud, account, meta, tmp_path / account)
        git("checkout", "-q", "-b", "main", cwd=work)
        commit_file(work, "a.txt", account, "a")
        git("push", "-q", "origin", "main", cwd=work)
    on_disk = cloud.data_dir / "state" / "codecommit" / reset
    assert any(on_disk.rglob("HEAD"))

    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{reset}/reset", method="POST",
                                     headers={"X-Workshop-Admin-Token": cloud.admin_token})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200

    assert cloud.client("codecommit", reset).list_repositories()["repositories"] == []
    assert not on_disk.exists()
    proc = git("clone", with_credentials(meta["cloneUrlHttp"], reset), str(tmp_path / "gone"), check=False)
    assert proc.returncode != 0
    assert cloud.client("codecommit", keep).list_branches(repositoryName="app")["branches"] == ["main"]
    assert new_repo(cloud, reset)["repositoryName"] == "app"  # the name is free again


def test_git_credential_store_as_the_labs_show_it(cloud, account, tmp_path):
    """`credential.helper store` plus `git credential approve`, then the plain cloneUrlHttp."""
    meta = new_repo(cloud, account)
    home = tmp_path / "home"
    home.mkdir()
    git("config", "--global", "credential.helper", "store", home=home)
    git("credential", "approve", home=home,
        stdin=f"protocol=http\nhost=127.0.0.1:{cloud.port}\nusername={account}\npassword=test\n\n")
    work = tmp_path / "app"
    git("clone", "-q", meta["cloneUrlHttp"], str(work), home=home)
    git("checkout", "-q", "-b", "main", cwd=work, home=home)
    pushed = commit_file(work, "a.txt", "a\n", "a")
    git("push", "-q", "origin", "main", cwd=work, home=home)
    assert cloud.client("codecommit", account).get_branch(
        repositoryName="app", branchName="main")["branch"]["commitId"] == pushed
