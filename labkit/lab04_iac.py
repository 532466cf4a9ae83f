"""Lab 04-iac's helpers: its names (shared with its checks), how Part 2 counts lines of
code, and its reset, which removes the lab's stacks, CloudFormation's and CDK's (with their
change sets), and their buckets with every object version, and nothing else in the account."""

from __future__ import annotations

from checker.labs import bucket_name
from checker.labs.lab04_cdk import APP_KEY, CDK_STACK, CRITERIA, REDUCTION_KEY, code_lines
from checker.labs.lab04_iac import BUCKET_PREFIX, LAB_ID, REPORT_KEY, STACK_NAME
from labkit.reset import Cleanup, resetter

__all__ = ["LAB_ID", "STACK_NAME", "BUCKET_PREFIX", "REPORT_KEY", "CDK_STACK", "APP_KEY", "REDUCTION_KEY",
           "CRITERIA", "code_lines", "reset"]


@resetter(LAB_ID)
def reset(cleanup: Cleanup) -> None:
    stacks = cleanup.lab_stacks(LAB_ID, names=[STACK_NAME, CDK_STACK])
    buckets = [bucket_name(BUCKET_PREFIX, cleanup.account, cleanup.region)]
    for stack in stacks:
        buckets += [b for b in cleanup.stack_physical_ids(stack, "AWS::S3::Bucket") if b not in buckets]
    # A stack cannot delete a bucket that still holds objects: empty them first.
    for name in buckets:
        if cleanup.bucket_exists(name):
            cleanup.empty_bucket(name)
    for stack in stacks:
        cleanup.delete_stack(stack)
    # Whatever outlived its stack (a retained bucket, a stack deleted by hand).
    for name in buckets:
        cleanup.delete_bucket(name)
