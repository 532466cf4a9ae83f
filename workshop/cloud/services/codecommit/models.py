"""CodeCommit's state and rules, per account and region: repositories backed
by bare git repositories on disk (the same ones git reaches over HTTP),
branches, commits made through the API, pull requests with approval rules and
templates, and triggers that publish AWS's message to SNS.

It replaces the state of moto's CodeCommit backend (which only created and
deleted repositories); ``responses.py`` turns requests into calls here.

The backend is composed of one class per concept: ``repositories.py``
(repositories, branches), ``commits.py`` (files, commits, merges),
``pull_requests.py`` (pull requests, approval rules, templates) and
``triggers.py`` (what a reference change sets off). Other modules import
from here.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from moto.core.base_backend import BackendDict, BaseBackend

from workshop.cloud import runtime, services
from workshop.cloud.services.codecommit import git_ops
from workshop.cloud.services.codecommit.commits import CommitOperations
from workshop.cloud.services.codecommit.pull_requests import ApprovalRuleTemplate, PullRequest, PullRequestOperations
from workshop.cloud.services.codecommit.repositories import OperationLock, Repository, RepositoryOperations
from workshop.cloud.services.codecommit.triggers import TriggerOperations

# What other modules import from here (they predate the split).
from workshop.cloud.services.codecommit.exceptions import CodeCommitError  # noqa: F401
from workshop.cloud.services.codecommit.pull_requests import member_matches  # noqa: F401
from workshop.cloud.services.codecommit.repositories import (  # noqa: F401
    _now,
    normalize_path,
    validate_branch_name,
)

log = logging.getLogger(__name__)


class CodeCommitBackend(RepositoryOperations, CommitOperations, PullRequestOperations, TriggerOperations,
                        BaseBackend):
    """One account's CodeCommit in one region."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = OperationLock()
        self.repositories: dict[str, Repository] = {}
        self.templates: dict[str, ApprovalRuleTemplate] = {}
        self.pull_requests: dict[str, PullRequest] = {}
        self._next_pr = 1


codecommit_backends = BackendDict(CodeCommitBackend, "codecommit")


def backend(account_id: str, region: str) -> CodeCommitBackend:
    return codecommit_backends[account_id][region]


def find_repository(account_id: str, name: str) -> tuple[CodeCommitBackend, Repository] | None:
    """The repository a git URL names (it carries no region): us-east-1 first, then any region."""
    if account_id not in dict.keys(codecommit_backends):
        return None
    regions = dict.keys(codecommit_backends[account_id])
    for region in sorted(regions, key=lambda r: (r != "us-east-1", r)):
        region_backend = codecommit_backends[account_id][region]
        repo = region_backend.repositories.get(name)
        if repo is not None:
            return region_backend, repo
    return None


def checkout(account_id: str, region: str, repository: str, ref: str | None, dest: str | os.PathLike) -> str:
    """Write the files of a commit (a branch, tag, commit id, or the default branch when
    ``ref`` is empty) into ``dest``; returns the commit id. For CodeBuild's source step."""
    region_backend = backend(account_id, region)
    with region_backend.lock:
        repo = region_backend.get_repo(repository)
        commit_id = region_backend._specifier(repo, ref)
        entries = git_ops.commit_entries(repo.git, commit_id)
        target = Path(dest)
        target.mkdir(parents=True, exist_ok=True)
        for path, (mode, sha) in entries.items():
            if mode == git_ops.MODE_GITLINK:
                continue
            out = target / path
            out.parent.mkdir(parents=True, exist_ok=True)
            data = git_ops.blob_data(repo.git, sha) or b""
            if mode == git_ops.MODE_SYMLINK:
                if out.is_symlink() or out.exists():
                    out.unlink()
                os.symlink(data.decode("utf-8", "surrogateescape"), out)
            else:
                out.write_bytes(data)
                os.chmod(out, 0o755 if mode == git_ops.MODE_EXECUTABLE else 0o644)
        return commit_id


@services.on_account_reset
def _forget_account(account_id: str) -> None:
    """The account's backends were reset by the gateway; its bare repositories go too."""
    shutil.rmtree(runtime.state_dir() / "codecommit" / account_id, ignore_errors=True)
