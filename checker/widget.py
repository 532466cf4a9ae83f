"""The "Check my work" panel: a button that runs a lab's checks (or one
step's) against the learner's own account and shows a table of results,
with the first failing check's hint, revealed one level at a time."""

from __future__ import annotations

import html

from checker.results import LabResult

_STYLE = (
    "<style>.ws-checks td,.ws-checks th{padding:4px 10px;text-align:left;vertical-align:top}"
    ".ws-pass{color:#1a7f37;font-weight:bold}.ws-fail{color:#cf222e;font-weight:bold}"
    ".ws-skip{color:#6e7781;font-weight:bold}"
    ".ws-hint{background:#fff8c5;padding:6px 10px;margin-top:6px;border-radius:4px}</style>"
)


def render_html(result: LabResult, hint_level: int = 0) -> str:
    """The results table as HTML; the first failure's hints up to ``hint_level``."""
    if result.error:
        return f'{_STYLE}<div class="ws-hint">Could not run the checks: {html.escape(result.error)}</div>'
    rows = []
    for r in result.results:
        mark = f'<span class="ws-{r.mark.lower()}">{r.mark}</span>'
        points = "not graded" if r.skipped else f"{r.earned}/{r.points}"
        rows.append(f"<tr><td>{mark}</td><td>{html.escape(r.title)}</td>"
                    f"<td>{points}</td><td>{html.escape(r.message)}</td></tr>")
    passed = sum(r.passed for r in result.results)
    parts = [_STYLE, '<table class="ws-checks"><tr><th>Result</th><th>Check</th><th>Points</th>'
             "<th>Details</th></tr>", *rows, "</table>",
             f"<p><b>{passed} of {len(result.results)} checks pass</b> "
             f"({result.score}/{result.total} points).</p>"]
    first = result.first_failure
    if first is not None:
        shown = first.hints[: hint_level + 1] or [first.hint]
        items = "".join(f"<li>{html.escape(h)}</li>" for h in shown)
        docs = f' <a href="{html.escape(first.docs)}" target="_blank">AWS docs</a>' if first.docs else ""
        parts.append(f'<div class="ws-hint"><b>Next: {html.escape(first.title)}</b>{docs}'
                     f"<ol>{items}</ol></div>")
    elif result.results:
        parts.append('<p class="ws-pass">All checks pass. Well done!</p>')
    return "".join(parts)


def check_my_work(lab_id: str, step: str | None = None):
    """The panel for a notebook cell: ``check_my_work("04-iac", step="deploy")``."""
    import ipywidgets as widgets

    label = "Check my work" if step is None else f"Check my work ({step})"
    button = widgets.Button(description=label, icon="check", button_style="primary",
                            layout=widgets.Layout(width="auto"))
    more = widgets.Button(description="Show another hint", icon="lightbulb-o",
                          layout=widgets.Layout(width="auto", display="none"))
    output = widgets.HTML(value="")
    state: dict = {"result": None, "level": 0}

    def show() -> None:
        result = state["result"]
        output.value = render_html(result, state["level"])
        first = result.first_failure if result.error is None else None
        more_left = first is not None and state["level"] + 1 < len(first.hints)
        more.layout.display = "" if more_left else "none"

    def run(_=None) -> None:
        button.disabled = True
        button.description = "Checking..."
        try:
            state["result"] = run_checks(lab_id, step)
            state["level"] = 0
            show()
        finally:
            button.disabled = False
            button.description = label

    def reveal(_=None) -> None:
        state["level"] += 1
        show()

    button.on_click(run)
    more.on_click(reveal)
    return widgets.VBox([widgets.HBox([button, more]), output])


def run_checks(lab_id: str, step: str | None = None) -> LabResult:
    """Run the checks for the panel; an unreachable cloud becomes a message, never a traceback."""
    from checker.registry import get_lab
    from checker.runner import CannotRun, run_lab
    from checker.session import target

    lab = get_lab(lab_id)
    where = target()
    try:
        return run_lab(lab_id, where, step=step)
    except (CannotRun, LookupError) as exc:
        return LabResult(lab=lab.id, title=lab.title, endpoint=where.endpoint or "aws",
                         account=None, error=str(exc))
