"""The live class report: every lab's checks run for every learner's account
on a shared cloud, concurrently (one session per learner, its clients reused
across labs), and three views of the results (HTML, CSV, JSON) built from the
checker's one results model, ``LabResult``."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from checker.results import CheckResult, LabResult

DEFAULT_REGION = "us-east-1"
# Learners' checks wait on the network, not the CPU: more threads than cores
# keep the cloud busy; more than this only queue inside its WSGI server.
DEFAULT_WORKERS = 16
CLASS_KEYS_ENV = "WORKSHOP_CLASS_KEYS"
CLASS_KEYS_FILE = "class-keys.json"  # where `workshop accounts` writes the keys, beside the roster


@dataclass(frozen=True)
class Learner:
    """One roster line: who, which account, and the keys that read it."""

    name: str
    account_id: str | None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    problem: str | None = None  # why this line cannot be checked (no account id, ...)

    def target(self, endpoint: str | None, region: str = DEFAULT_REGION):
        """Where this learner's checks read. Without issued keys, the account
        id is the access key (laptop mode, LocalStack's rule)."""
        from checker.session import Target

        return Target(endpoint, self.access_key_id or self.account_id or "",
                      self.secret_access_key or "test", region)


def read_roster(path: Path, keys: dict[str, tuple[str, str]] | None = None,
                secret: str | None = None) -> list[Learner]:
    """A roster CSV with ``learner`` and ``account_id`` columns (what
    ``workshop accounts`` writes). ``keys`` maps an account id to its issued
    (access key id, secret); ``secret`` signs for the others (the admin token,
    which the cloud in class mode accepts for any account). A line without a
    usable account id is kept, with the reason, so that the report shows it
    instead of failing the run."""
    from workshop.accounts_command import RosterError
    from workshop.accounts_command import read_roster as read_rows  # the one roster reader
    from workshop.cloud.accounts import is_account_id

    try:
        _, rows = read_rows(Path(path))
    except RosterError as exc:
        raise ValueError(str(exc)) from None
    learners: list[Learner] = []
    for row in rows:
        name = row["learner"]
        account = row.get("account_id") or None
        problem = None
        if account is None:
            problem = "no account_id in the roster (run `workshop accounts ROSTER.csv`)"
        elif not is_account_id(account):
            problem = f"account_id {account!r} is not a 12-digit account id"
        key, key_secret = (keys or {}).get(account or "", (None, secret))
        learners.append(Learner(name, account, key, key_secret, problem))
    return learners


def keys_file(given: str | None, roster: Path) -> Path | None:
    """The class's issued keys: ``given``, else $WORKSHOP_CLASS_KEYS, else the
    ``class-keys.json`` that ``workshop accounts`` writes beside the roster;
    None on a laptop (no keys issued)."""
    import os

    if given:
        return Path(given)
    if os.environ.get(CLASS_KEYS_ENV):
        return Path(os.environ[CLASS_KEYS_ENV])
    beside = Path(roster).resolve().with_name(CLASS_KEYS_FILE)
    return beside if beside.exists() else None


def issued_keys(path: Path) -> dict[str, tuple[str, str]]:
    """Account id -> (access key id, secret) from the keys file of ``workshop accounts``."""
    from workshop.cloud.class_mode import ClassKeys, ClassKeysError

    try:
        keys = ClassKeys.load(path)
    except ClassKeysError as exc:
        raise ValueError(str(exc)) from None
    return {k.account_id: (k.access_key_id, k.secret_access_key) for k in keys.learners.values()}


# -- running the checks ---------------------------------------------------------

@dataclass
class LearnerRow:
    """One learner's results: a ``LabResult`` per lab, in the report's lab order."""

    learner: str
    account_id: str | None
    labs: dict[str, LabResult] = field(default_factory=dict)

    @property
    def score(self) -> int:
        return sum(r.score for r in self.labs.values())

    @property
    def error(self) -> str | None:
        """Why (some of) this learner's checks could not run, if they could not."""
        errors = list(dict.fromkeys(r.error for r in self.labs.values() if r.error))
        return "; ".join(errors) or None


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    points: int
    hint: str
    docs: str


@dataclass(frozen=True)
class LabInfo:
    id: str
    title: str
    checks: tuple[CheckInfo, ...]

    @property
    def total(self) -> int:
        return sum(c.points for c in self.checks)

    @classmethod
    def of(cls, lab_id: str) -> "LabInfo":
        from checker.registry import get_lab

        lab = get_lab(lab_id)
        return cls(lab.id, lab.title, tuple(CheckInfo(c.id, c.title, c.points, c.hints[0], c.docs)
                                            for c in lab.checks))


@dataclass(frozen=True)
class CommonFailure:
    """The check that fails for the most learners of a lab, and its first hint."""

    lab: str
    check: CheckInfo
    failing: int  # learners whose check ran and failed
    checked: int  # learners whose checks ran at all


@dataclass
class ClassReport:
    endpoint: str
    labs: list[LabInfo]
    rows: list[LearnerRow]
    generated_at: str = ""
    seconds: float = 0.0

    @property
    def max_score(self) -> int:
        return sum(lab.total for lab in self.labs)

    def common_failures(self) -> list[CommonFailure]:
        """Per lab, the most common failing check (ties: the earlier check); none
        for a lab that every checked learner passes."""
        out = []
        for lab in self.labs:
            ran = [row.labs[lab.id] for row in self.rows
                   if lab.id in row.labs and row.labs[lab.id].error is None]
            fails = Counter(r.id for result in ran for r in result.results if not r.passed and not r.skipped)
            if not fails:
                continue
            order = {c.id: i for i, c in enumerate(lab.checks)}
            worst = min(fails, key=lambda cid: (-fails[cid], order.get(cid, len(order))))
            check = next(c for c in lab.checks if c.id == worst)
            out.append(CommonFailure(lab.id, check, fails[worst], len(ran)))
        return out

    # -- views ------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "generated_at": self.generated_at,
            "seconds": round(self.seconds, 3),
            "labs": [{"id": lab.id, "title": lab.title, "total": lab.total,
                      "checks": [c.__dict__ for c in lab.checks]} for lab in self.labs],
            "learners": [{"learner": row.learner, "account_id": row.account_id, "score": row.score,
                          "max_score": self.max_score, "error": row.error,
                          "labs": {lab_id: r.to_dict() for lab_id, r in row.labs.items()}}
                         for row in self.rows],
            "most_common_failures": [{"lab": f.lab, "check": f.check.id, "title": f.check.title,
                                      "hint": f.check.hint, "failing": f.failing, "checked": f.checked}
                                     for f in self.common_failures()],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        """One row per learner: points earned per check (empty when the check
        could not run), each lab's total, the overall score and the reason for
        any check that could not run."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["learner", "account_id"]
        for lab in self.labs:
            header += [c.id for c in lab.checks] + [f"{lab.id} total"]
        writer.writerow(header + ["score", "max_score", "error"])
        for row in self.rows:
            line: list = [row.learner, row.account_id or ""]
            for lab in self.labs:
                result = row.labs.get(lab.id)
                earned = {r.id: r.earned for r in result.results} if result else {}
                line += [earned.get(c.id, "") for c in lab.checks]
                line.append("" if result is None or result.error else result.score)
            writer.writerow(line + [row.score, self.max_score, row.error or ""])
        return buffer.getvalue()

    def to_html(self) -> str:
        return _render_html(self)

    def write(self, out: Path) -> dict[str, Path]:
        out.mkdir(parents=True, exist_ok=True)
        paths = {"html": out / "report.html", "csv": out / "report.csv", "json": out / "report.json"}
        paths["html"].write_text(self.to_html(), encoding="utf-8")
        paths["csv"].write_text(self.to_csv(), encoding="utf-8")
        paths["json"].write_text(self.to_json(), encoding="utf-8")
        return paths

    @classmethod
    def from_dict(cls, data: dict) -> "ClassReport":
        labs = [LabInfo(lab["id"], lab["title"], tuple(CheckInfo(**c) for c in lab["checks"]))
                for lab in data["labs"]]
        rows = [LearnerRow(r["learner"], r.get("account_id"),
                           {lab_id: LabResult.from_dict(d) for lab_id, d in r["labs"].items()})
                for r in data["learners"]]
        return cls(data["endpoint"], labs, rows, data.get("generated_at", ""), data.get("seconds", 0.0))


def check_learner(learner: Learner, labs: list[LabInfo], endpoint: str | None,
                  region: str = DEFAULT_REGION, done: Callable[[str, str], None] | None = None) -> LearnerRow:
    """Run every lab's checks against one learner's account with one session
    (its clients made once, reused by every lab). Never raises: a lab whose
    checks cannot run gets a ``LabResult`` with the reason in ``error``."""
    from checker.runner import CannotRun, run_lab
    from checker.session import session

    row = LearnerRow(learner.name, learner.account_id)
    sess = None if learner.problem else session(learner.target(endpoint, region))
    stop: str | None = learner.problem
    for lab in labs:
        if stop is None:
            try:
                result = run_lab(lab.id, sess=sess)
                if result.account != learner.account_id:
                    # The keys answer for another account: a wrong roster line,
                    # or keys issued to someone else. Never report their work.
                    stop = (f"the keys for {learner.account_id} act as account {result.account}: "
                            "check the roster and the issued keys")
            except CannotRun as exc:
                stop = str(exc)
            except Exception as exc:  # one learner's surprise must not stop the class report
                stop = f"the checks failed to run ({type(exc).__name__}: {exc})"
        if stop is not None:
            result = LabResult(lab=lab.id, title=lab.title, endpoint=endpoint or "aws",
                               account=learner.account_id, error=stop)
        row.labs[lab.id] = result
        if done is not None:
            done(learner.name, lab.id)
    return row


def _grader_processes(learners: int) -> int:
    """How many grader processes: one per core for a class (WORKSHOP_GRADE_PROCESSES overrides)."""
    wanted = os.environ.get("WORKSHOP_GRADE_PROCESSES")
    cores = int(wanted) if wanted and wanted.isdigit() else (os.cpu_count() or 1)
    return max(1, min(cores, learners // 10))


def _grade_rows(learners: list[Learner], labs: list[LabInfo], endpoint: str | None, region: str, workers: int,
                done: Callable[[str, str], None] | None = None) -> list[LearnerRow]:
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="grade") as pool:
        return list(pool.map(lambda learner: check_learner(learner, labs, endpoint, region, done), learners))


def grade_class(learners: Iterable[Learner], lab_ids: Iterable[str], endpoint: str | None,
                region: str = DEFAULT_REGION, workers: int = DEFAULT_WORKERS,
                progress: Callable[[str, str], None] | None = None) -> ClassReport:
    """Every lab's checks for every learner, ``workers`` learners at a time.
    ``progress(learner, lab)`` is called (from worker threads, one at a time)
    as each learner's lab finishes. Rows keep the roster's order."""
    learners = list(learners)
    labs = [LabInfo.of(lab_id) for lab_id in lab_ids]
    started = time.perf_counter()
    lock = threading.Lock()

    def done(name: str, lab_id: str) -> None:
        if progress is not None:
            with lock:
                progress(name, lab_id)

    processes = _grader_processes(len(learners))
    if processes > 1:
        # The checker's own work (botocore's parsing, the checks) took more CPU than the cloud's:
        # one grader process per core, each with its share of the learners and of the threads.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        chunks = [learners[i::processes] for i in range(processes)]
        threads = max(1, workers // processes)
        with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_grade_rows, chunk, labs, endpoint, region, threads) for chunk in chunks]
            by_index: dict[int, LearnerRow] = {}
            for i, future in enumerate(futures):
                for j, row in enumerate(future.result()):
                    by_index[j * processes + i] = row
                    for lab in labs:
                        done(row.learner, lab.id)
        rows = [by_index[k] for k in range(len(learners))]
    else:
        rows = _grade_rows(learners, labs, endpoint, region, workers, done)
    return ClassReport(endpoint or "aws", labs, rows,
                       datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       time.perf_counter() - started)


# -- the HTML view --------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1f2328}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:28px}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:center;vertical-align:top}
th.name,td.name{text-align:left;white-space:nowrap}
th.check{writing-mode:vertical-rl;transform:rotate(180deg);max-height:16em;font-weight:normal}
td.pass{background:#dafbe1;color:#1a7f37}td.fail{background:#ffebe9;color:#cf222e}
td.none{background:#f6f8fa;color:#57606a}td.total{font-weight:bold}
td.error{text-align:left;color:#9a6700;background:#fff8c5}
tr.rate td{font-style:italic;background:#f6f8fa}
.hint{background:#fff8c5;padding:8px 12px;border-radius:4px;margin:6px 0}
.meta{color:#57606a}
"""


def _render_html(report: ClassReport) -> str:
    e = html.escape
    n = len(report.rows)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             "<title>Class report</title>", f"<style>{_STYLE}</style></head><body>",
             "<h1>Class report</h1>",
             f"<p class='meta'>{n} learner{'s' if n != 1 else ''}, labs {e(', '.join(l.id for l in report.labs))}; "
             f"endpoint {e(report.endpoint)}; generated {e(report.generated_at)} "
             f"in {report.seconds:.1f} s.</p>"]

    parts.append("<h2>Most common failing checks</h2>")
    failures = report.common_failures()
    if not failures:
        parts.append("<p>No check fails for any learner whose checks ran.</p>")
    for f in failures:
        docs = f' <a href="{e(f.check.docs)}">AWS docs</a>' if f.check.docs else ""
        parts.append(f"<div class='hint'><b>{e(f.lab)}: {e(f.check.title)}</b> ({e(f.check.id)}) fails for "
                     f"{f.failing} of {f.checked} learners.<br>Hint: {e(f.check.hint)}{docs}</div>")

    parts.append("<h2>Learners by checks</h2><table><thead><tr><th class='name' rowspan='2'>Learner</th>"
                 "<th class='name' rowspan='2'>Account</th>")
    for lab in report.labs:
        parts.append(f"<th colspan='{len(lab.checks) + 1}' title='{e(lab.title)}'>{e(lab.id)}</th>")
    parts.append("<th rowspan='2'>Score</th><th rowspan='2' class='name'>Could not run</th></tr><tr>")
    for lab in report.labs:
        parts += [f"<th class='check' title='{e(c.id)}'>{e(c.title)}</th>" for c in lab.checks]
        parts.append(f"<th>total /{lab.total}</th>")
    parts.append("</tr></thead><tbody>")
    for row in report.rows:
        parts.append(f"<tr><td class='name'>{e(row.learner)}</td><td class='name'>{e(row.account_id or '')}</td>")
        for lab in report.labs:
            result = row.labs.get(lab.id)
            by_id: dict[str, CheckResult] = {r.id: r for r in result.results} if result else {}
            for c in lab.checks:
                r = by_id.get(c.id)
                if r is None:
                    parts.append("<td class='none' title='did not run'>&middot;</td>")
                else:
                    mark, cls = (("&#10003;", "pass") if r.passed else ("&ndash;", "none") if r.skipped
                                 else ("&#10007;", "fail"))
                    parts.append(f"<td class='{cls}' title='{e(c.title)}: {e(r.message)}'>{mark}</td>")
            score = "&ndash;" if result is None or result.error else str(result.score)
            parts.append(f"<td class='total'>{score}</td>")
        parts.append(f"<td class='total'>{row.score}/{report.max_score}</td>")
        parts.append(f"<td class='error'>{e(row.error)}</td>" if row.error else "<td></td>")
        parts.append("</tr>")
    parts.append("<tr class='rate'><td class='name' colspan='2'>passing</td>")
    for lab in report.labs:
        ran = [row.labs[lab.id] for row in report.rows if lab.id in row.labs and not row.labs[lab.id].error]
        for c in lab.checks:
            passing = sum(1 for result in ran for r in result.results if r.id == c.id and r.passed)
            parts.append(f"<td title='{e(c.title)}'>{passing}/{len(ran)}</td>")
        full = sum(1 for result in ran if result.all_passed)
        parts.append(f"<td title='learners with every check of {e(lab.id)}'>{full}/{len(ran)}</td>")
    parts.append("<td></td><td></td></tr></tbody></table>")
    parts.append("<p class='meta'>&#10003; passed, &#10007; failed (hover for the checker's message), "
                 "&middot; could not run.</p></body></html>")
    return "".join(parts)
