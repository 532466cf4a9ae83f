"""nbgrader autograde against learners' accounts: for every lab, one student
who submits the released lab answered with the solution's code and one who
submits it untouched, each graded with the kernel in their own fresh account:
full points and zero points (the lab's one graded run, tests/lab_runs.py)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone

import nbformat
import pytest

from checker import registry
from tests.conftest import new_account
from workshop.grading import Course, grade_id, kernel_env

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def test_grading_kernel_gets_the_learners_aws_settings_and_no_grader_secret(monkeypatch):
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", "instructor-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "instructor-key")
    monkeypatch.setenv("AWS_PROFILE", "instructor")
    env = kernel_env({"AWS_ACCESS_KEY_ID": "111111111111", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
                      "WORKSHOP_ADMIN_TOKEN": "leaked"})
    assert env["AWS_ACCESS_KEY_ID"] == "111111111111" and env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert "WORKSHOP_ADMIN_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "AWS_PROFILE" not in env and env["PATH"] == os.environ["PATH"]


def test_a_grading_kernel_gets_the_graders_jsii_cache_read_only(tmp_path, monkeypatch):
    """A lab that uses the AWS CDK: the borrowed user's new home starts with the grader's unpacked
    jsii packages, linked: the folders and jsii's use markers are the user's, the files stay the
    grader's and read-only to the user; jsii is told to use it. A lab without the CDK: nothing."""
    from workshop.grading import JSII_CACHE, kernel_box

    cache = tmp_path / "cache"
    package = cache / "aws-cdk-lib" / "2.0.0" / "abc"
    package.mkdir(parents=True)
    (package / "index.js").write_text("unpacked")
    (package / "index.js").chmod(0o644)
    (package / ".jsii-runtime-package-cache").write_text("")
    monkeypatch.setenv("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(cache))
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "04-iac.ipynb").write_text('{"source": "import aws_cdk as cdk"}')
    with kernel_box(lab) as box:
        if box is None:
            pytest.skip("not root: grading kernels run as the instructor, with the instructor's cache")
        seeded = box.home / JSII_CACHE / "aws-cdk-lib" / "2.0.0" / "abc"
        assert (seeded / "index.js").read_text() == "unpacked"
        assert (seeded / "index.js").stat().st_ino == (package / "index.js").stat().st_ino
        assert (seeded / "index.js").stat().st_uid == os.getuid() != box.user.uid
        marker = ".jsii-runtime-package-cache"
        assert (seeded / marker).stat().st_uid == box.user.uid
        assert (seeded / marker).stat().st_ino != (package / marker).stat().st_ino
        assert seeded.stat().st_uid == (box.home / ".cache").stat().st_uid == box.user.uid
        assert box.env()["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] == str(box.home / JSII_CACHE)
    assert (package / "index.js").stat().st_uid == os.getuid() and (package / "index.js").read_text() == "unpacked"
    (lab / "04-iac.ipynb").write_text('{"source": "import boto3"}')
    with kernel_box(lab) as box:
        assert not (box.home / ".cache").exists()


def test_a_submission_has_a_timestamp_nbgrader_reads(tmp_path):
    from nbgrader.utils import parse_utc

    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "lab.ipynb").write_text("{}")
    when = datetime(2026, 11, 26, 7, 20, 3, 748607, tzinfo=timezone.utc)
    dest = Course(tmp_path / "course").submit("99-toy", "learner", tmp_path / "work", when)
    assert dest == tmp_path / "course" / "submitted" / "learner" / "99-toy"
    assert (dest / "timestamp.txt").read_text() == "2026-11-26 07:20:03.748607 UTC"
    assert parse_utc((dest / "timestamp.txt").read_text()) == when.replace(tzinfo=None)
    assert (dest / "lab.ipynb").exists()


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", registry.lab_ids())
def test_autograde_gives_full_points_solved_and_zero_unsolved(lab_id, lab_runs):
    run = lab_runs.get(lab_id)   # autograded in each learner's own fresh account (tests/lab_runs.py)
    course = run.course
    points = {grade_id(c.id): float(c.points) for c in registry.get_lab(lab_id).checks}
    full = course.grades(lab_id, "solved-learner")
    zero = course.grades(lab_id, "unsolved-learner")

    assert {g.id: g.max_score for g in full} == points
    assert {g.id: g.score for g in full} == points, "the solved lab lost points"
    assert {g.id: g.score for g in zero} == dict.fromkeys(points, 0.0), "the unsolved lab earned points"
    # What the autograde command reported is what the gradebook holds (and `nbgrader export` reports).
    assert f"solved-learner: {sum(points.values()):g}/{sum(points.values()):g}" in run.outputs["autograde"]
    assert f"unsolved-learner: 0/{sum(points.values()):g}" in run.outputs["autograde"]


CHEAT = '''\
# A learner who wants the points without the work: every check "passes" in this kernel.
import boto3
import checker.grading
import checker.runner
import checker.widget

_real_run_lab = checker.runner.run_lab


def _all_pass(lab_id, *args, **kwargs):
    result = _real_run_lab(lab_id, *args, **kwargs)
    for r in result.results:
        r.passed = True
    result.error = None
    return result


checker.runner.run_lab = _all_pass
checker.widget.run_checks = lambda lab_id, **kw: _all_pass(lab_id, checker.session.target())
checker.grading.require = lambda check_id: print("PASS", check_id)
boto3.client = lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("no AWS for the checker"))
'''


@pytest.mark.slow
def test_a_submission_that_patches_the_checker_scores_what_its_account_earns(cloud, tmp_path):
    lab_id = "04-iac"
    course = Course.create(tmp_path / "course", [lab_id])
    cheat = tmp_path / "cheat"
    shutil.copytree(course.path("release", lab_id), cheat)
    path = cheat / f"{lab_id}.ipynb"
    nb = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "from checker.grading import" in c.source)
    nb.cells.insert(at, nbformat.v4.new_code_cell(CHEAT))
    nbformat.write(nb, path)
    course.submit(lab_id, "cheater", cheat)

    grades = course.autograde(lab_id, "cheater", cloud.env(new_account()))

    points = {grade_id(c.id) for c in registry.get_lab(lab_id).checks}
    assert {g.id for g in grades} == points
    assert [g for g in grades if g.score] == [], "a patched kernel earned points on an empty account"
    graded = nbformat.read(course.path("autograded", "cheater", lab_id, f"{lab_id}.ipynb"), as_version=4)
    shown = [c for c in graded.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert shown and all(o["output_type"] == "error" for c in shown for o in c.outputs)
    assert all(len(c.outputs) == 1 for c in shown)
