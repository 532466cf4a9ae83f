"""Lab 05-containers' checks (Parts 1-3) against evidence a learner could fabricate without
doing the work, on real images, tasks and listeners at time scale 600: a "fixed" image pushed
without a scan, or not the app rebuilt; a lifecycle policy put unpreviewed, or previewed after;
load balancer counts written with put_metric_data (refused in AWS/ApplicationELB); a v2 that is
the same image started again (force-new-deployment); a rollout nobody sent traffic through; a
bad deployment rolled back by hand instead of by the circuit breaker; a CodeDeploy blue/green
deployment whose green task set no one tested on the test listener. Each check must fail and
say what is missing."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from checker.labs import lab05_containers as lab
from checker.runner import run_lab
from checker.session import Target
from labkit.traffic import load_balancer_counts, start_http_traffic
from tests import ecs_images as ei
from tests.conftest import new_account, start_cloud, stop_cloud
from tests.elb_setup import network
from workshop.images import podman

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not podman.user_namespaces(), reason="no user namespaces here")]

SCALE = 600


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A cloud at time scale 600 and the images every test starts from (built once, pushed per account)."""
    tmp = tmp_path_factory.mktemp("lab05-fabricated")
    cloud = start_cloud(tmp_path_factory.mktemp("cloud-lab05"), time_scale=SCALE)
    try:
        yield {"cloud": cloud, "tmp": tmp, "data": ei.data_dir_with_base(tmp)}
    finally:
        stop_cloud(cloud)


def checks(cloud, account: str) -> dict:
    result = run_lab(lab.LAB_ID, Target(cloud.endpoint, account, "test", "us-east-1"))
    assert result.error is None and result.account == account
    return {r.id.split(".", 1)[1]: r for r in result.results}


def _repo(world, account: str, scan_on_push: bool = True) -> str:
    ecr = world["cloud"].client("ecr", account)
    return ecr.create_repository(repositoryName=lab.REPO_NAME, imageScanningConfiguration={
        "scanOnPush": scan_on_push})["repository"]["repositoryUri"]


def _fixed_app(world):
    folder = ei.sample_app(world["tmp"], "2.0.0")
    requirements = folder / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("idna==3.6", "idna==3.7"))
    return folder


def _scanned(ecr, tag: str) -> dict:
    return ei.wait_for(lambda: (lambda o: o if o["imageScanStatus"]["status"] == "COMPLETE" else None)(
        ecr.describe_image_scan_findings(repositoryName=lab.REPO_NAME, imageId={"imageTag": tag})), timeout=60)


def test_a_fix_without_a_scan_a_clean_image_that_is_not_the_app_and_an_unpreviewed_policy_fail(world):
    cloud, account = world["cloud"], new_account()
    ecr = cloud.client("ecr", account)
    uri = _repo(world, account, scan_on_push=False)
    ei.build(cloud, account, world["data"], ei.sample_app(world["tmp"], "1.0.0"), f"{uri}:v1")
    ecr.start_image_scan(repositoryName=lab.REPO_NAME, imageId={"imageTag": "v1"})
    assert [f["name"] for f in _scanned(ecr, "v1")["imageScanFindings"]["findings"]] == [lab.PLANTED]
    # The fixed build pushed under the tag, never scanned.
    ei.build(cloud, account, world["data"], _fixed_app(world), f"{uri}:v2")
    found = checks(cloud, account)
    assert found["image-pushed"].passed, found["image-pushed"].message
    assert not found["scan-fixed"].passed and "completed scan" in found["scan-fixed"].message

    # A clean image that is not the app rebuilt: a layer-less image pushed and scanned.
    from workshop.images import oci
    from workshop.images.registry_client import Registry, ecr_password

    layout = oci.Layout(world["tmp"] / f"scratch-{account}")
    scratch = oci.write_image(layout, "scratch", [], {"architecture": "amd64", "os": "linux", "config": {}})
    Registry(uri.split("/")[0], password=ecr_password(ecr)).push(scratch, lab.REPO_NAME, "v3")
    ecr.start_image_scan(repositoryName=lab.REPO_NAME, imageId={"imageTag": "v3"})
    assert _scanned(ecr, "v3")["imageScanFindings"]["findings"] == []
    found = checks(cloud, account)
    assert not found["scan-fixed"].passed and "the app rebuilt" in found["scan-fixed"].message
    # Nor another app on the same base (no requirements: no idna to report), scanned clean.
    ei.build(cloud, account, world["data"], ei.crashing_app(world["tmp"]), f"{uri}:bad", cmd="python3 crash.py")
    ecr.start_image_scan(repositoryName=lab.REPO_NAME, imageId={"imageTag": "bad"})
    assert _scanned(ecr, "bad")["imageScanFindings"]["findings"] == []
    found = checks(cloud, account)
    assert not found["scan-fixed"].passed and "the app rebuilt" in found["scan-fixed"].message

    # A lifecycle policy put without a preview; then previewed only after it was put.
    policy = json.dumps({"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"],
                                          "countType": "imageCountMoreThan", "countNumber": 1},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                          "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}]})
    ecr.put_lifecycle_policy(repositoryName=lab.REPO_NAME, lifecyclePolicyText=policy)
    found = checks(cloud, account)
    assert not found["lifecycle-previewed"].passed and "preview" in found["lifecycle-previewed"].message
    # A preview of another policy than the one put.
    other = json.loads(policy)
    other["rules"][0]["selection"]["countNumber"] = 2
    ecr.start_lifecycle_policy_preview(repositoryName=lab.REPO_NAME, lifecyclePolicyText=json.dumps(other))
    found = checks(cloud, account)
    assert not found["lifecycle-previewed"].passed and "another policy" in found["lifecycle-previewed"].message
    # The right policy, previewed after it was put.
    time.sleep(1.1)       # CloudTrail's times are whole seconds
    ecr.start_lifecycle_policy_preview(repositoryName=lab.REPO_NAME, lifecyclePolicyText=policy)
    ei.wait_for(lambda: ecr.get_lifecycle_policy_preview(repositoryName=lab.REPO_NAME)["status"] == "COMPLETE")
    found = checks(cloud, account)
    assert not found["lifecycle-previewed"].passed, found["lifecycle-previewed"].message
    assert "before it was previewed" in found["lifecycle-previewed"].message


def _service(world, account: str, breaker: bool = True) -> dict:
    """The lab's load balancer, target group, listener and service of 2 v1 tasks; v2 and bad pushed."""
    cloud = world["cloud"]
    uri = _repo(world, account)
    ei.build(cloud, account, world["data"], ei.sample_app(world["tmp"], "1.0.0"), f"{uri}:v1")
    ei.build(cloud, account, world["data"], _fixed_app(world), f"{uri}:v2")
    elb, ec2, ecs = (cloud.client(n, account) for n in ("elbv2", "ec2", "ecs"))
    vpc, subnets = network(ec2)
    lb = elb.create_load_balancer(Name=lab.LOAD_BALANCER, Subnets=subnets, Type="application")["LoadBalancers"][0]
    tg = elb.create_target_group(Name=lab.TARGET_GROUP, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                                 HealthCheckPath="/health", HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    url = {t["Key"]: t["Value"] for t in elb.describe_tags(ResourceArns=[listener])["TagDescriptions"][0]["Tags"]
           }["workshop:url"]
    ecs.create_cluster(clusterName=lab.CLUSTER)
    v1 = ei.register(ecs, lab.SERVICE, f"{uri}:v1")
    ecs.create_service(cluster=lab.CLUSTER, serviceName=lab.SERVICE, taskDefinition=v1, desiredCount=2,
                       launchType="EC2",
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}],
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker}})
    _settled(ecs)
    return {"uri": uri, "ecs": ecs, "elb": elb, "url": url, "lb": lb, "v1": v1}


def _settled(ecs) -> dict:
    def check():
        svc = ecs.describe_services(cluster=lab.CLUSTER, services=[lab.SERVICE])["services"][0]
        d = svc["deployments"]
        return svc if len(d) == 1 and d[0]["rolloutState"] in ("COMPLETED", "FAILED") and \
            svc["runningCount"] == svc["desiredCount"] else None
    return ei.wait_for(check, timeout=180)


def test_counts_written_by_hand_a_forced_redeploy_and_a_rollout_without_traffic_fail(world):
    cloud, account = world["cloud"], new_account()
    s = _service(world, account)
    ecs, cw = s["ecs"], cloud.client("cloudwatch", account)
    # The load balancer's books cannot be written by the learner.
    dims = [{"Name": "LoadBalancer", "Value": s["lb"]["LoadBalancerArn"].split(":loadbalancer/", 1)[1]}]
    with pytest.raises(ClientError) as refused:
        cw.put_metric_data(Namespace=lab.ELB_NAMESPACE, MetricData=[
            {"MetricName": "RequestCount", "Value": 500, "Dimensions": dims, "Timestamp": datetime.now(timezone.utc)}])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"

    # "v2" set with force-new-deployment: the same image started again, under steady traffic.
    before = datetime.now(timezone.utc)
    traffic = start_http_traffic(s["url"] + "/health", count=100000, rate=25, concurrency=2)
    try:
        ecs.update_service(cluster=lab.CLUSTER, service=lab.SERVICE, forceNewDeployment=True)
        time.sleep(0.5)
        _settled(ecs)
        time.sleep(1)
    finally:
        traffic.stop()
    result = traffic.result(timeout=60)
    assert result.failed == 0
    # The learner's tally and the load balancer's own books agree (its periods are published once ended).
    time.sleep(1.5)
    counts = load_balancer_counts(lab.LOAD_BALANCER, before, datetime.now(timezone.utc), client=cw, elbv2=s["elb"])
    assert counts["RequestCount"] == counts["HTTPCode_Target_2XX_Count"] == result.sent > 0, (counts, result.sent)
    found = checks(cloud, account)
    assert found["service-behind-lb"].passed, found["service-behind-lb"].message
    assert not found["rollout-zero-failures"].passed
    assert "same image again" in found["rollout-zero-failures"].message

    # A real rollout to v2, with no request sent while it ran (the traffic stopped a second before).
    time.sleep(1)
    v2 = ei.register(ecs, lab.SERVICE, f"{s['uri']}:v2")
    ecs.update_service(cluster=lab.CLUSTER, service=lab.SERVICE, taskDefinition=v2)
    time.sleep(0.5)
    _settled(ecs)
    found = checks(cloud, account)
    assert not found["rollout-zero-failures"].passed, found["rollout-zero-failures"].message
    assert "0 requests" in found["rollout-zero-failures"].message

    # (The ECS engine's fix this lab needed: a replaced revision still names its own task definition.)
    records = ecs.describe_service_deployments(serviceDeploymentArns=[
        b["serviceDeploymentArn"] for b in ecs.list_service_deployments(
            cluster=lab.CLUSTER, service=lab.SERVICE)["serviceDeployments"]])["serviceDeployments"]
    first = [r for r in records if not r["sourceServiceRevisions"]][0]
    revision = ecs.describe_service_revisions(serviceRevisionArns=[first["targetServiceRevision"]["arn"]]
                                              )["serviceRevisions"][0]
    assert revision["taskDefinition"] == s["v1"] and revision["containerImages"][0]["image"] == f"{s['uri']}:v1"


def test_a_bad_deployment_rolled_back_by_hand_is_no_circuit_breaker(world):
    cloud, account = world["cloud"], new_account()
    s = _service(world, account, breaker=False)
    ecs = s["ecs"]
    ei.build(cloud, account, world["data"], ei.crashing_app(world["tmp"]), f"{s['uri']}:bad", cmd="python3 crash.py")
    bad = ei.register(ecs, lab.SERVICE, f"{s['uri']}:bad")
    ecs.update_service(cluster=lab.CLUSTER, service=lab.SERVICE, taskDefinition=bad)
    # Without the breaker the deployment keeps trying; the learner stops it with a rollback.
    arn = ei.wait_for(lambda: ecs.list_service_deployments(cluster=lab.CLUSTER, service=lab.SERVICE,
                                                           status=["IN_PROGRESS"])["serviceDeployments"])[0][
        "serviceDeploymentArn"]
    time.sleep(1)
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    ei.wait_for(lambda: ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0][
        "status"] == "ROLLBACK_SUCCESSFUL", timeout=120)
    found = checks(cloud, account)
    assert not found["service-behind-lb"].passed and "circuit breaker" in found["service-behind-lb"].message
    assert not found["circuit-breaker-rollback"].passed
    assert "tripped the circuit breaker" in found["circuit-breaker-rollback"].message

    # workshop reset 05-containers removes what the lab made (not the VPC made here without the lab tag).
    from labkit.reset import reset_lab

    cleanup = reset_lab(lab.LAB_ID, Target(cloud.endpoint, account, "test", "us-east-1"), say=lambda _: None)
    assert cleanup.problems == [] and cleanup.done
    assert [x["status"] for x in ecs.describe_services(cluster=lab.CLUSTER, services=[lab.SERVICE])["services"]] \
        in ([], ["INACTIVE"])
    assert cloud.client("elbv2", account).describe_load_balancers()["LoadBalancers"] == []
    with pytest.raises(ClientError):
        cloud.client("ecr", account).describe_repositories(repositoryNames=[lab.REPO_NAME])
    assert not any(r.passed for r in checks(cloud, account).values())


def test_a_blue_green_deployment_no_one_tested_on_the_test_listener_fails(world):
    cloud, account = world["cloud"], new_account()
    uri = _repo(world, account)
    ei.build(cloud, account, world["data"], ei.sample_app(world["tmp"], "1.0.0"), f"{uri}:v1")
    ei.build(cloud, account, world["data"], _fixed_app(world), f"{uri}:v2")
    elb, ec2, ecs, cd = (cloud.client(n, account) for n in ("elbv2", "ec2", "ecs", "codedeploy"))
    vpc, subnets = network(ec2)
    lb = elb.create_load_balancer(Name=lab.BG_LOAD_BALANCER, Subnets=subnets, Type="application"
                                  )["LoadBalancers"][0]["LoadBalancerArn"]
    blue, green = (elb.create_target_group(Name=n, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                                           HealthCheckPath="/health", HealthyThresholdCount=2
                                           )["TargetGroups"][0]["TargetGroupArn"] for n in (lab.BLUE_GROUP, lab.GREEN_GROUP))
    prod, test = (elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": blue}])["Listeners"][0]["ListenerArn"] for port in (80, 8080))
    prod_url = {t["Key"]: t["Value"] for t in elb.describe_tags(ResourceArns=[prod])["TagDescriptions"][0]["Tags"]
                }["workshop:url"]
    ecs.create_cluster(clusterName=lab.CLUSTER)
    v1, v2 = (ei.register(ecs, lab.BG_SERVICE, f"{uri}:{tag}") for tag in ("v1", "v2"))
    ecs.create_service(cluster=lab.CLUSTER, serviceName=lab.BG_SERVICE, taskDefinition=v1, desiredCount=2,
                       launchType="EC2", deploymentController={"type": "CODE_DEPLOY"},
                       loadBalancers=[{"targetGroupArn": blue, "containerName": "web", "containerPort": 8080}])
    ei.wait_for(lambda: [t for t in ecs.describe_task_sets(cluster=lab.CLUSTER, service=lab.BG_SERVICE)["taskSets"]
                         if t["stabilityStatus"] == "STEADY_STATE" and t["runningCount"] == 2], timeout=180)
    cd.create_application(applicationName=lab.CD_APP, computePlatform="ECS")
    group = dict(
        applicationName=lab.CD_APP, serviceRoleArn=f"arn:aws:iam::{account}:role/codedeploy",
        deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
        ecsServices=[{"serviceName": lab.BG_SERVICE, "clusterName": lab.CLUSTER}],
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5}})
    pair = {"targetGroups": [{"name": lab.BLUE_GROUP}, {"name": lab.GREEN_GROUP}],
            "prodTrafficRoute": {"listenerArns": [prod]}}
    # A group with no test listener first: the check says so.
    cd.create_deployment_group(deploymentGroupName=lab.CD_GROUP, loadBalancerInfo={"targetGroupPairInfoList": [pair]},
                               **group)
    found = checks(cloud, account)
    assert not found["bluegreen-test-listener"].passed
    assert "test traffic route" in found["bluegreen-test-listener"].message
    cd.update_deployment_group(applicationName=lab.CD_APP, currentDeploymentGroupName=lab.CD_GROUP,
                               loadBalancerInfo={"targetGroupPairInfoList": [
                                   {**pair, "testTrafficRoute": {"listenerArns": [test]}}]})

    # Deployed with production traffic throughout, but nothing sent to the test listener.
    spec = {"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
        "TaskDefinition": v2, "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8080}}}}]}
    traffic = start_http_traffic(prod_url + "/health", count=100000, rate=25, concurrency=2)
    try:
        deployment = cd.create_deployment(applicationName=lab.CD_APP, deploymentGroupName=lab.CD_GROUP, revision={
            "revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}})["deploymentId"]
        info = ei.wait_for(lambda: (lambda i: i if i["status"] in ("Succeeded", "Failed", "Stopped") else None)(
            cd.get_deployment(deploymentId=deployment)["deploymentInfo"]), timeout=180)
        time.sleep(1)
    finally:
        traffic.stop()
    assert info["status"] == "Succeeded", info.get("errorInformation")
    result = traffic.result(timeout=60)
    assert result.failed == 0 and result.tally("2.0.0").succeeded > 0
    found = checks(cloud, account)
    assert not found["bluegreen-test-listener"].passed, found["bluegreen-test-listener"].message
    assert "through the test listener" in found["bluegreen-test-listener"].message
