"""Fix (or plant again) the bottleneck lab 06 finds in the traces: pricing asks
inventory about each item of an order in its own call, where one call can answer
for the whole order.

    python tools/fix_bottleneck.py fix [APP_DIR]     # one inventory call per order
    python tools/fix_bottleneck.py plant [APP_DIR]   # one per item, as shipped
    python tools/fix_bottleneck.py status [APP_DIR]  # prints planted / fixed
"""

from __future__ import annotations

import sys
from pathlib import Path

PRICING = Path("shop") / "pricing.py"
PLANTED = """    return [call("GET", f"{INVENTORY_URL}/stock/{urlquote(item['item'])}") for item in items]"""
FIXED = """    names = ",".join(urlquote(item["item"]) for item in items)
    return call("GET", f"{INVENTORY_URL}/stock?items={names}")["items"]"""

_HERE = Path(__file__).resolve().parent.parent


def _pricing(app_dir: str | Path | None) -> Path:
    path = Path(app_dir or _HERE) / PRICING
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {app_dir or _HERE} a copy of the sample app?")
    return path


def status(app_dir: str | Path | None = None) -> str:
    text = _pricing(app_dir).read_text()
    return "planted" if PLANTED in text else "fixed" if FIXED in text else "unknown"


def _replace(app_dir, old: str, new: str) -> bool:
    path = _pricing(app_dir)
    text = path.read_text()
    if old not in text:
        return False
    path.write_text(text.replace(old, new, 1))
    return True


def fix(app_dir: str | Path | None = None) -> bool:
    """One inventory call per order; False when it was already so."""
    return _replace(app_dir, PLANTED, FIXED)


def plant(app_dir: str | Path | None = None) -> bool:
    """One inventory call per item again; False when it was already so."""
    return _replace(app_dir, FIXED, PLANTED)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("fix", "plant", "status"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    app_dir = argv[1] if len(argv) > 1 else None
    if argv[0] == "status":
        print(status(app_dir))
        return 0
    changed = (fix if argv[0] == "fix" else plant)(app_dir)
    print(f"{argv[0]}ed" if changed else f"already {status(app_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
