"""Every lab's text is tested: its released lab answered with the solution's
code, run top to bottom (by nbgrader's autograde, in a fresh account), runs
without an error and passes every check of the lab; the released lab as a
learner gets it (solution cells raise NotImplementedError) passes none. Both
are the lab's one graded run (tests/lab_runs.py), which the autograde,
instructor-grading and class-report tests read too."""

from __future__ import annotations

import pytest

from checker import registry
from tests import notebooks

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]


@pytest.mark.parametrize("lab_id", registry.lab_ids())
def test_solution_passes_every_check(lab_id, cloud, lab_runs):
    run = lab_runs.get(lab_id)
    account = run.accounts["solved-learner"]
    errors = run.cell_errors("solved-learner")
    assert run.autograded("solved-learner") and not errors, (
        f"solutions/{lab_id} failed in account {account}:\n" + "\n".join(errors))
    result = notebooks.check(cloud, account, lab_id)
    assert result.error is None, result.error
    failing = [r for r in result.results if not r.passed]
    assert result.results and not failing, (
        f"after solutions/{lab_id} these checks fail:\n" + notebooks.describe(result, failing))


@pytest.mark.parametrize("lab_id", registry.lab_ids())
def test_unsolved_lab_passes_no_check(lab_id, cloud, lab_runs):
    run = lab_runs.get(lab_id)
    errors = run.cell_errors("unsolved-learner")
    assert any("NotImplementedError" in e for e in errors), errors
    result = notebooks.check(cloud, run.accounts["unsolved-learner"], lab_id)
    assert result.error is None, result.error
    passing = [r for r in result.results if r.passed]
    assert result.results and not passing, (
        f"the unsolved labs/{lab_id} already passes:\n" + notebooks.describe(result, passing))
