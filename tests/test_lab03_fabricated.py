"""Lab 03-deploy's checks against the evidence a learner could fabricate without
doing the work: a canary "stopped by the alarm" because the learner set the
alarm's state by hand, with not one request sent, and its errors written with
put_metric_data (refused in AWS/Lambda, ignored in a namespace of the learner's
own); and, on states made by hand, a rolling deployment whose lifecycle events
did not all run, a rollback not caused by the revision's own ValidateService
hook, a pipeline whose build ran no tests or whose bundle lacks the app. Each
check must fail and say what evidence is missing."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from checker.labs import lab03_deploy as lab
from tests.test_codedeploy_lambda import BROKEN, appspec, finished, two_versions
from tests.test_lab03_checks import checks


def test_a_canary_stopped_by_an_alarm_set_by_hand_and_metrics_written_by_the_learner_fail(cloud, account):
    two_versions(cloud, account, lab.FUNCTION_NAME, BROKEN)
    cw, cd = cloud.client("cloudwatch", account), cloud.client("codedeploy", account)
    dims = [{"Name": "FunctionName", "Value": lab.FUNCTION_NAME},
            {"Name": "Resource", "Value": f"{lab.FUNCTION_NAME}:{lab.ALIAS}"}]
    cw.put_metric_alarm(AlarmName=lab.ALARM_NAME, Namespace="AWS/Lambda", MetricName="Errors", Dimensions=dims,
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    cd.create_application(applicationName=lab.LAMBDA_APP, computePlatform="Lambda")
    cd.create_deployment_group(
        applicationName=lab.LAMBDA_APP, deploymentGroupName=lab.LAMBDA_GROUP, deploymentConfigName=lab.CANARY,
        serviceRoleArn=f"arn:aws:iam::{account}:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        alarmConfiguration={"enabled": True, "alarms": [{"name": lab.ALARM_NAME}]},
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]})

    # The metrics a canary's traffic would have made, written by the learner.
    now = datetime.now(timezone.utc)
    with pytest.raises(ClientError) as refused:
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=[
            {"MetricName": "Errors", "Value": 12, "Dimensions": dims, "Timestamp": now}])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    cw.put_metric_data(Namespace="Learner/Lambda", MetricData=[
        {"MetricName": metric, "Value": 12, "Dimensions": dims + [{"Name": "ExecutedVersion", "Value": "2"}],
         "Timestamp": now} for metric in ("Errors", "Invocations")])

    deployment = cd.create_deployment(applicationName=lab.LAMBDA_APP, deploymentGroupName=lab.LAMBDA_GROUP,
                                      revision=appspec(lab.FUNCTION_NAME))["deploymentId"]
    deadline = time.monotonic() + 60
    while cd.get_deployment(deploymentId=deployment)["deploymentInfo"]["status"] not in \
            ("Stopped", "Failed", "Succeeded") and time.monotonic() < deadline:
        cw.set_alarm_state(AlarmName=lab.ALARM_NAME, StateValue="ALARM", StateReason="set by hand")
        time.sleep(0.5)
    info = finished(cd, deployment)
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE", info
    finished(cd, info["rollbackInfo"]["rollbackDeploymentId"])

    found = checks(cloud, account)
    assert found["canary-group"].passed
    rollback = found["canary-rollback"]
    assert not rollback.passed and "no errors" in rollback.message and "send traffic" in rollback.message
    assert not found["blast-radius"].passed


# -- states made by hand: what CodeDeploy and CodePipeline reported ------------------------------

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def _target(name: str, statuses: dict[str, str], diagnostics: dict | None = None) -> dict:
    events = []
    for i, event in enumerate(lab.SERVER_EVENTS):
        entry = {"lifecycleEventName": event, "status": statuses.get(event, "Succeeded"),
                 "startTime": T0 + timedelta(seconds=i), "endTime": T0 + timedelta(seconds=i + 0.5)}
        if event == "ValidateService" and diagnostics:
            entry["diagnostics"] = diagnostics
        events.append(entry)
    status = "Failed" if "Failed" in statuses.values() else "Succeeded"
    return {"targetId": name, "status": status, "lifecycleEvents": events}


def _fleet_state() -> lab.Deploy:
    st = lab.Deploy("123456789012", "us-east-1")
    st.server_group = {"deploymentConfigName": lab.ONE_AT_A_TIME, "onPremisesInstanceTagFilters": [
        {**lab.FLEET_TAG, "Type": "KEY_AND_VALUE"}], "autoRollbackConfiguration": {
        "enabled": True, "events": ["DEPLOYMENT_FAILURE"]}}
    return st


def test_a_rolling_deployment_whose_lifecycle_events_did_not_all_run_fails():
    st = _fleet_state()
    st.server_deployments = [{"deploymentId": "d-ROLLING01", "status": "Succeeded", "createTime": T0,
                              "revision": {"s3Location": {"bucket": "b", "key": "sample-app/1.0.0.zip"}}}]
    st.targets["d-ROLLING01"] = [_target(n, {"Install": "Skipped"} if n.endswith("-2") else {})
                                 for n in lab.INSTANCES]
    found = lab.rolling_deployment(st)
    assert not found.passed and "workshop-03-web-2 Install Skipped" in found.message


def test_a_rollback_not_caused_by_the_revisions_validate_hook_fails():
    st = _fleet_state()
    failed = {"deploymentId": "d-FAILED001", "status": "Failed", "createTime": T0,
              "revision": {"s3Location": {"bucket": "b", "key": "sample-app/1.1.0.zip"}},
              "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1"}}
    rollback = {"deploymentId": "d-ROLLBACK1", "status": "Succeeded", "createTime": T0 + timedelta(seconds=9),
                "creator": lab.ROLLBACK_CREATOR, "revision": {"s3Location": {"bucket": "b", "key": "sample-app/1.0.0.zip"}}}
    st.server_deployments = [failed, rollback]
    st.targets["d-ROLLBACK1"] = [_target(n, {}) for n in lab.INSTANCES]
    st.hooks["d-FAILED001"] = {"ValidateService": [{"location": "scripts/validate.sh"}]}

    st.targets["d-FAILED001"] = [_target("workshop-03-web-1", {"ValidateService": "Failed"},
                                         {"errorCode": "UnknownError", "message": "agent lost"})]
    found = lab.validate_rollback(st)
    assert not found.passed and "not a script of the revision" in found.message

    st.targets["d-FAILED001"] = [_target("workshop-03-web-1", {"ValidateService": "Failed"},
                                         {"errorCode": "ScriptFailed", "scriptName": "scripts/other.sh",
                                          "logTail": "exit 1"})]
    found = lab.validate_rollback(st)
    assert not found.passed and "not a ValidateService hook of the deployed revision" in found.message

    st.targets["d-FAILED001"][0]["lifecycleEvents"][-1]["diagnostics"]["scriptName"] = "scripts/validate.sh"
    found = lab.validate_rollback(st)
    assert found.passed and "scripts/validate.sh" in found.message and "exit 1" in found.message


def _pipeline_state(report: dict | None, bundle: dict | str) -> lab.Deploy:
    st = lab.Deploy("123456789012", "us-east-1")
    st.pipeline = {"name": lab.PIPELINE_NAME}
    st.executions = [{"pipelineExecutionId": "run-1", "status": "Succeeded",
                      "trigger": {"triggerType": "CloudWatchEvent"}, "sourceRevisions": [{"revisionId": "c" * 40}]}]
    result = {"output": {"executionResult": {}}}
    st.action_runs["run-1"] = [
        {"stageName": "Build", "status": "Succeeded", "input": {"actionTypeId": {"provider": "CodeBuild"}},
         "output": {"executionResult": {"externalExecutionId": "build:1"}}},
        {"stageName": "Approval", "status": "Succeeded", "input": {"actionTypeId": {"provider": "Manual"}},
         **result},
        {"stageName": "Deploy", "status": "Succeeded", "input": {"actionTypeId": {"provider": "CodeDeploy"}},
         "output": {"executionResult": {"externalExecutionId": "d-PIPELINE1"}}}]
    st.pipeline_deployments["d-PIPELINE1"] = {"deploymentId": "d-PIPELINE1", "status": "Succeeded"}
    st.pipeline_reports["build:1"] = report
    st.bundles["d-PIPELINE1"] = bundle
    return st


def test_a_pipeline_whose_build_ran_no_tests_or_shipped_no_app_fails():
    from checker.labs import sample_app_blobs, sample_app_tests

    app = {p: b for p, b in sample_app_blobs().items() if p.startswith("app/")}
    suite = len(sample_app_tests())
    good_report = {"testSummary": {"total": suite, "statusCounts": {"SUCCEEDED": suite}}}
    found = lab.pipeline_released(_pipeline_state(None, {"appspec.yml": "x", **app}))
    assert not found.passed and "has no test report" in found.message
    one_test = {"testSummary": {"total": 1, "statusCounts": {"SUCCEEDED": 1}}}
    found = lab.pipeline_released(_pipeline_state(one_test, {"appspec.yml": "x", **app}))
    assert not found.passed and f"not the sample app's {suite} all passing" in found.message
    empty = {"appspec.yml": "x", **{p: "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391" for p in app}}
    found = lab.pipeline_released(_pipeline_state(good_report, empty))
    assert not found.passed and "lacks app/" in found.message
    found = lab.pipeline_released(_pipeline_state(good_report, {"appspec.yml": "x", **app}))
    assert found.passed, found.message

