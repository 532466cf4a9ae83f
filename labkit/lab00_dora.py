"""Lab 00-dora's helpers: the Checkout team's history file, `workshop dora`'s
figures from it (or from the learner's own account), the four figures drawn
week by week, saving the learner's answers where the checks read them (the lab
bucket), and the lab's reset."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from checker.labs import bucket_name
from checker.labs.lab00_dora import ANSWERS_KEY, BUCKET_PREFIX, LAB_ID
from labkit.reset import Cleanup, resetter

HISTORY = Path(__file__).with_name("data") / "team-history.json"

__all__ = ["LAB_ID", "HISTORY", "load_history", "figures", "plot", "save_answers", "reset"]


def load_history(path: str | Path = HISTORY) -> dict[str, Any]:
    """The history file as plain data (commits and deployments), to compute by hand from."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def figures(path: str | Path | None = HISTORY, since: str | None = None) -> dict[str, Any]:
    """`workshop dora --json`: from a history file, or (path=None) from the learner's own account."""
    from workshop import dora

    if path is not None:
        return dora.compute(dora.history_from_file(str(path)))
    from datetime import datetime, timezone

    from checker.session import session

    until = datetime.now(timezone.utc)
    return dora.compute(dora.history_from_account(session(), dora._since(since, until), until))


def plot(path: str | Path = HISTORY, days: int = 7):
    """The four keys over time, one point per `days` (matplotlib): each point is the
    figure computed over that period alone."""
    import matplotlib

    matplotlib.use("Agg") if not _in_notebook() else None
    import matplotlib.pyplot as plt

    from workshop import dora

    history = dora.history_from_file(str(path))
    points = []
    start = history.start
    while start < history.end:
        end = min(start + timedelta(days=days), history.end)
        part = dora.History(history.commits, history.deployments, start, end, history.team)
        points.append((start, dora.compute(part)["metrics"]))
        start = end
    panels = [("deployment_frequency", "Deployments per day", 1), ("lead_time_for_changes", "Lead time (h)", 1),
              ("change_failure_rate", "Change failure rate (%)", 100), ("time_to_restore", "Time to restore (h)", 1)]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    for ax, (key, title, scale) in zip(axes.flat, panels):
        xs = [when for when, m in points if m[key]["value"] is not None]
        ys = [m[key]["value"] * scale for _, m in points if m[key]["value"] is not None]
        ax.plot(xs, ys, marker="o")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{history.team or 'DORA'}: the four keys, {days}-day periods")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:
        return False


def save_answers(answers: dict[str, Any]) -> str:
    """Keep the learner's answers as JSON in the lab bucket (the checks read them there)."""
    from checker.session import client

    from labkit import account_id, lab_tag_map, region

    name = bucket_name(BUCKET_PREFIX, account_id(), region())
    s3 = client("s3")
    try:
        s3.create_bucket(Bucket=name)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                             for k, v in lab_tag_map(LAB_ID).items()]})
    s3.put_object(Bucket=name, Key=ANSWERS_KEY, Body=json.dumps(answers, indent=2).encode("utf-8"),
                  ContentType="application/json")
    return f"s3://{name}/{ANSWERS_KEY}"


@resetter(LAB_ID)
def reset(cleanup: Cleanup) -> None:
    name = bucket_name(BUCKET_PREFIX, cleanup.account, cleanup.region)
    if cleanup.bucket_exists(name):
        cleanup.empty_bucket(name)
    cleanup.delete_bucket(name)
