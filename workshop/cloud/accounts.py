"""The account rule, as LocalStack has it: a 12-digit access key id is the
account id; a key the cloud issued (an assumed role's session credentials, an
IAM user's access key) belongs to the account that issued it; any other key
(``test``, ``AKIA...``) is account 000000000000.

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
    return _issued_in(access_key_id) or DEFAULT_ACCOUNT


def _issued_in(access_key_id: str | None) -> str | None:
    """The account whose IAM or STS issued this key (an assumed role's session, an IAM
    user's key), as LocalStack has it; None for keys the cloud never issued."""
    import sys

    # Nothing issued yet: don't load IAM for it. The module may also be half-way through
    # its import in another thread (sys.modules holds it from the import's start): no
    # key can have been issued before it exists.
    backends = getattr(sys.modules.get("moto.iam.models"), "iam_backends", None)
    if not access_key_id or backends is None:
        return None
    for account_id, per_account in list(backends.items()):
        if not _ACCOUNT_RE.match(account_id):
            continue
        for backend in list(dict.values(per_account)):
            if access_key_id in backend.access_keys:
                return account_id
    return None


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


# -- who is calling ------------------------------------------------------------------

def caller(access_key_id: str | None) -> dict:
    """Who a key is, as CloudTrail's ``userIdentity`` (and STS) name the caller: an assumed
    role's session (``AssumedRole``), an IAM user the account made (``IAMUser``), a key
    ``workshop accounts`` issued (the learner's ``IAMUser``), or else the account's own
    root (``Root``: a 12-digit key, or any other key for 000000000000)."""
    import sys

    account = account_for_key(access_key_id)
    identity: dict = {"accountId": account}
    if access_key_id:
        identity["accessKeyId"] = access_key_id
    sts = sys.modules.get("moto.sts.models")
    if access_key_id and sts is not None and account in sts.sts_backends:
        for backend in list(dict.values(sts.sts_backends[account])):
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                role_name = role.role_arn.rsplit("/", 1)[-1]
                identity.update(type="AssumedRole", principalId=role.user_id, arn=role.arn,
                                sessionContext={"sessionIssuer": {
                                    "type": "Role", "principalId": role.user_id.split(":", 1)[0],
                                    "arn": role.role_arn, "accountId": account, "userName": role_name}})
                identity["userName"] = role.session_name  # LookupEvents' Username; dropped from the event
                return identity
    iam = sys.modules.get("moto.iam.models")
    if access_key_id and iam is not None and account in iam.iam_backends:
        for backend in list(dict.values(iam.iam_backends[account])):
            user = backend.get_user_from_access_key_id(access_key_id)
            if user is not None:
                identity.update(type="IAMUser", principalId=user.id, arn=user.arn, userName=user.name)
                return identity
    learner = _issued_learner(access_key_id)
    if learner is not None:
        import hashlib

        principal = "AIDA" + hashlib.sha256(f"{account}/{learner}".encode()).hexdigest()[:17].upper()
        identity.update(type="IAMUser", principalId=principal, arn=f"arn:aws:iam::{account}:user/{learner}",
                        userName=learner)
        return identity
    identity.update(type="Root", principalId=account, arn=f"arn:aws:iam::{account}:root")
    return identity


def request_caller(environ: dict) -> dict:
    """``caller`` of a request, by the key the gateway read from it (moto's own
    ``get_access_key`` knows only 20-character keys: a 12-digit key reads as AKIAEXAMPLE)."""
    return caller(access_key_from_environ(environ))


def _issued_learner(access_key_id: str | None) -> str | None:
    """The learner a class key was issued to (class mode only)."""
    import sys

    class_mode = sys.modules.get("workshop.cloud.class_mode")
    active = class_mode.active() if class_mode is not None else None
    if active is None or not access_key_id:
        return None
    return active.learner_for_key(access_key_id)
