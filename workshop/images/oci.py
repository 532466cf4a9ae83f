"""OCI images with the standard library alone: a gzip'd layer tar of a folder,
an image config, a manifest, kept in an OCI image layout on disk (the format
``skopeo copy oci:DIR:TAG`` and podman read), so no container tool is needed.

A layer is made reproducibly (sorted entries, fixed times and owners), so the
same folder gives the same digest."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
_CHUNK = 1024 * 1024
_EPOCH = 0  # layer entries' mtime: reproducible digests


@dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        out = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = self.annotations
        return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class Layout:
    """An OCI image layout folder: ``oci-layout``, ``index.json``, ``blobs/sha256/``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.root / "oci-layout").exists():
            (self.root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        if not (self.root / "index.json").exists():
            self._write_index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def add_bytes(self, data: bytes, media_type: str) -> Descriptor:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            tmp = path.with_name(f".{uuid.uuid4().hex}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return Descriptor(media_type, digest, len(data))

    def add_file(self, source: Path, media_type: str) -> Descriptor:
        """Move a finished file into the layout (by its digest)."""
        digest = sha256_file(source)
        size = source.stat().st_size
        path = self.blob_path(digest)
        if path.exists():
            source.unlink()
        else:
            shutil.move(str(source), path)
        return Descriptor(media_type, digest, size)

    def read_json(self, digest: str) -> dict:
        return json.loads(self.blob_path(digest).read_bytes())

    # -- tags ------------------------------------------------------------------
    def _index(self) -> dict:
        return json.loads((self.root / "index.json").read_text())

    def _write_index(self, index: dict) -> None:
        tmp = self.root / f".index-{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(index, indent=1))
        os.replace(tmp, self.root / "index.json")

    def tag(self, name: str, manifest: Descriptor) -> None:
        index = self._index()
        index["manifests"] = [m for m in index["manifests"]
                              if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != name]
        entry = manifest.as_json()
        entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        index["manifests"].append(entry)
        self._write_index(index)

    def resolve(self, name: str) -> Descriptor | None:
        for m in self._index()["manifests"]:
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
                return Descriptor(m["mediaType"], m["digest"], m["size"])
        return None

    def image(self, name: str) -> "Image | None":
        found = self.resolve(name)
        if found is None:
            return None
        manifest = self.read_json(found.digest)
        config = self.read_json(manifest["config"]["digest"])
        layers = [Descriptor(l["mediaType"], l["digest"], l["size"]) for l in manifest["layers"]]
        return Image(self, found, manifest, config, layers)


@dataclass
class Image:
    layout: Layout
    manifest_descriptor: Descriptor
    manifest: dict
    config: dict
    layers: list[Descriptor]

    @property
    def digest(self) -> str:
        return self.manifest_descriptor.digest

    @property
    def config_descriptor(self) -> Descriptor:
        c = self.manifest["config"]
        return Descriptor(c["mediaType"], c["digest"], c["size"])


def layer_from_tar(layout: Layout, tar_path: Path) -> tuple[Descriptor, str]:
    """An uncompressed tar as a gzip'd layer: (descriptor, diff_id)."""
    diff = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=layout.root, prefix=".layer-", delete=False) as out:
        # No name and mtime 0 in the gzip header: the same tar gives the same layer digest.
        with open(tar_path, "rb") as src, \
                gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
            while chunk := src.read(_CHUNK):
                diff.update(chunk)
                gz.write(chunk)
    return layout.add_file(Path(out.name), OCI_LAYER_GZIP), "sha256:" + diff.hexdigest()


def tar_folder(folder: Path, out_path: Path, prefix: str = "", exclude: tuple[str, ...] = ()) -> None:
    """A reproducible tar of ``folder``'s contents under ``prefix`` (e.g. ``app``):
    sorted entries, mtime 0, owner root, modes kept (no special files)."""
    folder = Path(folder)

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = _EPOCH
        return info

    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        parts = [p for p in prefix.strip("/").split("/") if p]
        for i in range(len(parts)):
            info = tarfile.TarInfo("/".join(parts[:i + 1]))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(reset(info))
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d not in exclude)
            rel_dir = Path(dirpath).relative_to(folder)
            for name in sorted(dirnames) + sorted(f for f in filenames if f not in exclude):
                path = Path(dirpath) / name
                arcname = "/".join(parts + [p for p in (rel_dir / name).parts if p != "."])
                info = tar.gettarinfo(str(path), arcname)
                if not (info.isreg() or info.isdir() or info.issym()):
                    continue
                reset(info)
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)


def write_image(layout: Layout, name: str, layers: list[tuple[Descriptor, str]], config: dict) -> Image:
    """Config and manifest for ``layers`` ((descriptor, diff_id), base first), tagged ``name``."""
    config = dict(config)
    config["rootfs"] = {"type": "layers", "diff_ids": [diff for _, diff in layers]}
    config_desc = layout.add_bytes(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc.as_json(),
                "layers": [d.as_json() for d, _ in layers]}
    manifest_desc = layout.add_bytes(json.dumps(manifest).encode(), OCI_MANIFEST)
    layout.tag(name, manifest_desc)
    return layout.image(name)


def build(layout: Layout, base: Image, folder: Path, name: str, *, workdir: str = "/app",
          cmd: list[str] | None = None, env: dict[str, str] | None = None, port: int | None = None,
          exclude: tuple[str, ...] = ("__pycache__", ".git", ".pytest_cache"),
          extra: list[tuple[Path, str]] = ()) -> Image:
    """An image of ``folder`` copied to ``workdir`` on top of ``base`` (and of each
    ``extra`` (folder, path in the image) in a layer of its own, below the app's)."""
    new_layers = []
    with tempfile.TemporaryDirectory(dir=layout.root, prefix=".build-") as tmp:
        for i, (source, at) in enumerate(list(extra) + [(folder, workdir)]):
            tar_path = Path(tmp) / f"layer-{i}.tar"
            tar_folder(source, tar_path, at, exclude)
            new_layers.append(layer_from_tar(layout, tar_path))
    diff_ids = base.config.get("rootfs", {}).get("diff_ids", [])
    layers = list(zip(base.layers, diff_ids)) + new_layers
    base_cfg = base.config.get("config", {})
    env_list = [e for e in base_cfg.get("Env", []) if e.split("=", 1)[0] not in (env or {})]
    env_list += [f"{k}={v}" for k, v in (env or {}).items()]
    container = {**base_cfg, "Env": env_list, "WorkingDir": workdir}
    if cmd:
        container["Cmd"] = list(cmd)
        container.pop("Entrypoint", None)
    if port:
        container["ExposedPorts"] = {f"{int(port)}/tcp": {}}
    config = {"architecture": base.config.get("architecture", "amd64"), "os": base.config.get("os", "linux"),
              "config": container, "created": "1970-01-01T00:00:00Z",
              "history": base.config.get("history", []) + [{"created_by": f"workshop image build {folder.name}",
                                                             "created": "1970-01-01T00:00:00Z"}]}
    return write_image(layout, name, layers, config)
