"""podman and skopeo as the workshop runs them: with the project's own
containers.conf (runc, ulimits this kind of machine accepts), found on PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")


def env(base: dict | None = None) -> dict:
    """An environment whose podman/skopeo use the project's configuration."""
    out = dict(os.environ if base is None else base)
    out["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return out


def tools() -> dict[str, str | None]:
    """Where podman, skopeo, buildah and runc are (None: not installed)."""
    return {name: shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
            for name in ("podman", "skopeo", "buildah", "runc")}


def version() -> str | None:
    if not tools()["podman"]:
        return None
    import subprocess

    try:
        out = subprocess.run(["podman", "--version"], capture_output=True, text=True, timeout=10, env=env()).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().rsplit(" ", 1)[-1] or None


def user_namespaces() -> bool:
    """Whether an unprivileged-style user namespace works here (`unshare --user --map-root-user`)."""
    import subprocess

    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def how_images_build_and_run() -> tuple[str, str]:
    """(how this machine builds images, how it runs them), in words for `workshop doctor`."""
    found = tools()
    podman_version = version()
    if podman_version and found["runc"]:
        build = f"podman {podman_version} or buildah, or the project's builder (`workshop image build`)"
        run = f"podman {podman_version} with runc (the project's containers.conf via CONTAINERS_CONF)"
    else:
        build = "the project's builder (`workshop image build`; no podman here)"
        run = None
    if run is None:
        run = ("unpacked layers chrooted in a user namespace (unshare --user --map-root-user)"
               if user_namespaces() else "nothing: no podman with runc and no user namespaces")
    return build, run
