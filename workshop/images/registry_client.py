"""A registry client over the OCI Distribution API (standard library): push an
image from an OCI layout (blobs the registry lacks, then the manifest) and pull
one back, with ECR's basic auth (user ``AWS``, the token's password), over plain
HTTP as the workshop's registry serves it (or HTTPS for a real registry)."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from workshop.images import oci

_CHUNK = 1024 * 1024
ACCEPT = ", ".join(["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])


class RegistryError(Exception):
    def __init__(self, status: int, body: bytes, what: str):
        try:
            errors = json.loads(body).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError):
            detail = body[:200].decode("utf-8", "replace")
        super().__init__(f"{what}: HTTP {status} {detail}")
        self.status = status
        self.codes = [e.get("code") for e in (errors if isinstance(errors, list) else [])] if body else []


@dataclass
class Reference:
    """``HOST:PORT/NAME:TAG`` (or ``@sha256:...``)."""
    host: str
    name: str
    reference: str

    @classmethod
    def parse(cls, text: str) -> "Reference":
        host, slash, rest = text.partition("/")
        if not slash or not rest:
            raise ValueError(f"{text!r} is not HOST:PORT/NAME:TAG")
        if "@" in rest:
            name, ref = rest.split("@", 1)
        else:
            name, colon, ref = rest.rpartition(":")
            if not colon or "/" in ref:
                name, ref = rest, "latest"
        return cls(host, name, ref)

    def __str__(self) -> str:
        sep = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.host}/{self.name}{sep}{self.reference}"


class Registry:
    def __init__(self, host: str, username: str = "AWS", password: str | None = None, tls: bool = False):
        self.host = host
        self.auth = None
        if password is not None:
            self.auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.tls = tls
        self._conn: http.client.HTTPConnection | None = None

    # -- HTTP ------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.tls else http.client.HTTPConnection
            self._conn = cls(self.host, timeout=300)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                length: int | None = None) -> tuple[int, dict, bytes]:
        headers = dict(headers or {})
        if self.auth:
            headers["Authorization"] = self.auth
        if length is not None:
            headers["Content-Length"] = str(length)
        for attempt in (1, 2):  # a keep-alive connection the server closed: once more on a new one
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = {k.lower(): v for k, v in resp.getheaders()}
                if out.get("connection", "").lower() == "close":
                    self.close()
                return resp.status, out, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2 or hasattr(body, "read"):
                    raise
        raise AssertionError("unreachable")

    def _check(self, status: int, data: bytes, what: str, ok: tuple[int, ...]) -> None:
        if status not in ok:
            raise RegistryError(status, data, what)

    def ping(self) -> None:
        status, _, data = self.request("GET", "/v2/")
        self._check(status, data, "GET /v2/", (200,))

    # -- blobs -----------------------------------------------------------------
    def has_blob(self, name: str, digest: str) -> bool:
        status, _, data = self.request("HEAD", f"/v2/{name}/blobs/{digest}")
        return status == 200

    def push_blob(self, name: str, path: Path, digest: str, mount_from: str | None = None) -> None:
        if mount_from:
            status, headers, data = self.request(
                "POST", f"/v2/{name}/blobs/uploads/?mount={digest}&from={urllib.parse.quote(mount_from)}")
            if status == 201:
                return
        else:
            status, headers, data = self.request("POST", f"/v2/{name}/blobs/uploads/")
        self._check(status, data, f"starting an upload to {name}", (202,))
        location = self._location(headers["location"], name)
        sep = "&" if "?" in location else "?"
        size = path.stat().st_size
        with open(path, "rb") as f:
            status, _, data = self.request("PUT", f"{location}{sep}digest={digest}", body=f,
                                           headers={"Content-Type": "application/octet-stream"}, length=size)
        self._check(status, data, f"uploading {digest} to {name}", (201,))

    def _location(self, location: str, name: str) -> str:
        parsed = urllib.parse.urlsplit(location)
        return parsed.path + (f"?{parsed.query}" if parsed.query else "")

    def get_blob(self, name: str, digest: str) -> bytes:
        status, _, data = self.request("GET", f"/v2/{name}/blobs/{digest}")
        self._check(status, data, f"GET blob {digest}", (200,))
        return data

    # -- manifests -------------------------------------------------------------
    def put_manifest(self, name: str, reference: str, body: bytes, media_type: str) -> str:
        status, headers, data = self.request("PUT", f"/v2/{name}/manifests/{reference}", body=body,
                                             headers={"Content-Type": media_type})
        self._check(status, data, f"PUT manifest {name}:{reference}", (201,))
        return headers.get("docker-content-digest", "")

    def get_manifest(self, name: str, reference: str) -> tuple[bytes, str, str]:
        status, headers, data = self.request("GET", f"/v2/{name}/manifests/{reference}",
                                             headers={"Accept": ACCEPT})
        self._check(status, data, f"GET manifest {name}:{reference}", (200,))
        return data, headers.get("content-type", ""), headers.get("docker-content-digest", "")

    # -- images ----------------------------------------------------------------
    def push(self, image: oci.Image, name: str, tag: str) -> str:
        """Push an image of an OCI layout as ``name:tag``; its manifest digest."""
        for desc in [image.config_descriptor] + image.layers:
            if not self.has_blob(name, desc.digest):
                self.push_blob(name, image.layout.blob_path(desc.digest), desc.digest)
        body = image.layout.blob_path(image.digest).read_bytes()
        return self.put_manifest(name, tag, body, image.manifest_descriptor.media_type)

    def pull(self, name: str, reference: str, layout: oci.Layout, local_name: str) -> oci.Image:
        """Pull ``name:reference`` into a layout, checking every digest."""
        body, media_type, digest = self.get_manifest(name, reference)
        manifest = json.loads(body)
        for desc in [manifest["config"]] + manifest["layers"]:
            if not layout.blob_path(desc["digest"]).exists():
                data = self.get_blob(name, desc["digest"])
                got = layout.add_bytes(data, desc["mediaType"])
                if got.digest != desc["digest"]:
                    raise RegistryError(200, b"", f"blob {desc['digest']} arrived as {got.digest}")
        got = layout.add_bytes(body, media_type or manifest.get("mediaType", oci.OCI_MANIFEST))
        if digest and got.digest != digest:
            raise RegistryError(200, b"", f"manifest {digest} arrived as {got.digest}")
        layout.tag(local_name, got)
        return layout.image(local_name)


def ecr_password(ecr_client) -> str:
    """``aws ecr get-login-password``: the password half of ECR's authorization token."""
    token = ecr_client.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().split(":", 1)[1]
