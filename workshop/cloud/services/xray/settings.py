"""X-Ray's settings per account and region, beside the trace store: groups
(groups.py), sampling rules and their statistics (sampling.py), and the tags
of both. A BackendDict of its own, so it is snapshotted, restored and reset
like every service's state."""

from __future__ import annotations

from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend

from workshop.cloud.clock import get_clock
from workshop.cloud.services.xray.groups import Group, GroupOperations, XRayError, invalid
from workshop.cloud.services.xray.sampling import SamplingOperations, SamplingRule

MAX_TAGS = 50


class XRaySettingsBackend(GroupOperations, SamplingOperations, BaseBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.groups: dict[str, Group] = {}
        self.rules: dict[str, SamplingRule] = {}
        self.tags: dict[str, dict[str, str]] = {}

    def now(self) -> float:
        return get_clock().timestamp()

    # -- tags (TagResource, UntagResource, ListTagsForResource) -----------------------
    def _known(self, arn: Any) -> bool:
        return any(g.arn == arn for g in self.groups.values()) or any(r.arn == arn for r in self.rules.values())

    def tag(self, arn: str, tags: Any) -> None:
        if not isinstance(tags, list) or not all(
                isinstance(t, dict) and isinstance(t.get("Key"), str) and isinstance(t.get("Value"), str)
                and 1 <= len(t["Key"]) <= 128 and len(t["Value"]) <= 256 for t in tags):
            raise invalid("Tags must be a list of Key (1-128 characters) and Value (0-256 characters).")
        if any(t["Key"].lower().startswith("aws:") for t in tags):
            raise invalid("Tag keys starting with aws: are reserved by AWS.")
        merged = {**self.tags.get(arn, {}), **{t["Key"]: t["Value"] for t in tags}}
        if len(merged) > MAX_TAGS:
            raise XRayError("TooManyTagsException", f"A resource can have at most {MAX_TAGS} tags.")
        self.tags[arn] = merged

    def untag_all(self, arn: str) -> None:
        self.tags.pop(arn, None)

    def tag_resource(self, arn: Any, tags: Any) -> None:
        if not self._known(arn):
            raise XRayError("ResourceNotFoundException", f"Resource {arn} not found.", 404)
        self.tag(arn, tags)

    def untag_resource(self, arn: Any, keys: Any) -> None:
        if not self._known(arn):
            raise XRayError("ResourceNotFoundException", f"Resource {arn} not found.", 404)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise invalid("TagKeys must be a list of strings.")
        if any(k.lower().startswith("aws:") for k in keys):
            raise invalid("Tag keys starting with aws: are reserved by AWS.")
        for key in keys:
            self.tags.get(arn, {}).pop(key, None)

    def list_tags(self, arn: Any) -> list[dict[str, str]]:
        if not self._known(arn):
            raise XRayError("ResourceNotFoundException", f"Resource {arn} not found.", 404)
        return [{"Key": k, "Value": v} for k, v in sorted(self.tags.get(arn, {}).items())]


settings_backends = BackendDict(XRaySettingsBackend, "xray")


def settings(account_id: str, region: str) -> XRaySettingsBackend:
    return settings_backends[account_id][region]
