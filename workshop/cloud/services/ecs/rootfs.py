"""A task's images, from the cloud's own ECR registry to a root folder a container
runs in: the reference resolved in the account's repositories (tag or digest, an
index's linux/amd64 manifest), its layers read from the registry's blob store
(ecr/blobs.py) and unpacked in order, whiteouts applied, once per image digest
under ``state/ecs/roots/DIGEST`` (shared read-only by every task of that image)."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from workshop.cloud import runtime, services

_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()
_INDEXES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


class PullError(Exception):
    """CannotPullContainerError: the image cannot be had (ECS's words follow)."""


@dataclass
class Pulled:
    digest: str
    root: Path
    config: dict        # the image config's "config" (Env, Cmd, Entrypoint, WorkingDir, ...)


def parse(reference: str) -> tuple[str | None, str, str | None, str | None]:
    """(registry host or None, repository, tag, digest) of an image reference."""
    rest, digest = (reference.split("@", 1) + [None])[:2] if "@" in reference else (reference, None)
    host = None
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        host, rest = first, remainder
    tag = None
    if ":" in rest.rsplit("/", 1)[-1]:
        rest, tag = rest.rsplit(":", 1)
    if tag is None and digest is None:
        tag = "latest"
    return host, rest, tag, digest


def resolve(account: str, region: str, reference: str) -> tuple[str, dict, list[str]]:
    """(manifest digest, image config, layer digests) of ``reference`` in the account's ECR."""
    services.ensure_loaded("ecr")
    from workshop.cloud.services.ecr import blobs
    from workshop.cloud.services.ecr.models import ecr_backends

    host, name, tag, digest = parse(reference)
    owner = account
    if host and ".dkr.ecr." in host:
        owner = host.split(".", 1)[0]
        region = host.split(".dkr.ecr.", 1)[1].split(".", 1)[0]
    if owner != account:
        raise PullError(f"pull access denied for {name}: the image is in account {owner}")
    backend = ecr_backends[account][region]
    try:
        repo = backend.repository(name)
    except Exception:
        raise PullError(f"failed to resolve ref {reference}: {name}: not found (no such repository)") from None
    image = backend.find_image(repo, {"imageDigest": digest} if digest else {"imageTag": tag})
    if image is None:
        raise PullError(f"failed to resolve ref {reference}: {name}:{tag or digest}: not found")
    manifest = json.loads(image.image_manifest)
    if image.image_manifest_media_type in _INDEXES or "manifests" in manifest:
        chosen = next((m for m in manifest.get("manifests", [])
                       if (m.get("platform") or {}).get("architecture", "amd64") == "amd64"), None)
        inner = chosen and backend.find_image(repo, {"imageDigest": chosen["digest"]})
        if inner is None:
            raise PullError(f"{reference}: no linux/amd64 image in the index")
        image, manifest = inner, json.loads(inner.image_manifest)
    import time

    image.last_pull = time.time()
    try:
        config = json.loads(blobs.read(account, manifest["config"]["digest"]))
    except (OSError, KeyError, ValueError) as exc:
        raise PullError(f"{reference}: the image config cannot be read ({exc})") from None
    return image.digest, config, [layer["digest"] for layer in manifest.get("layers", [])]


def pull(account: str, region: str, reference: str) -> Pulled:
    """The image's unpacked root (made once per digest) and its config."""
    from workshop.cloud.services.ecr import blobs

    digest, config, layers = resolve(account, region, reference)
    roots = runtime.state_dir() / "ecs" / "roots"
    root = roots / digest.split(":", 1)[1]
    with _locks_lock:
        lock = _locks.setdefault(digest, threading.Lock())
    with lock:
        if not (root / ".workshop-complete").exists():
            for folder in (roots.parent, roots):
                folder.mkdir(exist_ok=True)
                os.chmod(folder, 0o755)     # tasks' users pass through to their image's root
            work = roots / f".unpack-{uuid.uuid4().hex}"
            work.mkdir()
            try:
                for layer in layers:
                    _apply(work, blobs.blob_path(account, layer))
                for tmp in ("tmp", "var/tmp"):
                    (work / tmp).mkdir(parents=True, exist_ok=True)
                    os.chmod(work / tmp, 0o1777)
                os.chmod(work, 0o755)
                (work / ".workshop-complete").write_text(digest)
                shutil.rmtree(root, ignore_errors=True)
                os.replace(work, root)
            except (OSError, tarfile.TarError) as exc:
                shutil.rmtree(work, ignore_errors=True)
                raise PullError(f"{reference}: a layer cannot be unpacked ({exc})") from None
    return Pulled(digest, root, config.get("config") or {})


def _apply(root: Path, layer: Path) -> None:
    """One layer onto ``root``: OCI whiteouts (``.wh.NAME`` removes NAME, ``.wh..wh..opq``
    empties the folder), then its files; nothing outside ``root`` (tarfile's tar filter),
    no device files."""
    with tarfile.open(layer, "r:*") as tar:
        members = []
        for member in tar:
            path = member.name.lstrip("./") if member.name.startswith("./") else member.name.lstrip("/")
            folder, _, base = path.rpartition("/")
            if base == ".wh..wh..opq":
                target = root / folder
                if target.is_dir() and not target.is_symlink():
                    for child in target.iterdir():
                        _remove(child)
                continue
            if base.startswith(".wh."):
                _remove(root / folder / base[4:])
                continue
            if member.ischr() or member.isblk() or member.isfifo():
                continue
            existing = root / path
            if existing.is_symlink() or (existing.exists() and not existing.is_dir()):
                _remove(existing)
            members.append(member)
        tar.extractall(root, members=members, filter="tar")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
