"""ECS Express Mode on a cloud at time scale 600: one create_express_gateway_service call with
the sample image gives a URL that answers (through the shared load balancer's host-header
rule); describe_express_gateway_service and describe_service_revisions list what it made,
and the other APIs see the same resources; an update rolls v2; delete removes them; roles
that do not exist or do not trust ECS are AWS's errors; after a restart it serves again."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from labkit.load_balancers import express_service_url
from tests import ecs_images as ei
from tests.conftest import ROOT, new_account, start_cloud, stop_cloud
from workshop.images import podman

pytestmark = pytest.mark.skipif(not podman.user_namespaces(), reason="no user namespaces here")

TRUST = {"ecs.amazonaws.com": "infra", "ecs-tasks.amazonaws.com": "exec"}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ecs-express")
    return {"tmp": tmp, "data": ei.data_dir_with_base(tmp)}


@pytest.fixture(scope="module")
def fast_cloud(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("express-cloud"), time_scale=600)
    yield cloud
    stop_cloud(cloud)


def _setup(cloud, images, versions=("1.0.0",), account: str | None = None) -> dict:
    account = account or new_account()
    ecr, iam = cloud.client("ecr", account), cloud.client("iam", account)
    uri = ecr.create_repository(repositoryName="shop")["repository"]["repositoryUri"]
    for version in versions:
        ei.build(cloud, account, images["data"], ei.sample_app(images["tmp"], version), f"{uri}:{version}")
    roles = {}
    for principal, name in TRUST.items():
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": principal},
                                                           "Action": "sts:AssumeRole"}]}
        roles[name] = iam.create_role(RoleName=f"express-{name}", AssumeRolePolicyDocument=json.dumps(policy)
                                      )["Role"]["Arn"]
    return {"account": account, "uri": uri, "roles": roles}


def _create(ecs, setup, version="1.0.0", **extra) -> dict:
    return ecs.create_express_gateway_service(
        executionRoleArn=setup["roles"]["exec"], infrastructureRoleArn=setup["roles"]["infra"],
        primaryContainer={"image": f"{setup['uri']}:{version}", "containerPort": 8080},
        healthCheckPath="/health", **extra)["service"]


def _version(url: str):
    try:
        return ei.get(url + "/health")["version"]
    except (OSError, ValueError):
        return None


def _revision(ecs, arn: str) -> dict:
    service = ecs.describe_express_gateway_service(serviceArn=arn)["service"]
    revision_arn = service["activeConfigurations"][0]["serviceRevisionArn"]
    return ecs.describe_service_revisions(serviceRevisionArns=[revision_arn])["serviceRevisions"][0]


def test_one_call_gives_a_url_then_v2_then_delete(fast_cloud, images):
    cloud = fast_cloud
    setup = _setup(cloud, images, ("1.0.0", "2.0.0"))
    account = setup["account"]
    ecs, elb, scaling, ec2, cw = (cloud.client(n, account) for n in ("ecs", "elbv2", "application-autoscaling",
                                                                     "ec2", "cloudwatch"))

    service = _create(ecs, setup, serviceName="shop")
    arn = service["serviceArn"]
    assert service["status"]["statusCode"] == "ACTIVE" and service["cluster"].endswith(":cluster/default")
    config = service["activeConfigurations"][0]
    endpoint = config["ingressPaths"][0]["endpoint"]
    assert endpoint.startswith("https://shop-") and endpoint.endswith(".ecs.us-east-1.on.aws")
    assert (config["cpu"], config["memory"], config["healthCheckPath"]) == ("1024", "2048", "/health")
    assert config["scalingTarget"]["minTaskCount"] == 1 and config["scalingTarget"]["maxTaskCount"] == 20

    # The URL answers (the load balancer provisions for 180 AWS seconds, the task starts on the clock).
    url = express_service_url(arn, client=ecs)
    assert url.startswith("http://127.0.0.1:")
    assert ei.wait_for(lambda: _version(url) == "1.0.0", timeout=180)

    # workshop doctor says where it answers.
    doctor = subprocess.run([sys.executable, "-m", "workshop", "doctor"], cwd=ROOT, env=cloud.env(account),
                            capture_output=True, text=True, timeout=120)
    assert f"{endpoint} -> {url}" in doctor.stdout, doctor.stdout + doctor.stderr

    # What it made, with statuses, as the other APIs see it.
    resources = ei.wait_for(lambda: (lambda r: r if r["ingressPaths"][0]["loadBalancer"]["status"] == "ACTIVE"
                                     else None)(_revision(ecs, arn)["ecsManagedResources"]), timeout=30)
    path = resources["ingressPaths"][0]
    assert path["endpoint"] == endpoint
    assert {path[k]["status"] for k in ("loadBalancer", "listener", "rule", "certificate")} == {"ACTIVE"}
    group_arn = path["targetGroups"][0]["arn"]
    group = elb.describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"][0]
    assert (group["Port"], group["HealthCheckPath"], group["TargetType"]) == (8080, "/health", "ip")
    rule = elb.describe_rules(RuleArns=[path["rule"]["arn"]])["Rules"][0]
    assert rule["Conditions"][0]["HostHeaderConfig"]["Values"] == [endpoint[len("https://"):]]
    assert {g["TargetGroupArn"]: g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]} == {
        group_arn: 100, path["targetGroups"][1]["arn"]: 0}
    listener = elb.describe_listeners(ListenerArns=[path["listener"]["arn"]])["Listeners"][0]
    assert (listener["Port"], listener["Protocol"]) == (443, "HTTPS")
    assert listener["LoadBalancerArn"] == path["loadBalancer"]["arn"]
    assert ei.wait_for(lambda: [d for d in elb.describe_target_health(TargetGroupArn=group_arn)[
        "TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "healthy"], timeout=60)
    ecs_service = ecs.describe_services(cluster="default", services=["shop"])["services"][0]
    assert ecs_service["loadBalancers"][0]["targetGroupArn"] == group_arn
    assert ecs_service["launchType"] == "FARGATE" and ecs_service["desiredCount"] == 1
    definition = ecs.describe_task_definition(taskDefinition=config["taskDefinitionArn"])["taskDefinition"]
    assert definition["containerDefinitions"][0]["image"] == f"{setup['uri']}:1.0.0"
    assert definition["executionRoleArn"] == setup["roles"]["exec"] and definition["networkMode"] == "awsvpc"
    target = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=["service/default/shop"]
                                               )["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 20)
    policy = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId="service/default/shop"
                                               )["ScalingPolicies"][0]
    assert policy["PolicyARN"] == resources["autoScaling"]["applicationAutoScalingPolicies"][0]["arn"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
        "PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    service_group = resources["serviceSecurityGroups"][0]["arn"].split("/")[-1]
    assert ec2.describe_security_groups(GroupIds=[service_group])["SecurityGroups"][0]["IpPermissions"][0][
        "FromPort"] == 8080
    assert resources["logGroups"][0]["logGroupName"] == "/aws/ecs/default/shop"
    # The alarm that detects a faulty deployment watches the group's 5XX and rolls a deployment back.
    alarm_name = resources["metricAlarms"][0]["arn"].split(":alarm:")[-1]
    alarm = cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count")
    assert {"Name": "TargetGroup", "Value": group_arn.split(":")[-1]} in alarm["Dimensions"]
    alarm_names = [a["arn"].split(":alarm:")[-1] for a in resources["metricAlarms"]]
    assert ecs_service["deploymentConfiguration"]["alarms"] == {"alarmNames": alarm_names, "enable": True,
                                                                "rollback": True}
    # It deploys as a canary between its two target groups (ECS moves the rule's weights).
    assert ecs_service["deploymentConfiguration"]["strategy"] == "CANARY"
    alternate = path["targetGroups"][1]["arn"]
    assert ecs_service["loadBalancers"][0]["advancedConfiguration"] == {
        "alternateTargetGroupArn": alternate, "productionListenerRule": path["rule"]["arn"],
        "roleArn": setup["roles"]["infra"]}

    # CloudTrail: ECS made them (the learner's one call, the rest invoked by ecs.amazonaws.com).
    trail = cloud.client("cloudtrail", account)

    def events(name):
        return [json.loads(e["CloudTrailEvent"]) for e in trail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]]
    assert events("CreateExpressGatewayService")[0]["userIdentity"]["type"] != "AWSService"
    made = events("CreateLoadBalancer")
    assert [e["userIdentity"].get("invokedBy") for e in made] == ["ecs.amazonaws.com"]
    assert {e["eventSource"] for e in events("CreateRule")} == {"elasticloadbalancing.amazonaws.com"}

    # A second express service shares the load balancer with its own rule.
    other = _create(ecs, setup, serviceName="admin")
    other_path = _revision(ecs, other["serviceArn"])["ecsManagedResources"]["ingressPaths"][0]
    assert other_path["loadBalancer"]["arn"] == path["loadBalancer"]["arn"]
    assert other_path["rule"]["arn"] != path["rule"]["arn"]
    other_url = express_service_url(other["serviceArn"], client=ecs)
    assert ei.wait_for(lambda: _version(other_url) == "1.0.0", timeout=180)
    ecs.delete_express_gateway_service(serviceArn=other["serviceArn"])

    # An update rolls v2 out behind the same URL.
    updated = ecs.update_express_gateway_service(serviceArn=arn, primaryContainer={
        "image": f"{setup['uri']}:2.0.0", "containerPort": 8080})["service"]
    assert updated["targetConfiguration"]["primaryContainer"]["image"].endswith(":2.0.0")
    assert updated["targetConfiguration"]["serviceRevisionArn"] != config["serviceRevisionArn"]
    assert ei.wait_for(lambda: _version(url) == "2.0.0", timeout=240)
    ei.wait_for(lambda: ecs.describe_services(cluster="default", services=["shop"])["services"][0][
        "deployments"][0]["rolloutState"] == "COMPLETED", timeout=240)
    assert [_version(url) for _ in range(5)] == ["2.0.0"] * 5
    weights = {g["TargetGroupArn"]: g["Weight"] for g in elb.describe_rules(RuleArns=[path["rule"]["arn"]])[
        "Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {group_arn: 0, alternate: 100}       # production moved to the other group
    described = ecs.describe_express_gateway_service(serviceArn=arn)["service"]
    assert described["activeConfigurations"][0]["primaryContainer"]["image"].endswith(":2.0.0")

    # Delete: DRAINING, then INACTIVE; what it made is gone; the URL no longer answers.
    deleted = ecs.delete_express_gateway_service(serviceArn=arn)["service"]
    assert deleted["status"]["statusCode"] in ("DRAINING", "INACTIVE")
    ei.wait_for(lambda: ecs.describe_express_gateway_service(serviceArn=arn)["service"]["status"][
        "statusCode"] == "INACTIVE", timeout=180)
    with pytest.raises(ClientError):
        elb.describe_target_groups(TargetGroupArns=[group_arn])
    with pytest.raises(ClientError):
        elb.describe_load_balancers(LoadBalancerArns=[path["loadBalancer"]["arn"]])
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=["service/default/shop"]
                                             )["ScalableTargets"] == []
    assert cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"] == []
    ei.wait_for(lambda: _version(url) is None, timeout=30)
    with pytest.raises(ClientError) as err:
        ecs.update_express_gateway_service(serviceArn=arn, cpu="512")
    assert err.value.response["Error"]["Code"] == "ServiceNotActiveException"


def test_aws_errors(fast_cloud, images):
    cloud = fast_cloud
    account = new_account()
    ecs, iam = cloud.client("ecs", account), cloud.client("iam", account)
    image = f"{account}.dkr.ecr.us-east-1.amazonaws.com/shop:1.0.0"
    missing = f"arn:aws:iam::{account}:role/nobody"
    with pytest.raises(ClientError) as err:
        ecs.create_express_gateway_service(infrastructureRoleArn=missing, primaryContainer={"image": image})
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "nobody" in err.value.response["Error"]["Message"]
    # A role that trusts Lambda, not ECS, cannot be assumed by ECS.
    lambda_role = iam.create_role(RoleName="lambda-only", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    with pytest.raises(ClientError) as err:
        ecs.create_express_gateway_service(infrastructureRoleArn=lambda_role, primaryContainer={"image": image})
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "ecs.amazonaws.com" in err.value.response["Error"]["Message"]
    roles = _setup(cloud, images, versions=(), account=account)["roles"]
    with pytest.raises(ClientError) as err:
        ecs.create_express_gateway_service(infrastructureRoleArn=roles["exec"], primaryContainer={"image": image})
    assert "ecs.amazonaws.com" in err.value.response["Error"]["Message"]    # the task role is not ECS's
    with pytest.raises(ClientError) as err:
        ecs.create_express_gateway_service(infrastructureRoleArn=roles["infra"], primaryContainer={"image": image},
                                           cluster="nowhere")
    assert err.value.response["Error"]["Code"] == "ClusterNotFoundException"
    with pytest.raises(ClientError) as err:
        ecs.create_express_gateway_service(infrastructureRoleArn=roles["infra"], primaryContainer={"image": ""})
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    unknown = f"arn:aws:ecs:us-east-1:{account}:service/default/none"
    with pytest.raises(ClientError) as err:
        ecs.describe_express_gateway_service(serviceArn=unknown)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        ecs.delete_express_gateway_service(serviceArn=unknown)
    assert err.value.response["Error"]["Code"] == "ServiceNotFoundException"
    # Nothing was made by the refused calls.
    assert cloud.client("elbv2", account).describe_load_balancers()["LoadBalancers"] == []
    assert ecs.list_clusters()["clusterArns"] == []


def test_an_express_service_serves_again_after_a_restart(tmp_path, images):
    cloud = start_cloud(tmp_path, time_scale=600)
    try:
        setup = _setup(cloud, images)
        ecs = cloud.client("ecs", setup["account"])
        arn = _create(ecs, setup, serviceName="shop")["serviceArn"]
        url = express_service_url(arn, client=ecs)
        assert ei.wait_for(lambda: _version(url) == "1.0.0", timeout=180)
        before = ecs.describe_express_gateway_service(serviceArn=arn)["service"]
        stop_cloud(cloud, keep_data=True)
        cloud = start_cloud(tmp_path, time_scale=600, data_dir=cloud.data_dir, port=cloud.port)
        ecs = cloud.client("ecs", setup["account"])
        after = ecs.describe_express_gateway_service(serviceArn=arn)["service"]
        assert after["activeConfigurations"] == before["activeConfigurations"]
        assert express_service_url(arn, client=ecs) == url         # the same local port again
        assert ei.wait_for(lambda: _version(url) == "1.0.0", timeout=180)   # a replacement task serves it
        assert _revision(ecs, arn)["ecsManagedResources"]["ingressPaths"][0]["rule"]["status"] == "ACTIVE"
    finally:
        stop_cloud(cloud)


def test_the_load_balancer_provisions_on_the_clock(cloud, images):
    """At the session cloud's time scale (60) the new load balancer's 180 AWS seconds are 3 real
    ones: PROVISIONING first, then ACTIVE (the target group and scaling at once)."""
    setup = _setup(cloud, images, versions=())
    ecs = cloud.client("ecs", setup["account"])
    arn = _create(ecs, setup, serviceName="slow")["serviceArn"]
    resources = _revision(ecs, arn)["ecsManagedResources"]
    assert resources["ingressPaths"][0]["loadBalancer"]["status"] == "PROVISIONING"
    assert resources["ingressPaths"][0]["targetGroups"][0]["status"] == "ACTIVE"
    assert resources["autoScaling"]["scalableTarget"]["status"] == "ACTIVE"
    ei.wait_for(lambda: _revision(ecs, arn)["ecsManagedResources"]["ingressPaths"][0]["loadBalancer"][
        "status"] == "ACTIVE", timeout=60)
    ecs.delete_express_gateway_service(serviceArn=arn)
