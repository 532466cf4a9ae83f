"""Lambda-backed custom resources (``AWS::CloudFormation::CustomResource``,
``Custom::*``) as AWS runs them: the stack engine sends the function a Create,
Update or Delete request whose ResponseURL is a pre-signed S3 URL of the cloud,
and the resource completes from what the function PUTs there (SUCCESS with its
PhysicalResourceId and Data for Fn::GetAtt, FAILED with a reason that fails the
stack), or fails after AWS's one hour, divided by the time scale.

The waiting is the engine's (threads, kept here, keyed by request id); the
model a stack keeps is plain data, so stacks still pickle."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any
from urllib.parse import quote, unquote

from moto.core.common_models import CloudFormationModel

from workshop.cloud import class_mode, runtime, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register

log = logging.getLogger(__name__)

TIMEOUT_AWS_SECONDS = 3600.0     # AWS waits an hour for a custom resource's response
BUCKET_PREFIX = "cloudformation-custom-resource-response-"
NO_RESPONSE = ("CloudFormation did not receive a response from your Custom Resource. Please check your logs "
               "for requestId [{request_id}]. If you are using the Python cfn-response module, you may need "
               "to update your Lambda function code so that CloudFormation can attach the updated version.")


class CustomResourceFailure(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def is_custom(resource_type: str | None) -> bool:
    return bool(resource_type) and (resource_type.startswith("Custom::")
                                    or resource_type == "AWS::CloudFormation::CustomResource")


# -- waiting for responses -------------------------------------------------------

class _Pending:
    def __init__(self, account_id: str, stack_id: str, logical_id: str):
        self.account_id, self.stack_id, self.logical_id = account_id, stack_id, logical_id
        self.done = threading.Event()
        self.response: dict[str, Any] | None = None


_pending: dict[str, _Pending] = {}
_lock = threading.Lock()


def _response_url(account_id: str, region: str, stack_id: str, logical_id: str, request_id: str) -> str:
    """A pre-signed S3 PUT URL of the cloud, signed with the account's own key (as a function
    of the account would sign), so class mode verifies it like any request."""
    import boto3
    from botocore.config import Config

    bucket = BUCKET_PREFIX + region.replace("-", "")
    key = f"{stack_id}|{logical_id}|{request_id}"
    s3 = boto3.client("s3", endpoint_url=runtime.endpoint(), region_name=region, aws_access_key_id=account_id,
                      aws_secret_access_key=class_mode.secret_for(account_id),
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    return s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=7200)


def _stringify(value: Any) -> Any:
    """CloudFormation hands a custom resource its properties with every scalar as a string."""
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return value
    return str(value)


def request(account_id: str, region: str, request_type: str, stack_id: str, logical_id: str,
            resource_type: str, props: dict[str, Any], physical_id: str | None = None,
            old_props: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send one request to the resource's function and wait for its response (the dict
    the function PUT); CustomResourceFailure on FAILED, no response in time, or no function."""
    token = str(props.get("ServiceToken") or "")
    if not token:
        raise CustomResourceFailure(f"Properties validation failed for resource {logical_id} with message: "
                                    "#: required key [ServiceToken] not found")
    if not token.startswith("arn:aws:lambda:"):
        raise CustomResourceFailure(f"Invalid service token: {token}. The workshop cloud sends custom "
                                    "resource requests to Lambda functions only.")
    parts = token.split(":")
    fn_region, fn_account = parts[3], parts[4]
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "RequestType": request_type, "ServiceToken": token,
        "ResponseURL": _response_url(account_id, region, stack_id, logical_id, request_id),
        "StackId": stack_id, "RequestId": request_id, "LogicalResourceId": logical_id,
        "ResourceType": resource_type, "ResourceProperties": _stringify(props),
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    if old_props is not None:
        event["OldResourceProperties"] = _stringify(old_props)
    pending = _Pending(account_id, stack_id, logical_id)
    with _lock:
        _pending[request_id] = pending
    try:
        from moto.awslambda.utils import get_backend

        try:
            get_backend(fn_account, fn_region).invoke_function(token, None, json.dumps(event).encode(), "Event")
        except Exception as exc:
            raise CustomResourceFailure(f"Failed to invoke {token}: {getattr(exc, 'message', None) or exc}") \
                from None
        # AWS's hour on the workshop clock; a changed time scale applies to what is left.
        if get_clock().wait(TIMEOUT_AWS_SECONDS, pending.done) and not pending.done.is_set():
            raise CustomResourceFailure(NO_RESPONSE.format(request_id=request_id))
    finally:
        with _lock:
            _pending.pop(request_id, None)
    response = pending.response or {}
    if response.get("Status") != "SUCCESS":
        reason = response.get("Reason") or "(no reason given)"
        raise CustomResourceFailure(f"Received response status [{response.get('Status')}] from custom resource. "
                                    f"Message returned: {reason} (RequestId: {request_id})")
    return response


def _deliver(account_id: str, key: str, body: bytes) -> tuple[int, str]:
    try:
        _, logical_id, request_id = key.rsplit("|", 2)
    except ValueError:
        return 404, "NoSuchKey"
    with _lock:
        pending = _pending.get(request_id)
    if pending is None or pending.logical_id != logical_id:
        return 404, "NoSuchKey"     # an unknown or expired request
    if pending.account_id != account_id:
        return 403, "AccessDenied"
    try:
        response = json.loads(body or b"{}")
        if not isinstance(response, dict):
            raise ValueError("not an object")
    except ValueError:
        response = {"Status": "FAILED", "Reason": "Invalid response object: the response is not JSON"}
    pending.response = response
    pending.done.set()
    return 200, ""


def response_app(environ: dict, start_response) -> list[bytes]:
    """PUT /cloudformation-custom-resource-response-REGION/KEY: a function's answer."""
    from workshop.cloud import errors

    if environ.get("REQUEST_METHOD") != "PUT":
        status, headers, body = errors.error_response(environ, 405, "MethodNotAllowed",
                                                      "The specified method is not allowed against this resource.",
                                                      "s3")
        start_response(status, headers)
        return [body]
    path = environ.get("PATH_INFO", "")
    key = unquote(path.lstrip("/").partition("/")[2])
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(min(length, 4 * 1024 * 1024)) if length else b""
    code, error = _deliver(environ.get("workshop.account", ""), key, body)
    if code != 200:
        message = {"NoSuchKey": "The specified key does not exist.", "AccessDenied": "Access Denied"}[error]
        status, headers, payload = errors.error_response(environ, code, error, message, "s3")
        start_response(status, headers)
        return [payload]
    start_response("200 OK", [("ETag", f'"{uuid.uuid4().hex}"'), ("Content-Length", "0")])
    return [b""]


services.mount("/" + BUCKET_PREFIX, response_app)


# -- the resource a stack keeps ----------------------------------------------------

class CustomResource(CloudFormationModel):
    """A custom resource as its function answered: the physical id and the Data."""

    def __init__(self, stack_id: str, logical_id: str, resource_type: str, physical_id: str,
                 data: dict[str, Any], props: dict[str, Any], account_id: str, region: str):
        self.stack_id, self.logical_id, self.resource_type = stack_id, logical_id, resource_type
        self.physical_id, self.data, self.props = physical_id, dict(data or {}), dict(props)
        self.account_id, self.region = account_id, region

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFormation::CustomResource"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True   # whatever the function's Data holds

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name in self.data:
            return self.data[attribute_name]
        from moto.cloudformation.exceptions import ValidationError

        raise ValidationError(message=f"CustomResource attribute error: Vendor response doesn't contain "
                                      f"{attribute_name} key in object {self.stack_id}|{self.logical_id}|")

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> CustomResource:
        stack_id, logical_id = kwargs["StackId"], kwargs["LogicalId"]
        resource_type = kwargs.get("ResourceType") or cloudformation_json.get("Type") or ""
        props = cloudformation_json.get("Properties") or {}
        response = request(account_id, region_name, "Create", stack_id, logical_id, resource_type, props)
        physical_id = response.get("PhysicalResourceId") or resource_name
        return cls(stack_id, logical_id, resource_type, physical_id, response.get("Data") or {}, props,
                   account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        request(account_id, region_name, "Delete", self.stack_id, self.logical_id, self.resource_type,
                self.props, physical_id=self.physical_id)


class CustomResourceRules(TypeRules):
    """Updates go to the function as Update requests; a new physical id replaces the old
    resource, whose Delete request follows; drift is not checked (as on AWS)."""

    type_name = "AWS::CloudFormation::CustomResource"
    in_place = True

    def update(self, model, new, old, account, region):
        response = request(account, region, "Update", model.stack_id, model.logical_id, model.resource_type,
                           new, physical_id=model.physical_id, old_props=old)
        physical_id = response.get("PhysicalResourceId") or model.physical_id
        updated = CustomResource(model.stack_id, model.logical_id, model.resource_type, physical_id,
                                 response.get("Data") or {}, new, account, region)
        if physical_id != model.physical_id:
            try:
                model.delete(account, region)
            except CustomResourceFailure as exc:
                log.info("deleting the replaced custom resource %s: %s", model.physical_id, exc.reason)
        return updated


register(CustomResourceRules())


def forget_account(account_id: str) -> None:
    """A reset account's requests stop waiting (their stacks are gone)."""
    with _lock:
        doomed = [p for p in _pending.values() if p.account_id == account_id]
    for pending in doomed:
        pending.response = {"Status": "FAILED", "Reason": "The account was reset"}
        pending.done.set()


services.on_account_reset(forget_account)
