"""Running lab notebooks in tests: execute one with nbclient in a learner's
environment, list the cells that failed, answer a released lab with its
solution's code, run a lab's checks against an account, and do a lab's
solution (or half of it) in many accounts at once for grading tests."""

from __future__ import annotations

import os
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


# -- a lab's solution done in many accounts ---------------------------------------

def _check_panel_step(source: str, lab_id: str) -> str | None:
    """The step of a ``check_my_work(LAB, step=STEP)`` panel in a cell, if any."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check_my_work"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == lab_id):
            for kw in node.keywords:
                if kw.arg == "step" and isinstance(kw.value, ast.Constant):
                    return kw.value.value
    return None


def _grading_section(source: str, lab_id: str) -> bool:
    return f'grade("{lab_id}")' in source or f"grade('{lab_id}')" in source


def solution_steps(lab_id: str) -> list[str]:
    """The lab's steps in notebook order: each ends with its "Check my work" panel."""
    from workshop.grading import solutions_dir

    steps = []
    for path in sorted((solutions_dir() / lab_id).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            step = _check_panel_step(cell.source, lab_id) if cell.cell_type == "code" else None
            if step and step not in steps:
                steps.append(step)
    return steps


def perform_solution(lab_id: str, endpoint: str, accounts: list[str], workdir: Path,
                     through_step: str | None = None, kernels: int = 1) -> None:
    """Do what a learner who solved the lab did, in each account: the solution
    notebook's code cells up to its grading section (or through the "Check my
    work" panel of ``through_step``: a learner half-way), in ONE kernel that
    switches account between runs (a kernel per account costs seconds), or in
    ``kernels`` kernels side by side, each with its share of the accounts
    (labs mostly wait on the cloud: builds, deployments, bake times)."""
    if kernels > 1 and len(accounts) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        shares = [accounts[i::kernels] for i in range(min(kernels, len(accounts)))]
        with ProcessPoolExecutor(len(shares), mp_context=multiprocessing.get_context("fork")) as pool:
            failures = [f for f in pool.map(_perform_share, [(lab_id, endpoint, share, workdir / f"k{i}",
                                                              through_step) for i, share in enumerate(shares)])
                        if f]
        if failures:
            raise RuntimeError(f"the {lab_id} solution failed:\n" + "\n".join(failures))
        return
    from workshop.grading import solutions_dir

    paths = sorted((solutions_dir() / lab_id).glob("*.ipynb"))
    if through_step is not None and through_step not in solution_steps(lab_id):
        raise ValueError(f"{lab_id} has no step {through_step!r} (steps: {solution_steps(lab_id)})")
    workdir.mkdir(parents=True, exist_ok=True)
    # The lab's other files (revision bundles, scripts) sit next to its notebook, as in labs/.
    shutil.copytree(solutions_dir() / lab_id, workdir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__"))
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
               AWS_SECRET_ACCESS_KEY="test")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "WORKSHOP_ADMIN_TOKEN"):
        env.pop(name, None)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        cells = []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if _grading_section(cell.source, lab_id):
                break
            cells.append(cell)
            if through_step is not None and _check_panel_step(cell.source, lab_id) == through_step:
                break
        kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=kernel,
                                resources={"metadata": {"path": str(workdir)}})
        with client.setup_kernel(env=env):
            for account in accounts:
                # boto3's default session keeps the first credentials it resolved.
                switch = nbformat.v4.new_code_cell(
                    "import os, boto3\nboto3.DEFAULT_SESSION = None\n"
                    f"os.environ.update(AWS_ACCESS_KEY_ID={account!r}, WORKSHOP_ACCOUNT={account!r})")
                client.execute_cell(switch, 0)
                for index, cell in enumerate(cells):
                    run = nbformat.from_dict(cell)
                    client.execute_cell(run, index)  # raises CellExecutionError on a failing cell
        if through_step is not None and any(_check_panel_step(c.source, lab_id) == through_step for c in cells):
            return


def _perform_share(args) -> str:
    """One kernel's share of ``perform_solution``; the failure as text (a cell's
    error does not always survive pickling back to the parent)."""
    import zmq

    for attempt in range(3):
        try:
            perform_solution(*args)
        except zmq.ZMQError as exc:
            # Kernels started side by side can pick the same free port: start again
            # (solutions are idempotent, the labs require it).
            failure = f"ZMQError: {exc}"
            continue
        except Exception as exc:  # noqa: BLE001 (reported to the parent, which raises)
            return f"{type(exc).__name__}: {strip_ansi(str(exc))[-3000:]}"
        return ""
    return failure
