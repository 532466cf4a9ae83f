"""Registry blobs as content-addressed files, one store per account under the
cloud's state dir (``ecr/ACCOUNT/blobs/sha256/HEX``), and uploads in progress as
files beside them (``ecr/ACCOUNT/uploads/ID``). The registry and the ECR layer
API both write here; which repository may read a blob is the model's business
(a repository's ``layers``), so the store holds no state but files."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from workshop.cloud import runtime

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_CHUNK = 1024 * 1024


class DigestMismatch(ValueError):
    def __init__(self, expected: str, actual: str):
        super().__init__(f"the content's digest is {actual}, not {expected}")
        self.expected, self.actual = expected, actual


def root(account: str) -> Path:
    return runtime.account_dir("ecr", account)


def blob_path(account: str, digest: str) -> Path:
    if not DIGEST_RE.match(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return root(account) / "blobs" / "sha256" / digest[7:]


def exists(account: str, digest: str) -> bool:
    return DIGEST_RE.match(digest) is not None and blob_path(account, digest).is_file()


def size(account: str, digest: str) -> int:
    return blob_path(account, digest).stat().st_size


def read(account: str, digest: str) -> bytes:
    return blob_path(account, digest).read_bytes()


def put_bytes(account: str, data: bytes) -> str:
    """Store small content (a manifest, a config) and return its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(account, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return digest


# -- uploads ---------------------------------------------------------------
def _upload_path(account: str, upload_id: str) -> Path:
    if not re.fullmatch(r"[a-f0-9-]{36}", upload_id):
        raise KeyError(upload_id)
    return root(account) / "uploads" / upload_id


def start_upload(account: str) -> str:
    upload_id = str(uuid.uuid4())
    path = _upload_path(account, upload_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return upload_id


def upload_size(account: str, upload_id: str) -> int:
    return _upload_path(account, upload_id).stat().st_size


def append(account: str, upload_id: str, stream: BinaryIO | bytes, length: int | None = None) -> int:
    """Append a chunk (bytes, or a stream read to ``length`` or its end); the new size."""
    path = _upload_path(account, upload_id)
    with open(path, "ab") as out:
        if isinstance(stream, (bytes, bytearray)):
            out.write(stream)
        else:
            left = length
            while left is None or left > 0:
                chunk = stream.read(_CHUNK if left is None else min(_CHUNK, left))
                if not chunk:
                    break
                out.write(chunk)
                if left is not None:
                    left -= len(chunk)
        return out.tell()


def finish(account: str, upload_id: str, expected: str | None = None) -> tuple[str, int]:
    """Close an upload into the store: (digest, size). A wrong ``expected`` digest
    raises DigestMismatch and keeps the upload, as the registry keeps the session."""
    path = _upload_path(account, upload_id)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    actual = "sha256:" + digest.hexdigest()
    if expected is not None and expected != actual:
        raise DigestMismatch(expected, actual)
    size_ = path.stat().st_size
    target = blob_path(account, actual)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return actual, size_


def cancel(account: str, upload_id: str) -> None:
    try:
        _upload_path(account, upload_id).unlink()
    except (FileNotFoundError, KeyError):
        pass


def forget_account(account: str) -> None:
    shutil.rmtree(runtime.state_dir() / "ecr" / account, ignore_errors=True)
