"""Every lab's text is tested: its solution notebook, run top to bottom in a
fresh account, passes every check of the lab; its released lab, run as a
learner gets it (solution cells raise NotImplementedError), passes none."""

from __future__ import annotations

import pytest
from nbclient.exceptions import CellExecutionError

from checker import registry
from tests import notebooks
from workshop.grading import released_dir, solutions_dir

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lab_id", registry.lab_ids())
def test_solution_passes_every_check(lab_id, cloud, account, tmp_path):
    work = notebooks.lab_copy(solutions_dir() / lab_id, tmp_path)
    for path in sorted(work.glob("*.ipynb")):
        try:
            notebooks.execute(path, cloud.env(account))
            failure = None
        except CellExecutionError as exc:
            failure = f"solutions/{lab_id}/{path.name} failed in account {account}:\n{notebooks.strip_ansi(str(exc))}"
        if failure:  # outside the except: the notebook's traceback is the message, not nbclient's
            pytest.fail(failure[-4000:], pytrace=False)
    result = notebooks.check(cloud, account, lab_id)
    assert result.error is None, result.error
    failing = [r for r in result.results if not r.passed]
    assert result.results and not failing, (
        f"after solutions/{lab_id} these checks fail:\n" + notebooks.describe(result, failing))


@pytest.mark.parametrize("lab_id", registry.lab_ids())
def test_unsolved_lab_passes_no_check(lab_id, cloud, account, tmp_path):
    work = notebooks.lab_copy(released_dir() / lab_id, tmp_path)
    errors = []
    for path in sorted(work.glob("*.ipynb")):
        errors += notebooks.cell_errors(notebooks.execute(path, cloud.env(account), allow_errors=True))
    assert any("NotImplementedError" in e for e in errors), errors
    result = notebooks.check(cloud, account, lab_id)
    assert result.error is None, result.error
    passing = [r for r in result.results if r.passed]
    assert result.results and not passing, (
        f"the unsolved labs/{lab_id} already passes:\n" + notebooks.describe(result, passing))
