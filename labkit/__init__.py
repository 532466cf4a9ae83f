"""Helpers that lab notebooks import: whether the notebook reaches AWS and who and where
the learner is (account, region), names for globally unique resources, and the lab tag. Like the
checker, they reach AWS only through the one session factory, ``checker.session``."""

from __future__ import annotations

from checker.labs import LAB_TAG_KEY, has_lab_tag, tag_dict
from checker.labs import bucket_name as _bucket_name
from labkit.environment import SetupProblem, check_environment
from labkit.app_runner import service_url as app_runner_url
from labkit.load_balancers import express_service_url, load_balancer_url

__all__ = ["LAB_TAG_KEY", "check_environment", "SetupProblem", "account_id", "region", "bucket_name",
           "lab_tags", "lab_tag_map", "has_lab_tag", "tag_dict", "load_balancer_url",
           "express_service_url", "app_runner_url"]

_accounts: dict[tuple, str] = {}


def region() -> str:
    """The learner's region (``AWS_DEFAULT_REGION``/``AWS_REGION``, else us-east-1)."""
    from checker.session import target

    return target().region


def account_id() -> str:
    """The learner's account id, as STS answers it (asked once per endpoint and key)."""
    from checker.session import client, target

    where = target()
    key = (where.endpoint, where.access_key_id, where.region)
    if key not in _accounts:
        _accounts[key] = client("sts", where).get_caller_identity()["Account"]
    return _accounts[key]


def bucket_name(prefix: str) -> str:
    """``<prefix>-<account>-<region>``: bucket names are global across accounts, as on AWS."""
    return _bucket_name(prefix, account_id(), region())


def lab_tags(lab_id: str) -> list[dict[str, str]]:
    """The lab tag in the [{Key, Value}] shape most AWS APIs (and CloudFormation stacks) take."""
    return [{"Key": LAB_TAG_KEY, "Value": lab_id}]


def lab_tag_map(lab_id: str) -> dict[str, str]:
    """The lab tag as a map (SQS queues, SSM parameters in templates)."""
    return {LAB_TAG_KEY: lab_id}
