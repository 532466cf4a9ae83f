"""The cross-account rule, as AWS has it: a request that names another account's
bucket, topic or queue (by bucket name, ARN or queue URL) is refused unless that
resource's policy allows the caller's account. moto enforces none of it: bucket
names are global and SNS finds topics by ARN, whoever asks.

It runs in the gateway, before moto, on requests only (laptop and class mode
alike): the cloud's own deliveries (SNS to SQS, CodeCommit triggers, alarms,
S3 notifications, CodeBuild and CodePipeline artifacts, CloudFormation) call
backends directly and never pass here. An allowed SNS or SQS request is served
by the owner's backend, where moto keeps the topic or queue (moto looks queues up
by name in the caller's own account). Policies are read with the cloud's one
evaluator, ``resource_policy``.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, unquote, urlsplit

from workshop.cloud import errors, resource_policy

log = logging.getLogger("workshop.cloud.cross_account")

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/")
_MAX_BODY = 1024 * 1024

# S3 operations whose IAM action has another name (the rest: s3:<Operation>).
S3_ACTIONS = {
    "ListObjects": "ListBucket", "ListObjectsV2": "ListBucket", "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "HeadObject": "GetObject", "DeleteObjects": "DeleteObject",
    "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject",
    "CopyObject": "PutObject", "UploadPartCopy": "PutObject", "ListParts": "ListMultipartUploadParts",
    "ListMultipartUploads": "ListBucketMultipartUploads", "GetBucketCors": "GetBucketCORS",
    "PutBucketCors": "PutBucketCORS", "DeleteBucketCors": "PutBucketCORS",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "DeleteBucketTagging": "PutBucketTagging", "GetBucketReplication": "GetReplicationConfiguration",
    "PutBucketReplication": "PutReplicationConfiguration", "DeleteBucketReplication": "PutReplicationConfiguration",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock", "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
}
# Only the bucket owner's account may read or change a bucket's policy, whatever the policy says.
S3_OWNER_ONLY = {"GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy", "DeleteBucket"}

# SNS operations on a topic whose permission has another name; subscription ARNs
# name the topic, and the permission that let the subscriber in is Subscribe.
SNS_ACTIONS = {"PublishBatch": "Publish", "Unsubscribe": "Subscribe", "ConfirmSubscription": "Subscribe",
               "GetSubscriptionAttributes": "Subscribe", "SetSubscriptionAttributes": "Subscribe"}
SNS_ARN_PARAMS = ("TopicArn", "TargetArn", "ResourceArn", "SubscriptionArn")

SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
               "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
# AWS: "Cross-account permissions don't apply to" these: only the owner's account.
SQS_OWNER_ONLY = {"AddPermission", "CancelMessageMoveTask", "CreateQueue", "DeleteQueue", "ListMessageMoveTask",
                  "ListQueues", "ListQueueTags", "RemovePermission", "SetQueueAttributes",
                  "StartMessageMoveTask", "TagQueue", "UntagQueue"}


def refusal(environ: dict, service: str | None) -> tuple[str, list, bytes] | None:
    """None when the request names only the caller's own resources, or another
    account's that its policy opens to the caller; else the AWS-shaped refusal."""
    check = _CHECKS.get(service or "")
    if check is None:
        return None
    try:
        return check(environ, environ["workshop.account"])
    except Exception as exc:  # never let a request through unchecked, never a traceback
        log.exception("cross-account check failed on %s %s", environ.get("REQUEST_METHOD"),
                      environ.get("PATH_INFO"))
        return errors.internal_failure(environ, exc)


def _allowed(policy, action: str, resource: str, caller: str) -> bool:
    decision = resource_policy.evaluate(policy, action, resource, caller, {"aws:principalaccount": caller})
    return decision is resource_policy.Decision.ALLOW


def _not_authorized(caller: str, action: str, resource: str) -> str:
    return (f"User: arn:aws:iam::{caller}:root is not authorized to perform: {action} on resource: "
            f"{resource} because no resource-based policy allows the {action} action")


# -- S3 ---------------------------------------------------------------------------

def _s3(environ: dict, caller: str):
    from moto.s3.models import s3_backends

    owners = s3_backends.bucket_accounts
    wanted: list[tuple[str, str, str | None]] = []   # (bucket, key, action or None: the operation's)
    bucket, key = _s3_target(environ)
    if bucket and bucket in owners and owners[bucket][1] != caller:
        wanted.append((bucket, key, None))
    source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if source:
        src_bucket, _, src_key = unquote(source.split("?", 1)[0]).lstrip("/").partition("/")
        if src_bucket in owners and owners[src_bucket][1] != caller:
            wanted.append((src_bucket, src_key, "s3:GetObject"))
    if not wanted:
        return None
    operation = errors.operation_of(environ, "s3")
    for name, obj, action in wanted:
        if action is None:
            if operation == "CreateBucket":
                continue  # moto answers BucketAlreadyExists, as AWS does
            action = "s3:" + S3_ACTIONS.get(operation, operation)
        partition, owner = owners.get(name, (None, None))
        resource = f"arn:{partition or 'aws'}:s3:::{name}"
        if obj:
            resource += f"/{obj}"
        elif operation == "DeleteObjects":
            resource += "/*"   # the keys are in the body: ask about the bucket's objects
        policy = None
        if owner is not None and operation not in S3_OWNER_ONLY:
            found = s3_backends[owner][partition].buckets.get(name)
            policy = found.policy if found is not None else None
        if not _allowed(policy, action, resource, caller):
            log.info("cross-account: refused %s by %s on %s", action, caller, resource)
            status, headers, body = errors.error_response(environ, 403, "AccessDenied", "Access Denied", "s3")
            if environ.get("REQUEST_METHOD") == "HEAD":   # HEAD answers carry no body
                headers = [(k, "0" if k == "Content-Length" else v) for k, v in headers]
                body = b""
            return status, headers, body
    return None


def s3_owner(environ: dict) -> str | None:
    """The account whose bucket an S3 request names (None: no bucket, or a new one)."""
    from moto.s3.models import s3_backends

    bucket, _ = _s3_target(environ)
    owner = s3_backends.bucket_accounts.get(bucket) if bucket else None
    return owner[1] if owner else None


def _s3_target(environ: dict) -> tuple[str, str]:
    """(bucket, key) of an S3 request, by moto's own reading of virtual-host and path style."""
    from types import SimpleNamespace

    from moto.s3.responses import S3Response
    from moto.s3.utils import bucket_name_from_url
    from moto.s3bucket_path.utils import bucket_name_from_url as bucketpath_bucket_name_from_url
    from moto.s3bucket_path.utils import parse_key_name as bucketpath_parse_key_name

    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    path = environ.get("PATH_INFO", "") or "/"
    url = f"http://{host}{path}"
    if S3Response.subdomain_based_buckets(SimpleNamespace(headers={"host": host}, url=url)):
        return bucket_name_from_url(url) or "", path.lstrip("/")
    return bucketpath_bucket_name_from_url(url) or "", bucketpath_parse_key_name(path)


# -- SNS and SQS ------------------------------------------------------------------

def _params(environ: dict) -> tuple[str, dict]:
    """(operation, parameters) of a query- or JSON-protocol request."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    body = _body(environ)
    if target:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return target.rsplit(".", 1)[-1], params if isinstance(params, dict) else {}
    form = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        form.update(parse_qs((body or b"").decode("utf-8")))
    except UnicodeDecodeError:
        pass
    params = {k: v[0] for k, v in form.items() if v}
    return params.get("Action", ""), params


def _body(environ: dict) -> bytes | None:
    """The request body, read once and left readable for moto (the gateway keeps form bodies)."""
    if "workshop.body" in environ:
        return environ["workshop.body"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= _MAX_BODY:
        return None
    import io

    body = environ["wsgi.input"].read(length)
    environ["workshop.body"] = body
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _region(environ: dict) -> str:
    match = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "us-east-1"


def _serve_as_owner(environ: dict, owner: str) -> None:
    environ["HTTP_X_MOTO_ACCOUNT_ID"] = owner


def _sns(environ: dict, caller: str):
    operation, params = _params(environ)
    for name in SNS_ARN_PARAMS:
        arn = params.get(name)
        parts = arn.split(":") if isinstance(arn, str) else []
        if len(parts) < 6 or parts[2] != "sns" or not _ACCOUNT.match(parts[4]) or parts[4] == caller:
            continue
        owner, region = parts[4], parts[3]
        topic_arn = ":".join(parts[:6])
        action = "SNS:" + SNS_ACTIONS.get(operation, operation)
        from moto.sns.models import sns_backends

        topic = sns_backends[owner][region].topics.get(topic_arn) if owner in sns_backends else None
        if topic is None or not _allowed(topic._policy_json, action, topic_arn, caller):
            log.info("cross-account: refused %s by %s on %s", action, caller, topic_arn)
            return errors.error_response(environ, 403, "AuthorizationError",
                                         _not_authorized(caller, action, topic_arn), "sns")
        _serve_as_owner(environ, owner)
    return None


def _sqs(environ: dict, caller: str):
    operation, params = _params(environ)
    owner = name = None
    url = params.get("QueueUrl")
    if isinstance(url, str) and url:
        segments = [s for s in urlsplit(url).path.split("/") if s]
        if len(segments) >= 2:
            owner, name = segments[-2], segments[-1]
    elif operation == "GetQueueUrl":
        owner, name = params.get("QueueOwnerAWSAccountId"), params.get("QueueName")
    else:
        segments = [s for s in (environ.get("PATH_INFO") or "").split("/") if s]
        if len(segments) == 2:
            owner, name = segments
    if not owner or not _ACCOUNT.match(str(owner)) or owner == caller or not isinstance(name, str):
        return None
    region = _region(environ)
    resource = f"arn:aws:sqs:{region}:{owner}:{name}"
    action = "sqs:" + SQS_ACTIONS.get(operation, operation)
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[owner][region].queues.get(name) if owner in sqs_backends else None
    if queue is None or operation in SQS_OWNER_ONLY or not _allowed(queue.policy, action, queue.queue_arn, caller):
        log.info("cross-account: refused %s by %s on %s", action, caller, resource)
        return errors.error_response(environ, 403, "AccessDenied", _not_authorized(caller, action, resource), "sqs")
    _serve_as_owner(environ, owner)
    return None


_CHECKS = {"s3": _s3, "sns": _sns, "sqs": _sqs}
