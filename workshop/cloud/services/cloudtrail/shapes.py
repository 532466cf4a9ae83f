"""Reading a request and its answer the way CloudTrail writes them, with botocore's
service models: the operation, its input (moto's own request parsers) and output
(botocore's response parsers), less sensitive and blob members, in CloudTrail's
lowerCamelCase, and the resources an event names.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from workshop.cloud import errors

log = logging.getLogger("workshop.cloud.cloudtrail")

# The resources LookupEvents names per service: botocore member -> CloudFormation type.
RESOURCE_MEMBERS: dict[str, dict[str, str]] = {
    "s3": {"Bucket": "AWS::S3::Bucket"},
    "cloudformation": {"StackName": "AWS::CloudFormation::Stack", "StackId": "AWS::CloudFormation::Stack"},
    "codecommit": {"repositoryName": "AWS::CodeCommit::Repository"},
    "codebuild": {"projectName": "AWS::CodeBuild::Project", "name": "AWS::CodeBuild::Project"},
    "codepipeline": {"name": "AWS::CodePipeline::Pipeline", "pipelineName": "AWS::CodePipeline::Pipeline"},
    "codedeploy": {"applicationName": "AWS::CodeDeploy::Application",
                   "deploymentGroupName": "AWS::CodeDeploy::DeploymentGroup"},
    "lambda": {"FunctionName": "AWS::Lambda::Function"},
    "sns": {"TopicArn": "AWS::SNS::Topic", "Name": "AWS::SNS::Topic"},
    "sqs": {"QueueUrl": "AWS::SQS::Queue", "QueueName": "AWS::SQS::Queue"},
    "iam": {"RoleName": "AWS::IAM::Role", "UserName": "AWS::IAM::User", "PolicyArn": "AWS::IAM::Policy"},
    "cloudwatch": {"AlarmName": "AWS::CloudWatch::Alarm", "AlarmNames": "AWS::CloudWatch::Alarm"},
    "logs": {"logGroupName": "AWS::Logs::LogGroup"},
    "ecr": {"repositoryName": "AWS::ECR::Repository"},
    "ecs": {"cluster": "AWS::ECS::Cluster", "service": "AWS::ECS::Service"},
    "eks": {"name": "AWS::EKS::Cluster", "clusterName": "AWS::EKS::Cluster", "nodegroupName": "AWS::EKS::Nodegroup",
            "addonName": "AWS::EKS::Addon", "fargateProfileName": "AWS::EKS::FargateProfile"},
}
# Members CloudTrail names otherwise than the API (S3's bucket is "bucketName").
RENAMED = {"s3": {"Bucket": "bucketName"}}


def service_of(environ: dict) -> str | None:
    """botocore's name of the service a signed request is for (None: unsigned)."""
    name = errors.signing_name(environ)
    if name is None and "X-Amz-Credential" in environ.get("QUERY_STRING", ""):
        name = "s3"  # a presigned URL
    if name is None:
        return None
    return errors._SIGNING_TO_SERVICE.get(name, name)


@lru_cache(maxsize=128)
def model(service: str):
    return errors._service_model(service)


def event_source(service: str) -> str:
    m = model(service)
    prefix = service
    if m is not None:
        prefix = m.metadata.get("signingName") or m.metadata.get("endpointPrefix") or service
    return f"{prefix}.amazonaws.com"


def operation_of(environ: dict, service: str) -> tuple[str | None, dict]:
    """(operation name, URI parameters) of a request, by the service's protocol."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1], {}
    action = errors.query_action(environ)
    if action:
        return action, {}
    m = model(service)
    if m is None:
        return None, {}
    try:
        from moto.core.request import Request
        from moto.core.routing import get_service_router

        from workshop.cloud.services import routing

        found = routing.match(m.service_name, environ)   # an ARN in a path segment
        operation, uri_params = found or get_service_router(m.service_name).match(Request(dict(environ)))
        return operation.name, dict(uri_params)
    except Exception:
        return None, {}


def has_member(service: str, operation: str, member: str) -> bool:
    shape = _input_shape(service, operation)
    return shape is not None and member in shape.members


@lru_cache(maxsize=1024)
def _operation_model(service: str, operation: str):
    m = model(service)
    if m is None:
        return None
    try:
        return m.operation_model(operation)
    except Exception:  # not an operation botocore knows (GitPush, an older name)
        return None


@lru_cache(maxsize=1024)
def _moto_operation_model(service: str, operation: str):
    return _moto_service_model(service).operation_model(operation)


@lru_cache(maxsize=64)
def _moto_service_model(service: str):
    from moto.core.utils import get_service_model

    return get_service_model(service)


def _input_shape(service: str, operation: str):
    op = _operation_model(service, operation)
    return op.input_shape if op is not None else None


def parse_request(service: str, operation: str, environ: dict, body: bytes | None, uri_params: dict) -> dict:
    """The request's input as boto3 passed it (botocore member names)."""
    op = _operation_model(service, operation)
    if op is None or op.input_shape is None:
        return {}
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import Request, determine_request_protocol

    op = _moto_operation_model(service, operation)  # moto's parsers need its flavour of the model

    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(body or b"")
    env["CONTENT_LENGTH"] = str(len(body or b""))
    request = Request(env)
    try:
        protocol = determine_request_protocol(op.service_model, request.content_type)
    except NotImplementedError:
        protocol = op.service_model.protocol
    parser = PROTOCOL_PARSERS[protocol](op)
    return dict(parser.parse({"method": request.method, "values": request.values, "headers": request.headers,
                              "body": body or b"", "url_path": request.path, "url_params": uri_params}))


def parse_response(service: str, operation: str, status: int, headers: list,
                   chunks: list[bytes]) -> tuple[dict | None, str | None, str | None]:
    """(output, errorCode, errorMessage) of an answer, as boto3 reads it."""
    op = _operation_model(service, operation)
    if op is None:
        return None, None, None
    import botocore.parsers
    from botocore.awsrequest import HeadersDict

    header_map = HeadersDict()
    for name, value in headers:
        header_map[name] = value
    content_type = header_map.get("Content-Type", "")
    protocol = op.service_model.resolved_protocol
    if "xml" in content_type and protocol in ("json", "smithy-rpc-v2-cbor"):
        protocol = "query"
    elif "json" in content_type and protocol == "query":
        protocol = "json"
    if op.service_model.service_name == "s3":
        protocol = "rest-xml"
    body = b"".join(chunks)
    try:
        parsed = botocore.parsers.create_parser(protocol).parse(
            {"body": body, "headers": header_map, "status_code": status}, op.output_shape)
    except Exception:
        log.debug("could not read the answer to %s:%s", service, operation, exc_info=True)
        return None, None, None
    error = parsed.pop("Error", None) if status >= 300 else None
    parsed.pop("ResponseMetadata", None)
    if error:
        return None, error.get("Code") or None, error.get("Message")
    return parsed, None, None


def trail_parameters(service: str, operation: str, values: dict, which: str) -> dict | None:
    """Input or output as CloudTrail shows it: sensitive and blob members dropped,
    member names in lowerCamelCase (the keys of maps kept as they are)."""
    op = _operation_model(service, operation)
    shape = None
    if op is not None:
        shape = op.input_shape if which == "input" else op.output_shape
    renamed = RENAMED.get(service, {}) if which == "input" else {}
    result = _walk(values, shape, renamed)
    return result if result else None


def _walk(value: Any, shape, renamed: dict | None = None) -> Any:
    if shape is not None and (shape.metadata.get("sensitive") or shape.type_name == "blob"):
        return _DROP
    if isinstance(value, (bytes, bytearray, io.IOBase)):
        return _DROP
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%b %d, %Y, %I:%M:%S %p")
    kind = shape.type_name if shape is not None else None
    if isinstance(value, dict):
        if kind == "map":
            out = {k: _walk(v, shape.value) for k, v in value.items()}
            return {k: v for k, v in out.items() if v is not _DROP}
        members = shape.members if kind == "structure" else {}
        out = {}
        for name, member_value in value.items():
            member_shape = members.get(name)
            if shape is not None and member_shape is None and kind == "structure":
                continue  # not part of the API (moto's extras)
            walked = _walk(member_value, member_shape)
            if walked is _DROP or walked is None:
                continue
            key = (renamed or {}).get(name) or (name[:1].lower() + name[1:])
            out[key] = walked
        return out
    if isinstance(value, (list, tuple)):
        inner = shape.member if kind == "list" else None
        return [v for v in (_walk(item, inner) for item in value) if v is not _DROP]
    return value


_DROP = object()


def resources_of(service: str, account: str, region: str, params: dict | None,
                 response: dict | None) -> list[dict]:
    """LookupEvents' Resources of an event: the named resources its input (or output) names."""
    members = RESOURCE_MEMBERS.get(service)
    if not members:
        return []
    found: list[dict] = []
    for source in (params or {}, response or {}):
        for member, resource_type in members.items():
            value = source.get(member)
            for name in (value if isinstance(value, list) else [value]):
                if isinstance(name, str) and name:
                    item = {"ResourceType": resource_type, "ResourceName": name}
                    if item not in found:
                        found.append(item)
        if found:
            break
    return found
