"""CodePipeline executions that really run (issue 4's Pipeline acceptance): a
real `git push` to main starts the pipeline, get_pipeline_state shows each
stage as it runs, the approval waits until approved, the CloudFormation stage
deploys; a failing build stops the execution at Build and nothing is deployed.
Also: merges and API commits start it, other branches do not, an EventBridge
rule is named as the trigger, and an approval notifies its SNS topic."""

from __future__ import annotations

import json
import time

from tests.test_codebuild_codecommit import git, git_env

IMAGE = "aws/codebuild/standard:7.0"
FINAL = ("Succeeded", "Failed", "Stopped", "Superseded", "Cancelled")

TEMPLATE = """\
Parameters:
  Stage:
    Type: String
    Default: dev
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "app-${Stage}"
Outputs:
  QueueUrl:
    Value: !Ref Queue
"""

PASSING_BUILDSPEC = """\
version: 0.2
phases:
  build:
    commands:
      - python -c "print('tests pass')"
      - echo built > built.txt
artifacts:
  files:
    - template.yml
    - built.txt
"""

FAILING_BUILDSPEC = """\
version: 0.2
phases:
  build:
    commands:
      - python -c "import sys; print('1 test failed'); sys.exit(1)"
artifacts:
  files:
    - template.yml
"""


# -- helpers (the other CodePipeline test files use them too) ----------------------------------

def pipeline_role(iam, name: str = "pipeline-role") -> str:
    """A role trusting CodePipeline and the services its actions use (AWS allows several)."""
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": ["codepipeline.amazonaws.com", "codebuild.amazonaws.com",
                                  "cloudformation.amazonaws.com"]}}]}
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def artifact_bucket(s3, account: str) -> str:
    bucket = f"pipeline-artifacts-{account}"
    s3.create_bucket(Bucket=bucket)
    return bucket


def action(name: str, category: str, provider: str, config: dict | None = None, inputs=(), outputs=(),
           run_order: int = 1, namespace: str | None = None) -> dict:
    out = {"name": name, "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
           "configuration": dict(config or {}), "inputArtifacts": [{"name": n} for n in inputs],
           "outputArtifacts": [{"name": n} for n in outputs], "runOrder": run_order}
    if namespace:
        out["namespace"] = namespace
    return out


def codecommit_source(repo: str, branch: str = "main", poll: str = "false") -> dict:
    return {"name": "Source", "actions": [action("Source", "Source", "CodeCommit",
                                                 {"RepositoryName": repo, "BranchName": branch,
                                                  "PollForSourceChanges": poll},
                                                 outputs=["SourceOutput"], namespace="SourceVariables")]}


def build_stage(project: str, inputs=("SourceOutput",), outputs=("BuildOutput",)) -> dict:
    return {"name": "Build", "actions": [action("Build", "Build", "CodeBuild", {"ProjectName": project},
                                                inputs=inputs, outputs=outputs)]}


def approval_stage(name: str = "Approval") -> dict:
    return {"name": name, "actions": [action("Approve", "Approval", "Manual", {"CustomData": "Ship it?"})]}


def deploy_stage(stack: str, role: str, artifact: str = "BuildOutput") -> dict:
    return {"name": "Deploy", "actions": [action("Deploy", "Deploy", "CloudFormation", {
        "ActionMode": "CREATE_UPDATE", "StackName": stack, "TemplatePath": f"{artifact}::template.yml",
        "RoleArn": role, "ParameterOverrides": json.dumps({"Stage": "prod"})}, inputs=[artifact],
        namespace="DeployVariables")]}


def build_project(cb, role: str, name: str = "app-build", buildspec: str | None = None) -> str:
    source = {"type": "CODEPIPELINE"}
    if buildspec:
        source["buildspec"] = buildspec
    cb.create_project(name=name, source=source, artifacts={"type": "CODEPIPELINE"},
                      environment={"type": "LINUX_CONTAINER", "image": IMAGE, "computeType": "BUILD_GENERAL1_SMALL"},
                      serviceRole=role)
    return name


def create_pipeline(cp, name: str, role: str, bucket: str, stages: list[dict], **extra) -> dict:
    pipeline = {"name": name, "roleArn": role, "artifactStore": {"type": "S3", "location": bucket},
                "stages": stages, **extra}
    return cp.create_pipeline(pipeline=pipeline)["pipeline"]


def wait_for(check, timeout: float = 60.0, interval: float = 0.05, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def executions(cp, pipeline: str) -> list[dict]:
    return cp.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]


def execution(cp, pipeline: str, execution_id: str) -> dict:
    return cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]


def wait_execution(cp, pipeline: str, execution_id: str, timeout: float = 90.0) -> dict:
    return wait_for(lambda: (lambda e: e if e["status"] in FINAL else None)(execution(cp, pipeline, execution_id)),
                    timeout, 0.1, f"execution {execution_id} finishing")


def stage_states(cp, pipeline: str) -> dict[str, dict]:
    return {s["stageName"]: s for s in cp.get_pipeline_state(name=pipeline)["stageStates"]}


def stage_status(state: dict, execution_id: str | None = None) -> str | None:
    """The stage's status for this execution (None: the execution has not run it)."""
    latest = state.get("latestExecution")
    if latest is None or (execution_id and latest["pipelineExecutionId"] != execution_id):
        return None
    return latest["status"]


def approval_token(cp, pipeline: str, stage: str = "Approval", timeout: float = 60.0) -> str:
    def token():
        action_state = stage_states(cp, pipeline)[stage]["actionStates"][0]
        latest = action_state.get("latestExecution") or {}
        return latest.get("token") if latest.get("status") == "InProgress" else None

    return wait_for(token, timeout, 0.05, f"an approval token in {pipeline}/{stage}")


def approve(cp, pipeline: str, token: str, status: str = "Approved", stage: str = "Approval") -> None:
    cp.put_approval_result(pipelineName=pipeline, stageName=stage, actionName="Approve",
                           result={"summary": f"{status} by the test", "status": status}, token=token)


def action_runs(cp, pipeline: str, execution_id: str) -> dict[tuple[str, str], dict]:
    details = cp.list_action_executions(pipelineName=pipeline,
                                        filter={"pipelineExecutionId": execution_id})["actionExecutionDetails"]
    return {(d["stageName"], d["actionName"]): d for d in details}


class Repo:
    """A local clone that pushes to the account's CodeCommit repository with real git."""

    def __init__(self, cc, account: str, tmp_path, name: str = "app"):
        self.name = name
        url = cc.create_repository(repositoryName=name)["repositoryMetadata"]["cloneUrlHttp"]
        self.push_url = url.replace("://", f"://{account}:test@", 1)
        self.dir = tmp_path / f"clone-{name}"
        self.dir.mkdir()
        self.env = git_env(tmp_path)
        git(self.dir, "init", "-q", "-b", "main", env=self.env)

    def commit(self, files: dict[str, str], message: str) -> str:
        for path, text in files.items():
            target = self.dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.dir, "add", "-A", env=self.env)
        git(self.dir, "commit", "-q", "-m", message, env=self.env)
        return git(self.dir, "rev-parse", "HEAD", env=self.env)

    def push(self, branch: str = "main") -> None:
        git(self.dir, "push", "-q", self.push_url, f"HEAD:refs/heads/{branch}", env=self.env)


def new_execution(cp, pipeline: str, known: set[str], timeout: float = 10.0) -> dict:
    """The execution that appeared since `known` (exactly one)."""
    found = wait_for(lambda: [e for e in executions(cp, pipeline) if e["pipelineExecutionId"] not in known],
                     timeout, 0.05, "a new execution")
    assert len(found) == 1, found
    return found[0]


# -- the acceptance -------------------------------------------------------------------------------

def setup_release_pipeline(cloud, account, tmp_path, name: str = "release"):
    iam, s3, cc, cb, cp = (cloud.client(s, account) for s in ("iam", "s3", "codecommit", "codebuild", "codepipeline"))
    role = pipeline_role(iam)
    bucket = artifact_bucket(s3, account)
    repo = Repo(cc, account, tmp_path)
    project = build_project(cb, role)
    create_pipeline(cp, name, role, bucket, [codecommit_source(repo.name), build_stage(project), approval_stage(),
                                             deploy_stage("app-prod", role)])
    return cp, repo


def test_a_push_to_main_runs_source_build_approval_deploy(cloud, account, tmp_path):
    cp, repo = setup_release_pipeline(cloud, account, tmp_path)
    cfn = cloud.client("cloudformation", account)
    # Creating a pipeline runs it once at once: the repository is still empty, so Source fails.
    first = wait_execution(cp, "release", executions(cp, "release")[0]["pipelineExecutionId"])
    assert first["status"] == "Failed" and first["trigger"]["triggerType"] == "CreatePipeline"
    assert "no branch named main" in stage_states(cp, "release")["Source"]["actionStates"][0][
        "latestExecution"]["summary"]

    known = {e["pipelineExecutionId"] for e in executions(cp, "release")}
    commit = repo.commit({"buildspec.yml": PASSING_BUILDSPEC, "template.yml": TEMPLATE}, "First release")
    repo.push()
    started = new_execution(cp, "release", known)
    run_id = started["pipelineExecutionId"]
    assert started["trigger"]["triggerType"] == "CloudWatchEvent"

    # Watch the stages as they run, up to the approval.
    seen = []
    token = None
    deadline = time.monotonic() + 60
    while token is None and time.monotonic() < deadline:
        states = stage_states(cp, "release")
        snapshot = tuple(stage_status(states[s], run_id) for s in ("Source", "Build", "Approval", "Deploy"))
        if not seen or seen[-1] != snapshot:
            seen.append(snapshot)
        approval = states["Approval"]["actionStates"][0].get("latestExecution") or {}
        if approval.get("token") and stage_status(states["Approval"], run_id):
            token = approval["token"]
        time.sleep(0.03)
    assert token, seen
    assert ("Succeeded", "InProgress", None, None) in seen, seen
    assert seen[-1] == ("Succeeded", "Succeeded", "InProgress", None), seen

    # The approval waits: nothing is deployed until someone approves.
    for _ in range(10):
        assert stage_status(stage_states(cp, "release")["Approval"], run_id) == "InProgress"
        assert execution(cp, "release", run_id)["status"] == "InProgress"
        time.sleep(0.1)
    assert not [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "app-prod"]

    approve(cp, "release", token)
    done = wait_execution(cp, "release", run_id)
    assert done["status"] == "Succeeded"
    assert done["artifactRevisions"][0]["revisionId"] == commit
    assert done["artifactRevisions"][0]["revisionSummary"] == "First release"
    stack = cfn.describe_stacks(StackName="app-prod")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Parameters"][0]["ParameterValue"] == "prod"  # ParameterOverrides reached the stack
    states = stage_states(cp, "release")
    assert [stage_status(states[s], run_id) for s in states] == ["Succeeded"] * 4
    approval = states["Approval"]["actionStates"][0]["latestExecution"]
    assert approval["summary"] == "Approved by the test" and "token" not in approval

    runs = action_runs(cp, "release", run_id)
    assert runs[("Source", "Source")]["output"]["outputVariables"]["CommitId"] == commit
    assert runs[("Build", "Build")]["output"]["outputArtifacts"][0]["name"] == "BuildOutput"
    assert runs[("Build", "Build")]["input"]["inputArtifacts"][0]["name"] == "SourceOutput"
    build_id = runs[("Build", "Build")]["output"]["executionResult"]["externalExecutionId"]
    build = cloud.client("codebuild", account).batch_get_builds(ids=[build_id])["builds"][0]
    assert build["buildStatus"] == "SUCCEEDED" and build["initiator"] == "codepipeline/release"
    assert runs[("Deploy", "Deploy")]["output"]["outputVariables"]["QueueUrl"].endswith("/app-prod")


def test_a_failing_build_stops_the_execution_at_build_and_nothing_is_deployed(cloud, account, tmp_path):
    cp, repo = setup_release_pipeline(cloud, account, tmp_path)
    cfn = cloud.client("cloudformation", account)
    wait_execution(cp, "release", executions(cp, "release")[0]["pipelineExecutionId"])
    known = {e["pipelineExecutionId"] for e in executions(cp, "release")}
    repo.commit({"buildspec.yml": FAILING_BUILDSPEC, "template.yml": TEMPLATE}, "A change that breaks a test")
    repo.push()
    run_id = new_execution(cp, "release", known)["pipelineExecutionId"]

    done = wait_execution(cp, "release", run_id)
    assert done["status"] == "Failed"
    states = stage_states(cp, "release")
    assert stage_status(states["Source"], run_id) == "Succeeded"
    assert stage_status(states["Build"], run_id) == "Failed"
    assert stage_status(states["Approval"], run_id) is None
    assert stage_status(states["Deploy"], run_id) is None
    build_state = states["Build"]["actionStates"][0]["latestExecution"]
    assert build_state["status"] == "Failed"
    assert build_state["summary"].startswith("Build terminated with state: FAILED. Phase: BUILD")
    assert build_state["errorDetails"]["message"] == build_state["summary"]
    assert set(action_runs(cp, "release", run_id)) == {("Source", "Source"), ("Build", "Build")}
    assert not [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "app-prod"]


def test_merges_and_api_commits_start_it_and_other_branches_do_not(cloud, account, tmp_path):
    iam, s3, cc, cp = (cloud.client(s, account) for s in ("iam", "s3", "codecommit", "codepipeline"))
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    repo = Repo(cc, account, tmp_path)
    repo.commit({"README.md": "hello\n"}, "Initial")
    repo.push()
    create_pipeline(cp, "watch", role, bucket, [codecommit_source(repo.name, poll="true"), approval_stage()])
    wait_for(lambda: len(executions(cp, "watch")) == 1, what="the CreatePipeline execution")

    known = {e["pipelineExecutionId"] for e in executions(cp, "watch")}
    repo.commit({"feature.txt": "work in progress\n"}, "Feature work")
    repo.push("feature")
    time.sleep(0.5)
    assert {e["pipelineExecutionId"] for e in executions(cp, "watch")} == known

    merge = cc.merge_branches_by_fast_forward(repositoryName=repo.name, sourceCommitSpecifier="feature",
                                              destinationCommitSpecifier="main")
    merged = new_execution(cp, "watch", known)
    assert merged["trigger"] == {"triggerType": "PollForSourceChanges", "triggerDetail": "Source"}
    assert merged["sourceRevisions"] == [] or merged["sourceRevisions"][0]["revisionId"] == merge["commitId"]
    wait_for(lambda: execution(cp, "watch", merged["pipelineExecutionId"])["artifactRevisions"],
             what="the source revision")
    assert execution(cp, "watch", merged["pipelineExecutionId"])["artifactRevisions"][0]["revisionId"] == \
        merge["commitId"]

    known.add(merged["pipelineExecutionId"])
    head = cc.get_branch(repositoryName=repo.name, branchName="main")["branch"]["commitId"]
    put = cc.put_file(repositoryName=repo.name, branchName="main", fileContent=b"v2\n", filePath="VERSION",
                      parentCommitId=head)
    by_api = new_execution(cp, "watch", known)
    wait_for(lambda: execution(cp, "watch", by_api["pipelineExecutionId"])["artifactRevisions"],
             what="the source revision")
    assert execution(cp, "watch", by_api["pipelineExecutionId"])["artifactRevisions"][0]["revisionId"] == \
        put["commitId"]


def test_an_eventbridge_rule_is_named_as_the_trigger_and_a_push_runs_once(cloud, account, tmp_path):
    iam, s3, cc, cp, events = (cloud.client(s, account) for s in ("iam", "s3", "codecommit", "codepipeline", "events"))
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    repo = Repo(cc, account, tmp_path)
    repo.commit({"README.md": "hello\n"}, "Initial")
    repo.push()
    create_pipeline(cp, "evented", role, bucket, [codecommit_source(repo.name), approval_stage()])
    arn = cp.get_pipeline(name="evented")["metadata"]["pipelineArn"]
    # What the console makes for PollForSourceChanges false: a rule on the branch, targeting the pipeline.
    rule_arn = events.put_rule(Name="evented-on-main", EventPattern=json.dumps({
        "source": ["aws.codecommit"], "detail-type": ["CodeCommit Repository State Change"],
        "detail": {"referenceType": ["branch"], "referenceName": ["main"]}}))["RuleArn"]
    events.put_targets(Rule="evented-on-main", Targets=[{"Id": "pipeline", "Arn": arn, "RoleArn": role}])
    wait_for(lambda: len(executions(cp, "evented")) == 1, what="the CreatePipeline execution")
    known = {e["pipelineExecutionId"] for e in executions(cp, "evented")}
    repo.commit({"README.md": "hello again\n"}, "Second")
    repo.push()
    pushed = new_execution(cp, "evented", known)
    assert pushed["trigger"] == {"triggerType": "CloudWatchEvent", "triggerDetail": rule_arn}
    time.sleep(0.3)
    assert len(executions(cp, "evented")) == 2  # one push, one execution


def test_an_approval_notifies_its_topic(cloud, account):
    iam, s3, cc, cp, sns, sqs = (cloud.client(s, account)
                                 for s in ("iam", "s3", "codecommit", "codepipeline", "sns", "sqs"))
    role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
    cc.create_repository(repositoryName="app")
    cc.put_file(repositoryName="app", branchName="main", fileContent=b"v1\n", filePath="VERSION")
    topic = sns.create_topic(Name="approvals")["TopicArn"]
    queue = sqs.create_queue(QueueName="approvals")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    gate = {"name": "Approval", "actions": [action("Approve", "Approval", "Manual", {
        "NotificationArn": topic, "CustomData": "Please review", "ExternalEntityLink": "https://example.com/pr/1"})]}
    create_pipeline(cp, "notify", role, bucket, [codecommit_source("app"), gate])
    token = approval_token(cp, "notify")
    messages = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"),
                        what="the approval notification")
    body = json.loads(messages[0]["Body"])
    assert body["approval"]["token"] == token
    assert body["approval"]["customData"] == "Please review"
    assert body["approval"]["externalEntityLink"] == "https://example.com/pr/1"
    assert (body["approval"]["pipelineName"], body["approval"]["stageName"]) == ("notify", "Approval")
