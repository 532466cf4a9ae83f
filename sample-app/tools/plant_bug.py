"""Plant (or fix) the bug lab 02 starts from: an off-by-one in the bulk
discount, so that ``test_bulk_discount_starts_at_ten`` fails.

    python tools/plant_bug.py plant [APP_DIR]   # the first build fails
    python tools/plant_bug.py fix [APP_DIR]     # the learner's fixing commit
    python tools/plant_bug.py status [APP_DIR]  # prints planted / fixed
"""

from __future__ import annotations

import sys
from pathlib import Path

PRICING = Path("app") / "pricing.py"
CORRECT = "if quantity >= threshold:"
PLANTED = "if quantity > threshold:"
FAILING_TEST = "test_bulk_discount_starts_at_ten"

_HERE = Path(__file__).resolve().parent.parent


def _pricing(app_dir: str | Path | None) -> Path:
    path = Path(app_dir or _HERE) / PRICING
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {app_dir or _HERE} a copy of the sample app?")
    return path


def status(app_dir: str | Path | None = None) -> str:
    text = _pricing(app_dir).read_text()
    if PLANTED in text:
        return "planted"
    if CORRECT in text:
        return "fixed"
    return "unknown"


def _replace(app_dir, old: str, new: str) -> bool:
    path = _pricing(app_dir)
    text = path.read_text()
    if old not in text:
        return False
    path.write_text(text.replace(old, new, 1))
    return True


def plant(app_dir: str | Path | None = None) -> bool:
    """Plant the bug; False when it was already there."""
    return _replace(app_dir, CORRECT, PLANTED)


def fix(app_dir: str | Path | None = None) -> bool:
    """Fix the bug; False when it was not there."""
    return _replace(app_dir, PLANTED, CORRECT)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("plant", "fix", "status"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    target = argv[1] if len(argv) > 1 else None
    if argv[0] == "status":
        print(status(target))
        return 0
    changed = plant(target) if argv[0] == "plant" else fix(target)
    print(f"{argv[0]}: {'done' if changed else 'nothing to do'} ({status(target)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
