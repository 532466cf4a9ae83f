"""Deploy actions and the rest of the pipeline's world: CloudFormation change
sets (replace, then execute, with a template configuration and parameter
overrides), DELETE_ONLY, a failing stack and REPLACE_ON_FAILURE, an S3 source
and an S3 deploy, AWS::CodePipeline::Pipeline in a stack, and an account
reset that stops executions."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile

from tests.test_codepipeline_executions import (
    TEMPLATE,
    action,
    action_runs,
    approval_stage,
    approval_token,
    artifact_bucket,
    codecommit_source,
    create_pipeline,
    executions,
    pipeline_role,
    stage_states,
    wait_execution,
    wait_for,
)

FAILING_TEMPLATE = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Widget:
    Type: AWS::Foo::Bar
    DependsOn: Queue
"""


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def s3_source(bucket: str, key: str = "release.zip") -> dict:
    return {"name": "Source", "actions": [action("Source", "Source", "S3", {
        "S3Bucket": bucket, "S3ObjectKey": key, "PollForSourceChanges": "false"}, outputs=["Bundle"])]}


def cfn_action(name: str, mode: str, stack: str, role: str, run_order: int = 1, **config) -> dict:
    settings = {"ActionMode": mode, "StackName": stack, "RoleArn": role, **config}
    inputs = ["Bundle"] if any(k in config for k in ("TemplatePath", "TemplateConfiguration")) else []
    outputs = ["StackOutputs"] if "OutputFileName" in config else []
    return action(name, "Deploy", "CloudFormation", settings, inputs=inputs, outputs=outputs, run_order=run_order,
                  namespace=f"{name}Vars" if mode in ("CHANGE_SET_EXECUTE", "CREATE_UPDATE") else None)


def run_once(cp, name: str) -> dict:
    known = {e["pipelineExecutionId"] for e in executions(cp, name)}
    run_id = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
    assert run_id not in known
    return wait_execution(cp, name, run_id)


def test_change_sets_then_an_s3_deploy_of_the_outputs(cloud, account):
    iam, s3, cp, cfn = (cloud.client(s, account) for s in ("iam", "s3", "codepipeline", "cloudformation"))
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    site = f"site-{account}"
    s3.create_bucket(Bucket=site)
    s3.put_object(Bucket=bucket, Key="release.zip", Body=zipped({
        "template.yml": TEMPLATE,
        "config/prod.json": json.dumps({"Parameters": {"Stage": "from-config"}, "Tags": {"team": "blue"}}),
        "params.json": json.dumps({"stage": "from-file"})}))
    stages = [
        s3_source(bucket),
        {"name": "Deploy", "actions": [
            cfn_action("Plan", "CHANGE_SET_REPLACE", "app", role, ChangeSetName="release",
                       TemplatePath="Bundle::template.yml", TemplateConfiguration="Bundle::config/prod.json"),
            cfn_action("Apply", "CHANGE_SET_EXECUTE", "app", role, run_order=2, ChangeSetName="release",
                       OutputFileName="outputs.json")]},
        {"name": "Publish", "actions": [action("Publish", "Deploy", "S3", {
            "BucketName": site, "Extract": "true", "ObjectKey": "stack"}, inputs=["StackOutputs"])]},
    ]
    create_pipeline(cp, "cs", role, bucket, stages)
    first = wait_execution(cp, "cs", executions(cp, "cs")[0]["pipelineExecutionId"])
    assert first["status"] == "Succeeded", stage_states(cp, "cs")
    assert first["artifactRevisions"][0]["revisionId"] == \
        s3.head_object(Bucket=bucket, Key="release.zip")["VersionId"]
    stack = cfn.describe_stacks(StackName="app")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {"Stage": "from-config"}
    assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {"team": "blue"}
    published = json.loads(s3.get_object(Bucket=site, Key="stack/outputs.json")["Body"].read())
    assert published["QueueUrl"].endswith("/app-from-config")
    runs = action_runs(cp, "cs", first["pipelineExecutionId"])
    assert runs[("Deploy", "Plan")]["output"]["executionResult"]["externalExecutionSummary"] == \
        "Change set release was created for stack app"
    assert runs[("Deploy", "Apply")]["output"]["outputVariables"] == {"QueueUrl": published["QueueUrl"]}

    # Nothing changed: the change set has no changes and both actions say so.
    again = run_once(cp, "cs")
    assert again["status"] == "Succeeded"
    runs = action_runs(cp, "cs", again["pipelineExecutionId"])
    assert "didn't contain changes" in runs[("Deploy", "Plan")]["output"]["executionResult"][
        "externalExecutionSummary"]

    # A parameter override (from a file in the artifact) wins over the configuration: an update.
    plan = stages[1]["actions"][0]
    plan["configuration"]["ParameterOverrides"] = json.dumps(
        {"Stage": {"Fn::GetParam": ["Bundle", "params.json", "stage"]}})
    pipeline = cp.get_pipeline(name="cs")["pipeline"]
    pipeline["stages"] = stages
    cp.update_pipeline(pipeline=pipeline)
    third = run_once(cp, "cs")
    assert third["status"] == "Succeeded" and third["pipelineVersion"] == 2
    stack = cfn.describe_stacks(StackName="app")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["Parameters"][0]["ParameterValue"] == "from-file"


def test_a_failing_stack_fails_the_action_and_replace_on_failure_recreates_it(cloud, account):
    iam, s3, cp, cfn = (cloud.client(s, account) for s in ("iam", "s3", "codepipeline", "cloudformation"))
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    s3.put_object(Bucket=bucket, Key="release.zip", Body=zipped({"template.yml": FAILING_TEMPLATE}))
    create_pipeline(cp, "f", role, bucket, [s3_source(bucket), {"name": "Deploy", "actions": [
        cfn_action("Deploy", "CREATE_UPDATE", "shaky", role, TemplatePath="Bundle::template.yml")]}])
    failed = wait_execution(cp, "f", executions(cp, "f")[0]["pipelineExecutionId"])
    assert failed["status"] == "Failed"
    summary = stage_states(cp, "f")["Deploy"]["actionStates"][0]["latestExecution"]["summary"]
    assert summary.startswith("Stack shaky is in ROLLBACK_COMPLETE state")
    assert cfn.describe_stacks(StackName="shaky")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"

    # CREATE_UPDATE cannot update a rolled-back stack; REPLACE_ON_FAILURE deletes and creates it.
    s3.put_object(Bucket=bucket, Key="release.zip", Body=zipped({"template.yml": TEMPLATE}))
    assert run_once(cp, "f")["status"] == "Failed"
    pipeline = cp.get_pipeline(name="f")["pipeline"]
    pipeline["stages"][1]["actions"][0]["configuration"]["ActionMode"] = "REPLACE_ON_FAILURE"
    cp.update_pipeline(pipeline=pipeline)
    assert run_once(cp, "f")["status"] == "Succeeded"
    assert cfn.describe_stacks(StackName="shaky")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"

    pipeline["stages"][1]["actions"][0] = cfn_action("Deploy", "DELETE_ONLY", "shaky", role)
    cp.update_pipeline(pipeline=pipeline)
    assert run_once(cp, "f")["status"] == "Succeeded"
    assert not [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == "shaky" and s["StackStatus"] != "DELETE_COMPLETE"]


PIPELINE_STACK = """\
Parameters:
  Bucket:
    Type: String
  Repo:
    Type: String
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              Service: [codepipeline.amazonaws.com, codebuild.amazonaws.com]
            Action: sts:AssumeRole
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: from-a-stack
      RoleArn: !GetAtt Role.Arn
      ArtifactStore:
        Type: S3
        Location: !Ref Bucket
      Stages:
        - Name: Source
          Actions:
            - Name: Source
              ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
              Configuration:
                RepositoryName: !Ref Repo
                BranchName: main
                PollForSourceChanges: false
              OutputArtifacts: [{Name: Src}]
        - Name: Approval
          Actions:
            - Name: Approve
              ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
      Tags:
        - Key: lab
          Value: 03-deploy
Outputs:
  Name:
    Value: !Ref Pipeline
  Version:
    Value: !GetAtt Pipeline.Version
"""


def test_a_stack_creates_updates_and_deletes_a_pipeline(cloud, account):
    s3, cc, cp, cfn = (cloud.client(s, account) for s in ("s3", "codecommit", "codepipeline", "cloudformation"))
    bucket = artifact_bucket(s3, account)
    cc.create_repository(repositoryName="app")
    cc.put_file(repositoryName="app", branchName="main", fileContent=b"v1\n", filePath="VERSION")
    params = [{"ParameterKey": "Bucket", "ParameterValue": bucket}, {"ParameterKey": "Repo", "ParameterValue": "app"}]
    cfn.create_stack(StackName="cicd", TemplateBody=PIPELINE_STACK, Parameters=params,
                     Capabilities=["CAPABILITY_IAM"])
    stack = cfn.describe_stacks(StackName="cicd")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {"Name": "from-a-stack", "Version": "1"}
    declared = cp.get_pipeline(name="from-a-stack")["pipeline"]
    assert declared["stages"][0]["actions"][0]["configuration"]["PollForSourceChanges"] == "false"
    arn = cp.get_pipeline(name="from-a-stack")["metadata"]["pipelineArn"]
    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "lab", "value": "03-deploy"}]
    approval_token(cp, "from-a-stack")  # it runs: the first execution waits for approval

    head = cc.get_branch(repositoryName="app", branchName="main")["branch"]["commitId"]
    cc.put_file(repositoryName="app", branchName="main", fileContent=b"v2\n", filePath="VERSION",
                parentCommitId=head)
    wait_for(lambda: len(executions(cp, "from-a-stack")) == 2, what="the push's execution")

    cfn.update_stack(StackName="cicd", TemplateBody=PIPELINE_STACK.replace("Name: Approve", "Name: Sign-off"),
                     Parameters=params, Capabilities=["CAPABILITY_IAM"])
    stack = cfn.describe_stacks(StackName="cicd")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Version"] == "2"
    assert cp.get_pipeline(name="from-a-stack")["pipeline"]["stages"][1]["actions"][0]["name"] == "Sign-off"

    cfn.delete_stack(StackName="cicd")
    assert cp.list_pipelines()["pipelines"] == []


def test_an_account_reset_stops_its_executions(cloud, account):
    iam, s3, cc, cp = (cloud.client(s, account) for s in ("iam", "s3", "codecommit", "codepipeline"))
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    cc.create_repository(repositoryName="app")
    cc.put_file(repositoryName="app", branchName="main", fileContent=b"v1\n", filePath="VERSION")
    create_pipeline(cp, "doomed", role, bucket, [codecommit_source("app"), approval_stage()])
    approval_token(cp, "doomed")
    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", data=b"",
                                     method="POST", headers={"X-Workshop-Admin-Token": cloud.admin_token})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert cp.list_pipelines()["pipelines"] == []
    # The account starts again from nothing, and pipelines run again.
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    cc.create_repository(repositoryName="app")
    cc.put_file(repositoryName="app", branchName="main", fileContent=b"v1\n", filePath="VERSION")
    create_pipeline(cp, "reborn", role, bucket, [codecommit_source("app"), approval_stage()])
    assert approval_token(cp, "reborn")
