"""CloudFormation for Lambda: ``AWS::Lambda::Function`` with every property the
API takes (inline ZipFile code also on update), ``AWS::Lambda::Version`` with
AWS's Ref and attributes, and ``AWS::Lambda::Alias``, which moto lacks."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from typing import Any

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaFunction, LambdaVersion
from moto.awslambda.utils import get_backend, make_function_arn
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel

from workshop.cloud.services import extend
from workshop.cloud.services.cfn_model import CfnResource, cfn_failures, integer
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register, tag_list
from workshop.cloud.services.awslambda.models import _split_name

# CloudFormation property -> CreateFunction parameter, where they differ.
_RENAMED = {"KmsKeyArn": "KMSKeyArn"}
_OPTIONAL = ("Description", "MemorySize", "Timeout", "Environment", "Layers", "Architectures",
             "EphemeralStorage", "TracingConfig", "PackageType", "ImageConfig", "KmsKeyArn", "VpcConfig",
             "ReservedConcurrentExecutions", "Handler", "Runtime")
_CONFIGURABLE = ("Description", "Handler", "MemorySize", "Role", "Runtime", "Timeout", "VpcConfig", "Layers")


def _inline_zip(source: str) -> bytes:
    """Inline code as AWS packs it (index.py, plus the cfnresponse module), with fixed
    timestamps so that the same text gives the same CodeSha256 (no spurious new versions)."""
    from moto.utilities.utils import load_resource_as_str

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("index.py", source),
                           ("cfnresponse.py", load_resource_as_str("awslambda/resources/cfnresponse.py.txt"))):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, text, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _code(properties: dict[str, Any]) -> dict[str, Any]:
    """The Code property as the API takes it: inline ZipFile text becomes a zip."""
    code = dict(properties.get("Code") or {})
    if "ZipFile" in code:
        code["ZipFile"] = base64.b64encode(_inline_zip(str(code["ZipFile"]))).decode("ascii")
    return code


def _function_spec(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"FunctionName": name, "Role": properties["Role"], "Code": _code(properties)}
    for prop in _OPTIONAL:
        if prop in properties:
            spec[_RENAMED.get(prop, prop)] = properties[prop]
    for prop in ("MemorySize", "Timeout"):
        if prop in spec:
            spec[prop] = integer(spec[prop], prop)
    tags = properties.get("Tags")
    if isinstance(tags, list):
        spec["Tags"] = {t["Key"]: t["Value"] for t in tags if isinstance(t, dict) and "Key" in t}
    return spec


# A function name is at most 64 characters.
_NAME_LIMIT = 64


def _generated_name(name: str) -> str:
    """CloudFormation's own name for a function the template leaves unnamed,
    STACK-LOGICALID-SUFFIX, cut to fit Lambda's limit as AWS cuts it (the stack and
    logical id shortened, the random suffix kept): CDK's long logical ids need it."""
    if len(name) <= _NAME_LIMIT:
        return name
    prefix, _, suffix = name.rpartition("-")
    return f"{prefix[:_NAME_LIMIT - len(suffix) - 1].rstrip('-')}-{suffix}"


@extend(LambdaFunction)
class _FunctionResource:
    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> LambdaFunction:
        properties = cloudformation_json["Properties"]
        if "FunctionName" not in properties:
            resource_name = _generated_name(resource_name)
        with cfn_failures(kwargs.get("LogicalId")):
            return get_backend(account_id, region_name).create_function(_function_spec(resource_name, properties))

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: LambdaFunction, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> LambdaFunction:
        properties = cloudformation_json["Properties"]
        backend = get_backend(account_id, region_name)
        wanted_name = properties.get("FunctionName")
        with cfn_failures(getattr(original_resource, "logical_resource_id", None)):
            if wanted_name and wanted_name != original_resource.function_name:
                # A new name is a new function (replacement), as in AWS.
                new = backend.create_function(_function_spec(wanted_name, properties))
                backend.delete_function(original_resource.function_name)
                return new
            name = original_resource.function_name
            updates = {prop: properties[prop] for prop in _CONFIGURABLE if prop in properties}
            # A variable removed from the template is removed from the function.
            updates["Environment"] = {"Variables": (properties.get("Environment") or {}).get("Variables") or {}}
            for prop in ("MemorySize", "Timeout"):
                if prop in updates:
                    updates[prop] = integer(updates[prop], prop)
        backend.update_function_configuration(name, None, updates)
        code = _code(properties)
        if _code_changed(original_resource, code):   # unchanged code keeps the warm workers
            backend.update_function_code(name, None, code)
        return original_resource

    # Ref and Fn::GetAtt Arn are moto's own.


def _code_changed(function: LambdaFunction, code: dict[str, Any]) -> bool:
    if "ZipFile" in code:
        digest = base64.b64encode(hashlib.sha256(base64.b64decode(code["ZipFile"])).digest()).decode()
        return digest != function.code_sha_256
    current = function.code or {}
    return any(code.get(k) != current.get(k) for k in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")
               if k in code)


@extend(LambdaVersion)
class _VersionResource:
    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> LambdaVersion:
        properties = cloudformation_json["Properties"]
        backend = get_backend(account_id, region_name)
        published = backend.publish_version(properties["FunctionName"], properties.get("Description", ""))
        if published is None:
            raise UnknownFunctionException(str(properties["FunctionName"]))
        version = LambdaVersion({"Version": published.version})
        version.function_name = published.function_name
        version.account_id = account_id
        version.region = region_name
        return version

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: LambdaVersion, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> LambdaVersion:
        # Every property change replaces a version; the old one stays (aliases may still point at it).
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                   region_name)

    @property
    def physical_resource_id(self) -> str:
        return f"{make_function_arn(self.region, self.account_id, self.function_name)}:{self.version}"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Version", "FunctionArn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Version":
            return str(self.version)
        if attribute_name == "FunctionArn":
            return make_function_arn(self.region, self.account_id, self.function_name)
        raise UnformattedGetAttTemplateException()

    def delete(self, account_id: str, region: str) -> None:
        try:
            get_backend(account_id, region).delete_function(self.function_name, str(self.version))
        except UnknownFunctionException:
            pass


def _routing(properties: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's list of {FunctionVersion, FunctionWeight} -> the API's map."""
    entries = (properties.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or []
    if isinstance(entries, dict):
        entries = [{"FunctionVersion": k, "FunctionWeight": v} for k, v in entries.items()]
    weights = {str(e["FunctionVersion"]): float(e["FunctionWeight"]) for e in entries}
    return {"AdditionalVersionWeights": weights} if weights else {}


def _function_of(name: Any) -> str:
    return _split_name(str(name))[0]


class LambdaAliasResource(CfnResource, CloudFormationModel):
    """An alias created by a stack (the alias itself lives in the Lambda backend)."""

    cfn_type = "AWS::Lambda::Alias"
    cfn_name_property = "Name"
    cfn_attributes = {"AliasArn": "arn"}
    ref_attribute = "arn"
    backend = staticmethod(get_backend)

    @staticmethod
    def _settings(props: dict[str, Any]) -> dict[str, Any]:
        return {"function_version": str(props["FunctionVersion"]), "description": props.get("Description", ""),
                "routing_config": _routing(props)}

    @classmethod
    def _create(cls, backend: Any, name: str, props: dict[str, Any]) -> LambdaAliasResource:
        name, function_name = props.get("Name") or name, _function_of(props["FunctionName"])
        alias = backend.create_alias(name=name, function_name=function_name, **cls._settings(props))
        return cls(name, function_name=function_name, arn=alias.arn)

    def _update(self, backend: Any, name: str, props: dict[str, Any]) -> LambdaAliasResource:
        name, function_name = props.get("Name") or name, _function_of(props["FunctionName"])
        if (name, function_name) != (self.name, self.function_name):
            return self._replace(backend, name, props)
        backend.update_alias(name=name, function_name=function_name, **self._settings(props))
        return self

    @classmethod
    def _restore(cls, backend: Any, physical_id: str, props: dict[str, Any]) -> LambdaAliasResource:
        return cls(props.get("Name") or physical_id, function_name=_function_of(props.get("FunctionName", "")),
                   arn=physical_id)

    def _delete(self, backend: Any) -> None:
        try:
            backend.delete_alias(self.name, self.function_name)
        except UnknownFunctionException:
            pass  # the function went first


class FunctionRules(TypeRules):
    type_name = "AWS::Lambda::Function"
    drift_properties = frozenset({"FunctionName", "Description", "Handler", "Runtime", "Timeout", "MemorySize",
                                  "Role", "Environment", "Tags"})

    def live(self, physical_id, props, account, region):
        fn = _latest(account, region, physical_id)
        if fn is None:
            return None
        live: dict[str, Any] = {"FunctionName": fn.function_name, "Handler": fn.handler, "Runtime": fn.run_time,
                                "Timeout": fn.timeout, "MemorySize": fn.memory_size, "Role": fn.role}
        if fn.description:
            live["Description"] = fn.description
        if fn.environment_vars:
            live["Environment"] = {"Variables": dict(fn.environment_vars)}
        tags = tag_list(fn.tags or {})
        if tags:
            live["Tags"] = tags
        return live


class AliasRules(TypeRules):
    type_name = "AWS::Lambda::Alias"
    replace_on = frozenset({"FunctionName", "Name"})
    drift_properties = frozenset({"FunctionVersion", "Description", "RoutingConfig"})

    def live(self, physical_id, props, account, region):
        function_name = _function_of(props.get("FunctionName", ""))
        name = props.get("Name") or physical_id.rsplit(":", 1)[-1]
        try:
            aliases = get_backend(account, region)._lambdas._get_function_aliases(function_name)
        except Exception:
            return None
        alias = (aliases or {}).get(name)
        if alias is None:
            return None
        live: dict[str, Any] = {"FunctionVersion": str(alias.function_version)}
        if alias.description:
            live["Description"] = alias.description
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
        if weights:
            live["RoutingConfig"] = {"AdditionalVersionWeights": [
                {"FunctionVersion": str(v), "FunctionWeight": w} for v, w in weights.items()]}
        return live


def _latest(account: str, region: str, name: str) -> Any:
    group = get_backend(account, region)._lambdas._functions.get(_function_of(name))
    return group["latest"] if group else None


for _rules in (FunctionRules(), AliasRules()):
    register(_rules)
