"""CodeDeploy deploy actions: on the Server platform the source artifact is
the deployment's bundle (its hooks really run on the instances, a failing
ValidateService fails the stage); on the Lambda platform the artifact's
appspec moves the alias to the new version."""

from __future__ import annotations

import json

from tests.test_codedeploy_lambda import two_versions
from tests.test_codedeploy_server import RECORD, VALIDATE, bundle, instance_root, register, server_group
from tests.test_codepipeline_deploy import s3_source
from tests.test_codepipeline_executions import (
    action,
    action_runs,
    artifact_bucket,
    create_pipeline,
    executions,
    pipeline_role,
    stage_states,
    wait_execution,
)

APPSPEC = """version: 0.0
os: linux
files:
  - source: /site
    destination: /var/www/html
hooks:
  AfterInstall:
    - location: scripts/record.sh
  ValidateService:
    - location: scripts/validate.sh
"""


def release(tag: str, validate: str | None = None) -> bytes:
    return bundle({"appspec.yml": APPSPEC, "site/index.html": f"<h1>{tag}</h1>\n", "scripts/record.sh": RECORD,
                   "scripts/validate.sh": validate or VALIDATE.format(tag=tag)})


def deploy_stage(application: str, group: str) -> dict:
    return {"name": "Deploy", "actions": [action("Deploy", "Deploy", "CodeDeploy", {
        "ApplicationName": application, "DeploymentGroupName": group}, inputs=["Bundle"])]}


def test_server_deployment_from_the_pipelines_artifact(cloud, account):
    iam, s3, cp = (cloud.client(s, account) for s in ("iam", "s3", "codepipeline"))
    cd = cloud.client("codedeploy", account)
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    register(cloud, account, ["web-1", "web-2"], [{"Key": "app", "Value": "shop"}])
    server_group(cloud, account, "web", "CodeDeployDefault.OneAtATime",
                 onPremisesInstanceTagFilters=[{"Key": "app", "Value": "shop", "Type": "KEY_AND_VALUE"}])
    s3.put_object(Bucket=bucket, Key="release.zip", Body=release("v1"))
    create_pipeline(cp, "ship", role, bucket, [s3_source(bucket), deploy_stage("shop", "web")])
    run_id = executions(cp, "ship")[0]["pipelineExecutionId"]
    assert wait_execution(cp, "ship", run_id)["status"] == "Succeeded", stage_states(cp, "ship")
    for instance in ("web-1", "web-2"):
        assert (instance_root(cloud, account, instance) / "var/www/html/index.html").read_text() == "<h1>v1</h1>\n"
    runs = action_runs(cp, "ship", run_id)
    deployment_id = runs[("Deploy", "Deploy")]["output"]["executionResult"]["externalExecutionId"]
    info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["status"] == "Succeeded"
    artifact = runs[("Source", "Source")]["output"]["outputArtifacts"][0]["s3location"]
    assert info["revision"]["s3Location"]["bucket"] == artifact["bucket"]
    assert info["revision"]["s3Location"]["key"] == artifact["key"]

    # A release whose validation fails fails the Deploy stage and the execution.
    s3.put_object(Bucket=bucket, Key="release.zip", Body=release("v2", validate="#!/bin/sh\nexit 1\n"))
    failed_id = cp.start_pipeline_execution(name="ship")["pipelineExecutionId"]
    assert wait_execution(cp, "ship", failed_id)["status"] == "Failed"
    latest = stage_states(cp, "ship")["Deploy"]["actionStates"][0]["latestExecution"]
    assert latest["status"] == "Failed" and latest["summary"].startswith("Deployment d-")
    failed = cd.get_deployment(deploymentId=latest["externalExecutionId"])["deploymentInfo"]
    assert failed["status"] == "Failed"


def test_lambda_deployment_moves_the_alias(cloud, account):
    iam, s3, cp = (cloud.client(s, account) for s in ("iam", "s3", "codepipeline"))
    cd = cloud.client("codedeploy", account)
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    client = two_versions(cloud, account, "pricing")
    cd.create_application(applicationName="pricing-app", computePlatform="Lambda")
    cd.create_deployment_group(applicationName="pricing-app", deploymentGroupName="live",
                               serviceRoleArn=f"arn:aws:iam::{account}:role/codedeploy",
                               deploymentConfigName="CodeDeployDefault.LambdaAllAtOnce")
    spec = {"version": 0.0, "Resources": [{"pricing": {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": "pricing", "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"}}}]}
    s3.put_object(Bucket=bucket, Key="release.zip", Body=bundle({"appspec.yaml": json.dumps(spec)}))
    create_pipeline(cp, "fn", role, bucket, [s3_source(bucket), deploy_stage("pricing-app", "live")])
    run_id = executions(cp, "fn")[0]["pipelineExecutionId"]
    assert wait_execution(cp, "fn", run_id)["status"] == "Succeeded", stage_states(cp, "fn")
    assert client.get_alias(FunctionName="pricing", Name="live")["FunctionVersion"] == "2"
    deployment_id = action_runs(cp, "fn", run_id)[("Deploy", "Deploy")]["output"]["executionResult"][
        "externalExecutionId"]
    assert cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "Succeeded"
