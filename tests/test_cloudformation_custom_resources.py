"""Lambda-backed custom resources against the real cloud: the function gets
Create, Update and Delete requests with a pre-signed ResponseURL of the cloud;
SUCCESS completes the resource (its Data for Fn::GetAtt), FAILED fails the stack
with the function's reason, silence fails it after AWS's hour on the workshop
clock; the API answers at once while the stack is IN_PROGRESS."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

from tests.test_lambda_invoke import lambda_role

HANDLER = """
import json, os, boto3, cfnresponse

def handler(event, context):
    props = event["ResourceProperties"]
    # Each request is kept in the account's bucket, for the test to read.
    boto3.client("s3").put_object(Bucket=props["Journal"], Key=event["RequestType"] + "-" + event["RequestId"],
                                  Body=json.dumps(event).encode())
    if props.get("Mode") == "fail":
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, reason="quota of widgets exhausted")
    elif props.get("Mode") == "silent":
        return
    else:
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {"Greeting": "hello " + props["Name"]},
                         physicalResourceId="widget-" + props["Name"] if event["RequestType"] != "Delete"
                         else event["PhysicalResourceId"])
"""


def template(account: str, name: str = "ada", mode: str = "ok") -> str:
    return json.dumps({
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "lambda.amazonaws.com"}}]}}},
            "Provider": {"Type": "AWS::Lambda::Function", "Properties": {
                "Runtime": "python3.12", "Handler": "index.handler", "Timeout": 30,
                "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"ZipFile": HANDLER}}},
            "Widget": {"Type": "Custom::Widget", "Properties": {
                "ServiceToken": {"Fn::GetAtt": ["Provider", "Arn"]}, "Name": name, "Mode": mode,
                "Journal": f"journal-{account}", "Count": 3}},
        },
        "Outputs": {"Greeting": {"Value": {"Fn::GetAtt": ["Widget", "Greeting"]}}},
    })


def settle(cfn, name: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            stacks = cfn.describe_stacks(StackName=name)["Stacks"]
        except cfn.exceptions.ClientError:
            return {"StackStatus": "DELETE_COMPLETE"}   # a deleted stack is gone from DescribeStacks by name
        if not stacks[0]["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stacks[0]
        time.sleep(0.2)


def requests_seen(cloud, account: str) -> list[dict]:
    s3 = cloud.client("s3", account)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=f"journal-{account}").get("Contents", [])]
    return [json.loads(s3.get_object(Bucket=f"journal-{account}", Key=k)["Body"].read()) for k in keys]


def test_create_update_delete_reach_the_function_and_data_is_gettable(cloud, account):
    cloud.client("s3", account).create_bucket(Bucket=f"journal-{account}")
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName="widgets", TemplateBody=template(account), Capabilities=["CAPABILITY_IAM"])
    stack = settle(cfn, "widgets")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert stack["Outputs"] == [{"OutputKey": "Greeting", "OutputValue": "hello ada"}]
    widget = cfn.describe_stack_resource(StackName="widgets", LogicalResourceId="Widget")["StackResourceDetail"]
    assert widget["PhysicalResourceId"] == "widget-ada" and widget["ResourceType"] == "Custom::Widget"
    (create,) = requests_seen(cloud, account)
    assert create["RequestType"] == "Create" and create["LogicalResourceId"] == "Widget"
    assert create["ResourceProperties"]["Count"] == "3"      # scalars reach the function as strings
    # The cloud's own endpoint names it as localhost (it answers on 127.0.0.1 and ::1 alike).
    response_url = urllib.parse.urlsplit(create["ResponseURL"])
    assert response_url.hostname in ("localhost", "127.0.0.1") and response_url.port == cloud.port
    assert "X-Amz-Signature=" in response_url.query

    cfn.update_stack(StackName="widgets", TemplateBody=template(account, name="grace"),
                     Capabilities=["CAPABILITY_IAM"])
    stack = settle(cfn, "widgets")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert stack["Outputs"][0]["OutputValue"] == "hello grace"
    update = next(r for r in requests_seen(cloud, account) if r["RequestType"] == "Update")
    assert update["OldResourceProperties"]["Name"] == "ada" and update["PhysicalResourceId"] == "widget-ada"

    cfn.delete_stack(StackName="widgets")
    assert settle(cfn, "widgets")["StackStatus"] == "DELETE_COMPLETE"
    kinds = sorted(r["RequestType"] for r in requests_seen(cloud, account))
    assert kinds.count("Delete") == 2   # the replaced widget-ada, then widget-grace with the stack
    deleted = {r["PhysicalResourceId"] for r in requests_seen(cloud, account) if r["RequestType"] == "Delete"}
    assert deleted == {"widget-ada", "widget-grace"}
    assert not _exists(cfn, "widgets")


def _exists(cfn, name: str) -> bool:
    return any(s["StackName"] == name for s in cfn.describe_stacks()["Stacks"])


def test_a_failed_response_fails_the_stack_with_the_functions_reason(cloud, account):
    cloud.client("s3", account).create_bucket(Bucket=f"journal-{account}")
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName="bad-widgets", TemplateBody=template(account, mode="fail"),
                     Capabilities=["CAPABILITY_IAM"])
    stack = settle(cfn, "bad-widgets")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="bad-widgets")["StackEvents"]
    failed = [e for e in events if e["LogicalResourceId"] == "Widget" and e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed and "quota of widgets exhausted" in failed[0]["ResourceStatusReason"]
    assert "Received response status [FAILED]" in failed[0]["ResourceStatusReason"]
    # The function and its role were rolled back.
    assert cloud.client("lambda", account).list_functions()["Functions"] == []


def test_no_response_fails_after_the_hour_on_the_workshop_clock(cloud, account):
    cloud.client("s3", account).create_bucket(Bucket=f"journal-{account}")
    cfn = cloud.client("cloudformation", account)
    _set_time_scale(cloud, 3600)        # AWS's hour lasts a second
    try:
        cfn.create_stack(StackName="silent", TemplateBody=template(account, mode="silent"),
                         Capabilities=["CAPABILITY_IAM"])
        stack = settle(cfn, "silent")
    finally:
        _set_time_scale(cloud, 60)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="silent")["StackEvents"]
    failed = [e for e in events if e["LogicalResourceId"] == "Widget" and e["ResourceStatus"] == "CREATE_FAILED"]
    assert "did not receive a response from your Custom Resource" in failed[0]["ResourceStatusReason"]


def test_the_response_url_takes_only_its_own_accounts_answer(cloud, account):
    from tests.conftest import new_account

    cloud.client("s3", account).create_bucket(Bucket=f"journal-{account}")
    cfn = cloud.client("cloudformation", account)
    _set_time_scale(cloud, 600)        # AWS's hour lasts 6 s
    try:
        cfn.create_stack(StackName="silent2", TemplateBody=template(account, mode="silent"),
                         Capabilities=["CAPABILITY_IAM"])
        deadline = time.monotonic() + 60
        while not requests_seen(cloud, account) and time.monotonic() < deadline:
            time.sleep(0.2)
        (create,) = requests_seen(cloud, account)
        url = create["ResponseURL"]
        # Another account cannot answer for this stack (its own presigned URL for the same key).
        other = cloud.client("s3", new_account())
        bucket, key = urllib.parse.urlsplit(url).path.lstrip("/").split("/", 1)
        from urllib.parse import unquote

        forged = other.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": unquote(key)})
        body = json.dumps({"Status": "SUCCESS", "PhysicalResourceId": "x", "StackId": create["StackId"],
                           "RequestId": create["RequestId"], "LogicalResourceId": "Widget"}).encode()
        try:
            urllib.request.urlopen(urllib.request.Request(forged, data=body, method="PUT"))
            raise AssertionError("another account's answer was taken")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
        stack = settle(cfn, "silent2")
    finally:
        _set_time_scale(cloud, 60)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"


def _set_time_scale(cloud, scale: float) -> None:
    req = urllib.request.Request(f"{cloud.endpoint}/_workshop/clock", method="PUT",
                                 data=json.dumps({"time_scale": scale}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {cloud.admin_token}"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
