"""Reading CloudFormation templates: parsing (safe YAML with the short-form
intrinsics, or JSON), the structural checks AWS makes before it starts a
stack operation, and the dependency order resources are provisioned in."""

from __future__ import annotations

import json
import re
import socket
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from moto.cloudformation.exceptions import ValidationError

SECTIONS = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings",
            "Conditions", "Transform", "Resources", "Outputs", "Hooks"}
RESOURCE_ATTRIBUTES = {"Type", "Properties", "DependsOn", "Condition", "Metadata", "DeletionPolicy",
                       "UpdateReplacePolicy", "CreationPolicy", "UpdatePolicy"}
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short forms (!Ref, !GetAtt, !Sub ...).

    moto parses with PyYAML's unsafe Loader; a template is user input, so the
    workshop parses it safely first and rejects what only the unsafe one reads.
    """


def _intrinsic(loader: _TemplateLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def parse(body: Any) -> dict[str, Any]:
    """The template as a dict, or a ValidationError worded as AWS words it."""
    if isinstance(body, dict):
        return body
    if body is None or not str(body).strip():
        raise ValidationError(message="Template format error: template body is empty.")
    text = str(body)
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                message=f"Template format error: JSON not well-formed. (line {exc.lineno}, column {exc.colno})")
    else:
        try:
            parsed = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506  (a SafeLoader subclass)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ValidationError(message=f"Template format error: YAML not well-formed.{where}")
        except yaml.YAMLError as exc:
            raise ValidationError(message=f"Template format error: YAML not well-formed. {exc}")
    if not isinstance(parsed, dict):
        raise ValidationError(message="Template format error: unsupported structure.")
    _booleans_as_text(parsed)
    return parsed


def _booleans_as_text(template: dict[str, Any]) -> None:
    """Parameter values are strings: YAML's `true` in a Default or AllowedValues is "true"."""
    parameters = template.get("Parameters")
    if not isinstance(parameters, dict):
        return
    for spec in parameters.values():
        if not isinstance(spec, dict):
            continue
        if isinstance(spec.get("Default"), bool):
            spec["Default"] = text(spec["Default"])
        if isinstance(spec.get("AllowedValues"), list):
            spec["AllowedValues"] = [text(v) if isinstance(v, bool) else v for v in spec["AllowedValues"]]


def text(value: Any) -> str:
    """A template scalar as CloudFormation reads it: YAML's true is "true", not "True"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(text(v) for v in value)
    return str(value)


def transforms(template: dict[str, Any]) -> list[str]:
    transform = template.get("Transform") or []
    names = transform if isinstance(transform, list) else [transform]
    return [str(n.get("Name") if isinstance(n, dict) else n) for n in names]


IAM_TYPES = {"AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName",
             "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::IAM::Policy": None,
             "AWS::IAM::AccessKey": None, "AWS::IAM::InstanceProfile": "InstanceProfileName",
             "AWS::IAM::UserToGroupAddition": None}


def capabilities(template: dict[str, Any]) -> tuple[list[str], str | None]:
    """The capabilities a stack of this template must acknowledge, and why (as ValidateTemplate says)."""
    named, plain = [], []
    for logical_id, resource in (template.get("Resources") or {}).items():
        resource_type = resource.get("Type") if isinstance(resource, dict) else None
        if resource_type not in IAM_TYPES:
            continue
        name_property = IAM_TYPES[resource_type]
        if name_property and ((resource.get("Properties") or {}).get(name_property)):
            named.append(logical_id)
        else:
            plain.append(logical_id)
    if named:
        return ["CAPABILITY_NAMED_IAM"], f"The following resource(s) require capabilities: " \
                                         f"[{', '.join(sorted({template['Resources'][n]['Type'] for n in named}))}]"
    if plain:
        return ["CAPABILITY_IAM"], f"The following resource(s) require capabilities: " \
                                   f"[{', '.join(sorted({template['Resources'][n]['Type'] for n in plain}))}]"
    return [], None


def validate(template: dict[str, Any], transforms: bool = False) -> None:
    """The checks AWS makes synchronously, before any resource is touched
    (``transforms``: a Transform is declared, not refused, as ValidateTemplate does)."""
    unknown = sorted(str(k) for k in template if k not in SECTIONS)
    if unknown:
        raise ValidationError(
            message=f"Template format error: Invalid template property or properties [{', '.join(unknown)}]")
    transform = template.get("Transform")
    if transform and not transforms:
        names = transform if isinstance(transform, list) else [transform]
        shown = ", ".join(str(n.get("Name") if isinstance(n, dict) else n) for n in names)
        raise ValidationError(message=f"Transform {shown} is not supported by the workshop cloud.")
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    parameters = template.get("Parameters") or {}
    if not isinstance(parameters, dict):
        raise ValidationError(message="Template format error: Parameters must be an object.")
    for name, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise ValidationError(message=f"Template format error: [/Resources/{name}] "
                                          "Every Resources object must contain a Type member.")
        extra = sorted(k for k in resource if k not in RESOURCE_ATTRIBUTES)
        if extra:
            raise ValidationError(message="Template format error: Unrecognized resource attributes in resource "
                                          f"{name}: [{', '.join(extra)}]")
        props = resource.get("Properties")
        if props is not None and not isinstance(props, dict):
            raise ValidationError(
                message=f"Template format error: [/Resources/{name}/Properties] Properties must be an object.")
        condition = resource.get("Condition")
        if condition is not None and condition not in (template.get("Conditions") or {}):
            raise ValidationError(
                message=f"Template format error: Unresolved condition dependencies [{condition}] "
                        f"in the Resources block of the template")
    known = set(resources) | set(parameters)
    for block in ("Resources", "Outputs"):
        missing: set[str] = set()
        for name, value in (template.get(block) or {}).items():
            for kind, target in references(value):
                if kind == "GetAtt" and target not in resources:
                    raise ValidationError(
                        message=f"Template error: instance of Fn::GetAtt references undefined resource {target}")
                if kind == "Ref" and target not in known and not target.startswith("AWS::"):
                    missing.add(target)
            if block == "Resources":
                missing.update(d for d in depends_on(value) if d not in resources)
        if missing:
            raise ValidationError(
                message=f"Template format error: Unresolved resource dependencies [{', '.join(sorted(missing))}] "
                        f"in the {block} block of the template")
    order(template)  # raises on a circular dependency


def references(value: Any) -> list[tuple[str, str]]:
    """(kind, name) for every Ref / Fn::GetAtt / ${...} in a template fragment."""
    found: list[tuple[str, str]] = []
    _collect(value, found, frozenset())
    return found


def _collect(value: Any, found: list[tuple[str, str]], local: frozenset[str]) -> None:
    if isinstance(value, dict):
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and isinstance(arg, str):
                found.append(("Ref", arg))
                return
            if key == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) and arg else str(arg).split(".", 1)[0]
                if isinstance(target, str):
                    found.append(("GetAtt", target))
                return
            if key == "Fn::Sub":
                text, variables = (arg[0], arg[1] if len(arg) > 1 else {}) if isinstance(arg, list) else (arg, {})
                if isinstance(variables, dict):
                    for v in variables.values():
                        _collect(v, found, local)
                    names = local | frozenset(variables)
                else:
                    names = local
                if isinstance(text, str):
                    for expr in _SUB_VARIABLE.findall(text):
                        expr = expr.strip()
                        if expr in names:
                            continue
                        if "." in expr and not expr.startswith("AWS::"):
                            found.append(("GetAtt", expr.split(".", 1)[0]))
                        else:
                            found.append(("Ref", expr))
                return
        for v in value.values():
            _collect(v, found, local)
    elif isinstance(value, list):
        for v in value:
            _collect(v, found, local)


def depends_on(resource: Any) -> list[str]:
    if not isinstance(resource, dict):
        return []
    deps = resource.get("DependsOn") or []
    return [deps] if isinstance(deps, str) else [d for d in deps if isinstance(d, str)]


def dependencies(template: dict[str, Any], name: str) -> set[str]:
    """The resources `name` needs to exist before it can be created."""
    resources = template.get("Resources") or {}
    resource = resources.get(name) or {}
    needed = {target for _, target in references({k: v for k, v in resource.items() if k != "DependsOn"})}
    needed.update(depends_on(resource))
    return {n for n in needed if n in resources and n != name}


def order(template: dict[str, Any]) -> list[str]:
    """Resources in an order where each comes after what it references; template
    order otherwise. A cycle is AWS's "Circular dependency" ValidationError."""
    resources = list((template.get("Resources") or {}).keys())
    needs = {name: dependencies(template, name) for name in resources}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(resources):
        progress = False
        for name in resources:
            if name not in placed and needs[name] <= placed:
                done.append(name)
                placed.add(name)
                progress = True
        if not progress:
            stuck = [n for n in resources if n not in placed]
            raise ValidationError(message=f"Circular dependency between resources: [{', '.join(stuck)}]")
    return done


def dependents(template: dict[str, Any], name: str) -> set[str]:
    """Resources that reference `name` (directly)."""
    return {other for other in (template.get("Resources") or {}) if name in dependencies(template, other)}


# -- template URLs ---------------------------------------------------------------

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"})
BAD_URL = "TemplateURL must be a supported URL."


def cloud_hosts(*extra: str | None) -> set[str]:
    """Every host name the cloud answers to: loopback names, its own endpoint's
    host, this machine's name, and whatever host a request reached it by."""
    from workshop.cloud import runtime

    hosts = set(LOOPBACK_HOSTS)
    for url in (runtime.endpoint(), *[f"//{e}" for e in extra if e]):
        host = urlsplit(url).hostname
        if host:
            hosts.add(host.lower())
    try:
        hosts.add(socket.gethostname().lower())
    except OSError:
        pass
    return hosts


def s3_location(url: str, hosts: set[str]) -> tuple[str, str]:
    """(bucket, key) of a template URL, as AWS reads S3 URLs (path style and
    virtual-hosted style on amazonaws.com), and path style on any host name
    of the cloud itself, whatever port, as CDK and the AWS CLI write them."""
    try:
        parts = urlsplit(str(url))
        host = (parts.hostname or "").lower()
    except ValueError:
        raise ValidationError(message=BAD_URL) from None
    path = unquote(parts.path).lstrip("/")
    if parts.scheme not in ("http", "https") or not host:
        raise ValidationError(message=BAD_URL)
    virtual = None
    if host.endswith(".amazonaws.com"):
        labels = host[:-len(".amazonaws.com")].split(".")
        if labels[0] in ("s3", "s3-external-1") or labels[0].startswith("s3-"):
            virtual = None  # path style: s3[.region].amazonaws.com/bucket/key
        elif "s3" in labels:
            virtual = ".".join(labels[:labels.index("s3")])
        else:
            raise ValidationError(message=BAD_URL)
    elif host.endswith(".localhost"):
        virtual = host[:-len(".localhost")]
    elif host not in hosts:
        raise ValidationError(message=BAD_URL)
    if virtual:
        bucket, key = virtual, path
    else:
        bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise ValidationError(message=BAD_URL)
    return bucket, key


def fetch(url: str, account_id: str, partition: str = "aws", request_host: str | None = None) -> str:
    """The text of the template a TemplateURL names, read from the cloud's S3."""
    from moto.s3.models import s3_backends

    bucket, key = s3_location(url, cloud_hosts(request_host))
    try:
        obj = s3_backends[account_id][partition].get_object(bucket, key)
    except Exception as exc:
        raise ValidationError(message=f"S3 error: Unable to get the template from {url}: "
                                      f"{getattr(exc, 'message', None) or exc}") from None
    if obj is None:
        raise ValidationError(message=f"S3 error: Unable to get the template from {url}: "
                                      "The specified key does not exist.")
    return obj.value.decode("utf-8")
