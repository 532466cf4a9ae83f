"""The instructor's nbgrader workflow through `workshop course`: release to
nbgrader's exchange, learners fetch and submit, collect, autograde each
submission in its learner's own account reset first, feedback without hidden
tests, export to CSV. Run for every landed lab, with a solved and an unsolved
submission: the lab's one graded run (tests/lab_runs.py), which the notebook,
autograde and class-report tests read too."""

from __future__ import annotations

import csv
import html
import os
import shutil

import nbformat
import pytest

from checker import registry
from tests import notebooks
from tests.conftest import new_account
from tests.lab_runs import HIDDEN, answer, write_roster
from workshop.cli import main
from workshop.grading import Course, grade_id, solutions_dir

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", registry.lab_ids())
def test_a_class_graded_with_workshop_course(lab_id, cloud, lab_runs, monkeypatch, tmp_path):
    # The lab's graded run (tests/lab_runs.py): release, fetch, submit, collect and
    # autograde through `workshop course`, each learner in their own account.
    run = lab_runs.get(lab_id)
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", cloud.admin_token)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    accounts, common = run.accounts, ["--course", str(run.course_dir)]
    released = run.course_dir / "release" / lab_id
    assert not any(HIDDEN in p.read_text() for p in released.glob("*.ipynb"))
    course = run.course
    assert course.submissions(lab_id) == sorted(accounts)
    assert run.by_hand_passed, "the unsolved learner's account did not hold the finished lab before grading"
    assert "reset before grading" in run.outputs["autograde"]

    checks = registry.get_lab(lab_id).checks
    points = {grade_id(c.id): float(c.points) for c in checks}
    full = {g.id: g.score for g in course.grades(lab_id, "solved-learner")}
    zero = {g.id: g.score for g in course.grades(lab_id, "unsolved-learner")}
    assert full == points, "the solved lab lost points"
    assert zero == dict.fromkeys(points, 0.0), "the unsolved lab earned points (was its account reset?)"
    # Each graded in its own account: the unsolved notebook built nothing, the solved one everything.
    after = notebooks.check(cloud, accounts["solved-learner"], lab_id)
    assert after.all_passed, notebooks.describe(after)
    assert notebooks.check(cloud, accounts["unsolved-learner"], lab_id).score == 0
    autograded = course.path("autograded", "unsolved-learner", lab_id)
    assert any(HIDDEN in p.read_text() for p in autograded.glob("*.ipynb")), \
        "the hidden tests did not reach the autograded notebook: this test would prove nothing"

    assert main(["course", "feedback", lab_id, *common]) == 0
    for student in accounts:
        pages = sorted((run.course_dir / "feedback" / student / lab_id).glob("*.html"))
        assert pages, f"no feedback for {student}"
        page = "\n".join(p.read_text() for p in pages)
        assert HIDDEN not in page and "HIDDEN TESTS" not in page, f"{student}'s feedback shows a hidden test"
        for check in checks:
            assert html.escape(check.title, quote=False) in page, f"{check.id} missing from the feedback"
            if student == "solved-learner":
                assert f"PASS {html.escape(check.title, quote=False)}" in page
            else:
                assert html.escape(check.hints[0], quote=False) in page, f"{check.id}'s hint missing"

    grades_csv = tmp_path / "grades.csv"
    assert main(["course", "export", *common, "--to", str(grades_csv)]) == 0
    with open(grades_csv, newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle) if row["assignment"] == lab_id}
    total = sum(points.values())
    assert float(rows["solved-learner"]["score"]) == total == float(rows["solved-learner"]["max_score"])
    assert float(rows["unsolved-learner"]["score"]) == 0.0


def test_feedback_strips_hidden_tests_and_tracebacks_from_graded_cells_only():
    from workshop.grading import _hidden_free_feedback_class

    graded = nbformat.v4.new_code_cell(
        "### BEGIN HIDDEN TESTS\nassert secret == 42  # the hidden answer\n### END HIDDEN TESTS\nrequire('x.y')",
        metadata={"nbgrader": {"grade": True, "grade_id": "x_y", "points": 1, "solution": False}})
    graded.outputs = [nbformat.v4.new_output("error", ename="AssertionError",
                                             evalue="Title: found nothing\nHint: do it",
                                             traceback=["----> 2 assert secret == 42  # the hidden answer"])]
    own = nbformat.v4.new_code_cell("x = 1 / 0", metadata={"nbgrader": {"solution": True, "grade": False}})
    own.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                          traceback=["----> 1 x = 1 / 0"])]
    nb = nbformat.v4.new_notebook(cells=[graded, own])
    nb, _ = _hidden_free_feedback_class()().preprocess(nb, {})
    text = nbformat.writes(nb)
    assert "hidden answer" not in text and "HIDDEN TESTS" not in text
    assert nb.cells[0].source == "require('x.y')"
    assert nb.cells[0].outputs[0]["traceback"] == ["AssertionError: Title: found nothing\nHint: do it"]
    assert nb.cells[1].outputs[0]["traceback"] == ["----> 1 x = 1 / 0"], "the learner's own traceback is theirs"


def test_a_grading_kernel_is_not_told_where_the_class_keys_are(monkeypatch):
    from workshop.grading import kernel_env

    monkeypatch.setenv("WORKSHOP_CLASS_KEYS", "/srv/class/class-keys.json")
    env = kernel_env({"AWS_ACCESS_KEY_ID": "111111111111", "WORKSHOP_CLASS_KEYS": "/srv/class/class-keys.json"})
    assert "WORKSHOP_CLASS_KEYS" not in env and env["AWS_ACCESS_KEY_ID"] == "111111111111"


def test_collect_from_folders_takes_each_learners_lab_with_its_saved_time(tmp_path, capsys):
    from nbgrader.utils import parse_utc

    roster = write_roster(tmp_path / "roster.csv", {"ada": new_account(), "bob": new_account()})
    lab = tmp_path / "home" / "ada" / "labs" / "04-iac"
    lab.mkdir(parents=True)
    (lab / "04-iac.ipynb").write_text("{}")
    os.utime(lab / "04-iac.ipynb", (1_790_000_000, 1_790_000_000))
    course_dir = tmp_path / "course"
    assert main(["course", "collect", "04-iac", "--course", str(course_dir), "--roster", str(roster),
                 "--from", str(tmp_path / "home" / "{learner}" / "labs" / "{lab}")]) == 0
    assert "nothing to collect for bob" in capsys.readouterr().out
    submitted = course_dir / "submitted" / "ada" / "04-iac"
    assert (submitted / "04-iac.ipynb").read_text() == "{}"
    assert parse_utc((submitted / "timestamp.txt").read_text()).timestamp() == 1_790_000_000
    assert Course(course_dir.resolve()).submissions("04-iac") == ["ada"]


def test_autograde_refuses_without_the_admin_token_or_for_a_learner_not_in_thewrite_roster(tmp_path, monkeypatch,
                                                                                     capsys, cloud):
    monkeypatch.delenv("WORKSHOP_ADMIN_TOKEN", raising=False)
    roster = write_roster(tmp_path / "roster.csv", {"ada": new_account()})
    course_dir = tmp_path / "course"
    Course(course_dir).submit("04-iac", "mallory", solutions_dir() / "04-iac")
    args = ["course", "autograde", "04-iac", "--course", str(course_dir), "--roster", str(roster),
            "--endpoint", cloud.endpoint, "--data-dir", str(tmp_path / "no-cloud-here")]
    assert main(args) == 1
    assert "admin token" in capsys.readouterr().err
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", "not-the-token")
    assert main(args) == 1
    assert "mallory is not in the roster" in capsys.readouterr().err
    write_roster(roster, {"mallory": new_account()})
    assert main(args) == 1
    assert "refused to reset" in capsys.readouterr().err  # a wrong token resets nothing


def test_release_names_unknown_labs(tmp_path, capsys):
    assert main(["course", "release", "99-nope", "--course", str(tmp_path / "course")]) == 1
    assert "no lab '99-nope'" in capsys.readouterr().err
    assert not (tmp_path / "course").exists()


def test_resetting_one_account_for_grading_leaves_other_accounts_objects(cloud):
    """Grading resets one learner's account after another: no reset may touch the
    objects of another account (moto's own S3 reset disposes every account's)."""
    from workshop.grading import reset_account

    kept, graded = new_account(), new_account()
    for account in (kept, graded):
        s3 = cloud.client("s3", account)
        s3.create_bucket(Bucket=f"report-{account}")
        s3.put_bucket_versioning(Bucket=f"report-{account}", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=f"report-{account}", Key="old.json", Body=b"v1")
        s3.put_object(Bucket=f"report-{account}", Key="old.json", Body=f"mine: {account}".encode())
    reset_account(cloud.endpoint, graded, cloud.admin_token)
    s3 = cloud.client("s3", kept)
    assert s3.get_object(Bucket=f"report-{kept}", Key="old.json")["Body"].read() == f"mine: {kept}".encode()
    versions = s3.list_object_versions(Bucket=f"report-{kept}")["Versions"]
    (oldest,) = [v["VersionId"] for v in versions if not v["IsLatest"]]
    assert s3.get_object(Bucket=f"report-{kept}", Key="old.json", VersionId=oldest)["Body"].read() == b"v1"
    assert cloud.client("s3", graded).list_buckets()["Buckets"] == []


@pytest.fixture(scope="module")
def class_cloud(tmp_path_factory):
    """A cloud in class mode and its roster of two learners with issued keys."""
    from tests.conftest import start_cloud, stop_cloud

    tmp = tmp_path_factory.mktemp("class")
    roster = tmp / "roster.csv"
    roster.write_text("learner\nada\nbob\n")
    assert main(["accounts", str(roster)]) == 0
    cloud = start_cloud(tmp, extra_env={"WORKSHOP_CLASS_KEYS": str(roster.with_name("class-keys.json"))})
    yield cloud, roster
    stop_cloud(cloud)


def test_autograde_in_class_mode_needs_the_learners_keys(class_cloud, tmp_path, monkeypatch, capsys):
    cloud, roster = class_cloud
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", cloud.admin_token)
    monkeypatch.delenv("WORKSHOP_CLASS_KEYS", raising=False)
    alone = tmp_path / "roster.csv"  # the roster without its keys file beside it
    shutil.copy(roster, alone)
    course_dir = tmp_path / "course"
    Course(course_dir).submit("04-iac", "ada", solutions_dir() / "04-iac")
    assert main(["course", "autograde", "04-iac", "--course", str(course_dir), "--roster", str(alone),
                 "--endpoint", cloud.endpoint]) == 1
    err = capsys.readouterr().err
    assert "ada: not graded: the learner's key does not work" in err and "--keys" in err


@pytest.mark.slow
def test_autograde_in_class_mode_runs_the_notebook_with_the_learners_own_key(class_cloud, tmp_path, monkeypatch):
    cloud, roster = class_cloud
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", cloud.admin_token)
    monkeypatch.delenv("WORKSHOP_CLASS_KEYS", raising=False)
    course_dir = tmp_path / "course"
    common = ["--course", str(course_dir)]
    assert main(["course", "release", "04-iac", *common]) == 0
    work = tmp_path / "ada"
    shutil.copytree(course_dir / "release" / "04-iac", work)
    answer(work, "04-iac")
    assert main(["course", "collect", "04-iac", *common, "--roster", str(roster),
                 "--from", str(tmp_path / "{learner}")]) == 0
    assert main(["course", "autograde", "04-iac", *common, "--roster", str(roster), "--endpoint", cloud.endpoint]) == 0
    # Full points in a cloud that refuses any secret but ada's (or the admin token, which
    # the grading kernel never gets: see test_autograde's kernel_env test).
    grades = Course(course_dir.resolve()).grades("04-iac", "ada")
    assert sum(g.score for g in grades) == sum(c.points for c in registry.get_lab("04-iac").checks)
