"""ECR authorization tokens: ``base64("AWS:" + password)``, where the password
names the account and region it was issued for and when it expires, signed with
a secret the cloud keeps in its state dir (so a learner cannot forge another
account's, and tokens survive a restart that keeps the state)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
from pathlib import Path

from workshop.cloud import runtime

TOKEN_HOURS = 12
_SECRET_FILE = "ecr-token-secret"
_lock = threading.Lock()
_cached: tuple[Path, bytes] | None = None


def _secret() -> bytes:
    global _cached
    path = runtime.state_dir() / _SECRET_FILE
    if _cached is not None and _cached[0] == path:
        return _cached[1]
    with _lock:
        try:
            value = path.read_bytes()
        except FileNotFoundError:
            value = secrets.token_bytes(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(value)
        _cached = (path, value)
        return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_password(account: str, region: str, expires_at: float, access_key: str | None = None) -> str:
    """The password half of a token (what `aws ecr get-login-password` prints); it names
    the access key that asked for it, whom CloudTrail shows as the registry's caller."""
    claims = _b64(json.dumps({"a": account, "r": region, "e": int(expires_at), "k": access_key},
                             separators=(",", ":")).encode())
    signature = _b64(hmac.new(_secret(), claims.encode(), hashlib.sha256).digest())
    return f"{claims}.{signature}"


def authorization_token(account: str, region: str, expires_at: float, access_key: str | None = None) -> str:
    return base64.b64encode(f"AWS:{issue_password(account, region, expires_at, access_key)}".encode()).decode()


def verify_password(password: str, now: float) -> tuple[str, str, str | None] | None:
    """(account, region, access key) of a valid, unexpired password, else None."""
    claims, dot, signature = password.strip().partition(".")
    if not dot:
        return None
    expected = _b64(hmac.new(_secret(), claims.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        data = json.loads(_unb64(claims))
        account, region, expires = str(data["a"]), str(data["r"]), float(data["e"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return (account, region, data.get("k")) if now < expires else None
