"""``AWS::CodeCommit::Repository`` for CloudFormation (and so CDK): name,
description, tags, triggers, and an initial commit from a zip in S3
(``Code.S3`` on ``Code.BranchName``). moto finds it as a CloudFormationModel."""

from __future__ import annotations

import io
import stat
import zipfile
from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource
from workshop.cloud.services.cloudformation.resource_types import NEVER, TypeRules, register, tag_list
from workshop.cloud.services.codecommit import git_ops, models
from workshop.cloud.services.codecommit.exceptions import error


class CodeCommitRepositoryResource(CfnResource, CloudFormationModel):
    """What a stack holds for a repository: the way back to it in the backend."""

    cfn_type = "AWS::CodeCommit::Repository"
    cfn_name_property = "RepositoryName"
    cfn_attributes = {"Arn": "arn", "CloneUrlHttp": "clone_url_http", "CloneUrlSsh": "clone_url_ssh",
                      "Name": "name", "KmsKeyId": "kms_key_id"}
    ref_attribute = "repository_id"  # Ref answers the repository ID, as in AWS
    backend = staticmethod(models.backend)

    def __init__(self, repository: models.Repository | None = None):
        self.repository, self.properties = repository, {}

    # The repository may be renamed in place: every value is read from it.
    repository_id = property(lambda self: self.repository.id)
    name = property(lambda self: self.repository.name)
    kms_key_id = property(lambda self: self.repository.kms_key_id)
    arn = property(lambda self: self.repository.metadata()["Arn"])
    clone_url_http = property(lambda self: self.repository.metadata()["cloneUrlHttp"])
    clone_url_ssh = property(lambda self: self.repository.metadata()["cloneUrlSsh"])

    @classmethod
    def _create(cls, backend: models.CodeCommitBackend, name: str, props: dict) -> CodeCommitRepositoryResource:
        with backend.lock:
            repo = backend.create_repository(props.get("RepositoryName") or name,
                                             props.get("RepositoryDescription"), _tags(props.get("Tags")),
                                             props.get("KmsKeyId"))
            try:
                if props.get("Triggers"):
                    backend.put_triggers(repo.name, _triggers(props["Triggers"]))
                if props.get("Code"):
                    _initial_commit(backend, repo, props["Code"], backend.account_id)
            except Exception:
                backend.delete_repository(repo.name)
                raise
        return cls(repo)

    def _update(self, backend: models.CodeCommitBackend, name: str, props: dict) -> CodeCommitRepositoryResource:
        repo = self.repository
        with backend.lock:
            new_name = props.get("RepositoryName") or name
            if new_name != repo.name:
                backend.update_repository_name(repo.name, new_name)
            if props.get("RepositoryDescription") != repo.description:
                backend.update_repository_description(repo.name, props.get("RepositoryDescription"))
            backend.put_triggers(repo.name, _triggers(props.get("Triggers") or []))
            repo.tags = dict(_tags(props.get("Tags")))
        # Code is only used when the repository is created (as in AWS).
        return self

    @classmethod
    def _restore(cls, backend: models.CodeCommitBackend, physical_id: str, props: dict) -> CodeCommitRepositoryResource:
        return cls(backend.repo_by_id(physical_id) or backend.repositories.get(physical_id))

    def _delete(self, backend: models.CodeCommitBackend) -> None:
        with backend.lock:  # only this repository, not a later one of the same name
            if self.repository is not None and backend.repositories.get(self.repository.name) is self.repository:
                backend.delete_repository(self.repository.name)


def _tags(tags: Any) -> dict:
    if not tags:
        return {}
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t.get("Key")): str(t.get("Value", "")) for t in tags if isinstance(t, dict)}


def _triggers(triggers: Any) -> list[dict]:
    out = []
    for t in triggers if isinstance(triggers, list) else []:
        t = t if isinstance(t, dict) else {}
        out.append({"name": t.get("Name"), "destinationArn": t.get("DestinationArn"),
                    "customData": t.get("CustomData"), "branches": t.get("Branches") or [],
                    "events": t.get("Events") or ["all"]})
    return out


def _initial_commit(backend: models.CodeCommitBackend, repo: models.Repository, code: Any,
                    account_id: str) -> None:
    """The zip at Code.S3 becomes the first commit on Code.BranchName (main by default)."""
    s3 = (code or {}).get("S3") if isinstance(code, dict) else None
    if not isinstance(s3, dict) or not s3.get("Bucket") or not s3.get("Key"):
        raise error("InvalidParameterValueException", "Code.S3 needs Bucket and Key of a zip file.")
    from moto.s3.models import s3_backends

    try:
        key = s3_backends[account_id]["aws"].get_object(s3["Bucket"], s3["Key"], version_id=s3.get("ObjectVersion"))
    except Exception as exc:
        raise error("InvalidParameterValueException",
                    f"Code.S3: cannot read s3://{s3['Bucket']}/{s3['Key']}: {exc}")
    if key is None:
        raise error("InvalidParameterValueException", f"Code.S3: s3://{s3['Bucket']}/{s3['Key']} does not exist.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(key.value))
    except zipfile.BadZipFile:
        raise error("InvalidParameterValueException", f"Code.S3: s3://{s3['Bucket']}/{s3['Key']} is not a zip file.")
    entries: git_ops.Entries = {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        path = models.normalize_path(info.filename)
        unix_mode = info.external_attr >> 16
        mode = (git_ops.MODE_SYMLINK if stat.S_ISLNK(unix_mode) else
                git_ops.MODE_EXECUTABLE if unix_mode & 0o111 else git_ops.MODE_NORMAL)
        entries[path] = (mode, git_ops.add_blob(repo.git, archive.read(info)))
    if not entries:
        return
    branch = models.validate_branch_name(code.get("BranchName") or "main")
    tree_id = git_ops.build_tree(repo.git, entries)
    signature = git_ops.Signature("AWS CloudFormation", "", int(models._now()))
    commit_id = git_ops.make_commit(repo.git, tree_id, [], "Initial commit by AWS CloudFormation", signature)
    backend._move_ref(repo, f"refs/heads/{branch}", commit_id, None, f"arn:aws:iam::{account_id}:root")


class RepositoryRules(TypeRules):
    type_name = "AWS::CodeCommit::Repository"
    drift_properties = frozenset({"RepositoryName", "RepositoryDescription", "Tags"})

    def requires_recreation(self, prop, name_property):
        return NEVER   # a repository is renamed in place (UpdateRepositoryName)

    def live(self, physical_id, props, account, region):
        backend = models.backend(account, region)
        repo = backend.repo_by_id(physical_id) or backend.repositories.get(physical_id)
        if repo is None:
            return None
        live = {"RepositoryName": repo.name}
        if repo.description:
            live["RepositoryDescription"] = repo.description
        tags = tag_list(repo.tags)
        if tags:
            live["Tags"] = tags
        return live


register(RepositoryRules())
