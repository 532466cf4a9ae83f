"""The nbgrader view: autograded cells award each check's points.

A lab's grading section starts with ``results = grade("04-iac")`` (one run of
all its checks), then one autograded cell per check, ``require("04-iac.slug")``,
worth that check's points: partial credit, check by check.
"""

from __future__ import annotations

from checker.results import LabResult

_last: dict[str, LabResult] = {}


def grade(lab_id: str) -> LabResult:
    """Run every check of a lab now, keep the result for ``require``, and print a summary."""
    from checker.widget import run_checks

    result = run_checks(lab_id)
    _last[lab_id] = result
    if result.error:
        print(f"Could not run the checks: {result.error}")
    else:
        print(f"{result.lab}: {result.score}/{result.total} points "
              f"({sum(r.passed for r in result.results)} of {len(result.results)} checks pass)")
    return result


def require(check_id: str) -> None:
    """Pass (award the cell's points) when the check passed in the last ``grade``."""
    lab_id = check_id.split(".", 1)[0]
    result = _last.get(lab_id) or grade(lab_id)
    if result.error:
        raise AssertionError(f"the checks could not run: {result.error}")
    r = result.result(check_id)
    if r.skipped:    # nbgrader's cell points are fixed: a check that cannot apply here does not count against
        print(f"SKIPPED, not graded: {r.title}: {r.message}")
        return
    if not r.passed:
        raise AssertionError(f"{r.title}: {r.message}\nHint: {r.hint}")
    print(f"PASS {r.title}")
