"""Lab 03's Lambda canary for a class on one cloud: N learners (each in its own
process, as each has its own kernel, each in its own account) ship a good release
then a bad one through LambdaCanary10Percent5Minutes under the lab's traffic
(20 requests/s), all at the same moment. Prints, per class size, how many bad
canaries were stopped and rolled back, how many good ones succeeded with every
request answered, and the median deployment durations.
Run: python3 benchmarks/bench_canary_class.py [--learners 4,8] [--rounds 1] [--burn K] [--time-scale 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.canary_class import run_class  # noqa: E402  (one learner flow for the test and this)
from tests.conftest import start_cloud, stop_cloud  # noqa: E402  (one way to start a cloud)


def _accounts(n: int, offset: int) -> list[str]:
    return [f"{630000000000 + offset + i:012d}" for i in range(n)]


def _wait_for_lambda(cloud, timeout: float = 60.0) -> None:
    """A Lambda request during the cloud's start-up warm-up can meet a half-imported
    moto.cloudformation.parsing (a 501, seen 2026-11-26): start the class once Lambda answers."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            cloud.client("lambda").list_functions()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", default="4,8", help="class sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="classes of each size (fresh accounts each)")
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--burn", type=int, default=0,
                        help="CPU-bound processes beside the class (a busier machine: builds, other labs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="every learner's outcome")
    args = parser.parse_args()

    sizes = [int(n) for n in args.learners.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-canary-") as tmp:
        cloud = start_cloud(Path(tmp), time_scale=args.time_scale)
        _wait_for_lambda(cloud)
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burn)]
        try:
            offset = 0
            for n in sizes:
                outcomes = []
                for _ in range(args.rounds):
                    outcomes += run_class(cloud.endpoint, _accounts(n, offset))
                    offset += n
                rows.append((n, outcomes))
                if args.verbose:
                    for o in outcomes:
                        print(o.account, "good:", o.good, "\n             bad:", o.bad, o.error or "", flush=True)
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
            stop_cloud(cloud)

    print(f"Lab 03 canary, N learners side by side on one cloud (time scale {args.time_scale:g}, "
          f"{args.rounds} round(s) each, {args.burn} CPU burner(s), {os.cpu_count()} cores)")
    print(f"{'N':>3}  {'bad rolled back':>16}  {'good clean':>11}  {'dropped reqs':>12}  "
          f"{'errors':>6}  {'good median s':>13}  {'bad median s':>12}")
    for n, outcomes in rows:
        total = len(outcomes)
        bad_ok = sum(o.bad_ok for o in outcomes)
        good_ok = sum(o.good_ok for o in outcomes)
        dropped = sum(o.good.failed for o in outcomes if o.good)
        errors = sum(1 for o in outcomes if o.error)
        good_s = [o.good.seconds for o in outcomes if o.good]
        bad_s = [o.bad.seconds for o in outcomes if o.bad]
        print(f"{n:>3}  {bad_ok:>9} of {total:<4}  {good_ok:>4} of {total:<4}  {dropped:>12}  {errors:>6}  "
              f"{statistics.median(good_s) if good_s else float('nan'):>13.2f}  "
              f"{statistics.median(bad_s) if bad_s else float('nan'):>12.2f}")
        for o in outcomes:
            if not (o.bad_ok and o.good_ok):
                print(f"     {o.account}: good {o.good and (o.good.status, o.good.failed, o.good.error_samples)}"
                      f"; bad {o.bad and (o.bad.status, o.bad.error_code, o.bad.rollback_status)}"
                      f"{'; ' + o.error if o.error else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
