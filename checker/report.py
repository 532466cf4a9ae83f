"""The terminal view of a lab's results: a table of checks, then the next
thing to try. Plain text (no colour library) so that ``workshop check``
starts fast."""

from __future__ import annotations

import shutil
import textwrap

from checker.results import LabResult


def render_table(result: LabResult, all_hints: bool = False) -> str:
    """The table, then the first failing check's first hint (``all_hints``: all of its hints)."""
    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 120))
    lines = [f"{result.lab}: {result.title}",
             f"account {result.account} at {result.endpoint}", ""]
    id_width = max([len(r.id) for r in result.results] + [5])
    for r in result.results:
        mark = r.mark
        pts = "-" if r.skipped else f"{r.earned}/{r.points}"
        head = f"{mark}  {r.id:<{id_width}}  {pts:>5}  {r.title}"
        lines.append(head)
        if r.message:
            indent = " " * 6
            lines.extend(textwrap.wrap(r.message, width - len(indent),
                                       initial_indent=indent, subsequent_indent=indent))
    lines.append("")
    lines.append(f"score {result.score}/{result.total}: "
                 f"{sum(r.passed for r in result.results)} of {len(result.results)} checks pass")
    first = result.first_failure
    if first is not None:
        lines.append("")
        lines.append(f"Next: {first.title} ({first.id})")
        hints = (first.hints or [first.hint]) if all_hints else [first.hint]
        for number, hint in enumerate(hints, start=1):
            label = f"Hint {number}: " if len(hints) > 1 else "Hint: "
            lines.extend(textwrap.wrap(label + hint, width, subsequent_indent="      "))
        if first.docs:
            lines.append(f"Docs: {first.docs}")
    return "\n".join(lines)
