"""labs/ is what nbgrader makes of solutions/, byte for byte; a released lab
gives no solution away; every lab grades exactly the checks it registers.
The same rules are also run on a toy course made in a temp dir, to prove
that they catch drift, leaks and mismatched grading cells."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from checker import registry
from checker.registry import Lab, failed, passed
from workshop import labtools

ROOT = Path(__file__).resolve().parents[1]
LABS = registry.lab_ids()


def test_labs_are_generated_from_solutions():
    drift = labtools.lab_drift()
    assert not drift, ("labs/ does not match what solutions/ generates; run `workshop generate-labs` "
                       "and commit labs/:\n  " + "\n  ".join(drift))


def test_every_lab_has_a_solution_a_release_and_checks():
    solutions = labtools.solution_labs()
    assert solutions, "solutions/ holds no lab"
    assert labtools.released_labs() == solutions, "run `workshop generate-labs`"
    assert solutions == registry.lab_ids(), "checker.registry.LAB_MODULES and solutions/ disagree"


@pytest.mark.parametrize("lab_id", LABS)
def test_released_lab_gives_no_solution_away(lab_id):
    leaks = labtools.solution_leaks(lab_id)
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("lab_id", LABS)
def test_autograded_cells_are_the_registered_checks(lab_id):
    problems = labtools.grading_problems(lab_id)
    assert not problems, "\n".join(problems)


# --- the same rules on a toy course -------------------------------------------------

TOY = "99-toy"


def _nbgrader(**fields) -> dict:
    meta = {"schema_version": 3, "locked": False, "solution": False, "grade": False, "task": False}
    meta.update(fields)
    return {"nbgrader": meta}


def _toy_notebook(points: int = 2) -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# Toy lab", metadata=_nbgrader(grade_id="intro", locked=True)),
        new_code_cell("import boto3\nname = 'toy'", metadata={}),
        new_code_cell("# make the bucket\n### BEGIN SOLUTION\nboto3.client('s3').create_bucket(Bucket=name)\n"
                      "### END SOLUTION", metadata=_nbgrader(solution=True, grade_id="make-bucket")),
        new_code_cell('from checker.grading import grade, require\nresults = grade("99-toy")',
                      metadata=_nbgrader(grade_id="grading", locked=True)),
        new_code_cell('require("99-toy.bucket")',
                      metadata=_nbgrader(grade=True, grade_id="99-toy_bucket", points=points, locked=True)),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                              "display_name": "Python 3"}})


@pytest.fixture
def toy(tmp_path, monkeypatch) -> Path:
    """A project with one toy lab (solution notebook + a data file) and its checks."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    lab_dir = tmp_path / "solutions" / TOY
    (lab_dir / "files").mkdir(parents=True)
    nbformat.write(_toy_notebook(), lab_dir / f"{TOY}.ipynb")
    (lab_dir / "files" / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.setenv("WORKSHOP_HOME", str(tmp_path))

    lab = Lab(TOY, "Toy lab")
    lab.check("bucket", title="A bucket", points=2, hints=["Make one."], docs="")(lambda s: passed())
    monkeypatch.setattr(registry, "get_lab", lambda lab_id: lab if lab_id == TOY else None)
    return tmp_path


def test_generate_labs_command_releases_and_drift_is_found(toy):
    run = subprocess.run([sys.executable, "-m", "workshop", "generate-labs"], capture_output=True, text=True,
                         env={**os.environ, "WORKSHOP_HOME": str(toy)}, cwd=toy)
    assert run.returncode == 0, run.stderr
    assert f"labs/{TOY}: regenerated" in run.stdout
    released = toy / "labs" / TOY
    assert (released / "files" / "template.yaml").read_text() == "Resources: {}\n"
    assert not (toy / "gradebook.db").exists()  # releasing for labs/ keeps no gradebook
    assert labtools.lab_drift() == [] and labtools.solution_leaks(TOY) == []
    assert labtools.grading_problems(TOY) == []
    before = (released / f"{TOY}.ipynb").read_bytes()
    assert b"NotImplementedError" in before and b"create_bucket" not in before

    # A hand edit, a stray file, a lost file and a lab without solution are all drift.
    (released / f"{TOY}.ipynb").write_bytes(before.replace(b"Toy lab", b"Toy lab!"))
    (released / "notes.txt").write_text("mine")
    (released / "files" / "template.yaml").unlink()
    (toy / "labs" / "98-gone").mkdir()
    nbformat.write(_toy_notebook(), toy / "labs" / "98-gone" / "98-gone.ipynb")
    drift = labtools.lab_drift()
    assert f"labs/{TOY}/{TOY}.ipynb differs" in drift
    assert f"labs/{TOY}/notes.txt should not be there" in drift
    assert f"labs/{TOY}/files/template.yaml is missing" in drift
    assert "labs/98-gone/ has no solutions/98-gone/" in drift

    # Regenerating restores the lab byte for byte and drops the orphan.
    assert labtools.generate_labs(None) == 0
    assert (released / f"{TOY}.ipynb").read_bytes() == before
    assert labtools.lab_drift() == [] and labtools.released_labs() == [TOY]


def test_generate_labs_refuses_an_unknown_lab(toy, capsys):
    assert labtools.generate_labs(["42-nope"]) == 2
    assert "no solution folder for 42-nope" in capsys.readouterr().err
    assert not (toy / "labs").exists()


def test_a_released_lab_that_shows_the_solution_is_caught(toy):
    labtools.generate_labs(None)
    path = toy / "labs" / TOY / f"{TOY}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].source = "boto3.client('s3').create_bucket(Bucket=name)"
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nbformat.write(nb, path)
    leaks = labtools.solution_leaks(TOY)
    assert any("shows solution text" in p and "create_bucket" in p for p in leaks), leaks
    assert any("does not raise NotImplementedError" in p for p in leaks), leaks
    assert any("cell 1 has outputs" in p for p in leaks), leaks


def test_grading_cells_that_disagree_with_the_checks_are_caught(toy):
    path = toy / "solutions" / TOY / f"{TOY}.ipynb"
    nb = _toy_notebook(points=5)
    nb.cells.append(new_code_cell('require("99-toy.other")',
                                  metadata=_nbgrader(grade=True, grade_id="99-toy_other", points=1, locked=True)))
    nb.cells.append(new_code_cell('require("99-toy.bucket")',
                                  metadata=_nbgrader(grade=True, grade_id="99-toy_bucket2", points=1, locked=True)))
    nbformat.write(nb, path)
    problems = labtools.grading_problems(TOY)
    text = json.dumps(problems)
    assert "5 points, but check 99-toy.bucket is worth 2" in text
    assert "99-toy_other" in text and "is no check of lab 99-toy" in text
    assert "should call require('99-toy.bucket2')" in text

    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "grading"
                and not c.metadata.get("nbgrader", {}).get("grade")]
    nbformat.write(nb, path)
    problems = labtools.grading_problems(TOY)
    assert "check 99-toy.bucket needs exactly one autograded cell with grade_id '99-toy_bucket', found 0" in problems
    assert "solutions/99-toy has no cell calling grade('99-toy')" in problems
