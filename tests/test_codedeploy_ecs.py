"""CodeDeploy's ECS compute platform with real tasks behind a real listener, on a cloud at
time scale 30 (the canary's 5-minute bake lasts 10 s): steady requests to the production
listener, tallied by the version that answers. A canary whose AfterAllowTestTraffic hook
fails rolls back with production never answered by v2; a canary whose alarm goes off in
the bake rolls back with v2's share of production no more than the canary's; AllAtOnce to
v2 succeeds, ends the original task set after its wait, and survives a restart; a linear
configuration moves production 10% a step."""

from __future__ import annotations

import json
import threading
import time

import pytest

from labkit.traffic import start_http_traffic
from tests import ecs_images as ei
from tests.conftest import new_account, start_cloud, stop_cloud
from tests.elb_setup import balancer, group
from tests.test_lambda_invoke import make_function
from workshop.images import podman

pytestmark = pytest.mark.skipif(not podman.user_namespaces(), reason="no user namespaces here")

SCALE = 30
HOOK = """
    import time
    import boto3

    def handler(event, context):
        time.sleep({sleep})      # long enough for the test to see the test listener's answers
        boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
            deploymentId=event["DeploymentId"],
            lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"], status="{status}")
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The module's cloud (the last test restarts it: whoever holds it stops it) and an account
    with v1 and v2 of the sample app pushed."""
    tmp = tmp_path_factory.mktemp("codedeploy-ecs")
    held = {"cloud": start_cloud(tmp_path_factory.mktemp("cloud-cd-ecs"), time_scale=SCALE), "tmp": tmp}
    try:
        cloud, account = held["cloud"], new_account()
        data = ei.data_dir_with_base(tmp)
        uri = cloud.client("ecr", account).create_repository(repositoryName="web")["repository"]["repositoryUri"]
        for version, tag in (("1.0.0", "v1"), ("2.0.0", "v2")):
            ei.build(cloud, account, data, ei.sample_app(tmp, version), f"{uri}:{tag}")
        held.update(account=account, uri=uri)
        yield held
    finally:
        stop_cloud(held["cloud"])


def _url(elb, listener: str) -> str:
    tags = elb.describe_tags(ResourceArns=[listener])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t["Value"] for t in tags}["workshop:url"]


def _stack(world, name: str, config: str, alarms: list[str] | None = None,
           hooks: dict[str, str] | None = None, termination_wait: int = 1) -> dict:
    """A CODE_DEPLOY service of 2 v1 tasks behind a production (80) and a test (8080) listener of
    one load balancer, two target groups, and a deployment group for it; v2's AppSpec."""
    cloud, account, uri = world["cloud"], world["account"], world["uri"]
    elb, ec2, ecs = (cloud.client(n, account) for n in ("elbv2", "ec2", "ecs"))
    cd = cloud.client("codedeploy", account)
    lb, vpc = balancer(elb, ec2, name)
    blue = group(elb, vpc, f"{name}-blue", interval=5, delay=5)
    green = group(elb, vpc, f"{name}-green", interval=5, delay=5)
    prod, test = (elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": blue}])["Listeners"][0]["ListenerArn"] for port in (80, 8080))
    ecs.create_cluster(clusterName=name)
    v1 = ei.register(ecs, name, f"{uri}:v1")
    v2 = ei.register(ecs, name, f"{uri}:v2")
    ecs.create_service(cluster=name, serviceName="web", taskDefinition=v1, desiredCount=2, launchType="EC2",
                       deploymentController={"type": "CODE_DEPLOY"},
                       loadBalancers=[{"targetGroupArn": blue, "containerName": "web", "containerPort": 8080}])
    first = ei.wait_for(lambda: (lambda sets: sets[0] if len(sets) == 1 and sets[0]["stabilityStatus"] ==
                                 "STEADY_STATE" and sets[0]["runningCount"] == 2 else None)(
        ecs.describe_task_sets(cluster=name, service="web")["taskSets"]), timeout=180)
    assert first["status"] == "PRIMARY" and first["taskDefinition"] == v1 and first["computedDesiredCount"] == 2
    cd.create_application(applicationName=name, computePlatform="ECS")
    options = {}
    if alarms:
        options["alarmConfiguration"] = {"enabled": True, "alarms": [{"name": a} for a in alarms]}
    cd.create_deployment_group(
        applicationName=name, deploymentGroupName="web", serviceRoleArn=f"arn:aws:iam::{account}:role/codedeploy",
        deploymentConfigName=config, ecsServices=[{"serviceName": "web", "clusterName": name}],
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": termination_wait}},
        loadBalancerInfo={"targetGroupPairInfoList": [{
            "targetGroups": [{"name": f"{name}-blue"}, {"name": f"{name}-green"}],
            "prodTrafficRoute": {"listenerArns": [prod]}, "testTrafficRoute": {"listenerArns": [test]}}]},
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
        **options)
    spec = {"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
        "TaskDefinition": v2, "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8080}}}}]}
    if hooks:
        spec["Hooks"] = [{event: fn} for event, fn in hooks.items()]
    revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}}
    return {"elb": elb, "ecs": ecs, "cd": cd, "blue": blue, "green": green, "prod": prod, "test": test,
            "prod_url": _url(elb, prod), "test_url": _url(elb, test), "v1": v1, "v2": v2, "revision": revision,
            "name": name, "first": first}


class Answers:
    """Steady requests to a URL; the version of every answer, in order."""

    def __init__(self, url: str, rate: float = 25):
        self.seen: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        self.run = start_http_traffic(url + "/health", count=1_000_000, rate=rate, concurrency=2,
                                      on_result=self._add)

    def _add(self, version: str, ok: bool) -> None:
        with self._lock:
            self.seen.append((version, ok))

    def versions(self) -> list[str]:
        with self._lock:
            return [v for v, _ in self.seen]

    def stop(self):
        self.run.stop()
        return self.run.result(timeout=60)


def _finished(cd, deployment_id: str, timeout: float = 240) -> dict:
    return ei.wait_for(lambda: (lambda info: info if info["status"] in ("Succeeded", "Failed", "Stopped") else None)(
        cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]), timeout=timeout)


def _weights(elb, listener: str) -> dict[str, int]:
    action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
    if "ForwardConfig" not in action:
        return {action["TargetGroupArn"]: 1}
    return {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}


def _rolled_back(s: dict, info: dict) -> dict:
    """The rollback deployment of ``info`` succeeded: both listeners on blue, v1's task set alone and primary."""
    rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
    rollback = _finished(s["cd"], rollback_id)
    assert rollback["status"] == "Succeeded" and rollback["creator"] == "codeDeployRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == info["deploymentId"]
    for listener in (s["prod"], s["test"]):
        assert _weights(s["elb"], listener) == {s["blue"]: 100, s["green"]: 0}
    sets = ei.wait_for(lambda: (lambda found: found if len(found) == 1 else None)(
        s["ecs"].describe_task_sets(cluster=s["name"], service="web")["taskSets"]), timeout=120)
    assert sets[0]["id"] == s["first"]["id"] and sets[0]["status"] == "PRIMARY"
    assert sets[0]["taskDefinition"] == s["v1"]
    return rollback


def test_a_canary_whose_test_traffic_hook_fails_rolls_back_before_production_sees_v2(world):
    cloud, account = world["cloud"], world["account"]
    make_function(cloud, account, "smoke-test", HOOK.format(sleep=3, status="Failed"), Timeout=30)
    s = _stack(world, "hooked", "CodeDeployDefault.ECSCanary10Percent5Minutes",
               hooks={"AfterAllowTestTraffic": "smoke-test"})
    prod = Answers(s["prod_url"])
    try:
        deployment_id = s["cd"].create_deployment(applicationName="hooked", deploymentGroupName="web",
                                                  revision=s["revision"])["deploymentId"]
        # While the hook runs, the test listener answers with v2 (the replacement task set).
        ei.wait_for(lambda: _weights(s["elb"], s["test"]).get(s["green"]) == 100, timeout=180)
        assert ei.get(s["test_url"] + "/health")["version"] == "2.0.0"
        info = _finished(s["cd"], deployment_id)
        _rolled_back(s, info)
        time.sleep(1)
    finally:
        result = prod.stop()
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    target = s["cd"].batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["hooked:web"]
                                                  )["deploymentTargets"][0]
    assert target["deploymentTargetType"] == "ECSTarget"
    events = {e["lifecycleEventName"]: e["status"] for e in target["ecsTarget"]["lifecycleEvents"]}
    assert events == {"BeforeInstall": "Succeeded", "Install": "Succeeded", "AfterInstall": "Succeeded",
                      "AllowTestTraffic": "Succeeded", "AfterAllowTestTraffic": "Failed",
                      "BeforeAllowTraffic": "Skipped", "AllowTraffic": "Skipped", "AfterAllowTraffic": "Skipped"}
    assert target["ecsTarget"]["status"] == "Failed"
    # Production never left v1: every answer during the deployment and its rollback was v1's.
    assert result.failed == 0, result.error_samples[:3]
    assert result.tally("1.0.0").succeeded == result.sent > 50 and result.tally("2.0.0").requests == 0


def test_a_canary_whose_alarm_goes_off_in_the_bake_rolls_back_within_the_canary_share(world):
    cloud, account = world["cloud"], world["account"]
    cw = cloud.client("cloudwatch", account)
    cw.put_metric_alarm(AlarmName="checkout-errors", Namespace="Shop", MetricName="CheckoutErrors",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    s = _stack(world, "baked", "CodeDeployDefault.ECSCanary10Percent5Minutes", alarms=["checkout-errors"])
    prod = Answers(s["prod_url"])
    try:
        deployment_id = s["cd"].create_deployment(applicationName="baked", deploymentGroupName="web",
                                                  revision=s["revision"])["deploymentId"]
        ei.wait_for(lambda: _weights(s["elb"], s["prod"]) == {s["blue"]: 90, s["green"]: 10}, timeout=180)
        # The canary serves: once v2 has answered production, its errors reach the alarm.
        ei.wait_for(lambda: "2.0.0" in prod.versions(), timeout=30, every=0.05)
        cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "CheckoutErrors", "Value": 5}])
        info = _finished(s["cd"], deployment_id)
        _rolled_back(s, info)
        after = len(prod.versions())
        ei.wait_for(lambda: len(prod.versions()) >= after + 25, timeout=30)
    finally:
        result = prod.stop()
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert "checkout-errors" in info["errorInformation"]["message"]
    assert cw.describe_alarms(AlarmNames=["checkout-errors"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    target = s["cd"].batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["baked:web"]
                                                  )["deploymentTargets"][0]["ecsTarget"]
    events = {e["lifecycleEventName"]: e["status"] for e in target["lifecycleEvents"]}
    assert events["AllowTraffic"] == "Failed" and events["AfterAllowTraffic"] == "Skipped"
    green = next(t for t in target["taskSetsInfo"] if t["taskSetLabel"] == "Green")
    assert green["trafficWeight"] == 10.0 and green["targetGroup"] == {"name": "baked-green"}

    versions = [v for v, ok in prod.seen]
    assert result.failed == 0, result.error_samples[:3]
    assert set(versions) == {"1.0.0", "2.0.0"}
    # v2's share of production never went past the canary's 10%: overall, and in any 100 answers in a
    # row (Binomial(100, 0.1): mean 10, sd 3; 25 or more is about 1 in 100,000 per window).
    shares = [versions[i:i + 100].count("2.0.0") for i in range(max(1, len(versions) - 99))]
    assert max(shares) < 25, max(shares)
    assert versions.count("2.0.0") <= 0.1 * len(versions) + 3 * (0.09 * len(versions)) ** 0.5
    assert set(versions[-25:]) == {"1.0.0"}      # after the rollback, v1 alone


def test_a_linear_deployment_moves_production_ten_percent_a_step_and_succeeds(world):
    # ECSLinear10PercentEvery1Minutes: 10, 20, ... 90 then 100, a minute apart (2 s at scale 30).
    s = _stack(world, "linear", "CodeDeployDefault.ECSLinear10PercentEvery1Minutes")
    prod = Answers(s["prod_url"])
    seen: list[int] = []
    try:
        deployment_id = s["cd"].create_deployment(applicationName="linear", deploymentGroupName="web",
                                                  revision=s["revision"])["deploymentId"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            green = _weights(s["elb"], s["prod"]).get(s["green"], 0)
            if not seen or seen[-1] != green:
                seen.append(green)
            if green == 100:
                break
            time.sleep(0.1)
        info = _finished(s["cd"], deployment_id)
        after = len(prod.versions())
        ei.wait_for(lambda: len(prod.versions()) >= after + 25, timeout=30)
    finally:
        result = prod.stop()
    assert info["status"] == "Succeeded", info.get("errorInformation")
    # Every step, in order, as CloudTrail has CodeDeploy's ModifyListener calls on production; the
    # weights read meanwhile only ever grew.
    trail = world["cloud"].client("cloudtrail", world["account"])
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ModifyListener"}],
                                 MaxResults=50)["Events"]
    steps = []
    for event in sorted(events, key=lambda e: e["EventTime"]):
        request = json.loads(event["CloudTrailEvent"])["requestParameters"]
        if request["listenerArn"] == s["prod"]:        # CloudTrail's names: lowerCamelCase, as AWS's
            [forward] = request["defaultActions"]
            steps.append({g["targetGroupArn"]: g["weight"] for g in forward["forwardConfig"]["targetGroups"]}[
                s["green"]])
    while steps and steps[0] == 0:                       # the pair's forward set up before the first step
        steps.pop(0)
    assert steps == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], steps
    assert seen == sorted(seen) and seen[-1] == 100, seen
    assert result.failed == 0, result.error_samples[:3]
    versions = prod.versions()
    assert versions[0] == "1.0.0" and set(versions[-25:]) == {"2.0.0"}
    # v2's share grew with the steps: less of the first half of the answers than of the second.
    half = len(versions) // 2
    assert versions[:half].count("2.0.0") < versions[half:].count("2.0.0")


def test_all_at_once_to_v2_succeeds_and_survives_a_restart(world):
    # An hour's termination wait (2 minutes here): ContinueDeployment ends it once production is on v2.
    s = _stack(world, "whole", "CodeDeployDefault.ECSAllAtOnce", termination_wait=60)
    prod = Answers(s["prod_url"])
    try:
        deployment_id = s["cd"].create_deployment(applicationName="whole", deploymentGroupName="web",
                                                  revision=s["revision"])["deploymentId"]
        waiting = ei.wait_for(lambda: (lambda i: i if i.get("instanceTerminationWaitTimeStarted") else None)(
            s["cd"].get_deployment(deploymentId=deployment_id)["deploymentInfo"]), timeout=240)
        assert waiting["status"] == "InProgress"
        both = {t["status"]: t["taskDefinition"] for t in
                s["ecs"].describe_task_sets(cluster="whole", service="web")["taskSets"]}
        assert both == {"ACTIVE": s["v1"], "PRIMARY": s["v2"]}     # the original waits out its termination
        s["cd"].continue_deployment(deploymentId=deployment_id, deploymentWaitType="TERMINATION_WAIT")
        info = _finished(s["cd"], deployment_id)
        after = len(prod.versions())
        ei.wait_for(lambda: len(prod.versions()) >= after + 25, timeout=30)
    finally:
        result = prod.stop()
    assert info["status"] == "Succeeded" and info["computePlatform"] == "ECS", info.get("errorInformation")
    assert info["instanceTerminationWaitTimeStarted"] is True
    assert info["deploymentOverview"]["Succeeded"] == 1
    assert result.failed == 0, result.error_samples[:3]
    versions = prod.versions()
    assert versions[0] == "1.0.0" and set(versions[-25:]) == {"2.0.0"}
    assert _weights(s["elb"], s["prod"]) == {s["blue"]: 0, s["green"]: 100}
    assert _weights(s["elb"], s["test"]) == {s["blue"]: 0, s["green"]: 100}
    # The original task set is gone after its termination wait; v2's is primary, the service's definition v2.
    sets = ei.wait_for(lambda: (lambda found: found if len(found) == 1 else None)(
        s["ecs"].describe_task_sets(cluster="whole", service="web")["taskSets"]), timeout=120)
    assert sets[0]["status"] == "PRIMARY" and sets[0]["taskDefinition"] == s["v2"]
    assert sets[0]["externalId"] == deployment_id and sets[0]["scale"] == {"value": 100.0, "unit": "PERCENT"}
    assert s["ecs"].describe_services(cluster="whole", services=["web"])["services"][0]["taskDefinition"] == s["v2"]
    assert s["cd"].list_deployment_targets(deploymentId=deployment_id)["targetIds"] == ["whole:web"]
    target = s["cd"].batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["whole:web"]
                                                  )["deploymentTargets"][0]["ecsTarget"]
    assert target["status"] == "Succeeded" and target["targetArn"].endswith(":service/whole/web")
    assert {e["status"] for e in target["lifecycleEvents"]} == {"Succeeded"}
    assert [e["lifecycleEventName"] for e in target["lifecycleEvents"]] == [
        "BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
        "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]

    # A restart keeps the task set, the deployment and its target; the task set's tasks run again.
    first = world["cloud"]
    stop_cloud(first, keep_data=True)
    world["cloud"] = start_cloud(world["tmp"], time_scale=SCALE, data_dir=first.data_dir, port=first.port)
    cloud = world["cloud"]
    ecs, cd, elb = (cloud.client(n, world["account"]) for n in ("ecs", "codedeploy", "elbv2"))
    again = ecs.describe_task_sets(cluster="whole", service="web")["taskSets"]
    assert [(t["id"], t["status"], t["taskDefinition"]) for t in again] == [(sets[0]["id"], "PRIMARY", s["v2"])]
    info_again = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info_again["status"] == "Succeeded" and info_again["instanceTerminationWaitTimeStarted"] is True
    assert cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["whole:web"]
                                           )["deploymentTargets"][0]["ecsTarget"]["lifecycleEvents"] == \
        target["lifecycleEvents"]
    ei.wait_for(lambda: (lambda t: t["runningCount"] == 2 and t["stabilityStatus"] == "STEADY_STATE")(
        ecs.describe_task_sets(cluster="whole", service="web")["taskSets"][0]), timeout=180)
    assert ei.get(_url(elb, s["prod"]) + "/health")["version"] == "2.0.0"
