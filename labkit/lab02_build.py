"""Lab 02-build's helpers: its names (shared with its checks), the sample app
as the lab starts from it (with the bug planted), and its reset, which removes
the lab's project (with its builds, report groups and logs), repository,
bucket and role, and nothing else in the account."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from checker.labs import bucket_name, has_lab_tag
from checker.labs.lab02_build import BUCKET_PREFIX, FAILING_TEST, LAB_ID, PROJECT, REPO, ROLE
from labkit.reset import Cleanup, resetter
from labkit.sample import copy_sample_app, sample_app_path

__all__ = ["LAB_ID", "REPO", "PROJECT", "ROLE", "BUCKET_PREFIX", "FAILING_TEST", "buggy_sample_app", "reset"]

# Not in the learner's copy: the tool that plants (and fixes) the bug, and the app's own
# buildspec (the learner writes one).
_NOT_COPIED = ("tools", "buildspec.yml")


def _plant_tool():
    path = sample_app_path() / "tools" / "plant_bug.py"
    spec = importlib.util.spec_from_file_location("sample_app_plant_bug", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def buggy_sample_app(dest: str | Path) -> Path:
    """The sample app in ``dest`` as lab 02 starts from it: the bug planted (so that
    FAILING_TEST fails), without the tool that plants it and without its own buildspec."""
    dest = copy_sample_app(dest)
    _plant_tool().plant(dest)
    for name in _NOT_COPIED:
        path = dest / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return dest


# -- reset ------------------------------------------------------------------------------

def _lab_report_groups(cleanup: Cleanup) -> list[dict]:
    """Report groups the project's builds made (``PROJECT-<report>``) or tagged for the lab."""
    cb = cleanup.client("codebuild")
    arns: list[str] = []
    for page in cb.get_paginator("list_report_groups").paginate():
        arns += page.get("reportGroups", [])
    found = []
    for start in range(0, len(arns), 100):
        for group in cb.batch_get_report_groups(reportGroupArns=arns[start:start + 100]).get("reportGroups", []):
            if group.get("name", "").startswith(f"{PROJECT}-") or has_lab_tag(group.get("tags"), LAB_ID):
                found.append(group)
    return found


def _reset_project(cleanup: Cleanup) -> None:
    from botocore.exceptions import ClientError

    cb, logs = cleanup.client("codebuild"), cleanup.client("logs")
    projects = cb.batch_get_projects(names=[PROJECT]).get("projects", [])
    group = f"/aws/codebuild/{PROJECT}"
    if projects:
        group = ((projects[0].get("logsConfig") or {}).get("cloudWatchLogs") or {}).get("groupName") or group
        # AWS keeps a deleted project's builds: delete them, so a new project of the name starts clean.
        ids: list[str] = []
        for page in cb.get_paginator("list_builds_for_project").paginate(projectName=PROJECT):
            ids += page.get("ids", [])
        for build_id in ids:
            try:
                cb.stop_build(id=build_id)
            except ClientError:
                pass  # already finished
        deleted = 0
        for start in range(0, len(ids), 100):
            answer = cb.batch_delete_builds(ids=ids[start:start + 100])
            deleted += len(answer.get("buildsDeleted", []))
            for miss in answer.get("buildsNotDeleted", []):
                cleanup.could_not(f"delete build {miss.get('id')}: {miss.get('statusCode')}")
        cb.delete_project(name=PROJECT)
        cleanup.did(f"deleted project {PROJECT} and its {deleted} build(s)")
    for report_group in _lab_report_groups(cleanup):
        cb.delete_report_group(arn=report_group["arn"], deleteReports=True)
        cleanup.did(f"deleted report group {report_group['name']} and its reports")
    try:
        logs.delete_log_group(logGroupName=group)
        cleanup.did(f"deleted log group {group}")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            cleanup.could_not(f"delete log group {group}: {exc}")


def _reset_role(cleanup: Cleanup) -> None:
    from botocore.exceptions import ClientError

    iam = cleanup.client("iam")
    try:
        iam.get_role(RoleName=ROLE)
    except ClientError:
        return
    try:
        for name in iam.list_role_policies(RoleName=ROLE).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
        for policy in iam.list_attached_role_policies(RoleName=ROLE).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=ROLE, PolicyArn=policy["PolicyArn"])
        iam.delete_role(RoleName=ROLE)
    except ClientError as exc:
        cleanup.could_not(f"delete role {ROLE}: {exc}")
        return
    cleanup.did(f"deleted role {ROLE}")


def _reset_repository(cleanup: Cleanup) -> None:
    cc = cleanup.client("codecommit")
    if cc.delete_repository(repositoryName=REPO).get("repositoryId"):
        cleanup.did(f"deleted repository {REPO}")


@resetter(LAB_ID)
def reset(cleanup: Cleanup) -> None:
    _reset_project(cleanup)
    _reset_repository(cleanup)
    cleanup.delete_bucket(bucket_name(BUCKET_PREFIX, cleanup.account, cleanup.region))
    _reset_role(cleanup)
