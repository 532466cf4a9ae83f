"""Drift detection for the resource types the labs create that AWS checks
(CodeBuild project, IAM role and managed policy, Lambda function and alias,
CloudWatch alarm, CodeCommit repository): IN_SYNC as deployed, MODIFIED with the
property path after a change out of band, DELETED when gone; a type AWS does
not check (CDK's metadata, a custom resource) stays NOT_CHECKED."""

from __future__ import annotations

import json

from tests.test_cloudformation_drift import deploy, detect, drifts
from tests.test_lambda_invoke import zip_code

TEMPLATE = """
Resources:
  BuildRole:
    Type: AWS::IAM::Role
    Properties:
      Description: builds the sample app
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: codebuild.amazonaws.com}
            Action: sts:AssumeRole
      Tags:
        - {Key: lab, Value: 04-iac}
  ReadPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Description: read the artifacts
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: "s3:GetObject", Resource: "*"}
  Build:
    Type: AWS::CodeBuild::Project
    Properties:
      Name: drift-build
      ServiceRole: !GetAtt BuildRole.Arn
      Source: {Type: NO_SOURCE, BuildSpec: "version: 0.2\\nphases: {build: {commands: [echo hi]}}"}
      Artifacts: {Type: NO_ARTIFACTS}
      Environment:
        Type: LINUX_CONTAINER
        ComputeType: BUILD_GENERAL1_SMALL
        Image: aws/codebuild/standard:7.0
      TimeoutInMinutes: 15
  Repo:
    Type: AWS::CodeCommit::Repository
    Properties:
      RepositoryName: drift-repo
      RepositoryDescription: the sample app
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: drift-fn
      Runtime: python3.12
      Handler: index.handler
      Timeout: 5
      Role: !GetAtt BuildRole.Arn
      Environment: {Variables: {COLOR: blue}}
      Code: {ZipFile: "def handler(event, context):\\n    return 1\\n"}
  FnVersion:
    Type: AWS::Lambda::Version
    Properties: {FunctionName: !Ref Fn}
  Live:
    Type: AWS::Lambda::Alias
    Properties: {FunctionName: !Ref Fn, FunctionVersion: !GetAtt FnVersion.Version, Name: live}
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: drift-errors
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{Name: FunctionName, Value: !Ref Fn}]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
  CDKMetadata:
    Type: AWS::CDK::Metadata
    Properties: {Analytics: "v2:deflate64:H4sI"}
"""

CHECKED = {"BuildRole", "ReadPolicy", "Build", "Repo", "Fn", "Live", "Errors"}


def test_lab_types_are_checked_in_sync_then_modified_out_of_band(cloud, account):
    cf = cloud.client("cloudformation", account)
    deploy(cf, TEMPLATE, "types")
    assert detect(cf, "types")["StackDriftStatus"] == "IN_SYNC"
    found = drifts(cf, "types")
    assert {n for n, d in found.items() if d["StackResourceDriftStatus"] == "IN_SYNC"} == CHECKED
    assert found["CDKMetadata"]["StackResourceDriftStatus"] == "NOT_CHECKED"
    assert found["FnVersion"]["StackResourceDriftStatus"] == "NOT_CHECKED"

    # Out of band, each through its service's own API.
    codebuild = cloud.client("codebuild", account)
    codebuild.update_project(name="drift-build", environment={
        "type": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_MEDIUM", "image": "aws/codebuild/standard:7.0"})
    role = found["BuildRole"]["PhysicalResourceId"]
    cloud.client("iam", account).update_role(RoleName=role, Description="changed by hand")
    cloud.client("lambda", account).update_function_configuration(
        FunctionName="drift-fn", Timeout=9, Environment={"Variables": {"COLOR": "green"}})
    cloud.client("cloudwatch", account).put_metric_alarm(
        AlarmName="drift-errors", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": "FunctionName", "Value": "drift-fn"}])
    cloud.client("codecommit", account).update_repository_description(repositoryName="drift-repo",
                                                                     repositoryDescription="renamed by hand")

    status = detect(cf, "types")
    assert status["StackDriftStatus"] == "DRIFTED"
    found = drifts(cf, "types", StackResourceDriftStatusFilters=["MODIFIED"])
    assert set(found) == {"Build", "BuildRole", "Fn", "Errors", "Repo"}
    build = {d["PropertyPath"]: d for d in found["Build"]["PropertyDifferences"]}
    assert build["/Environment/ComputeType"]["ExpectedValue"] == "BUILD_GENERAL1_SMALL"
    assert build["/Environment/ComputeType"]["ActualValue"] == "BUILD_GENERAL1_MEDIUM"
    assert found["BuildRole"]["PropertyDifferences"] == [{
        "PropertyPath": "/Description", "ExpectedValue": "builds the sample app",
        "ActualValue": "changed by hand", "DifferenceType": "NOT_EQUAL"}]
    fn = {d["PropertyPath"]: d for d in found["Fn"]["PropertyDifferences"]}
    assert fn["/Timeout"]["ActualValue"] == "9" and fn["/Environment/Variables/COLOR"]["ActualValue"] == "green"
    assert [d["PropertyPath"] for d in found["Errors"]["PropertyDifferences"]] == ["/Threshold"]
    assert [d["PropertyPath"] for d in found["Repo"]["PropertyDifferences"]] == ["/RepositoryDescription"]
    assert json.loads(found["BuildRole"]["ActualProperties"])["Description"] == "changed by hand"

    # Deleted out of band: DELETED, and the stack still deletes cleanly.
    codebuild.delete_project(name="drift-build")
    detect(cf, "types")
    assert drifts(cf, "types")["Build"]["StackResourceDriftStatus"] == "DELETED"
    cf.delete_stack(StackName="types")
    left = [(s["StackStatus"], s.get("StackStatusReason"),
             [(e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in
              cf.describe_stack_events(StackName=s["StackId"])["StackEvents"] if "FAILED" in e["ResourceStatus"]])
            for s in cf.describe_stacks()["Stacks"] if s["StackName"] == "types"]
    assert not left
    assert cloud.client("lambda", account).list_functions()["Functions"] == []


def test_updating_the_stack_back_brings_it_in_sync(cloud, account):
    cf = cloud.client("cloudformation", account)
    deploy(cf, TEMPLATE, "types")
    role = cf.describe_stack_resource(StackName="types", LogicalResourceId="BuildRole")[
        "StackResourceDetail"]["PhysicalResourceId"]
    cloud.client("iam", account).update_role(RoleName=role, Description="changed by hand")
    assert detect(cf, "types")["StackDriftStatus"] == "DRIFTED"
    cf.update_stack(StackName="types", TemplateBody=TEMPLATE.replace("builds the sample app", "builds it"),
                    Capabilities=["CAPABILITY_IAM"])
    assert cloud.client("iam", account).get_role(RoleName=role)["Role"]["Description"] == "builds it"
    assert detect(cf, "types")["StackDriftStatus"] == "IN_SYNC"
