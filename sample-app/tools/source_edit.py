"""One planted change in one file of the sample app, and the tool that plants and
fixes it (shared by plant_bug.py and fix_bottleneck.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SourceEdit:
    path: Path      # relative to the app's folder
    planted: str    # the text as the lab starts from it
    fixed: str      # the text once fixed

    def file(self, app_dir: str | Path | None) -> Path:
        path = Path(app_dir or APP_DIR) / self.path
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {app_dir or APP_DIR} a copy of the sample app?")
        return path

    def status(self, app_dir: str | Path | None = None) -> str:
        text = self.file(app_dir).read_text()
        return "planted" if self.planted in text else "fixed" if self.fixed in text else "unknown"

    def _replace(self, app_dir: str | Path | None, old: str, new: str) -> bool:
        path = self.file(app_dir)
        text = path.read_text()
        if old not in text:
            return False
        path.write_text(text.replace(old, new, 1))
        return True

    def plant(self, app_dir: str | Path | None = None) -> bool:
        """Plant the change; False when it was already there."""
        return self._replace(app_dir, self.fixed, self.planted)

    def fix(self, app_dir: str | Path | None = None) -> bool:
        """Fix it; False when it was already fixed."""
        return self._replace(app_dir, self.planted, self.fixed)

    def main(self, argv: list[str], usage: str) -> int:
        if not argv or argv[0] not in ("plant", "fix", "status"):
            print(usage.strip(), file=sys.stderr)
            return 2
        app_dir = argv[1] if len(argv) > 1 else None
        if argv[0] == "status":
            print(self.status(app_dir))
            return 0
        changed = (self.plant if argv[0] == "plant" else self.fix)(app_dir)
        print(f"{argv[0]}: {'done' if changed else 'nothing to do'} ({self.status(app_dir)})")
        return 0
