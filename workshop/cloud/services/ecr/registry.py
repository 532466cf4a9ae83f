"""The registry: the OCI Distribution API's push and pull subset at ``/v2/`` on the
cloud's port, over the same state the ECR API reports (models.py).

Clients log in as ECR's do: ``aws ecr get-login-password | podman login --username
AWS --password-stdin --tls-verify=false HOST:PORT``; each request carries HTTP basic
auth with user ``AWS`` and the token's password, which names the account and region
whose repositories the request sees. Without it: 401 with ECR's ``WWW-Authenticate:
Basic`` challenge. A repository only another account holds: 403 DENIED.

Served: ``GET /v2/``; blobs HEAD/GET/DELETE; uploads (monolithic ``POST ?digest=``,
chunked ``POST``/``PATCH``/``PUT``, status ``GET``, cancel ``DELETE``, cross-repository
``POST ?mount=&from=``); manifests PUT/GET/HEAD/DELETE by tag or digest; ``tags/list``.
Errors in the spec's JSON (``{"errors": [{"code", "message", "detail"}]}``).

Importing this module is cheap (no moto): it mounts the app when the gateway starts;
the models load on the first registry request.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs, quote

from workshop.cloud import persistence, services

log = logging.getLogger(__name__)

PREFIX = "/v2/"
_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
_ROUTE = re.compile(rf"^/v2/(?P<name>{_NAME})/(?P<kind>blobs/uploads|blobs|manifests|tags/list)"
                    rf"(?:/(?P<ref>[^/]*))?$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
_CHUNK = 1024 * 1024

_STATUS = {200: "200 OK", 201: "201 Created", 202: "202 Accepted", 204: "204 No Content",
           400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found",
           405: "405 Method Not Allowed", 413: "413 Payload Too Large", 415: "415 Unsupported Media Type",
           416: "416 Range Not Satisfiable", 500: "500 Internal Server Error"}


class RegistryError(Exception):
    def __init__(self, status: int, code: str, message: str, detail=None, headers: list | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail
        self.headers = headers or []


def _challenge() -> list[tuple[str, str]]:
    from workshop.cloud import runtime
    from urllib.parse import urlsplit

    host = urlsplit(runtime.endpoint()).netloc
    return [("WWW-Authenticate", f'Basic realm="http://{host}/",service="ecr.amazonaws.com"')]


def _read_body(environ: dict, limit: int | None = None) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    return stream.read() if limit is None else stream.read(limit)


class _Body:
    """The request body as a stream of its declared length (or to its end)."""

    def __init__(self, environ: dict):
        self.stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        self.length = int(length) if length not in (None, "") else None

    def read(self, n: int) -> bytes:
        return self.stream.read(n)


class RegistryApp:
    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            return self._serve(environ, start_response)
        except RegistryError as err:
            return self._error(start_response, err, environ.get("REQUEST_METHOD") == "HEAD")
        except Exception:  # a client must get an answer, and the cloud must stay up
            log.exception("registry request failed: %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return self._error(start_response, RegistryError(500, "UNKNOWN", "The workshop cloud failed on this "
                                                                          "registry request; see its log."))

    # -- routing ------------------------------------------------------------------
    def _serve(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        account, region, key = self._authenticate(environ, query)
        environ["workshop.registry_caller"] = (account, region, key)
        if path in ("/v2/", "/v2"):
            return self._reply(start_response, 200, b"{}", content_type="application/json")
        match = _ROUTE.match(path)
        if match is None:
            if path.startswith("/v2/_catalog"):
                raise RegistryError(405, "UNSUPPORTED", "ECR has no catalog: use describe_repositories.")
            raise RegistryError(404, "NAME_INVALID", f"not a registry path: {path}")
        name, kind, ref = match["name"], match["kind"], match["ref"]
        from workshop.cloud import services as svc

        svc.ensure_loaded("ecr")
        backend = self._backend(account, region, name)
        handler = {
            ("blobs", "GET"): self._get_blob, ("blobs", "HEAD"): self._get_blob,
            ("blobs", "DELETE"): self._delete_blob,
            ("blobs/uploads", "POST"): self._start_upload, ("blobs/uploads", "PATCH"): self._patch_upload,
            ("blobs/uploads", "PUT"): self._put_upload, ("blobs/uploads", "GET"): self._upload_status,
            ("blobs/uploads", "DELETE"): self._cancel_upload,
            ("manifests", "GET"): self._get_manifest, ("manifests", "HEAD"): self._get_manifest,
            ("manifests", "PUT"): self._put_manifest, ("manifests", "DELETE"): self._delete_manifest,
            ("tags/list", "GET"): self._tags,
        }.get((kind, method))
        if handler is None:
            raise RegistryError(405, "UNSUPPORTED", f"{method} is not supported on {kind}")
        if kind in ("blobs", "manifests") and not ref:
            raise RegistryError(404, "NAME_INVALID", f"{kind} needs a reference")
        if method in ("GET", "HEAD"):
            return handler(environ, start_response, backend, name, ref, query)
        with persistence.writing(account):  # a push changes the account's images: its snapshot follows
            return handler(environ, start_response, backend, name, ref, query)

    def _authenticate(self, environ: dict, query: dict) -> tuple[str, str, str | None]:
        from workshop.cloud.clock import get_clock
        from workshop.cloud.services.ecr import tokens

        password = query.get("workshop-token")  # get_download_url_for_layer's URLs
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if password is None and auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                password = None
        if not password:
            raise RegistryError(401, "UNAUTHORIZED", "authentication required: log in with "
                                "`aws ecr get-login-password | podman login --username AWS --password-stdin "
                                "--tls-verify=false HOST:PORT`", headers=_challenge())
        found = tokens.verify_password(password, get_clock().timestamp())
        if found is None:
            raise RegistryError(401, "UNAUTHORIZED", "Your authorization token is invalid or has expired: "
                                "get a new one with `aws ecr get-login-password`.", headers=_challenge())
        return found

    @staticmethod
    def _backend(account: str, region: str, name: str):
        from workshop.cloud.services.ecr import models

        backend = models.ecr_backends[account][region]
        if name not in backend.repositories:
            if models.find_repository_elsewhere(account, name):
                raise RegistryError(403, "DENIED", f"User: arn:aws:iam::{account}:root is not authorized to "
                                    f"perform: ecr:BatchGetImage on resource: repository {name} of another "
                                    f"account because no resource-based policy allows it")
            raise RegistryError(404, "NAME_UNKNOWN", f"The repository with name '{name}' does not exist in "
                                f"the registry with id '{account}'", {"name": name})
        return backend

    # -- blobs --------------------------------------------------------------------
    def _get_blob(self, environ, start_response, backend, name, digest, query):
        from workshop.cloud.services.ecr import blobs

        repo = backend.repositories[name]
        if digest not in repo.layers or not blobs.exists(backend.account_id, digest):
            raise RegistryError(404, "BLOB_UNKNOWN", f"blob {digest} is not in repository {name}",
                                {"digest": digest})
        path = blobs.blob_path(backend.account_id, digest)
        size = path.stat().st_size
        headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(size)),
                   ("Docker-Content-Digest", digest), ("ETag", f'"{digest}"'), _API_VERSION]
        start_response(_STATUS[200], headers)
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        f = open(path, "rb")
        wrapper = environ.get("wsgi.file_wrapper")
        return wrapper(f, _CHUNK) if wrapper else iter(lambda: f.read(_CHUNK), b"")

    def _delete_blob(self, environ, start_response, backend, name, digest, query):
        from workshop.cloud.services.ecr import models

        with models.LOCK:
            repo = backend.repositories[name]
            if repo.layers.pop(digest, None) is None:
                raise RegistryError(404, "BLOB_UNKNOWN", f"blob {digest} is not in repository {name}")
        return self._reply(start_response, 202)

    # -- uploads ------------------------------------------------------------------
    def _start_upload(self, environ, start_response, backend, name, ref, query):
        from workshop.cloud.services.ecr import blobs

        if ref:
            raise RegistryError(405, "UNSUPPORTED", "POST a new upload to /v2/NAME/blobs/uploads/")
        mount = query.get("mount")
        if mount:
            size = backend.link_blob(name, mount, query.get("from"))
            if size is not None:
                return self._reply(start_response, 201, headers=[
                    ("Location", f"/v2/{name}/blobs/{mount}"), ("Docker-Content-Digest", mount)])
        upload = backend.start_upload(name)
        digest = query.get("digest")
        if digest:  # monolithic: the whole blob in this request
            blobs.append(backend.account_id, upload.upload_id, _Body(environ), _Body(environ).length)
            return self._finish(start_response, backend, name, upload.upload_id, digest)
        return self._upload_reply(start_response, 202, name, upload.upload_id, 0)

    def _patch_upload(self, environ, start_response, backend, name, upload_id, query):
        from workshop.cloud.services.ecr import blobs

        self._upload(backend, name, upload_id)
        received = blobs.upload_size(backend.account_id, upload_id)
        content_range = environ.get("HTTP_CONTENT_RANGE", "")
        if content_range:
            start = re.match(r"^(?:bytes )?(\d+)-(\d+)", content_range)
            if start is None or int(start[1]) != received:
                return self._upload_reply(start_response, 416, name, upload_id, received)
        body = _Body(environ)
        size = blobs.append(backend.account_id, upload_id, body, body.length)
        return self._upload_reply(start_response, 202, name, upload_id, size)

    def _put_upload(self, environ, start_response, backend, name, upload_id, query):
        from workshop.cloud.services.ecr import blobs

        self._upload(backend, name, upload_id)
        digest = query.get("digest")
        if not digest or not blobs.DIGEST_RE.match(digest):
            raise RegistryError(400, "DIGEST_INVALID", "closing an upload needs ?digest=sha256:HEX")
        body = _Body(environ)
        if body.length != 0:
            blobs.append(backend.account_id, upload_id, body, body.length)
        return self._finish(start_response, backend, name, upload_id, digest)

    def _finish(self, start_response, backend, name, upload_id, digest):
        from workshop.cloud.services.ecr import blobs

        if not blobs.DIGEST_RE.match(digest):
            raise RegistryError(400, "DIGEST_INVALID", f"not a sha256 digest: {digest}")
        try:
            backend.finish_upload(name, upload_id, digest)
        except blobs.DigestMismatch as exc:
            raise RegistryError(400, "DIGEST_INVALID", str(exc), {"digest": digest}) from None
        return self._reply(start_response, 201, headers=[
            ("Location", f"/v2/{name}/blobs/{digest}"), ("Docker-Content-Digest", digest)])

    def _upload_status(self, environ, start_response, backend, name, upload_id, query):
        from workshop.cloud.services.ecr import blobs

        self._upload(backend, name, upload_id)
        size = blobs.upload_size(backend.account_id, upload_id)
        return self._upload_reply(start_response, 204, name, upload_id, size)

    def _cancel_upload(self, environ, start_response, backend, name, upload_id, query):
        self._upload(backend, name, upload_id)
        backend.cancel_upload(name, upload_id)
        return self._reply(start_response, 204)

    @staticmethod
    def _upload(backend, name, upload_id):
        if not upload_id or upload_id not in backend.repositories[name].uploads:
            raise RegistryError(404, "BLOB_UPLOAD_UNKNOWN", f"no upload {upload_id} in repository {name}")

    def _upload_reply(self, start_response, status, name, upload_id, size):
        return self._reply(start_response, status, headers=[
            ("Location", f"/v2/{name}/blobs/uploads/{upload_id}"), ("Docker-Upload-UUID", upload_id),
            ("Range", f"0-{max(size - 1, 0)}")])

    # -- manifests ----------------------------------------------------------------
    @staticmethod
    def _find(backend, name, ref):
        repo = backend.repositories[name]
        key = {"imageDigest": ref} if ref.startswith("sha256:") else {"imageTag": ref}
        image = backend.find_image(repo, key)
        if image is None:
            raise RegistryError(404, "MANIFEST_UNKNOWN", f"manifest {ref} is not in repository {name}",
                                {"reference": ref})
        return image

    def _get_manifest(self, environ, start_response, backend, name, ref, query):
        from workshop.cloud.clock import get_clock

        image = self._find(backend, name, ref)
        body = image.image_manifest.encode("utf-8")
        headers = [("Content-Type", image.image_manifest_media_type), ("Content-Length", str(len(body))),
                   ("Docker-Content-Digest", image.digest), ("ETag", f'"{image.digest}"'), _API_VERSION]
        start_response(_STATUS[200], headers)
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        image.last_pull = get_clock().timestamp()
        _trail(environ, "BatchGetImage", {"repositoryName": name, "imageIds": [_image_id(ref)]},
               None, read_only=True)
        return [body]

    def _put_manifest(self, environ, start_response, backend, name, ref, query):
        from moto.core.exceptions import ServiceException

        from workshop.cloud.services.ecr import models

        body = _read_body(environ, 4 * 1024 * 1024 + 1)
        if len(body) > 4 * 1024 * 1024:
            raise RegistryError(413, "SIZE_INVALID", "a manifest is at most 4 MiB")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RegistryError(400, "MANIFEST_INVALID", "a manifest is UTF-8 JSON") from None
        is_digest = ref.startswith("sha256:")
        if not is_digest and not _TAG_RE.match(ref):
            raise RegistryError(400, "TAG_INVALID", f"invalid tag {ref!r}")
        content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip() or None
        if content_type not in models.MANIFEST_TYPES:
            content_type = None  # the manifest's own mediaType decides
        try:
            image = backend.put_image(name, text, None if is_digest else ref, content_type,
                                      ref if is_digest else None, idempotent=True)
        except ServiceException as exc:
            raise _manifest_error(exc, ref) from None
        _trail(environ, "PutImage", {"repositoryName": name, "imageTag": None if is_digest else ref,
                                     "imageManifestMediaType": image.image_manifest_media_type},
               {"image": {"repositoryName": name, "registryId": backend.account_id,
                          "imageId": image.image_id(None if is_digest else ref)}})
        return self._reply(start_response, 201, headers=[
            ("Location", f"/v2/{name}/manifests/{image.digest}"), ("Docker-Content-Digest", image.digest)])

    def _delete_manifest(self, environ, start_response, backend, name, ref, query):
        image = self._find(backend, name, ref)
        backend.batch_delete_image(name, image_ids=[{"imageDigest": image.digest} if ref.startswith("sha256:")
                                                    else {"imageTag": ref}])
        return self._reply(start_response, 202)

    # -- tags -----------------------------------------------------------------------
    def _tags(self, environ, start_response, backend, name, ref, query):
        repo = backend.repositories[name]
        tags = sorted({t for image in repo.images for t in image.image_tags})
        last, headers = query.get("last"), []
        if last:
            tags = [t for t in tags if t > last]
        try:
            n = int(query["n"]) if "n" in query else None
        except ValueError:
            raise RegistryError(400, "PAGINATION_NUMBER_INVALID", "n must be a number") from None
        if n is not None and len(tags) > n:
            tags = tags[:n]
            headers.append(("Link", f'</v2/{name}/tags/list?n={n}&last={quote(tags[-1])}>; rel="next"'))
        body = json.dumps({"name": name, "tags": tags}).encode()
        return self._reply(start_response, 200, body, "application/json", headers)

    # -- replies ----------------------------------------------------------------------
    @staticmethod
    def _reply(start_response, status: int, body: bytes = b"", content_type: str | None = None,
               headers: list | None = None) -> list[bytes]:
        out = [("Content-Length", str(len(body))), _API_VERSION] + (headers or [])
        if content_type:
            out.append(("Content-Type", content_type))
        start_response(_STATUS[status], out)
        return [body]

    def _error(self, start_response, err: RegistryError, head: bool = False) -> list[bytes]:
        body = json.dumps({"errors": [{"code": err.code, "message": err.message, "detail": err.detail}]}).encode()
        self._reply(start_response, err.status, body, "application/json", err.headers)
        return [] if head else [body]


def _image_id(ref: str) -> dict:
    return {"imageDigest": ref} if ref.startswith("sha256:") else {"imageTag": ref}


def _trail(environ: dict, operation: str, parameters: dict, response: dict | None, **details) -> None:
    """A registry push or pull in CloudTrail as ECR records it (PutImage, BatchGetImage), with
    the caller whose key asked for the token."""
    account, region, key = environ["workshop.registry_caller"]
    try:
        from workshop.cloud.services.cloudtrail import recorder
    except ImportError:  # no CloudTrail in this cloud
        return
    as_called = {"HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={key or account}/20000101/{region}/ecr/"
                                       f"aws4_request", "workshop.account": account,
                 "REMOTE_ADDR": environ.get("REMOTE_ADDR", "127.0.0.1"),
                 "HTTP_USER_AGENT": environ.get("HTTP_USER_AGENT", "")}
    try:
        recorder.learner_call(as_called, "ecr", operation, {k: v for k, v in parameters.items() if v is not None},
                              response, **details)
    except Exception:  # a record must never fail a push
        log.debug("recording %s failed", operation, exc_info=True)


def _manifest_error(exc, ref: str) -> RegistryError:
    """ECR's API errors as the registry answers them."""
    code = getattr(exc, "code", "")
    message = getattr(exc, "message", None) or str(exc)
    if code == "ImageTagAlreadyExistsException":
        return RegistryError(400, "TAG_INVALID", message, {"tag": ref})
    if code == "LayersNotFoundException":
        return RegistryError(404, "MANIFEST_BLOB_UNKNOWN", message)
    if code == "ReferencedImagesNotFoundException":
        return RegistryError(404, "MANIFEST_UNKNOWN", message)
    if code == "ImageDigestDoesNotMatchException":
        return RegistryError(400, "DIGEST_INVALID", message, {"digest": ref})
    return RegistryError(400, "MANIFEST_INVALID", message)


services.mount(PREFIX, RegistryApp(), own_auth=True)
