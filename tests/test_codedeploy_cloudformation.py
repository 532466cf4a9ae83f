"""CloudFormation creates, updates and deletes AWS::CodeDeploy::Application,
::DeploymentConfig and ::DeploymentGroup; a group's Deployment property
really deploys; a bad property fails the stack with CodeDeploy's reason."""

from __future__ import annotations

import json

from tests.test_codedeploy_lambda import finished, wait_for
from tests.test_codedeploy_server import instance_root, register, release, upload


def template(account: str, alarms_enabled: str = "true", deployment: dict | None = None) -> str:
    group = {
        "ApplicationName": {"Ref": "App"},
        "DeploymentGroupName": "web",
        "ServiceRoleArn": f"arn:aws:iam::{account}:role/codedeploy",
        "DeploymentConfigName": {"Ref": "Config"},
        "OnPremisesInstanceTagFilters": [{"Key": "Role", "Value": "cfn", "Type": "KEY_AND_VALUE"}],
        "AlarmConfiguration": {"Enabled": alarms_enabled, "Alarms": [{"Name": "errors"}]},
        "AutoRollbackConfiguration": {"Enabled": True, "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
        "DeploymentStyle": {"DeploymentType": "IN_PLACE", "DeploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
        "Tags": [{"Key": "lab", "Value": "03"}],
    }
    if deployment:
        group["Deployment"] = deployment
    return json.dumps({"Resources": {
        "App": {"Type": "AWS::CodeDeploy::Application",
                "Properties": {"ApplicationName": "cfn-app", "ComputePlatform": "Server"}},
        "Config": {"Type": "AWS::CodeDeploy::DeploymentConfig",
                   "Properties": {"MinimumHealthyHosts": {"Type": "FLEET_PERCENT", "Value": "50"}}},
        "LambdaConfig": {"Type": "AWS::CodeDeploy::DeploymentConfig", "Properties": {
            "DeploymentConfigName": "Canary25Every3", "ComputePlatform": "Lambda",
            "TrafficRoutingConfig": {"Type": "TimeBasedCanary",
                                     "TimeBasedCanary": {"CanaryPercentage": 25, "CanaryInterval": 3}}}},
        "Group": {"Type": "AWS::CodeDeploy::DeploymentGroup", "Properties": group},
    }, "Outputs": {"Group": {"Value": {"Ref": "Group"}}, "Config": {"Value": {"Ref": "Config"}}}})


def stack_status(cf, name: str) -> str:
    return cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def test_stacks_create_update_and_delete_codedeploy_resources(cloud, account):
    cf = cloud.client("cloudformation", account)
    cd = cloud.client("codedeploy", account)
    cf.create_stack(StackName="deploy", TemplateBody=template(account))
    assert stack_status(cf, "deploy") == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName="deploy")["Stacks"][0]["Outputs"]}
    assert outputs["Group"] == "web"

    assert cd.get_application(applicationName="cfn-app")["application"]["computePlatform"] == "Server"
    config = cd.get_deployment_config(deploymentConfigName=outputs["Config"])["deploymentConfigInfo"]
    assert config["minimumHealthyHosts"] == {"type": "FLEET_PERCENT", "value": 50}
    canary = cd.get_deployment_config(deploymentConfigName="Canary25Every3")["deploymentConfigInfo"]
    assert canary["trafficRoutingConfig"] == {"type": "TimeBasedCanary",
                                              "timeBasedCanary": {"canaryPercentage": 25, "canaryInterval": 3}}
    group = cd.get_deployment_group(applicationName="cfn-app", deploymentGroupName="web")["deploymentGroupInfo"]
    assert group["deploymentConfigName"] == outputs["Config"]
    assert group["alarmConfiguration"] == {"enabled": True, "ignorePollAlarmFailure": False,
                                           "alarms": [{"name": "errors"}]}
    assert group["autoRollbackConfiguration"]["events"] == ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
    assert group["onPremisesInstanceTagFilters"] == [{"Key": "Role", "Value": "cfn", "Type": "KEY_AND_VALUE"}]
    arn = f"arn:aws:codedeploy:us-east-1:{account}:deploymentgroup:cfn-app/web"
    assert cd.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "lab", "Value": "03"}]

    cf.update_stack(StackName="deploy", TemplateBody=template(account, alarms_enabled="false"))
    assert stack_status(cf, "deploy") == "UPDATE_COMPLETE"
    group = cd.get_deployment_group(applicationName="cfn-app", deploymentGroupName="web")["deploymentGroupInfo"]
    assert group["alarmConfiguration"]["enabled"] is False

    cf.delete_stack(StackName="deploy")
    assert cd.list_applications()["applications"] == []
    assert "Canary25Every3" not in cd.list_deployment_configs()["deploymentConfigsList"]


def test_a_group_with_a_deployment_property_deploys(cloud, account):
    register(cloud, account, ["cfn-1", "cfn-2"], [{"Key": "Role", "Value": "cfn"}])
    revision = upload(cloud, account, "cfn.zip", release("v1"))
    cf = cloud.client("cloudformation", account)
    cd = cloud.client("codedeploy", account)
    cf.create_stack(StackName="with-deployment", TemplateBody=template(account, alarms_enabled="false", deployment={
        "Description": "from CloudFormation",
        "Revision": {"RevisionType": "S3", "S3Location": {"Bucket": revision["s3Location"]["bucket"],
                                                          "Key": "cfn.zip", "BundleType": "zip"}}}))
    assert stack_status(cf, "with-deployment") == "CREATE_COMPLETE"
    deployment_id = wait_for(lambda: cd.list_deployments()["deployments"])[0]
    info = finished(cd, deployment_id)
    assert info["status"] == "Succeeded" and info["creator"] == "CloudFormation"
    assert info["description"] == "from CloudFormation"
    assert (instance_root(cloud, account, "cfn-2") / "var/www/html/index.html").read_text() == "<h1>v1</h1>\n"


def test_a_bad_group_fails_the_stack_with_codedeploys_reason(cloud, account):
    cf = cloud.client("cloudformation", account)
    body = json.loads(template(account))
    body["Resources"]["Group"]["Properties"]["DeploymentConfigName"] = "NoSuchConfig"
    cf.create_stack(StackName="bad", TemplateBody=json.dumps(body))
    assert stack_status(cf, "bad") in ("ROLLBACK_COMPLETE", "CREATE_FAILED")
    events = cf.describe_stack_events(StackName="bad")["StackEvents"]
    failed = [e for e in events if e.get("LogicalResourceId") == "Group" and e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed and "NoSuchConfig" in failed[0]["ResourceStatusReason"]
