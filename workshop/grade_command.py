"""``workshop grade --roster ROSTER.csv``: the instructor's live view of a class.
Runs every lab's checks for every learner's account on the shared cloud with a
progress bar, writes report.html, report.csv and report.json, and prints a
summary. Exit 0 when the report is written, 1 when no learner's checks could
run (the cloud is down?), 2 on bad input."""

from __future__ import annotations

import sys
from pathlib import Path


def grade_command(args) -> int:
    from checker.registry import lab_ids as all_labs
    from workshop import class_report

    known = all_labs()
    labs = [lab.strip() for lab in (args.labs or "").split(",") if lab.strip()] or known
    unknown = [lab for lab in labs if lab not in known]
    if unknown:
        print(f"workshop grade: no lab {', '.join(unknown)} (labs: {', '.join(known)})", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("workshop grade: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        keys_path = class_report.keys_file(getattr(args, "keys", None), Path(args.roster))
        keys = class_report.issued_keys(keys_path) if keys_path else {}
        learners = class_report.read_roster(Path(args.roster), keys, _admin_token())
    except (OSError, ValueError) as exc:
        print(f"workshop grade: {exc}", file=sys.stderr)
        return 2
    if not learners:
        print(f"workshop grade: {args.roster} lists no learners", file=sys.stderr)
        return 2
    endpoint = _endpoint(args.endpoint)

    report = _run_with_progress(learners, labs, endpoint, args.workers)
    paths = report.write(Path(args.out))
    print(_summary(report))
    print(f"wrote {paths['html']}, {paths['csv'].name}, {paths['json'].name}")
    if all(row.error for row in report.rows):
        print("workshop grade: no learner's checks could run; see the 'error' column "
              "(is the cloud running at that endpoint?)", file=sys.stderr)
        return 1
    return 0


def _endpoint(given: str | None) -> str | None:
    import os

    from checker.session import DEFAULT_ENDPOINT, REAL_AWS

    endpoint = given or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
    return None if endpoint == REAL_AWS else endpoint.rstrip("/")


def _admin_token() -> str | None:
    """The cloud's admin token, if this machine has it: in class mode it signs for
    any account (a learner missing from the keys file); a laptop cloud ignores secrets."""
    from workshop import settings

    return settings.admin_token(settings.data_dir())


def _run_with_progress(learners, labs, endpoint, workers):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workshop.class_report import grade_class

    console = Console(stderr=True)
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task(f"checking {len(learners)} learners x {len(labs)} labs",
                            total=len(learners) * len(labs))
        return grade_class(learners, labs, endpoint, workers=workers,
                           progress=lambda learner, lab: bar.advance(task))


def _summary(report) -> str:
    learners, labs = len(report.rows), len(report.labs)
    lines = [f"{learners} learner{'s' * (learners != 1)}, {labs} lab{'s' * (labs != 1)}, "
             f"checked in {report.seconds:.1f} s"]
    failures = {f.lab: f for f in report.common_failures()}
    for lab in report.labs:
        ran = [row.labs[lab.id] for row in report.rows if not row.labs[lab.id].error]
        done = sum(result.all_passed for result in ran)
        mean = sum(result.score for result in ran) / len(ran) if ran else 0.0
        line = f"  {lab.id}: {done} of {len(ran)} learners done, mean {mean:.0f}/{lab.total}"
        if lab.id in failures:
            f = failures[lab.id]
            line += f"; most common failure: {f.check.title} ({f.failing} learners)"
        lines.append(line)
    errors = [row for row in report.rows if row.error]
    if errors:
        lines.append(f"  could not check {len(errors)} learner(s): "
                     + "; ".join(f"{row.learner} ({row.error})" for row in errors[:3])
                     + (" ..." if len(errors) > 3 else ""))
    return "\n".join(lines)
