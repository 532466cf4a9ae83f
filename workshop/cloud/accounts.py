"""The account rule, as LocalStack has it: a 12-digit access key id is the
account id; any other key (``test``, ``AKIA...``) is account 000000000000.

Every part of the cloud asks here; moto is told through its
``x-moto-account-id`` request header, never through a global switch.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

DEFAULT_ACCOUNT = "000000000000"
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/")


def account_for_key(access_key_id: str | None) -> str:
    if access_key_id and _ACCOUNT_RE.match(access_key_id):
        return access_key_id
    return DEFAULT_ACCOUNT


def is_account_id(value: str | None) -> bool:
    return bool(value and _ACCOUNT_RE.match(value))


def access_key_from_environ(environ: dict) -> str | None:
    """The access key id of a request: SigV4 header, presigned query, or git's basic auth."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth:
        match = _CREDENTIAL_RE.search(auth)
        if match:
            return match.group(1)
        if auth.startswith("Basic "):
            import base64
            import binascii

            try:
                user = base64.b64decode(auth[6:]).decode("utf-8", "replace").split(":", 1)[0]
            except (binascii.Error, ValueError):
                return None
            return user or None
    query = environ.get("QUERY_STRING", "")
    if "X-Amz-Credential" in query or "AWSAccessKeyId" in query:
        params = parse_qs(query)
        credential = params.get("X-Amz-Credential") or params.get("AWSAccessKeyId")
        if credential:
            return credential[0].split("/", 1)[0]
    return None


def account_from_environ(environ: dict) -> str:
    return account_for_key(access_key_from_environ(environ))
