"""CodeCommit's open files: a class's repositories, pushed to over git HTTP and read
through the API, leave the cloud holding no more descriptors than before (an idle
repository holds none), also when pushes and reads to several repositories run at once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.conftest import new_account
from tests.test_codecommit_git import commit_file, git, with_credentials

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")


def open_files(pid: int) -> list[str]:
    """What the process's descriptors point at, sockets left out: connections come and go
    with clients (waitress keeps idle keep-alive ones), repositories are what is measured."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed while listing
            continue
        if not target.startswith("socket:"):
            targets.append(target)
    return targets


def repository_files(cloud, pid: int) -> list[str]:
    return [t for t in open_files(pid) if t.startswith(str(cloud.data_dir)) and "/codecommit/" in t]


def push_and_read(cloud, account: str, name: str, work: Path) -> None:
    """What a learner does to a repository in lab 01: push, branch, read, open a pull request."""
    cc = cloud.client("codecommit", account)
    meta = cc.create_repository(repositoryName=name)["repositoryMetadata"]
    git("clone", "-q", with_credentials(meta["cloneUrlHttp"], account), str(work))
    git("checkout", "-q", "-b", "main", cwd=work)
    first = commit_file(work, "app.py", "print('hi')\n", "first")
    git("push", "-q", "origin", "main", cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    second = commit_file(work, "app.py", "print('bye')\n", "second")
    git("push", "-q", "origin", "feature", cwd=work)
    git("fetch", "-q", "origin", cwd=work)

    assert cc.get_branch(repositoryName=name, branchName="main")["branch"]["commitId"] == first
    assert cc.get_file(repositoryName=name, commitSpecifier="feature", filePath="app.py")["fileContent"] == b"print('bye')\n"
    assert [f["absolutePath"] for f in cc.get_folder(repositoryName=name, folderPath="/")["files"]] == ["app.py"]
    assert cc.get_commit(repositoryName=name, commitId=second)["commit"]["parents"] == [first]
    diffs = cc.get_differences(repositoryName=name, beforeCommitSpecifier="main",
                               afterCommitSpecifier="feature")["differences"]
    assert [d["changeType"] for d in diffs] == ["M"]
    pr = cc.create_pull_request(title="bye", targets=[
        {"repositoryName": name, "sourceReference": "feature", "destinationReference": "main"}])["pullRequest"]
    assert cc.list_pull_requests(repositoryName=name)["pullRequestIds"] == [pr["pullRequestId"]]
    put = cc.put_file(repositoryName=name, branchName="main", fileContent=b"notes\n", filePath="NOTES.md",
                      parentCommitId=first)["commitId"]
    git("fetch", "-q", "origin", cwd=work)
    assert git("rev-parse", "origin/main", cwd=work).stdout.strip() == put


def test_descriptors_do_not_grow_with_the_number_of_repositories(cloud, account, tmp_path):
    pid = cloud.process.pid
    cloud.client("codecommit", account).list_repositories()  # CodeCommit loaded before counting
    before = open_files(pid)

    for i in range(30):
        push_and_read(cloud, account, f"repo-{i}", tmp_path / f"repo-{i}")

    after = open_files(pid)
    assert repository_files(cloud, pid) == []
    assert len(after) - len(before) < 10, sorted(set(after) - set(before))


def test_concurrent_pushes_and_reads_in_two_accounts_leave_no_descriptors(cloud, tmp_path):
    """Waitress serves requests on several threads: handles opened per operation must not be
    closed under another request's feet, and none may stay open afterwards."""
    pid = cloud.process.pid
    accounts = [new_account(), new_account()]
    for account in accounts:
        cloud.client("codecommit", account).list_repositories()
    before = open_files(pid)
    failures: list[BaseException] = []

    def work(account: str, i: int) -> None:
        try:
            push_and_read(cloud, account, f"repo-{i}", tmp_path / account / f"repo-{i}")
            url = with_credentials(cloud.endpoint, account) + f"/v1/repos/repo-{i}"
            git("clone", "-q", url, str(tmp_path / account / f"clone-{i}"))
            assert (tmp_path / account / f"clone-{i}" / "NOTES.md").read_text() == "notes\n"
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(account, i)) for account in accounts for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    assert not failures, failures
    assert repository_files(cloud, pid) == []
    assert len(open_files(pid)) - len(before) < 10


def test_a_repository_pushed_to_all_day_keeps_few_packs_and_all_its_history(cloud, account, tmp_path):
    """Each push lands as a pack; past a few they are merged into one, or every operation would
    read more and more pack indexes. Nothing pushed is lost on the way."""
    from workshop.cloud.services.codecommit.git_ops import MAX_PACKS

    cc = cloud.client("codecommit", account)
    meta = cc.create_repository(repositoryName="busy")["repositoryMetadata"]
    url = with_credentials(meta["cloneUrlHttp"], account)
    work = tmp_path / "busy"
    git("clone", "-q", url, str(work))
    git("checkout", "-q", "-b", "main", cwd=work)
    pushed = []
    for i in range(2 * MAX_PACKS + 5):
        pushed.append(commit_file(work, f"f{i}.txt", f"{i}\n", f"change {i}"))
        git("push", "-q", "origin", "main", cwd=work)

    repo_dir = next(p for p in cloud.data_dir.rglob(f"{meta['repositoryId']}.git"))
    assert 1 <= len(list((repo_dir / "objects" / "pack").glob("*.pack"))) <= MAX_PACKS
    assert cc.get_branch(repositoryName="busy", branchName="main")["branch"]["commitId"] == pushed[-1]
    assert cc.get_file(repositoryName="busy", filePath="f0.txt")["fileContent"] == b"0\n"
    assert cc.get_commit(repositoryName="busy", commitId=pushed[0])["commit"]["message"] == "change 0\n"
    git("clone", "-q", url, str(tmp_path / "again"))
    history = git("log", "--format=%H", cwd=tmp_path / "again").stdout.split()
    assert history == pushed[::-1]
    assert repository_files(cloud, cloud.process.pid) == []
