"""Lab 03-deploy's checks against real accounts in the workshop cloud: an empty
account fails every check with a hint; the solution notebook passes them all,
and the blast radius the checker reads from CloudWatch is the one the
notebook's traffic counted; half-done and broken states give findings, never
exceptions; ``workshop reset 03-deploy`` removes the lab and nothing else."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from checker.labs import lab03_deploy as lab
from checker.runner import run_lab
from checker.session import Target
from labkit.reset import reset_lab
from tests import notebooks
from tests.conftest import new_account

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "03-deploy"
ALL = {"fleet-registered", "rolling-deployment", "validate-rollback", "errors-alarm", "canary-group", "canary-good",
       "canary-rollback", "blast-radius", "service-restored", "pipeline-defined", "pipeline-released"}
SERVER_CHECKS = {"fleet-registered", "rolling-deployment", "validate-rollback"}
CANARY_CHECKS = {"errors-alarm", "canary-group", "canary-good", "canary-rollback"}


def where(cloud, account: str) -> Target:
    return Target(cloud.endpoint, account, "test", "us-east-1")


def checks(cloud, account: str) -> dict:
    result = run_lab("03-deploy", where(cloud, account))
    assert result.error is None and result.account == account
    return {r.id.split(".", 1)[1]: r for r in result.results}


def passing(found: dict) -> set[str]:
    return {slug for slug, r in found.items() if r.passed}


def assert_findings(found: dict) -> None:
    """Every result is a finding a learner can act on, never a crashed check."""
    assert set(found) == ALL
    for slug, r in found.items():
        assert r.message, slug
        assert "could not evaluate" not in r.message and "could not read" not in r.message, (slug, r.message)
        if not r.passed:
            assert r.hint and len(r.hints) == 3 and r.docs.startswith("https://docs.aws.amazon.com/"), slug


def printed(nb, grade_id: str) -> str:
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def solved(cloud, tmp_path_factory):
    """An account where the solution notebook ran top to bottom (once for the module)."""
    account = new_account()
    work = notebooks.lab_copy(SOLUTION, tmp_path_factory.mktemp("lab03"))
    nb = notebooks.execute(work / "03-deploy.ipynb", cloud.env(account), allow_errors=True)
    assert notebooks.cell_errors(nb) == []
    return account, work, nb


# -- the tests ----------------------------------------------------------------------------

def test_empty_account_fails_every_check_with_a_hint(cloud, account):
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == set()
    assert "workshop-03-web-1" in found["fleet-registered"].message
    assert lab.ALARM_NAME in found["errors-alarm"].message
    assert lab.PIPELINE_NAME in found["pipeline-released"].message


def test_solution_passes_every_check_and_the_blast_radius_comes_from_cloudwatch(cloud, solved):
    account, _, nb = solved
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == ALL, {s: r.message for s, r in found.items() if not r.passed}
    assert "workshop-03-web-3" in found["validate-rollback"].message
    assert "at 10%" in found["canary-rollback"].message

    # The notebook counted the failed requests itself (labkit.traffic); the checker read the bad
    # version's Errors from CloudWatch in each deployment's window: the same numbers, and far apart.
    said = re.search(r"canary (\d+) of (\d+) requests failed; all at once (\d+) of (\d+)", printed(nb, "all-at-once"))
    read = re.search(r"failed (\d+) requests in the canary d-\w+ \(\d+ requests to the alias\) and (\d+) all at "
                     r"once", found["blast-radius"].message)
    assert said and read, (printed(nb, "all-at-once"), found["blast-radius"].message)
    canary, all_at_once = int(read.group(1)), int(read.group(2))
    assert (canary, all_at_once) == (int(said.group(1)), int(said.group(3)))
    assert canary >= 1 and all_at_once >= lab.BLAST_RATIO * canary
    assert "change failure rate: 2 of 3 releases = 67%" in printed(nb, "dora")


def test_halfway_through_the_canaries(cloud, tmp_path):
    """Everything up to the stopped canary is done: those checks pass, the rest say what is next."""
    account = new_account()
    notebooks.perform_solution("03-deploy", cloud.endpoint, [account], tmp_path, through_step="canary-rollback")
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == SERVER_CHECKS | CANARY_CHECKS
    assert "LambdaAllAtOnce deployment of version 3" in found["blast-radius"].message
    assert "Nothing to restore yet" in found["service-restored"].message
    assert "no pipeline" in found["pipeline-defined"].message


def test_broken_settings_give_findings(cloud, account):
    cd, cw = cloud.client("codedeploy", account), cloud.client("cloudwatch", account)
    role = f"arn:aws:iam::{account}:role/codedeploy"
    # Registered, but not tagged for the fleet; a group that updates everything at once.
    for name in lab.INSTANCES:
        cd.register_on_premises_instance(instanceName=name, iamUserArn=f"arn:aws:iam::{account}:user/{name}")
    cd.create_application(applicationName=lab.SERVER_APP, computePlatform="Server")
    cd.create_deployment_group(applicationName=lab.SERVER_APP, deploymentGroupName=lab.SERVER_GROUP,
                               serviceRoleArn=role, deploymentConfigName="CodeDeployDefault.AllAtOnce",
                               onPremisesInstanceTagFilters=[{**lab.FLEET_TAG, "Type": "KEY_AND_VALUE"}])
    # An alarm on the whole function rather than the alias; a canary group that does not roll back on it.
    cw.put_metric_alarm(AlarmName=lab.ALARM_NAME, Namespace="AWS/Lambda", MetricName="Errors",
                        Dimensions=[{"Name": "FunctionName", "Value": lab.FUNCTION_NAME}], Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold")
    cd.create_application(applicationName=lab.LAMBDA_APP, computePlatform="Lambda")
    cd.create_deployment_group(applicationName=lab.LAMBDA_APP, deploymentGroupName=lab.LAMBDA_GROUP,
                               serviceRoleArn=role, deploymentConfigName=lab.CANARY,
                               alarmConfiguration={"enabled": True, "alarms": [{"name": lab.ALARM_NAME}]},
                               autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == set()
    assert "without the tag fleet=workshop-03-web" in found["fleet-registered"].message
    assert "CodeDeployDefault.AllAtOnce, not CodeDeployDefault.OneAtATime" in found["rolling-deployment"].message
    assert "Resource=workshop-03-orders:live" in found["errors-alarm"].message
    assert "DEPLOYMENT_STOP_ON_ALARM" in found["canary-group"].message
    assert "No deployment of workshop-03-orders-live" in found["canary-good"].message


@pytest.mark.slow
def test_solution_notebook_is_safe_to_run_again(cloud, solved):
    """Every step is idempotent: the whole solution, run again in the same account, raises nothing."""
    account, work, _ = solved
    nb = notebooks.execute(work / "03-deploy.ipynb", cloud.env(account), allow_errors=True)
    assert notebooks.cell_errors(nb) == []
    assert "nothing to deploy" in printed(nb, "canary-good")
    assert "updated workshop-03-web-fleet" in printed(nb, "server-group")
    assert "updated workshop-03-pipeline" in printed(nb, "pipeline")
    assert passing(checks(cloud, account)) == ALL


def test_reset_removes_the_lab_and_nothing_else(cloud, solved):
    account, _, _ = solved
    cd, lam, cw, s3 = (cloud.client(s, account) for s in ("codedeploy", "lambda", "cloudwatch", "s3"))
    # The learner's own things, beside the lab's.
    cd.register_on_premises_instance(instanceName="my-server", iamUserArn=f"arn:aws:iam::{account}:user/me")
    cd.create_application(applicationName="my-app", computePlatform="Server")
    cw.put_metric_alarm(AlarmName="my-alarm", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    s3.create_bucket(Bucket=f"my-bucket-{account}")

    cleanup = reset_lab("03-deploy", where(cloud, account), say=lambda _: None)
    assert cleanup.problems == []
    assert any("deleted pipeline" in d for d in cleanup.done) and any("deleted bucket" in d for d in cleanup.done)

    registered = cd.list_on_premises_instances(registrationStatus="Registered")["instanceNames"]
    assert registered == ["my-server"]
    assert cd.list_applications()["applications"] == ["my-app"]
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["my-alarm"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [f"my-bucket-{account}"]
    assert lab.FUNCTION_NAME not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert cloud.client("codepipeline", account).list_pipelines()["pipelines"] == []
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == set()
    # A second reset has nothing left to do.
    again = reset_lab("03-deploy", where(cloud, account), say=lambda _: None)
    assert again.problems == [] and again.done == []


# -- the blast radius rule, on a state made by hand ----------------------------------------

def _lambda_deployment(deployment_id: str, config: str, current: str, target: str, at: datetime, *,
                       status: str = "Succeeded", creator: str = "user", code: str | None = None,
                       rollback: str | None = None, seconds: float = 5.0) -> dict:
    spec = {"version": 0.0, "Resources": [{lab.FUNCTION_NAME: {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": lab.FUNCTION_NAME, "Alias": lab.ALIAS, "CurrentVersion": current, "TargetVersion": target}}}]}
    info = {"deploymentId": deployment_id, "deploymentConfigName": config, "status": status, "creator": creator,
            "createTime": at, "completeTime": at + timedelta(seconds=seconds),
            "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}}}
    if code:
        info["errorInformation"] = {"code": code, "message": "alarm"}
    if rollback:
        info["rollbackInfo"] = {"rollbackDeploymentId": rollback}
    return info


def _experiment_state(canary_errors: float, all_at_once_errors: float) -> lab.Deploy:
    t0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    st = lab.Deploy("123456789012", "us-east-1", lambda_group={"deploymentConfigName": lab.CANARY})
    st.lambda_deployments = [
        _lambda_deployment("d-CANARY001", lab.CANARY, "2", "3", t0, status="Stopped", code="ALARM_ACTIVE",
                           rollback="d-ROLLBACK1", seconds=2),
        _lambda_deployment("d-ROLLBACK1", lab.ALL_AT_ONCE, "1", "2", t0 + timedelta(seconds=2),
                           creator="codeDeployRollback", seconds=0.1),
        _lambda_deployment("d-ALLATONCE", lab.ALL_AT_ONCE, "2", "3", t0 + timedelta(seconds=20), seconds=0.1),
        _lambda_deployment("d-RESTORE01", lab.ALL_AT_ONCE, "3", "2", t0 + timedelta(seconds=30), seconds=0.1),
    ]
    st.alias = {"FunctionVersion": "2"}
    st.windows = {"canary": lab.Window(t0, t0 + timedelta(seconds=3), canary_errors, 60.0,
                                       {"3": (6.0, canary_errors), "2": (54.0, 0.0)}),
                  "all-at-once": lab.Window(t0, t0 + timedelta(seconds=11), all_at_once_errors, 200.0,
                                            {"3": (200.0, all_at_once_errors)})}
    return st


def test_blast_radius_needs_three_times_the_canarys_failures():
    assert lab.blast_radius(_experiment_state(5, 160)).passed
    assert "32 times" in lab.blast_radius(_experiment_state(5, 160)).message
    close = lab.blast_radius(_experiment_state(5, 12))
    assert not close.passed and "only 2.4 times" in close.message
    assert not lab.blast_radius(_experiment_state(0, 160)).passed   # the alarm never saw an error
    restored = lab.service_restored(_experiment_state(5, 160))
    assert restored.passed and "d-RESTORE01 restored version 2 10.1 s after the release" in restored.message
    st = _experiment_state(5, 160)
    st.alias = {"FunctionVersion": "2", "RoutingConfig": {"AdditionalVersionWeights": {"3": 0.1}}}
    assert "broken version 3" in lab.service_restored(st).message
