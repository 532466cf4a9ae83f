"""``workshop check LAB``: the checker's command-line view.
Exit 0 when every check passes, 1 when some fail, 2 when they cannot run."""

from __future__ import annotations

import json
import sys


def check_command(args) -> int:
    from checker.registry import get_lab
    from checker.report import render_table
    from checker.runner import CannotRun, run_lab
    from checker.session import target

    try:
        lab = get_lab(args.lab)
    except KeyError as exc:
        print(f"workshop check: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.step and args.step not in lab.steps():
        print(f"workshop check: lab {lab.id} has no step {args.step!r} (steps: {', '.join(lab.steps())})",
              file=sys.stderr)
        return 2
    try:
        where = target(endpoint=args.endpoint, account=args.account)
        result = run_lab(lab.id, where, step=args.step)
    except (CannotRun, LookupError) as exc:
        if args.json:
            print(json.dumps({"lab": lab.id, "error": str(exc)}))
        print(f"workshop check: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(json_view(result, args.all_hints), indent=2))
    else:
        print(render_table(result, all_hints=args.all_hints))
    return 0 if result.all_passed else 1


def json_view(result, all_hints: bool = False) -> dict:
    """The results as JSON. Hints come as the panel reveals them: the first hint of
    each failing check only (the last hint is the answer), unless ``all_hints``."""
    data = result.to_dict()
    if not all_hints:
        for check in data["results"]:
            check["hints"] = check["hints"][:1] if not check["passed"] else []
    return data
