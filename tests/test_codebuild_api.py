"""CodeBuild's API around the builds: projects (create, update, batch get,
list and sort, delete) with AWS's errors for bad input, build listings,
retry and delete, report groups and reports, and the CloudFormation types
AWS::CodeBuild::Project and AWS::CodeBuild::ReportGroup."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.test_codebuild_builds import environment, inline_project, phases, role, run, wait_build

TRIVIAL = "version: 0.2\nphases:\n  build:\n    commands: [echo ok]\n"


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_project_lifecycle(cloud, account):
    cb = cloud.client("codebuild", account)
    env = environment(environmentVariables=[
        {"name": "STAGE", "value": "dev", "type": "PLAINTEXT"},
        {"name": "DB_PASSWORD", "value": "/app/db", "type": "PARAMETER_STORE"}])
    created = cb.create_project(
        name="web", description="the web app", source={"type": "NO_SOURCE", "buildspec": TRIVIAL},
        artifacts={"type": "NO_ARTIFACTS"}, environment=env, serviceRole=role(account),
        timeoutInMinutes=15, tags=[{"key": "lab", "value": "02-build"}])["project"]
    assert created["arn"] == f"arn:aws:codebuild:us-east-1:{account}:project/web"
    assert created["environment"]["image"] == "aws/codebuild/standard:7.0"
    assert created["environment"]["computeType"] == "BUILD_GENERAL1_SMALL"
    assert created["environment"]["environmentVariables"][1] == {
        "name": "DB_PASSWORD", "value": "/app/db", "type": "PARAMETER_STORE"}
    assert created["timeoutInMinutes"] == 15 and created["queuedTimeoutInMinutes"] == 480
    assert created["logsConfig"]["cloudWatchLogs"]["status"] == "ENABLED"

    inline_project(cb, account, "api", TRIVIAL)
    inline_project(cb, account, "admin", TRIVIAL)
    assert cb.list_projects()["projects"] == ["admin", "api", "web"]
    assert cb.list_projects(sortBy="NAME", sortOrder="DESCENDING")["projects"] == ["web", "api", "admin"]
    assert cb.list_projects(sortBy="CREATED_TIME", sortOrder="ASCENDING")["projects"] == ["web", "api", "admin"]

    updated = cb.update_project(name="web", description="changed", timeoutInMinutes=30,
                                environment=environment(image="aws/codebuild/amazonlinux2-x86_64-standard:5.0"))
    assert updated["project"]["description"] == "changed"
    assert updated["project"]["timeoutInMinutes"] == 30
    assert updated["project"]["lastModified"] >= created["lastModified"]
    got = cb.batch_get_projects(names=["web", "nope", f"arn:aws:codebuild:us-east-1:{account}:project/api"])
    assert [p["name"] for p in got["projects"]] == ["web", "api"]
    assert got["projectsNotFound"] == ["nope"]
    assert got["projects"][0]["environment"]["image"] == "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
    assert got["projects"][0]["tags"] == [{"key": "lab", "value": "02-build"}]

    build = run(cb, "api")
    cb.delete_project(name="api")
    assert cb.list_projects()["projects"] == ["admin", "web"]
    # A deleted project's builds remain, as in AWS.
    assert cb.batch_get_builds(ids=[build["id"]])["builds"][0]["buildStatus"] == "SUCCEEDED"


@pytest.mark.parametrize("change,code", [
    ({"name": "-starts-with-dash"}, "InvalidInputException"),
    ({"source": {"type": "NO_SOURCE"}}, "InvalidInputException"),  # NO_SOURCE needs a buildspec
    ({"source": {"type": "S3"}}, "InvalidInputException"),  # S3 needs a location
    ({"source": {"type": "CODECOMMIT", "location": "not-a-clone-url"}}, "InvalidInputException"),
    ({"artifacts": {"type": "S3"}}, "InvalidInputException"),
    ({"artifacts": {"type": "NO_ARTIFACTS", "location": "bucket"}}, "InvalidInputException"),
    ({"serviceRole": "arn:aws:iam::111111111111:role/elsewhere"}, "InvalidInputException"),
    ({"environment": {"type": "LINUX_CONTAINER", "computeType": "HUGE", "image": "x"}}, "InvalidInputException"),
    ({"environment": {"type": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL", "image": "x",
                      "environmentVariables": [{"name": "1BAD", "value": "v"}]}}, "InvalidInputException"),
])
def test_bad_projects_are_refused_with_aws_errors(cloud, account, change, code):
    cb = cloud.client("codebuild", account)
    params = dict(name="good-name", source={"type": "NO_SOURCE", "buildspec": TRIVIAL},
                  artifacts={"type": "NO_ARTIFACTS"}, environment=environment(), serviceRole=role(account))
    params.update(change)
    with pytest.raises(ClientError) as err:
        cb.create_project(**params)
    assert error_code(err) == code
    assert err.value.response["Error"]["Message"]


def test_missing_things_and_duplicates(cloud, account):
    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "dup", TRIVIAL)
    with pytest.raises(ClientError) as err:
        inline_project(cb, account, "dup", TRIVIAL)
    assert error_code(err) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as err:
        cb.start_build(projectName="nope")
    assert error_code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        cb.update_project(name="nope", description="x")
    assert error_code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        cb.list_builds_for_project(projectName="nope")
    assert error_code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        cb.stop_build(id="dup:00000000-0000-0000-0000-000000000000")
    assert error_code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        cb.batch_get_builds(ids=["no-colon"])
    assert error_code(err) == "InvalidInputException"
    with pytest.raises(ClientError) as err:
        cb.start_build(projectName="dup", sourceVersion="main")  # NO_SOURCE has no version
    assert error_code(err) == "InvalidInputException"


def _raw_call(cloud, account: str, target: str, body: bytes) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=cloud.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"CodeBuild_20161006.{target}"})
    SigV4Auth(Credentials(account, "test"), "codebuild", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(request.url, data=body, headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(prepared, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_malformed_bodies_get_aws_errors_not_500(cloud, account):
    for target, body in (("CreateProject", b"not json"), ("CreateProject", b"[1, 2]"),
                         ("StartBuild", b"{\"projectName\": 5}"), ("BatchGetBuilds", b"{\"ids\": \"x\"}")):
        status, payload = _raw_call(cloud, account, target, body)
        assert 400 <= status < 500 and payload["__type"] and payload["message"], (target, body, status)


def test_wrongly_typed_members_never_cause_a_500(cloud, account):
    """Every member of the main operations, replaced by each wrong JSON type."""
    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "typed", TRIVIAL)
    good = {
        "CreateProject": dict(name="typed2", source={"type": "NO_SOURCE", "buildspec": TRIVIAL},
                              artifacts={"type": "NO_ARTIFACTS"}, environment=environment(),
                              serviceRole=role(account), logsConfig={"cloudWatchLogs": {"status": "ENABLED"}},
                              tags=[{"key": "a", "value": "b"}], timeoutInMinutes=10),
        "UpdateProject": dict(name="typed", description="d", timeoutInMinutes=10),
        "StartBuild": dict(projectName="typed", buildspecOverride=TRIVIAL,
                           environmentVariablesOverride=[{"name": "A", "value": "b", "type": "PLAINTEXT"}],
                           timeoutInMinutesOverride=10, logsConfigOverride={"cloudWatchLogs": {"status": "ENABLED"}},
                           artifactsOverride={"type": "NO_ARTIFACTS"}),
        "CreateReportGroup": dict(name="rg", type="TEST", exportConfig={"exportConfigType": "NO_EXPORT"}),
        "ListProjects": dict(sortBy="NAME", sortOrder="ASCENDING"),
        "ListReports": dict(filter={"status": "FAILED"}, maxResults=5),
        "DescribeTestCases": dict(reportArn="arn", filter={"status": "FAILED"}),
    }
    nested = {("source", "buildspec"), ("source", "type"), ("environment", "environmentVariables"),
              ("environment", "image"), ("logsConfig", "cloudWatchLogs"), ("artifactsOverride", "type")}
    wrong = [5, "x", [], {}, None, True, [5], [{"name": 5}]]
    for target, params in good.items():
        variants = [(key,) for key in params] + [k for k in nested if k[0] in params]
        for path in variants:
            for value in wrong:
                body = json.loads(json.dumps(params))
                holder = body
                for part in path[:-1]:
                    holder = holder[part]
                holder[path[-1]] = value
                status, payload = _raw_call(cloud, account, target, json.dumps(body).encode())
                assert status < 500, (target, path, value, status, payload)


def test_build_listings_retry_and_delete(cloud, account):
    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "one", TRIVIAL)
    inline_project(cb, account, "two", TRIVIAL)
    first = run(cb, "one")
    second = run(cb, "two")
    third = run(cb, "one")
    assert [first["buildNumber"], third["buildNumber"]] == [1, 2]
    assert cb.list_builds()["ids"] == [third["id"], second["id"], first["id"]]
    assert cb.list_builds(sortOrder="ASCENDING")["ids"] == [first["id"], second["id"], third["id"]]
    assert cb.list_builds_for_project(projectName="one")["ids"] == [third["id"], first["id"]]

    retried = cb.retry_build(id=first["id"])["build"]
    assert retried["projectName"] == "one" and retried["id"] != first["id"]
    assert wait_build(cb, retried["id"])["buildStatus"] == "SUCCEEDED"

    result = cb.batch_delete_builds(ids=[first["id"], "one:missing"])
    assert result["buildsDeleted"] == [first["id"]]
    assert result["buildsNotDeleted"][0]["id"] == "one:missing"
    assert first["id"] not in cb.list_builds()["ids"]


def test_start_build_overrides(cloud, account):
    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "over", TRIVIAL)
    spec = "version: 0.2\nphases:\n  build:\n    commands: [echo \"from override $X\"]\n"
    build = run(cb, "over", buildspecOverride=spec, timeoutInMinutesOverride=7,
                imageOverride="aws/codebuild/standard:6.0",
                environmentVariablesOverride=[{"name": "X", "value": "42", "type": "PLAINTEXT"}])
    assert build["buildStatus"] == "SUCCEEDED"
    assert build["timeoutInMinutes"] == 7
    assert build["environment"]["image"] == "aws/codebuild/standard:6.0"
    assert build["source"]["buildspec"] == spec
    from tests.test_codebuild_builds import log_text
    assert "from override 42" in log_text(cloud, account, build)
    # The project itself is unchanged.
    project = cb.batch_get_projects(names=["over"])["projects"][0]
    assert project["timeoutInMinutes"] == 60 and project["source"]["buildspec"] == TRIVIAL

    # A buildspec kept in S3, named by its ARN.
    s3 = cloud.client("s3", account)
    s3.create_bucket(Bucket=f"specs-{account}")
    s3.put_object(Bucket=f"specs-{account}", Key="ci/buildspec.yml",
                  Body=b"version: 0.2\nphases:\n  build:\n    commands: [echo from-s3-spec]\n")
    build = run(cb, "over", buildspecOverride=f"arn:aws:s3:::specs-{account}/ci/buildspec.yml")
    assert build["buildStatus"] == "SUCCEEDED"
    assert "from-s3-spec" in log_text(cloud, account, build)


def test_report_groups_and_reports(cloud, account):
    cb = cloud.client("codebuild", account)
    group = cb.create_report_group(name="unit", type="TEST",
                                   exportConfig={"exportConfigType": "NO_EXPORT"})["reportGroup"]
    assert group["arn"] == f"arn:aws:codebuild:us-east-1:{account}:report-group/unit"
    with pytest.raises(ClientError) as err:
        cb.create_report_group(name="unit", type="TEST", exportConfig={"exportConfigType": "NO_EXPORT"})
    assert error_code(err) == "ResourceAlreadyExistsException"
    assert cb.list_report_groups()["reportGroups"] == [group["arn"]]
    missing = f"arn:aws:codebuild:us-east-1:{account}:report-group/none"
    got = cb.batch_get_report_groups(reportGroupArns=[group["arn"], missing])
    assert got["reportGroups"][0]["name"] == "unit" and got["reportGroupsNotFound"] == [missing]

    # A buildspec report naming an existing group by ARN reports into it.
    spec = f"""
version: 0.2
phases:
  build:
    commands:
      - mkdir -p out
      - |
        cat > out/results.xml <<'EOF'
        <testsuites><testsuite name="suite">
          <testcase classname="pkg.TestA" name="passes" time="0.5"/>
          <testcase classname="pkg.TestA" name="fails" time="0.25"><failure message="boom">trace</failure></testcase>
          <testcase classname="pkg.TestB" name="errs"><error message="bad"/></testcase>
          <testcase classname="pkg.TestB" name="skipped"><skipped/></testcase>
        </testsuite></testsuites>
        EOF
reports:
  {group["arn"]}:
    files: [results.xml]
    base-directory: out
"""
    inline_project(cb, account, "reporting", spec)
    build = run(cb, "reporting")
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    report_arn, = cb.list_reports_for_report_group(reportGroupArn=group["arn"])["reports"]
    assert build["reportArns"] == [report_arn]
    assert report_arn in cb.list_reports()["reports"]
    assert cb.list_reports(filter={"status": "SUCCEEDED"})["reports"] == []
    report = cb.batch_get_reports(reportArns=[report_arn])["reports"][0]
    assert report["status"] == "FAILED" and report["executionId"] == build["arn"]
    assert report["testSummary"]["total"] == 4
    assert report["testSummary"]["durationInNanoSeconds"] == 750_000_000
    assert report["testSummary"]["statusCounts"] == {
        "SUCCEEDED": 1, "FAILED": 1, "ERROR": 1, "SKIPPED": 1, "UNKNOWN": 0}
    cases = cb.describe_test_cases(reportArn=report_arn)["testCases"]
    assert {c["name"]: c["status"] for c in cases} == {
        "passes": "SUCCEEDED", "fails": "FAILED", "errs": "ERROR", "skipped": "SKIPPED"}
    fails = next(c for c in cases if c["name"] == "fails")
    assert fails["prefix"] == "pkg.TestA" and fails["message"] == "boom\ntrace"
    page = cb.describe_test_cases(reportArn=report_arn, maxResults=3)
    assert len(page["testCases"]) == 3 and page["nextToken"]
    rest = cb.describe_test_cases(reportArn=report_arn, maxResults=3, nextToken=page["nextToken"])
    assert len(rest["testCases"]) == 1 and "nextToken" not in rest

    trend = cb.get_report_group_trend(reportGroupArn=group["arn"], trendField="PASS_RATE")
    assert trend["stats"]["average"] == "25"

    with pytest.raises(ClientError) as err:
        cb.delete_report_group(arn=group["arn"])
    assert error_code(err) == "InvalidInputException"
    cb.delete_report_group(arn=group["arn"], deleteReports=True)
    assert cb.list_report_groups()["reportGroups"] == []
    assert cb.batch_get_reports(reportArns=[report_arn])["reportsNotFound"] == [report_arn]


def test_cloudformation_creates_projects_and_report_groups_that_build(cloud, account):
    cfn, cb, s3 = (cloud.client(s, account) for s in ("cloudformation", "codebuild", "s3"))
    bucket = f"cfn-artifacts-{account}"
    template = {
        "Resources": {
            "Artifacts": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}},
            "Tests": {"Type": "AWS::CodeBuild::ReportGroup",
                      "Properties": {"Name": "cfn-tests", "Type": "TEST",
                                     "ExportConfig": {"ExportConfigType": "NO_EXPORT"},
                                     "Tags": [{"Key": "lab", "Value": "02"}]}},
            "Project": {"Type": "AWS::CodeBuild::Project", "Properties": {
                "Name": "cfn-project",
                "Description": "made by a stack",
                "ServiceRole": f"arn:aws:iam::{account}:role/cb",
                "Source": {"Type": "NO_SOURCE", "BuildSpec": {"Fn::Sub": (
                    "version: 0.2\nphases:\n  build:\n    commands:\n      - echo $STAGE > out.txt\n"
                    "artifacts:\n  files: [out.txt]\n")}},
                "Artifacts": {"Type": "S3", "Location": {"Ref": "Artifacts"}, "Packaging": "ZIP",
                              "Name": "out.zip"},
                "Environment": {"Type": "LINUX_CONTAINER", "ComputeType": "BUILD_GENERAL1_SMALL",
                                "Image": "aws/codebuild/standard:7.0",
                                "EnvironmentVariables": [{"Name": "STAGE", "Value": "prod"}]},
                "TimeoutInMinutes": "20",
                "Tags": [{"Key": "lab", "Value": "02"}],
            }},
        },
        "Outputs": {
            "ProjectName": {"Value": {"Ref": "Project"}},
            "ProjectArn": {"Value": {"Fn::GetAtt": ["Project", "Arn"]}},
            "GroupArn": {"Value": {"Ref": "Tests"}},
        },
    }
    cfn.create_stack(StackName="build-stack", TemplateBody=json.dumps(template))
    stack = cfn.describe_stacks(StackName="build-stack")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["ProjectName"] == "cfn-project"
    assert outputs["ProjectArn"] == f"arn:aws:codebuild:us-east-1:{account}:project/cfn-project"
    assert outputs["GroupArn"] == f"arn:aws:codebuild:us-east-1:{account}:report-group/cfn-tests"

    project = cb.batch_get_projects(names=["cfn-project"])["projects"][0]
    assert project["timeoutInMinutes"] == 20 and project["description"] == "made by a stack"
    assert project["environment"]["environmentVariables"] == [
        {"name": "STAGE", "value": "prod", "type": "PLAINTEXT"}]
    assert project["tags"] == [{"key": "lab", "value": "02"}]
    build = run(cb, "cfn-project")
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    assert s3.head_object(Bucket=bucket, Key="out.zip")["ContentLength"] > 0

    cfn.delete_stack(StackName="build-stack")
    assert cb.list_projects()["projects"] == []
    assert cb.list_report_groups()["reportGroups"] == []
