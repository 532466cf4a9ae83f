"""Plant (or fix) the bug lab 02 starts from: an off-by-one in the bulk
discount, so that ``test_bulk_discount_starts_at_ten`` fails.

    python tools/plant_bug.py plant [APP_DIR]   # the first build fails
    python tools/plant_bug.py fix [APP_DIR]     # the learner's fixing commit
    python tools/plant_bug.py status [APP_DIR]  # prints planted / fixed
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # loaded by path too (labkit, tests)
from source_edit import SourceEdit  # noqa: E402

PRICING = Path("app") / "pricing.py"
CORRECT = "if quantity >= threshold:"
PLANTED = "if quantity > threshold:"
FAILING_TEST = "test_bulk_discount_starts_at_ten"
BUG = SourceEdit(PRICING, planted=PLANTED, fixed=CORRECT)
status, plant, fix = BUG.status, BUG.plant, BUG.fix


def main(argv: list[str]) -> int:
    return BUG.main(argv, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
