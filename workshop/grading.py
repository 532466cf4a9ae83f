"""Grading with nbgrader: a course directory (source/, release/, submitted/,
autograded/, feedback/, the gradebook) configured by the project's
``nbgrader_config.py``; release and collection through nbgrader's exchange;
autograde of a submission with the kernel in that learner's AWS account (reset
first through the cloud's control API), every check's score then taken from the
checker run outside that kernel (``checker_result``); feedback that never shows hidden
tests; the grades as CSV. ``workshop generate-labs`` and ``workshop course`` build on this."""

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
_GRADER_ONLY_NAMES = ("WORKSHOP_ADMIN_TOKEN", "WORKSHOP_ACCOUNT", "WORKSHOP_CLASS_KEYS")


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


def reset_account(endpoint: str, account_id: str, admin_token: str, timeout: float = 120.0) -> None:
    """Empty an account through the cloud's control API (``POST
    /_workshop/accounts/ID/reset``) with the instructor's admin token."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{endpoint.rstrip('/')}/_workshop/accounts/{account_id}/reset",
                                     data=b"", method="POST",
                                     headers={"X-Workshop-Admin-Token": admin_token})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            if json.loads(answer.read() or b"{}").get("reset") is not True:
                raise GradingError(f"the cloud at {endpoint} did not reset account {account_id}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise GradingError(f"the cloud at {endpoint} refused to reset account {account_id} "
                           f"(HTTP {exc.code}: {detail})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GradingError(f"cannot reach the cloud at {endpoint} to reset account {account_id}: {reason}") from None


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
    env.update({k: v for k, v in learner.items() if k not in ("WORKSHOP_ADMIN_TOKEN", "WORKSHOP_CLASS_KEYS")})
    return env


@dataclass(frozen=True)
class KernelBox:
    """Where a sandboxed grading kernel runs: a private copy of the submission's
    folder (its working directory) and a home, both owned by the borrowed user."""

    user: "sandbox.Identity"
    lab: Path
    home: Path

    def env(self) -> dict[str, str]:
        home = str(self.home)
        return {"HOME": home, "IPYTHONDIR": f"{home}/.ipython", "MPLCONFIGDIR": f"{home}/.matplotlib",
                "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter-runtime", "JUPYTER_DATA_DIR": f"{home}/.jupyter-data",
                "JUPYTER_CONFIG_DIR": f"{home}/.jupyter", "TMPDIR": f"{home}/tmp", "USER": self.user.name,
                "LOGNAME": self.user.name, "JSII_RUNTIME_PACKAGE_CACHE_ROOT": f"{home}/{JSII_CACHE}"}


# Where jsii (aws-cdk-lib from Python) unpacks the JavaScript packages it loads, under a home.
JSII_CACHE = ".cache/aws/jsii/package-cache"


def _seed_jsii_cache(lab: Path, home: Path, who) -> None:
    """A notebook that uses the AWS CDK (lab 04's Part 2) loads aws-cdk-lib through jsii, which
    unpacks 207 MB into its home's cache first: a synthesis takes 17 s in a new home, 4.5 s with
    the cache there, and a grading kernel's home is new each time. So a box whose notebook mentions
    aws_cdk gets the grader's own cache (when it has one) as hard links to its files: folders and
    jsii's use markers are the kernel user's (jsii locks and touches them), the files stay root's
    and read-only to it (a file others could write is copied instead). Made after hand_over,
    which would give the linked files themselves to the user."""
    if not any("aws_cdk" in p.read_text(errors="replace") for p in lab.rglob("*") if p.suffix in (".ipynb", ".py")):
        return
    cache = Path(os.environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT") or Path.home() / JSII_CACHE)
    if not cache.is_dir():
        return
    target = home / JSII_CACHE

    def give(path: Path) -> None:
        os.chown(path, who.uid, who.gid, follow_symlinks=False)

    try:
        for folder, _, files in os.walk(cache):
            here = target / Path(folder).relative_to(cache)
            here.mkdir(mode=0o700, parents=True, exist_ok=True)
            for name in files:
                src, dst = Path(folder) / name, here / name
                if name == ".jsii-runtime-package-cache" or (not src.is_symlink() and src.stat().st_mode & 0o022):
                    shutil.copy2(src, dst, follow_symlinks=False)
                    give(dst)
                else:
                    os.link(src, dst, follow_symlinks=False)
        for folder, _, _ in os.walk(home / ".cache"):
            give(Path(folder))
    except OSError:  # another file system (no hard links): jsii unpacks, as without a cache
        shutil.rmtree(home / ".cache", ignore_errors=True)


def _close_to_sandboxes(root: Path) -> None:
    """When grading kernels run as pool users: nothing under the course (the
    gradebook, other learners' submissions) is reachable by them, whatever the
    umask made it: the course root loses group and others' permissions."""
    import logging
    import stat

    from workshop.cloud import sandbox

    if not sandbox.enabled():
        return
    mode = stat.S_IMODE(root.stat().st_mode)
    if mode & 0o077:
        os.chmod(root, mode & ~0o077)
        logging.getLogger("workshop.grading").warning(
            "closed the course folder %s to other users (was %o): autograde runs learners' code "
            "as unprivileged users, who must not read other submissions", root, mode)


@contextmanager
def kernel_box(folder: Path | None) -> Iterator[KernelBox | None]:
    """When the grader runs as root: a pool user borrowed for one notebook, and a
    private copy of ``folder`` for its kernel to run in, so that a learner's code
    reads neither the instructor's files (the admin token, the roster's keys,
    other learners' submissions) nor the grader's. Removed afterwards. None on a
    laptop (not root): the kernel runs as the instructor, in ``folder``."""
    import tempfile

    from workshop.cloud import sandbox

    with sandbox.borrowed() as who:
        if who is None:
            yield None
            return
        box = Path(tempfile.mkdtemp(prefix="workshop-grade-"))
        try:
            lab, home = box / "lab", box / "home"
            if folder is not None and Path(folder).is_dir():
                shutil.copytree(folder, lab, symlinks=True)
            else:
                lab.mkdir()
            (home / "tmp").mkdir(parents=True)
            sandbox.hand_over(box, who)
            _seed_jsii_cache(lab, home, who)
            yield KernelBox(who, lab, home)
        finally:
            shutil.rmtree(box, ignore_errors=True)


def _sandboxed_kernel_manager(box: KernelBox):
    """A kernel manager that starts its kernel as the box's user, with the
    connection file (ports and signing key) in that user's own home."""
    import uuid

    from jupyter_client.manager import AsyncKernelManager

    from workshop.cloud import sandbox

    class SandboxedKernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw):
            self.connection_file = str(box.home / f"kernel-{uuid.uuid4().hex}.json")
            return await super()._async_pre_start_kernel(**kw)

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            os.chown(self.connection_file, box.user.uid, box.user.gid)
            kw.update(sandbox.run_as(box.user))
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return SandboxedKernelManager


def _learner_execute_class():
    """nbgrader's Execute preprocessor, starting its kernel in a learner's
    environment: as a borrowed unprivileged user when the grader is root."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.util import run_sync
    from nbgrader.preprocessors import Execute

    class LearnerExecute(Execute):
        learner_env = Dict(help="AWS settings of the learner whose notebook runs").tag(config=True)
        _box: KernelBox | None = None

        def preprocess(self, nb, resources=None, km=None):
            folder = (resources or {}).get("metadata", {}).get("path") or None
            with kernel_box(Path(folder) if folder else None) as box:
                self._box = box
                self.kernel_manager_class = (_sandboxed_kernel_manager(box) if box is not None
                                             else AsyncKernelManager)
                try:
                    return super().preprocess(nb, resources, km)
                finally:
                    self._box = None

        async def async_start_new_kernel(self, **kwargs):
            kwargs["env"] = kernel_env(self.learner_env)
            if self._box is not None:
                kwargs["env"].update(self._box.env())
                kwargs["cwd"] = str(self._box.lab)
            await super().async_start_new_kernel(**kwargs)

        start_new_kernel = run_sync(async_start_new_kernel)

    return LearnerExecute


def _hidden_free_feedback_class():
    """A feedback preprocessor: nbgrader's feedback shows hidden tests on purpose
    (jupyter/nbgrader#917); ours never does. In graded cells (the only ones that
    may hold hidden tests) the hidden regions leave the source, and an error's
    traceback, which quotes the failing line, becomes its one-line message
    (for a check: its title, what was found, and the hint)."""
    from nbgrader import utils
    from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

    class HideHiddenTests(NbGraderPreprocessor):
        def preprocess_cell(self, cell, resources, index):
            if not utils.is_grade(cell):
                return cell, resources
            clear = ClearHiddenTests(parent=self, enforce_metadata=False)
            clear._remove_hidden_test_region(cell)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
            return cell, resources

    return HideHiddenTests


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


def checker_result(lab_id: str, learner_env: Mapping[str, str], timeout: float = 900.0):
    """The lab's checks run as the instructor in a process of their own (``workshop check
    LAB --json``), never in the kernel that ran the learner's code, against the learner's
    account (``learner_env``: its endpoint and key). A GradingError when they cannot run:
    a cloud that is down is no reason to write zeros into the gradebook."""
    import json
    import subprocess

    from checker.results import LabResult

    env = kernel_env(learner_env)
    env.pop("PYTHONSTARTUP", None)
    try:
        done = subprocess.run([sys.executable, "-m", "workshop", "check", lab_id, "--json"], env=env,
                              cwd=str(settings.project_root()), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GradingError(f"the checks of {lab_id} did not finish in {timeout:g} s") from None
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise GradingError(f"the checks of {lab_id} did not run (exit {done.returncode}): "
                           f"{done.stderr.strip()[-500:]}") from None
    if data.get("error") or "results" not in data:
        raise GradingError(f"the checks of {lab_id} could not run: {data.get('error')}")
    return LabResult.from_dict(data)


def _checker_output(found) -> dict:
    """A check's result as its grading cell shows it: PASS, or the failure and the hint."""
    import nbformat

    if found.passed:
        return nbformat.v4.new_output("stream", name="stdout", text=f"PASS {found.title} (checked outside the "
                                                                     "notebook's kernel)\n")
    if found.skipped:
        return nbformat.v4.new_output("stream", name="stdout", text=f"SKIPPED, not graded: {found.title}: "
                                                                     f"{found.message}\n")
    text = f"{found.title}: {found.message}\nHint: {found.hint}"
    return nbformat.v4.new_output("error", ename="AssertionError", evalue=text,
                                  traceback=[f"AssertionError: {text}"])


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

        _close_to_sandboxes(self.root)
        execute = _learner_execute_class()
        cfg = self.config()
        default = Autograde.class_traits()["autograde_preprocessors"].default()
        cfg.Autograde.autograde_preprocessors = [execute if p is Execute else p for p in default]
        cfg[execute.__name__].learner_env = dict(learner_env)
        _run(Autograde, cfg, lab_id, student_id)
        self.score_from_checker(lab_id, student_id, checker_result(lab_id, learner_env))
        return self.grades(lab_id, student_id)

    def score_from_checker(self, lab_id: str, student_id: str, result) -> None:
        """Every check's cell scores what the checker, run outside the learner's kernel,
        found in the learner's account: the gradebook's score and the cell's output in
        the autograded notebook (what feedback shows). What the kernel printed or raised
        in those cells counts for nothing: the learner's code ran in that kernel."""
        import nbformat
        from nbgrader.api import Gradebook

        by_check = {r.id: r for r in result.results}
        dirs = self._dirs
        folder = self.path("autograded", student_id, lab_id)
        with Gradebook(dirs.db_url, dirs.course_id) as gb:
            for path in sorted(folder.glob("*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                for cell in nb.cells:
                    meta = cell.get("metadata", {}).get("nbgrader", {})
                    found = by_check.get(check_id(meta.get("grade_id", ""))) if meta.get("grade") else None
                    if found is None:
                        continue
                    grade = gb.find_grade(meta["grade_id"], path.stem, lab_id, student_id)
                    # A skipped check (it cannot apply to this account) does not count against the learner:
                    # nbgrader's points are fixed per cell, so its cell keeps them.
                    grade.auto_score = float(grade.max_score) if found.passed or found.skipped else 0.0
                    grade.manual_score = None
                    grade.needs_manual_grade = False
                    cell["outputs"] = [_checker_output(found)]
                gb.db.commit()
                nbformat.write(nb, path)

    def submissions(self, lab_id: str) -> list[str]:
        """The student ids with a submission of this lab in submitted/."""
        root = self.root / self._dirs.submitted_directory
        return sorted(p.parent.name for p in root.glob(f"*/{lab_id}") if p.is_dir()) if root.is_dir() else []

    def release_to_exchange(self, lab_id: str, exchange: Path) -> Path:
        """``nbgrader release_assignment``: release/LAB into the exchange that
        learners fetch from (JupyterLab's Assignments tab, ``nbgrader fetch_assignment``)."""
        from nbgrader.exchange.default import ExchangeReleaseAssignment

        cfg = self.config()
        cfg.Exchange.root = str(exchange)
        self._exchange(ExchangeReleaseAssignment, cfg, lab_id, force=True)
        return Path(exchange) / self._dirs.course_id / "outbound" / lab_id

    def collect_from_exchange(self, lab_id: str, exchange: Path) -> list[str]:
        """``nbgrader collect``: the latest submission of each learner into submitted/."""
        from nbgrader.exchange.default import ExchangeCollect

        cfg = self.config()
        cfg.Exchange.root = str(exchange)
        self._exchange(ExchangeCollect, cfg, lab_id, update=True)
        return self.submissions(lab_id)

    def _exchange(self, exchange_class, cfg: Config, lab_id: str, **traits) -> None:
        from nbgrader.auth import Authenticator
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.exchange.abc import ExchangeError

        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = lab_id
        step = exchange_class(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg)
        for name, value in traits.items():
            setattr(step, name, value)
        try:
            step.start()
        except ExchangeError as exc:
            raise GradingError(f"nbgrader {exchange_class.__name__} of {lab_id}: {exc}") from None

    def feedback(self, lab_id: str, student_id: str | None = None) -> list[Path]:
        """``nbgrader generate_feedback`` without hidden tests: feedback/STUDENT/LAB/*.html
        for one learner, or for every learner with an autograded submission."""
        from nbgrader.converters import GenerateFeedback

        cfg = self.config()
        default = GenerateFeedback.class_traits()["preprocessors"].default()
        cfg.GenerateFeedback.preprocessors = [*default, _hidden_free_feedback_class()]
        _run(GenerateFeedback, cfg, lab_id, student_id)
        pattern = f"{student_id or '*'}/{lab_id}/*.html"
        return sorted((self.root / self._dirs.feedback_directory).glob(pattern))

    def export(self, to: Path, lab_ids: Iterable[str] | None = None) -> Path:
        """``nbgrader export``: the gradebook as CSV (one row per learner and lab)."""
        from nbgrader.api import Gradebook
        from nbgrader.plugins import CsvExportPlugin

        dirs = self._dirs
        plugin = CsvExportPlugin(config=self.config())
        plugin.to = str(to)
        plugin.assignment = list(lab_ids or [])
        with _scripts_on_path(), Gradebook(dirs.db_url, dirs.course_id) as gb:
            plugin.export(gb)
        return Path(to)

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
