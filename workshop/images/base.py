"""The base image with a Python runtime that `workshop image build` puts apps on,
kept in the workshop's image layout (``DATA_DIR/images``, tag ``python-base``):

- on Debian or Ubuntu (mmdebstrap installed), from the distribution's own
  packages: ``mmdebstrap --variant=extract --include=python3`` (python3 and its
  dependencies unpacked, ~61 MB, 23 MB gzip'd), with a dpkg status written from
  the packages' control files, so scanners see the package inventory;
- elsewhere, from the running Python: its interpreter, standard library and
  the shared libraries they load (``ldd``), at the same paths, with
  ``/usr/bin/python3`` pointing at it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

from workshop import settings
from workshop.images import oci

BASE_TAG = "python-base"
ENV_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# dpkg's inventory for an extract-only root (mmdebstrap leaves it empty: nothing was "installed").
_DPKG_STATUS_HOOK = ('for f in "$1"/var/cache/apt/archives/*.deb; do dpkg-deb -f "$f"; '
                     'printf "Status: install ok installed\\n\\n"; done > "$1"/var/lib/dpkg/status')
_SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages",
                "__pycache__"}


def layout(data: Path | None = None) -> oci.Layout:
    return oci.Layout((data or settings.data_dir()) / "images")


def method() -> str:
    """How this machine makes the base: 'debian' (mmdebstrap) or 'python' (the running Python)."""
    return "debian" if shutil.which("mmdebstrap") and _codename() else "python"


def _codename() -> str | None:
    try:
        fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        return None
    if fields.get("ID", "").strip('"') not in ("debian", "ubuntu") and "debian" not in fields.get("ID_LIKE", ""):
        return None
    return fields.get("VERSION_CODENAME", "").strip('"') or None


def get(data: Path | None = None) -> oci.Image | None:
    """The base image, or None (asking makes no folders)."""
    if not ((data or settings.data_dir()) / "images" / "index.json").exists():
        return None
    return layout(data).image(BASE_TAG)


def make(data: Path | None = None, how: str | None = None, log=print) -> oci.Image:
    """Make (or remake) the base image; ``how`` forces 'debian' or 'python'."""
    how = how or method()
    lay = layout(data)
    with tempfile.TemporaryDirectory(dir=lay.root, prefix=".base-") as tmp:
        tar_path = Path(tmp) / "root.tar"
        if how == "debian":
            codename = _codename() or "bookworm"
            log(f"making the base image from Debian's packages ({codename}: python3) with mmdebstrap...")
            subprocess.run(["mmdebstrap", "--quiet", "--variant=extract", "--include=python3", "--format=tar",
                            f"--extract-hook={_DPKG_STATUS_HOOK}", codename, str(tar_path)],
                           check=True, stdin=subprocess.DEVNULL)
            source = f"debian {codename} python3 (mmdebstrap --variant=extract)"
        elif how == "python":
            log(f"making the base image from the running Python ({sys.version.split()[0]})...")
            _python_root_tar(tar_path)
            source = f"the running Python {sys.version.split()[0]}"
        else:
            raise ValueError(f"unknown base method {how!r}: 'debian' or 'python'")
        layer = oci.layer_from_tar(lay, tar_path)
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": [ENV_PATH, "PYTHONUNBUFFERED=1"], "Cmd": ["python3"]},
              "created": "1970-01-01T00:00:00Z",
              "history": [{"created_by": f"workshop image base: {source}", "created": "1970-01-01T00:00:00Z"}]}
    return oci.write_image(lay, BASE_TAG, [layer], config)


# -- from the running Python -----------------------------------------------------
def _python_files() -> list[Path]:
    """The interpreter, its standard library (without tests and tools) and the shared
    libraries they load, as absolute paths."""
    exe = Path(os.path.realpath(sys.executable))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [exe]
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_STDLIB and not d.startswith("config-")]
        files += [Path(dirpath) / f for f in filenames if not f.endswith((".pyc", ".pyo"))]
    libdir = sysconfig.get_config_var("LIBDIR")
    ldlibrary = sysconfig.get_config_var("LDLIBRARY")
    if libdir and ldlibrary and (Path(libdir) / ldlibrary).exists():
        files.append(Path(libdir) / ldlibrary)
    objects = [exe] + [f for f in files if f.suffix == ".so"]
    files += _shared_libraries(objects)
    return files


def _shared_libraries(objects: list[Path]) -> list[Path]:
    libs: set[Path] = set()
    for start in range(0, len(objects), 50):
        out = subprocess.run(["ldd", *map(str, objects[start:start + 50])], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.strip().split()
            path = parts[2] if len(parts) >= 3 and parts[1] == "=>" else parts[0] if parts else ""
            if path.startswith("/"):
                libs.add(Path(path))
    return sorted(libs)


def _python_root_tar(out: Path) -> None:
    """The files at their real paths (directories resolved, so a merged /usr stays one),
    each symlink beside its target, and the top-level links (/lib64 -> usr/lib64: the
    interpreter's ELF loader path) as on this machine."""
    seen: set[str] = set()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(info: tarfile.TarInfo, source: Path | None = None) -> None:
            seen.add(info.name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if source is not None and info.isreg():
                with open(source, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)

        def add_dirs(path: Path) -> None:
            for parent in reversed(path.parents[:-1]):
                name = str(parent).lstrip("/")
                if name and name not in seen:
                    info = tarfile.TarInfo(name)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    add(info)

        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            if os.path.islink(f"/{top}"):
                info = tarfile.TarInfo(top)
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(f"/{top}")
                add(info)
        for path in sorted(set(_python_files())):
            for real in (Path(os.path.realpath(path.parent)) / path.name, Path(os.path.realpath(path))):
                name = str(real).lstrip("/")
                if name in seen or not os.path.lexists(real):
                    continue
                add_dirs(real)
                add(tar.gettarinfo(str(real), name), real)
        for name in ("usr/bin/python3", "usr/local/bin/python3"):
            if name not in seen:
                add_dirs(Path("/" + name))
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, os.path.realpath(sys.executable)
                add(info)
        for name in ("tmp", "etc", "dev", "proc"):
            if name not in seen:
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
                add(info)
