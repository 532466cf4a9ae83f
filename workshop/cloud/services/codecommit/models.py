"""CodeCommit's state and rules, per account and region: repositories backed
by bare git repositories on disk (the same ones git reaches over HTTP),
branches, commits made through the API, pull requests with approval rules and
templates, and triggers that publish AWS's message to SNS.

It replaces the state of moto's CodeCommit backend (which only created and
deleted repositories); ``responses.py`` turns requests into calls here.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dulwich.refs import check_ref_format
from dulwich.repo import Repo
from moto.core.base_backend import BackendDict, BaseBackend

from workshop.cloud import runtime, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.codecommit import git_ops
from workshop.cloud.services.codecommit.exceptions import CodeCommitError, error, repository_does_not_exist
from workshop.cloud.services import paging

log = logging.getLogger(__name__)

RULE_VERSION = "2018-11-08"
_REPO_NAME_RE = re.compile(r"^[\w.-]{1,100}$")
_TEMPLATE_NAME_MAX = 100
_MAX_FILE_BYTES = 6 * 1024 * 1024
_TRIGGER_EVENTS = {"all", "updateReference", "createReference", "deleteReference"}
MERGE_OPTIONS = ("FAST_FORWARD_MERGE", "SQUASH_MERGE", "THREE_WAY_MERGE")


def _now() -> float:
    return get_clock().timestamp()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def caller_arn(account_id: str, access_key: str | None) -> str:
    """The caller's identity ARN, as STS's GetCallerIdentity answers it for this key
    (an assumed-role session, an IAM user, or the account's own default identity)."""
    try:
        from moto.sts.models import sts_backends

        _, arn, _ = sts_backends[account_id]["aws"].get_caller_identity(access_key or "", "us-east-1")
        return arn
    except Exception:  # identity lookup must never fail a request
        log.debug("no identity for key %s", access_key, exc_info=True)
        return f"arn:aws:iam::{account_id}:root"


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


def parse_rule_content(content: Any, for_template: bool) -> dict:
    """Check an approval rule's JSON content the way CodeCommit does."""
    code = "InvalidApprovalRuleTemplateContentException" if for_template else "InvalidApprovalRuleContentException"
    required = ("ApprovalRuleTemplateContentRequiredException" if for_template
                else "ApprovalRuleContentRequiredException")
    if not content:
        raise error(required, "The content for the approval rule is empty. You must provide some content.")
    if not isinstance(content, str) or len(content) > 3000:
        raise error(code, "The content of the approval rule is not valid.")
    try:
        rule = json.loads(content)
    except ValueError as exc:
        raise error(code, f"The content of the approval rule is not valid JSON: {exc}.")
    if not isinstance(rule, dict) or rule.get("Version") != RULE_VERSION:
        raise error(code, f"The content of the approval rule is not valid: \"Version\" must be \"{RULE_VERSION}\".")
    statements = rule.get("Statements")
    if not isinstance(statements, list) or not statements:
        raise error(code, "The content of the approval rule is not valid: it needs a list of \"Statements\".")
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Type") != "Approvers":
            raise error(code, "The content of the approval rule is not valid: each statement's \"Type\" "
                              "must be \"Approvers\".")
        needed = statement.get("NumberOfApprovalsNeeded")
        if not isinstance(needed, int) or isinstance(needed, bool) or needed < 1:
            raise error(code, "The content of the approval rule is not valid: \"NumberOfApprovalsNeeded\" "
                              "must be a whole number of at least 1.")
        members = statement.get("ApprovalPoolMembers", [])
        if not isinstance(members, list) or not all(isinstance(m, str) and m for m in members):
            raise error(code, "The content of the approval rule is not valid: \"ApprovalPoolMembers\" "
                              "must be a list of ARNs.")
    refs = rule.get("DestinationReferences")
    if refs is not None:
        if not for_template:
            raise error(code, "The content of the approval rule is not valid: \"DestinationReferences\" "
                              "belongs in approval rule templates only.")
        if not isinstance(refs, list) or not all(isinstance(r, str) and r.startswith("refs/") for r in refs):
            raise error(code, "The content of the approval rule is not valid: \"DestinationReferences\" "
                              "must be a list of full reference names such as refs/heads/main.")
    return rule


def member_matches(pattern: str, arn: str) -> bool:
    """Whether an approver's ARN is in an approval pool member entry (with * wildcards)."""
    if pattern.startswith("CodeCommitApprovers:"):
        _, account, name = (pattern.split(":", 2) + ["", ""])[:3]
        parts = arn.split(":", 5)
        return len(parts) == 6 and parts[4] == account and fnmatch.fnmatchcase(_identity_name(arn), name)
    if fnmatch.fnmatchcase(arn, pattern):
        return True
    # A role's ARN stands for every session of that role.
    role = re.match(r"^arn:([^:]+):iam::(\d{12}):role/(?:.*/)?([^/]+)$", pattern)
    return bool(role) and fnmatch.fnmatchcase(
        arn, f"arn:{role.group(1)}:sts::{role.group(2)}:assumed-role/{role.group(3)}/*")


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


@dataclass
class ApprovalRuleTemplate:
    name: str
    content: str
    description: str
    user_arn: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: float = field(default_factory=_now)
    last_modified: float = field(default_factory=_now)
    repository_ids: set[str] = field(default_factory=set)

    def to_json(self) -> dict:
        return {"approvalRuleTemplateId": self.id, "approvalRuleTemplateName": self.name,
                "approvalRuleTemplateDescription": self.description,
                "approvalRuleTemplateContent": self.content, "ruleContentSha256": _sha256(self.content),
                "lastModifiedDate": self.last_modified, "creationDate": self.created,
                "lastModifiedUser": self.user_arn}

    def applies_to(self, destination_ref: str) -> bool:
        refs = json.loads(self.content).get("DestinationReferences")
        return not refs or any(fnmatch.fnmatchcase(destination_ref, r) for r in refs)


@dataclass
class ApprovalRule:
    name: str
    content: str
    user_arn: str
    origin: ApprovalRuleTemplate | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: float = field(default_factory=_now)
    last_modified: float = field(default_factory=_now)

    def to_json(self) -> dict:
        out = {"approvalRuleId": self.id, "approvalRuleName": self.name, "approvalRuleContent": self.content,
               "ruleContentSha256": _sha256(self.content), "lastModifiedDate": self.last_modified,
               "creationDate": self.created, "lastModifiedUser": self.user_arn}
        if self.origin is not None:
            out["originApprovalRuleTemplate"] = {"approvalRuleTemplateId": self.origin.id,
                                                 "approvalRuleTemplateName": self.origin.name}
        return out

    def satisfied_by(self, approvers: list[str]) -> bool:
        for statement in json.loads(self.content).get("Statements", []):
            pool = statement.get("ApprovalPoolMembers") or []
            count = sum(1 for arn in approvers if not pool or any(member_matches(p, arn) for p in pool))
            if count < statement.get("NumberOfApprovalsNeeded", 1):
                return False
        return True


class PullRequest:
    def __init__(self, pr_id: str, title: str, description: str | None, author_arn: str,
                 repository: Repository, source_ref: str, destination_ref: str, client_token: str | None):
        now = _now()
        self.id = pr_id
        self.title = title
        self.description = description
        self.author_arn = author_arn
        self.repository = repository
        self.source_ref = source_ref
        self.destination_ref = destination_ref
        self.client_token = client_token
        self.created = now
        self.last_activity = now
        self.status = "OPEN"
        self.source_commit = ""
        self.destination_commit = ""
        self.merge_base: str | None = None
        self.merge_metadata: dict = {"isMerged": False}
        self.revision_id = ""
        self.rules: list[ApprovalRule] = []
        self.approvals: dict[str, dict[str, str]] = {}  # revision -> approver ARN -> APPROVE
        self.overrides: dict[str, str] = {}  # revision -> ARN of who overrode
        self.events: list[dict] = []

    def new_revision(self) -> None:
        self.revision_id = hashlib.sha256(f"{self.id}:{self.source_commit}:{uuid.uuid4()}".encode()).hexdigest()

    def event(self, kind: str, actor: str, **metadata) -> None:
        self.events.append({"pullRequestId": self.id, "eventDate": _now(), "pullRequestEventType": kind,
                            "actorArn": actor, **metadata})
        self.last_activity = _now()

    def approvers(self) -> list[str]:
        return [arn for arn, state in self.approvals.get(self.revision_id, {}).items() if state == "APPROVE"]

    def evaluation(self) -> dict:
        approvers = self.approvers()
        satisfied = [r.name for r in self.rules if r.satisfied_by(approvers)]
        unsatisfied = [r.name for r in self.rules if r.name not in satisfied]
        overridden = self.revision_id in self.overrides
        return {"approved": overridden or not unsatisfied, "overridden": overridden,
                "approvalRulesSatisfied": satisfied, "approvalRulesNotSatisfied": unsatisfied}

    def to_json(self) -> dict:
        target = {"repositoryName": self.repository.name, "sourceReference": self.source_ref,
                  "destinationReference": self.destination_ref, "destinationCommit": self.destination_commit,
                  "sourceCommit": self.source_commit, "mergeMetadata": dict(self.merge_metadata)}
        if self.merge_base:
            target["mergeBase"] = self.merge_base
        out = {"pullRequestId": self.id, "title": self.title, "lastActivityDate": self.last_activity,
               "creationDate": self.created, "pullRequestStatus": self.status, "authorArn": self.author_arn,
               "pullRequestTargets": [target], "revisionId": self.revision_id,
               "approvalRules": [r.to_json() for r in self.rules]}
        if self.description is not None:
            out["description"] = self.description
        if self.client_token:
            out["clientRequestToken"] = self.client_token
        return out


# -- the backend ---------------------------------------------------------------------
class CodeCommitBackend(BaseBackend):
    """One account's CodeCommit in one region."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = OperationLock()
        self.repositories: dict[str, Repository] = {}
        self.templates: dict[str, ApprovalRuleTemplate] = {}
        self.pull_requests: dict[str, PullRequest] = {}
        self._next_pr = 1

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

    # -- files, folders, commits -----------------------------------------------------
    def _commit_id(self, repo: Repository, commit_id: Any, required_code: str) -> str:
        if not commit_id:
            raise error(required_code, "A commit ID is required, but was not specified.")
        if not git_ops.is_sha(str(commit_id)):
            raise error("InvalidCommitIdException", f"The specified commit ID {commit_id} is not valid.")
        if git_ops.commit_of(repo.git, commit_id) is None:
            raise error("CommitDoesNotExistException", f"The specified commit {commit_id} does not exist.")
        return commit_id

    def _specifier(self, repo: Repository, specifier: Any) -> str:
        """A commit specifier (commit id, branch, tag, ref; default branch if absent) -> commit id."""
        if specifier is None or specifier == "":
            if not repo.default_branch or repo.branch_sha(repo.default_branch) is None:
                raise error("CommitDoesNotExistException", "The repository is empty: it has no commits yet.")
            return repo.branch_sha(repo.default_branch)
        if not isinstance(specifier, str):
            raise error("InvalidCommitException", f"The specified commit {specifier} is not valid.")
        sha = git_ops.resolve(repo.git, specifier)
        if sha is None:
            raise error("CommitDoesNotExistException", f"The specified commit {specifier} does not exist.")
        return sha

    def _branch_tip_for_write(self, repo: Repository, branch: Any, parent: Any) -> str | None:
        """The parent commit of a write to a branch, by CodeCommit's parentCommitId rules."""
        validate_branch_name(branch)
        if git_ops.tags(repo.git).get(branch) is not None:
            raise error("BranchNameIsTagNameException", f"The specified branch name {branch} is a tag name.")
        tip = repo.branch_sha(branch)
        if parent is not None and parent != "":
            if not git_ops.is_sha(str(parent)):
                raise error("InvalidParentCommitIdException", f"The parent commit ID {parent} is not valid.")
            if git_ops.commit_of(repo.git, parent) is None:
                raise error("ParentCommitDoesNotExistException",
                            f"The parent commit ID {parent} does not exist in the repository.")
            if tip is not None and tip != parent:
                raise error("ParentCommitIdOutdatedException",
                            f"The parent commit ID {parent} is not the tip of branch {branch} ({tip}). "
                            "Get the branch's latest commit ID and try again.")
            return parent
        if tip is not None or not repo.is_empty():
            raise error("ParentCommitIdRequiredException",
                        "A parent commit ID is required. To view the full commit ID of a branch, use GetBranch.")
        return None

    def _signature(self, name: Any, email: Any, user_arn: str) -> git_ops.Signature:
        if name is not None and (not isinstance(name, str) or len(name) > 1024):
            raise error("NameLengthExceededException", "The user name is not valid: it is too long.")
        if email is not None and (not isinstance(email, str) or "\n" in email or "<" in email or ">" in email):
            raise error("InvalidEmailException", f"The specified email address {email} is not valid.")
        return git_ops.Signature(name or _identity_name(user_arn), email or "", int(_now()))

    @staticmethod
    def _message(message: Any, default: str) -> str:
        if message is not None and (not isinstance(message, str) or len(message) > 10 * 1024):
            raise error("CommitMessageLengthExceededException", "The commit message is too long.")
        return message or default

    @_locked
    def put_file(self, repo_name: Any, branch: Any, content: bytes | None, path: Any, mode: Any,
                 parent: Any, message: Any, name: Any, email: Any, user_arn: str) -> dict:
        repo = self.get_repo(repo_name)
        path = validate_file_path(path)
        if not content:
            raise error("FileContentRequiredException", "The file cannot be added because it is empty. "
                                                        "Empty files cannot be added to the repository.")
        if len(content) > _MAX_FILE_BYTES:
            raise error("FileContentSizeLimitExceededException", "The file cannot be added because it is too "
                                                                 "large. The maximum file size is 6 MB.")
        base = self._branch_tip_for_write(repo, branch, parent)
        entries = git_ops.commit_entries(repo.git, base)
        mode_value = self._mode(mode or _current_mode(entries, path))
        blob_id = git_ops.add_blob(repo.git, content)
        if entries.get(path) == (mode_value, blob_id):
            raise error("SameFileContentException", "The file could not be added because the provided file "
                                                    "content is the same as the current file content.")
        _check_path_conflicts(entries, path)
        entries[path] = (mode_value, blob_id)
        signature = self._signature(name, email, user_arn)
        tree_id = git_ops.build_tree(repo.git, entries)
        commit_id = git_ops.make_commit(repo.git, tree_id, [base] if base else [],
                                        self._message(message, f"Added {path}"), signature)
        self._move_ref(repo, f"refs/heads/{branch}", commit_id, repo.branch_sha(branch), user_arn)
        return {"commitId": commit_id, "blobId": blob_id, "treeId": tree_id}

    @_locked
    def delete_file(self, repo_name: Any, branch: Any, path: Any, parent: Any, keep_empty: bool,
                    message: Any, name: Any, email: Any, user_arn: str) -> dict:
        repo = self.get_repo(repo_name)
        path = validate_file_path(path)
        if not parent:
            raise error("ParentCommitIdRequiredException", "A parent commit ID is required.")
        base = self._branch_tip_for_write(repo, branch, parent)
        if repo.branch_sha(branch) is None:
            raise error("BranchDoesNotExistException", f"Branch {branch} does not exist")
        entries = git_ops.commit_entries(repo.git, base)
        if path not in entries:
            raise error("FileDoesNotExistException", f"The specified file {path} does not exist.")
        blob_id = entries.pop(path)[1]
        keep = {path.rsplit("/", 1)[0]} if keep_empty and "/" in path else set()
        tree_id = git_ops.build_tree(repo.git, entries, keep)
        commit_id = git_ops.make_commit(repo.git, tree_id, [base], self._message(message, f"Deleted {path}"),
                                        self._signature(name, email, user_arn))
        self._move_ref(repo, f"refs/heads/{branch}", commit_id, base, user_arn)
        return {"commitId": commit_id, "blobId": blob_id, "treeId": tree_id, "filePath": path}

    @_locked
    def create_commit(self, repo_name: Any, branch: Any, parent: Any, author: Any, email: Any, message: Any,
                      keep_empty: bool, put_files: Any, delete_files: Any, set_modes: Any, user_arn: str) -> dict:
        repo = self.get_repo(repo_name)
        put_files, delete_files, set_modes = ([i if isinstance(i, dict) else {} for i in items or []]
                                              for items in (put_files, delete_files, set_modes))
        if not (put_files or delete_files or set_modes):
            raise error("FileEntryRequiredException", "The commit cannot be created because no files have "
                                                      "been specified as added, updated, or changed.")
        if len(put_files) + len(delete_files) + len(set_modes) > 100:
            raise error("MaximumFileEntriesExceededException", "The number of specified files to change as "
                                                               "part of this commit exceeds the maximum (100).")
        base = self._branch_tip_for_write(repo, branch, parent)
        before = git_ops.commit_entries(repo.git, base)
        entries = dict(before)
        seen: set[str] = set()

        def claim(path: str) -> None:
            if path in seen:
                raise error("SamePathRequestException", f"The path {path} is specified more than once.")
            seen.add(path)

        added, updated, deleted = [], [], []
        for item in put_files:
            path = validate_file_path((item or {}).get("filePath"))
            claim(path)
            content, source = item.get("fileContent"), item.get("sourceFile")
            if source is not None and not isinstance(source, dict):
                source = {}
            if content is not None and source:
                raise error("FileContentAndSourceFileSpecifiedException",
                            "The commit cannot be created because both a source file and file content "
                            "have been specified for the same file.")
            if source:
                src_path = validate_file_path(source.get("filePath"))
                if src_path not in before:
                    raise error("FileDoesNotExistException", f"The specified file {src_path} does not exist.")
                mode_value, blob_id = before[src_path]
                if item.get("fileMode"):
                    mode_value = self._mode(item["fileMode"])
                if source.get("isMove"):
                    claim(src_path)
                    entries.pop(src_path, None)
                    deleted.append(_file_json(src_path, before[src_path]))
            elif content is None:
                raise error("SourceFileOrContentRequiredException",
                            "The commit cannot be created because no source files or file content "
                            "have been specified for the commit.")
            else:
                if len(content) > _MAX_FILE_BYTES:
                    raise error("FileContentSizeLimitExceededException", "The file is too large (6 MB at most).")
                blob_id = git_ops.add_blob(repo.git, content)
                mode_value = self._mode(item.get("fileMode") or _current_mode(before, path))
            _check_path_conflicts(entries, path)
            entries[path] = (mode_value, blob_id)
            (updated if path in before else added).append(_file_json(path, entries[path]))
        for item in delete_files:
            path = validate_file_path((item or {}).get("filePath"))
            claim(path)
            if path not in entries:
                raise error("FileDoesNotExistException", f"The specified file {path} does not exist.")
            deleted.append(_file_json(path, entries.pop(path)))
        for item in set_modes:
            path = validate_file_path((item or {}).get("filePath"))
            claim(path)
            if not item.get("fileMode"):
                raise error("FileModeRequiredException", "The commit cannot be created because no file mode "
                                                         "has been specified.")
            if path not in entries:
                raise error("FileDoesNotExistException", f"The specified file {path} does not exist.")
            entries[path] = (self._mode(item["fileMode"]), entries[path][1])
            updated.append(_file_json(path, entries[path]))
        if entries == before and base is not None:
            raise error("NoChangeException", "The commit cannot be created because no changes will be made "
                                             "to the repository as a result of this commit.")
        keep = ({p.rsplit("/", 1)[0] for p in before if "/" in p} if keep_empty else set())
        tree_id = git_ops.build_tree(repo.git, entries, keep)
        commit_id = git_ops.make_commit(repo.git, tree_id, [base] if base else [],
                                        self._message(message, "Commit"), self._signature(author, email, user_arn))
        self._move_ref(repo, f"refs/heads/{branch}", commit_id, repo.branch_sha(branch), user_arn)
        return {"commitId": commit_id, "treeId": tree_id, "filesAdded": added, "filesUpdated": updated,
                "filesDeleted": deleted}

    @staticmethod
    def _mode(mode: Any) -> int:
        if mode not in git_ops.FILE_MODES:
            raise error("InvalidFileModeException", f"The specified file mode {mode} is not valid.")
        return git_ops.FILE_MODES[mode]

    @_locked
    def get_file(self, repo_name: Any, specifier: Any, path: Any) -> dict:
        repo = self.get_repo(repo_name)
        path = validate_file_path(path)
        commit_id = self._specifier(repo, specifier)
        entry = git_ops.commit_entries(repo.git, commit_id).get(path)
        if entry is None or entry[0] == git_ops.MODE_GITLINK:
            raise error("FileDoesNotExistException", f"The specified file {path} does not exist.")
        data = git_ops.blob_data(repo.git, entry[1]) or b""
        return {"commitId": commit_id, "blobId": entry[1], "filePath": path, "fileMode": git_ops.mode_name(entry[0]),
                "fileSize": len(data), "fileContent": data}

    @_locked
    def get_folder(self, repo_name: Any, specifier: Any, folder: Any) -> dict:
        repo = self.get_repo(repo_name)
        if folder is None or folder == "":
            raise error("PathRequiredException", "The folder path is required, but was not specified.")
        clean = normalize_path(folder) if not isinstance(folder, str) or folder.strip("/") else ""
        commit_id = self._specifier(repo, specifier)
        tree_id = git_ops.subtree_id(repo.git, commit_id, clean)
        if tree_id is None:
            raise error("FolderDoesNotExistException", f"The specified folder {folder} does not exist.")
        out = {"commitId": commit_id, "folderPath": clean or "/", "treeId": tree_id, "subFolders": [],
               "files": [], "symbolicLinks": [], "subModules": []}
        for name, mode, sha in git_ops.read_tree(repo.git, tree_id):
            absolute = f"{clean}/{name}" if clean else name
            if mode == 0o040000:
                out["subFolders"].append({"treeId": sha, "absolutePath": absolute, "relativePath": name})
            elif mode == git_ops.MODE_GITLINK:
                out["subModules"].append({"commitId": sha, "absolutePath": absolute, "relativePath": name})
            else:
                item = {"blobId": sha, "absolutePath": absolute, "relativePath": name,
                        "fileMode": git_ops.mode_name(mode)}
                out["symbolicLinks" if mode == git_ops.MODE_SYMLINK else "files"].append(item)
        return out

    @_locked
    def get_blob(self, repo_name: Any, blob_id: Any) -> bytes:
        repo = self.get_repo(repo_name)
        if not blob_id:
            raise error("BlobIdRequiredException", "A blob ID is required, but was not specified.")
        if not git_ops.is_sha(str(blob_id)):
            raise error("InvalidBlobIdException", f"The specified blob {blob_id} is not valid.")
        data = git_ops.blob_data(repo.git, blob_id)
        if data is None:
            raise error("BlobIdDoesNotExistException", f"The specified blob {blob_id} does not exist.")
        return data

    @_locked
    def get_commit(self, repo_name: Any, commit_id: Any) -> dict:
        repo = self.get_repo(repo_name)
        if not commit_id:
            raise error("CommitIdRequiredException", "A commit ID is required, but was not specified.")
        if not git_ops.is_sha(str(commit_id)):
            raise error("InvalidCommitIdException", f"The specified commit ID {commit_id} is not valid.")
        commit = git_ops.commit_of(repo.git, commit_id)
        if commit is None:
            raise error("CommitIdDoesNotExistException", f"The specified commit ID {commit_id} does not exist.")
        return commit_json(commit)

    @_locked
    def batch_get_commits(self, repo_name: Any, commit_ids: Any) -> tuple[list[dict], list[dict]]:
        repo = self.get_repo(repo_name)
        if not commit_ids:
            raise error("CommitIdsListRequiredException", "A list of commit IDs is required.")
        if not isinstance(commit_ids, list) or len(commit_ids) > 100:
            raise error("CommitIdsLimitExceededException", "The maximum number of commit IDs (100) was exceeded.")
        commits, errors = [], []
        for commit_id in commit_ids:
            commit = git_ops.commit_of(repo.git, commit_id) if git_ops.is_sha(str(commit_id)) else None
            if commit is None:
                errors.append({"commitId": commit_id, "errorCode": "CommitDoesNotExistException",
                               "errorMessage": f"The commit {commit_id} does not exist."})
            else:
                commits.append(commit_json(commit))
        return commits, errors

    @_locked
    def get_differences(self, repo_name: Any, before: Any, after: Any, before_path: Any, after_path: Any,
                        max_results: Any, next_token: Any):
        repo = self.get_repo(repo_name)
        if not after:
            raise error("CommitRequiredException", "A commit specifier is required.")
        after_id = self._specifier(repo, after)
        before_id = self._specifier(repo, before) if before else None
        old = git_ops.commit_entries(repo.git, before_id)
        new = git_ops.commit_entries(repo.git, after_id)
        old = _under(old, before_path, "before")
        new = _under(new, after_path, "after")
        diffs = []
        for d in git_ops.differences(old, new):
            item: dict = {"changeType": d.change}
            if d.before:
                item["beforeBlob"] = {"blobId": d.before[1], "path": d.path, "mode": oct(d.before[0])[2:].zfill(6)}
            if d.after:
                item["afterBlob"] = {"blobId": d.after[1], "path": d.path, "mode": oct(d.after[0])[2:].zfill(6)}
            diffs.append(item)
        return _page(diffs, next_token, max_results, 100)

    # -- merging -----------------------------------------------------------------------
    def _merge_commit(self, repo: Repository, source: str, destination: str, option: str, *,
                      level: Any = None, strategy: Any = None, message: Any = None, author: Any = None,
                      email: Any = None, keep_empty: bool = False, user_arn: str,
                      default_message: str) -> tuple[str, str]:
        """The commit a merge produces (nothing moves yet): (commit id, tree id)."""
        level, strategy = _merge_settings(level, strategy)
        if option == "FAST_FORWARD_MERGE":
            if not git_ops.is_ancestor(repo.git, destination, source):
                raise error("ManualMergeRequiredException",
                            "The branches cannot be merged by fast-forward: the destination has commits that "
                            "the source does not. Use a squash or three-way merge, or merge manually.")
            return source, git_ops.commit_of(repo.git, source).tree.decode()
        base = git_ops.merge_base(repo.git, source, destination)
        result = git_ops.merge(repo.git, git_ops.commit_entries(repo.git, base),
                               git_ops.commit_entries(repo.git, destination),
                               git_ops.commit_entries(repo.git, source),
                               line_level=level == "LINE_LEVEL", strategy=strategy)
        if result.conflicts:
            paths = ", ".join(c.path for c in result.conflicts[:10])
            raise error("ManualMergeRequiredException",
                        f"The pull request cannot be merged automatically into the destination branch: "
                        f"conflicts in {paths}. Resolve them manually, or choose a conflict resolution strategy.")
        keep = ({p.rsplit("/", 1)[0] for p in git_ops.commit_entries(repo.git, destination) if "/" in p}
                if keep_empty else set())
        tree_id = git_ops.build_tree(repo.git, result.entries, keep)
        parents = [destination] if option == "SQUASH_MERGE" else [destination, source]
        commit_id = git_ops.make_commit(repo.git, tree_id, parents, self._message(message, default_message),
                                        self._signature(author, email, user_arn))
        return commit_id, tree_id

    @_locked
    def merge_branches(self, repo_name: Any, option: str, source_spec: Any, dest_spec: Any, target_branch: Any,
                       level: Any, strategy: Any, message: Any, author: Any, email: Any, keep_empty: bool,
                       user_arn: str) -> tuple[str, str]:
        repo = self.get_repo(repo_name)
        if not source_spec or not dest_spec:
            raise error("CommitRequiredException", "Both a source and a destination commit specifier are required.")
        source = self._specifier(repo, source_spec)
        destination = self._specifier(repo, dest_spec)
        if target_branch is None:
            target_branch = dest_spec if repo.branch_sha(dest_spec) else None
        if target_branch is None:
            raise error("BranchNameRequiredException", "A target branch is required when the destination is "
                                                       "not a branch.")
        validate_branch_name(target_branch)
        tip = repo.branch_sha(target_branch)
        if tip is None:
            raise error("BranchDoesNotExistException", f"Branch {target_branch} does not exist")
        commit_id, tree_id = self._merge_commit(
            repo, source, destination, option, level=level, strategy=strategy, message=message, author=author,
            email=email, keep_empty=keep_empty, user_arn=user_arn,
            default_message=f"Merge {source_spec} into {target_branch}")
        if commit_id != tip:
            self._move_ref(repo, f"refs/heads/{target_branch}", commit_id, tip, user_arn,
                           outdated="ConcurrentReferenceUpdateException")
        return commit_id, tree_id

    @_locked
    def get_merge_conflicts(self, repo_name: Any, dest_spec: Any, source_spec: Any, option: Any, level: Any,
                            strategy: Any) -> dict:
        repo = self.get_repo(repo_name)
        if not option:
            raise error("MergeOptionRequiredException", "A merge option is required.")
        if option not in MERGE_OPTIONS:
            raise error("InvalidMergeOptionException", f"The merge option {option} is not valid.")
        if not dest_spec or not source_spec:
            raise error("CommitRequiredException", "Both commit specifiers are required.")
        destination = self._specifier(repo, dest_spec)
        source = self._specifier(repo, source_spec)
        level, strategy = _merge_settings(level, strategy)
        base = git_ops.merge_base(repo.git, source, destination)
        out = {"destinationCommitId": destination, "sourceCommitId": source, "conflictMetadataList": []}
        if base:
            out["baseCommitId"] = base
        if option == "FAST_FORWARD_MERGE":
            out["mergeable"] = git_ops.is_ancestor(repo.git, destination, source)
            return out
        result = git_ops.merge(repo.git, git_ops.commit_entries(repo.git, base),
                               git_ops.commit_entries(repo.git, destination),
                               git_ops.commit_entries(repo.git, source),
                               line_level=level == "LINE_LEVEL", strategy=strategy)
        out["mergeable"] = not result.conflicts
        out["conflictMetadataList"] = [_conflict_json(repo, c) for c in result.conflicts]
        return out

    @_locked
    def get_merge_options(self, repo_name: Any, source_spec: Any, dest_spec: Any, level: Any,
                          strategy: Any) -> dict:
        """The merge kinds that would work now: fast-forward when the destination is behind, squash
        and three-way when the changes merge without conflicts."""
        repo = self.get_repo(repo_name)
        if not source_spec or not dest_spec:
            raise error("CommitRequiredException", "Both commit specifiers are required.")
        source, destination = self._specifier(repo, source_spec), self._specifier(repo, dest_spec)
        level, strategy = _merge_settings(level, strategy)
        base = git_ops.merge_base(repo.git, source, destination)
        options = []
        if git_ops.is_ancestor(repo.git, destination, source):
            options.append("FAST_FORWARD_MERGE")
        result = git_ops.merge(repo.git, git_ops.commit_entries(repo.git, base),
                               git_ops.commit_entries(repo.git, destination),
                               git_ops.commit_entries(repo.git, source),
                               line_level=level == "LINE_LEVEL", strategy=strategy)
        if not result.conflicts:
            options += ["SQUASH_MERGE", "THREE_WAY_MERGE"]
        return {"mergeOptions": options, "sourceCommitId": source, "destinationCommitId": destination,
                "baseCommitId": base or ""}

    # -- pull requests ------------------------------------------------------------------
    def get_pr(self, pr_id: Any) -> PullRequest:
        if not pr_id:
            raise error("PullRequestIdRequiredException", "A pull request ID is required, but none was provided.")
        if not str(pr_id).isdigit():
            raise error("InvalidPullRequestIdException", f"The pull request ID {pr_id} is not valid.")
        pr = self.pull_requests.get(str(int(pr_id)))
        if pr is None:
            raise error("PullRequestDoesNotExistException", f"The pull request ID {pr_id} does not exist.")
        self._refresh(pr)
        return pr

    @_locked
    def create_pull_request(self, title: Any, description: Any, targets: Any, token: Any, user_arn: str):
        if token:
            for pr in self.pull_requests.values():
                if pr.client_token == token and pr.author_arn == user_arn:
                    if pr.title != title:
                        raise error("IdempotencyParameterMismatchException",
                                    "The client request token is already used by a different pull request.")
                    return pr
        if not title:
            raise error("TitleRequiredException", "A pull request title is required.")
        if not isinstance(title, str) or len(title) > 150:
            raise error("InvalidTitleException", "The title of the pull request is not valid (150 characters "
                                                 "at most).")
        if description is not None and (not isinstance(description, str) or len(description) > 10240):
            raise error("InvalidDescriptionException", "The pull request description is not valid.")
        if not targets:
            raise error("TargetsRequiredException", "An array of target objects is required.")
        if not isinstance(targets, list):
            raise error("InvalidTargetsException", "The targets for the pull request are not valid.")
        if len(targets) > 1:
            raise error("MultipleRepositoriesInPullRequestException",
                        "You cannot include more than one repository in a pull request.")
        target = targets[0]
        if not isinstance(target, dict):
            raise error("InvalidTargetException", "The target for the pull request is not valid.")
        repo = self.get_repo(target.get("repositoryName"))
        source_ref = self._branch_ref(repo, target.get("sourceReference"))
        dest_ref = self._branch_ref(repo, target.get("destinationReference") or repo.default_branch)
        if source_ref == dest_ref:
            raise error("SourceAndDestinationAreSameException",
                        "The source branch and destination branch for the pull request are the same.")
        if sum(1 for p in self.pull_requests.values() if p.status == "OPEN" and p.repository is repo) >= 1000:
            raise error("MaximumOpenPullRequestsExceededException", "You cannot create the pull request "
                                                                    "because the repository has too many open "
                                                                    "pull requests (1000).")
        pr = PullRequest(str(self._next_pr), title, description, user_arn, repo, source_ref, dest_ref, token)
        self._next_pr += 1
        pr.source_commit = git_ops.resolve(repo.git, source_ref)
        pr.destination_commit = git_ops.resolve(repo.git, dest_ref)
        pr.merge_base = git_ops.merge_base(repo.git, pr.source_commit, pr.destination_commit)
        pr.new_revision()
        for template in sorted(self.templates.values(), key=lambda t: t.name):
            if repo.id in template.repository_ids and template.applies_to(dest_ref):
                content = json.loads(template.content)
                content.pop("DestinationReferences", None)
                pr.rules.append(ApprovalRule(template.name, json.dumps(content), user_arn, origin=template))
        self.pull_requests[pr.id] = pr
        pr.event("PULL_REQUEST_CREATED", user_arn, pullRequestCreatedEventMetadata={
            "repositoryName": repo.name, "sourceCommitId": pr.source_commit,
            "destinationCommitId": pr.destination_commit, "mergeBase": pr.merge_base or ""})
        return pr

    @staticmethod
    def _branch_ref(repo: Repository, reference: Any) -> str:
        if not reference:
            raise error("ReferenceNameRequiredException", "A reference name is required, but none was provided.")
        if not isinstance(reference, str):
            raise error("InvalidReferenceNameException", f"The reference name {reference} is not valid.")
        ref = reference if reference.startswith("refs/") else f"refs/heads/{reference}"
        if not check_ref_format(ref.encode()):
            raise error("InvalidReferenceNameException", f"The reference name {reference} is not valid.")
        if not ref.startswith("refs/heads/"):
            if repo.git.refs.as_dict().get(ref.encode()) is None:
                raise error("ReferenceDoesNotExistException", f"The reference {reference} does not exist.")
            raise error("ReferenceTypeNotSupportedException",
                        f"The reference {reference} is not a branch: pull requests use branches.")
        if repo.branch_sha(ref[len("refs/heads/"):]) is None:
            raise error("ReferenceDoesNotExistException", f"The reference {reference} does not exist.")
        return ref

    @_locked
    def list_pull_requests(self, repo_name: Any, author: Any, status: Any, next_token: Any, max_results: Any):
        repo = self.get_repo(repo_name)
        if status is not None and status not in ("OPEN", "CLOSED"):
            raise error("InvalidPullRequestStatusException", f"The pull request status {status} is not valid.")
        if author is not None and not str(author).startswith("arn:"):
            raise error("InvalidAuthorArnException", f"The author ARN {author} is not valid.")
        prs = [pr for pr in self.pull_requests.values() if pr.repository is repo]
        for pr in prs:
            self._refresh(pr)
        ids = [pr.id for pr in sorted(prs, key=lambda p: -int(p.id))
               if (status is None or pr.status == status) and (author is None or pr.author_arn == author)]
        return _page(ids, next_token, max_results, 100)

    @_locked
    def update_pull_request(self, pr_id: Any, user_arn: str, *, title: Any = None, description: Any = None,
                            status: Any = None, field_name: str) -> PullRequest:
        pr = self.get_pr(pr_id)
        if field_name == "title":
            if not title:
                raise error("TitleRequiredException", "A pull request title is required.")
            if not isinstance(title, str) or len(title) > 150:
                raise error("InvalidTitleException", "The title of the pull request is not valid.")
            self._require_open(pr)
            pr.title = title
        elif field_name == "description":
            if description is None:
                raise error("InvalidDescriptionException", "A description is required.")
            if not isinstance(description, str) or len(description) > 10240:
                raise error("InvalidDescriptionException", "The pull request description is not valid.")
            self._require_open(pr)
            pr.description = description
        else:
            if not status:
                raise error("PullRequestStatusRequiredException", "A pull request status is required.")
            if status not in ("OPEN", "CLOSED"):
                raise error("InvalidPullRequestStatusException", f"The pull request status {status} is not valid.")
            if status != pr.status:
                if status == "OPEN" and pr.merge_metadata.get("isMerged"):
                    raise error("InvalidPullRequestStatusUpdateException",
                                "A merged pull request cannot be reopened.")
                pr.status = status
                pr.event("PULL_REQUEST_STATUS_CHANGED", user_arn,
                         pullRequestStatusChangedEventMetadata={"pullRequestStatus": status})
        pr.last_activity = _now()
        return pr

    @staticmethod
    def _require_open(pr: PullRequest) -> None:
        if pr.status != "OPEN":
            raise error("PullRequestAlreadyClosedException", f"The pull request {pr.id} is already closed.")

    def _refresh(self, pr: PullRequest) -> None:
        """Follow the branches of an open pull request: a new source tip is a new revision."""
        if pr.status != "OPEN":
            return
        repo = pr.repository
        source = git_ops.resolve(repo.git, pr.source_ref)
        destination = git_ops.resolve(repo.git, pr.destination_ref)
        if source and source != pr.source_commit:
            before = pr.source_commit
            pr.source_commit = source
            pr.new_revision()
            pr.merge_base = git_ops.merge_base(repo.git, source, destination) if destination else None
            pr.event("PULL_REQUEST_SOURCE_REFERENCE_UPDATED", pr.author_arn,
                     pullRequestSourceReferenceUpdatedEventMetadata={
                         "repositoryName": repo.name, "beforeCommitId": before, "afterCommitId": source,
                         "mergeBase": pr.merge_base or ""})
        if destination and destination != pr.destination_commit:
            pr.destination_commit = destination
            pr.merge_base = git_ops.merge_base(repo.git, pr.source_commit, destination)

    @_locked
    def merge_pull_request(self, pr_id: Any, repo_name: Any, option: str, source_commit: Any, user_arn: str,
                           **merge_args) -> PullRequest:
        pr = self.get_pr(pr_id)
        repo = self.get_repo(repo_name)
        if pr.repository is not repo:
            raise error("RepositoryNotAssociatedWithPullRequestException",
                        f"The repository {repo.name} is not associated with pull request {pr.id}.")
        self._require_open(pr)
        if source_commit is not None:
            if not git_ops.is_sha(str(source_commit)):
                raise error("InvalidCommitIdException", f"The specified commit ID {source_commit} is not valid.")
            if source_commit != pr.source_commit:
                raise error("TipOfSourceReferenceIsDifferentException",
                            "The tip of the source branch in the destination repository does not match the "
                            "tip of the source branch specified in your request. The pull request might have "
                            "been updated. Make sure that you have the latest changes.")
        if git_ops.resolve(repo.git, pr.source_ref) is None:
            raise error("ReferenceDoesNotExistException", f"The source branch {pr.source_ref} no longer exists.")
        evaluation = pr.evaluation()
        if not evaluation["approved"]:
            raise error("PullRequestApprovalRulesNotSatisfiedException",
                        "The pull request cannot be merged because one or more approval rules applied to the "
                        f"pull request have conditions that have not been met: "
                        f"{', '.join(evaluation['approvalRulesNotSatisfied'])}.")
        branch = pr.destination_ref[len("refs/heads/"):]
        tip = repo.branch_sha(branch)
        if tip is None:
            raise error("ReferenceDoesNotExistException", f"The destination branch {branch} no longer exists.")
        commit_id, _ = self._merge_commit(
            repo, pr.source_commit, tip, option, user_arn=user_arn,
            default_message=f"Merged pull request {pr.id}: {pr.title}", **merge_args)
        # Closed before the branch moves, so that the move does not read as a merge made with git.
        pr.status = "CLOSED"
        if commit_id != tip:
            try:
                self._move_ref(repo, pr.destination_ref, commit_id, tip, user_arn,
                               outdated="ConcurrentReferenceUpdateException")
            except CodeCommitError:
                pr.status = "OPEN"
                raise
        pr.merge_metadata = {"isMerged": True, "mergedBy": user_arn, "mergeCommitId": commit_id,
                             "mergeOption": option}
        pr.destination_commit = tip
        pr.event("PULL_REQUEST_MERGE_STATE_CHANGED", user_arn, pullRequestMergedStateChangedEventMetadata={
            "repositoryName": repo.name, "destinationReference": pr.destination_ref,
            "mergeMetadata": dict(pr.merge_metadata)})
        return pr

    # -- approval rules on pull requests ----------------------------------------------------
    def _revision(self, pr: PullRequest, revision_id: Any) -> None:
        if not revision_id:
            raise error("RevisionIdRequiredException", "A revision ID is required, but was not provided.")
        if not re.match(r"^[0-9a-f]{64}$", str(revision_id)):
            raise error("InvalidRevisionIdException", f"The revision ID {revision_id} is not valid.")
        if revision_id != pr.revision_id:
            raise error("RevisionNotCurrentException", "The revision ID provided in the request does not match "
                                                       "the current revision ID. Use GetPullRequest to retrieve "
                                                       "the current revision ID.")

    @_locked
    def update_approval_state(self, pr_id: Any, revision_id: Any, state: Any, user_arn: str) -> None:
        pr = self.get_pr(pr_id)
        self._revision(pr, revision_id)
        if not state:
            raise error("ApprovalStateRequiredException", "An approval state is required.")
        if state not in ("APPROVE", "REVOKE"):
            raise error("InvalidApprovalStateException", f"The approval state {state} is not valid.")
        self._require_open(pr)
        if user_arn == pr.author_arn:
            raise error("PullRequestCannotBeApprovedByAuthorException",
                        "The approval cannot be applied because the user approving the pull request matches "
                        "the user who created the pull request. You cannot approve a pull request that you "
                        "created.")
        approvals = pr.approvals.setdefault(pr.revision_id, {})
        if state == "APPROVE":
            approvals[user_arn] = "APPROVE"
        else:
            approvals.pop(user_arn, None)
        pr.event("PULL_REQUEST_APPROVAL_STATE_CHANGED", user_arn, approvalStateChangedEventMetadata={
            "revisionId": pr.revision_id, "approvalStatus": state})

    @_locked
    def approval_states(self, pr_id: Any, revision_id: Any) -> list[dict]:
        pr = self.get_pr(pr_id)
        if not revision_id:
            raise error("RevisionIdRequiredException", "A revision ID is required, but was not provided.")
        return [{"userArn": arn, "approvalState": state}
                for arn, state in pr.approvals.get(revision_id, {}).items()]

    @_locked
    def evaluate(self, pr_id: Any, revision_id: Any) -> dict:
        pr = self.get_pr(pr_id)
        self._revision(pr, revision_id)
        return pr.evaluation()

    @_locked
    def override(self, pr_id: Any, revision_id: Any, status: Any, user_arn: str) -> None:
        pr = self.get_pr(pr_id)
        self._revision(pr, revision_id)
        if not status:
            raise error("OverrideStatusRequiredException", "An override status is required.")
        if status not in ("OVERRIDE", "REVOKE"):
            raise error("InvalidOverrideStatusException", f"The override status {status} is not valid.")
        self._require_open(pr)
        if status == "OVERRIDE":
            if pr.revision_id in pr.overrides:
                raise error("OverrideAlreadySetException", "The pull request has already been overridden.")
            pr.overrides[pr.revision_id] = user_arn
        else:
            pr.overrides.pop(pr.revision_id, None)
        pr.event("PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN", user_arn, approvalRuleOverriddenEventMetadata={
            "revisionId": pr.revision_id, "overrideStatus": status})

    @_locked
    def override_state(self, pr_id: Any, revision_id: Any) -> dict:
        pr = self.get_pr(pr_id)
        self._revision(pr, revision_id)
        who = pr.overrides.get(pr.revision_id)
        return {"overridden": who is not None, **({"overrider": who} if who else {})}

    def _pr_rule(self, pr: PullRequest, name: Any) -> ApprovalRule | None:
        if not name:
            raise error("ApprovalRuleNameRequiredException", "An approval rule name is required.")
        if not isinstance(name, str) or len(name) > 100:
            raise error("InvalidApprovalRuleNameException", f"The approval rule name {name} is not valid.")
        return next((r for r in pr.rules if r.name == name), None)

    @_locked
    def create_pr_rule(self, pr_id: Any, name: Any, content: Any, user_arn: str) -> ApprovalRule:
        pr = self.get_pr(pr_id)
        if self._pr_rule(pr, name) is not None:
            raise error("ApprovalRuleNameAlreadyExistsException", f"An approval rule named {name} already exists "
                                                                  "for this pull request.")
        parse_rule_content(content, for_template=False)
        self._require_open(pr)
        if len(pr.rules) >= 25:
            raise error("NumberOfRulesExceededException", "The pull request has the maximum number of approval "
                                                          "rules (25).")
        rule = ApprovalRule(name, content, user_arn)
        pr.rules.append(rule)
        pr.event("PULL_REQUEST_APPROVAL_RULE_CREATED", user_arn, approvalRuleEventMetadata={
            "approvalRuleName": name, "approvalRuleId": rule.id, "approvalRuleContent": content})
        return rule

    @_locked
    def update_pr_rule(self, pr_id: Any, name: Any, existing_sha: Any, content: Any, user_arn: str) -> ApprovalRule:
        pr = self.get_pr(pr_id)
        rule = self._pr_rule(pr, name)
        if rule is None:
            raise error("ApprovalRuleDoesNotExistException", f"The approval rule {name} does not exist.")
        parse_rule_content(content, for_template=False)
        if existing_sha and existing_sha != _sha256(rule.content):
            raise error("InvalidRuleContentSha256Exception", "The SHA-256 hash signature for the rule content is "
                                                             "not valid.")
        self._require_open(pr)
        rule.content, rule.user_arn, rule.last_modified = content, user_arn, _now()
        pr.event("PULL_REQUEST_APPROVAL_RULE_UPDATED", user_arn, approvalRuleEventMetadata={
            "approvalRuleName": name, "approvalRuleId": rule.id, "approvalRuleContent": content})
        return rule

    @_locked
    def delete_pr_rule(self, pr_id: Any, name: Any, user_arn: str) -> str:
        pr = self.get_pr(pr_id)
        rule = self._pr_rule(pr, name)
        if rule is None:
            return ""
        if rule.origin is not None:
            raise error("CannotDeleteApprovalRuleFromTemplateException",
                        "The approval rule cannot be deleted from the pull request because it was created by "
                        "an approval rule template and applied to the pull request automatically.")
        self._require_open(pr)
        pr.rules.remove(rule)
        pr.event("PULL_REQUEST_APPROVAL_RULE_DELETED", user_arn, approvalRuleEventMetadata={
            "approvalRuleName": name, "approvalRuleId": rule.id})
        return rule.id

    @_locked
    def pr_events(self, pr_id: Any, kind: Any, actor: Any, next_token: Any, max_results: Any):
        pr = self.get_pr(pr_id)
        events = [e for e in pr.events if (not kind or e["pullRequestEventType"] == kind)
                  and (not actor or e["actorArn"] == actor)]
        return _page(events, next_token, max_results, 100)

    # -- approval rule templates ----------------------------------------------------------
    def _template(self, name: Any) -> ApprovalRuleTemplate:
        _validate_template_name(name)
        template = self.templates.get(name)
        if template is None:
            raise error("ApprovalRuleTemplateDoesNotExistException",
                        f"The approval rule template {name} does not exist.")
        return template

    @_locked
    def create_template(self, name: Any, content: Any, description: Any, user_arn: str) -> ApprovalRuleTemplate:
        _validate_template_name(name)
        parse_rule_content(content, for_template=True)
        if description is not None and (not isinstance(description, str) or len(description) > 1000):
            raise error("InvalidApprovalRuleTemplateDescriptionException", "The description is not valid.")
        if name in self.templates:
            raise error("ApprovalRuleTemplateNameAlreadyExistsException",
                        f"An approval rule template named {name} already exists.")
        if len(self.templates) >= 1000:
            raise error("NumberOfRuleTemplatesExceededException", "The maximum number of approval rule "
                                                                  "templates (1000) has been exceeded.")
        template = ApprovalRuleTemplate(name, content, description or "", user_arn)
        self.templates[name] = template
        return template

    @_locked
    def get_template(self, name: Any) -> ApprovalRuleTemplate:
        return self._template(name)

    @_locked
    def list_templates(self, next_token: Any, max_results: Any):
        return _page(sorted(self.templates), next_token, max_results, 100)

    @_locked
    def update_template_content(self, name: Any, content: Any, existing_sha: Any, user_arn: str):
        template = self._template(name)
        parse_rule_content(content, for_template=True)
        if existing_sha and existing_sha != _sha256(template.content):
            raise error("InvalidRuleContentSha256Exception", "The SHA-256 hash signature for the rule content is "
                                                             "not valid.")
        template.content, template.user_arn, template.last_modified = content, user_arn, _now()
        return template

    @_locked
    def update_template_name(self, old: Any, new: Any, user_arn: str):
        template = self._template(old)
        _validate_template_name(new)
        if new != old and new in self.templates:
            raise error("ApprovalRuleTemplateNameAlreadyExistsException",
                        f"An approval rule template named {new} already exists.")
        del self.templates[old]
        template.name, template.user_arn, template.last_modified = new, user_arn, _now()
        self.templates[new] = template
        return template

    @_locked
    def update_template_description(self, name: Any, description: Any, user_arn: str):
        template = self._template(name)
        if description is None or not isinstance(description, str) or len(description) > 1000:
            raise error("InvalidApprovalRuleTemplateDescriptionException", "The description is not valid.")
        template.description, template.user_arn, template.last_modified = description, user_arn, _now()
        return template

    @_locked
    def delete_template(self, name: Any) -> str:
        _validate_template_name(name)
        template = self.templates.get(name)
        if template is None:
            return ""
        if template.repository_ids:
            raise error("ApprovalRuleTemplateInUseException",
                        "The approval rule template is associated with one or more repositories. You cannot "
                        "delete a template that is associated with a repository. Remove all associations, and "
                        "then try again.")
        del self.templates[name]
        return template.id

    @_locked
    def associate(self, name: Any, repo_name: Any, associate: bool) -> None:
        template = self._template(name)
        repo = self.get_repo(repo_name)
        if associate:
            if len([t for t in self.templates.values() if repo.id in t.repository_ids]) >= 10 \
                    and repo.id not in template.repository_ids:
                raise error("MaximumRuleTemplatesAssociatedWithRepositoryException",
                            "The maximum number of approval rule templates for a repository (10) has been "
                            "exceeded.")
            template.repository_ids.add(repo.id)
        else:
            template.repository_ids.discard(repo.id)

    @_locked
    def batch_associate(self, name: Any, repo_names: Any, associate: bool) -> tuple[list[str], list[dict]]:
        self._template(name)
        if not repo_names:
            raise error("RepositoryNamesRequiredException", "At least one repository name is required.")
        if not isinstance(repo_names, list) or len(repo_names) > 25:
            raise error("MaximumRepositoryNamesExceededException", "The maximum number of allowed repository "
                                                                   "names (25) was exceeded.")
        done, errors = [], []
        for repo_name in repo_names:
            try:
                self.associate(name, repo_name, associate)
                done.append(repo_name)
            except CodeCommitError as exc:
                errors.append({"repositoryName": repo_name, "errorCode": exc.error_type,
                               "errorMessage": exc.message})
        return done, errors

    @_locked
    def templates_for_repository(self, repo_name: Any, next_token: Any, max_results: Any):
        repo = self.get_repo(repo_name)
        names = sorted(t.name for t in self.templates.values() if repo.id in t.repository_ids)
        return _page(names, next_token, max_results, 100)

    @_locked
    def repositories_for_template(self, name: Any, next_token: Any, max_results: Any):
        template = self._template(name)
        names = sorted(r.name for r in self.repositories.values() if r.id in template.repository_ids)
        return _page(names, next_token, max_results, 100)

    # -- triggers ----------------------------------------------------------------------
    def _parse_triggers(self, repo: Repository, triggers: Any) -> list[Trigger]:
        if triggers is None:
            raise error("RepositoryTriggersListRequiredException", "The list of triggers for the repository is "
                                                                   "required, but was not specified.")
        if not isinstance(triggers, list):
            raise error("RepositoryTriggersListRequiredException", "The list of triggers must be a list.")
        if len(triggers) > 10:
            raise error("MaximumRepositoryTriggersExceededException", "The number of triggers allowed for the "
                                                                      "repository was exceeded (10).")
        parsed, names = [], set()
        for item in triggers:
            item = item if isinstance(item, dict) else {}
            name = item.get("name")
            if not name:
                raise error("RepositoryTriggerNameRequiredException", "A name for the trigger is required.")
            if not isinstance(name, str) or len(name) > 100 or name in names:
                raise error("InvalidRepositoryTriggerNameException", f"The name of the trigger {name} is not "
                                                                     "valid (or is used twice).")
            names.add(name)
            arn = item.get("destinationArn")
            if not arn:
                raise error("RepositoryTriggerDestinationArnRequiredException",
                            "A destination ARN for the target service for the trigger is required.")
            match = re.match(r"^arn:aws[\w-]*:(sns|lambda):([\w-]+):(\d{12}):(.+)$", str(arn))
            if not match:
                raise error("InvalidRepositoryTriggerDestinationArnException",
                            f"The Amazon Resource Name (ARN) {arn} for the trigger is not valid. Specify the ARN "
                            "of an Amazon SNS topic or an AWS Lambda function.")
            if match.group(2) != repo.region:
                raise error("InvalidRepositoryTriggerRegionException",
                            "The AWS Region for the trigger target does not match the AWS Region for the "
                            "repository. Triggers must be created in the same AWS Region as the target.")
            events = item.get("events")
            if events is None:
                raise error("RepositoryTriggerEventsListRequiredException", "At least one event for the trigger "
                                                                            "is required.")
            if not isinstance(events, list) or not events \
                    or any(not isinstance(e, str) or e not in _TRIGGER_EVENTS for e in events) \
                    or ("all" in events and len(events) > 1):
                raise error("InvalidRepositoryTriggerEventsException",
                            "One or more events specified for the trigger is not valid. Use all, "
                            "updateReference, createReference or deleteReference (all alone).")
            branches = item.get("branches", [])
            if not isinstance(branches, list):
                raise error("InvalidRepositoryTriggerBranchNameException", "The branches must be a list.")
            if len(branches) > 100:
                raise error("MaximumBranchesExceededException", "The number of branches for the trigger was "
                                                                "exceeded (100).")
            for branch in branches:
                try:
                    validate_branch_name(branch)
                except CodeCommitError:
                    raise error("InvalidRepositoryTriggerBranchNameException",
                                f"The branch name {branch!r} for the trigger is not valid.")
            custom = item.get("customData") or ""
            if not isinstance(custom, str) or len(custom) > 1000:
                raise error("InvalidRepositoryTriggerCustomDataException", "The custom data for the trigger is "
                                                                           "not valid (1000 characters at most).")
            parsed.append(Trigger(name, arn, list(events), list(branches), custom))
        return parsed

    @_locked
    def put_triggers(self, repo_name: Any, triggers: Any) -> str:
        repo = self.get_repo(repo_name)
        repo.triggers = self._parse_triggers(repo, triggers)
        repo.trigger_config_id = str(uuid.uuid4())
        return repo.trigger_config_id

    @_locked
    def get_triggers(self, repo_name: Any) -> tuple[str, list[Trigger]]:
        repo = self.get_repo(repo_name)
        return repo.trigger_config_id, list(repo.triggers)

    @_locked
    def test_triggers(self, repo_name: Any, triggers: Any, user_arn: str) -> tuple[list[str], list[dict]]:
        repo = self.get_repo(repo_name)
        ok, failed = [], []
        for trigger in self._parse_triggers(repo, triggers):
            branch = (trigger.branches or [repo.default_branch or "main"])[0]
            commit = repo.branch_sha(branch) or ""
            problem = self._publish(repo, trigger, [{"commit": commit, "ref": f"refs/heads/{branch}"}],
                                    user_arn, "TriggerEventTest")
            if problem:
                failed.append({"trigger": trigger.name, "failureMessage": problem})
            else:
                ok.append(trigger.name)
        return ok, failed

    def _publish(self, repo: Repository, trigger: Trigger, references: list[dict], user_arn: str,
                 event_name: str) -> str | None:
        """Send AWS's trigger message to the target; a problem is returned, never raised."""
        now = get_clock().now()
        record = {
            "awsRegion": repo.region,
            "codecommit": {"references": references},
            "customData": trigger.custom_data,
            "eventId": str(uuid.uuid4()),
            "eventName": event_name,
            "eventPartNumber": 1,
            "eventSource": "aws:codecommit",
            "eventSourceARN": repo.arn,
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000",
            "eventTotalParts": 1,
            "eventTriggerConfigId": repo.trigger_config_id,
            "eventTriggerName": trigger.name,
            "eventVersion": "1.0",
            "userIdentityARN": user_arn,
        }
        parts = trigger.destination_arn.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        if service != "sns":
            return (f"The workshop cloud does not invoke Lambda functions from triggers: "
                    f"{trigger.destination_arn} was not called.")
        try:
            from moto.sns.models import sns_backends

            sns_backends[account][region].publish(json.dumps({"Records": [record]}), arn=trigger.destination_arn)
        except Exception as exc:  # a missing topic must not fail a push
            log.info("trigger %s on %s: %s", trigger.name, repo.arn, exc)
            return f"Could not publish to {trigger.destination_arn}: {exc}"
        return None

    # -- every reference change passes here ------------------------------------------------
    def _move_ref(self, repo: Repository, ref: str, new: str | None, old: str | None, user_arn: str,
                  outdated: str = "ParentCommitIdOutdatedException") -> None:
        if not git_ops.set_ref(repo.git, ref, new, old):
            raise error(outdated, f"The reference {ref} was changed by someone else meanwhile. "
                                  "Get its latest commit ID and try again.")
        self.after_ref_changes(repo, [(ref, old, new)], user_arn)

    @_locked
    def after_ref_changes(self, repo: Repository, changes: list[tuple[str, str | None, str | None]],
                          user_arn: str) -> None:
        """What follows a push or an API write: default branch, pull requests, triggers, events."""
        if not changes:
            return
        repo.last_modified = _now()
        if repo.default_branch is None or repo.branch_sha(repo.default_branch) is None:
            names = git_ops.branches(repo.git)
            pushed = [ref[len("refs/heads/"):] for ref, _, new in changes
                      if new and ref.startswith("refs/heads/")]
            choice = "main" if "main" in names else (pushed[0] if pushed else (sorted(names)[0] if names else None))
            repo.default_branch = choice
            git_ops.set_head(repo.git, choice)
        moved = {ref: (old, new) for ref, old, new in changes}
        for pr in list(self.pull_requests.values()):
            if pr.repository is repo and pr.status == "OPEN":
                self._refresh(pr)
                if pr.destination_ref in moved:
                    self._close_if_merged(pr, *moved[pr.destination_ref], user_arn)
        for trigger in repo.triggers:
            references = []
            for ref, old, new in changes:
                kind = "createReference" if old is None else "deleteReference" if new is None else "updateReference"
                if trigger.matches(ref, kind):
                    item = {"commit": new or old, "ref": ref}
                    if old is None:
                        item["created"] = True
                    if new is None:
                        item["deleted"] = True
                    references.append(item)
            if references:
                self._publish(repo, trigger, references, user_arn, "ReferenceChanges")
        _put_events(repo, changes, user_arn)
        try:
            services.announce("codecommit.references-changed", repo=repo, changes=changes, user_arn=user_arn)
        except Exception:  # a subscriber never fails a push
            log.exception("a subscriber of codecommit.references-changed failed on %s", repo.arn)

    def _close_if_merged(self, pr: PullRequest, old: str | None, new: str | None, user_arn: str) -> None:
        """A pull request whose source just arrived in its destination (merged with git) is merged."""
        git = pr.repository.git
        if not new or not pr.source_commit or not git_ops.is_ancestor(git, pr.source_commit, new):
            return
        if old and git_ops.is_ancestor(git, pr.source_commit, old):
            return  # it was there before this change: not this change's doing
        pr.merge_metadata = {"isMerged": True, "mergedBy": user_arn, "mergeCommitId": new}
        pr.status = "CLOSED"
        pr.event("PULL_REQUEST_MERGE_STATE_CHANGED", user_arn, pullRequestMergedStateChangedEventMetadata={
            "repositoryName": pr.repository.name, "destinationReference": pr.destination_ref,
            "mergeMetadata": dict(pr.merge_metadata)})


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


def _validate_template_name(name: Any) -> None:
    if not name:
        raise error("ApprovalRuleTemplateNameRequiredException", "An approval rule template name is required.")
    if not isinstance(name, str) or len(name) > _TEMPLATE_NAME_MAX:
        raise error("InvalidApprovalRuleTemplateNameException", f"The name of the approval rule template "
                                                                f"{name!r} is not valid.")


def _merge_settings(level: Any, strategy: Any) -> tuple[str, str]:
    level = level or "LINE_LEVEL"
    strategy = strategy or "NONE"
    if level not in ("FILE_LEVEL", "LINE_LEVEL"):
        raise error("InvalidConflictDetailLevelException", f"The conflict detail level {level} is not valid.")
    if strategy not in ("NONE", "ACCEPT_SOURCE", "ACCEPT_DESTINATION", "AUTOMERGE"):
        raise error("InvalidConflictResolutionStrategyException",
                    f"The conflict resolution strategy {strategy} is not valid.")
    return level, strategy


def _check_path_conflicts(entries: git_ops.Entries, path: str) -> None:
    parts = path.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in entries:
            raise error("DirectoryNameConflictsWithFileNameException",
                        f"A file exists at {'/'.join(parts[:i])}, where {path} needs a folder.")
    prefix = path + "/"
    if any(p.startswith(prefix) for p in entries):
        raise error("FileNameConflictsWithDirectoryNameException",
                    f"A folder exists at {path}; a file cannot have the same name.")


def _under(entries: git_ops.Entries, path: Any, which: str) -> git_ops.Entries:
    if not path:
        return entries
    clean = normalize_path(path)
    if clean in entries:
        return {clean: entries[clean]}
    prefix = clean + "/"
    picked = {p: e for p, e in entries.items() if p.startswith(prefix)}
    if not picked:
        raise error("PathDoesNotExistException", f"The specified {which} path {path} does not exist.")
    return picked


def _current_mode(entries: git_ops.Entries, path: str) -> str:
    return git_ops.mode_name(entries[path][0]) if path in entries else "NORMAL"


def _file_json(path: str, entry: tuple[int, str]) -> dict:
    return {"absolutePath": path, "blobId": entry[1], "fileMode": git_ops.mode_name(entry[0])}


def _parse_ident(ident: bytes, when: int, tz: int) -> dict:
    text = ident.decode("utf-8", "replace")
    match = re.match(r"^(.*?)\s*<([^>]*)>\s*$", text)
    name, email = (match.group(1), match.group(2)) if match else (text, "")
    sign = "-" if tz < 0 else "+"
    tz = abs(tz)
    return {"name": name, "email": email, "date": f"{when} {sign}{tz // 3600:02d}{(tz % 3600) // 60:02d}"}


def commit_json(commit) -> dict:
    return {"commitId": commit.id.decode(), "treeId": commit.tree.decode(),
            "parents": [p.decode() for p in commit.parents],
            "message": commit.message.decode("utf-8", "replace"),
            "author": _parse_ident(commit.author, commit.author_time, commit.author_timezone),
            "committer": _parse_ident(commit.committer, commit.commit_time, commit.commit_timezone),
            "additionalData": ""}


def _conflict_json(repo: Repository, conflict: git_ops.Conflict) -> dict:
    def size(entry):
        if not entry or entry[0] == git_ops.MODE_GITLINK:
            return 0
        return len(git_ops.blob_data(repo.git, entry[1]) or b"")

    def kind(entry):
        if entry is None:
            return None
        return {git_ops.MODE_GITLINK: "GIT_LINK", git_ops.MODE_SYMLINK: "SYMBOLIC_LINK"}.get(entry[0], "FILE")

    def operation(side):
        if side is None:
            return "D"
        return "A" if conflict.base is None else "M"

    sides = {"source": conflict.source, "destination": conflict.destination, "base": conflict.base}
    return {
        "filePath": conflict.path,
        "fileSizes": {k: size(v) for k, v in sides.items()},
        "fileModes": {k: git_ops.mode_name(v[0]) for k, v in sides.items() if v},
        "objectTypes": {k: kind(v) for k, v in sides.items() if v},
        "numberOfConflicts": conflict.hunks,
        "isBinaryFile": {k: b"\0" in (git_ops.blob_data(repo.git, v[1]) or b"") if v else False
                         for k, v in sides.items()},
        "contentConflict": conflict.content,
        "fileModeConflict": conflict.mode,
        "objectTypeConflict": conflict.object_type,
        "mergeOperations": {"source": operation(conflict.source), "destination": operation(conflict.destination)},
    }


def _put_events(repo: Repository, changes: list, user_arn: str) -> None:
    """EventBridge's "CodeCommit Repository State Change" events, when the account uses EventBridge."""
    import sys

    events_models = sys.modules.get("moto.events.models")
    if events_models is None or repo.account_id not in dict.keys(events_models.events_backends):
        return
    entries = []
    for ref, old, new in changes:
        kind = "referenceCreated" if old is None else "referenceDeleted" if new is None else "referenceUpdated"
        ref_type = "branch" if ref.startswith("refs/heads/") else "tag" if ref.startswith("refs/tags/") else "ref"
        detail = {"event": kind, "repositoryName": repo.name, "repositoryId": repo.id, "referenceType": ref_type,
                  "referenceName": ref.split("/", 2)[-1], "referenceFullName": ref, "callerUserArn": user_arn}
        if new:
            detail["commitId"] = new
        if old:
            detail["oldCommitId"] = old
        entries.append({"Source": "aws.codecommit", "DetailType": "CodeCommit Repository State Change",
                        "Detail": json.dumps(detail), "Resources": [repo.arn], "EventBusName": "default"})
    try:
        backend = events_models.events_backends[repo.account_id][repo.region]
        for i in range(0, len(entries), 10):
            backend.put_events(entries[i:i + 10])
    except Exception:  # events are a courtesy; a push never fails on them
        log.debug("could not put CodeCommit events", exc_info=True)


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
