"""Class mode: the cloud accepts only the keys ``workshop accounts`` issued and
verifies every request's signature with the issued secret (SigV4 in headers
or a presigned query, S3's SigV2, git's basic auth); the admin token signs as
any account. Also owns the keys file that the command, the cloud and the hub share.

Outside class mode (a laptop) nothing here runs: the secret is not checked.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from workshop.cloud import accounts, errors

log = logging.getLogger("workshop.cloud.class_mode")

ENV_VAR = "WORKSHOP_CLASS_KEYS"
FORMAT = "workshop-class-keys/1"
LAPTOP_SECRET = "test"               # what every key's secret is outside class mode
MAX_SKEW_SECONDS = 15 * 60           # AWS refuses header-signed requests older or newer than this
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # AWS's limit on X-Amz-Expires
RELOAD_EVERY = 2.0                   # seconds between looks at the keys file (learners added mid-class)
_SPOOL_BYTES = 16 * 1024 * 1024
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_V4_FIELDS = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")
_GIT_PREFIX = "/v1/repos/"           # git asks anonymously first and expects the git app's 401 challenge


class ClassKeysError(Exception):
    """The keys file is missing, unreadable or not a keys file."""


# -- the keys file ---------------------------------------------------------------

@dataclass(frozen=True)
class IssuedKey:
    learner: str
    account_id: str
    access_key_id: str
    secret_access_key: str


@dataclass
class ClassKeys:
    """What ``workshop accounts`` issued: a class secret (from which account ids
    are derived) and one key per learner. Stored as JSON, mode 0600."""

    class_secret: str
    learners: dict[str, IssuedKey]

    @classmethod
    def new(cls) -> ClassKeys:
        import secrets

        return cls(secrets.token_hex(32), {})

    @classmethod
    def load(cls, path: str | os.PathLike) -> ClassKeys:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClassKeysError(f"no keys file at {path} (make it with `workshop accounts ROSTER.csv`)") from None
        except (OSError, ValueError) as exc:
            raise ClassKeysError(f"cannot read the keys file {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ClassKeysError(f"{path} is not a keys file made by `workshop accounts` (format {FORMAT})")
        learners = {}
        try:
            for name, entry in data["learners"].items():
                key = IssuedKey(name, entry["account_id"], entry["access_key_id"], entry["secret_access_key"])
                if not accounts.is_account_id(key.account_id) or not key.secret_access_key:
                    raise ValueError(f"learner {name!r} has no valid account id or secret")
                learners[name] = key
            secret = str(data["class_secret"])
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ClassKeysError(f"the keys file {path} is damaged: {exc}") from None
        return cls(secret, learners)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically, readable by its owner only (it holds every learner's secret)."""
        path = Path(path)
        payload = {
            "format": FORMAT,
            "class_secret": self.class_secret,
            "learners": {k.learner: {"account_id": k.account_id, "access_key_id": k.access_key_id,
                                     "secret_access_key": k.secret_access_key}
                         for k in sorted(self.learners.values(), key=lambda k: k.learner)},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(payload, out, indent=2)
                out.write("\n")
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def by_access_key(self) -> dict[str, IssuedKey]:
        return {k.access_key_id: k for k in self.learners.values()}


def learner_env(keys: ClassKeys | str | os.PathLike, learner: str, endpoint: str,
                region: str = "us-east-1") -> dict[str, str]:
    """The AWS environment of one learner's server (for the hub): only their own key."""
    if not isinstance(keys, ClassKeys):
        keys = ClassKeys.load(keys)
    try:
        key = keys.learners[learner]
    except KeyError:
        raise KeyError(f"learner {learner!r} has no key: add them to the roster and run "
                       "`workshop accounts` again") from None
    from workshop.settings import learner_aws_env

    env = learner_aws_env(endpoint, key.access_key_id, key.secret_access_key, region)
    env["WORKSHOP_ACCOUNT"] = key.account_id
    return env


# -- the cloud side ----------------------------------------------------------------

@dataclass
class _Refusal:
    status: int
    kind: str          # unknown | bad | missing | expired | skew | malformed | mismatch
    message: str
    service: str | None = None


class ClassMode:
    """The running cloud's class mode: issued keys, reloaded when the file changes."""

    def __init__(self, path: str | os.PathLike, admin_token: str):
        self.path = Path(path)
        self._admin = admin_token or ""
        self._lock = threading.Lock()
        self._keys = ClassKeys.load(self.path)
        self._by_key = self._keys.by_access_key()
        self._by_account = {k.account_id: k for k in self._keys.learners.values()}
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()

    # -- keys -------------------------------------------------------------------
    def _file_stamp(self):
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < RELOAD_EVERY:
            return
        with self._lock:
            if now - self._checked < RELOAD_EVERY:
                return
            self._checked = now
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            try:
                keys = ClassKeys.load(self.path)
            except ClassKeysError as exc:  # keep the keys we have; a half-written file is not a reason to open up
                log.warning("class mode: keeping the previous keys: %s", exc)
                return
            self._keys, self._stamp = keys, stamp
            self._by_key = keys.by_access_key()
            self._by_account = {k.account_id: k for k in keys.learners.values()}
            log.info("class mode: reloaded %d issued keys from %s", len(keys.learners), self.path)

    def learner_for_key(self, access_key_id: str) -> str | None:
        """The learner this key was issued to, or None."""
        self._refresh()
        key = self._by_key.get(access_key_id)
        return key.learner if key else None

    def secret_for(self, account_id: str) -> str | None:
        self._refresh()
        key = self._by_account.get(account_id)
        return key.secret_access_key if key else None

    def _secrets_for(self, access_key_id: str) -> tuple[list[str], bool]:
        """(the secrets a signature by this key may be made with, whether the key was issued)."""
        self._refresh()
        issued = self._by_key.get(access_key_id)
        if issued is not None:
            return [issued.secret_access_key] + ([self._admin] if self._admin else []), True
        moto_secret = _cloud_issued_secret(access_key_id)
        if moto_secret is not None:
            return [moto_secret], True
        if accounts.is_account_id(access_key_id) and self._admin:
            return [self._admin], False  # the instructor's admin token reads any account
        return [], False

    def _check(self, key: str, service: str | None, matches) -> str | _Refusal:
        """The key's account when ``matches(secret)`` holds for one of its secrets; else
        the refusal: a key never issued is unknown, an issued one has a bad signature."""
        secrets_, issued = self._secrets_for(key)
        for secret in secrets_:
            if matches(secret):
                return accounts.account_for_key(key)
        if not issued:
            return _Refusal(403, "unknown", f"The access key {key} was not issued for this class.", service)
        return _Refusal(403, "bad", _BAD_SIGNATURE, service)

    # -- requests ---------------------------------------------------------------
    def refusal(self, environ: dict) -> tuple[str, list, bytes] | None:
        """None when the request is signed by an issued key with its secret (or
        anonymous git, which the git app challenges); else the AWS-shaped refusal."""
        result = self._verify(environ)
        if isinstance(result, str):
            environ["workshop.verified_account"] = result
            foreign = _foreign_role(environ, result)
            if foreign:
                log.info("class mode: refused %s", foreign)
                return errors.error_response(environ, 403, "AccessDenied", foreign, "sts")
            return None
        if result is None:
            return None
        return _refusal_response(environ, result)

    def verified_account(self, environ: dict) -> str | None:
        """The account a request's valid signature speaks for, else None."""
        result = self._verify(environ)
        return result if isinstance(result, str) else None

    def _verify(self, environ: dict) -> str | _Refusal | None:
        try:
            return self._verify_unsafe(environ)
        except _Refused as refused:
            return refused.refusal
        except Exception as exc:  # a malformed request is refused, never a traceback
            log.debug("class mode: cannot verify %s %s", environ.get("REQUEST_METHOD"),
                      environ.get("PATH_INFO"), exc_info=True)
            return _Refusal(400, "malformed", f"The request's authentication could not be read: {exc}")

    def _verify_unsafe(self, environ: dict) -> str | _Refusal | None:
        auth = environ.get("HTTP_AUTHORIZATION", "").strip()
        query = environ.get("QUERY_STRING", "")
        if auth.startswith("AWS4-HMAC-SHA256"):
            return self._verify_v4_header(environ, auth)
        if auth.startswith("AWS "):
            return self._verify_v2(environ, auth[4:].strip(), None)
        if auth.startswith("Basic "):
            return self._verify_basic(auth[6:].strip())
        if "X-Amz-Signature=" in query:
            return self._verify_v4_query(environ)
        if "AWSAccessKeyId=" in query and "Signature=" in query:
            return self._verify_v2(environ, None, dict(parse_qsl(query, keep_blank_values=True)))
        if (environ.get("PATH_INFO") or "").startswith(_GIT_PREFIX) and not auth:
            return None
        return _Refusal(403, "missing", "The request is not signed. In class mode every request must be "
                        "signed with the access key and secret issued to you.")

    # -- SigV4 ------------------------------------------------------------------
    def _verify_v4_header(self, environ: dict, auth: str) -> str | _Refusal:
        fields = dict(_V4_FIELDS.findall(auth))
        if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
            raise _Refused(_Refusal(400, "malformed", "Authorization header requires Credential, "
                                    "SignedHeaders and Signature."))
        key, scope = _parse_scope(fields["Credential"])
        service = scope[2]
        signed = fields["SignedHeaders"].lower().split(";")
        timestamp = _header(environ, "x-amz-date")
        if not timestamp:
            date = _header(environ, "date")
            if not date:
                raise _Refused(_Refusal(400, "malformed", "The request has neither X-Amz-Date nor Date.", service))
            timestamp = parsedate_to_datetime(date).astimezone(dt.timezone.utc).strftime(_TIMESTAMP)
        when = _parse_timestamp(timestamp, service)
        if abs(time.time() - when) > MAX_SKEW_SECONDS:
            return _Refusal(403, "skew", f"Signature expired: {timestamp} is more than 15 minutes away from "
                            "the cloud's time. Check your computer's clock.", service)
        if scope[0] != timestamp[:8]:
            return _Refusal(403, "bad", "The credential scope's date does not match X-Amz-Date.", service)
        content_sha = _header(environ, "x-amz-content-sha256")
        if content_sha is not None and service != "s3" and not _HEX64.match(content_sha):
            # UNSIGNED-PAYLOAD (and streaming) only where AWS takes them, S3: other services sign
            # the body's own hash, so such a signature does not match, as in AWS.
            content_sha = None
        headers = [(name, _header(environ, name)) for name in signed]
        if any(value is None for _, value in headers):
            return _Refusal(403, "bad", "A signed header is missing from the request.", service)
        body: bytes | None = None
        if content_sha is None or _HEX64.match(content_sha):
            body = _read_body(environ)
            actual = hashlib.sha256(body).hexdigest()
            if content_sha is not None and actual != content_sha:
                return _Refusal(400, "mismatch", "The provided 'x-amz-content-sha256' header does not match "
                                "what was computed.", service)
        payload = content_sha or hashlib.sha256(body or b"").hexdigest()
        url, params = _url_and_params(environ, drop=())
        return self._check(key, service, lambda secret: hmac.compare_digest(fields["Signature"], _sigv4(
            key, secret, scope, environ["REQUEST_METHOD"], url, params, headers, payload, timestamp,
            query_auth=False)))

    def _verify_v4_query(self, environ: dict) -> str | _Refusal:
        q = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            key, scope = _parse_scope(q["X-Amz-Credential"])
            timestamp, signed = q["X-Amz-Date"], q["X-Amz-SignedHeaders"].lower().split(";")
            expires, signature = int(q.get("X-Amz-Expires", "900")), q["X-Amz-Signature"]
        except (KeyError, ValueError):
            raise _Refused(_Refusal(400, "malformed", "A presigned URL needs X-Amz-Credential, X-Amz-Date, "
                                    "X-Amz-SignedHeaders, X-Amz-Expires and X-Amz-Signature.")) from None
        service = scope[2]
        when = _parse_timestamp(timestamp, service)
        if not 0 < expires <= MAX_PRESIGN_SECONDS:
            return _Refusal(400, "malformed", "X-Amz-Expires must be between 1 and 604800 seconds.", service)
        if time.time() > when + expires:
            return _Refusal(403, "expired", "Request has expired", service)
        if time.time() < when - MAX_SKEW_SECONDS:
            return _Refusal(403, "skew", "Request is not valid yet (X-Amz-Date is in the future)", service)
        headers = [(name, _header(environ, name)) for name in signed]
        if any(value is None for _, value in headers):
            return _Refusal(403, "bad", "A signed header is missing from the request.", service)
        payload = ("UNSIGNED-PAYLOAD" if service == "s3"
                   else hashlib.sha256(_read_body(environ)).hexdigest())
        url, params = _url_and_params(environ, drop=("X-Amz-Signature",))
        return self._check(key, service, lambda secret: hmac.compare_digest(signature, _sigv4(
            key, secret, scope, environ["REQUEST_METHOD"], url, params, headers, payload, timestamp,
            query_auth=True)))

    # -- S3's SigV2 (boto3's default for presigned S3 URLs in us-east-1) -----------
    def _verify_v2(self, environ: dict, header: str | None, query: dict | None) -> str | _Refusal:
        if header is not None:
            key, _, signature = header.rpartition(":")
            date, amz = _header(environ, "date") or "", {}
        else:
            key, signature = query.get("AWSAccessKeyId", ""), query.get("Signature", "")
            date = query.get("Expires", "")
            amz = {k.lower(): v for k, v in query.items() if k.lower().startswith("x-amz-")}
            try:
                if time.time() > int(date):
                    return _Refusal(403, "expired", "Request has expired", "s3")
            except ValueError:
                return _Refusal(400, "malformed", "Expires must be a number of seconds since the epoch.", "s3")
        if not key or not signature:
            return _Refusal(400, "malformed", "Authorization header is malformed: use 'AWS KEY:SIGNATURE'.", "s3")
        from botocore.compat import HTTPHeaders

        headers = HTTPHeaders()
        for name in ("content-md5", "content-type"):
            value = _header(environ, name)
            if value is not None:
                headers[name] = value
        for name, value in _amz_headers(environ).items():
            headers[name] = value
        for name, value in amz.items():
            headers[name] = value
        raw_path, _, raw_query = _raw_uri(environ).partition("?")
        split = urlsplit(f"http://host{raw_path}?{raw_query}")
        candidates = [None]
        host = (_header(environ, "host") or "").split(":")[0]
        if host.count(".") >= 1 and not host.replace(".", "").isdigit():
            # Virtual-hosted style: the bucket is the host's first label.
            candidates.append("/" + host.split(".")[0] + raw_path)

        def matches(secret: str) -> bool:
            signer = _v2_signer(_credentials(key, secret), date)
            return any(hmac.compare_digest(signature, signer.sign_string(signer.canonical_string(
                environ["REQUEST_METHOD"], split, _copy_headers(headers), auth_path=auth_path)))
                for auth_path in candidates)

        return self._check(key, "s3", matches)

    # -- git ----------------------------------------------------------------------
    def _verify_basic(self, token: str) -> str | _Refusal:
        try:
            user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return _Refusal(401, "git", "The credentials could not be read.")
        secrets_, _ = self._secrets_for(user) if user else ([], False)
        if any(hmac.compare_digest(password.encode(), s.encode()) for s in secrets_):
            return accounts.account_for_key(user)
        return _Refusal(401, "git", "Authentication failed: use your access key id as the user name and "
                                    "its issued secret as the password.")


class _Refused(Exception):
    def __init__(self, refusal: _Refusal):
        super().__init__(refusal.message)
        self.refusal = refusal


_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your "
                  "AWS Secret Access Key and signing method. Consult the service documentation for details.")


def _credentials(key: str, secret: str):
    from botocore.credentials import Credentials

    return Credentials(key, secret)


def _parse_scope(credential: str) -> tuple[str, list[str]]:
    """'KEY/20261126/us-east-1/s3/aws4_request' -> ('KEY', ['20261126', 'us-east-1', 's3'])."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise _Refused(_Refusal(400, "malformed", f"Credential should be scoped correctly: {credential!r}."))
    return parts[0], parts[1:4]


def _parse_timestamp(timestamp: str, service: str) -> float:
    try:
        return dt.datetime.strptime(timestamp, _TIMESTAMP).replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        raise _Refused(_Refusal(400, "malformed", f"X-Amz-Date {timestamp!r} is not in the form "
                                "YYYYMMDD'T'HHMMSS'Z'.", service)) from None


def _sigv4(key, secret, scope, method, url, params, headers, payload, timestamp, query_auth: bool) -> str:
    """Recompute the signature with botocore's own SigV4 signer (its canonical
    request, string to sign and key derivation), fed with what the request carried."""
    from botocore.awsrequest import AWSRequest

    signer_class = _signer_class(scope[2] == "s3", query_auth)
    signer = signer_class(_credentials(key, secret), scope[2], scope[1], headers, payload)
    request = AWSRequest(method=method, url=url, params=params)
    request.context["timestamp"] = timestamp
    if not query_auth and payload:
        request.headers["X-Amz-Content-SHA256"] = payload
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


_SIGNERS: dict = {}


def _signer_class(s3: bool, query: bool):
    """botocore's signer for the request's kind, told the request's own signed
    headers and payload hash instead of choosing them as a client would."""
    cls = _SIGNERS.get((s3, query))
    if cls is None:
        from botocore import auth
        from botocore.compat import HTTPHeaders

        base = {(False, False): auth.SigV4Auth, (True, False): auth.S3SigV4Auth,
                (False, True): auth.SigV4QueryAuth, (True, True): auth.S3SigV4QueryAuth}[(s3, query)]

        class _Check(base):
            def __init__(self, credentials, service, region, headers, payload):
                super().__init__(credentials, service, region)
                self._signed = headers
                self._payload = payload

            def headers_to_sign(self, request):
                chosen = HTTPHeaders()
                for name, value in self._signed:
                    chosen[name] = value
                return chosen

            def payload(self, request):
                return self._payload

        cls = _SIGNERS[(s3, query)] = _Check
    return cls


def _v2_signer(credentials, date: str):
    """botocore's S3 SigV2 signer, dated as the request was (its Date, or a presigned URL's Expires)."""
    cls = _SIGNERS.get("v2")
    if cls is None:
        from botocore.auth import HmacV1Auth

        class _V2Check(HmacV1Auth):
            def __init__(self, credentials, date: str):
                super().__init__(credentials)
                self._date = date

            def _get_date(self):
                return self._date

        cls = _SIGNERS["v2"] = _V2Check
    return cls(credentials, date)


def _copy_headers(headers):
    from botocore.compat import HTTPHeaders

    copy = HTTPHeaders()
    for name, value in headers.items():
        copy[name] = value
    return copy


def _header(environ: dict, name: str) -> str | None:
    name = name.lower()
    if name == "content-type":
        return environ.get("CONTENT_TYPE")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH")
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def _amz_headers(environ: dict) -> dict[str, str]:
    return {key[5:].lower().replace("_", "-"): value for key, value in environ.items()
            if key.startswith("HTTP_X_AMZ_")}


def _raw_uri(environ: dict) -> str:
    """The request target as the client sent it (percent-encoding intact)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        if raw.startswith(("http://", "https://")):
            parts = urlsplit(raw)
            raw = parts.path + (f"?{parts.query}" if parts.query else "")
        return raw
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/~!$&'()*+,;=:@")
    query = environ.get("QUERY_STRING", "")
    return path + (f"?{query}" if query else "")


def _url_and_params(environ: dict, drop: tuple[str, ...]) -> tuple[str, list[tuple[str, str]]]:
    raw_path, _, raw_query = _raw_uri(environ).partition("?")
    host = _header(environ, "host") or "localhost"
    pairs = (pair.partition("=") for pair in raw_query.split("&") if pair)
    params = [(unquote(k), unquote(v)) for k, _, v in pairs if unquote(k) not in drop]
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{raw_path}", params


def _read_body(environ: dict) -> bytes:
    """The whole body, left readable for whoever comes next."""
    if "workshop.body" in environ:
        return environ["workshop.body"]
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = stream.read(length) if length > 0 else (stream.read() if environ.get(
        "HTTP_TRANSFER_ENCODING", "").lower() == "chunked" else b"")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["workshop.body"] = body
    return body


def _refusal_response(environ: dict, refusal: _Refusal) -> tuple[str, list, bytes]:
    if refusal.kind == "git":
        body = (refusal.message + "\n").encode()
        return ("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                     ("Content-Length", str(len(body))),
                                     ("WWW-Authenticate", 'Basic realm="workshop CodeCommit"')], body)
    service = refusal.service or errors.service_of(environ)
    service = errors._SIGNING_TO_SERVICE.get(service, service)
    protocol = errors.protocol_of(environ, service)
    if service == "s3":
        codes = {"unknown": "InvalidAccessKeyId", "bad": "SignatureDoesNotMatch", "missing": "AccessDenied",
                 "expired": "AccessDenied", "skew": "RequestTimeTooSkewed",
                 "malformed": "AuthorizationHeaderMalformed", "mismatch": "XAmzContentSHA256Mismatch"}
    elif protocol in ("json", "rest-json"):
        codes = {"unknown": "UnrecognizedClientException", "bad": "InvalidSignatureException",
                 "missing": "MissingAuthenticationTokenException", "expired": "InvalidSignatureException",
                 "skew": "InvalidSignatureException", "malformed": "IncompleteSignatureException",
                 "mismatch": "InvalidSignatureException"}
    else:
        codes = {"unknown": "InvalidClientTokenId", "bad": "SignatureDoesNotMatch",
                 "missing": "MissingAuthenticationToken", "expired": "SignatureDoesNotMatch",
                 "skew": "SignatureDoesNotMatch", "malformed": "IncompleteSignature",
                 "mismatch": "SignatureDoesNotMatch"}
    message = refusal.message
    if refusal.kind == "unknown":
        message = ("The AWS Access Key Id you provided does not exist in our records." if service == "s3"
                   else "The security token included in the request is invalid.") + f" ({message})"
    log.info("class mode: refused %s %s: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), message)
    return errors.error_response(environ, refusal.status, codes[refusal.kind], message, service)


def _foreign_role(environ: dict, account: str) -> str | None:
    """Why an STS request must not go on: moto lets AssumeRole name a role in any
    account (it keeps no trust policies), which would make a learner another."""
    query = environ.get("QUERY_STRING", "")
    body = environ.get("workshop.body") or b""
    if b"AssumeRole" not in body and "AssumeRole" not in query:
        return None
    params = dict(parse_qsl(query))
    try:
        params.update(parse_qsl(body.decode("utf-8")))
    except UnicodeDecodeError:
        return None
    action = params.get("Action", "")
    if action == "AssumeRoleWithSAML":
        return "AssumeRoleWithSAML is not available in class mode."
    if action not in ("AssumeRole", "AssumeRoleWithWebIdentity"):
        return None
    role = params.get("RoleArn", "")
    parts = role.split(":")
    if len(parts) >= 6 and parts[4] == account:
        return None
    return (f"User: arn:aws:iam::{account}:user/learner is not authorized to perform: sts:{action} on "
            f"resource: {role} (in class mode a learner assumes roles of their own account only)")


def _cloud_issued_secret(access_key_id: str) -> str | None:
    """The secret of a key the cloud itself issued (an IAM user's key, an assumed role's session)."""
    import sys

    iam = sys.modules.get("moto.iam.models")
    if iam is None or not access_key_id:
        return None
    for per_account in list(iam.iam_backends.values()):
        for backend in list(dict.values(per_account)):
            key = backend.access_keys.get(access_key_id)
            if key is not None and getattr(key, "status", "Active") == "Active":
                return key.secret_access_key
    return None


# -- the one instance of the running cloud ---------------------------------------------

_active: ClassMode | None = None


def configure(path: str | os.PathLike | None, admin_token: str) -> ClassMode | None:
    """Turn class mode on with this keys file (None: off, the laptop's rule)."""
    global _active
    _active = ClassMode(path, admin_token) if path else None
    if _active is not None:
        log.warning("class mode: %d issued keys from %s; requests must be signed with them",
                    len(_active._keys.learners), path)
    return _active


def configure_from_environment(admin_token: str) -> ClassMode | None:
    return configure(os.environ.get(ENV_VAR) or None, admin_token)


def active() -> ClassMode | None:
    return _active


def refusal(environ: dict) -> tuple[str, list, bytes] | None:
    """The gateway asks here for every request: None to go on."""
    return None if _active is None else _active.refusal(environ)


def caller_account(environ: dict) -> str | None:
    """The account a request speaks for: in class mode only a verified signature
    counts; on a laptop, the access key's account, as the account rule says."""
    if _active is not None:
        return _active.verified_account(environ)
    key = accounts.access_key_from_environ(environ)
    return accounts.account_for_key(key) if key is not None else None


def secret_for(account_id: str) -> str:
    """The secret that a learner's code running in the cloud (builds, functions,
    hooks) signs with for its account: the issued one in class mode."""
    if _active is not None:
        secret = _active.secret_for(account_id)
        if secret is not None:
            return secret
    return LAPTOP_SECRET
