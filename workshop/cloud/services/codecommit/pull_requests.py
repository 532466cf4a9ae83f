"""CodeCommit pull requests and their approval rules: pull requests, their events,
approvals and overrides, approval rules (their JSON content and approval pools),
and approval rule templates associated with repositories."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from dulwich.refs import check_ref_format

from workshop.cloud.services.codecommit import git_ops
from workshop.cloud.services.codecommit.exceptions import CodeCommitError, error
from workshop.cloud.services.codecommit.repositories import (
    _identity_name,
    _locked,
    _now,
    _page,
    _sha256,
    Repository,
)


RULE_VERSION = "2018-11-08"
_TEMPLATE_NAME_MAX = 100


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


class PullRequestOperations:
    """Pull requests, their approval rules and approval rule templates."""

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


def _validate_template_name(name: Any) -> None:
    if not name:
        raise error("ApprovalRuleTemplateNameRequiredException", "An approval rule template name is required.")
    if not isinstance(name, str) or len(name) > _TEMPLATE_NAME_MAX:
        raise error("InvalidApprovalRuleTemplateNameException", f"The name of the approval rule template "
                                                                f"{name!r} is not valid.")
