"""Source actions: CodeCommit (the commit a push brought, or the branch's
head, exported as a zip artifact with AWS's output variables) and S3 (the
object, or the version asked for, copied into the artifact store)."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from workshop.cloud import runtime, services
from workshop.cloud.services.codepipeline.actions.base import (
    ActionContext,
    ActionFailed,
    Handler,
    Result,
    read_object_versioned,
    zip_files,
)


def _git_date(value: str) -> tuple[datetime, str]:
    """CodeCommit's "EPOCH +ZZZZ" as a datetime and AWS's ISO text."""
    try:
        when = datetime.fromtimestamp(int(value.split()[0]), tz=timezone.utc)
    except (ValueError, IndexError, AttributeError):
        when = datetime.now(timezone.utc)
    return when, when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _folder_files(root: Path) -> dict[str, tuple[bytes, int]]:
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            # A link is kept as its target's text, as git stores it.
            files[path.relative_to(root).as_posix()] = (os.readlink(path).encode(), 0o644)
        elif path.is_file():
            files[path.relative_to(root).as_posix()] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return files


class CodeCommitSource(Handler):
    def start(self, ctx: ActionContext) -> Result:
        services.ensure_loaded("codecommit")
        from workshop.cloud.services.codecommit import models as codecommit

        repo_name, branch = ctx.config["RepositoryName"], ctx.config["BranchName"]
        override = ctx.execution.source_overrides.get(ctx.run.name)
        backend = codecommit.backend(ctx.account, ctx.region)
        try:
            backend.get_repo(repo_name)
        except Exception:
            raise ActionFailed(f"The action failed because the AWS CodeCommit repository {repo_name} does not "
                               "exist or the pipeline's role cannot reach it. Check the repository name.",
                               "ConfigurationError") from None
        if override and override[0] == "COMMIT_ID":
            ref = override[1]
        else:
            try:
                ref = backend.get_branch(repo_name, branch)
            except Exception:
                raise ActionFailed(f"The action failed because no branch named {branch} was found in the "
                                   f"selected AWS CodeCommit repository {repo_name}. Make sure you are using the "
                                   "correct branch name, and then try again.", "ConfigurationError") from None
        work = runtime.account_dir("codepipeline", ctx.account, ctx.region)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            try:
                commit_id = codecommit.checkout(ctx.account, ctx.region, repo_name, ref, tmp)
            except Exception as exc:
                raise ActionFailed(f"Could not get commit {ref} of {repo_name}: "
                                   f"{getattr(exc, 'message', None) or exc}") from None
            data = zip_files(_folder_files(Path(tmp)))
        commit = backend.get_commit(repo_name, commit_id)
        message = commit["message"].strip()
        author_when, author_date = _git_date(commit["author"]["date"])
        _, committer_date = _git_date(commit["committer"]["date"])
        url = (f"https://console.aws.amazon.com/codesuite/codecommit/repositories/{repo_name}/commit/"
               f"{commit_id}?region={ctx.region}")
        ctx.write_output(ctx.output_names()[0], data)
        run = ctx.run
        run.external_id, run.external_url = commit_id, url
        run.output_variables = {"CommitId": commit_id, "CommitMessage": message, "RepositoryName": repo_name,
                                "BranchName": branch, "AuthorDate": author_date, "CommitterDate": committer_date}
        run.revision = {"revisionId": commit_id, "revisionSummary": message, "revisionUrl": url,
                        "created": author_when}
        return Result.succeeded(message)


class S3Source(Handler):
    def start(self, ctx: ActionContext) -> Result:
        bucket, key = ctx.config["S3Bucket"], ctx.config["S3ObjectKey"]
        version = None
        override = ctx.execution.source_overrides.get(ctx.run.name)
        if override and override[0] == "S3_OBJECT_VERSION_ID":
            version = override[1]
        elif override and override[0] == "S3_OBJECT_KEY":
            if str(ctx.config.get("AllowOverrideForS3ObjectKey", "")).lower() != "true":
                raise ActionFailed("S3_OBJECT_KEY overrides need AllowOverrideForS3ObjectKey true",
                                   "ConfigurationError")
            key = override[1]
        data, version_id, etag = read_object_versioned(ctx.account, bucket, key, version)
        ctx.write_output(ctx.output_names()[0], data)
        etag = (etag or "").strip('"')
        revision = version_id or etag
        run = ctx.run
        run.external_id = revision
        run.output_variables = {"ObjectKey": key, "ETag": etag}
        if version_id:
            run.output_variables["VersionId"] = version_id
        summary = f"Amazon S3 version id: {version_id}" if version_id else f"Amazon S3 object {key}"
        run.revision = {"revisionId": revision, "revisionSummary": summary,
                        "revisionUrl": f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}"}
        return Result.succeeded(summary)
