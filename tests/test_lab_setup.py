"""Each lab's first code cell checks the learner's set-up (labkit.check_environment):
opened without `workshop up` (no AWS variables) it says in one sentence what to run,
without a traceback; with an endpoint where nothing answers it says so; with the
workshop cloud it names the cloud, the account and the region."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, free_port
from tests.notebooks import strip_ansi

LABS = sorted(p.name for p in (ROOT / "labs").iterdir() if (p / f"{p.name}.ipynb").is_file())
START = ("This notebook has no AWS endpoint and no AWS keys: start the workshop with "
         "`python -m workshop up` and open the labs from there.")


def _bare_env() -> dict:
    """A kernel's environment as JupyterLab started by hand gives it: no AWS or workshop
    variables, and no AWS configuration files of this machine's user either."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WORKSHOP_"))}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true")
    return env


def _run_first_code_cell(lab: str, env: dict, tmp: Path) -> nbformat.NotebookNode:
    """The lab's first code cell, run alone in a kernel in ``env``; returns that cell."""
    nb = nbformat.read(ROOT / "labs" / lab / f"{lab}.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    nb.cells = [first]
    folder = tmp / lab
    folder.mkdir()
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute(env=env)
    return nb.cells[0]


def _said(cell) -> tuple[str, list[dict]]:
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    errors = [o for o in cell.outputs if o.output_type == "error"]
    return printed, errors


@pytest.mark.parametrize("lab", LABS)
def test_first_cell_without_aws_variables_says_how_to_start(lab, tmp_path):
    cell = _run_first_code_cell(lab, _bare_env(), tmp_path)
    printed, errors = _said(cell)
    assert len(errors) == 1, cell.outputs
    shown = [strip_ansi(line) for line in errors[0]["traceback"]]
    assert shown == [START]  # one sentence, no traceback
    assert errors[0]["ename"] == "SetupProblem"
    assert "000000000000" not in printed and "NoRegionError" not in printed


def test_first_cell_with_an_endpoint_that_does_not_answer_says_so(tmp_path):
    endpoint = f"http://localhost:{free_port()}"
    env = dict(_bare_env(), AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    _, errors = _said(_run_first_code_cell("04-iac", env, tmp_path))
    assert [strip_ansi(line) for line in errors[0]["traceback"]] == [
        f"Nothing answers at {endpoint}: start the workshop with `python -m workshop up` "
        "(or the endpoint you chose) and run this cell again."]


def test_first_cell_names_the_workshop_cloud_account_and_region(cloud, account, tmp_path):
    env = dict(_bare_env(), **{k: v for k, v in cloud.env(account).items() if k.startswith("AWS_")})
    printed, errors = _said(_run_first_code_cell("04-iac", env, tmp_path))
    assert errors == []
    assert printed.splitlines()[0] == f"the workshop cloud at {cloud.endpoint}: account {account}, region us-east-1"
