"""`workshop dora`: the four DORA keys and the 2025 report's rework rate, computed
from a history of commits and production deployments (docs/dora.md defines each
figure), with the events each figure came from. The history is read from an
account through AWS APIs only (checker/session.py: it runs against real AWS too),
or from a team history file (`--history FILE`, lab 00's format)."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

PRODUCTION_TAG = ("workshop:environment", "production")
FAILED = {"Failed", "Stopped"}
REWORK_WINDOW = timedelta(hours=24)
DAY = 86400.0

# The 2024 Accelerate State of DevOps report's performance levels (its four clusters),
# best first; each figure is placed at the best level whose benchmark it meets.
LEVELS_2024 = {
    "deployment_frequency": [("elite", "on demand (several a day)", 1.0), ("high", "daily to weekly", 1 / 7),
                             ("medium", "weekly to monthly", 1 / 30), ("low", "monthly to every six months", 1 / 182)],
    "lead_time_for_changes": [("elite", "less than a day", 24.0), ("high", "a day to a week", 24.0 * 7),
                              ("medium", "a week to a month", 24.0 * 30), ("low", "a month to six months", 24.0 * 182)],
    "change_failure_rate": [("elite", "5%", 0.05), ("high", "20%", 0.20), ("medium", "10%", 0.10),
                            ("low", "40%", 0.40)],
    "time_to_restore": [("elite", "less than an hour", 1.0), ("high", "less than a day", 24.0),
                        ("medium", "less than a day", 24.0), ("low", "a week to a month", 24.0 * 30)],
}
HIGHER_IS_BETTER = {"deployment_frequency"}


@dataclass
class Commit:
    id: str
    committed: datetime
    parents: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class Deployment:
    id: str
    started: datetime
    finished: datetime | None
    status: str                      # Succeeded, Failed, Stopped, InProgress
    revision: str | None = None      # the commit id deployed, when known
    rolled_back: bool = False
    production: bool = True
    source: str = ""                 # where it was read: codedeploy:APP/GROUP, codepipeline:NAME, file
    restores_only: bool = False      # an automatic rollback: restores service, is not a change
    restores: str | None = None      # the failed deployment an automatic rollback answers

    @property
    def failed(self) -> bool:
        return self.status in FAILED or self.rolled_back

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded" and not self.rolled_back


@dataclass
class History:
    commits: dict[str, Commit]
    deployments: list[Deployment]
    start: datetime
    end: datetime
    team: str = ""
    production_rule: str = ""


# -- the figures ------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600.0, 2)


def _ancestors(history: History, commit_id: str | None) -> list[str]:
    """The commit and every commit it contains (its ancestors in the history)."""
    seen: list[str] = []
    stack = [commit_id] if commit_id else []
    while stack:
        current = stack.pop()
        if current in seen or current not in history.commits:
            continue
        seen.append(current)
        stack.extend(history.commits[current].parents)
    return seen


def level(metric: str, value: float | None) -> str | None:
    if value is None or metric not in LEVELS_2024:
        return None
    for name, _, bound in sorted(LEVELS_2024[metric], key=lambda lv: ["elite", "high", "medium", "low"].index(lv[0])):
        if (value >= bound) if metric in HIGHER_IS_BETTER else (value <= bound if metric == "change_failure_rate"
                                                                  else value < bound):
            return name
    return "below low"


def compute(history: History) -> dict[str, Any]:
    """The five figures with their events, as docs/dora.md defines them."""
    in_window = [d for d in history.deployments if d.production and d.finished is not None
                 and history.start <= d.finished <= history.end and d.status != "InProgress"]
    in_window.sort(key=lambda d: d.finished)
    changes = [d for d in in_window if not d.restores_only]
    days = (history.end - history.start).total_seconds() / DAY

    succeeded = [d for d in changes if d.succeeded]
    frequency = round(len(succeeded) / days, 4) if days > 0 else None

    failed = [d for d in changes if d.failed]
    failure_rate = round(len(failed) / len(changes), 4) if changes else None

    # Lead time: each commit to the end of the first succeeded production deployment containing it.
    first_deployed: dict[str, Deployment] = {}
    for deployment in sorted((d for d in history.deployments if d.production and d.succeeded
                              and d.finished is not None and not d.restores_only), key=lambda d: d.finished):
        for commit_id in _ancestors(history, deployment.revision):
            first_deployed.setdefault(commit_id, deployment)
    lead_events = []
    for commit_id, deployment in first_deployed.items():
        if not (history.start <= deployment.finished <= history.end):
            continue
        commit = history.commits[commit_id]
        lead_events.append({"commit": commit_id, "committed": _iso(commit.committed), "deployment": deployment.id,
                            "deployed": _iso(deployment.finished),
                            "hours": _hours(deployment.finished - commit.committed)})
    lead_events.sort(key=lambda e: e["committed"])
    lead_time = round(statistics.median(e["hours"] for e in lead_events), 2) if lead_events else None

    # Time to restore: each failed production deployment to the end of the next succeeded one.
    restorers = [d for d in in_window if d.succeeded]
    restore_events = []
    for failure in failed:
        # Its own rollback restores it (the cloud may stamp the two in either order), else the next success.
        fix = next((d for d in restorers if d.restores == failure.id), None) or \
            next((d for d in restorers if d.finished > failure.finished), None)
        if fix is None:
            restore_events.append({"failed_deployment": failure.id, "failed_at": _iso(failure.finished),
                                   "restored_by": None, "restored_at": None, "hours": None})
            continue
        restore_events.append({"failed_deployment": failure.id, "failed_at": _iso(failure.finished),
                               "restored_by": fix.id, "restored_at": _iso(fix.finished),
                               "hours": max(0.0, _hours(fix.finished - failure.finished))})
    restored = [e["hours"] for e in restore_events if e["hours"] is not None]
    restore = round(statistics.median(restored), 2) if restored else None

    # Rework: after a failed change, the deployments up to the first succeeded one, begun within 24 h.
    rework_events: dict[str, dict] = {}
    for failure in failed:
        for deployment in (d for d in changes if d.started >= failure.finished):
            if deployment.started - failure.finished > REWORK_WINDOW:
                break
            rework_events.setdefault(deployment.id, {"deployment": deployment.id, "started": _iso(deployment.started),
                                                     "after_failed": failure.id,
                                                     "hours_after": _hours(deployment.started - failure.finished)})
            if deployment.succeeded:
                break
    rework = round(len(rework_events) / len(changes), 4) if changes else None

    def listed(deployments):
        return [{"deployment": d.id, "source": d.source, "started": _iso(d.started), "finished": _iso(d.finished),
                 "status": d.status, "rolled_back": d.rolled_back, "revision": d.revision} for d in deployments]

    metrics = {
        "deployment_frequency": {"value": frequency, "unit": "succeeded production deployments per day",
                                 "per_week": round(frequency * 7, 2) if frequency is not None else None,
                                 "report": "DORA four keys (Accelerate, 2018)", "events": listed(succeeded)},
        "lead_time_for_changes": {"value": lead_time, "unit": "hours (median)",
                                  "report": "DORA four keys (Accelerate, 2018)", "events": lead_events},
        "change_failure_rate": {"value": failure_rate, "unit": "fraction of production deployments",
                                "failed": len(failed), "deployments": len(changes),
                                "report": "DORA four keys (Accelerate, 2018)", "events": listed(failed)},
        "time_to_restore": {"value": restore, "unit": "hours (median)",
                            "report": "DORA four keys (Accelerate, 2018; 'failed deployment recovery time' "
                                      "since the 2023 report)", "events": restore_events},
        "rework_rate": {"value": rework, "unit": "fraction of production deployments", "rework": len(rework_events),
                        "deployments": len(changes), "report": "DORA 2025 State of AI-assisted Software "
                                                               "Development (the fifth metric)",
                        "events": list(rework_events.values())},
    }
    for name, figure in metrics.items():
        figure["level_2024"] = level(name, figure["value"])
    return {
        "team": history.team,
        "window": {"start": _iso(history.start), "end": _iso(history.end), "days": round(days, 2)},
        "production": history.production_rule,
        "metrics": metrics,
        "levels_2024": {name: [{"level": lv, "benchmark": text} for lv, text, _ in rows]
                        for name, rows in LEVELS_2024.items()},
    }


# -- a team history file ------------------------------------------------------------

def _time(text: str) -> datetime:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def history_from_file(path: str) -> History:
    """Lab 00's format: {team, window: {start, end}, commits: [{id, committed, parents}],
    deployments: [{id, environment, started, finished, status, rolled_back, revision}]}."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    commits = {c["id"]: Commit(c["id"], _time(c["committed"]), list(c.get("parents") or []), c.get("message", ""))
               for c in data.get("commits") or []}
    deployments = [Deployment(d["id"], _time(d["started"]), _time(d["finished"]) if d.get("finished") else None,
                              d["status"], d.get("revision"), bool(d.get("rolled_back")),
                              d.get("environment", "production") == "production", "file")
                   for d in data.get("deployments") or []]
    window = data.get("window") or {}
    return History(commits, deployments, _time(window["start"]), _time(window["end"]), data.get("team", ""),
                   "deployments whose environment is production")


# -- an account, through AWS APIs ------------------------------------------------------

def _is_production(tags: list[dict] | dict | None) -> bool:
    if isinstance(tags, dict):
        return tags.get(PRODUCTION_TAG[0]) == PRODUCTION_TAG[1]
    return any((t.get("Key") or t.get("key")) == PRODUCTION_TAG[0] and (t.get("Value") or t.get("value"))
               == PRODUCTION_TAG[1] for t in tags or [])


def _pages(call, key: str, token_name: str = "nextToken", **params) -> list:
    items, token = [], None
    while True:
        page = call(**params, **({token_name: token} if token else {}))
        items.extend(page.get(key) or [])
        token = page.get(token_name)
        if not token:
            return items


def _codedeploy(session, since: datetime) -> list[tuple[Deployment, bool]]:
    cd = session.client("codedeploy")
    sts_account = session.client("sts").get_caller_identity()["Account"]
    region = cd.meta.region_name
    found = []
    for app in _pages(cd.list_applications, "applications"):
        for group in _pages(cd.list_deployment_groups, "deploymentGroups", applicationName=app):
            arn = f"arn:aws:codedeploy:{region}:{sts_account}:deploymentgroup:{app}/{group}"
            tagged = _is_production(cd.list_tags_for_resource(ResourceArn=arn).get("Tags"))
            ids = _pages(cd.list_deployments, "deployments", applicationName=app, deploymentGroupName=group,
                         createTimeRange={"start": since})
            for start in range(0, len(ids), 25):
                for info in cd.batch_get_deployments(deploymentIds=ids[start:start + 25]).get("deploymentsInfo", []):
                    if info.get("creator") == "CodePipeline":
                        continue   # counted once, as its pipeline's execution (which carries the commit)
                    revision = ((info.get("revision") or {}).get("gitHubLocation") or {}).get("commitId")
                    rollback = info.get("rollbackInfo") or {}
                    deployment = Deployment(
                        info["deploymentId"], info.get("createTime"), info.get("completeTime"),
                        info.get("status", "InProgress") if info.get("status") in ("Succeeded", "Failed", "Stopped")
                        else "InProgress", revision, bool(rollback.get("rollbackDeploymentId")), True,
                        f"codedeploy:{app}/{group}",
                        restores_only=bool(rollback.get("rollbackTriggeringDeploymentId"))
                        or info.get("creator") == "codeDeployRollback",
                        restores=rollback.get("rollbackTriggeringDeploymentId"))
                    found.append((deployment, tagged))
    return found


def _codepipeline(session, since: datetime) -> list[tuple[Deployment, bool]]:
    cp = session.client("codepipeline")
    found = []
    for pipeline in _pages(cp.list_pipelines, "pipelines"):
        name = pipeline["name"]
        arn = cp.get_pipeline(name=name)["metadata"]["pipelineArn"]
        tagged = _is_production(cp.list_tags_for_resource(resourceArn=arn).get("tags"))
        for summary in _pages(cp.list_pipeline_executions, "pipelineExecutionSummaries", pipelineName=name):
            started = summary.get("startTime")
            if started is None or started < since:
                continue
            status = summary.get("status")
            if status not in ("Succeeded", "Failed", "Stopped"):
                continue   # InProgress, Stopping, Superseded: not a finished deployment
            revisions = summary.get("sourceRevisions") or []
            trigger = (summary.get("trigger") or {}).get("triggerType")
            found.append((Deployment(summary["pipelineExecutionId"], started, summary.get("lastUpdateTime"), status,
                                     revisions[0].get("revisionId") if revisions else None,
                                     False, True, f"codepipeline:{name}",
                                     restores_only=trigger == "AutomatedRollback"), tagged))
    return found


def _codecommit(session, wanted: set[str]) -> dict[str, Commit]:
    cc = session.client("codecommit")
    commits: dict[str, Commit] = {}
    for repo in _pages(cc.list_repositories, "repositories"):
        name = repo["repositoryName"]
        heads = [cc.get_branch(repositoryName=name, branchName=b)["branch"]["commitId"]
                 for b in _pages(cc.list_branches, "branches", repositoryName=name)]
        stack = [c for c in heads]
        while stack and len(commits) < 5000:
            commit_id = stack.pop()
            if commit_id in commits:
                continue
            try:
                info = cc.get_commit(repositoryName=name, commitId=commit_id)["commit"]
            except cc.exceptions.ClientError:
                continue
            epoch = int(str((info.get("committer") or {}).get("date", "0")).split()[0])
            commits[commit_id] = Commit(commit_id, datetime.fromtimestamp(epoch, timezone.utc),
                                        list(info.get("parents") or []), info.get("message", ""))
            stack.extend(info.get("parents") or [])
    return commits


def history_from_account(session, since: datetime, until: datetime) -> History:
    """Deployments (CodeDeploy groups, CodePipeline pipelines) and commits (CodeCommit) of the
    session's account; production = tagged workshop:environment=production, else every one."""
    found = _codedeploy(session, since) + _codepipeline(session, since)
    any_tagged = any(tagged for _, tagged in found)
    deployments = []
    for deployment, tagged in found:
        deployment.production = tagged or not any_tagged
        deployments.append(deployment)
    revisions = {d.revision for d in deployments if d.revision}
    commits = _codecommit(session, revisions) if revisions else {}
    rule = ("deployment groups and pipelines tagged workshop:environment=production" if any_tagged
            else "every deployment (nothing is tagged workshop:environment=production)")
    return History(commits, deployments, since, until, production_rule=rule)


# -- the command ---------------------------------------------------------------------

def _since(text: str | None, now: datetime) -> datetime:
    if not text:
        return now - timedelta(days=30)
    if text[-1:] in ("d", "h") and text[:-1].isdigit():
        return now - (timedelta(days=int(text[:-1])) if text[-1] == "d" else timedelta(hours=int(text[:-1])))
    return _time(text)


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a (no events)"
    if unit == "fraction":
        return f"{value * 100:.1f}%"
    if unit == "per day":
        return f"{value:.3f} per day ({value * 7:.2f} per week)"
    return f"{value:.2f} h"


def render(report: dict[str, Any]) -> str:
    m = report["metrics"]
    window = report["window"]
    lines = [f"DORA metrics{' for ' + report['team'] if report['team'] else ''}: {window['start']} to "
             f"{window['end']} ({window['days']} days)", f"production: {report['production']}", ""]
    rows = [("Deployment frequency", "deployment_frequency", "per day"),
            ("Lead time for changes", "lead_time_for_changes", "hours"),
            ("Change failure rate", "change_failure_rate", "fraction"),
            ("Time to restore service", "time_to_restore", "hours"),
            ("Rework rate (2025)", "rework_rate", "fraction")]
    for title, key, unit in rows:
        figure = m[key]
        level_text = f"   2024 level: {figure['level_2024']}" if figure.get("level_2024") else ""
        lines.append(f"{title:<26} {_show(figure['value'], unit):<32}{level_text}   "
                     f"({len(figure['events'])} events)")
    lines += ["", "2024 report's levels (elite / high / medium / low):"]
    for key, rows_ in report["levels_2024"].items():
        lines.append(f"  {key:<24} " + " / ".join(r["benchmark"] for r in rows_))
    lines.append("\nEvery figure's events: workshop dora --json")
    return "\n".join(lines)


def dora_command(args) -> int:
    import sys

    now = datetime.now(timezone.utc)
    try:
        if args.history:
            history = history_from_file(args.history)
        else:
            from checker.session import session, target

            until = _time(args.until) if args.until else now
            history = history_from_account(session(target(args.endpoint, args.account)), _since(args.since, until),
                                           until)
    except (OSError, ValueError, KeyError) as exc:
        print(f"workshop dora: {exc}", file=sys.stderr)
        return 2
    report = compute(history)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0


def add_parser(sub, add_endpoint, add_account) -> None:
    p = sub.add_parser("dora", help="the four DORA metrics and rework rate of an account (or a team history file)")
    add_endpoint(p)
    add_account(p)
    p.add_argument("--since", help="start of the window: an ISO time, or 30d / 12h ago (default 30d)")
    p.add_argument("--until", help="end of the window (ISO time; default now)")
    p.add_argument("--history", metavar="FILE", help="compute from a team history file instead (lab 00's format)")
    p.add_argument("--json", action="store_true", help="the figures and their events as JSON")

