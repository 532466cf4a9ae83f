"""CloudFormation as the CDK CLI and other real clients call it: template URLs on
every host name the cloud answers to, CDK's metadata resource, DeleteChangeSet of
a change set that is not there, ValidateTemplate's parameters, YAML booleans in
AllowedValues, and UsePreviousValue of an SSM parameter type."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

TEMPLATE = {
    "Parameters": {"Env": {"Type": "String", "Default": "dev", "Description": "where"}},
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "Env"}}},
        "CDKMetadata": {"Type": "AWS::CDK::Metadata",
                        "Properties": {"Analytics": "v2:deflate64:H4sIAAAAAAAA/zPSMzQw1TNQTCwv1k1OydbNyUzSqw4pSswrTs1zT"},
                        "Metadata": {"aws:cdk:path": "Demo/CDKMetadata/Default"}},
    },
}


def _put_template(cloud, account, body: str, bucket: str) -> None:
    s3 = cloud.client("s3", account)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="t/template.json", Body=body.encode())


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "s3.amazonaws.com", "s3.us-east-1.amazonaws.com", "{bucket}.s3.amazonaws.com"])
def test_template_url_on_every_host_name_of_the_cloud(cloud, account, host):
    bucket = f"templates-{account}"
    _put_template(cloud, account, json.dumps(TEMPLATE), bucket)
    host = host.format(port=cloud.port, bucket=bucket)
    path = "t/template.json" if host.startswith(bucket) else f"{bucket}/t/template.json"
    cfn = cloud.client("cloudformation", account)
    url = f"http://{host}/{path}"
    cfn.create_stack(StackName="by-url", TemplateURL=url)
    assert cfn.describe_stacks(StackName="by-url")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    validated = cfn.validate_template(TemplateURL=url)
    assert validated["Parameters"][0]["ParameterKey"] == "Env"


def test_template_url_elsewhere_or_missing_is_a_validation_error(cloud, account):
    cfn = cloud.client("cloudformation", account)
    for url in ("http://example.com/bucket/key.json", "ftp://127.0.0.1/bucket/key.json",
                f"http://127.0.0.1:{cloud.port}/no-such-bucket-{account}/t.json"):
        with pytest.raises(ClientError) as err:
            cfn.create_stack(StackName="bad-url", TemplateURL=url)
        assert err.value.response["Error"]["Code"] == "ValidationError", url
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_cdk_metadata_is_accepted_updated_and_deleted(cloud, account):
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName="meta", TemplateBody=json.dumps(TEMPLATE))
    resources = {r["LogicalResourceId"]: r for r in
                 cfn.describe_stack_resources(StackName="meta")["StackResources"]}
    assert resources["CDKMetadata"]["ResourceStatus"] == "CREATE_COMPLETE"
    assert resources["CDKMetadata"]["ResourceType"] == "AWS::CDK::Metadata"
    assert resources["CDKMetadata"]["PhysicalResourceId"]
    changed = json.loads(json.dumps(TEMPLATE))
    changed["Resources"]["CDKMetadata"]["Properties"]["Analytics"] = "v2:deflate64:other"
    cfn.update_stack(StackName="meta", TemplateBody=json.dumps(changed))
    assert cfn.describe_stacks(StackName="meta")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    cfn.delete_stack(StackName="meta")
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName="meta")


def test_delete_change_set_that_is_not_there_succeeds(cloud, account):
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName="cs", TemplateBody=json.dumps(TEMPLATE))
    cfn.delete_change_set(StackName="cs", ChangeSetName="cdk-diff-change-set")
    with pytest.raises(ClientError) as err:
        cfn.describe_change_set(StackName="cs", ChangeSetName="cdk-diff-change-set")
    assert err.value.response["Error"]["Code"] == "ChangeSetNotFound"


def test_validate_template_lists_parameters_and_capabilities(cloud, account):
    cfn = cloud.client("cloudformation", account)
    body = """
Description: demo
Parameters:
  Env: {Type: String, Default: dev, Description: where}
  Secret: {Type: String, NoEcho: true}
  Enabled: {Type: String, Default: true, AllowedValues: [true, false]}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}
"""
    out = cfn.validate_template(TemplateBody=body)
    params = {p["ParameterKey"]: p for p in out["Parameters"]}
    assert params["Env"] == {"ParameterKey": "Env", "DefaultValue": "dev", "NoEcho": False, "Description": "where"}
    assert params["Secret"]["NoEcho"] is True and "DefaultValue" not in params["Secret"]
    assert params["Enabled"]["DefaultValue"] == "true"
    assert out["Description"] == "demo"
    assert out["Capabilities"] == ["CAPABILITY_IAM"]
    with pytest.raises(ClientError) as err:
        cfn.validate_template(TemplateBody="Resources: [unclosed")
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_yaml_boolean_allowed_values_accept_true(cloud, account):
    cfn = cloud.client("cloudformation", account)
    body = """
Parameters:
  Enabled: {Type: String, Default: false, AllowedValues: [true, false]}
Conditions:
  IsOn: !Equals [!Ref Enabled, "true"]
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !If [IsOn, "on", "off"]
"""
    cfn.create_stack(StackName="bools", TemplateBody=body,
                     Parameters=[{"ParameterKey": "Enabled", "ParameterValue": "true"}])
    arn = cfn.describe_stack_resource(StackName="bools", LogicalResourceId="Topic")[
        "StackResourceDetail"]["PhysicalResourceId"]
    attrs = cloud.client("sns", account).get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "on"
    with pytest.raises(ClientError) as err:
        cfn.create_stack(StackName="bools2", TemplateBody=body,
                         Parameters=[{"ParameterKey": "Enabled", "ParameterValue": "maybe"}])
    assert "AllowedValues" in err.value.response["Error"]["Message"]


def test_use_previous_value_of_an_ssm_parameter_type_resolves_again(cloud, account):
    # CDK's default synthesizer: BootstrapVersion is an SSM parameter type, passed on
    # updates as UsePreviousValue; its previous value is the parameter's name.
    cloud.client("ssm", account).put_parameter(Name="/cdk-bootstrap/x/version", Value="30", Type="String")
    template = {"Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                                                    "Default": "/cdk-bootstrap/x/version"}},
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "one"}}}}
    cfn = cloud.client("cloudformation", account)
    cfn.create_stack(StackName="ssm-param", TemplateBody=json.dumps(template))
    template["Resources"]["Topic"]["Properties"]["DisplayName"] = "two"
    cfn.create_change_set(StackName="ssm-param", ChangeSetName="next", ChangeSetType="UPDATE",
                          TemplateBody=json.dumps(template),
                          Parameters=[{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}])
    cfn.execute_change_set(StackName="ssm-param", ChangeSetName="next")
    assert cfn.describe_stacks(StackName="ssm-param")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
