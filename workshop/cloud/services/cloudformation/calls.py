"""The API calls CloudFormation makes for a learner when it creates, updates or
deletes a resource, recorded in CloudTrail as AWS shows them (invokedBy
cloudformation.amazonaws.com): e.g. an AWS::S3::Bucket with versioning is
CreateBucket then PutBucketVersioning."""

from __future__ import annotations

import logging
from typing import Any

from workshop.cloud.services.cloudtrail import recorder, shapes

log = logging.getLogger(__name__)

INVOKED_BY = "cloudformation.amazonaws.com"
# CloudFormation's service names that are not botocore's lower-cased.
_SERVICES = {"CloudWatch": "cloudwatch", "Logs": "logs", "Lambda": "lambda", "ElasticLoadBalancingV2": "elbv2",
             "Events": "events", "ApiGateway": "apigateway"}
# (create, update, delete) operations and the member that names the resource, where the
# rule "Create<Noun>/Update<Noun>/Delete<Noun>" does not hold.
_CALLS: dict[str, tuple[str | None, str | None, str | None, str]] = {
    "AWS::S3::Bucket": ("CreateBucket", None, "DeleteBucket", "Bucket"),
    "AWS::S3::BucketPolicy": ("PutBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy", "Bucket"),
    "AWS::SNS::Topic": ("CreateTopic", "SetTopicAttributes", "DeleteTopic", "TopicArn"),
    "AWS::SNS::Subscription": ("Subscribe", "SetSubscriptionAttributes", "Unsubscribe", "SubscriptionArn"),
    "AWS::SQS::Queue": ("CreateQueue", "SetQueueAttributes", "DeleteQueue", "QueueUrl"),
    "AWS::SQS::QueuePolicy": ("SetQueueAttributes", "SetQueueAttributes", "SetQueueAttributes", "QueueUrl"),
    "AWS::Lambda::Function": ("CreateFunction", "UpdateFunctionConfiguration", "DeleteFunction", "FunctionName"),
    "AWS::Lambda::Version": ("PublishVersion", None, "DeleteFunction", "FunctionName"),
    "AWS::Lambda::Permission": ("AddPermission", None, "RemovePermission", "FunctionName"),
    "AWS::CloudWatch::Alarm": ("PutMetricAlarm", "PutMetricAlarm", "DeleteAlarms", "AlarmName"),
    "AWS::CloudWatch::CompositeAlarm": ("PutCompositeAlarm", "PutCompositeAlarm", "DeleteAlarms", "AlarmName"),
    "AWS::CloudWatch::Dashboard": ("PutDashboard", "PutDashboard", "DeleteDashboards", "DashboardName"),
    "AWS::IAM::Policy": ("PutRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "PolicyName"),
    "AWS::CodeBuild::Project": ("CreateProject", "UpdateProject", "DeleteProject", "name"),
    "AWS::CodePipeline::Pipeline": ("CreatePipeline", "UpdatePipeline", "DeletePipeline", "name"),
    "AWS::Logs::LogGroup": ("CreateLogGroup", "PutRetentionPolicy", "DeleteLogGroup", "logGroupName"),
    "AWS::Logs::MetricFilter": ("PutMetricFilter", "PutMetricFilter", "DeleteMetricFilter", "filterName"),
}
# Creates that take a name where the resource is then known by its ARN or URL.
_CREATED_BY_NAME = {"AWS::SNS::Topic": ("Name", ":"), "AWS::SQS::Queue": ("QueueName", "/")}
# An S3 bucket's properties that CloudFormation sets with a call of their own.
_BUCKET_CALLS = {
    "VersioningConfiguration": "PutBucketVersioning", "Tags": "PutBucketTagging",
    "BucketEncryption": "PutBucketEncryption", "PublicAccessBlockConfiguration": "PutPublicAccessBlock",
    "LifecycleConfiguration": "PutBucketLifecycleConfiguration", "CorsConfiguration": "PutBucketCors",
    "NotificationConfiguration": "PutBucketNotificationConfiguration", "WebsiteConfiguration": "PutBucketWebsite",
    "OwnershipControls": "PutBucketOwnershipControls", "LoggingConfiguration": "PutBucketLogging",
}


def created(account: str, region: str, resource_type: str, physical_id: str, props: dict[str, Any]) -> None:
    _record(account, region, resource_type, physical_id, 0, props)
    if resource_type == "AWS::S3::Bucket":
        for prop in props:
            if prop in _BUCKET_CALLS:
                _call(account, region, "s3", _BUCKET_CALLS[prop], {"Bucket": physical_id}, resource_type, physical_id)


def updated(account: str, region: str, resource_type: str, physical_id: str, old: dict[str, Any],
            new: dict[str, Any]) -> None:
    if resource_type == "AWS::S3::Bucket":
        for prop in sorted(set(old) | set(new)):
            if prop in _BUCKET_CALLS and old.get(prop) != new.get(prop):
                operation = _BUCKET_CALLS[prop]
                if prop not in new:
                    operation = operation.replace("Put", "Delete", 1).replace("Configuration", "")
                _call(account, region, "s3", operation, {"Bucket": physical_id}, resource_type, physical_id)
        return
    _record(account, region, resource_type, physical_id, 1, new)


def deleted(account: str, region: str, resource_type: str, physical_id: str, props: dict[str, Any]) -> None:
    _record(account, region, resource_type, physical_id, 2, props)


def _record(account: str, region: str, resource_type: str, physical_id: str, which: int,
            props: dict[str, Any]) -> None:
    try:
        found = _operation(resource_type, which)
        if found is None:
            return
        service, operation, member = found
        name = physical_id
        if resource_type == "AWS::S3::BucketPolicy":
            name = str(props.get("Bucket") or physical_id)
        params = {member: name}
        if which == 0 and resource_type in _CREATED_BY_NAME:
            member, separator = _CREATED_BY_NAME[resource_type]
            params = {member: name.rsplit(separator, 1)[-1]}
        _call(account, region, service, operation, params, resource_type, name)
    except Exception:  # the stack's work is done; a record we cannot make must not undo it
        log.warning("could not record %s of %s", resource_type, physical_id, exc_info=True)


def _call(account: str, region: str, service: str, operation: str, params: dict, resource_type: str,
          name: str) -> None:
    recorder.on_behalf(account, region, INVOKED_BY, service, operation, params,
                       resources=[{"ResourceType": resource_type, "ResourceName": name}])


def _operation(resource_type: str, which: int) -> tuple[str, str, str] | None:
    parts = resource_type.split("::")
    if len(parts) != 3 or parts[0] != "AWS":
        return None
    service = _SERVICES.get(parts[1], parts[1].lower())
    if resource_type in _CALLS:
        operation, member = _CALLS[resource_type][which], _CALLS[resource_type][3]
        return (service, operation, member) if operation else None
    operation = ("Create", "Update", "Delete")[which] + parts[2]
    member = _name_member(service, operation, resource_type)
    return (service, operation, member) if member else None


def _name_member(service: str, operation: str, resource_type: str) -> str | None:
    """The member of the operation that names a resource of this type (shapes.RESOURCE_MEMBERS)."""
    members = shapes.RESOURCE_MEMBERS.get(service) or {}
    ranked = [m for m, t in members.items() if t == resource_type] + [m for m, t in members.items()
                                                                       if t != resource_type]
    return next((m for m in ranked if shapes.has_member(service, operation, m)), None)
