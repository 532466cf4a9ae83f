"""``workshop reset LAB``: delete what a lab created in the learner's account,
and nothing else. Each lab's labkit module registers one reset function with
``@resetter(LAB)``; writes go through the one session factory, ``checker.session``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

from checker.labs import has_lab_tag
from checker.session import Session, Target

# Lab id -> the labkit module that registers its reset function.
LAB_MODULES: dict[str, str] = {
    "00-dora": "labkit.lab00_dora",
    "01-source": "labkit.lab01_source",
    "02-build": "labkit.lab02_build",
    "03-deploy": "labkit.lab03_deploy",
    "04-iac": "labkit.lab04_iac",
    "05-containers": "labkit.lab05_containers",
    "06-observability": "labkit.lab06_observability",
}

_resetters: dict[str, Callable[["Cleanup"], None]] = {}

# Every stack status but DELETE_COMPLETE: the stacks that still exist.
_LIVE_STACKS = [
    "CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_COMPLETE", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED", "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE",
    "REVIEW_IN_PROGRESS", "IMPORT_IN_PROGRESS", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_IN_PROGRESS",
    "IMPORT_ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE",
]


def resetter(lab_id: str) -> Callable[[Callable], Callable]:
    """Register a lab's reset function: ``func(cleanup)`` deletes what the lab made."""

    def register(func: Callable[["Cleanup"], None]) -> Callable[["Cleanup"], None]:
        if lab_id in _resetters:
            raise ValueError(f"lab {lab_id} has two reset functions")
        _resetters[lab_id] = func
        return func

    return register


def get_resetter(lab_id: str) -> Callable[["Cleanup"], None]:
    if lab_id not in LAB_MODULES:
        raise KeyError(f"no reset for lab {lab_id!r} (labs: {', '.join(sorted(LAB_MODULES))})")
    importlib.import_module(LAB_MODULES[lab_id])
    return _resetters[lab_id]


class Cleanup:
    """What a reset function gets: clients for the learner's account, the
    deletions every lab needs (stacks, buckets with all their versions), and a
    log of what was done and what could not be."""

    def __init__(self, session: Session, account_id: str, say: Callable[[str], None] = print):
        self.session = session
        self.account = account_id
        self.region = session.target.region
        self.done: list[str] = []
        self.problems: list[str] = []
        self._say = say

    def client(self, service: str):
        return self.session.client(service)

    def did(self, what: str) -> None:
        self.done.append(what)
        self._say(what)

    def could_not(self, what: str) -> None:
        self.problems.append(what)
        self._say(f"could not {what}")

    def attempt(self, what: str, call: Callable[[], Any], missing: tuple[str, ...] = ()) -> bool:
        """Run one deletion and log it; an error whose code is in ``missing`` (the resource is
        already gone) is nothing to do."""
        from botocore.exceptions import ClientError

        try:
            call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") not in missing:
                self.could_not(f"{what[0].lower()}{what[1:]}: {exc}")
            return False
        self.did(what)
        return True

    # -- CloudFormation --------------------------------------------------------------
    def lab_stacks(self, lab_id: str, names: Iterable[str] = ()) -> list[dict]:
        """Live stacks named in ``names`` or tagged for the lab (the stacks' full descriptions)."""
        cfn = self.client("cloudformation")
        wanted = set(names)
        found = []
        for page in cfn.get_paginator("list_stacks").paginate(StackStatusFilter=_LIVE_STACKS):
            for summary in page.get("StackSummaries", []):
                stacks = cfn.describe_stacks(StackName=summary["StackId"]).get("Stacks", [])
                if stacks and (summary["StackName"] in wanted or has_lab_tag(stacks[0].get("Tags"), lab_id)):
                    found.append(stacks[0])
        return found

    def stack_physical_ids(self, stack: dict, resource_type: str) -> list[str]:
        cfn = self.client("cloudformation")
        res = cfn.describe_stack_resources(StackName=stack["StackId"]).get("StackResources", [])
        return [r["PhysicalResourceId"] for r in res
                if r.get("ResourceType") == resource_type and r.get("PhysicalResourceId")]

    def delete_stack(self, stack: dict) -> bool:
        """Delete a stack (and with it its change sets) and wait until it is gone."""
        from botocore.exceptions import ClientError, WaiterError

        cfn = self.client("cloudformation")
        name, stack_id = stack["StackName"], stack["StackId"]
        try:
            change_sets = cfn.list_change_sets(StackName=stack_id).get("Summaries", [])
            cfn.delete_stack(StackName=stack_id)
            cfn.get_waiter("stack_delete_complete").wait(
                StackName=stack_id, WaiterConfig={"Delay": 2 if self.session.target.is_emulator else 5,
                                                  "MaxAttempts": 360})
        except (ClientError, WaiterError) as exc:
            reason = ""
            try:
                now = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
                reason = f" ({now['StackStatus']}: {now.get('StackStatusReason', '')})"
            except ClientError:
                pass
            self.could_not(f"delete stack {name}{reason}: {exc}")
            return False
        extra = f" and its {len(change_sets)} change set(s)" if change_sets else ""
        self.did(f"deleted stack {name}{extra}")
        return True

    # -- S3 ----------------------------------------------------------------------------
    def bucket_exists(self, name: str) -> bool:
        """Whether this account owns a bucket of that name. Names are global: a bucket
        of the same name in another account is never ours to delete."""
        return any(b.get("Name") == name for b in self.client("s3").list_buckets().get("Buckets", []))

    def empty_bucket(self, name: str) -> int:
        """Delete every object version and delete marker (logged); return how many."""
        s3 = self.client("s3")
        count = 0
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(keys), 1000):
                batch = keys[start:start + 1000]
                answer = s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
                for err in answer.get("Errors", []):
                    self.could_not(f"delete s3://{name}/{err.get('Key')}: {err.get('Message')}")
                count += len(batch) - len(answer.get("Errors", []))
        if count:
            self.did(f"emptied bucket {name} ({count} object version(s))")
        return count

    def delete_bucket(self, name: str) -> bool:
        """Empty and delete a bucket if it exists."""
        from botocore.exceptions import ClientError

        if not self.bucket_exists(name):
            return False
        try:
            self.empty_bucket(name)
            self.client("s3").delete_bucket(Bucket=name)
        except ClientError as exc:
            self.could_not(f"delete bucket {name}: {exc}")
            return False
        self.did(f"deleted bucket {name}")
        return True


def reset_lab(lab_id: str, where: Target | None = None, say: Callable[[str], None] = print) -> Cleanup:
    """Reset one lab in one account; raises ``CannotRun`` when the endpoint is unreachable."""
    from checker.runner import identify
    from checker.session import session

    func = get_resetter(lab_id)
    sess = session(where)
    cleanup = Cleanup(sess, identify(sess), say)
    func(cleanup)
    return cleanup


def reset_command(args) -> int:
    """``workshop reset LAB [--account ID] [--endpoint URL]``: 0 done, 1 something
    could not be deleted, 2 nothing could run (unknown lab, endpoint down)."""
    from checker.runner import CannotRun
    from checker.session import target

    try:
        get_resetter(args.lab)
    except KeyError as exc:
        print(f"workshop reset: {exc.args[0]}", file=sys.stderr)
        return 2
    try:
        where = target(endpoint=getattr(args, "endpoint", None), account=getattr(args, "account", None))
        cleanup = reset_lab(args.lab, where)
    except (CannotRun, LookupError) as exc:
        print(f"workshop reset: {exc}", file=sys.stderr)
        return 2
    if cleanup.problems:
        print(f"workshop reset: {args.lab} is only partly reset in account {cleanup.account}; "
              "see above, fix what blocks it and run the reset again.", file=sys.stderr)
        return 1
    what = "nothing to delete" if not cleanup.done else f"{len(cleanup.done)} action(s)"
    print(f"{args.lab} reset in account {cleanup.account} ({what}): you can start the lab again.")
    return 0
