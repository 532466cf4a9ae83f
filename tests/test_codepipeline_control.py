"""Controlling executions: stop (abandon or finish), retry of a failed stage,
rejected approvals, disabled transitions that hold an execution, SUPERSEDED
and QUEUED execution modes, and pipeline variables resolved into actions."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.test_codepipeline_api import error_code
from tests.test_codepipeline_executions import (
    action,
    action_runs,
    approval_stage,
    approve,
    approval_token,
    artifact_bucket,
    build_project,
    build_stage,
    codecommit_source,
    create_pipeline,
    execution,
    executions,
    pipeline_role,
    stage_states,
    stage_status,
    wait_execution,
    wait_for,
)

SLOW_BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 2\n"
BROKEN_BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 3\n"
GOOD_BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo fixed\n"


@pytest.fixture
def env(cloud, account):
    iam, s3, cc, cb, cp = (cloud.client(s, account) for s in ("iam", "s3", "codecommit", "codebuild", "codepipeline"))
    cc.create_repository(repositoryName="app")
    cc.put_file(repositoryName="app", branchName="main", fileContent=b"print('hello')\n", filePath="app.py")
    return {"cp": cp, "cb": cb, "cc": cc, "role": pipeline_role(iam), "bucket": artifact_bucket(s3, account)}


def only_execution(cp, name: str) -> str:
    return wait_for(lambda: executions(cp, name), what="the first execution")[0]["pipelineExecutionId"]


def test_stop_and_abandon_a_waiting_approval(env):
    cp = env["cp"]
    create_pipeline(cp, "p", env["role"], env["bucket"], [codecommit_source("app"), approval_stage(),
                                                          approval_stage("Later")])
    run_id = only_execution(cp, "p")
    approval_token(cp, "p")
    assert cp.stop_pipeline_execution(pipelineName="p", pipelineExecutionId=run_id, abandon=True,
                                      reason="Wrong release")["pipelineExecutionId"] == run_id
    done = wait_execution(cp, "p", run_id)
    assert done["status"] == "Stopped"
    summary = [e for e in executions(cp, "p") if e["pipelineExecutionId"] == run_id][0]
    assert summary["stopTrigger"] == {"reason": "Wrong release"}
    states = stage_states(cp, "p")
    assert stage_status(states["Approval"], run_id) == "Stopped"
    assert states["Approval"]["actionStates"][0]["latestExecution"]["status"] == "Abandoned"
    assert stage_status(states["Later"], run_id) is None
    with pytest.raises(ClientError) as again:
        cp.stop_pipeline_execution(pipelineName="p", pipelineExecutionId=run_id, abandon=True)
    assert error_code(again) == "PipelineExecutionNotStoppableException"


def test_stop_and_finish_lets_the_running_build_end_then_stops(env):
    cp = env["cp"]
    project = build_project(env["cb"], env["role"], buildspec=SLOW_BUILDSPEC)
    create_pipeline(cp, "p", env["role"], env["bucket"], [codecommit_source("app"), build_stage(project, outputs=()),
                                                          approval_stage()])
    run_id = only_execution(cp, "p")
    wait_for(lambda: stage_status(stage_states(cp, "p")["Build"], run_id) == "InProgress", what="the build")
    cp.stop_pipeline_execution(pipelineName="p", pipelineExecutionId=run_id, abandon=False, reason="Enough")
    assert execution(cp, "p", run_id)["status"] == "Stopping"
    with pytest.raises(ClientError) as twice:
        cp.stop_pipeline_execution(pipelineName="p", pipelineExecutionId=run_id, abandon=False)
    assert error_code(twice) == "DuplicatedStopRequestException"
    assert wait_execution(cp, "p", run_id)["status"] == "Stopped"
    states = stage_states(cp, "p")
    assert states["Build"]["actionStates"][0]["latestExecution"]["status"] == "Succeeded"  # it was let finish
    assert stage_status(states["Approval"], run_id) is None


def test_retry_the_failed_build_after_fixing_the_project(env):
    cp, cb = env["cp"], env["cb"]
    project = build_project(cb, env["role"], buildspec=BROKEN_BUILDSPEC)
    create_pipeline(cp, "p", env["role"], env["bucket"], [codecommit_source("app"), build_stage(project, outputs=())])
    run_id = only_execution(cp, "p")
    assert wait_execution(cp, "p", run_id)["status"] == "Failed"
    with pytest.raises(ClientError) as not_failed:
        cp.retry_stage_execution(pipelineName="p", stageName="Source", pipelineExecutionId=run_id,
                                 retryMode="FAILED_ACTIONS")
    assert error_code(not_failed) == "StageNotRetryableException"

    cb.update_project(name=project, source={"type": "CODEPIPELINE", "buildspec": GOOD_BUILDSPEC})
    assert cp.retry_stage_execution(pipelineName="p", stageName="Build", pipelineExecutionId=run_id,
                                    retryMode="FAILED_ACTIONS")["pipelineExecutionId"] == run_id
    assert wait_execution(cp, "p", run_id)["status"] == "Succeeded"
    details = cp.list_action_executions(pipelineName="p", filter={"pipelineExecutionId": run_id})[
        "actionExecutionDetails"]
    assert [(d["stageName"], d["status"]) for d in details] == [
        ("Build", "Succeeded"), ("Build", "Failed"), ("Source", "Succeeded")]
    assert details[1]["output"]["executionResult"]["externalExecutionSummary"] == (
        "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, "
        "Message: Error while executing command: exit 3. Reason: exit status 3")


def test_a_rejected_approval_fails_the_execution(env):
    cp = env["cp"]
    create_pipeline(cp, "p", env["role"], env["bucket"], [codecommit_source("app"), approval_stage(),
                                                          approval_stage("Later")])
    run_id = only_execution(cp, "p")
    token = approval_token(cp, "p")
    approve(cp, "p", token, status="Rejected")
    done = wait_execution(cp, "p", run_id)
    assert done["status"] == "Failed"
    states = stage_states(cp, "p")
    latest = states["Approval"]["actionStates"][0]["latestExecution"]
    assert latest["status"] == "Failed" and latest["summary"] == "Rejected by the test"
    assert stage_status(states["Later"], run_id) is None
    with pytest.raises(ClientError) as answered:
        approve(cp, "p", token)
    assert error_code(answered) == "ApprovalAlreadyCompletedException"


def test_a_disabled_transition_holds_executions_and_a_newer_one_supersedes_the_waiting_one(env):
    cp = env["cp"]
    create_pipeline(cp, "p", env["role"], env["bucket"], [codecommit_source("app"), approval_stage("Gate")])
    first = only_execution(cp, "p")
    first_token = approval_token(cp, "p", "Gate")
    cp.disable_stage_transition(pipelineName="p", stageName="Gate", transitionType="Inbound",
                                reason="Change freeze")
    older = cp.start_pipeline_execution(name="p")["pipelineExecutionId"]
    wait_for(lambda: stage_states(cp, "p")["Gate"].get("inboundExecution", {}).get("pipelineExecutionId") == older,
             what="the execution waiting at the transition")
    gate = stage_states(cp, "p")["Gate"]
    assert gate["inboundTransitionState"]["enabled"] is False
    assert gate["inboundTransitionState"]["disabledReason"] == "Change freeze"
    newer = cp.start_pipeline_execution(name="p")["pipelineExecutionId"]
    assert wait_execution(cp, "p", older)["status"] == "Superseded"
    assert newer in execution(cp, "p", older).get("statusSummary", "")

    approve(cp, "p", first_token, stage="Gate", status="Approved")
    assert wait_execution(cp, "p", first)["status"] == "Succeeded"
    # The stage is free, but the transition is still disabled: the newer one keeps waiting.
    assert stage_states(cp, "p")["Gate"]["inboundExecution"]["pipelineExecutionId"] == newer
    assert execution(cp, "p", newer)["status"] == "InProgress"
    cp.enable_stage_transition(pipelineName="p", stageName="Gate", transitionType="Inbound")
    wait_for(lambda: stage_status(stage_states(cp, "p")["Gate"], newer) == "InProgress", what="the newer one entering")
    approve(cp, "p", approval_token(cp, "p", "Gate"), stage="Gate")
    assert wait_execution(cp, "p", newer)["status"] == "Succeeded"


def test_queued_mode_runs_every_execution_in_order(env):
    cp = env["cp"]
    create_pipeline(cp, "q", env["role"], env["bucket"], [codecommit_source("app"), approval_stage("Gate")],
                    pipelineType="V2", executionMode="QUEUED")
    ids = [only_execution(cp, "q")]
    approval_token(cp, "q", "Gate")
    ids += [cp.start_pipeline_execution(name="q")["pipelineExecutionId"] for _ in range(2)]
    wait_for(lambda: len(stage_states(cp, "q")["Gate"].get("inboundExecutions", [])) == 2, what="two queued")
    for expected in ids:
        wait_for(lambda: stage_status(stage_states(cp, "q")["Gate"], expected) == "InProgress",
                 what=f"{expected} in the gate")
        approve(cp, "q", approval_token(cp, "q", "Gate"), stage="Gate")
        assert wait_execution(cp, "q", expected)["status"] == "Succeeded"
    assert {e["status"] for e in executions(cp, "q")} == {"Succeeded"}


def test_variables_reach_action_configuration(env):
    cp = env["cp"]
    gate = {"name": "Gate", "actions": [action("Approve", "Approval", "Manual", {
        "CustomData": "Release #{SourceVariables.CommitId} to #{variables.target}"})]}
    broken = {"name": "Broken", "actions": [action("Approve", "Approval", "Manual", {
        "CustomData": "#{NoSuchNamespace.Value}"})]}
    create_pipeline(cp, "v", env["role"], env["bucket"], [codecommit_source("app"), gate, broken],
                    pipelineType="V2", variables=[{"name": "target", "defaultValue": "staging"}])
    first = only_execution(cp, "v")
    approve(cp, "v", approval_token(cp, "v", "Gate"), stage="Gate")
    assert wait_execution(cp, "v", first)["status"] == "Failed"
    runs = action_runs(cp, "v", first)
    commit = runs[("Source", "Source")]["output"]["outputVariables"]["CommitId"]
    assert runs[("Gate", "Approve")]["input"]["resolvedConfiguration"]["CustomData"] == \
        f"Release {commit} to staging"
    assert "Unable to resolve the variable #{NoSuchNamespace.Value}" in \
        runs[("Broken", "Approve")]["output"]["executionResult"]["externalExecutionSummary"]

    second = cp.start_pipeline_execution(name="v", variables=[{"name": "target", "value": "prod"}])[
        "pipelineExecutionId"]
    assert execution(cp, "v", second)["variables"] == [{"name": "target", "resolvedValue": "prod"}]
    with pytest.raises(ClientError) as undeclared:
        cp.start_pipeline_execution(name="v", variables=[{"name": "colour", "value": "red"}])
    assert error_code(undeclared) == "ValidationException"
    approve(cp, "v", approval_token(cp, "v", "Gate"), stage="Gate")
    assert wait_execution(cp, "v", second)["status"] == "Failed"
    assert action_runs(cp, "v", second)[("Gate", "Approve")]["input"]["resolvedConfiguration"][
        "CustomData"].endswith("to prod")
    trigger = execution(cp, "v", second)["trigger"]
    assert trigger["triggerType"] == "StartPipelineExecution" and trigger["triggerDetail"].startswith("arn:aws:")


def test_an_older_commit_on_request_and_an_action_type_the_cloud_does_not_run(env):
    cp, cc = env["cp"], env["cc"]
    first = cc.get_branch(repositoryName="app", branchName="main")["branch"]["commitId"]
    cc.put_file(repositoryName="app", branchName="main", fileContent=b"v2\n", filePath="VERSION",
                parentCommitId=first)
    invoke = {"name": "Invoke", "actions": [action("Invoke", "Invoke", "Lambda", {"FunctionName": "notify"})]}
    create_pipeline(cp, "p", env["role"], env["bucket"], [codecommit_source("app"), invoke], pipelineType="V2")
    wait_execution(cp, "p", only_execution(cp, "p"))
    run_id = cp.start_pipeline_execution(name="p", sourceRevisions=[
        {"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": first}])["pipelineExecutionId"]
    done = wait_execution(cp, "p", run_id)
    assert done["artifactRevisions"][0]["revisionId"] == first
    assert done["status"] == "Failed"
    assert stage_states(cp, "p")["Invoke"]["actionStates"][0]["latestExecution"]["summary"] == \
        "The workshop cloud does not run Invoke actions of provider Lambda (owner AWS)"
    with pytest.raises(ClientError) as wrong_type:
        cp.start_pipeline_execution(name="p", sourceRevisions=[
            {"actionName": "Source", "revisionType": "S3_OBJECT_VERSION_ID", "revisionValue": "v1"}])
    assert error_code(wrong_type) == "ValidationException"
