"""The sample application the labs push, build and deploy: where the project
keeps it (``sample-app/`` in the workshop folder) and a clean copy of it for a
lab's working folder, without caches a build or a test run left behind."""

from __future__ import annotations

import shutil
from pathlib import Path

from checker.labs import GENERATED

__all__ = ["sample_app_path", "copy_sample_app"]



def sample_app_path() -> Path:
    """The project's ``sample-app/`` folder (found from ``WORKSHOP_HOME`` or the install)."""
    from workshop.settings import project_root

    path = project_root() / "sample-app"
    if not (path / "app").is_dir():
        raise FileNotFoundError(f"no sample app at {path}: set WORKSHOP_HOME to the workshop folder")
    return path


def copy_sample_app(dest: str | Path) -> Path:
    """Copy the sample app's files into ``dest`` (made if missing; files already
    there are overwritten, others left alone) and return ``dest``."""
    dest = Path(dest)
    shutil.copytree(sample_app_path(), dest, ignore=shutil.ignore_patterns(*GENERATED), dirs_exist_ok=True)
    return dest
