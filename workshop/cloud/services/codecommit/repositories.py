"""CodeCommit repositories: the bare git repository behind each (opened per
operation under the backend's ``OperationLock``), their names, branches and tags,
and the validation and paging every CodeCommit operation shares."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from dulwich.refs import check_ref_format
from dulwich.repo import Repo

from workshop.cloud import runtime
from workshop.cloud.clock import get_clock
from workshop.cloud.services.codecommit import git_ops
from workshop.cloud.services.codecommit.exceptions import error, repository_does_not_exist
from workshop.cloud.services import paging
log = logging.getLogger(__name__)
_REPO_NAME_RE = re.compile(r"^[\w.-]{1,100}$")


def _now() -> float:
    return get_clock().timestamp()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _identity_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] if "/" in arn else arn.rsplit(":", 1)[-1]


class OperationLock:
    """A backend's re-entrant lock, which also bounds how long a bare repository stays open.

    dulwich keeps every pack file and pack index it has read open (and mmapped: two
    descriptors each) for as long as its Repo lives, and every push adds a pack, so a
    Repo kept per repository held ~24 descriptors per repository for the life of the
    cloud. A repository is opened on first use while this lock is held and closed when
    its outermost holder releases it: an idle repository holds no descriptors, and one
    operation (an API call, a push and what reacts to it) reads through one handle.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0
        self._open: list[Repository] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        self._owner = threading.get_ident()
        self._depth += 1
        return True

    def release(self) -> None:
        if self._depth == 1:
            opened, self._open = self._open, []
            for repo in opened:
                try:
                    repo.close()
                except Exception:  # a failed close must not leave the lock held
                    log.exception("closing %s", repo.path)
            self._owner = None
        self._depth -= 1
        self._lock.release()

    def __enter__(self) -> "OperationLock":
        self.acquire()
        return self

    # A state snapshot (persistence.py) is taken holding this lock: it is restored free, with
    # no repository open.
    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def __exit__(self, *exc) -> None:
        self.release()

    def opened(self, repo: "Repository") -> None:
        """Called as a repository opens; a handle is only safe under the lock (threads share it)."""
        if self._owner != threading.get_ident():
            raise RuntimeError(f"repository {repo.name} used without holding its backend's lock")
        self._open.append(repo)


def _locked(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper


def _page(items: list, next_token: str | None, max_results: int | None, default: int = 100):
    """Offset pagination with AWS's errors for bad tokens and sizes."""
    if max_results is not None:
        try:
            max_results = int(max_results)
        except (TypeError, ValueError):
            max_results = -1
        if not 1 <= max_results <= 1000:
            raise error("InvalidMaxResultsException", "The specified number of maximum results is not valid.")
    return paging.page(items, next_token, max_results or default, lambda: error(
        "InvalidContinuationTokenException", "The continuation token is not valid."))


# -- validation shared by several operations ------------------------------------
def validate_repository_name(name: Any) -> str:
    if not name:
        raise error("RepositoryNameRequiredException", "A repository name is required, but was not specified.")
    if not isinstance(name, str) or not _REPO_NAME_RE.match(name) or name.lower().endswith(".git"):
        raise error("InvalidRepositoryNameException",
                    "The repository name is not valid. Repository names can be any valid combination of "
                    "letters, numbers, periods, underscores, and dashes between 1 and 100 characters in "
                    "length, and must not end in .git. Names are case sensitive.")
    return name


def validate_branch_name(name: Any, required_code: str = "BranchNameRequiredException") -> str:
    if not name:
        raise error(required_code, "A branch name is required, but was not specified.")
    if not isinstance(name, str) or name.startswith("refs/") or len(name) > 256 \
            or not check_ref_format(f"refs/heads/{name}".encode()):
        raise error("InvalidBranchNameException", f"The specified branch name {name!r} is not valid.")
    return name


def normalize_path(path: Any, required_code: str = "PathRequiredException") -> str:
    if path is None or path == "":
        raise error(required_code, "The folder or file path is required, but was not specified.")
    if not isinstance(path, str):
        raise error("InvalidPathException", "The specified path is not valid.")
    clean = path.strip("/")
    parts = clean.split("/") if clean else []
    if path.endswith("/") and required_code == "PathRequiredException" and clean == "":
        raise error("InvalidPathException", f"The specified path {path!r} is not valid.")
    for part in parts:
        if part in ("", ".", "..", ".git") or "\0" in part:
            raise error("InvalidPathException", f"The specified path {path!r} is not valid.")
    return clean


def validate_file_path(path: Any) -> str:
    clean = normalize_path(path)
    if not clean or path.endswith("/"):
        raise error("InvalidPathException", f"The specified path {path!r} is not a file path.")
    return clean


# -- resources ---------------------------------------------------------------------
@dataclass
class Trigger:
    name: str
    destination_arn: str
    events: list[str]
    branches: list[str] = field(default_factory=list)
    custom_data: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "destinationArn": self.destination_arn, "customData": self.custom_data,
                "branches": list(self.branches), "events": list(self.events)}

    def matches(self, ref: str, kind: str) -> bool:
        if "all" not in self.events and kind not in self.events:
            return False
        if not self.branches:
            return True
        return ref.startswith("refs/heads/") and ref[len("refs/heads/"):] in self.branches


class Repository:
    def __init__(self, account_id: str, region: str, name: str, description: str | None,
                 tags: dict | None, kms_key_id: str | None, lock: "OperationLock"):
        now = _now()
        self.account_id = account_id
        self.region = region
        self.id = str(uuid.uuid4())
        self.name = name
        self.description = description
        self.kms_key_id = kms_key_id or f"arn:aws:kms:{region}:{account_id}:alias/aws/codecommit"
        self.created = now
        self.last_modified = now
        self.default_branch: str | None = None
        self.tags: dict[str, str] = dict(tags or {})
        self.triggers: list[Trigger] = []
        self.trigger_config_id = str(uuid.uuid4())
        self.path = runtime.account_dir("codecommit", account_id, region) / f"{self.id}.git"
        git_ops.init_bare(str(self.path)).close()
        self._lock = lock
        self._git: Repo | None = None

    @property
    def git(self) -> Repo:
        """The bare repository, opened for the operation that holds the backend's lock and
        closed when that operation ends (see OperationLock)."""
        if self._git is None:
            self._lock.opened(self)
            self._git = Repo(str(self.path))
        return self._git

    def close(self) -> None:
        git, self._git = self._git, None
        if git is not None:
            git.close()

    @property
    def arn(self) -> str:
        return f"arn:aws:codecommit:{self.region}:{self.account_id}:{self.name}"

    def clone_url_http(self, base: str | None = None) -> str:
        return f"{(base or runtime.endpoint()).rstrip('/')}/v1/repos/{self.name}"

    def metadata(self, base: str | None = None) -> dict:
        meta = {
            "accountId": self.account_id,
            "repositoryId": self.id,
            "repositoryName": self.name,
            "lastModifiedDate": self.last_modified,
            "creationDate": self.created,
            "cloneUrlHttp": self.clone_url_http(base),
            "cloneUrlSsh": f"ssh://git-codecommit.{self.region}.amazonaws.com/v1/repos/{self.name}",
            "Arn": self.arn,
            "kmsKeyId": self.kms_key_id,
        }
        if self.description is not None:
            meta["repositoryDescription"] = self.description
        if self.default_branch:
            meta["defaultBranch"] = self.default_branch
        return meta

    def branch_sha(self, branch: str) -> str | None:
        sha = self.git.refs.as_dict(b"refs/heads").get(branch.encode())
        return sha.decode() if sha else None

    def is_empty(self) -> bool:
        return not git_ops.all_refs(self.git)

    def delete_from_disk(self) -> None:
        try:
            self.close()
        except Exception:
            pass
        shutil.rmtree(self.path, ignore_errors=True)


class RepositoryOperations:
    """Creating, finding, renaming, tagging and deleting repositories; branches."""

    # -- repositories ---------------------------------------------------------------
    def get_repo(self, name: Any) -> Repository:
        validate_repository_name(name)
        repo = self.repositories.get(name)
        if repo is None:
            raise repository_does_not_exist(name)
        return repo

    def repo_by_id(self, repo_id: str) -> Repository | None:
        return next((r for r in self.repositories.values() if r.id == repo_id), None)

    @_locked
    def create_repository(self, name: Any, description: str | None = None, tags: dict | None = None,
                          kms_key_id: str | None = None) -> Repository:
        validate_repository_name(name)
        if description is not None and (not isinstance(description, str) or len(description) > 1000):
            raise error("InvalidRepositoryDescriptionException",
                        "The description for the repository is not valid. It must be 1000 characters or fewer.")
        _validate_tags(tags)
        if name in self.repositories:
            raise error("RepositoryNameExistsException", f"Repository named {name} already exists")
        if len(self.repositories) >= 1000:
            raise error("RepositoryLimitExceededException", "A repository resource limit was exceeded.")
        repo = Repository(self.account_id, self.region_name, name, description, tags, kms_key_id, self.lock)
        self.repositories[name] = repo
        return repo

    @_locked
    def delete_repository(self, name: Any) -> str | None:
        validate_repository_name(name)
        repo = self.repositories.pop(name, None)
        if repo is None:
            return None
        for template in self.templates.values():
            template.repository_ids.discard(repo.id)
        for pr_id in [i for i, pr in self.pull_requests.items() if pr.repository is repo]:
            del self.pull_requests[pr_id]
        repo.delete_from_disk()
        return repo.id

    @_locked
    def batch_get_repositories(self, names: Any) -> tuple[list[Repository], list[str]]:
        if not names:
            raise error("RepositoryNamesRequiredException", "At least one repository name is required.")
        if not isinstance(names, list) or len(names) > 25:
            raise error("MaximumRepositoryNamesExceededException",
                        "The maximum number of allowed repository names was exceeded (25).")
        found, missing = [], []
        for name in names:
            validate_repository_name(name)
            repo = self.repositories.get(name)
            (found if repo else missing).append(repo or name)
        return found, missing

    @_locked
    def list_repositories(self, sort_by: str | None, order: str | None, next_token: str | None):
        sort_by = sort_by or "repositoryName"
        order = order or "ascending"
        if sort_by not in ("repositoryName", "lastModifiedDate"):
            raise error("InvalidSortByException", "The specified sort by value is not valid.")
        if order not in ("ascending", "descending"):
            raise error("InvalidOrderException", "The specified sort order is not valid.")
        key = (lambda r: r.name) if sort_by == "repositoryName" else (lambda r: (r.last_modified, r.name))
        repos = sorted(self.repositories.values(), key=key, reverse=order == "descending")
        return _page(repos, next_token, None, 1000)

    @_locked
    def update_repository_description(self, name: Any, description: str | None) -> None:
        repo = self.get_repo(name)
        if description is not None and (not isinstance(description, str) or len(description) > 1000):
            raise error("InvalidRepositoryDescriptionException",
                        "The description for the repository is not valid. It must be 1000 characters or fewer.")
        repo.description = description
        repo.last_modified = _now()

    @_locked
    def update_repository_name(self, old: Any, new: Any) -> None:
        validate_repository_name(new)
        repo = self.get_repo(old)
        if new == old:
            return
        if new in self.repositories:
            raise error("RepositoryNameExistsException", f"Repository named {new} already exists")
        del self.repositories[old]
        repo.name = new
        repo.last_modified = _now()
        self.repositories[new] = repo

    def repo_for_arn(self, arn: Any) -> Repository:
        if not arn:
            raise error("ResourceArnRequiredException", "A valid Amazon Resource Name (ARN) is required.")
        match = re.match(r"^arn:aws[\w-]*:codecommit:([\w-]+):(\d{12}):(.+)$", str(arn))
        if not match:
            raise error("InvalidResourceArnException", f"The value for the resource ARN is not valid: {arn}")
        region, account, name = match.groups()
        repo = self.repositories.get(name)
        if repo is None or region != self.region_name or account != self.account_id:
            raise repository_does_not_exist(name)
        return repo

    @_locked
    def tag_resource(self, arn: Any, tags: Any) -> None:
        repo = self.repo_for_arn(arn)
        if not tags:
            raise error("TagsMapRequiredException", "A map of tags is required.")
        _validate_tags(tags)
        if len({**repo.tags, **tags}) > 50:
            raise error("TooManyTagsException", "The maximum number of tags for an AWS CodeCommit resource "
                                                "has been exceeded (50).")
        repo.tags.update(tags)

    @_locked
    def untag_resource(self, arn: Any, keys: Any) -> None:
        repo = self.repo_for_arn(arn)
        if not keys:
            raise error("TagKeysListRequiredException", "A list of tag keys is required.")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise error("InvalidTagKeysListException", "The list of tags is not valid.")
        for key in keys:
            repo.tags.pop(key, None)

    # -- branches ---------------------------------------------------------------------
    @_locked
    def create_branch(self, repo_name: Any, branch: Any, commit_id: Any, user_arn: str) -> None:
        repo = self.get_repo(repo_name)
        validate_branch_name(branch)
        sha = self._commit_id(repo, commit_id, "CommitIdRequiredException")
        if repo.branch_sha(branch) is not None:
            raise error("BranchNameExistsException", f"Branch {branch} already exists")
        self._move_ref(repo, f"refs/heads/{branch}", sha, None, user_arn)

    @_locked
    def get_branch(self, repo_name: Any, branch: Any) -> str:
        repo = self.get_repo(repo_name)
        validate_branch_name(branch)
        sha = repo.branch_sha(branch)
        if sha is None:
            raise error("BranchDoesNotExistException", f"Branch {branch} does not exist")
        return sha

    @_locked
    def list_branches(self, repo_name: Any, next_token: str | None):
        repo = self.get_repo(repo_name)
        return _page(sorted(git_ops.branches(repo.git)), next_token, None, 1000)

    @_locked
    def delete_branch(self, repo_name: Any, branch: Any, user_arn: str) -> str | None:
        repo = self.get_repo(repo_name)
        validate_branch_name(branch)
        sha = repo.branch_sha(branch)
        if sha is None:
            return None
        if branch == repo.default_branch:
            raise error("DefaultBranchCannotBeDeletedException",
                        f"The default branch {branch} cannot be deleted. Change the default branch first.")
        self._move_ref(repo, f"refs/heads/{branch}", None, sha, user_arn)
        return sha

    @_locked
    def update_default_branch(self, repo_name: Any, branch: Any) -> None:
        repo = self.get_repo(repo_name)
        validate_branch_name(branch)
        if repo.branch_sha(branch) is None:
            raise error("BranchDoesNotExistException", f"Branch {branch} does not exist")
        repo.default_branch = branch
        git_ops.set_head(repo.git, branch)
        repo.last_modified = _now()


# -- helpers ----------------------------------------------------------------------------
def _validate_tags(tags: Any) -> None:
    if tags is None:
        return
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise error("InvalidTagsMapException", "The map of tags is not valid.")
    for key, value in tags.items():
        if not key or len(key) > 128 or len(value) > 256:
            raise error("InvalidTagsMapException", f"The tag {key!r} is not valid.")
        if key.lower().startswith("aws:"):
            raise error("InvalidSystemTagUsageException", "The tag key is not valid: tags starting with aws: "
                                                          "are reserved for AWS.")
    if len(tags) > 50:
        raise error("TooManyTagsException", "The maximum number of tags for a resource (50) has been exceeded.")
