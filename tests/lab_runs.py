"""One graded run of each lab, shared by the end-to-end tests: the instructor's
nbgrader workflow through `workshop course` (release with a hidden test in each
graded cell, a solved and an untouched submission fetched and submitted through
the exchange, collected, autograded each in its learner's own account, reset
first). Running a lab is most of what those tests cost, so the notebook,
autograde, instructor-grading and class-report tests each read their view of
this one run instead of running the lab again."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from tests import notebooks
from tests.conftest import new_account
from workshop.grading import Course, solutions_dir

HIDDEN = "HIDDEN-MARKER"
LEARNERS = ("solved-learner", "unsolved-learner")
# Labs whose graded run sets the shared cloud's clock faster for its duration (then back):
# lab 05's AWS waits (ECS deregistration delays, CodeDeploy's waits, EKS's provisioning) cost
# seconds at 600 where they cost minutes at the session's 60.
TIME_SCALES = {"05-containers": 600.0}


@dataclass
class GradedLab:
    lab_id: str
    root: Path
    accounts: dict[str, str]            # learner -> account id
    roster: Path
    by_hand_passed: bool = False        # the unsolved learner's account held the finished lab before grading
    outputs: dict[str, str] = field(default_factory=dict)   # `workshop course STEP`'s standard output
    codes: dict[str, int] = field(default_factory=dict)     # and its exit code

    @property
    def course_dir(self) -> Path:
        return self.root / "course"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def course(self) -> Course:
        return Course(self.course_dir.resolve())

    def autograded(self, learner: str) -> list[nbformat.NotebookNode]:
        folder = self.course.path("autograded", learner, self.lab_id)
        return [nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))]

    def cell_errors(self, learner: str) -> list[str]:
        """Every cell of the learner's autograded notebooks that ended in an error."""
        return [e for nb in self.autograded(learner) for e in notebooks.cell_errors(nb)]


class LabRuns:
    """Each lab graded once per test session (per xdist worker: its own cloud),
    on first request; a run that failed fails every test that asks for it."""

    def __init__(self, cloud, root: Path):
        self.cloud, self.root = cloud, root
        self._runs: dict[str, GradedLab | BaseException] = {}

    def get(self, lab_id: str) -> GradedLab:
        if lab_id not in self._runs:
            try:
                self._runs[lab_id] = grade_lab(self.cloud, lab_id, self.root / lab_id)
            except Exception as exc:   # kept: the next test of this lab fails the same way, at once
                self._runs[lab_id] = exc
        run = self._runs[lab_id]
        if isinstance(run, BaseException):
            pytest.fail(f"the graded run of {lab_id} failed: {type(run).__name__}: "
                        f"{notebooks.strip_ansi(str(run))[-3000:]}", pytrace=False)
        return run


def grade_lab(cloud, lab_id: str, root: Path) -> GradedLab:
    from workshop.cli import main

    root.mkdir(parents=True)
    accounts = {learner: new_account() for learner in LEARNERS}
    run = GradedLab(lab_id, root, accounts, write_roster(root / "roster.csv", accounts))
    # The instructor's own source: the lab's solution, with a hidden test in each graded cell.
    shutil.copytree(solutions_dir() / lab_id, run.course_dir / "source" / lab_id)
    with_hidden_tests(run.course_dir / "source" / lab_id)
    common = ["--course", str(run.course_dir)]

    def course(step: str, *args: str) -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            run.codes[step] = main(["course", step, lab_id, *common, *args])
        run.outputs[step] = out.getvalue()
        if run.codes[step] != 0:
            raise RuntimeError(f"workshop course {step} {lab_id} exited {run.codes[step]}:\n{out.getvalue()}")

    with pytest.MonkeyPatch.context() as env, time_scale(cloud, TIME_SCALES.get(lab_id)):
        env.setenv("WORKSHOP_ADMIN_TOKEN", cloud.admin_token)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        course("release", "--exchange", str(run.exchange))
        for learner in LEARNERS:
            home = root / learner
            work = fetch(run.exchange, home, lab_id)
            if learner == "solved-learner":
                answer(work, lab_id)
            submit(run.exchange, home, lab_id, learner)
        course("collect", "--exchange", str(run.exchange))
        # The unsolved learner's account holds a finished lab (done by hand, say) before
        # grading: the reset must make it count for nothing.
        notebooks.perform_solution(lab_id, cloud.endpoint, [accounts["unsolved-learner"]], root / "by-hand")
        run.by_hand_passed = notebooks.check(cloud, accounts["unsolved-learner"], lab_id).all_passed
        course("autograde", "--roster", str(run.roster), "--endpoint", cloud.endpoint)
    return run


@contextlib.contextmanager
def time_scale(cloud, scale: float | None):
    """The cloud's clock at ``scale`` (None: as it is) while the block runs, then as it was."""
    if scale is None:
        yield
        return
    before = _clock(cloud)["time_scale"]
    _clock(cloud, scale)
    try:
        yield
    finally:
        _clock(cloud, before)


def _clock(cloud, scale: float | None = None) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{cloud.endpoint}/_workshop/clock", method="GET" if scale is None else "PUT",
        data=None if scale is None else json.dumps({"time_scale": scale}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {cloud.admin_token}"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def write_roster(path: Path, accounts: dict[str, str]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", "account_id"])
        writer.writerows(accounts.items())
    return path


def with_hidden_tests(folder: Path) -> None:
    """Give every autograded cell a hidden test, marked so that a leak shows."""
    for path in folder.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                check = meta["grade_id"].replace("_", ".", 1)
                cell.source = (f"### BEGIN HIDDEN TESTS\nrequire({check!r})  # {HIDDEN} {meta['grade_id']}\n"
                               f"### END HIDDEN TESTS\n{cell.source}")
        nbformat.write(nb, path)


def answer(folder: Path, lab_id: str) -> None:
    """The released lab in ``folder`` answered with the solution's code."""
    for path in folder.glob("*.ipynb"):
        answered = notebooks.answer(nbformat.read(path, as_version=4),
                                    nbformat.read(solutions_dir() / lab_id / path.name, as_version=4))
        nbformat.write(answered, path)


def _learner_config(exchange: Path, home: Path) -> Config:
    from workshop.grading import course_config

    cfg = Config()
    cfg.Exchange.root = str(exchange)
    cfg.Exchange.cache = str(home / "cache")
    cfg.Exchange.assignment_dir = str(home)
    cfg.CourseDirectory.course_id = course_config().CourseDirectory.course_id
    return cfg


def fetch(exchange: Path, home: Path, lab_id: str) -> Path:
    """What a learner's Assignments tab does: fetch the released lab into their home."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment

    cfg = _learner_config(exchange, home)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = lab_id
    ExchangeFetchAssignment(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg).start()
    return home / lab_id


def submit(exchange: Path, home: Path, lab_id: str, student: str) -> None:
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeSubmit

    cfg = _learner_config(exchange, home)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id, coursedir.student_id = lab_id, student
    ExchangeSubmit(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg).start()
