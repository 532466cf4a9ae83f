"""One account with a resource of every kind the labs make (issue 10's list), and
what a learner would read of it: the persistence tests compare that reading before
a stop and after the next start; tests/data/make_snapshot.py and the snapshot
benchmark build the same account."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.test_codebuild_builds import inline_project, wait_build
from tests.test_codedeploy_lambda import appspec, finished, lambda_group
from tests.test_codepipeline_executions import (
    Repo,
    artifact_bucket,
    build_project,
    build_stage,
    codecommit_source,
    create_pipeline,
    executions,
    pipeline_role,
    wait_execution,
)
from tests.test_lambda_invoke import invoke, make_function, zip_code

BUILDSPEC = """version: 0.2
phases:
  build:
    commands:
      - echo "building the kept app"
      - python3 -c "print(6 * 7)"
artifacts:
  files:
    - app.py
"""
VERSION = """
    def handler(event, context):
        return "{tag}"
"""
TEMPLATE = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "kept-topic"}},
                          "Queue": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}}}


def wait_for(check, timeout: float = 90.0, every: float = 0.1, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def populate(cloud, account: str, tmp_path: Path) -> dict:
    """Every kind of resource, finished work included; returns what the verifier needs."""
    c = {s: cloud.client(s, account) for s in ("s3", "codecommit", "cloudformation", "codebuild", "lambda",
                                               "cloudwatch", "codedeploy", "codepipeline", "iam", "sts",
                                               "sqs", "ecr", "logs")}
    made: dict = {"account": account}
    # A repository with two commits pushed with git.
    repo = Repo(c["codecommit"], account, tmp_path, "kept-app")
    repo.commit({"buildspec.yml": BUILDSPEC, "app.py": "print('v1')\n"}, "First commit")
    made["head"] = repo.commit({"app.py": "print('v2')\n"}, "Second commit")
    repo.push()
    made["clone_url"] = repo.push_url
    # A bucket with an object.
    made["bucket"] = f"kept-{account}"
    c["s3"].create_bucket(Bucket=made["bucket"])
    c["s3"].put_object(Bucket=made["bucket"], Key="notes/hello.txt", Body=b"kept across restarts\n")
    # A stack (with its events).
    made["stack_id"] = c["cloudformation"].create_stack(StackName="kept-stack",
                                                        TemplateBody=json.dumps(TEMPLATE))["StackId"]
    wait_for(lambda: c["cloudformation"].describe_stacks(StackName="kept-stack")["Stacks"][0]["StackStatus"]
             == "CREATE_COMPLETE", what="the stack")
    # A build project and a finished build, with its logs.
    inline_project(c["codebuild"], account, "kept-build", BUILDSPEC.split("artifacts:")[0])
    made["build_id"] = c["codebuild"].start_build(projectName="kept-build")["build"]["id"]
    assert wait_build(c["codebuild"], made["build_id"])["buildStatus"] == "SUCCEEDED"
    # A function with a version and an alias; a deployment that moved the alias to version 2.
    make_function(cloud, account, "kept-fn", VERSION.format(tag="v1"))
    c["lambda"].publish_version(FunctionName="kept-fn")
    c["lambda"].update_function_code(FunctionName="kept-fn", ZipFile=zip_code(VERSION.format(tag="v2")))
    c["lambda"].get_waiter("function_updated_v2").wait(FunctionName="kept-fn")
    c["lambda"].publish_version(FunctionName="kept-fn")
    c["lambda"].create_alias(FunctionName="kept-fn", Name="live", FunctionVersion="1")
    lambda_group(cloud, account, "kept-group", "CodeDeployDefault.LambdaAllAtOnce", application="kept-shop")
    made["deployment_id"] = c["codedeploy"].create_deployment(
        applicationName="kept-shop", deploymentGroupName="kept-group", revision=appspec("kept-fn"))["deploymentId"]
    assert finished(c["codedeploy"], made["deployment_id"])["status"] == "Succeeded"
    # An alarm in ALARM, with its history (missing data breaches: it stays there).
    c["cloudwatch"].put_metric_alarm(
        AlarmName="kept-alarm", Namespace="Kept", MetricName="Errors", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="breaching")
    wait_for(lambda: c["cloudwatch"].describe_alarms(AlarmNames=["kept-alarm"])["MetricAlarms"][0]["StateValue"]
             == "ALARM", what="the alarm's ALARM state")
    # A pipeline whose first execution ran Source and Build.
    role = pipeline_role(c["iam"])
    bucket = artifact_bucket(c["s3"], account)
    build_project(c["codebuild"], role, "kept-pipeline-build")
    create_pipeline(c["codepipeline"], "kept-pipeline", role, bucket,
                    [codecommit_source("kept-app"), build_stage("kept-pipeline-build")])
    first = wait_for(lambda: executions(c["codepipeline"], "kept-pipeline"), what="an execution")
    made["execution_id"] = first[0]["pipelineExecutionId"]
    done = wait_execution(c["codepipeline"], "kept-pipeline", made["execution_id"])
    assert done["status"] == "Succeeded", c["codepipeline"].get_pipeline_state(name="kept-pipeline")
    # An IAM user with a key, and keys STS issued for a role.
    c["iam"].create_user(UserName="kept-user")
    key = c["iam"].create_access_key(UserName="kept-user")["AccessKey"]
    made["user_key"] = (key["AccessKeyId"], key["SecretAccessKey"])
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
    role_arn = c["iam"].create_role(RoleName="kept-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    creds = c["sts"].assume_role(RoleArn=role_arn, RoleSessionName="kept")["Credentials"]
    made["sts_key"] = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    # What moto holds behind locks: a queue with a message, a container repository.
    made["queue_url"] = c["sqs"].create_queue(QueueName="kept-queue")["QueueUrl"]
    c["sqs"].send_message(QueueUrl=made["queue_url"], MessageBody="kept message")
    c["ecr"].create_repository(repositoryName="kept-images")
    return made


def reading(cloud, made: dict, tmp_path: Path) -> dict:
    """What a learner reads of the account: compared before the stop and after the start."""
    account = made["account"]
    c = {s: cloud.client(s, account) for s in ("s3", "codecommit", "cloudformation", "codebuild", "lambda",
                                               "cloudwatch", "codedeploy", "codepipeline", "iam", "sqs",
                                               "ecr", "logs")}
    out: dict = {}
    repo = c["codecommit"].get_repository(repositoryName="kept-app")["repositoryMetadata"]
    branch = c["codecommit"].get_branch(repositoryName="kept-app", branchName="main")["branch"]
    out["repository"] = (repo["repositoryId"], repo["cloneUrlHttp"], branch["commitId"])
    out["git_log"] = _git_log(made["clone_url"], tmp_path)
    obj = c["s3"].get_object(Bucket=made["bucket"], Key="notes/hello.txt")
    out["object"] = (obj["Body"].read(), obj["ETag"])
    stack = c["cloudformation"].describe_stacks(StackName="kept-stack")["Stacks"][0]
    events = c["cloudformation"].describe_stack_events(StackName="kept-stack")["StackEvents"]
    resources = c["cloudformation"].describe_stack_resources(StackName="kept-stack")["StackResources"]
    out["stack"] = (stack["StackId"], stack["StackStatus"], stack.get("Outputs"),
                    [(e["EventId"], e["ResourceStatus"]) for e in events],
                    sorted((r["LogicalResourceId"], r["PhysicalResourceId"]) for r in resources))
    project = c["codebuild"].batch_get_projects(names=["kept-build"])["projects"][0]
    build = c["codebuild"].batch_get_builds(ids=[made["build_id"]])["builds"][0]
    log_events = c["logs"].get_log_events(logGroupName=build["logs"]["groupName"],
                                          logStreamName=build["logs"]["streamName"], startFromHead=True)["events"]
    out["build"] = (project["arn"], build["buildStatus"], build["buildNumber"],
                    [(p["phaseType"], p.get("phaseStatus")) for p in build["phases"]],
                    [e["message"] for e in log_events])
    function = c["lambda"].get_function(FunctionName="kept-fn")["Configuration"]
    versions = c["lambda"].list_versions_by_function(FunctionName="kept-fn")["Versions"]
    alias = c["lambda"].get_alias(FunctionName="kept-fn", Name="live")
    out["function"] = (function["FunctionArn"], function["CodeSha256"],
                       [(v["Version"], v["CodeSha256"]) for v in versions], alias["AliasArn"], alias["FunctionVersion"])
    out["invoke"] = invoke(c["lambda"], "kept-fn", Qualifier="live")[1]
    alarm = c["cloudwatch"].describe_alarms(AlarmNames=["kept-alarm"])["MetricAlarms"][0]
    history = c["cloudwatch"].describe_alarm_history(AlarmName="kept-alarm", HistoryItemType="StateUpdate")
    out["alarm"] = (alarm["AlarmArn"], alarm["StateValue"],
                    [(h["Timestamp"], h["HistorySummary"]) for h in history["AlarmHistoryItems"]])
    deployment = c["codedeploy"].get_deployment(deploymentId=made["deployment_id"])["deploymentInfo"]
    out["deployment"] = (deployment["deploymentId"], deployment["status"], deployment["deploymentGroupName"],
                         deployment.get("completeTime"))
    execution = c["codepipeline"].get_pipeline_execution(
        pipelineName="kept-pipeline", pipelineExecutionId=made["execution_id"])["pipelineExecution"]
    out["execution"] = (execution["pipelineExecutionId"], execution["status"],
                        [a["actionName"] for a in c["codepipeline"].list_action_executions(
                            pipelineName="kept-pipeline")["actionExecutionDetails"]])
    out["user"] = [k["AccessKeyId"] for k in c["iam"].list_access_keys(UserName="kept-user")["AccessKeyMetadata"]]
    out["caller_by_user_key"] = _caller(cloud, *made["user_key"])
    out["caller_by_sts_key"] = _caller(cloud, *made["sts_key"])
    attributes = c["sqs"].get_queue_attributes(QueueUrl=made["queue_url"], AttributeNames=["QueueArn"])
    out["queue"] = attributes["Attributes"]["QueueArn"]
    out["ecr"] = [r["repositoryArn"] for r in c["ecr"].describe_repositories()["repositories"]]
    return out


def _caller(cloud, key: str, secret: str, token: str | None = None) -> str:
    import boto3

    sts = boto3.client("sts", endpoint_url=cloud.endpoint, region_name="us-east-1", aws_access_key_id=key,
                       aws_secret_access_key=secret, aws_session_token=token)
    return sts.get_caller_identity()["Account"]


def _git_log(url: str, tmp_path: Path) -> list[str]:
    target = tmp_path / f"clone-{time.monotonic_ns()}"
    clone = subprocess.run(["git", "clone", "-q", url, str(target)], capture_output=True, text=True, timeout=60,
                           env={"GIT_TERMINAL_PROMPT": "0", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert clone.returncode == 0, clone.stderr
    done = subprocess.run(["git", "-C", str(target), "log", "--format=%H %s"], check=True, capture_output=True,
                          text=True, timeout=60)
    return done.stdout.split("\n")
