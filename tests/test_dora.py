"""`workshop dora` against a known history built in an account (CodeCommit commits
with known committer times, a production pipeline's executions succeeded and
failed, a production CodeDeploy group's deployments succeeded, failed, stopped
and rolled back; an untagged pipeline ignored): `--json` gives exactly the five
figures docs/dora.md defines; `--history` on lab 00's file gives the lab's key."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.test_codedeploy_lambda import appspec, finished, two_versions, wait_for, weights
from tests.test_codepipeline_executions import (
    Repo,
    approval_stage,
    approval_token,
    approve,
    artifact_bucket,
    codecommit_source,
    create_pipeline,
    executions,
    new_execution,
    pipeline_role,
    wait_execution,
)

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = [{"key": "workshop:environment", "value": "production"}]


def dora(cloud, account: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "workshop", "dora", "--json", *args], cwd=ROOT,
                         env=cloud.env(account), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def hours(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() / 3600, 2)


def test_lab_history_file_gives_the_labs_key():
    from checker.labs.lab00_dora import KEY

    out = subprocess.run([sys.executable, "-m", "workshop", "dora", "--json", "--history",
                          str(ROOT / "labkit" / "data" / "team-history.json")], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    figures = {k: v["value"] for k, v in json.loads(out.stdout)["metrics"].items()}
    assert figures == {"deployment_frequency": KEY["deployment_frequency_per_day"],
                       "lead_time_for_changes": KEY["lead_time_hours"],
                       "change_failure_rate": KEY["change_failure_rate"],
                       "time_to_restore": KEY["time_to_restore_hours"],
                       "rework_rate": KEY["rework_rate"]}


def test_a_known_history_in_an_account_gives_exactly_the_defined_figures(cloud, account, tmp_path):
    since = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    iam, s3, cc, cp = (cloud.client(s, account) for s in ("iam", "s3", "codecommit", "codepipeline"))
    repo = Repo(cc, account, tmp_path, name="shop")
    committed = {}

    def commit(name: str, hours_ago: float) -> str:
        when = since - timedelta(hours=hours_ago)
        repo.env.update(GIT_COMMITTER_DATE=when.isoformat(), GIT_AUTHOR_DATE=when.isoformat())
        commit_id = repo.commit({f"{name}.txt": name}, name)
        committed[commit_id] = when
        return commit_id

    # Pipeline "release", production: E1 (c1, c2) approved, E2 (c3) rejected, E3 (c4) approved.
    c1, c2 = commit("c1", 72), commit("c2", 48)
    repo.push()
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    cp.create_pipeline(pipeline={"name": "release", "roleArn": role, "artifactStore": {"type": "S3", "location": bucket},
                                 "stages": [codecommit_source("shop"), approval_stage()]}, tags=PRODUCTION)
    e1 = executions(cp, "release")[0]["pipelineExecutionId"]
    approve(cp, "release", approval_token(cp, "release"))
    assert wait_execution(cp, "release", e1)["status"] == "Succeeded"
    c3 = commit("c3", 24)
    repo.push()
    e2 = new_execution(cp, "release", {e1})["pipelineExecutionId"]
    approve(cp, "release", approval_token(cp, "release"), status="Rejected")
    assert wait_execution(cp, "release", e2)["status"] == "Failed"
    c4 = commit("c4", 2)
    repo.push()
    e3 = new_execution(cp, "release", {e1, e2})["pipelineExecutionId"]
    approve(cp, "release", approval_token(cp, "release"))
    assert wait_execution(cp, "release", e3)["status"] == "Succeeded"
    # An untagged pipeline's successes are not production deployments.
    create_pipeline(cp, "sandbox", role, bucket, [codecommit_source("shop"), approval_stage()])
    sandbox = executions(cp, "sandbox")[0]["pipelineExecutionId"]
    approve(cp, "sandbox", approval_token(cp, "sandbox"))
    assert wait_execution(cp, "sandbox", sandbox)["status"] == "Succeeded"

    # CodeDeploy group "live", production: D1 succeeded, D2 stopped and rolled back (R), D3 failed.
    client = two_versions(cloud, account, "basket")
    cd = cloud.client("codedeploy", account)
    cd.create_application(applicationName="shop", computePlatform="Lambda")
    for group, config in (("live", "CodeDeployDefault.LambdaAllAtOnce"),
                          ("canary", "CodeDeployDefault.LambdaCanary10Percent30Minutes")):
        cd.create_deployment_group(applicationName="shop", deploymentGroupName=group, deploymentConfigName=config,
                                   serviceRoleArn=f"arn:aws:iam::{account}:role/codedeploy",
                                   tags=[{"Key": "workshop:environment", "Value": "production"}])
    d1 = cd.create_deployment(applicationName="shop", deploymentGroupName="live",
                              revision=appspec("basket"))["deploymentId"]
    assert finished(cd, d1)["status"] == "Succeeded"
    d2 = cd.create_deployment(applicationName="shop", deploymentGroupName="canary",
                              revision=appspec("basket", current="2", target="1"))["deploymentId"]
    wait_for(lambda: weights(client, "basket") == {"1": 0.1})
    cd.stop_deployment(deploymentId=d2, autoRollbackEnabled=True)
    info = finished(cd, d2)
    assert info["status"] == "Stopped"
    rollback = finished(cd, info["rollbackInfo"]["rollbackDeploymentId"])
    assert rollback["status"] == "Succeeded"
    d3 = cd.create_deployment(applicationName="shop", deploymentGroupName="live",
                              revision=appspec("basket", current="1", target="2"))["deploymentId"]
    assert finished(cd, d3)["status"] == "Failed"   # the alias is on version 2, not 1
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)

    report = dora(cloud, account, "--since", since.isoformat(), "--until", until.isoformat())
    m = report["metrics"]

    # The definitions (docs/dora.md), applied to what the APIs say happened.
    ends = {e["pipelineExecutionId"]: e["lastUpdateTime"] for e in cp.list_pipeline_executions(
        pipelineName="release")["pipelineExecutionSummaries"]}
    starts = {e["pipelineExecutionId"]: e["startTime"] for e in cp.list_pipeline_executions(
        pipelineName="release")["pipelineExecutionSummaries"]}
    dep = {d: cd.get_deployment(deploymentId=d)["deploymentInfo"] for d in (d1, d2, d3, rollback["deploymentId"])}
    days = (until - since).total_seconds() / 86400
    changes = 6                                  # E1 E2 E3 D1 D2 D3 (the rollback restores, it is no change)
    assert m["deployment_frequency"]["value"] == round(3 / days, 4)          # E1 E3 D1
    assert sorted(e["deployment"] for e in m["deployment_frequency"]["events"]) == sorted([e1, e3, d1])
    assert m["change_failure_rate"]["value"] == round(3 / changes, 4)        # E2 D2 D3
    lead = [hours(ends[e1], committed[c1]), hours(ends[e1], committed[c2]), hours(ends[e3], committed[c3]),
            hours(ends[e3], committed[c4])]
    assert m["lead_time_for_changes"]["value"] == round(statistics.median(lead), 2)
    assert {e["commit"]: e["deployment"] for e in m["lead_time_for_changes"]["events"]} == \
        {c1: e1, c2: e1, c3: e3, c4: e3}
    restore = [hours(ends[e3], ends[e2]), max(0.0, hours(dep[rollback["deploymentId"]]["completeTime"],
                                                          dep[d2]["completeTime"]))]
    assert m["time_to_restore"]["value"] == round(statistics.median(restore), 2)   # D3: not restored yet
    assert [e["restored_by"] for e in m["time_to_restore"]["events"]] == [e3, rollback["deploymentId"], None]
    assert m["rework_rate"]["value"] == round(2 / changes, 4)                # E3 after E2; D3 after D2
    assert {e["deployment"] for e in m["rework_rate"]["events"]} == {e3, d3}
    assert starts[e3] >= ends[e2]
    assert "tagged workshop:environment=production" in report["production"]
    assert m["change_failure_rate"]["level_2024"] == "below low"   # 50% is past the low cluster's 40%


def test_the_notebook_helper_draws_the_four_keys_week_by_week(tmp_path):
    from labkit.lab00_dora import HISTORY, plot

    fig = plot(HISTORY)
    axes = fig.axes
    assert [a.get_title() for a in axes] == ["Deployments per day", "Lead time (h)", "Change failure rate (%)",
                                             "Time to restore (h)"]
    assert len(axes[0].lines[0].get_xdata()) == 4          # four 7-day periods in 28 days
    fig.savefig(tmp_path / "dora.png")
    assert (tmp_path / "dora.png").stat().st_size > 1000


def test_lab00_checks_grade_figures_against_the_key():
    from checker.labs.lab00_dora import KEY, Answers, holding_back, rework_rate, stability, throughput

    right = Answers("b", dict(KEY, holding_back="change_failure_rate", target=0.15))
    assert all(check(right).passed for check in (throughput, stability, rework_rate, holding_back))
    # Percentages and "1.5 a week" written as per day are read; a wrong count is not.
    assert stability(Answers("b", dict(KEY, change_failure_rate=33.3))).passed
    assert not throughput(Answers("b", dict(KEY, deployment_frequency_per_day=8 / 28))).passed
    assert not stability(Answers("b", dict(KEY, change_failure_rate=4 / 11))).passed   # staging counted
    assert not holding_back(Answers("b", dict(KEY, holding_back="lead_time_for_changes", target=10))).passed
    assert not holding_back(Answers("b", dict(KEY, holding_back="change_failure_rate", target=0.5))).passed
    assert not throughput(Answers("b", None, "No answers")).passed
