"""CloudFormation creates Lambda functions that run (inline ZipFile and S3 code),
versions and aliases with routing weights; updates and deletes them."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.test_lambda_invoke import invoke, zip_code

ROLE = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}]}}}


def inline(word: str) -> str:
    return f"def handler(event, context):\n    return '{word}'\n"


def template(word: str, second_version: bool = False) -> str:
    resources = {
        "Role": ROLE,
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": "cfn-fn", "Runtime": "python3.12", "Handler": "index.handler", "Timeout": "5",
            "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"ZipFile": inline(word)},
            "Environment": {"Variables": {"WORD": word}}}},
        "V1": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        "Live": {"Type": "AWS::Lambda::Alias", "Properties": {
            "FunctionName": {"Ref": "Fn"}, "Name": "live", "FunctionVersion": {"Fn::GetAtt": ["V1", "Version"]}}},
    }
    outputs = {
        "FnArn": {"Value": {"Fn::GetAtt": ["Fn", "Arn"]}},
        "V1Ref": {"Value": {"Ref": "V1"}},
        "V1Number": {"Value": {"Fn::GetAtt": ["V1", "Version"]}},
        "AliasRef": {"Value": {"Ref": "Live"}},
    }
    if second_version:
        resources["V2"] = {"Type": "AWS::Lambda::Version", "DependsOn": "V1",
                           "Properties": {"FunctionName": {"Ref": "Fn"}}}
        resources["Live"]["Properties"]["RoutingConfig"] = {"AdditionalVersionWeights": [
            {"FunctionVersion": {"Fn::GetAtt": ["V2", "Version"]}, "FunctionWeight": 0.25}]}
    return json.dumps({"Resources": resources, "Outputs": outputs})


def _wait(cfn, stack: str, what: str) -> None:
    cfn.get_waiter(f"stack_{what}_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _outputs(cfn, stack: str) -> dict[str, str]:
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def test_stack_creates_function_version_and_alias_that_run(cloud, account):
    cfn = cloud.client("cloudformation", account)
    client = cloud.client("lambda", account)
    cfn.create_stack(StackName="fn-stack", TemplateBody=template("one"), Capabilities=["CAPABILITY_IAM"])
    _wait(cfn, "fn-stack", "create")

    arn = f"arn:aws:lambda:us-east-1:{account}:function:cfn-fn"
    assert _outputs(cfn, "fn-stack") == {"FnArn": arn, "V1Ref": f"{arn}:1", "V1Number": "1",
                                         "AliasRef": f"{arn}:live"}
    response, payload = invoke(client, "cfn-fn:live")
    assert payload == "one" and response["ExecutedVersion"] == "1"
    config = client.get_function_configuration(FunctionName="cfn-fn")
    assert config["Timeout"] == 5 and config["Environment"]["Variables"] == {"WORD": "one"}

    # New code, a second version, and the alias sending a quarter of the traffic to it.
    cfn.update_stack(StackName="fn-stack", TemplateBody=template("two", second_version=True),
                     Capabilities=["CAPABILITY_IAM"])
    _wait(cfn, "fn-stack", "update")
    assert invoke(client, "cfn-fn")[1] == "two"
    assert invoke(client, "cfn-fn", Qualifier="1")[1] == "one"
    assert invoke(client, "cfn-fn", Qualifier="2")[1] == "two"
    alias = client.get_alias(FunctionName="cfn-fn", Name="live")
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}

    cfn.delete_stack(StackName="fn-stack")
    _wait(cfn, "fn-stack", "delete")
    with pytest.raises(ClientError) as err:
        client.get_function(FunctionName="cfn-fn")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stack_function_from_s3_code(cloud, account):
    bucket = f"code-{account}-us-east-1"
    s3 = cloud.client("s3", account)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="fn.zip", Body=zip_code("""
        import helper

        def handler(event, context):
            return helper.shout(event["word"])
    """, extra={"helper.py": "def shout(word):\n    return word.upper() + '!'\n"}))
    body = json.dumps({"Resources": {"Role": ROLE, "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "python3.11", "Handler": "app.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Code": {"S3Bucket": bucket, "S3Key": "fn.zip"}}}},
        "Outputs": {"Name": {"Value": {"Ref": "Fn"}}}})
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName="s3-fn", TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    _wait(cfn, "s3-fn", "create")
    name = _outputs(cfn, "s3-fn")["Name"]
    assert name.startswith("s3-fn-Fn-")
    assert invoke(cloud.client("lambda", account), name, {"word": "hello"})[1] == "HELLO!"
