"""Lambda state and rules the workshop adds to moto's backend: invocations that
run (a qualifier resolves to a version, an alias spreads them by its routing
weights), aliases that keep and check their routing configuration, AWS's
checks on code and environment variables. The function runner does the running."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import uuid
import zipfile
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from moto.awslambda.exceptions import (
    InvalidParameterValueException,
    LambdaClientError,
    PreconditionFailedException,
    UnknownFunctionException,
    ValidationException,
)
from moto.awslambda.models import LambdaAlias, LambdaBackend, LambdaFunction
from moto.awslambda.utils import make_function_arn
from moto.core.exceptions import JsonRESTError
from moto.utilities.utils import ARN_PARTITION_REGEX

from workshop.cloud import services
from workshop.cloud.services import extend
from workshop.cloud.services.awslambda import validation
from workshop.cloud.services.awslambda.validation import InvalidRequestContentException
from workshop.cloud.services.awslambda.invocation import (
    NODE_RUNTIMES,
    PYTHON_RUNTIMES,
    RESERVED_ENV,
    CodeError,
    FunctionSpec,
    Invocation,
    Outcome,
    Throttled,
)

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
_ALIAS_NAME = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}$")
_routing_lock = threading.Lock()

# moto's methods that the ones below wrap.
_moto_create_function = LambdaBackend.create_function
_moto_update_function_configuration = LambdaBackend.update_function_configuration
_moto_delete_function = LambdaBackend.delete_function
_moto_create_alias = LambdaBackend.create_alias
_moto_set_function_code = LambdaFunction._set_function_code


class InvalidRuntimeException(JsonRESTError):
    # AWS answers 502 for this code; 400 here so that boto3 reports it at once instead of retrying.
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidRuntimeException", message)


class RequestTooLargeException(LambdaClientError):
    code = 413

    def __init__(self, message: str):
        super().__init__("RequestTooLargeException", message)


class TooManyRequestsException(JsonRESTError):
    code = 429

    def __init__(self, message: str):
        super().__init__("TooManyRequestsException", message)


@dataclass
class InvokeResult:
    """What an invocation answers, for the response layer to put on the wire."""

    status: int
    payload: bytes
    request_id: str
    executed_version: str | None = None
    function_error: str | None = None
    log_result: str | None = None       # base64, when LogType=Tail


@dataclass
class _Target:
    function: LambdaFunction
    executed_version: str
    invoked_arn: str
    resource: str | None
    via_alias: bool


def _split_name(function_name: str) -> tuple[str, str | None]:
    """A function name, name:qualifier or (partial) ARN -> (name, qualifier or None)."""
    if re.match(ARN_PARTITION_REGEX, function_name):
        rest = function_name.split(":function:", 1)[-1]
    elif ":function:" in function_name:
        rest = function_name.split(":function:", 1)[-1]
    else:
        rest = function_name
    name, _, qualifier = rest.partition(":")
    return name, (qualifier or None)


def _weights(routing_config: Any) -> dict[str, float]:
    if not routing_config:
        return {}
    weights = routing_config.get("AdditionalVersionWeights") if isinstance(routing_config, dict) else None
    return dict(weights or {})


def pick_version(alias: LambdaAlias) -> str:
    """The version an invocation of ``alias`` runs. AWS draws it at random by the weights;
    here the additional version gets exactly its share of every run of invocations since the
    routing last changed, spread evenly, first one first (weight 0.1: invocations 1, 11, 21...).
    A canary then meets its new version as surely with 20 requests (a machine slowed down by a
    class) as with 2,000, and the alarm that watches it never misses it by a bad draw."""
    weights = _weights(alias.routing_config)
    with _routing_lock:
        n = alias.__dict__.get("_routed", 0)
        alias._routed = n + 1
    for version, weight in weights.items():   # at most one additional version (checked on update)
        if _share(n + 1, float(weight)) > _share(n, float(weight)):
            return str(version)
    return str(alias.function_version)


def _share(n: int, weight: float) -> int:
    """How many of the first ``n`` invocations the additional version has served."""
    return math.ceil(round(n * weight, 9))   # round: 10 * 0.1 is 1.0000000000000002


def _check_environment(spec: dict[str, Any]) -> None:
    variables = (spec.get("Environment") or {}).get("Variables") or {}
    reserved = sorted(set(variables) & RESERVED_ENV)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            "you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {','.join(reserved)}")


def _logs_backend(fn: LambdaFunction):
    from workshop.cloud.services.logs.models import logs_backend

    return logs_backend(fn.account_id, fn.region)


@extend(LambdaFunction)
class _LambdaFunction:
    # Looked up, not held: moto deep-copies functions (list_functions ALL, Publish=True), and a
    # held reference copied the account's whole CloudWatch Logs with them, every log event included.
    logs_backend = property(_logs_backend, lambda fn, value: None)

    def _set_function_code(self, updated_spec: dict[str, Any]) -> None:
        """moto's, and AWS's check that Zip code is a zip archive (the old code stays on failure)."""
        saved = {name: getattr(self, name, None)
                 for name in ("code_bytes", "code_size", "code_sha_256", "code_digest")}
        saved_code = dict(self.code) if isinstance(self.code, dict) else self.code

        def restore() -> None:
            for name, value in saved.items():
                if value is not None:
                    setattr(self, name, value)
            if isinstance(saved_code, dict) and self.code is not updated_spec:
                self.code.clear()
                self.code.update(saved_code)

        try:
            _moto_set_function_code(self, updated_spec)
        except (binascii.Error, ValueError, TypeError):   # a ZipFile that is not base64
            restore()
            raise InvalidRequestContentException(
                "Could not parse request body into json: ZipFile is not valid base64") from None
        code = getattr(self, "code_bytes", b"")
        if self.package_type == "Zip" and code and not zipfile.is_zipfile(BytesIO(code)):
            restore()
            raise InvalidParameterValueException(
                "Could not unzip uploaded file. Please check your file, then try to upload again.")
        if self.package_type == "Zip" and code:
            try:
                validation.check_unzipped(code)
            except InvalidParameterValueException:
                restore()
                raise

    def invoke(self, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        """moto's notifications (SNS, S3, CloudWatch Logs subscriptions, streams) invoke this
        version here; AWS delivers them asynchronously, so the publisher does not wait."""
        backend: LambdaBackend = _backend(self.account_id, self.region)
        qualifier = None if str(self.version) == "$LATEST" else str(self.version)
        result = backend.invoke_function(self.function_name, qualifier, _as_bytes(body),
                                         _header(request_headers, "x-amz-invocation-type") or "Event")
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
        return result.payload


@extend(LambdaAlias)
class _LambdaAlias:
    def update(self, description: str | None, function_version: str | None, routing_config: Any) -> None:
        if description is not None:
            self.description = description
        if function_version is not None:
            self.function_version = function_version
        if routing_config is not None:
            self.routing_config = routing_config
            self._routed = 0   # the new weights' shares count from here
        self.revision_id = str(uuid.uuid4())   # every change is a new revision, as in AWS

    def to_json(self) -> dict[str, Any]:
        result = {
            "AliasArn": self.arn,
            "Description": self.description or "",
            "FunctionVersion": str(self.function_version),
            "Name": self.name,
            "RevisionId": self.revision_id,
        }
        weights = _weights(self.routing_config)
        if weights:
            result["RoutingConfig"] = {"AdditionalVersionWeights": weights}
        return result


@extend(LambdaBackend)
class _LambdaBackend:
    # -- functions ----------------------------------------------------------
    def create_function(self, spec: dict[str, Any]) -> LambdaFunction:
        validation.check_create(spec)
        _check_environment(spec)
        return _moto_create_function(self, spec)

    def update_function_configuration(self, function_name: str, qualifier: str,
                                      body: dict[str, Any]) -> dict[str, Any] | None:
        validation.check_configuration(body)
        _check_environment(body)
        return _moto_update_function_configuration(self, function_name, qualifier, body)

    def delete_function(self, function_name: str, qualifier: str | None = None) -> None:
        name, in_name = _split_name(function_name)
        _moto_delete_function(self, function_name, qualifier)
        services.announce("lambda.function-deleted", account_id=self.account_id, region=self.region_name,
                          function_name=name, qualifier=in_name or qualifier)

    # -- aliases ------------------------------------------------------------
    def create_alias(self, name: str, function_name: str, function_version: str, description: str,
                     routing_config: Any) -> LambdaAlias:
        _check_alias_name(name)
        self._check_routing(function_name, str(function_version), routing_config)
        return _moto_create_alias(self, name, function_name, str(function_version), description,
                                  _clean_routing(routing_config))

    def update_alias(self, name: str, function_name: str, function_version: str | None, description: str | None,
                     routing_config: Any, revision_id: str | None = None) -> LambdaAlias:
        alias = self._lambdas.get_alias(name, _split_name(function_name)[0])
        if revision_id and revision_id != alias.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetAlias API to retrieve the latest Revision Id")
        version = str(function_version) if function_version is not None else str(alias.function_version)
        # Without RoutingConfig the weights stay; with an empty one they go.
        effective = alias.routing_config if routing_config is None else routing_config
        self._lambdas.get_function_by_name_or_arn_with_qualifier(function_name, version)
        self._check_routing(function_name, version, effective)
        alias.update(description, version if function_version is not None else None,
                     None if routing_config is None else _clean_routing(routing_config))
        return alias

    def _check_routing(self, function_name: str, function_version: str, routing_config: Any) -> None:
        if routing_config is not None and not isinstance(routing_config, dict):
            raise InvalidParameterValueException("RoutingConfig must be an object with AdditionalVersionWeights")
        weights = (routing_config or {}).get("AdditionalVersionWeights") or {}
        if not isinstance(weights, dict):
            raise InvalidParameterValueException("AdditionalVersionWeights must map a version to a weight")
        if len(weights) > 1:
            raise InvalidParameterValueException(
                "An alias can route to at most one additional version (AdditionalVersionWeights has "
                f"{len(weights)} entries)")
        if weights and function_version == "$LATEST":
            raise InvalidParameterValueException(
                "$LATEST is not supported for an alias pointing to more than 1 version")
        name = _split_name(function_name)[0]
        for version, weight in weights.items():
            try:
                weight = float(weight)
            except (TypeError, ValueError):
                weight = -1.0
            if not 0.0 <= weight <= 1.0:
                raise ValidationException(
                    str(weight), "routingConfig.additionalVersionWeights",
                    "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
                    "Member must have value greater than or equal to 0.0]")
            if str(version) == function_version:
                raise InvalidParameterValueException(
                    f"Invalid function version {function_version}. Function version {function_version} is "
                    "already included in routing configuration.")
            if str(version) == "$LATEST" or self._lambdas._get_version(name, str(version)) is None:
                raise InvalidParameterValueException(
                    f"Invalid function version {version} in AdditionalVersionWeights: "
                    "it must be a published version of the function")

    # -- invoking -----------------------------------------------------------
    def invoke(self, function_name: str, qualifier: str | None, body: Any, headers: Any,
               response_headers: Any) -> bytes:
        """moto's own entry point (EventBridge targets, Secrets Manager rotation, SQS mappings),
        synchronous: rotation steps and SQS deletions depend on the result."""
        result = self.invoke_function(function_name, qualifier, _as_bytes(body),
                                      _header(headers, "x-amz-invocation-type") or "RequestResponse")
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
        return result.payload

    def invoke_function(self, function_name: str, qualifier: str | None, payload: bytes,
                        invocation_type: str = "RequestResponse", client_context: str | None = None,
                        log_tail: bool = False, trace_header: str | None = None) -> InvokeResult:
        """Invoke a function (name, name:qualifier or ARN; qualifier = version or alias)."""
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise ValidationException(invocation_type, "invocationType",
                                      "Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
        target = self._resolve(function_name, qualifier)
        spec = self._spec_of(target.function, target.executed_version)
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise RequestTooLargeException(
                f"{len(payload)} byte payload is too large for the {invocation_type} invocation type "
                f"(limit {MAX_PAYLOAD_BYTES} bytes)")
        if payload.strip():
            try:
                json.loads(payload)
            except (UnicodeDecodeError, ValueError) as exc:
                raise InvalidRequestContentException(
                    f"Could not parse request body into json: Could not parse payload into json: {exc}") from None
        context = _client_context(client_context)
        request_id = str(uuid.uuid4())
        if invocation_type == "DryRun":
            return InvokeResult(204, b"", request_id, target.executed_version)
        invocation = Invocation(request_id=request_id, payload=payload, invoked_arn=target.invoked_arn,
                                executed_version=target.executed_version, resource=target.resource,
                                via_alias=target.via_alias, client_context=context,
                                trace_header=trace_header)
        if invocation_type == "Event":
            services.announce("lambda.invocation-queued", spec=spec, invocation=invocation)
            return InvokeResult(202, b"", request_id)
        try:
            outcome: Outcome = services.ask("lambda.invoke", spec=spec, invocation=invocation)
        except CodeError as exc:
            raise InvalidParameterValueException(f"{exc} (function {spec.function_name})") from None
        except Throttled:   # recorded by the runner
            raise TooManyRequestsException("Rate Exceeded.") from None
        body, error = outcome.payload, outcome.function_error
        if len(body) > MAX_RESPONSE_BYTES:
            body, error = json.dumps({
                "errorMessage": f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload "
                                f"size ({MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"}).encode(), "Unhandled"
        return InvokeResult(200, body, request_id, outcome.executed_version, error,
                            outcome.log_tail_b64 if log_tail else None)

    def _resolve(self, function_name: str, qualifier: str | None) -> _Target:
        storage = self._lambdas
        name, in_name = _split_name(function_name)
        if in_name and qualifier and in_name != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier.")
        qualifier = in_name or qualifier
        group = storage._functions.get(name)
        arn = make_function_arn(self.region_name, self.account_id, name)
        if group is None:
            raise UnknownFunctionException(f"{arn}:{qualifier}" if qualifier else arn)
        if qualifier is None or qualifier == "$LATEST":
            latest = group["latest"]
            if latest is None:
                raise UnknownFunctionException(arn)
            return _Target(latest, "$LATEST", f"{arn}:$LATEST" if qualifier else arn,
                           f"{name}:$LATEST" if qualifier else None, False)
        version = storage._get_version(name, qualifier)
        if version is not None:
            return _Target(version, qualifier, f"{arn}:{qualifier}", f"{name}:{qualifier}", False)
        alias = storage._get_function_aliases(name).get(qualifier)
        if alias is None:
            raise UnknownFunctionException(f"{arn}:{qualifier}")
        chosen = pick_version(alias)
        fn = group["latest"] if chosen == "$LATEST" else storage._get_version(name, chosen)
        if fn is None:
            raise UnknownFunctionException(f"{arn}:{chosen}")
        return _Target(fn, chosen, f"{arn}:{qualifier}", f"{name}:{qualifier}", True)

    def _spec_of(self, fn: LambdaFunction, version: str) -> FunctionSpec:
        runtime = fn.run_time or ""
        if fn.package_type != "Zip":
            raise InvalidRuntimeException(
                f"The workshop cloud runs Zip functions for the Python and Node.js runtimes only; function "
                f"{fn.function_name} is a container image function.")
        if runtime not in PYTHON_RUNTIMES + NODE_RUNTIMES:
            raise InvalidRuntimeException(
                f"The runtime parameter of {runtime or '(none)'} is not supported by the workshop cloud: it runs "
                f"functions for the Python runtimes ({', '.join(PYTHON_RUNTIMES)}, on its own Python) and the "
                f"Node.js runtimes ({', '.join(NODE_RUNTIMES)}, on the machine's node). "
                f"Function {fn.function_name} cannot be invoked here.")
        if not fn.handler:
            raise InvalidParameterValueException(f"Function {fn.function_name} has no handler.")
        variables = fn.environment_vars or {}
        return FunctionSpec(
            account_id=self.account_id, region=self.region_name, function_name=fn.function_name,
            version=version, runtime=runtime, handler=fn.handler, code_sha256=fn.code_sha_256 or "",
            environment=tuple(sorted((str(k), str(v)) for k, v in variables.items())),
            memory_size=int(fn.memory_size or 128), timeout=float(fn.timeout or 3),
            function_arn=make_function_arn(self.region_name, self.account_id, fn.function_name),
            code=getattr(fn, "code_bytes", b"") or b"",
            tracing_mode=str((getattr(fn, "tracing_config", None) or {}).get("Mode") or "PassThrough"))


def _check_alias_name(name: Any) -> None:
    if not isinstance(name, str) or not _ALIAS_NAME.match(name):
        raise ValidationException(str(name), "name",
                                  "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")


def _clean_routing(routing_config: Any) -> Any:
    """Weights as numbers, versions as strings; an empty configuration is none."""
    weights = _weights(routing_config)
    if not weights:
        return {}
    return {"AdditionalVersionWeights": {str(v): float(w) for v, w in weights.items()}}


def _client_context(encoded: str | None) -> dict | None:
    if not encoded:
        return None
    try:
        value = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise InvalidRequestContentException("Client context must be a valid Base64-encoded JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidRequestContentException("Client context must be a valid Base64-encoded JSON object.")
    return value


def _as_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if key.lower() == name:
            return value
    return None


def _backend(account_id: str, region: str) -> LambdaBackend:
    from moto.awslambda.utils import get_backend

    return get_backend(account_id, region)
