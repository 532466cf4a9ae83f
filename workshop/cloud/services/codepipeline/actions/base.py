"""What every action handler shares: the result it reports to the runner,
the context it works in (its run, the execution's artifacts, the artifact
store), and artifact reads and writes in the account's own S3."""

from __future__ import annotations

import io
import random
import string
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from workshop.cloud import services
from workshop.cloud.services.s3 import objects


class ActionFailed(Exception):
    """An action ends Failed with this message (and error code)."""

    def __init__(self, message: str, code: str = "JobFailed"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Result:
    status: str  # Succeeded | Failed | InProgress
    summary: str | None = None
    poll_after: float | None = None  # InProgress: real seconds until the next poll (None: until kicked)
    code: str | None = None

    @classmethod
    def succeeded(cls, summary: str | None = None) -> Result:
        return cls("Succeeded", summary)

    @classmethod
    def failed(cls, summary: str, code: str = "JobFailed") -> Result:
        return cls("Failed", summary, code=code)

    @classmethod
    def waiting(cls, poll_after: float | None) -> Result:
        return cls("InProgress", poll_after=poll_after)


class Handler:
    """One action provider. start() begins the action; poll() is called until
    the result is final; abandon() is called when a stop abandons it."""

    def start(self, ctx: ActionContext) -> Result:
        raise NotImplementedError

    def poll(self, ctx: ActionContext) -> Result:
        return Result.failed("The action did not report a result")

    def abandon(self, ctx: ActionContext) -> None:
        return None


class ActionContext:
    def __init__(self, run, config: dict[str, str]):
        self.run = run
        self.execution = run.execution
        self.account = run.execution.account_id
        self.region = run.execution.region
        self.pipeline_name = run.execution.name
        self.config = config
        self.declaration = run.declaration

    def record(self, service: str, operation: str, parameters: dict, response: dict | None = None,
               error: BaseException | None = None) -> None:
        """CloudTrail: the call this action made for the learner, by codepipeline.amazonaws.com."""
        from workshop.cloud.services.cloudtrail import recorder

        details = {}
        if error is not None:
            details = {"error_code": getattr(error, "error_type", None) or getattr(error, "code", None)
                       or type(error).__name__,
                       "error_message": getattr(error, "message", None) or str(error)}
        recorder.on_behalf(self.account, self.region, "codepipeline.amazonaws.com", service, operation,
                           parameters, response, **details)

    # -- artifacts -------------------------------------------------------------------
    @property
    def store_bucket(self) -> str:
        decl = self.execution.declaration
        store = decl.get("artifactStore") or (decl.get("artifactStores") or {}).get(self.region) or {}
        return store.get("location", "")

    def input_names(self) -> list[str]:
        return [a["name"] for a in self.declaration.get("inputArtifacts") or []]

    def output_names(self) -> list[str]:
        return [a["name"] for a in self.declaration.get("outputArtifacts") or []]

    def input_location(self, name: str) -> dict:
        location = self.execution.artifacts.get(name)
        if location is None:
            raise ActionFailed(f"Input artifact {name} was not produced by this execution")
        return location

    def read_input(self, name: str) -> bytes:
        location = self.input_location(name)
        return read_object(self.account, location["bucket"], location["key"])

    def new_key(self, artifact: str) -> str:
        """Where AWS puts an artifact: PIPELINE(20)/ARTIFACT(10)/random."""
        token = "".join(random.choices(string.ascii_letters + string.digits, k=7))
        return f"{self.pipeline_name[:20]}/{artifact[:10]}/{token}"

    def write_output(self, name: str, data: bytes) -> dict:
        key = self.new_key(name)
        write_object(self.account, self.store_bucket, key, data)
        return self.add_output(name, self.store_bucket, key)

    def add_output(self, name: str, bucket: str, key: str) -> dict:
        location = {"bucket": bucket, "key": key}
        self.run.output_artifacts.append({"name": name, "s3location": location})
        return location


# -- S3 of the account (services/s3/objects.py, as CodeBuild's build_io) -------------------

def read_object(account: str, bucket: str, key: str, version_id: str | None = None) -> bytes:
    return read_object_versioned(account, bucket, key, version_id)[0]


def read_object_versioned(account: str, bucket: str, key: str, version_id: str | None = None
                          ) -> tuple[bytes, str | None, str | None]:
    """(bytes, version id, ETag) of an object of the account's own bucket."""
    services.ensure_loaded("s3")
    try:
        found = objects.read_object(account, bucket, key, version_id)
    except objects.S3ObjectError as exc:
        raise ActionFailed(exc.message) from None
    return found.data, found.version_id, found.etag


def write_object(account: str, bucket: str, key: str, data: bytes) -> None:
    services.ensure_loaded("s3")
    if not bucket:
        raise ActionFailed("The pipeline has no artifact store bucket")
    try:
        objects.write_object(account, bucket, key, data)
    except objects.S3ObjectError as exc:
        raise ActionFailed(f"Could not write to the artifact store: {exc.message}") from None


def zip_member(data: bytes, path: str, what: str) -> bytes:
    """One file of a zip artifact (TemplatePath's ArtifactName::path)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ActionFailed(f"{what} is not a zip file") from None
    wanted = str(PurePosixPath(path.lstrip("./") if path.startswith("./") else path))
    with archive:
        for info in archive.infolist():
            if str(PurePosixPath(info.filename)) == wanted and not info.is_dir():
                return archive.read(info)
    raise ActionFailed(f"File {path} does not exist in artifact {what}", "ConfigurationError")


def zip_files(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A zip of {name: (bytes, unix mode)}, keeping modes so scripts stay executable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | (mode & 0o777)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def truthy(value: Any) -> bool:
    return str(value).strip().lower() == "true"
