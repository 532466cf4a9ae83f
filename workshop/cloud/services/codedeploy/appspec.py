"""AppSpec files, read as CodeDeploy reads them: the Server platform's
``appspec.yml`` (files to copy, hook scripts per lifecycle event) and the
Lambda platform's AppSpec (the function, its alias, the current and target
versions, and the BeforeAllowTraffic / AfterAllowTraffic hook functions)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

# In-place lifecycle events on an instance, in order; the traffic ones happen only behind a load balancer.
SERVER_EVENTS = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic", "ApplicationStop", "DownloadBundle",
                 "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService",
                 "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
TRAFFIC_EVENTS = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic", "BeforeAllowTraffic",
                  "AllowTraffic", "AfterAllowTraffic")
# Events the agent runs itself: an AppSpec cannot hook them.
AGENT_EVENTS = ("BlockTraffic", "DownloadBundle", "Install", "AllowTraffic")
SERVER_HOOKS = tuple(e for e in SERVER_EVENTS if e not in AGENT_EVENTS)
LAMBDA_EVENTS = ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
LAMBDA_HOOKS = ("BeforeAllowTraffic", "AfterAllowTraffic")
DEFAULT_SCRIPT_TIMEOUT = 3600   # seconds, the agent's default and maximum
FILE_EXISTS_BEHAVIORS = ("DISALLOW", "OVERWRITE", "RETAIN")


class AppSpecError(ValueError):
    """The AppSpec cannot be used; the message says why, as CodeDeploy would."""


@dataclass
class Script:
    location: str
    timeout: float = DEFAULT_SCRIPT_TIMEOUT


@dataclass
class FileMapping:
    source: str
    destination: str


@dataclass
class ServerAppSpec:
    os: str
    files: list[FileMapping] = field(default_factory=list)
    hooks: dict[str, list[Script]] = field(default_factory=dict)
    file_exists_behavior: str | None = None


@dataclass
class LambdaAppSpec:
    resource: str
    function_name: str
    alias: str
    current_version: str
    target_version: str
    hooks: dict[str, str] = field(default_factory=dict)

    def reversed(self) -> LambdaAppSpec:
        """The AppSpec that shifts traffic back (a rollback runs no hooks)."""
        return LambdaAppSpec(self.resource, self.function_name, self.alias, self.target_version,
                             self.current_version)

    def to_content(self) -> str:
        spec: dict[str, Any] = {"version": 0.0, "Resources": [{self.resource: {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Name": self.function_name, "Alias": self.alias,
                           "CurrentVersion": self.current_version, "TargetVersion": self.target_version}}}]}
        if self.hooks:
            spec["Hooks"] = [{event: fn} for event, fn in self.hooks.items()]
        return json.dumps(spec)


def _load(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise AppSpecError("The AppSpec file is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)   # YAML is a superset of JSON: both forms load
    except yaml.YAMLError as exc:
        raise AppSpecError(f"The AppSpec file is not valid YAML or JSON: {exc}") from None


def _version(data: dict) -> None:
    version = data.get("version")
    if str(version) not in ("0.0", "0"):
        raise AppSpecError(
            f"The deployment failed because an invalid version value ({version}) was entered in the application "
            "specification file. Make sure your AppSpec file specifies \"0.0\" as the version, and then try again.")


def parse_server(text: str | bytes) -> ServerAppSpec:
    data = _load(text)
    if not isinstance(data, dict):
        raise AppSpecError("The AppSpec file must be a mapping with version, os, files and hooks")
    _version(data)
    os_name = data.get("os")
    if os_name not in ("linux", "windows"):
        raise AppSpecError(f"The AppSpec file's os must be linux or windows, not {os_name!r}")
    files = []
    for entry in data.get("files") or []:
        if not isinstance(entry, dict) or not entry.get("source") or not entry.get("destination"):
            raise AppSpecError("Each entry of files in the AppSpec file needs a source and a destination")
        files.append(FileMapping(str(entry["source"]), str(entry["destination"])))
    hooks: dict[str, list[Script]] = {}
    raw_hooks = data.get("hooks") or {}
    if not isinstance(raw_hooks, dict):
        raise AppSpecError("The hooks section of the AppSpec file must map lifecycle events to scripts")
    for event, scripts in raw_hooks.items():
        if event not in SERVER_HOOKS:
            raise AppSpecError(
                f"The AppSpec file names an unknown lifecycle event {event!r}: use {', '.join(SERVER_HOOKS)}")
        if scripts is None:
            continue
        if isinstance(scripts, dict):
            scripts = [scripts]
        if not isinstance(scripts, list):
            raise AppSpecError(f"The {event} hook must be a list of scripts")
        for script in scripts:
            if not isinstance(script, dict) or not script.get("location"):
                raise AppSpecError(f"Each script of the {event} hook needs a location")
            try:
                timeout = float(script.get("timeout", DEFAULT_SCRIPT_TIMEOUT))
            except (TypeError, ValueError):
                raise AppSpecError(f"The timeout of {script['location']} must be a number of seconds") from None
            if not 0 < timeout <= DEFAULT_SCRIPT_TIMEOUT:
                raise AppSpecError(f"The timeout of {script['location']} must be from 1 to 3600 seconds")
            hooks.setdefault(event, []).append(Script(str(script["location"]), timeout))
    behavior = data.get("file_exists_behavior")
    if behavior is not None and str(behavior).upper() not in FILE_EXISTS_BEHAVIORS:
        raise AppSpecError(f"file_exists_behavior must be one of {', '.join(FILE_EXISTS_BEHAVIORS)}")
    return ServerAppSpec(os_name, files, hooks, str(behavior).upper() if behavior else None)


def one_resource(text: str | bytes, resource_type: str, platform: str) -> tuple[dict, str, dict]:
    """A Lambda or ECS AppSpec's document, its one resource's name and Properties, checked as
    CodeDeploy checks them (``platform``, "a Lambda" or "an ECS", names the deployment kind)."""
    data = _load(text)
    if not isinstance(data, dict):
        raise AppSpecError("The AppSpec must be a mapping with version, Resources and Hooks")
    _version(data)
    resources = data.get("Resources")
    if not isinstance(resources, list) or len(resources) != 1 or not isinstance(resources[0], dict) \
            or len(resources[0]) != 1:
        raise AppSpecError(f"The AppSpec file for {platform} deployment must have exactly one resource under "
                           "Resources")
    (resource, body), = resources[0].items()
    if not isinstance(body, dict) or body.get("Type") != resource_type:
        raise AppSpecError(f"The resource {resource} must have Type {resource_type}")
    return data, str(resource), body.get("Properties") or {}


def function_hooks(data: dict, allowed: tuple[str, ...], platform: str, joiner: str = ", ") -> dict[str, str]:
    """A Lambda or ECS AppSpec's Hooks (a list of {LifecycleEvent: FunctionName}, or one mapping)."""
    hooks: dict[str, str] = {}
    raw = data.get("Hooks") or []
    if isinstance(raw, dict):
        raw = [{k: v} for k, v in raw.items()]
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise AppSpecError("Hooks must be a list of {LifecycleEvent: FunctionName}")
    for entry in raw:
        for event, fn in entry.items():
            if event not in allowed:
                raise AppSpecError(f"The lifecycle event {event!r} cannot have a hook in {platform} deployment: "
                                   f"use {joiner.join(allowed)}")
            if not isinstance(fn, str) or not fn:
                raise AppSpecError(f"The {event} hook must name a Lambda function")
            hooks[event] = fn
    return hooks


def parse_lambda(text: str | bytes) -> LambdaAppSpec:
    data, resource, props = one_resource(text, "AWS::Lambda::Function", "a Lambda")
    missing = [p for p in ("Name", "Alias", "CurrentVersion", "TargetVersion") if props.get(p) in (None, "")]
    if missing:
        raise AppSpecError(f"The resource {resource} lacks {', '.join(missing)} in its Properties")
    hooks = function_hooks(data, LAMBDA_HOOKS, "a Lambda", joiner=" or ")
    return LambdaAppSpec(resource, str(props["Name"]), str(props["Alias"]),
                         _version_text(props["CurrentVersion"]), _version_text(props["TargetVersion"]), hooks)


def _version_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
