"""CodePipeline's API: pipelines created, read, updated, listed, tagged and
deleted as AWS does (V1 and V2, a role that trusts several services), and
bad input answered with AWS's error codes, never a 500."""

from __future__ import annotations

import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.test_codepipeline_executions import (
    action,
    approval_stage,
    artifact_bucket,
    codecommit_source,
    create_pipeline,
    pipeline_role,
    stage_states,
    wait_for,
)


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def ready(cloud, account):
    iam, s3, cp = (cloud.client(s, account) for s in ("iam", "s3", "codepipeline"))
    return cp, pipeline_role(iam), artifact_bucket(s3, account)


def test_create_get_update_list_delete(ready, account):
    cp, role, bucket = ready
    created = create_pipeline(cp, "demo", role, bucket, [codecommit_source("app"), approval_stage()])
    assert created["version"] == 1
    assert created["pipelineType"] == "V1" and created["executionMode"] == "SUPERSEDED"
    assert created["stages"][1]["actions"][0]["runOrder"] == 1

    got = cp.get_pipeline(name="demo")
    assert got["pipeline"]["stages"][0]["actions"][0]["configuration"]["RepositoryName"] == "app"
    assert got["metadata"]["pipelineArn"] == f"arn:aws:codepipeline:us-east-1:{account}:demo"

    changed = dict(got["pipeline"])
    changed["stages"] = got["pipeline"]["stages"] + [approval_stage("SecondApproval")]
    changed["pipelineType"], changed["executionMode"] = "V2", "QUEUED"
    updated = cp.update_pipeline(pipeline=changed)["pipeline"]
    assert updated["version"] == 2 and updated["executionMode"] == "QUEUED"
    assert [s["stageName"] for s in cp.get_pipeline_state(name="demo")["stageStates"]] == \
        ["Source", "Approval", "SecondApproval"]
    assert len(cp.get_pipeline(name="demo", version=1)["pipeline"]["stages"]) == 2
    with pytest.raises(ClientError) as missing_version:
        cp.get_pipeline(name="demo", version=7)
    assert error_code(missing_version) == "PipelineVersionNotFoundException"

    listed = cp.list_pipelines()["pipelines"]
    assert [(p["name"], p["version"], p["pipelineType"]) for p in listed] == [("demo", 2, "V2")]
    cp.delete_pipeline(name="demo")
    assert cp.list_pipelines()["pipelines"] == []
    cp.delete_pipeline(name="demo")  # as in AWS: deleting what is not there succeeds
    with pytest.raises(ClientError) as gone:
        cp.get_pipeline(name="demo")
    assert error_code(gone) == "PipelineNotFoundException"


def test_tags(ready, account):
    cp, role, bucket = ready
    arn = cp.create_pipeline(pipeline={"name": "tagged", "roleArn": role,
                                       "artifactStore": {"type": "S3", "location": bucket},
                                       "stages": [codecommit_source("app"), approval_stage()]},
                             tags=[{"key": "lab", "value": "03-deploy"}])
    arn = cp.get_pipeline(name="tagged")["metadata"]["pipelineArn"]
    cp.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "blue"}])
    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "lab", "value": "03-deploy"}, {"key": "team", "value": "blue"}]
    cp.untag_resource(resourceArn=arn, tagKeys=["lab"])
    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "blue"}]
    with pytest.raises(ClientError) as system:
        cp.tag_resource(resourceArn=arn, tags=[{"key": "aws:owner", "value": "x"}])
    assert error_code(system) == "InvalidTagsException"
    with pytest.raises(ClientError) as unknown:
        cp.list_tags_for_resource(resourceArn=arn.replace("tagged", "nope"))
    assert error_code(unknown) == "ResourceNotFoundException"


def test_the_role_must_trust_codepipeline(cloud, account, ready):
    cp, _, bucket = ready
    iam = cloud.client("iam", account)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "codebuild.amazonaws.com"}}]}
    other = iam.create_role(RoleName="build-only", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    for role in (other, f"arn:aws:iam::{account}:role/no-such-role"):
        with pytest.raises(ClientError) as denied:
            create_pipeline(cp, "p", role, bucket, [codecommit_source("app"), approval_stage()])
        assert error_code(denied) == "InvalidStructureException"
        assert "not authorized to perform AssumeRole" in str(denied.value)
    # Two statements, the second trusting CodePipeline among others: accepted.
    trust["Statement"].append({"Effect": "Allow", "Action": ["sts:AssumeRole"], "Principal": {
        "Service": ["cloudformation.amazonaws.com", "codepipeline.amazonaws.com"]}})
    several = iam.create_role(RoleName="several", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert create_pipeline(cp, "p", several, bucket, [codecommit_source("app"), approval_stage()])["name"] == "p"
    with pytest.raises(ClientError) as taken:
        create_pipeline(cp, "p", several, bucket, [codecommit_source("app"), approval_stage()])
    assert error_code(taken) == "PipelineNameInUseException"


BAD_STRUCTURES = [
    ("one stage", lambda: [codecommit_source("app")], "InvalidStructureException", "minimum of 2 stages"),
    ("no source first", lambda: [approval_stage(), codecommit_source("app")], "InvalidStructureException",
     "first stage"),
    ("unknown provider", lambda: [codecommit_source("app"), {"name": "Build", "actions": [
        action("Build", "Build", "Jenkinz", {}, inputs=["SourceOutput"])]}],
     "InvalidActionDeclarationException", "is not available"),
    ("missing configuration", lambda: [codecommit_source("app"), {"name": "Build", "actions": [
        action("Build", "Build", "CodeBuild", {}, inputs=["SourceOutput"])]}],
     "InvalidActionDeclarationException", "missing required configuration 'ProjectName'"),
    ("unknown configuration", lambda: [codecommit_source("app"), {"name": "Build", "actions": [
        action("Build", "Build", "CodeBuild", {"ProjectName": "p", "Colour": "red"}, inputs=["SourceOutput"])]}],
     "InvalidActionDeclarationException", "unknown configuration 'Colour'"),
    ("input nobody makes", lambda: [codecommit_source("app"), {"name": "Build", "actions": [
        action("Build", "Build", "CodeBuild", {"ProjectName": "p"}, inputs=["Nope"])]}],
     "InvalidStructureException", "not declared as an output artifact"),
    ("too few inputs", lambda: [codecommit_source("app"), {"name": "Build", "actions": [
        action("Build", "Build", "CodeBuild", {"ProjectName": "p"})]}],
     "InvalidActionDeclarationException", "less than the minimum count (1)"),
    ("duplicate stage", lambda: [codecommit_source("app"), approval_stage(), approval_stage()],
     "InvalidStageDeclarationException", "unique"),
    ("bad action mode", lambda: [codecommit_source("app"), {"name": "Deploy", "actions": [
        action("Deploy", "Deploy", "CloudFormation", {"ActionMode": "YOLO", "StackName": "s"})]}],
     "InvalidActionDeclarationException", "ActionMode"),
    ("template from elsewhere", lambda: [codecommit_source("app"), {"name": "Deploy", "actions": [
        action("Deploy", "Deploy", "CloudFormation", {"ActionMode": "CREATE_UPDATE", "StackName": "s",
                                                      "TemplatePath": "Other::t.yml"}, inputs=["SourceOutput"])]}],
     "InvalidActionDeclarationException", "not an input artifact"),
]


@pytest.mark.parametrize("case", BAD_STRUCTURES, ids=[c[0] for c in BAD_STRUCTURES])
def test_bad_structures_get_aws_errors(ready, case):
    cp, role, bucket = ready
    _, stages, code, words = case
    with pytest.raises(ClientError) as bad:
        create_pipeline(cp, "bad", role, bucket, stages())
    assert error_code(bad) == code
    assert words in str(bad.value)
    assert cp.list_pipelines()["pipelines"] == []


def test_bad_settings_get_validation_errors(ready):
    cp, role, bucket = ready
    stages = [codecommit_source("app"), approval_stage()]
    for extra, words in (({"executionMode": "QUEUED"}, "V2"), ({"name": "bad name!"}, "pattern"),
                         ({"variables": [{"name": "env", "defaultValue": "dev"}]}, "V2")):
        params = {"name": "p", "roleArn": role, "artifactStore": {"type": "S3", "location": bucket},
                  "stages": stages, **extra}
        with pytest.raises(ClientError) as bad:
            cp.create_pipeline(pipeline=params)
        assert error_code(bad) == "ValidationException", extra
        assert words in str(bad.value)


def test_operations_on_what_is_not_there(ready):
    cp, role, bucket = ready
    create_pipeline(cp, "p", role, bucket, [codecommit_source("app"), approval_stage()])
    execution_id = wait_for(lambda: cp.list_pipeline_executions(pipelineName="p")["pipelineExecutionSummaries"])[0][
        "pipelineExecutionId"]
    cases = [
        (lambda: cp.get_pipeline_state(name="nope"), "PipelineNotFoundException"),
        (lambda: cp.start_pipeline_execution(name="nope"), "PipelineNotFoundException"),
        (lambda: cp.get_pipeline_execution(pipelineName="p", pipelineExecutionId="0" * 36),
         "PipelineExecutionNotFoundException"),
        (lambda: cp.disable_stage_transition(pipelineName="p", stageName="Nope", transitionType="Inbound",
                                             reason="testing"), "StageNotFoundException"),
        (lambda: cp.disable_stage_transition(pipelineName="p", stageName="Source", transitionType="Inbound",
                                             reason="testing"), "ValidationException"),
        (lambda: cp.retry_stage_execution(pipelineName="p", stageName="Source", pipelineExecutionId="0" * 36,
                                          retryMode="FAILED_ACTIONS"), "NotLatestPipelineExecutionException"),
        (lambda: cp.put_approval_result(pipelineName="p", stageName="Approval", actionName="Nope",
                                        result={"summary": "s", "status": "Approved"}, token="0" * 36),
         "ActionNotFoundException"),
        (lambda: cp.put_approval_result(pipelineName="p", stageName="Approval", actionName="Approve",
                                        result={"summary": "s", "status": "Approved"}, token="0" * 36),
         "InvalidApprovalTokenException"),
        (lambda: cp.update_pipeline(pipeline={"name": "nope", "roleArn": role, "artifactStore": {
            "type": "S3", "location": bucket}, "stages": [codecommit_source("app"), approval_stage()]}),
         "ResourceNotFoundException"),
        (lambda: cp.list_pipeline_executions(pipelineName="p", nextToken="not-a-token"),
         "InvalidNextTokenException"),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as bad:
            call()
        assert error_code(bad) == code
    # The CreatePipeline execution fails at Source (no such repository): it cannot be stopped any more.
    wait_for(lambda: stage_states(cp, "p")["Source"].get("latestExecution", {}).get("status") == "Failed")
    with pytest.raises(ClientError) as finished:
        cp.stop_pipeline_execution(pipelineName="p", pipelineExecutionId=execution_id, abandon=True)
    assert error_code(finished) == "PipelineExecutionNotStoppableException"


def test_a_malformed_request_is_a_validation_error_not_a_500(cloud, account):
    cp = cloud.client("codepipeline", account)
    cp.list_pipelines()  # the service is loaded
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "CodePipeline_20150709.GetPipeline",
               "Authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/us-east-1/codepipeline/aws4_request, "
                                "SignedHeaders=host, Signature=x"}
    for body in (b"{not json", b'{"name": 5}', b"[]"):
        request = urllib.request.Request(cloud.endpoint, data=body, headers=headers, method="POST")
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == 400
        assert json.loads(answer.value.read())["__type"] == "ValidationException"


def test_codepipeline_answers_when_cloudformation_loaded_it_first(tmp_path):
    """CloudFormation's extensions import this service's package; moto must still
    find CodePipeline's URLs when the first CodePipeline request comes after."""
    from tests.conftest import new_account, start_cloud, stop_cloud

    fresh = start_cloud(tmp_path)
    try:
        account = new_account()
        fresh.client("cloudformation", account).list_stacks()
        assert fresh.client("codepipeline", account).list_pipelines()["pipelines"] == []
    finally:
        stop_cloud(fresh)
