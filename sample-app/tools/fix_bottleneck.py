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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # loaded by path too (labkit, tests)
from source_edit import SourceEdit  # noqa: E402

PRICING = Path("shop") / "pricing.py"
PLANTED = """    return [call("GET", f"{INVENTORY_URL}/stock/{urlquote(item['item'])}") for item in items]"""
FIXED = """    names = ",".join(urlquote(item["item"]) for item in items)
    return call("GET", f"{INVENTORY_URL}/stock?items={names}")["items"]"""
BOTTLENECK = SourceEdit(PRICING, planted=PLANTED, fixed=FIXED)
status, plant, fix = BOTTLENECK.status, BOTTLENECK.plant, BOTTLENECK.fix


def main(argv: list[str]) -> int:
    return BOTTLENECK.main(argv, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
