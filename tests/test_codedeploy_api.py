"""The CodeDeploy API as boto3 sees it: applications, every predefined
deployment configuration with AWS's values, custom configurations and their
rules, deployment groups that keep everything they are given, on-premises
instances, revisions, tags, triggers, and AWS's errors for bad input."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import new_account
from tests.test_codedeploy_lambda import finished
from tests.test_codedeploy_server import register, release, server_group, upload

PREDEFINED = {
    "CodeDeployDefault.AllAtOnce": ("Server", {"type": "HOST_COUNT", "value": 0}, None),
    "CodeDeployDefault.HalfAtATime": ("Server", {"type": "FLEET_PERCENT", "value": 50}, None),
    "CodeDeployDefault.OneAtATime": ("Server", {"type": "MOST_CONCURRENCY", "value": 1}, None),
    "CodeDeployDefault.LambdaAllAtOnce": ("Lambda", None, {"type": "AllAtOnce"}),
    "CodeDeployDefault.ECSAllAtOnce": ("ECS", None, {"type": "AllAtOnce"}),
}
for _minutes in (5, 10, 15, 30):
    PREDEFINED[f"CodeDeployDefault.LambdaCanary10Percent{_minutes}Minutes"] = (
        "Lambda", None, {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10,
                                                                       "canaryInterval": _minutes}})
for _minutes, _suffix in ((1, "Minute"), (2, "Minutes"), (3, "Minutes"), (10, "Minutes")):
    PREDEFINED[f"CodeDeployDefault.LambdaLinear10PercentEvery{_minutes}{_suffix}"] = (
        "Lambda", None, {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10,
                                                                       "linearInterval": _minutes}})
for _minutes in (5, 15):
    PREDEFINED[f"CodeDeployDefault.ECSCanary10Percent{_minutes}Minutes"] = (
        "ECS", None, {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10,
                                                                    "canaryInterval": _minutes}})
for _minutes in (1, 3):
    PREDEFINED[f"CodeDeployDefault.ECSLinear10PercentEvery{_minutes}Minutes"] = (
        "ECS", None, {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10,
                                                                    "linearInterval": _minutes}})


def code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_every_predefined_configuration_with_its_real_settings(cloud, account):
    cd = cloud.client("codedeploy", account)
    listed = cd.list_deployment_configs()["deploymentConfigsList"]
    assert set(listed) == set(PREDEFINED)
    for name, (platform, hosts, routing) in PREDEFINED.items():
        info = cd.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"]
        assert info["deploymentConfigName"] == name and info["computePlatform"] == platform
        assert info.get("minimumHealthyHosts") == hosts
        assert info.get("trafficRoutingConfig") == routing
        assert info["deploymentConfigId"]
    with pytest.raises(ClientError) as err:
        cd.delete_deployment_config(deploymentConfigName="CodeDeployDefault.OneAtATime")
    assert code(err) == "InvalidOperationException"


def test_custom_configurations_and_their_rules(cloud, account):
    cd = cloud.client("codedeploy", account)
    cd.create_deployment_config(deploymentConfigName="ThreeQuarters", computePlatform="Server",
                                minimumHealthyHosts={"type": "FLEET_PERCENT", "value": 75})
    cd.create_deployment_config(deploymentConfigName="Canary20", computePlatform="Lambda",
                                trafficRoutingConfig={"type": "TimeBasedCanary", "timeBasedCanary": {
                                    "canaryPercentage": 20, "canaryInterval": 2}})
    info = cd.get_deployment_config(deploymentConfigName="Canary20")["deploymentConfigInfo"]
    assert info["trafficRoutingConfig"]["timeBasedCanary"] == {"canaryPercentage": 20, "canaryInterval": 2}
    assert "Canary20" in cd.list_deployment_configs()["deploymentConfigsList"]

    bad = [
        (dict(deploymentConfigName="ThreeQuarters", minimumHealthyHosts={"type": "HOST_COUNT", "value": 1}),
         "DeploymentConfigAlreadyExistsException"),
        (dict(deploymentConfigName="CodeDeployDefault.Mine", minimumHealthyHosts={"type": "HOST_COUNT", "value": 1}),
         "InvalidDeploymentConfigNameException"),
        (dict(deploymentConfigName="NoHosts", computePlatform="Server"), "InvalidMinimumHealthyHostValueException"),
        (dict(deploymentConfigName="Percent", minimumHealthyHosts={"type": "FLEET_PERCENT", "value": 100}),
         "InvalidMinimumHealthyHostValueException"),
        (dict(deploymentConfigName="Negative", minimumHealthyHosts={"type": "HOST_COUNT", "value": -1}),
         "InvalidMinimumHealthyHostValueException"),
        (dict(deploymentConfigName="ServerCanary", computePlatform="Server",
              minimumHealthyHosts={"type": "HOST_COUNT", "value": 1},
              trafficRoutingConfig={"type": "TimeBasedCanary",
                                    "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5}}),
         "InvalidTrafficRoutingConfigurationException"),
        (dict(deploymentConfigName="NoCanary", computePlatform="Lambda",
              trafficRoutingConfig={"type": "TimeBasedCanary"}), "InvalidTrafficRoutingConfigurationException"),
        (dict(deploymentConfigName="Linear0", computePlatform="Lambda",
              trafficRoutingConfig={"type": "TimeBasedLinear",
                                    "timeBasedLinear": {"linearPercentage": 0, "linearInterval": 1}}),
         "InvalidTrafficRoutingConfigurationException"),
        (dict(deploymentConfigName="LambdaHosts", computePlatform="Lambda",
              minimumHealthyHosts={"type": "HOST_COUNT", "value": 1}), "InvalidMinimumHealthyHostValueException"),
    ]
    for params, expected in bad:
        with pytest.raises(ClientError) as err:
            cd.create_deployment_config(**params)
        assert code(err) == expected, params
    with pytest.raises(ClientError) as err:
        cd.get_deployment_config(deploymentConfigName="Nope")
    assert code(err) == "DeploymentConfigDoesNotExistException"

    server_group(cloud, account, "uses-it", "ThreeQuarters")
    with pytest.raises(ClientError) as err:
        cd.delete_deployment_config(deploymentConfigName="ThreeQuarters")
    assert code(err) == "DeploymentConfigInUseException"
    cd.delete_deployment_config(deploymentConfigName="Canary20")
    assert "Canary20" not in cd.list_deployment_configs()["deploymentConfigsList"]


def test_applications(cloud, account):
    cd = cloud.client("codedeploy", account)
    for name, platform in (("server-app", "Server"), ("lambda-app", "Lambda"), ("ecs-app", "ECS")):
        cd.create_application(applicationName=name, computePlatform=platform, tags=[{"Key": "lab", "Value": "03"}])
    app = cd.get_application(applicationName="ecs-app")["application"]
    assert app["computePlatform"] == "ECS" and app["linkedToGitHub"] is False
    assert cd.list_applications()["applications"] == ["ecs-app", "lambda-app", "server-app"]
    infos = cd.batch_get_applications(applicationNames=["server-app", "lambda-app"])["applicationsInfo"]
    assert [i["computePlatform"] for i in infos] == ["Server", "Lambda"]
    arn = f"arn:aws:codedeploy:us-east-1:{account}:application:server-app"
    assert cd.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "lab", "Value": "03"}]
    cd.tag_resource(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "me"}])
    cd.untag_resource(ResourceArn=arn, TagKeys=["lab"])
    assert cd.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": "me"}]

    cd.update_application(applicationName="ecs-app", newApplicationName="containers")
    assert cd.get_application(applicationName="containers")["application"]["applicationName"] == "containers"
    cd.delete_application(applicationName="containers")
    with pytest.raises(ClientError) as err:
        cd.get_application(applicationName="containers")
    assert code(err) == "ApplicationDoesNotExistException"
    with pytest.raises(ClientError) as err:
        cd.create_application(applicationName="server-app")
    assert code(err) == "ApplicationAlreadyExistsException"
    with pytest.raises(ClientError) as err:
        cd.create_application(applicationName="bad name!")
    assert code(err) == "InvalidApplicationNameException"
    with pytest.raises(ClientError) as err:
        cd.create_application(applicationName="x", computePlatform="Mainframe")
    assert code(err) in ("InvalidComputePlatformException", "InvalidInputException")
    # Another account sees none of it.
    assert cloud.client("codedeploy", new_account()).list_applications()["applications"] == []


EVERYTHING = {
    "deploymentConfigName": "CodeDeployDefault.HalfAtATime",
    "ec2TagFilters": [{"Key": "App", "Value": "shop", "Type": "KEY_AND_VALUE"}],
    "onPremisesInstanceTagFilters": [{"Key": "Role", "Type": "KEY_ONLY"}],
    "autoScalingGroups": ["shop-asg"],
    "triggerConfigurations": [{"triggerName": "notify", "triggerTargetArn": "arn:aws:sns:us-east-1:{account}:deploys",
                               "triggerEvents": ["DeploymentFailure", "DeploymentSuccess"]}],
    "alarmConfiguration": {"enabled": True, "ignorePollAlarmFailure": False,
                           "alarms": [{"name": "errors"}, {"name": "latency"}]},
    "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
    "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    "blueGreenDeploymentConfiguration": {
        "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5},
        "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0},
        "greenFleetProvisioningOption": {"action": "COPY_AUTO_SCALING_GROUP"}},
    "loadBalancerInfo": {"targetGroupInfoList": [{"name": "shop-tg"}]},
    "outdatedInstancesStrategy": "IGNORE",
}


def test_a_deployment_group_keeps_everything_it_is_given(cloud, account):
    cd = cloud.client("codedeploy", account)
    cd.create_application(applicationName="shop")
    given = json.loads(json.dumps(EVERYTHING).replace("{account}", account))
    role = f"arn:aws:iam::{account}:role/codedeploy"
    group_id = cd.create_deployment_group(applicationName="shop", deploymentGroupName="everything",
                                          serviceRoleArn=role, **given)["deploymentGroupId"]
    info = cd.get_deployment_group(applicationName="shop", deploymentGroupName="everything")["deploymentGroupInfo"]
    assert info["deploymentGroupId"] == group_id and info["serviceRoleArn"] == role
    assert info["computePlatform"] == "Server"
    for key, value in given.items():
        if key == "autoScalingGroups":   # names in, structures out
            value = [{"name": "shop-asg", "hook": "CodeDeploy-managed-automatic-launch-deployment-hook-shop-asg"}]
        assert info[key] == value, key

    cd.update_deployment_group(applicationName="shop", currentDeploymentGroupName="everything",
                               newDeploymentGroupName="renamed",
                               alarmConfiguration={"enabled": False, "alarms": [{"name": "errors"}]},
                               deploymentConfigName="CodeDeployDefault.AllAtOnce")
    info = cd.get_deployment_group(applicationName="shop", deploymentGroupName="renamed")["deploymentGroupInfo"]
    assert info["alarmConfiguration"] == {"enabled": False, "ignorePollAlarmFailure": False,
                                          "alarms": [{"name": "errors"}]}
    assert info["deploymentConfigName"] == "CodeDeployDefault.AllAtOnce"
    assert info["loadBalancerInfo"] == given["loadBalancerInfo"]      # what the update did not name stays
    assert info["deploymentGroupId"] == group_id
    assert cd.list_deployment_groups(applicationName="shop")["deploymentGroups"] == ["renamed"]
    batch = cd.batch_get_deployment_groups(applicationName="shop", deploymentGroupNames=["renamed", "gone"])
    assert [g["deploymentGroupName"] for g in batch["deploymentGroupsInfo"]] == ["renamed"]
    assert "gone" in batch["errorMessage"]
    cd.delete_deployment_group(applicationName="shop", deploymentGroupName="renamed")
    with pytest.raises(ClientError) as err:
        cd.get_deployment_group(applicationName="shop", deploymentGroupName="renamed")
    assert code(err) == "DeploymentGroupDoesNotExistException"

    # A Lambda group is blue/green with traffic control, as AWS makes it.
    cd.create_application(applicationName="fn", computePlatform="Lambda")
    cd.create_deployment_group(applicationName="fn", deploymentGroupName="g", serviceRoleArn=role)
    info = cd.get_deployment_group(applicationName="fn", deploymentGroupName="g")["deploymentGroupInfo"]
    assert info["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert info["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"


@pytest.mark.parametrize("params, expected", [
    ({"serviceRoleArn": "not-a-role"}, "InvalidRoleException"),
    ({"deploymentConfigName": "Nope"}, "DeploymentConfigDoesNotExistException"),
    ({"deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce"}, "InvalidDeploymentConfigNameException"),
    ({"ec2TagFilters": [{"Key": "a", "Value": "b", "Type": "KEY_AND_VALUE"}],
      "ec2TagSet": {"ec2TagSetList": [[{"Key": "a", "Value": "b", "Type": "KEY_AND_VALUE"}]]}},
     "InvalidEC2TagCombinationException"),
    ({"alarmConfiguration": {"enabled": True, "alarms": []}}, "InvalidAlarmConfigException"),
    ({"alarmConfiguration": {"enabled": True, "alarms": [{"name": f"a{i}"} for i in range(11)]}},
     "AlarmsLimitExceededException"),
    ({"autoRollbackConfiguration": {"enabled": True, "events": []}}, "InvalidAutoRollbackConfigException"),
    ({"triggerConfigurations": [{"triggerName": "t", "triggerTargetArn": "arn:aws:sqs:us-east-1:1:q",
                                 "triggerEvents": ["DeploymentStart"]}]}, "InvalidTriggerConfigException"),
])
def test_bad_deployment_groups(cloud, account, params, expected):
    cd = cloud.client("codedeploy", account)
    cd.create_application(applicationName="shop")
    request = {"applicationName": "shop", "deploymentGroupName": "g",
               "serviceRoleArn": f"arn:aws:iam::{account}:role/codedeploy", **params}
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(ClientError) as err:
        cd.create_deployment_group(**request)
    assert code(err) == expected
    assert cd.list_deployment_groups(applicationName="shop")["deploymentGroups"] == []


def test_on_premises_instances(cloud, account):
    cd = cloud.client("codedeploy", account)
    cd.register_on_premises_instance(instanceName="rack-1", iamUserArn=f"arn:aws:iam::{account}:user/rack-1")
    cd.register_on_premises_instance(instanceName="rack-2",
                                     iamSessionArn=f"arn:aws:sts::{account}:assumed-role/onprem/rack-2")
    cd.add_tags_to_on_premises_instances(instanceNames=["rack-1", "rack-2"], tags=[{"Key": "Env", "Value": "prod"}])
    cd.add_tags_to_on_premises_instances(instanceNames=["rack-2"], tags=[{"Key": "Tier", "Value": "web"}])
    info = cd.get_on_premises_instance(instanceName="rack-2")["instanceInfo"]
    assert info["instanceArn"] == f"arn:aws:codedeploy:us-east-1:{account}:instance/rack-2"
    assert sorted(t["Key"] for t in info["tags"]) == ["Env", "Tier"]
    listed = cd.list_on_premises_instances(tagFilters=[{"Key": "Tier", "Value": "web", "Type": "KEY_AND_VALUE"}])
    assert listed["instanceNames"] == ["rack-2"]
    cd.remove_tags_from_on_premises_instances(instanceNames=["rack-2"], tags=[{"Key": "Tier", "Value": "web"}])
    assert cd.list_on_premises_instances(tagFilters=[{"Key": "Tier", "Type": "KEY_ONLY"}])["instanceNames"] == []
    cd.deregister_on_premises_instance(instanceName="rack-1")
    assert cd.list_on_premises_instances(registrationStatus="Registered")["instanceNames"] == ["rack-2"]
    assert cd.list_on_premises_instances(registrationStatus="Deregistered")["instanceNames"] == ["rack-1"]
    assert "deregisterTime" in cd.get_on_premises_instance(instanceName="rack-1")["instanceInfo"]
    infos = cd.batch_get_on_premises_instances(instanceNames=["rack-1", "rack-2"])["instanceInfos"]
    assert sorted(i["instanceName"] for i in infos) == ["rack-1", "rack-2"]

    for kwargs, expected in (
            ({"instanceName": "rack-2", "iamUserArn": f"arn:aws:iam::{account}:user/other"},
             "InstanceNameAlreadyRegisteredException"),
            ({"instanceName": "rack-3"}, "IamArnRequiredException"),
            ({"instanceName": "rack-3", "iamUserArn": f"arn:aws:iam::{account}:user/a",
              "iamSessionArn": f"arn:aws:sts::{account}:assumed-role/r/s"}, "MultipleIamArnsProvidedException"),
            ({"instanceName": "rack-3", "iamUserArn": "user/a"}, "InvalidIamUserArnException")):
        with pytest.raises(ClientError) as err:
            cd.register_on_premises_instance(**kwargs)
        assert code(err) == expected
    with pytest.raises(ClientError) as err:
        cd.get_on_premises_instance(instanceName="rack-9")
    assert code(err) == "InstanceNotRegisteredException"
    with pytest.raises(ClientError) as err:
        cd.add_tags_to_on_premises_instances(instanceNames=["rack-9"], tags=[{"Key": "a", "Value": "b"}])
    assert code(err) == "InstanceNotRegisteredException"


def test_deployments_lists_revisions_and_bad_requests(cloud, account):
    register(cloud, account, ["one"], [{"Key": "Role", "Value": "one"}])
    cd = server_group(cloud, account, "g", "CodeDeployDefault.AllAtOnce",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "one", "Type": "KEY_AND_VALUE"}])
    revision = upload(cloud, account, "app.zip", release("v1"))
    cd.register_application_revision(applicationName="shop", revision=revision, description="first build")
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="g", revision=revision,
                                         description="release 1")["deploymentId"]
    info = finished(cd, deployment_id)
    assert info["status"] == "Succeeded" and info["description"] == "release 1" and info["creator"] == "user"
    assert cd.batch_get_deployments(deploymentIds=[deployment_id])["deploymentsInfo"][0]["deploymentId"] == \
        deployment_id
    assert cd.list_deployments()["deployments"] == [deployment_id]
    assert cd.list_deployments(applicationName="shop", deploymentGroupName="g",
                               includeOnlyStatuses=["Failed"])["deployments"] == []
    got = cd.get_application_revision(applicationName="shop", revision=revision)
    assert got["revisionInfo"]["description"] == "first build"
    assert got["revisionInfo"]["deploymentGroups"] == ["g"] and "firstUsedTime" in got["revisionInfo"]
    assert cd.list_application_revisions(applicationName="shop")["revisions"][0]["s3Location"]["key"] == "app.zip"
    group = cd.get_deployment_group(applicationName="shop", deploymentGroupName="g")["deploymentGroupInfo"]
    assert group["targetRevision"]["s3Location"]["key"] == "app.zip"
    assert group["lastSuccessfulDeployment"]["deploymentId"] == deployment_id

    bad = [
        (lambda: cd.get_deployment(deploymentId="not-an-id"), "InvalidDeploymentIdException"),
        (lambda: cd.get_deployment(deploymentId="d-AAAAAAAAA"), "DeploymentDoesNotExistException"),
        (lambda: cd.create_deployment(applicationName="nope", deploymentGroupName="g", revision=revision),
         "ApplicationDoesNotExistException"),
        (lambda: cd.create_deployment(applicationName="shop", deploymentGroupName="nope", revision=revision),
         "DeploymentGroupDoesNotExistException"),
        (lambda: cd.create_deployment(applicationName="shop", deploymentGroupName="g", revision=revision,
                                      deploymentConfigName="Nope"), "DeploymentConfigDoesNotExistException"),
        (lambda: cd.create_deployment(applicationName="shop", deploymentGroupName="g", revision={
            "revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}}), "InvalidRevisionException"),
        (lambda: cd.list_deployments(applicationName="shop"), "DeploymentGroupNameRequiredException"),
        (lambda: cd.list_deployments(includeOnlyStatuses=["Dancing"]), "InvalidDeploymentStatusException"),
        (lambda: cd.get_deployment_target(deploymentId=deployment_id, targetId="nobody"),
         "DeploymentTargetDoesNotExistException"),
        (lambda: cd.stop_deployment(deploymentId=deployment_id), "DeploymentAlreadyCompletedException"),
        (lambda: cd.list_deployment_targets(deploymentId=deployment_id, targetFilters={"Color": ["x"]}),
         "InvalidTargetFilterNameException"),
        (lambda: cd.list_applications(nextToken="garbage"), "InvalidNextTokenException"),
        (lambda: cd.put_lifecycle_event_hook_execution_status(deploymentId=deployment_id,
                                                              lifecycleEventHookExecutionId="x",
                                                              status="Succeeded"),
         "UnsupportedActionForDeploymentTypeException"),
    ]
    for call, expected in bad:
        with pytest.raises(ClientError) as err:
            call()
        assert code(err) == expected


def test_malformed_requests_get_aws_errors_not_tracebacks(cloud, account):
    import urllib.request

    for target, body in (("CreateApplication", b"not json"), ("CreateApplication", b"[]"),
                         ("CreateDeploymentGroup", json.dumps({"applicationName": 7}).encode()),
                         ("CreateDeployment", json.dumps({"applicationName": "a", "revision": "x"}).encode()),
                         ("GetDeployment", b"{}"), ("ListDeployments", json.dumps({"createTimeRange": 5}).encode())):
        request = urllib.request.Request(cloud.endpoint, data=body, method="POST", headers={
            "X-Amz-Target": f"CodeDeploy_20141006.{target}", "Content-Type": "application/x-amz-json-1.1",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/us-east-1/codedeploy/aws4_request, "
                             "SignedHeaders=host, Signature=x"})
        try:
            urllib.request.urlopen(request, timeout=10)
            status, text = 200, ""
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        assert 400 <= status < 500, (target, body, status, text)
        assert "__type" in json.loads(text), text


def test_triggers_publish_deployment_events_to_sns(cloud, account):
    sns = cloud.client("sns", account)
    sqs = cloud.client("sqs", account)
    topic = sns.create_topic(Name="deploys")["TopicArn"]
    queue = sqs.create_queue(QueueName="deploys")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    register(cloud, account, ["t-1"], [{"Key": "Role", "Value": "t"}])
    cd = server_group(cloud, account, "g", "CodeDeployDefault.AllAtOnce",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "t", "Type": "KEY_AND_VALUE"}],
                      triggerConfigurations=[{"triggerName": "to-sqs", "triggerTargetArn": topic,
                                              "triggerEvents": ["DeploymentStart", "DeploymentSuccess"]}])
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="g",
                                         revision=upload(cloud, account, "t.zip", release("v1")))["deploymentId"]
    assert finished(cd, deployment_id)["status"] == "Succeeded"
    seen = []
    for _ in range(10):
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):
            seen.append(json.loads(json.loads(message["Body"])["Message"]))
        if len(seen) >= 2:
            break
    assert sorted(m["status"] for m in seen) == ["CREATED", "SUCCEEDED"]
    assert all(m["deploymentId"] == deployment_id and m["eventTriggerName"] == "to-sqs" for m in seen)
