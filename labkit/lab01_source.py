"""Lab 01-source's helpers: its names (shared with its checks) and its reset,
which removes the lab's repository (with its pull requests and triggers), its
approval rule template, trigger topic and queue, reviewer role and lab bucket,
and nothing else in the account."""

from __future__ import annotations

from checker.labs import bucket_name, has_lab_tag
from checker.labs.lab01_source import (
    BUCKET_PREFIX,
    LAB_ID,
    MESSAGE_KEY,
    QUEUE_NAME,
    REPO_NAME,
    REVIEWER_ROLE,
    TEMPLATE_NAME,
    TOPIC_NAME,
    TRIGGER_NAME,
)
from labkit.reset import Cleanup, resetter

__all__ = ["LAB_ID", "REPO_NAME", "TEMPLATE_NAME", "TOPIC_NAME", "QUEUE_NAME", "TRIGGER_NAME",
           "REVIEWER_ROLE", "BUCKET_PREFIX", "MESSAGE_KEY", "reset"]


@resetter(LAB_ID)
def reset(cleanup: Cleanup) -> None:
    _delete_template(cleanup)
    _delete_repository(cleanup)
    _delete_topic(cleanup)
    _delete_queue(cleanup)
    _delete_role(cleanup)
    cleanup.delete_bucket(bucket_name(BUCKET_PREFIX, cleanup.account, cleanup.region))


def _code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _delete_template(cleanup: Cleanup) -> None:
    """Templates are account-wide and untagged: the lab's is the one with its name."""
    from botocore.exceptions import ClientError

    cc = cleanup.client("codecommit")
    try:
        repos = cc.list_repositories_for_approval_rule_template(
            approvalRuleTemplateName=TEMPLATE_NAME).get("repositoryNames", [])
    except ClientError as exc:
        if _code(exc) != "ApprovalRuleTemplateDoesNotExistException":
            cleanup.could_not(f"read approval rule template {TEMPLATE_NAME}: {exc}")
        return
    try:
        if repos:  # a template in use cannot be deleted
            cc.batch_disassociate_approval_rule_template_from_repositories(
                approvalRuleTemplateName=TEMPLATE_NAME, repositoryNames=repos)
        cc.delete_approval_rule_template(approvalRuleTemplateName=TEMPLATE_NAME)
    except ClientError as exc:
        cleanup.could_not(f"delete approval rule template {TEMPLATE_NAME}: {exc}")
        return
    cleanup.did(f"deleted approval rule template {TEMPLATE_NAME}")


def _delete_repository(cleanup: Cleanup) -> None:
    from botocore.exceptions import ClientError

    cc = cleanup.client("codecommit")
    try:
        cc.get_repository(repositoryName=REPO_NAME)
    except ClientError as exc:
        if _code(exc) != "RepositoryDoesNotExistException":
            cleanup.could_not(f"read repository {REPO_NAME}: {exc}")
        return
    try:
        cc.delete_repository(repositoryName=REPO_NAME)
    except ClientError as exc:
        cleanup.could_not(f"delete repository {REPO_NAME}: {exc}")
        return
    cleanup.did(f"deleted repository {REPO_NAME} (its branches, pull requests and triggers)")


def _delete_topic(cleanup: Cleanup) -> None:
    from botocore.exceptions import ClientError

    sns = cleanup.client("sns")
    arn = f"arn:aws:sns:{cleanup.region}:{cleanup.account}:{TOPIC_NAME}"
    try:
        tags = sns.list_tags_for_resource(ResourceArn=arn).get("Tags")
    except ClientError as exc:
        if _code(exc) not in ("NotFound", "ResourceNotFound", "NotFoundException"):
            cleanup.could_not(f"read topic {TOPIC_NAME}: {exc}")
        return
    if not has_lab_tag(tags, LAB_ID):
        cleanup.could_not(f"delete topic {TOPIC_NAME}: it is not tagged workshop:lab={LAB_ID}, so it was left alone")
        return
    try:
        sns.delete_topic(TopicArn=arn)
    except ClientError as exc:
        cleanup.could_not(f"delete topic {TOPIC_NAME}: {exc}")
        return
    cleanup.did(f"deleted topic {TOPIC_NAME} and its subscriptions")


def _delete_queue(cleanup: Cleanup) -> None:
    from botocore.exceptions import ClientError

    sqs = cleanup.client("sqs")
    try:
        url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    except ClientError:
        return  # no such queue
    try:
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags")
        if not has_lab_tag(tags, LAB_ID):
            cleanup.could_not(f"delete queue {QUEUE_NAME}: it is not tagged workshop:lab={LAB_ID}, so it was left alone")
            return
        sqs.delete_queue(QueueUrl=url)
    except ClientError as exc:
        cleanup.could_not(f"delete queue {QUEUE_NAME}: {exc}")
        return
    cleanup.did(f"deleted queue {QUEUE_NAME}")


def _delete_role(cleanup: Cleanup) -> None:
    from botocore.exceptions import ClientError

    iam = cleanup.client("iam")
    try:
        role = iam.get_role(RoleName=REVIEWER_ROLE)["Role"]
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            cleanup.could_not(f"read role {REVIEWER_ROLE}: {exc}")
        return
    tags = role.get("Tags")
    if tags is None:
        tags = iam.list_role_tags(RoleName=REVIEWER_ROLE).get("Tags")
    if not has_lab_tag(tags, LAB_ID):
        cleanup.could_not(f"delete role {REVIEWER_ROLE}: it is not tagged workshop:lab={LAB_ID}, so it was left alone")
        return
    try:
        for name in iam.list_role_policies(RoleName=REVIEWER_ROLE).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=REVIEWER_ROLE, PolicyName=name)
        for attached in iam.list_attached_role_policies(RoleName=REVIEWER_ROLE).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=REVIEWER_ROLE, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=REVIEWER_ROLE)
    except ClientError as exc:
        cleanup.could_not(f"delete role {REVIEWER_ROLE}: {exc}")
        return
    cleanup.did(f"deleted role {REVIEWER_ROLE}")
