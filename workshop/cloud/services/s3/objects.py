"""The one way the cloud's engines and models read and write an account's S3
objects (build sources and artifacts, pipeline artifacts, deployment revisions):
through moto's backend of that account, in the account's own buckets only
(another account's bucket is AccessDenied, as without a bucket policy in AWS).
Every failure is an ``S3ObjectError`` whose message each caller wraps in its
own service's words."""

from __future__ import annotations

from dataclasses import dataclass


class S3ObjectError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class S3Object:
    data: bytes
    version_id: str | None   # None when the bucket keeps no versions
    etag: str | None


def _backend(account: str):
    from moto.s3.models import s3_backends

    return s3_backends[account]["aws"]


def _own_bucket(account: str, bucket: str):
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    if owner is None:
        raise S3ObjectError(f"NoSuchBucket: The specified bucket does not exist: {bucket}")
    if owner[1] != account:
        raise S3ObjectError(f"AccessDenied: Access Denied to bucket {bucket}")
    return _backend(account).get_bucket(bucket)


def read_object(account: str, bucket: str, key: str, version_id: str | None = None) -> S3Object:
    """An object (or one version of it) of the account's own bucket."""
    _own_bucket(account, bucket)
    try:
        obj = _backend(account).get_object(bucket, key, version_id=version_id or None)
    except Exception as exc:  # moto raises its own S3 errors for bad versions
        raise S3ObjectError(f"{type(exc).__name__}: {exc} (s3://{bucket}/{key})") from None
    if obj is None or not hasattr(obj, "value"):
        raise S3ObjectError(f"NoSuchKey: The specified key does not exist: s3://{bucket}/{key}")
    version = getattr(obj, "version_id", None)
    return S3Object(obj.value, version if version and version != "null" else None, getattr(obj, "etag", None))


def object_exists(account: str, bucket: str, key: str) -> bool:
    try:
        read_object(account, bucket, key)
    except S3ObjectError:
        return False
    return True


def object_keys(account: str, bucket: str, prefix: str = "") -> list[str]:
    """The keys of the account's own bucket under ``prefix`` (folder markers left out)."""
    found = _own_bucket(account, bucket)
    return [name for name in list(found.keys.keys()) if name.startswith(prefix) and not name.endswith("/")]


def write_object(account: str, bucket: str, key: str, data: bytes) -> None:
    _own_bucket(account, bucket)
    try:
        _backend(account).put_object(bucket, key, data)
    except Exception as exc:
        raise S3ObjectError(f"{type(exc).__name__}: {exc} (s3://{bucket}/{key})") from None
