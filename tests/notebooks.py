"""Running lab notebooks in tests: execute one with nbclient in a learner's
environment, list the cells that failed, answer a released lab with its
solution's code, and run a lab's checks against an account."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from checker.results import LabResult
from checker.runner import run_lab
from checker.session import Target

# Lab cells wait on the cloud; a cold kernel's first CDK synthesis takes up to 10 s.
CELL_TIMEOUT = 600
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lab_copy(folder: Path, tmp: Path) -> Path:
    """A private copy of a lab folder to run in (the lab writes files next to itself)."""
    dest = tmp / folder.name
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def execute(path: Path, env: dict, allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in its own folder with a kernel in ``env``.
    Without ``allow_errors`` the first failing cell raises ``CellExecutionError``."""
    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=kernel, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    nbformat.write(nb, path)  # kept for a look after a failure
    return nb


def cell_errors(nb: nbformat.NotebookNode) -> list[str]:
    """``cell N: Name: value`` for every cell that ended in an error."""
    out = []
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"cell {i}: {o.get('ename')}: {strip_ansi(o.get('evalue', ''))[:300]}")
    return out


def answer(released: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A learner's finished lab: the released notebook with every solution cell
    holding the solution's code (its region markers dropped)."""
    solved = nbformat.from_dict(released)
    code = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
            if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in solved.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = "\n".join(line for line in code[meta["grade_id"]].splitlines()
                                    if not line.strip().startswith(("### BEGIN SOLUTION", "### END SOLUTION")))
    return solved


def check(cloud, account: str, lab_id: str) -> LabResult:
    """The lab's checks run from outside the notebook against the account."""
    return run_lab(lab_id, Target(cloud.endpoint, account, "test", "us-east-1"))


def describe(result: LabResult, which=None) -> str:
    """One line per check (or per check in ``which``): mark, id, message."""
    rows = result.results if which is None else which
    return "\n".join(f"{'PASS' if r.passed else 'FAIL'} {r.id}: {r.message}" for r in rows)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)
