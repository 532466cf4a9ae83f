"""Labs from one source: ``workshop generate-labs`` makes each released lab in
``labs/`` from its solution in ``solutions/`` with nbgrader, and the checks
here say whether ``labs/`` still matches, leaks no solution, and grades
exactly the checks the lab registers."""

from __future__ import annotations

import ast
import filecmp
import fnmatch
import functools
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import nbformat

from workshop.grading import (
    Course,
    GradingError,
    check_id,
    course_config,
    grade_id,
    released_dir,
    solutions_dir,
)

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"


@functools.cache
def _ignore_patterns() -> tuple[str, ...]:
    from nbgrader.coursedir import CourseDirectory

    return tuple(CourseDirectory(config=course_config()).ignore)


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in _ignore_patterns())


def _lab_folders(parent: Path) -> list[str]:
    if not parent.is_dir():
        return []
    return sorted(p.name for p in parent.iterdir()
                  if p.is_dir() and not _ignored(p.name) and any(p.glob("*.ipynb")))


def solution_labs() -> list[str]:
    """Lab ids that have a solution folder (with a notebook) in solutions/."""
    return _lab_folders(solutions_dir())


def released_labs() -> list[str]:
    """Lab ids that have a released folder in labs/."""
    return _lab_folders(released_dir())


def render_labs(dest: Path, lab_ids: Iterable[str] | None = None) -> list[str]:
    """Make the released version of labs (default: all) into ``dest/<lab>/``."""
    ids = list(lab_ids) if lab_ids is not None else solution_labs()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="generate-labs-") as work:
        course = Course.create(Path(work), ids, database=False)
        for lab_id in ids:
            target = dest / lab_id
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(course.path("release", lab_id), target)
    return ids


def generate_labs(lab_ids: list[str] | None) -> int:
    """``workshop generate-labs [LAB...]``: regenerate labs/ from solutions/.
    Overwrites labs/LAB entirely (a learner's work there is lost); with no
    labs named, also removes released labs whose solution is gone."""
    known = solution_labs()
    unknown = [lab for lab in lab_ids or [] if lab not in known]
    if unknown:
        print(f"workshop generate-labs: no solution folder for {', '.join(unknown)} "
              f"(labs: {', '.join(known) or 'none'})", file=sys.stderr)
        return 2
    ids = lab_ids or known
    labs = released_dir()
    with tempfile.TemporaryDirectory(prefix="generate-labs-") as tmp:
        try:
            render_labs(Path(tmp), ids)
        except GradingError as exc:
            print(f"workshop generate-labs: {exc}", file=sys.stderr)
            return 1
        for lab_id in ids:
            fresh, target = Path(tmp) / lab_id, labs / lab_id
            same = target.is_dir() and not _tree_differences(fresh, target)
            if not same:
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(fresh, target)
            print(f"labs/{lab_id}: {'unchanged' if same else 'regenerated'}")
    if not lab_ids:
        for stale in sorted(set(released_labs()) - set(known)):
            shutil.rmtree(labs / stale)
            print(f"labs/{stale}: removed (no solutions/{stale})")
    return 0


def _tree_differences(expected: Path, actual: Path, prefix: str = "") -> list[str]:
    """What differs between two folders, byte for byte, ignoring nbgrader's ignore list."""
    cmp = filecmp.dircmp(expected, actual)
    out = [f"{prefix}{n} is missing" for n in sorted(cmp.left_only) if not _ignored(n)]
    out += [f"{prefix}{n} should not be there" for n in sorted(cmp.right_only) if not _ignored(n)]
    for name in sorted(cmp.common_files):
        if not _ignored(name) and not filecmp.cmp(expected / name, actual / name, shallow=False):
            out.append(f"{prefix}{name} differs")
    out += [f"{prefix}{n} is a file in one and a folder in the other" for n in sorted(cmp.common_funny)]
    for name in sorted(cmp.common_dirs):
        if not _ignored(name):
            out += _tree_differences(expected / name, actual / name, f"{prefix}{name}/")
    return out


def lab_drift(lab_ids: Iterable[str] | None = None) -> list[str]:
    """How the committed labs/ differs from what solutions/ generates (empty: in sync)."""
    ids = list(lab_ids) if lab_ids is not None else solution_labs()
    problems = [f"labs/{lab}/ has no solutions/{lab}/" for lab in released_labs()
                if lab_ids is None and lab not in ids]
    with tempfile.TemporaryDirectory(prefix="labs-sync-") as tmp:
        render_labs(Path(tmp), ids)
        for lab_id in ids:
            target = released_dir() / lab_id
            if not target.is_dir():
                problems.append(f"labs/{lab_id}/ is missing")
            else:
                problems += [f"labs/{lab_id}/{d}" for d in _tree_differences(Path(tmp) / lab_id, target)]
    return problems


# --- what a lab's notebooks must satisfy -------------------------------------

def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _notebooks(folder: Path) -> dict[str, nbformat.NotebookNode]:
    return {p.name: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}


def _solution_lines(source: str) -> list[str]:
    """Lines inside solution regions that appear nowhere else in the cell."""
    inside, outside, region = [], set(), False
    for line in source.splitlines():
        text = line.strip()
        if text.startswith(BEGIN_SOLUTION):
            region = True
        elif text.startswith(END_SOLUTION):
            region = False
        elif text:
            (inside.append(text) if region else outside.add(text))
    return [line for line in inside if line not in outside]


def solution_leaks(lab_id: str) -> list[str]:
    """What the released lab gives away: solution text, hidden tests, outputs,
    or a solution cell that does not raise NotImplementedError."""
    problems: list[str] = []
    solutions = _notebooks(solutions_dir() / lab_id)
    released = _notebooks(released_dir() / lab_id)
    for name, source_nb in solutions.items():
        lab_nb = released.get(name)
        if lab_nb is None:
            problems.append(f"labs/{lab_id}/{name} is missing")
            continue
        by_id = {_nbgrader(c).get("grade_id"): c for c in lab_nb.cells if _nbgrader(c).get("grade_id")}
        for i, cell in enumerate(lab_nb.cells):
            where = f"labs/{lab_id}/{name} cell {i}"
            for marker in (BEGIN_SOLUTION, END_SOLUTION, HIDDEN_TESTS):
                if marker in cell.source:
                    problems.append(f"{where} still has '{marker}'")
            if cell.cell_type == "code" and cell.get("outputs"):
                problems.append(f"{where} has outputs")
        for cell in source_nb.cells:
            meta = _nbgrader(cell)
            if not meta.get("solution"):
                continue
            grade_id = meta.get("grade_id")
            released_cell = by_id.get(grade_id)
            if released_cell is None:
                problems.append(f"labs/{lab_id}/{name}: solution cell {grade_id!r} is missing")
                continue
            leaked = [line for line in _solution_lines(cell.source)
                      if line in {t.strip() for t in released_cell.source.splitlines()}]
            if leaked:
                problems.append(f"labs/{lab_id}/{name} cell {grade_id!r} shows solution text: {leaked[0]!r}")
            if cell.cell_type == "code" and "raise NotImplementedError" not in released_cell.source:
                problems.append(f"labs/{lab_id}/{name} cell {grade_id!r} does not raise NotImplementedError")
    return problems


def _calls(source: str, name: str) -> list[str]:
    """The string arguments of every ``name("...")`` call in a cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)]


def grading_problems(lab_id: str) -> list[str]:
    """How the solution's autograded cells disagree with the checks the lab
    registers: one cell per check, ``grade_id`` = ``grading.grade_id(check)``,
    same points, calling ``require(<check id>)``, after a ``grade(<lab>)`` cell."""
    from checker.registry import get_lab

    checks = {grade_id(c.id): c for c in get_lab(lab_id).checks}
    problems: list[str] = []
    cells: dict[str, list[tuple[str, dict]]] = {}
    graded_at = None
    for name, nb in _notebooks(solutions_dir() / lab_id).items():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if lab_id in _calls(cell.source, "grade") and graded_at is None:
                graded_at = (name, i)
            meta = _nbgrader(cell)
            if not meta.get("grade") or meta.get("solution"):
                continue
            gid = meta.get("grade_id", "")
            where = f"solutions/{lab_id}/{name} cell {i} ({gid})"
            cells.setdefault(gid, []).append((where, meta))
            if _calls(cell.source, "require") != [check_id(gid)]:
                problems.append(f"{where} should call require({check_id(gid)!r}) and nothing else")
            if graded_at is None or graded_at[0] != name:
                problems.append(f"{where} comes before the cell that calls grade({lab_id!r})")
    for gid, check in checks.items():
        found = cells.get(gid, [])
        if len(found) != 1:
            problems.append(f"check {check.id} needs exactly one autograded cell with grade_id {gid!r}, "
                            f"found {len(found)}")
        for where, meta in found:
            if meta.get("points") != check.points:
                problems.append(f"{where}: {meta.get('points')} points, but check {check.id} is worth "
                                f"{check.points}")
    for gid, found in cells.items():
        if gid not in checks:
            problems.append(f"{found[0][0]}: autograded cell is no check of lab {lab_id} "
                            f"(its checks' grade ids: {', '.join(sorted(checks))})")
    if graded_at is None:
        problems.append(f"solutions/{lab_id} has no cell calling grade({lab_id!r})")
    return problems
