"""Grading with nbgrader: a course directory (source/, release/, submitted/,
autograded/, the gradebook) configured by the project's ``nbgrader_config.py``,
and autograde of a submission with the kernel in that learner's AWS account.
``workshop generate-labs`` and the instructor commands build on this."""

from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from traitlets import Dict
from traitlets.config import Config

from workshop import settings

CONFIG_FILE = "nbgrader_config.py"
# A submission's timestamp.txt in the form nbgrader parses (FIELD-NOTES).
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
# What a grading kernel must never inherit from the grader: its own AWS
# credentials and the cloud's admin token (autograde kernels run learner code).
_GRADER_ONLY_PREFIXES = ("AWS_",)
_GRADER_ONLY_NAMES = ("WORKSHOP_ADMIN_TOKEN", "WORKSHOP_ACCOUNT")


def grade_id(check_id: str) -> str:
    """The nbgrader ``grade_id`` of a check's autograded cell. nbgrader allows
    only letters, digits, '_' and '-' there, so ``04-iac.drift-detected`` is
    ``04-iac_drift-detected`` (lab ids and slugs never hold '_')."""
    return check_id.replace(".", "_", 1)


def check_id(grade_id: str) -> str:
    """The inverse of ``grade_id``."""
    return grade_id.replace("_", ".", 1)


class GradingError(RuntimeError):
    """An nbgrader step failed; the message carries nbgrader's own log."""


def course_config(root: Path | None = None, **directories: str) -> Config:
    """The project's nbgrader configuration, with the course root and any
    directory (``source_directory="source"``, ...) overridden."""
    from traitlets.config.loader import PyFileConfigLoader

    project = settings.project_root()
    cfg = PyFileConfigLoader(CONFIG_FILE, path=str(project)).load_config()
    cfg.CourseDirectory.root = str(Path(root or project).resolve())
    for name, value in directories.items():
        cfg.CourseDirectory[name] = value
    return cfg


def solutions_dir() -> Path:
    return settings.project_root() / course_config().CourseDirectory.source_directory


def released_dir() -> Path:
    return settings.project_root() / course_config().CourseDirectory.release_directory


def kernel_env(learner: Mapping[str, str]) -> dict[str, str]:
    """The environment of a kernel that runs a learner's notebook: the grader's
    own, without its AWS settings and secrets, plus the learner's (``AWS_*``)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_GRADER_ONLY_PREFIXES) and k not in _GRADER_ONLY_NAMES}
    env.update({k: v for k, v in learner.items() if k != "WORKSHOP_ADMIN_TOKEN"})
    return env


def _learner_execute_class():
    """nbgrader's Execute preprocessor, starting its kernel in a learner's environment."""
    from nbclient.util import run_sync
    from nbgrader.preprocessors import Execute

    class LearnerExecute(Execute):
        learner_env = Dict(help="AWS settings of the learner whose notebook runs").tag(config=True)

        async def async_start_new_kernel(self, **kwargs):
            kwargs["env"] = kernel_env(self.learner_env)
            await super().async_start_new_kernel(**kwargs)

        start_new_kernel = run_sync(async_start_new_kernel)

    return LearnerExecute


@contextmanager
def _scripts_on_path() -> Iterator[None]:
    # nbgrader runs `alembic` as a command when it creates a gradebook; from a
    # virtualenv that is not activated it is not on PATH (FIELD-NOTES).
    dirs = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    old = os.environ.get("PATH", "")
    missing = [d for d in dirs if d not in old.split(os.pathsep)]
    if missing:
        os.environ["PATH"] = os.pathsep.join([*missing, old])
    try:
        yield
    finally:
        if missing:
            os.environ["PATH"] = old


def _run(converter_class, cfg: Config, lab_id: str, student_id: str | None = None) -> None:
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = lab_id
    if student_id is not None:
        coursedir.student_id = student_id
    converter = converter_class(coursedir=coursedir, config=cfg)
    converter.force = True
    with _scripts_on_path():
        outcome = capture_log(converter)
    if not outcome["success"]:
        raise GradingError(f"nbgrader {converter_class.__name__} of {lab_id} failed:\n"
                           f"{outcome.get('log', '')}\n{outcome.get('error', '')}")


_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]*$")  # nbgrader's schema for grade_id


def _check_grade_ids(folder: Path) -> None:
    """Say plainly what nbgrader's schema check would only call 'corrupted metadata'."""
    import nbformat

    for path in sorted(folder.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if not _GRADE_ID.match(gid):
                hint = f"; a check's cell uses grade_id {grade_id(gid)!r}" if "." in gid else ""
                raise GradingError(f"{path}: grade_id {gid!r}: nbgrader allows only letters, digits, "
                                   f"'_' and '-'{hint}")


@dataclass(frozen=True)
class Grade:
    """One autograded cell of a submission, i.e. one check."""

    id: str  # the cell's grade_id
    score: float
    max_score: float

    @property
    def check_id(self) -> str:
        return check_id(self.id)


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory with nbgrader's standard folder names."""

    root: Path

    def config(self, **extra: str) -> Config:
        return course_config(self.root, source_directory="source", release_directory="release",
                             **extra)

    @property
    def _dirs(self):
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.config())

    def path(self, kind: str, *parts: str) -> Path:
        """``path("release", "04-iac")`` -> root/release/04-iac."""
        return self.root / getattr(self._dirs, f"{kind}_directory") / Path(*parts)

    @classmethod
    def create(cls, root: Path, lab_ids: Iterable[str], solutions: Path | None = None,
               database: bool = True) -> "Course":
        """A course at ``root`` holding these labs' solutions as its source, released."""
        course = cls(Path(root).resolve())
        solutions = solutions or solutions_dir()
        ignore = shutil.ignore_patterns(*course._dirs.ignore)
        for lab_id in lab_ids:
            src = solutions / lab_id
            if not src.is_dir():
                raise GradingError(f"no solution folder {src}")
            _check_grade_ids(src)
            shutil.copytree(src, course.path("source", lab_id), ignore=ignore, dirs_exist_ok=True)
            course.release(lab_id, database=database)
        return course

    def release(self, lab_id: str, database: bool = True) -> Path:
        """``nbgrader generate_assignment``: source/LAB -> release/LAB. With the
        database, the gradebook learns the lab's graded cells (autograde needs them)."""
        from nbgrader.converters import GenerateAssignment

        cfg = self.config()
        if not database:
            cfg.GenerateAssignment.no_database = True
            cfg.SaveCells.enabled = False
        _run(GenerateAssignment, cfg, lab_id)
        return self.path("release", lab_id)

    def submit(self, lab_id: str, student_id: str, folder: Path, when: datetime | None = None) -> Path:
        """Put a learner's lab folder where ``nbgrader autograde`` looks for it."""
        dest = self.path("submitted", student_id, lab_id)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(*self._dirs.ignore))
        when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
        (dest / "timestamp.txt").write_text(when.strftime(TIMESTAMP_FORMAT))
        return dest

    def autograde(self, lab_id: str, student_id: str, learner_env: Mapping[str, str]) -> list[Grade]:
        """``nbgrader autograde`` one submission, its kernel in the learner's AWS
        account (``learner_env``: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)."""
        from nbgrader.converters import Autograde
        from nbgrader.preprocessors import Execute

        execute = _learner_execute_class()
        cfg = self.config()
        default = Autograde.class_traits()["autograde_preprocessors"].default()
        cfg.Autograde.autograde_preprocessors = [execute if p is Execute else p for p in default]
        cfg[execute.__name__].learner_env = dict(learner_env)
        _run(Autograde, cfg, lab_id, student_id)
        return self.grades(lab_id, student_id)

    def grades(self, lab_id: str, student_id: str) -> list[Grade]:
        """The gradebook's autograded cells of one submission."""
        from nbgrader.api import Gradebook

        dirs = self._dirs
        grades: list[Grade] = []
        with Gradebook(dirs.db_url, dirs.course_id) as gb:
            submission = gb.find_submission(lab_id, student_id)
            for notebook in submission.notebooks:
                for g in notebook.grades:
                    grades.append(Grade(g.name, float(g.score), float(g.max_score)))
        return grades
