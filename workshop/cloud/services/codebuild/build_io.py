"""What a build reads from and writes to the other services of its own
account: source from S3 or CodeCommit, parameters from SSM and Secrets
Manager, output to CloudWatch Logs, artifacts to S3 (through the engines' one
S3 helper, ``services/s3/objects.py``). Backends only, never requests; every
failure is a BuildIOError carrying the phase context."""

from __future__ import annotations

import io
import json
import stat
import threading
import time
import zipfile
from pathlib import Path, PurePosixPath

from workshop.cloud import persistence
from workshop.cloud.services.logs.models import logs_backend
from workshop.cloud.services.s3 import objects

MAX_SOURCE_BYTES = 512 * 1024 * 1024
MAX_EVENT_BYTES = 256 * 1024 - 26  # CloudWatch's limit less its per-event overhead
PUMP_CHUNK = 1024 * 1024           # build output read at a time on its way to CloudWatch Logs


class BuildIOError(Exception):
    def __init__(self, status_code: str, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


# -- S3 -------------------------------------------------------------------------

def read_s3_object(account: str, bucket: str, key: str, version_id: str | None = None) -> tuple[bytes, str | None]:
    """(bytes, version id or None) of an object in the account's own bucket."""
    try:
        found = objects.read_object(account, bucket, key, version_id)
    except objects.S3ObjectError as exc:
        raise BuildIOError("CLIENT_ERROR", exc.message) from None
    return found.data, found.version_id


def fetch_s3_source(account: str, location: str, dest: Path, version_id: str | None = None) -> str | None:
    """Unpack an S3 source (a zip object, or every object under a folder/)
    into dest; returns the object's version id when the bucket has versions."""
    bucket, _, key = location.partition("/")
    if key.endswith("/") or not key:
        _copy_s3_folder(account, bucket, key, dest)
        return None
    data, version = read_s3_object(account, bucket, key, version_id)
    unzip(data, dest, f"s3://{bucket}/{key}")
    return version


def _copy_s3_folder(account: str, bucket: str, prefix: str, dest: Path) -> None:
    try:
        names = objects.object_keys(account, bucket, prefix)
    except objects.S3ObjectError as exc:
        raise BuildIOError("CLIENT_ERROR", exc.message) from None
    if not names:
        raise BuildIOError("CLIENT_ERROR", f"no objects found under s3://{bucket}/{prefix}")
    for name in names:
        data, _ = read_s3_object(account, bucket, name)
        target = safe_join(dest, name[len(prefix):])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def unzip(data: bytes, dest: Path, what: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BuildIOError("CLIENT_ERROR", f"zip: not a valid zip file: {what}") from None
    total = 0
    with archive:
        for info in archive.infolist():
            total += info.file_size
            if total > MAX_SOURCE_BYTES:
                raise BuildIOError("CLIENT_ERROR", f"{what} unpacks to more than "
                                   f"{MAX_SOURCE_BYTES // (1024 * 1024)} MiB")
            target = safe_join(dest, info.filename)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            mode = (info.external_attr >> 16) & 0o777
            if mode & 0o111:  # keep scripts executable
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def safe_join(root: Path, relative: str) -> Path:
    """root/relative, refusing paths that climb out of root."""
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts:
        raise BuildIOError("CLIENT_ERROR", f"refusing the path {relative!r}: it leaves the source directory")
    return root.joinpath(*parts)


def upload_s3(account: str, bucket: str, key: str, data: bytes) -> None:
    try:
        objects.write_object(account, bucket, key, data)
    except objects.S3ObjectError as exc:
        raise BuildIOError("CLIENT_ERROR", exc.message) from None


# -- CodeCommit -------------------------------------------------------------------

def fetch_codecommit_source(account: str, region: str, location: str, version: str | None,
                            dest: Path) -> tuple[str, str]:
    """Export a ref (branch, tag, commit, or the default branch) of the
    account's repository named in the clone URL into dest.
    Returns (resolved commit id, the version that was asked or resolved)."""
    name = location.rstrip("/").rsplit("/v1/repos/", 1)[-1].split("/", 1)[0]
    if name.endswith(".git"):
        name = name[:-4]
    try:
        from workshop.cloud.services.codecommit import models as codecommit
    except ImportError:
        codecommit = None
    checkout = getattr(codecommit, "checkout", None)
    if checkout is None:
        raise BuildIOError("CLIENT_ERROR", "CodeCommit sources are not available in this cloud")
    ref = version
    if ref and "^{" in ref:  # CodeBuild's "refs/heads/main^{commit-id}" pins a commit of a branch
        ref = ref.split("^{", 1)[1].rstrip("}")
    try:
        commit = checkout(account, region, name, ref or None, dest)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise BuildIOError("CLIENT_ERROR", f"{type(exc).__name__}: {message} "
                           f"for primary source and source version {version or 'the default branch'}") from None
    return commit, version or commit


# -- parameters and secrets --------------------------------------------------------

def ssm_parameter(account: str, region: str, name: str) -> str:
    from moto.ssm.models import ssm_backends

    try:
        param = ssm_backends[account][region].get_parameter(name)
    except Exception:
        param = None
    if param is None:
        raise BuildIOError("Decrypted Variables Error", f"parameter does not exist: {name}")
    value = param.decrypt(param.value) if hasattr(param, "decrypt") else param.value
    return value if value is not None else ""


def secret_value(account: str, region: str, reference: str) -> str:
    """A secrets-manager reference: secret-id[:json-key[:version-stage[:version-id]]]."""
    from moto.secretsmanager.models import secretsmanager_backends

    parts = reference.split(":")
    if reference.startswith("arn:"):
        secret_id, rest = ":".join(parts[:7]), parts[7:]
    else:
        secret_id, rest = parts[0], parts[1:]
    rest += [""] * (3 - len(rest))
    json_key, stage, version_id = rest[:3]
    try:
        found = secretsmanager_backends[account][region].get_secret_value(
            secret_id, version_id or None, stage or None)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise BuildIOError("Secrets Manager Error", f"{message} (secret {secret_id})") from None
    text = found.get("SecretString")
    if text is None:
        raise BuildIOError("Secrets Manager Error", f"secret {secret_id} has no string value")
    if not json_key:
        return text
    try:
        value = json.loads(text)[json_key]
    except (ValueError, KeyError, TypeError):
        raise BuildIOError("Secrets Manager Error",
                           f"secret {secret_id} has no JSON key {json_key}") from None
    return value if isinstance(value, str) else json.dumps(value)


# -- CloudWatch Logs -------------------------------------------------------------

class LogShipper:
    """Ships the lines of the build's output file to its log stream as they
    are written (the file is shared by the runner and the build's processes)."""

    def __init__(self, account: str, region: str, path: Path, group: str | None, stream: str | None):
        self.account, self.region, self.path = account, region, path
        self.group, self.stream = group, stream
        self.enabled = bool(group and stream)
        self.detached = False  # the account was reset: write nothing more
        self.secrets: list[str] = []  # values from Parameter Store and Secrets Manager, masked
        self._offset = 0
        self._partial = b""
        self._lock = threading.Lock()

    def hide(self, value: str) -> None:
        if value and len(value) >= 3 and value not in self.secrets:
            self.secrets.append(value)
            self.secrets.sort(key=len, reverse=True)

    def mask(self, text: str) -> str:
        """Secret values never reach the logs, as CodeBuild masks them."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def open_stream(self) -> None:
        if not self.enabled:
            return
        backend = logs_backend(self.account, self.region)
        if self.group not in backend.groups:
            try:
                backend.create_log_group(self.group, tags={})
            except Exception:  # created meanwhile by someone else
                pass
        backend.ensure_log_stream(self.group, self.stream)

    def write(self, text: str) -> None:
        """A line of the runner's own ([Container] ...) into the build's output."""
        with open(self.path, "ab") as out:
            out.write(text.encode("utf-8", "replace"))

    def container(self, message: str) -> None:
        now = time.time()
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(now))
        self.write(f"[Container] {stamp}.{int(now % 1 * 1e6):06d} {message}\n")

    def pump(self, final: bool = False) -> None:
        """Ship what the build wrote since the last pump, a chunk at a time: a build that
        prints hundreds of megabytes costs the cloud a chunk of memory, never its output."""
        with self._lock:
            try:
                src = open(self.path, "rb")
            except FileNotFoundError:
                return
            with src:
                src.seek(self._offset)
                while True:
                    data = src.read(PUMP_CHUNK)
                    if not data:
                        break
                    self._offset += len(data)
                    lines = (self._partial + data).split(b"\n")
                    self._partial = lines.pop()
                    if len(self._partial) > MAX_EVENT_BYTES:   # a line with no end yet: ship what it has
                        lines.append(self._partial)
                        self._partial = b""
                    self._ship(lines)
            if final and self._partial:
                self._ship([self._partial])
                self._partial = b""

    def _ship(self, lines: list[bytes]) -> None:
        if lines and self.enabled and not self.detached:
            self._send([line.decode("utf-8", "replace").rstrip("\r") for line in lines])

    def _send(self, lines: list[str]) -> None:
        persistence.changed(self.account)
        stamp = int(time.time() * 1000)
        events = [{"timestamp": stamp, "message": self.mask(line or " ")[:MAX_EVENT_BYTES]} for line in lines]
        try:
            backend = logs_backend(self.account, self.region)
            backend.ensure_log_stream(self.group, self.stream)
            for start in range(0, len(events), 1000):
                backend.put_log_events(self.group, self.stream, events[start:start + 1000])
        except Exception:
            # The learner deleted the group mid-build: recreate it, as the agent would.
            try:
                self.open_stream()
                logs_backend(self.account, self.region).put_log_events(self.group, self.stream, events)
            except Exception:
                pass


def read_json_env(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
