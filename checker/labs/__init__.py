"""The labs' checks, one module per lab (``checker.registry.LAB_MODULES``),
and the conventions every lab shares with its notebook helpers (``labkit``):
the lab tag, the name of a lab's bucket, reading tags and templates."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

# Every resource a lab creates carries this tag (value: the lab id), so that
# `workshop reset LAB` can remove exactly what the lab made.
LAB_TAG_KEY = "workshop:lab"


def bucket_name(prefix: str, account_id: str, region: str) -> str:
    """A lab bucket's name: ``<prefix>-<account>-<region>``; bucket names are
    global across accounts, so the account id keeps learners apart."""
    name = f"{prefix}-{account_id}-{region}".lower()
    if len(name) > 63:
        raise ValueError(f"bucket name {name!r} is longer than 63 characters: use a shorter prefix")
    return name


def tag_dict(tags: Any) -> dict[str, str]:
    """Tags in any of AWS's shapes ([{Key, Value}], [{key, value}], {k: v}) as one dict."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    out: dict[str, str] = {}
    if isinstance(tags, Iterable):
        for tag in tags:
            if isinstance(tag, Mapping):
                key = tag.get("Key", tag.get("key"))
                if key is not None:
                    out[str(key)] = str(tag.get("Value", tag.get("value", "")))
    return out


def has_lab_tag(tags: Any, lab_id: str) -> bool:
    return tag_dict(tags).get(LAB_TAG_KEY) == lab_id


def parse_template(body: Any) -> dict:
    """A CloudFormation template (JSON or YAML with short-form ``!Ref``-style
    tags) as a dict; short forms become their long form (``{"Fn::Sub": ...}``).
    PyYAML, not cfn-lint, so that ``workshop check`` stays quick to start."""
    if isinstance(body, Mapping):
        return dict(body)
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    Loader.add_multi_constructor("!", intrinsic)
    data = yaml.load(body, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
    if not isinstance(data, dict):
        raise ValueError("the template is not a mapping")
    return data


def parse_time(value: Any) -> datetime | None:
    """A timestamp from boto3 (datetime) or from JSON (ISO 8601 text), timezone-aware."""
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str) and value:
        try:
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def json_default(value: Any) -> Any:
    """``json.dumps(..., default=json_default)`` for boto3 answers (datetimes)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def loads_json(text: Any) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return json.loads(text)
