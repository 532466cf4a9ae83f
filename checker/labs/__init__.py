"""The labs' checks, one module per lab (``checker.registry.LAB_MODULES``),
and the conventions every lab shares with its notebook helpers (``labkit``):
the lab tag, the name of a lab's bucket, reading tags and templates."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from checker.registry import Finding, failed, passed

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


# -- the sample app, as the labs push it: the reference a check compares content with ----------

# Left behind by running the app's tests or benchmarks; never part of the source
# (labkit.sample copies the app without them).
GENERATED = ("__pycache__", "*.pyc", ".pytest_cache", ".benchmarks", "reports", "*.egg-info")


def sample_app_dir() -> Path:
    """The project's ``sample-app/`` folder: ``$WORKSHOP_HOME/sample-app``, else the
    checkout the checker runs from (the checker reads no other file of the project)."""
    import os

    home = os.environ.get("WORKSHOP_HOME")
    for root in ([Path(home)] if home else []) + [Path(__file__).resolve().parents[2], Path.cwd()]:
        if (root / "sample-app" / "app").is_dir():
            return root / "sample-app"
    raise FileNotFoundError("no sample-app/ folder: set WORKSHOP_HOME to the workshop folder")


def git_blob_id(content: bytes) -> str:
    """The id git (and CodeCommit's blobId) gives a file's content."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


_sample: dict[str, dict[str, str]] = {}


def sample_app_blobs() -> dict[str, str]:
    """Path -> git blob id of every file of the sample app as a lab copies it."""
    if "blobs" not in _sample:
        from fnmatch import fnmatch

        root = sample_app_dir()
        blobs = {}
        for path in sorted(root.rglob("*")):
            parts = path.relative_to(root).parts
            if path.is_file() and not any(fnmatch(p, g) for p in parts for g in GENERATED):
                blobs["/".join(parts)] = git_blob_id(path.read_bytes())
        _sample["blobs"] = blobs
    return dict(_sample["blobs"])


def sample_app_tests() -> dict[str, str]:
    """The sample app's test suite: test function name -> its module (``tests.test_x``),
    read from the source (pytest's names; a parametrized test reports ``name[...]``)."""
    if "tests" not in _sample:
        import ast

        tests = {}
        root = sample_app_dir()
        for path in sorted((root / "tests").glob("test_*.py")):
            module = f"tests.{path.stem}"
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                    tests[node.name] = module
        _sample["tests"] = tests
    return dict(_sample["tests"])


# -- finding shapes the labs share --------------------------------------------------------------

def missing(problem: str, then: str = "") -> Finding:
    """A check that cannot look yet: what is missing (the reader's words) and the step that makes it."""
    return failed(f"{problem} {then}".strip())


def untagged(lab_id: str, looked: Mapping[str, Any]) -> Finding:
    """``resources-tagged``: every named resource (label -> its tags) carries the lab tag."""
    tag = f"{LAB_TAG_KEY}={lab_id}"
    without = [label for label, tags in looked.items() if not has_lab_tag(tags, lab_id)]
    if without:
        return failed(f"Without the tag {tag}: {'; '.join(without)}.")
    return passed(f"{tag} on {', '.join(looked)}.")


def statements(policy: Any) -> list[dict]:
    """An IAM or resource policy's statements as a list (JSON text, one statement or many)."""
    if isinstance(policy, (str, bytes)):
        from urllib.parse import unquote

        try:
            policy = json.loads(unquote(policy if isinstance(policy, str) else policy.decode()))
        except ValueError:
            return []
    found = policy.get("Statement") if isinstance(policy, Mapping) else None
    if isinstance(found, Mapping):
        found = [found]
    return [s for s in found or [] if isinstance(s, Mapping)]


def as_list(value: Any) -> list:
    """A policy element (or any AWS field) that may be one value or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


# -- evidence AWS keeps: CloudTrail, AWS/ metrics, objects, folders -------------------------------

TRAIL_PAGES = 3  # at most 3 pages of 50 per lookup (CloudTrail: 2 lookups/s per account and region)


def trail_events(account, event_name: str, pages: int = TRAIL_PAGES) -> list[dict] | None:
    """The account's CloudTrail management events named ``event_name``, newest first, each
    the event's own record (``CloudTrailEvent``) parsed; None when CloudTrail cannot be read."""
    import time

    events: list[dict] = []
    token = None
    for _ in range(pages):
        if account.session.target.endpoint is None:  # real AWS: 2 lookups a second
            last = getattr(account, "_trail_last", 0.0)
            time.sleep(max(0.0, last + 0.5 - time.monotonic()))
            account._trail_last = time.monotonic()
        page = account.call("cloudtrail", "lookup_events", MaxResults=50,
                            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}],
                            **({"NextToken": token} if token else {}))
        if page is None:
            return None if not events else events
        for event in page.get("Events") or []:
            try:
                record = loads_json(event.get("CloudTrailEvent") or "{}")
            except ValueError:
                record = {}
            record.setdefault("eventName", event.get("EventName"))
            record.setdefault("eventTime", event.get("EventTime"))
            events.append(record)
        token = page.get("NextToken")
        if not token:
            break
    return events


def param(record: Mapping, name: str, where: str = "requestParameters") -> Any:
    """A member of an event's requestParameters (or responseElements) by its API name,
    in CloudTrail's lowerCamelCase or the API's own case."""
    found = record.get(where) or {}
    if not isinstance(found, Mapping):
        return None
    for key in (name[:1].lower() + name[1:], name[:1].upper() + name[1:], name):
        if key in found:
            return found[key]
    lowered = {str(k).lower(): v for k, v in found.items()}
    return lowered.get(name.lower())


def by_learner(record: Mapping) -> bool:
    """An event of a call the account's own identities made (not an AWS service at work)."""
    who = record.get("userIdentity") or {}
    return isinstance(who, Mapping) and who.get("type") != "AWSService" and not who.get("invokedBy")


def metric_sum(account, namespace: str, metric: str, dimensions: Mapping[str, str],
               start: datetime, end: datetime) -> float | None:
    """The Sum of a metric over [start, end) in one period (None: CloudWatch could not be read)."""
    import math

    seconds = max(1.0, (end - start).total_seconds())
    answer = account.call("cloudwatch", "get_metric_statistics", Namespace=namespace, MetricName=metric,
                          Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
                          StartTime=start, EndTime=end, Period=max(60, math.ceil(seconds / 60) * 60),
                          Statistics=["Sum"])
    if answer is None:
        return None
    return float(sum(p.get("Sum") or 0 for p in answer.get("Datapoints") or []))


def zip_files(account, bucket: str, key: str) -> tuple[dict[str, bytes] | None, str]:
    """The files of a zip object in S3 (name -> content), or (None, why not)."""
    import io
    import zipfile

    obj = account.call("s3", "get_object", Bucket=bucket, Key=key)
    if obj is None:
        return None, f"s3://{bucket}/{key} cannot be read ({account.errors.get('s3.get_object', 'no such object')})"
    try:
        archive = zipfile.ZipFile(io.BytesIO(obj["Body"].read()))
        return {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}, ""
    except zipfile.BadZipFile:
        return None, f"s3://{bucket}/{key} is not a zip file"


def zip_blobs(account, bucket: str, key: str) -> tuple[dict[str, str] | None, str]:
    """Path -> git blob id of the files of a zip object in S3, or (None, why not)."""
    files, why = zip_files(account, bucket, key)
    return ({name: git_blob_id(content) for name, content in files.items()} if files is not None else None), why


def folder_blobs(account, repo: str, commit: str, folders: int = 30) -> tuple[dict[str, str] | None, str]:
    """Path -> blob id of every file of a CodeCommit commit (get_folder, a bounded walk), or (None, why)."""
    found: dict[str, str] = {}
    todo, seen = ["/"], 0
    while todo and seen < folders:
        folder = todo.pop(0)
        seen += 1
        got = account.call("codecommit", "get_folder", repositoryName=repo, commitSpecifier=commit,
                           folderPath=folder)
        if got is None:
            if folder == "/":
                return None, account.errors.get("codecommit.get_folder", f"cannot read commit {commit[:8]}")
            continue
        for f in got.get("files") or []:
            if f.get("absolutePath") and f.get("blobId"):
                found[f["absolutePath"].strip("/")] = f["blobId"]
        todo += [s["absolutePath"] for s in got.get("subFolders") or [] if s.get("absolutePath")]
    return found, ""


def differences(account, repo: str, before: str, after: str) -> set[str] | None:
    """The paths a commit range of a CodeCommit repository changed (get_differences, at most 3 pages)."""
    paths: set[str] = set()
    token = None
    for _ in range(3):
        got = account.call("codecommit", "get_differences", repositoryName=repo, beforeCommitSpecifier=before,
                           afterCommitSpecifier=after, **({"NextToken": token} if token else {}))
        if got is None:
            return None
        for d in got.get("differences") or []:
            for side in ("beforeBlob", "afterBlob"):
                if (d.get(side) or {}).get("path"):
                    paths.add(d[side]["path"].strip("/"))
        token = got.get("NextToken")
        if not token:
            break
    return paths
