"""CodeCommit's wire format (JSON 1.1): each method is one operation, named as
moto's dispatcher looks it up; it reads the request, calls the backend in
models.py and writes AWS's response shape. Added to moto's CodeCommitResponse."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from moto.codecommit.responses import CodeCommitResponse

from workshop.cloud import accounts
from workshop.cloud.services import extend
from workshop.cloud.services.codecommit import models
from workshop.cloud.services.codecommit.exceptions import error


def _blob(value: Any) -> bytes | None:
    """A blob member arrives base64-encoded in JSON."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise error("InvalidParameterValueException", "A blob value must be base64-encoded text.")
    try:
        return base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise error("InvalidParameterValueException", "A blob value is not valid base64.")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@extend(CodeCommitResponse)
class CodeCommitOperations:
    # -- plumbing ------------------------------------------------------------------
    @property
    def codecommit_backend(self) -> models.CodeCommitBackend:
        return models.backend(self.current_account, self.region)

    def _p(self, name: str, default: Any = None) -> Any:
        params = getattr(self, "_workshop_params", None)
        if params is None:
            try:
                params = json.loads(self.body or "{}")
            except (ValueError, TypeError):
                params = {}
            if not isinstance(params, dict):
                params = {}
            self._workshop_params = params
        value = params.get(name)
        return default if value is None else value

    def _user(self) -> str:
        return accounts.request_caller(self.headers.environ)["arn"]  # the cloud's one caller rule

    def _clone_base(self) -> str:
        """Clone URLs name the host and port this client used to reach the cloud."""
        host = self.headers.get("Host")
        if not host:
            return None
        scheme = self.headers.get("X-Forwarded-Proto") or "http"
        return f"{scheme}://{host}"

    @staticmethod
    def _json(payload: dict | None = None) -> str:
        return json.dumps(payload or {})

    # -- repositories ----------------------------------------------------------------
    def create_repository(self) -> str:
        repo = self.codecommit_backend.create_repository(
            self._p("repositoryName"), self._p("repositoryDescription"), self._p("tags"), self._p("kmsKeyId"))
        return self._json({"repositoryMetadata": repo.metadata(self._clone_base())})

    def get_repository(self) -> str:
        with self.codecommit_backend.lock:
            repo = self.codecommit_backend.get_repo(self._p("repositoryName"))
            return self._json({"repositoryMetadata": repo.metadata(self._clone_base())})

    def batch_get_repositories(self) -> str:
        found, missing = self.codecommit_backend.batch_get_repositories(self._p("repositoryNames"))
        base = self._clone_base()
        return self._json({
            "repositories": [r.metadata(base) for r in found], "repositoriesNotFound": missing,
            "errors": [{"repositoryName": n, "errorCode": "RepositoryDoesNotExistException",
                        "errorMessage": f"{n} does not exist"} for n in missing]})

    def list_repositories(self) -> str:
        repos, token = self.codecommit_backend.list_repositories(
            self._p("sortBy"), self._p("order"), self._p("nextToken"))
        out = {"repositories": [{"repositoryName": r.name, "repositoryId": r.id} for r in repos]}
        if token:
            out["nextToken"] = token
        return self._json(out)

    def delete_repository(self) -> str:
        repo_id = self.codecommit_backend.delete_repository(self._p("repositoryName"))
        return self._json({"repositoryId": repo_id} if repo_id else {})

    def update_repository_description(self) -> str:
        self.codecommit_backend.update_repository_description(
            self._p("repositoryName"), self._p("repositoryDescription"))
        return self._json()

    def update_repository_name(self) -> str:
        self.codecommit_backend.update_repository_name(self._p("oldName"), self._p("newName"))
        return self._json()

    def tag_resource(self) -> str:
        self.codecommit_backend.tag_resource(self._p("resourceArn"), self._p("tags"))
        return self._json()

    def untag_resource(self) -> str:
        self.codecommit_backend.untag_resource(self._p("resourceArn"), self._p("tagKeys"))
        return self._json()

    def list_tags_for_resource(self) -> str:
        with self.codecommit_backend.lock:
            repo = self.codecommit_backend.repo_for_arn(self._p("resourceArn"))
            return self._json({"tags": dict(repo.tags)})

    # -- branches ----------------------------------------------------------------------
    def create_branch(self) -> str:
        self.codecommit_backend.create_branch(self._p("repositoryName"), self._p("branchName"),
                                              self._p("commitId"), self._user())
        return self._json()

    def get_branch(self) -> str:
        branch = self._p("branchName")
        sha = self.codecommit_backend.get_branch(self._p("repositoryName"), branch)
        return self._json({"branch": {"branchName": branch, "commitId": sha}})

    def list_branches(self) -> str:
        names, token = self.codecommit_backend.list_branches(self._p("repositoryName"), self._p("nextToken"))
        return self._json({"branches": names, **({"nextToken": token} if token else {})})

    def delete_branch(self) -> str:
        branch = self._p("branchName")
        sha = self.codecommit_backend.delete_branch(self._p("repositoryName"), branch, self._user())
        return self._json({"deletedBranch": {"branchName": branch, "commitId": sha}} if sha else {})

    def update_default_branch(self) -> str:
        self.codecommit_backend.update_default_branch(self._p("repositoryName"), self._p("defaultBranchName"))
        return self._json()

    # -- files and commits -----------------------------------------------------------------
    def put_file(self) -> str:
        result = self.codecommit_backend.put_file(
            self._p("repositoryName"), self._p("branchName"), _blob(self._p("fileContent")), self._p("filePath"),
            self._p("fileMode"), self._p("parentCommitId"), self._p("commitMessage"), self._p("name"),
            self._p("email"), self._user())
        return self._json(result)

    def delete_file(self) -> str:
        result = self.codecommit_backend.delete_file(
            self._p("repositoryName"), self._p("branchName"), self._p("filePath"), self._p("parentCommitId"),
            bool(self._p("keepEmptyFolders", False)), self._p("commitMessage"), self._p("name"),
            self._p("email"), self._user())
        return self._json(result)

    def create_commit(self) -> str:
        put_files = self._p("putFiles") or []
        if not isinstance(put_files, list):
            put_files = []
        decoded = []
        for item in put_files:
            item = dict(item) if isinstance(item, dict) else {}
            if item.get("fileContent") is not None:
                item["fileContent"] = _blob(item["fileContent"])
            decoded.append(item)
        result = self.codecommit_backend.create_commit(
            self._p("repositoryName"), self._p("branchName"), self._p("parentCommitId"), self._p("authorName"),
            self._p("email"), self._p("commitMessage"), bool(self._p("keepEmptyFolders", False)), decoded,
            _list(self._p("deleteFiles")), _list(self._p("setFileModes")), self._user())
        return self._json(result)

    def get_file(self) -> str:
        result = self.codecommit_backend.get_file(self._p("repositoryName"), self._p("commitSpecifier"),
                                                  self._p("filePath"))
        result["fileContent"] = _b64(result["fileContent"])
        return self._json(result)

    def get_folder(self) -> str:
        return self._json(self.codecommit_backend.get_folder(
            self._p("repositoryName"), self._p("commitSpecifier"), self._p("folderPath")))

    def get_blob(self) -> str:
        data = self.codecommit_backend.get_blob(self._p("repositoryName"), self._p("blobId"))
        return self._json({"content": _b64(data)})

    def get_commit(self) -> str:
        return self._json({"commit": self.codecommit_backend.get_commit(self._p("repositoryName"),
                                                                        self._p("commitId"))})

    def batch_get_commits(self) -> str:
        commits, errors = self.codecommit_backend.batch_get_commits(self._p("repositoryName"),
                                                                    self._p("commitIds"))
        return self._json({"commits": commits, "errors": errors})

    def get_differences(self) -> str:
        diffs, token = self.codecommit_backend.get_differences(
            self._p("repositoryName"), self._p("beforeCommitSpecifier"), self._p("afterCommitSpecifier"),
            self._p("beforePath"), self._p("afterPath"), self._p("MaxResults"), self._p("NextToken"))
        return self._json({"differences": diffs, **({"NextToken": token} if token else {})})

    # -- merges ------------------------------------------------------------------------
    def _merge_args(self) -> dict:
        if self._p("conflictResolution"):
            raise error("InvalidConflictResolutionException",
                        "The workshop cloud does not take manual conflict resolutions: merge the branches "
                        "with git and push, or use conflictResolutionStrategy ACCEPT_SOURCE or "
                        "ACCEPT_DESTINATION.")
        return {"level": self._p("conflictDetailLevel"), "strategy": self._p("conflictResolutionStrategy"),
                "message": self._p("commitMessage"), "author": self._p("authorName"), "email": self._p("email"),
                "keep_empty": bool(self._p("keepEmptyFolders", False))}

    def _merge_branches(self, option: str) -> str:
        args = self._merge_args() if option != "FAST_FORWARD_MERGE" else {
            "level": None, "strategy": None, "message": None, "author": None, "email": None, "keep_empty": False}
        commit_id, tree_id = self.codecommit_backend.merge_branches(
            self._p("repositoryName"), option, self._p("sourceCommitSpecifier"),
            self._p("destinationCommitSpecifier"), self._p("targetBranch"), args["level"], args["strategy"],
            args["message"], args["author"], args["email"], args["keep_empty"], self._user())
        return self._json({"commitId": commit_id, "treeId": tree_id})

    def merge_branches_by_fast_forward(self) -> str:
        return self._merge_branches("FAST_FORWARD_MERGE")

    def merge_branches_by_squash(self) -> str:
        return self._merge_branches("SQUASH_MERGE")

    def merge_branches_by_three_way(self) -> str:
        return self._merge_branches("THREE_WAY_MERGE")

    def get_merge_conflicts(self) -> str:
        return self._json(self.codecommit_backend.get_merge_conflicts(
            self._p("repositoryName"), self._p("destinationCommitSpecifier"), self._p("sourceCommitSpecifier"),
            self._p("mergeOption"), self._p("conflictDetailLevel"), self._p("conflictResolutionStrategy")))

    def get_merge_options(self) -> str:
        return self._json(self.codecommit_backend.get_merge_options(
            self._p("repositoryName"), self._p("sourceCommitSpecifier"), self._p("destinationCommitSpecifier"),
            self._p("conflictDetailLevel"), self._p("conflictResolutionStrategy")))

    # -- pull requests -----------------------------------------------------------------
    def create_pull_request(self) -> str:
        pr = self.codecommit_backend.create_pull_request(
            self._p("title"), self._p("description"), self._p("targets"), self._p("clientRequestToken"),
            self._user())
        return self._json({"pullRequest": pr.to_json()})

    def get_pull_request(self) -> str:
        with self.codecommit_backend.lock:
            return self._json({"pullRequest": self.codecommit_backend.get_pr(self._p("pullRequestId")).to_json()})

    def list_pull_requests(self) -> str:
        ids, token = self.codecommit_backend.list_pull_requests(
            self._p("repositoryName"), self._p("authorArn"), self._p("pullRequestStatus"), self._p("nextToken"),
            self._p("maxResults"))
        return self._json({"pullRequestIds": ids, **({"nextToken": token} if token else {})})

    def update_pull_request_title(self) -> str:
        pr = self.codecommit_backend.update_pull_request(self._p("pullRequestId"), self._user(),
                                                         title=self._p("title"), field_name="title")
        return self._json({"pullRequest": pr.to_json()})

    def update_pull_request_description(self) -> str:
        pr = self.codecommit_backend.update_pull_request(self._p("pullRequestId"), self._user(),
                                                         description=self._p("description"),
                                                         field_name="description")
        return self._json({"pullRequest": pr.to_json()})

    def update_pull_request_status(self) -> str:
        pr = self.codecommit_backend.update_pull_request(self._p("pullRequestId"), self._user(),
                                                         status=self._p("pullRequestStatus"), field_name="status")
        return self._json({"pullRequest": pr.to_json()})

    def _merge_pull_request(self, option: str) -> str:
        args = self._merge_args() if option != "FAST_FORWARD_MERGE" else {}
        pr = self.codecommit_backend.merge_pull_request(
            self._p("pullRequestId"), self._p("repositoryName"), option, self._p("sourceCommitId"), self._user(),
            **args)
        return self._json({"pullRequest": pr.to_json()})

    def merge_pull_request_by_fast_forward(self) -> str:
        return self._merge_pull_request("FAST_FORWARD_MERGE")

    def merge_pull_request_by_squash(self) -> str:
        return self._merge_pull_request("SQUASH_MERGE")

    def merge_pull_request_by_three_way(self) -> str:
        return self._merge_pull_request("THREE_WAY_MERGE")

    def describe_pull_request_events(self) -> str:
        events, token = self.codecommit_backend.pr_events(
            self._p("pullRequestId"), self._p("pullRequestEventType"), self._p("actorArn"), self._p("nextToken"),
            self._p("maxResults"))
        return self._json({"pullRequestEvents": events, **({"nextToken": token} if token else {})})

    # -- approvals -------------------------------------------------------------------
    def create_pull_request_approval_rule(self) -> str:
        rule = self.codecommit_backend.create_pr_rule(self._p("pullRequestId"), self._p("approvalRuleName"),
                                                      self._p("approvalRuleContent"), self._user())
        return self._json({"approvalRule": rule.to_json()})

    def update_pull_request_approval_rule_content(self) -> str:
        rule = self.codecommit_backend.update_pr_rule(
            self._p("pullRequestId"), self._p("approvalRuleName"), self._p("existingRuleContentSha256"),
            self._p("newRuleContent"), self._user())
        return self._json({"approvalRule": rule.to_json()})

    def delete_pull_request_approval_rule(self) -> str:
        rule_id = self.codecommit_backend.delete_pr_rule(self._p("pullRequestId"), self._p("approvalRuleName"),
                                                         self._user())
        return self._json({"approvalRuleId": rule_id})

    def update_pull_request_approval_state(self) -> str:
        self.codecommit_backend.update_approval_state(self._p("pullRequestId"), self._p("revisionId"),
                                                      self._p("approvalState"), self._user())
        return self._json()

    def get_pull_request_approval_states(self) -> str:
        return self._json({"approvals": self.codecommit_backend.approval_states(
            self._p("pullRequestId"), self._p("revisionId"))})

    def evaluate_pull_request_approval_rules(self) -> str:
        return self._json({"evaluation": self.codecommit_backend.evaluate(
            self._p("pullRequestId"), self._p("revisionId"))})

    def override_pull_request_approval_rules(self) -> str:
        self.codecommit_backend.override(self._p("pullRequestId"), self._p("revisionId"),
                                         self._p("overrideStatus"), self._user())
        return self._json()

    def get_pull_request_override_state(self) -> str:
        return self._json(self.codecommit_backend.override_state(self._p("pullRequestId"),
                                                                 self._p("revisionId")))

    # -- approval rule templates --------------------------------------------------------
    def create_approval_rule_template(self) -> str:
        template = self.codecommit_backend.create_template(
            self._p("approvalRuleTemplateName"), self._p("approvalRuleTemplateContent"),
            self._p("approvalRuleTemplateDescription"), self._user())
        return self._json({"approvalRuleTemplate": template.to_json()})

    def get_approval_rule_template(self) -> str:
        template = self.codecommit_backend.get_template(self._p("approvalRuleTemplateName"))
        return self._json({"approvalRuleTemplate": template.to_json()})

    def list_approval_rule_templates(self) -> str:
        names, token = self.codecommit_backend.list_templates(self._p("nextToken"), self._p("maxResults"))
        return self._json({"approvalRuleTemplateNames": names, **({"nextToken": token} if token else {})})

    def update_approval_rule_template_content(self) -> str:
        template = self.codecommit_backend.update_template_content(
            self._p("approvalRuleTemplateName"), self._p("newRuleContent"), self._p("existingRuleContentSha256"),
            self._user())
        return self._json({"approvalRuleTemplate": template.to_json()})

    def update_approval_rule_template_name(self) -> str:
        template = self.codecommit_backend.update_template_name(
            self._p("oldApprovalRuleTemplateName"), self._p("newApprovalRuleTemplateName"), self._user())
        return self._json({"approvalRuleTemplate": template.to_json()})

    def update_approval_rule_template_description(self) -> str:
        template = self.codecommit_backend.update_template_description(
            self._p("approvalRuleTemplateName"), self._p("approvalRuleTemplateDescription"), self._user())
        return self._json({"approvalRuleTemplate": template.to_json()})

    def delete_approval_rule_template(self) -> str:
        template_id = self.codecommit_backend.delete_template(self._p("approvalRuleTemplateName"))
        return self._json({"approvalRuleTemplateId": template_id})

    def associate_approval_rule_template_with_repository(self) -> str:
        self.codecommit_backend.associate(self._p("approvalRuleTemplateName"), self._p("repositoryName"), True)
        return self._json()

    def disassociate_approval_rule_template_from_repository(self) -> str:
        self.codecommit_backend.associate(self._p("approvalRuleTemplateName"), self._p("repositoryName"), False)
        return self._json()

    def batch_associate_approval_rule_template_with_repositories(self) -> str:
        done, errors = self.codecommit_backend.batch_associate(
            self._p("approvalRuleTemplateName"), self._p("repositoryNames"), True)
        return self._json({"associatedRepositoryNames": done, "errors": errors})

    def batch_disassociate_approval_rule_template_from_repositories(self) -> str:
        done, errors = self.codecommit_backend.batch_associate(
            self._p("approvalRuleTemplateName"), self._p("repositoryNames"), False)
        return self._json({"disassociatedRepositoryNames": done, "errors": errors})

    def list_associated_approval_rule_templates_for_repository(self) -> str:
        names, token = self.codecommit_backend.templates_for_repository(
            self._p("repositoryName"), self._p("nextToken"), self._p("maxResults"))
        return self._json({"approvalRuleTemplateNames": names, **({"nextToken": token} if token else {})})

    def list_repositories_for_approval_rule_template(self) -> str:
        names, token = self.codecommit_backend.repositories_for_template(
            self._p("approvalRuleTemplateName"), self._p("nextToken"), self._p("maxResults"))
        return self._json({"repositoryNames": names, **({"nextToken": token} if token else {})})

    # -- triggers ---------------------------------------------------------------------
    def put_repository_triggers(self) -> str:
        config_id = self.codecommit_backend.put_triggers(self._p("repositoryName"), self._p("triggers"))
        return self._json({"configurationId": config_id})

    def get_repository_triggers(self) -> str:
        config_id, triggers = self.codecommit_backend.get_triggers(self._p("repositoryName"))
        return self._json({"configurationId": config_id, "triggers": [t.to_json() for t in triggers]})

    def test_repository_triggers(self) -> str:
        ok, failed = self.codecommit_backend.test_triggers(self._p("repositoryName"), self._p("triggers"),
                                                           self._user())
        return self._json({"successfulExecutions": ok, "failedExecutions": failed})


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
