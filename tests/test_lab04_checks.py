"""Lab 04-iac's checks against real accounts in the workshop cloud: an empty
account fails every check with a hint; the lab's steps done with boto3 (Part 2's
template synthesized by the solution's CDK app) pass them all; half-done and broken
states (stack only, drift left, bucket gone, a rolled-back stack, Part 1 without
Part 2) give findings, never exceptions; and ``workshop check 04-iac`` answers 1, 0
and 2 (cloud down)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from checker.labs import has_lab_tag, parse_template, tag_dict
from checker.labs.lab04_cdk import (
    APP_KEY,
    CDK_STACK,
    REDUCTION_KEY,
    _expand,
    analytics,
    code_lines,
    logical_id,
    template_text,
)
from checker.labs.lab04_iac import REPORT_KEY, STACK_NAME, _denies_plain_http
from checker.registry import get_lab
from checker.runner import run_lab
from checker.session import Target
from tests.conftest import free_port, new_account

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "04-iac" / "04-iac.ipynb"
LAB_TAGS = [{"Key": "workshop:lab", "Value": "04-iac"}]
FAST = {"Delay": 1, "MaxAttempts": 120}
PART1 = {"stack-deployed", "template-parameters", "outputs", "bucket-secure", "resources-tagged",
         "change-set-executed", "drift-detected", "drift-fixed"}
PART2 = {"cdk-synthesized", "cdk-stack-deployed", "cdk-construct-reused", "cdk-reduction-measured",
         "templates-or-code"}
ALL = PART1 | PART2


# -- the lab's steps, done with boto3 (the templates come from the solution notebook) ------

def templates() -> tuple[str, str]:
    """TEMPLATE and TEMPLATE_V2 from the solution regions of the notebook: one source of the text."""
    ns: dict = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in ("template", "template-v2"):
            exec(cell.source.split("### END SOLUTION")[0], ns)  # noqa: S102 (our own notebook)
    return ns["TEMPLATE"], ns["TEMPLATE_V2"]


def notebook_cell(grade_id: str) -> str:
    """A solution cell's code without its region markers and cell magics."""
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return "\n".join(line for line in cell.source.splitlines()
                             if not line.strip().startswith(("### BEGIN SOLUTION", "### END SOLUTION", "%%")))
    raise KeyError(grade_id)


def app_source() -> str:
    """The solution's cdk_app.py, as the notebook's %%writefile cell writes it."""
    return notebook_cell("cdk-app") + "\n"


@functools.cache
def synthesize(source: str) -> dict:
    """The template a CDK app's source synthesizes (run as the CDK CLI runs it: a process, once per source)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "cdk_app.py").write_text(source)
        env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
        out = subprocess.run([sys.executable, "cdk_app.py"], cwd=folder, env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return json.loads(Path(folder, "cdk.out", f"{CDK_STACK}.template.json").read_text())


def comparison() -> dict:
    """The solution's COMPARISON (its cell's solution region)."""
    source = next(c.source for c in nbformat.read(SOLUTION, as_version=4).cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "comparison")
    ns: dict = {}
    exec(source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0], ns)  # noqa: S102 (our own notebook)
    return ns["COMPARISON"]


def deploy_cdk(cloud, account: str, template: dict, name: str = "cdk-deploy", body: str | None = None) -> None:
    """Step 7: a CREATE change set of the synthesized template (or of ``body``), executed."""
    cfn = cloud.client("cloudformation", account)
    cfn.create_change_set(StackName=CDK_STACK, ChangeSetName=name, ChangeSetType="CREATE",
                          TemplateBody=body or json.dumps(template), Tags=LAB_TAGS)
    cfn.get_waiter("change_set_create_complete").wait(StackName=CDK_STACK, ChangeSetName=name, WaiterConfig=FAST)
    cfn.execute_change_set(StackName=CDK_STACK, ChangeSetName=name)
    cfn.get_waiter("stack_create_complete").wait(StackName=CDK_STACK, WaiterConfig=FAST)


def measured(cloud, account: str, source: str, template: dict) -> dict:
    """Step 8's figures, as the notebook measures them."""
    deployed = cloud.client("cloudformation", account).get_template(StackName=STACK_NAME)["TemplateBody"]
    synthesized = template_text(template)
    figures = {"template_lines": code_lines(deployed), "cdk_lines": code_lines(source),
               "synthesized_lines": code_lines(synthesized), "synthesized_bytes": len(synthesized.encode())}
    figures["ratio"] = figures["cdk_lines"] / figures["template_lines"]
    return figures


def save_measurement(cloud, account: str, document: dict, source: str | None = None) -> None:
    s3 = cloud.client("s3", account)
    if source is not None:
        s3.put_object(Bucket=lab_bucket(account), Key=APP_KEY, Body=source.encode())
    s3.put_object(Bucket=lab_bucket(account), Key=REDUCTION_KEY, Body=json.dumps(document).encode())


def lab_bucket(account: str) -> str:
    return f"workshop-04-iac-{account}-us-east-1"


def detect(cfn) -> dict:
    detection = cfn.detect_stack_drift(StackName=STACK_NAME)["StackDriftDetectionId"]
    for _ in range(300):
        status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
        if status["DetectionStatus"] != "DETECTION_IN_PROGRESS":
            return status
        time.sleep(0.2)
    raise TimeoutError("drift detection did not finish")


def solve(cloud, account: str, upto: str = "cdk-compare") -> None:
    """The lab's solution, step by step, stopping after ``upto``."""
    cfn, s3 = cloud.client("cloudformation", account), cloud.client("s3", account)
    v1, v2 = templates()
    cfn.create_stack(StackName=STACK_NAME, TemplateBody=v1, Tags=LAB_TAGS,
                     Parameters=[{"ParameterKey": "Environment", "ParameterValue": "dev"}])
    cfn.get_waiter("stack_create_complete").wait(StackName=STACK_NAME, WaiterConfig=FAST)
    if upto == "deploy":
        return
    cfn.create_change_set(StackName=STACK_NAME, ChangeSetName="add-alerts-queue", ChangeSetType="UPDATE",
                          TemplateBody=v2, Tags=LAB_TAGS,
                          Parameters=[{"ParameterKey": "Environment", "UsePreviousValue": True}])
    cfn.get_waiter("change_set_create_complete").wait(StackName=STACK_NAME, ChangeSetName="add-alerts-queue",
                                                      WaiterConfig=FAST)
    cfn.execute_change_set(StackName=STACK_NAME, ChangeSetName="add-alerts-queue")
    cfn.get_waiter("stack_update_complete").wait(StackName=STACK_NAME, WaiterConfig=FAST)
    if upto == "change-set":
        return
    bucket = lab_bucket(account)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert detect(cfn)["StackDriftStatus"] == "DRIFTED"
    drifts = cfn.describe_stack_resource_drifts(StackName=STACK_NAME)
    drifts.pop("ResponseMetadata", None)
    s3.put_object(Bucket=bucket, Key=REPORT_KEY, Body=json.dumps(drifts, default=str).encode())
    if upto == "drift":
        return
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert detect(cfn)["StackDriftStatus"] == "IN_SYNC"
    if upto == "fix-drift":
        return
    source = app_source()
    template = synthesize(source)
    deploy_cdk(cloud, account, template)
    if upto == "cdk-deploy":
        return
    save_measurement(cloud, account, {"measured": measured(cloud, account, source, template),
                                      "comparison": comparison()}, source)


def checks(cloud, account: str) -> dict:
    result = run_lab("04-iac", Target(cloud.endpoint, account, "test", "us-east-1"))
    assert result.error is None and result.account == account
    return {r.id.split(".", 1)[1]: r for r in result.results}


def passing(found: dict) -> set[str]:
    return {slug for slug, r in found.items() if r.passed}


def assert_findings(found: dict) -> None:
    """Every result is a finding a learner can act on, never a crashed check."""
    assert set(found) == ALL
    for slug, r in found.items():
        assert r.message, slug
        assert "could not evaluate" not in r.message and "could not read" not in r.message, (slug, r.message)
        if not r.passed:
            assert r.hint and len(r.hints) == 3 and r.docs.startswith("https://docs.aws.amazon.com/"), slug


def workshop_check(cloud_endpoint: str, account: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workshop", "check", "04-iac", "--endpoint", cloud_endpoint,
                           "--account", account], capture_output=True, text=True, cwd=ROOT, timeout=120)


# -- the tests ----------------------------------------------------------------------------

def test_empty_account_fails_every_check_with_a_hint(cloud, account):
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == set()
    assert STACK_NAME in found["stack-deployed"].message
    assert "out of band" in found["drift-detected"].message


def test_solved_account_passes_every_check(cloud, account):
    solve(cloud, account)
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == ALL, {s: r.message for s, r in found.items() if not r.passed}
    assert "PutBucketVersioning (Suspended)" in found["drift-detected"].message
    assert "DRIFTED" in found["drift-detected"].message
    assert "IN_SYNC" in found["drift-fixed"].message
    assert "Data, Logs" in found["cdk-construct-reused"].message
    assert "deployed by change set (cdk-deploy" in found["cdk-stack-deployed"].message


def test_part1_alone_passes_part1_and_no_cdk_check(cloud, account):
    solve(cloud, account, upto="fix-drift")
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == PART1
    assert f"no stack named {CDK_STACK}" in found["cdk-synthesized"].message
    assert f"no s3://{lab_bucket(account)}/{REDUCTION_KEY}" in found["cdk-reduction-measured"].message


def test_the_cdk_clis_yaml_template_passes_too(cloud, account):
    """`cdk deploy` sends the template as YAML; CloudFormation keeps it so, and the checks read it."""
    import yaml

    solve(cloud, account, upto="fix-drift")
    deploy_cdk(cloud, account, {}, body=yaml.safe_dump(synthesize(app_source()), sort_keys=False))
    found = checks(cloud, account)
    assert {"cdk-synthesized", "cdk-stack-deployed", "cdk-construct-reused"} <= passing(found), found


def test_cdk_deployed_not_yet_measured(cloud, account):
    solve(cloud, account, upto="cdk-deploy")
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == ALL - {"cdk-reduction-measured", "templates-or-code"}
    # the stack's resources are the live thing: the subscribed queue receives the topic's messages
    outputs = cloud.client("cloudformation", account).describe_stacks(StackName=CDK_STACK)["Stacks"][0]["Outputs"]
    topic = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "TopicArn")
    cloud.client("sns", account).publish(TopicArn=topic, Message="from the CDK stack")
    sqs = cloud.client("sqs", account)
    url = sqs.get_queue_url(QueueName="workshop-04-cdk-alerts")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    assert messages and json.loads(messages[0]["Body"])["Message"] == "from the CDK stack"


def test_the_subscribed_queue_receives_the_topics_messages(cloud, account):
    solve(cloud, account, upto="change-set")
    outputs = cloud.client("cloudformation", account).describe_stacks(StackName=STACK_NAME)["Stacks"][0]["Outputs"]
    topic = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "TopicArn")
    cloud.client("sns", account).publish(TopicArn=topic, Message="disk almost full")
    sqs = cloud.client("sqs", account)
    url = sqs.get_queue_url(QueueName="workshop-04-iac-alerts")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    assert messages and json.loads(messages[0]["Body"])["Message"] == "disk almost full"


def test_stack_only_passes_the_deploy_checks(cloud, account):
    solve(cloud, account, upto="deploy")
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) == {"stack-deployed", "template-parameters", "outputs", "bucket-secure",
                              "resources-tagged"}
    assert "no ExecuteChangeSet by you" in found["change-set-executed"].message
    assert "no PutBucketVersioning by you" in found["drift-detected"].message


def test_drift_left_unfixed(cloud, account):
    solve(cloud, account, upto="drift")
    found = checks(cloud, account)
    assert_findings(found)
    assert found["drift-detected"].passed
    assert not found["drift-fixed"].passed and "DRIFTED" in found["drift-fixed"].message
    assert not found["bucket-secure"].passed and "Suspended" in found["bucket-secure"].message


def test_bucket_deleted_out_of_band(cloud, account):
    solve(cloud, account, upto="deploy")
    s3 = cloud.client("s3", account)
    bucket = lab_bucket(account)
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)
    found = checks(cloud, account)
    assert_findings(found)
    assert found["stack-deployed"].passed
    for slug in ("outputs", "bucket-secure"):
        assert not found[slug].passed and "does not exist" in found[slug].message, found[slug].message


def test_rolled_back_stack_gives_findings(cloud, account):
    # Somebody else already owns the lab bucket's name (names are global): creation fails.
    squatter = new_account()
    cloud.client("s3", squatter).create_bucket(Bucket=lab_bucket(account))
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName=STACK_NAME, TemplateBody=templates()[0], Tags=LAB_TAGS)
    with pytest.raises(Exception):  # the waiter gives up on a failed creation
        cfn.get_waiter("stack_create_complete").wait(StackName=STACK_NAME, WaiterConfig=FAST)
    status = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackStatus"]
    assert status == "ROLLBACK_COMPLETE"
    found = checks(cloud, account)
    assert_findings(found)
    assert passing(found) <= {"template-parameters"}
    assert "ROLLBACK_COMPLETE" in found["stack-deployed"].message
    assert "delete the stack" in found["stack-deployed"].message


@pytest.mark.slow
def test_solution_notebook_is_safe_to_run_again(cloud, account, tmp_path):
    """Every step is idempotent: the whole solution, run twice in one account, raises nothing."""
    from tests import notebooks

    work = notebooks.lab_copy(SOLUTION.parent, tmp_path)
    for _ in range(2):
        nb = notebooks.execute(work / SOLUTION.name, cloud.env(account), allow_errors=True)
        assert notebooks.cell_errors(nb) == []
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "already exists (UPDATE_COMPLETE)" in printed and "nothing to execute" in printed
    assert "nothing to deploy" in printed  # Part 2's change set, the second time
    assert passing(checks(cloud, account)) == ALL


def test_workshop_check_exit_codes(cloud, account):
    out = workshop_check(cloud.endpoint, account)
    assert out.returncode == 1, out.stderr
    assert "FAIL  04-iac.stack-deployed" in out.stdout and "Hint:" in out.stdout
    solve(cloud, account)
    out = workshop_check(cloud.endpoint, account)
    assert out.returncode == 0, out.stdout + out.stderr
    total = sum(c.points for c in get_lab("04-iac").checks)
    assert f"score {total}/{total}" in out.stdout
    down = workshop_check(f"http://127.0.0.1:{free_port()}", account)
    assert down.returncode == 2
    assert "workshop up" in down.stderr and "Traceback" not in down.stderr + down.stdout


# -- the pieces the checks rely on, without a cloud --------------------------------------

def test_templates_parse_with_short_form_intrinsics():
    v1, v2 = templates()
    t1, t2 = parse_template(v1), parse_template(v2)
    assert t1["Resources"]["LabBucket"]["Properties"]["BucketName"] == {
        "Fn::Sub": "workshop-04-iac-${AWS::AccountId}-${AWS::Region}"}
    assert t2["Resources"]["AlertsSubscription"]["Properties"]["Endpoint"] == {"Fn::GetAtt": ["AlertsQueue", "Arn"]}
    assert set(t2["Resources"]) - set(t1["Resources"]) == {"AlertsQueue", "AlertsSubscription", "AlertsQueuePolicy"}
    with pytest.raises(ValueError):
        parse_template("- just\n- a list\n")


def test_cdk_logical_ids_and_metadata_as_cdk_writes_them():
    template = synthesize(app_source())
    resources = template["Resources"]
    for logical, resource in resources.items():
        assert logical_id(resource["Metadata"]["aws:cdk:path"]) == logical
    listed = analytics(resources["CDKMetadata"]["Properties"]["Analytics"])
    assert any(i.endswith("aws-cdk-lib.aws_s3.Bucket") for i in listed)
    assert any(i.endswith("aws-cdk-lib.aws_sns.CfnSubscription") for i in listed)
    assert analytics("v2:deflate64:bm90IGd6aXA=") is None and analytics("made up") is None
    assert _expand("a.{b,c.{d,e}},f") == ["a.b", "a.c.d", "a.c.e", "f"]
    assert logical_id("S/Data/Bucket/Resource") != logical_id("S/Logs/Bucket/Resource")
    assert code_lines("# a comment\n\nkey: value\n  # indented comment\nother: 1\n") == 2


def test_tags_and_tls_policy_shapes():
    assert tag_dict([{"Key": "a", "Value": "1"}]) == tag_dict([{"key": "a", "value": "1"}]) == {"a": "1"}
    assert has_lab_tag({"workshop:lab": "04-iac"}, "04-iac") and not has_lab_tag(None, "04-iac")
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert _denies_plain_http({"Statement": [deny]})
    assert _denies_plain_http({"Statement": dict(deny, Condition={"Bool": {"aws:SecureTransport": [False]}})})
    assert not _denies_plain_http({"Statement": [dict(deny, Effect="Allow")]})
    assert not _denies_plain_http({"Statement": [dict(deny, Condition={"Bool": {"aws:SecureTransport": "true"}})]})
    assert not _denies_plain_http(None)
