"""What the cloud's own services record in CloudTrail for a learner: a git push is
GitPush by the pusher; CodePipeline starting a build and deploying a stack, and
CloudFormation creating the stack's resources, name the service (invokedBy)."""

from __future__ import annotations

import json

from tests.test_codepipeline_executions import (
    PASSING_BUILDSPEC, TEMPLATE, Repo, artifact_bucket, build_project, build_stage, codecommit_source,
    create_pipeline, deploy_stage, executions, new_execution, pipeline_role, wait_execution,
)


def _events(cloud, account: str, name: str) -> list[dict]:
    trail = cloud.client("cloudtrail", account)
    page = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])
    return [json.loads(e["CloudTrailEvent"]) for e in page["Events"]]


def test_a_pipeline_run_records_the_push_and_the_services_work(cloud, account, tmp_path):
    iam, s3, cc, cb, cp = (cloud.client(s, account) for s in ("iam", "s3", "codecommit", "codebuild", "codepipeline"))
    role = pipeline_role(iam)
    bucket = artifact_bucket(s3, account)
    repo = Repo(cc, account, tmp_path)
    project = build_project(cb, role)
    create_pipeline(cp, "release", role, bucket, [codecommit_source(repo.name), build_stage(project),
                                                  deploy_stage("app-prod", role)])
    wait_execution(cp, "release", executions(cp, "release")[0]["pipelineExecutionId"])
    known = {e["pipelineExecutionId"] for e in executions(cp, "release")}
    commit = repo.commit({"buildspec.yml": PASSING_BUILDSPEC, "template.yml": TEMPLATE}, "First release")
    repo.push()
    run = new_execution(cp, "release", known)
    assert wait_execution(cp, "release", run["pipelineExecutionId"])["status"] == "Succeeded"

    [push] = _events(cloud, account, "GitPush")
    assert push["eventSource"] == "codecommit.amazonaws.com"
    assert push["userIdentity"]["type"] == "Root" and push["userIdentity"]["accountId"] == account
    assert push["requestParameters"]["references"] == [{"ref": "refs/heads/main", "commit": commit}]
    assert push["additionalEventData"]["repositoryName"] == "app"
    assert push["resources"][0]["type"] == "AWS::CodeCommit::Repository"

    [build] = _events(cloud, account, "StartBuild")
    assert build["userIdentity"] == {"type": "AWSService", "invokedBy": "codepipeline.amazonaws.com"}
    assert build["eventSource"] == "codebuild.amazonaws.com"
    assert build["sourceIPAddress"] == "codepipeline.amazonaws.com"
    assert build["requestParameters"]["projectName"] == project
    assert build["responseElements"]["build"]["initiator"] == "codepipeline/release"

    [stack] = _events(cloud, account, "CreateStack")
    assert stack["userIdentity"]["invokedBy"] == "codepipeline.amazonaws.com"
    assert stack["requestParameters"]["stackName"] == "app-prod"
    queues = [e for e in _events(cloud, account, "CreateQueue")]
    assert [q["userIdentity"] for q in queues] == [{"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}]
    assert queues[0]["requestParameters"]["queueName"] == "app-prod"
    assert queues[0]["resources"][0]["resourceName"].endswith("/app-prod")


def test_cloudformation_records_each_call_it_makes_for_a_resource(cloud, account):
    cfn = cloud.client("cloudformation", account)
    template = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketName": f"stack-{account}", "VersioningConfiguration": {"Status": "Enabled"}}}}}
    cfn.create_stack(StackName="calls", TemplateBody=json.dumps(template))
    template["Resources"]["Bucket"]["Properties"]["Tags"] = [{"Key": "lab", "Value": "04-iac"}]
    cfn.update_stack(StackName="calls", TemplateBody=json.dumps(template))
    cfn.delete_stack(StackName="calls")
    by_cfn = {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}
    for name in ("CreateBucket", "PutBucketVersioning", "PutBucketTagging", "DeleteBucket"):
        found = [e for e in _events(cloud, account, name) if e["userIdentity"] == by_cfn]
        assert len(found) == 1, name
        assert found[0]["resources"][0]["resourceName"] == f"stack-{account}"
    [learner] = _events(cloud, account, "CreateStack")
    assert learner["userIdentity"]["type"] == "Root"
