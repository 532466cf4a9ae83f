"""``workshop course ...``: the instructor's nbgrader workflow over a course
directory: release the labs, collect submissions, autograde each one in the
learner's own account reset first (the checker's results give the points),
feedback without hidden tests, and the grades as CSV. Built on
``workshop.grading.Course``; nbgrader is imported only when a command runs."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

DEFAULT_COURSE = "course"


def add_parser(sub) -> None:
    """The ``course`` sub-command and its own sub-commands, for ``workshop.cli``."""
    course = sub.add_parser("course", help="instructors: release, collect, autograde, feedback and export "
                            "grades with nbgrader")
    steps = course.add_subparsers(dest="course_command", metavar="STEP", required=True)

    def step(name: str, help: str) -> argparse.ArgumentParser:
        p = steps.add_parser(name, help=help)
        p.add_argument("--course", default=DEFAULT_COURSE,
                       help="the nbgrader course directory (default ./%(default)s)")
        return p

    p = step("release", "make the learners' version of labs (source/LAB from solutions/ unless the course "
                        "has it) and, with --exchange, release them to nbgrader's exchange")
    p.add_argument("labs", nargs="+", metavar="LAB", help="lab ids, e.g. 04-iac")
    p.add_argument("--exchange", help="nbgrader's exchange directory (as in c.Exchange.root)")
    p.add_argument("--refresh-source", action="store_true",
                   help="copy source/LAB from solutions/ again, replacing the course's copy")

    p = step("collect", "gather submissions into submitted/LEARNER/LAB")
    p.add_argument("lab", metavar="LAB")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--exchange", help="collect what learners submitted to nbgrader's exchange")
    where.add_argument("--from", dest="from_", metavar="TEMPLATE",
                       help="collect each roster learner's folder, e.g. '/home/{learner}/labs/{lab}'")
    p.add_argument("--roster", help="the roster (needed with --from)")

    p = step("autograde", "grade each submission in the learner's own account, reset first")
    p.add_argument("lab", metavar="LAB")
    p.add_argument("--roster", required=True, help="CSV with 'learner' and 'account_id' columns")
    p.add_argument("--keys", help="class mode: the keys `workshop accounts` issued (default: "
                                  "$WORKSHOP_CLASS_KEYS, else class-keys.json beside the roster if it exists)")
    p.add_argument("--student", action="append", help="only this learner (repeatable)")
    p.add_argument("--endpoint", help="the cloud (default: $AWS_ENDPOINT_URL, else http://localhost:4566)")
    p.add_argument("--data-dir", help="the cloud's data dir, for its admin token "
                                      "(default: $WORKSHOP_ADMIN_TOKEN, else ~/.workshop)")

    p = step("feedback", "write feedback/LEARNER/LAB/*.html: each check's title, result and hint, "
                         "never hidden tests")
    p.add_argument("lab", metavar="LAB")
    p.add_argument("--student", help="only this learner")

    p = step("export", "write the gradebook as CSV (nbgrader's export)")
    p.add_argument("--to", default="grades.csv", help="the CSV file (default %(default)s)")
    p.add_argument("--labs", help="comma-separated lab ids (default: all)")


def course_command(args) -> int:
    from workshop.grading import Course, GradingError

    course = Course(Path(args.course).resolve())
    handler = {"release": _release, "collect": _collect, "autograde": _autograde,
               "feedback": _feedback, "export": _export}[args.course_command]
    try:
        return handler(course, args)
    except (GradingError, OSError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"workshop course {args.course_command}: {message}", file=sys.stderr)
        return 1


def _known_lab(lab_id: str) -> None:
    from workshop.labtools import solution_labs

    if lab_id not in solution_labs():
        raise ValueError(f"no lab {lab_id!r} (labs: {', '.join(solution_labs())})")


def _release(course, args) -> int:
    from workshop.grading import Course

    for lab_id in args.labs:
        _known_lab(lab_id)
    for lab_id in args.labs:
        source = course.path("source", lab_id)
        if args.refresh_source or not source.is_dir():
            Course.create(course.root, [lab_id])
            print(f"{lab_id}: source/{lab_id} from solutions/{lab_id}; released to {course.path('release', lab_id)}")
        else:
            course.release(lab_id)
            print(f"{lab_id}: released the course's own source/{lab_id} to {course.path('release', lab_id)}")
        if args.exchange:
            where = course.release_to_exchange(lab_id, Path(args.exchange))
            print(f"{lab_id}: in the exchange at {where}")
    return 0


def _collect(course, args) -> int:
    if args.exchange:
        students = course.collect_from_exchange(args.lab, Path(args.exchange))
        print(f"{args.lab}: {len(students)} submission(s) in {course.path('submitted')}: {', '.join(students)}")
        return 0
    if not args.roster:
        raise ValueError("--from needs --roster (whose folders to collect)")
    collected, missing = [], []
    for learner in _roster(args.roster):
        folder = Path(args.from_.format(learner=learner.name, lab=args.lab)).expanduser()
        if not any(folder.glob("*.ipynb")):
            missing.append(learner.name)
            continue
        # The submission's time is when the learner last saved it, not when it was collected.
        saved = max(p.stat().st_mtime for p in folder.rglob("*") if p.is_file())
        course.submit(args.lab, learner.name, folder, datetime.fromtimestamp(saved, timezone.utc))
        collected.append(learner.name)
    print(f"{args.lab}: collected {len(collected)} submission(s) into {course.path('submitted')}")
    if missing:
        print(f"{args.lab}: nothing to collect for {', '.join(missing)}")
    return 0


def _autograde(course, args) -> int:
    from checker.session import DEFAULT_ENDPOINT
    from workshop import settings
    from workshop.grading import GradingError, reset_account

    endpoint = (args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT).rstrip("/")
    token = settings.admin_token(settings.data_dir(args.data_dir))
    if not token:
        raise ValueError("autograde resets each learner's account and needs the cloud's admin token: "
                         "set WORKSHOP_ADMIN_TOKEN, or --data-dir of the cloud")
    keys_path = _keys_path(args)
    learners = {learner.name: learner for learner in _roster(args.roster)}
    students = args.student or course.submissions(args.lab)
    if not students:
        print(f"{args.lab}: no submissions in {course.path('submitted')} (collect them first)", file=sys.stderr)
        return 1
    failed = []
    for student in students:
        learner = learners.get(student)
        try:
            if learner is None:
                raise GradingError(f"{student} is not in the roster {args.roster}")
            if learner.problem:
                raise GradingError(f"{student}: {learner.problem}")
            env = _learner_env(learner, endpoint, keys_path)
            # A fresh account for every submission: what the grade counts is what this
            # notebook builds, never what was there before.
            reset_account(endpoint, env["WORKSHOP_ACCOUNT"], token)
            _can_act(env)
            grades = course.autograde(args.lab, student, env)
        except GradingError as exc:
            failed.append(student)
            print(f"{student}: not graded: {exc}", file=sys.stderr)
            continue
        score, total = sum(g.score for g in grades), sum(g.max_score for g in grades)
        print(f"{student}: {score:g}/{total:g} (account {env['WORKSHOP_ACCOUNT']}, reset before grading)")
    return 1 if failed else 0


def _feedback(course, args) -> int:
    paths = course.feedback(args.lab, args.student)
    for path in paths:
        print(path)
    if not paths:
        print(f"{args.lab}: no autograded submissions to give feedback on", file=sys.stderr)
        return 1
    return 0


def _export(course, args) -> int:
    labs = [lab.strip() for lab in (args.labs or "").split(",") if lab.strip()]
    path = course.export(Path(args.to).resolve(), labs)
    print(f"wrote {path}")
    return 0


# -- learners, keys and their environment -------------------------------------------------

def _roster(path: str):
    from workshop.class_report import read_roster

    return read_roster(Path(path))


def _keys_path(args) -> Path | None:
    from workshop.class_report import keys_file

    return keys_file(args.keys, Path(args.roster))


def _can_act(env: dict[str, str]) -> None:
    """The learner's key must work before their notebook runs: a refused key would
    only show as zero points (every check 'could not run')."""
    from checker.runner import CannotRun, identify
    from checker.session import Target, session
    from workshop.grading import GradingError

    where = Target(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                   env.get("AWS_DEFAULT_REGION", "us-east-1"))
    try:
        account = identify(session(where))
    except CannotRun as exc:
        raise GradingError(f"the learner's key does not work ({exc}); in class mode, pass --keys") from None
    if account != env["WORKSHOP_ACCOUNT"]:
        raise GradingError(f"the learner's key acts as account {account}, not {env['WORKSHOP_ACCOUNT']}")


def _learner_env(learner, endpoint: str, keys_path: Path | None) -> dict[str, str]:
    """What the grading kernel gets: the learner's own key and nothing of the
    instructor's (a submission is the learner's code)."""
    if keys_path is not None:
        from workshop.cloud.class_mode import learner_env

        return learner_env(keys_path, learner.name, endpoint)
    region = "us-east-1"
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": learner.account_id,
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
            "WORKSHOP_ACCOUNT": learner.account_id}
