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
