"""The CDK CLI (npm `aws-cdk@2`) unchanged against the cloud, with AWS_ENDPOINT_URL:
`cdk bootstrap`, `cdk deploy` of a Python app with a file asset and CDK's metadata
(default synthesizer: assets in S3, the modern synthesizer's roles), `cdk diff` from
a change set, `cdk destroy`; and a BootstraplessSynthesizer app. In CI (CI=true)
these tests fail, not skip, when the CLI or aws-cdk-lib is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

APP = textwrap.dedent("""
    import os
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3, aws_s3_assets as assets, aws_sns as sns

    app = cdk.App()
    bootstrapless = os.environ.get("SYNTH") == "bootstrapless"
    synthesizer = cdk.BootstraplessSynthesizer() if bootstrapless else cdk.DefaultStackSynthesizer()
    stack = cdk.Stack(app, os.environ["STACK"], synthesizer=synthesizer)
    sns.Topic(stack, "Topic", display_name=os.environ.get("DISPLAY", "one"))
    if not bootstrapless:
        asset = assets.Asset(stack, "Asset", path="asset")
        cdk.CfnOutput(stack, "AssetBucket", value=asset.s3_bucket_name)
        cdk.CfnOutput(stack, "AssetKey", value=asset.s3_object_key)
    if os.environ.get("AUTO_DELETE"):
        bucket = s3.Bucket(stack, "Bucket", removal_policy=cdk.RemovalPolicy.DESTROY, auto_delete_objects=True)
        cdk.CfnOutput(stack, "BucketName", value=bucket.bucket_name)
    app.synth()
""")


def require_cdk() -> str:
    """The CDK CLI, or a skip with the reason (a failure in CI)."""
    reason = None
    cdk = shutil.which("cdk")
    if cdk is None:
        reason = "the CDK CLI is not installed (npm install -g aws-cdk@2)"
    else:
        try:
            import aws_cdk  # noqa: F401
        except ImportError:
            reason = "aws-cdk-lib is not installed"
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return cdk


def require_node_sdk() -> None:
    """CDK's custom resource handlers are Node.js functions that use the AWS SDK v3."""
    from workshop.cloud.services.awslambda.function_runner import node_modules

    if any((Path(folder) / "@aws-sdk" / "client-s3").is_dir() for folder in node_modules()):
        return
    reason = "the AWS SDK for JavaScript v3 is not installed (npm install -g @aws-sdk/client-s3@3)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


def make_app(folder: Path) -> Path:
    (folder / "asset").mkdir(parents=True)
    (folder / "asset" / "hello.txt").write_text("hello from an asset\n")
    (folder / "app.py").write_text(APP)
    (folder / "cdk.json").write_text('{"app": "%s app.py"}' % sys.executable)
    return folder


def cdk_env(cloud, account: str, **extra: str) -> dict[str, str]:
    env = cloud.env(account)
    env.update({
        "AWS_ENDPOINT_URL": cloud.endpoint, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true", "NODE_NO_WARNINGS": "1", **extra,
    })
    return env


def run_cdk(cdk: str, folder: Path, env: dict, *args: str) -> str:
    proc = subprocess.run([cdk, *args, "--no-notices"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"cdk {' '.join(args)} failed:\n{output}"
    return output


def test_bootstrap_deploy_diff_destroy_with_the_default_synthesizer(cloud, account, tmp_path):
    cdk = require_cdk()
    folder = make_app(tmp_path / "app")
    env = cdk_env(cloud, account, STACK="CdkCliDemo")
    cfn = cloud.client("cloudformation", account)

    run_cdk(cdk, folder, env, "bootstrap", f"aws://{account}/us-east-1")
    assert cfn.describe_stacks(StackName="CDKToolkit")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"

    run_cdk(cdk, folder, env, "deploy", "--require-approval", "never")
    stack = cfn.describe_stacks(StackName="CdkCliDemo")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    types = {r["ResourceType"] for r in cfn.describe_stack_resources(StackName="CdkCliDemo")["StackResources"]}
    assert {"AWS::SNS::Topic", "AWS::CDK::Metadata"} <= types
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    asset = cloud.client("s3", account).get_object(Bucket=outputs["AssetBucket"], Key=outputs["AssetKey"])
    assert asset["Body"].read()[:2] == b"PK"   # the folder asset, zipped and published by the CLI

    diff = run_cdk(cdk, folder, dict(env, DISPLAY="two"), "diff")
    assert "read-only change set" in diff
    assert "Could not create a change set" not in diff        # no fallback to a template-only diff
    assert "[~] AWS::SNS::Topic" in diff and "[+] two" in diff
    # The diff's change set is gone (the CLI deletes it); the deploy's executed one stays, as on AWS.
    assert [c["ChangeSetName"] for c in cfn.list_change_sets(StackName="CdkCliDemo")["Summaries"]] == \
        ["cdk-deploy-change-set"]

    run_cdk(cdk, folder, dict(env, DISPLAY="two"), "deploy", "--require-approval", "never")
    assert cfn.describe_stacks(StackName="CdkCliDemo")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    topic = cfn.describe_stack_resources(StackName="CdkCliDemo", LogicalResourceId="TopicBFC7AF6E")[
        "StackResources"][0]["PhysicalResourceId"]
    assert cloud.client("sns", account).get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "two"

    run_cdk(cdk, folder, env, "destroy", "--force")
    names = [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert "CdkCliDemo" not in names and "CDKToolkit" in names


def test_deploy_and_destroy_with_the_bootstrapless_synthesizer(cloud, account, tmp_path):
    cdk = require_cdk()
    folder = make_app(tmp_path / "app")
    env = cdk_env(cloud, account, STACK="CdkBootstrapless", SYNTH="bootstrapless")
    # Through "localhost", the name CDK users most often give the endpoint.
    env["AWS_ENDPOINT_URL"] = f"http://localhost:{cloud.port}"
    run_cdk(cdk, folder, env, "deploy", "--require-approval", "never")
    cfn = cloud.client("cloudformation", account)
    assert cfn.describe_stacks(StackName="CdkBootstrapless")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    run_cdk(cdk, folder, env, "destroy", "--force")
    assert "CdkBootstrapless" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]


def test_auto_delete_objects_bucket_deploys_and_destroy_empties_it(cloud, account, tmp_path):
    # CDK's own custom resource (Custom::S3AutoDeleteObjects, a Node.js function from an asset).
    cdk = require_cdk()
    require_node_sdk()
    folder = make_app(tmp_path / "app")
    env = cdk_env(cloud, account, STACK="CdkAutoDelete", AUTO_DELETE="1")
    run_cdk(cdk, folder, env, "bootstrap", f"aws://{account}/us-east-1")
    run_cdk(cdk, folder, env, "deploy", "--require-approval", "never")
    cfn = cloud.client("cloudformation", account)
    stack = cfn.describe_stacks(StackName="CdkAutoDelete")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    types = {r["ResourceType"] for r in cfn.describe_stack_resources(StackName="CdkAutoDelete")["StackResources"]}
    assert "Custom::S3AutoDeleteObjects" in types
    bucket = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "BucketName")
    s3 = cloud.client("s3", account)
    for key in ("a.txt", "deep/b.txt", "deep/er/c.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"data")

    run_cdk(cdk, folder, env, "destroy", "--force")
    assert "CdkAutoDelete" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
