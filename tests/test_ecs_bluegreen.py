"""ECS's built-in BLUE_GREEN, CANARY and LINEAR deployments with real tasks behind real
listeners: green tasks in the alternate target group, the test then the production listener rule
moved to them, a bake on the clock, blue stopped; steady requests count which version answers. A
BLUE_GREEN update to v2 fails no request (its hook answers IN_PROGRESS, then SUCCEEDED); a hook
answering FAILED at POST_TEST_TRAFFIC_SHIFT rolls back with production never on v2; a CANARY
whose alarm goes off during the canary's bake rolls back with v2 never above its share; LINEAR
moves production in its steps; a bake goes on after a restart; the circuit breaker of a
BLUE_GREEN deployment rolls back before production moves; AWS's errors for bad settings."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests import ecs_images as ei
from tests.conftest import new_account, start_cloud, stop_cloud
from tests.test_lambda_invoke import make_function
from workshop.images import podman

pytestmark = pytest.mark.skipif(not podman.user_namespaces(), reason="no user namespaces here")

STAGES = ["RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
          "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME",
          "CLEAN_UP"]

# Answers IN_PROGRESS once (ECS invokes it again after callBackDelay with the hookDetails it
# returned), then SUCCEEDED; prints each event for the test to read in its log group.
PATIENT_HOOK = """
    import json

    def handler(event, context):
        print("EVENT " + json.dumps(event))
        if (event.get("hookDetails") or {}).get("calls", 0) < 1:
            return {"hookStatus": "IN_PROGRESS", "callBackDelay": 5, "hookDetails": {"calls": 1}}
        return {"hookStatus": "SUCCEEDED"}
"""

# Takes a moment (test traffic meets green meanwhile), then fails the deployment.
FAILING_HOOK = """
    import time

    def handler(event, context):
        time.sleep(3)
        return {"hookStatus": "FAILED"}
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ecs-bluegreen")
    return {"tmp": tmp, "data": ei.data_dir_with_base(tmp)}


def _url(elb, listener: str) -> str:
    tags = elb.describe_tags(ResourceArns=[listener])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t["Value"] for t in tags}["workshop:url"]


def _service(ecs) -> dict:
    return ecs.describe_services(cluster="apps", services=["web"])["services"][0]


def _steady(ecs, count: int):
    def check():
        service = _service(ecs)
        deployments = service["deployments"]
        return (len(deployments) == 1 and deployments[0]["rolloutState"] == "COMPLETED"
                and service["runningCount"] == count and service) or None
    return ei.wait_for(check, timeout=180)


def _versions(ecs) -> list[str]:
    arns = ecs.list_tasks(cluster="apps", serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(cluster="apps", tasks=arns)["tasks"] if arns else []
    return sorted(ei.get(f"http://127.0.0.1:{ei.host_port(t)}/health")["version"] for t in tasks
                  if t["lastStatus"] == "RUNNING")


def _weights(elb, rule: str) -> dict[str, int]:
    action = elb.describe_rules(RuleArns=[rule])["Rules"][0]["Actions"][0]
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or [
        {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
    return {g["TargetGroupArn"]: g.get("Weight", 1) for g in groups}


def _setup(cloud, images, config: dict, hooks: list | None = None, count: int = 2) -> dict:
    """A service of 2 tasks of v1 behind a production listener (a rule forwarding 100/0 to the
    blue and green groups) and a test listener, with the deployment configuration given."""
    from tests.elb_setup import balancer, group

    account = new_account()
    ecr, elb, ec2, ecs = (cloud.client(name, account) for name in ("ecr", "elbv2", "ec2", "ecs"))
    uri = ecr.create_repository(repositoryName="web")["repository"]["repositoryUri"]
    for version, tag in (("1.0.0", "v1"), ("2.0.0", "v2")):
        ei.build(cloud, account, images["data"], ei.sample_app(images["tmp"], version), f"{uri}:{tag}")
    lb_arn, vpc = balancer(elb, ec2, "web")
    blue, green = group(elb, vpc, "web-blue", delay=30), group(elb, vpc, "web-green", delay=30)
    forward = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue, "Weight": 100}, {"TargetGroupArn": green, "Weight": 0}]}}]
    production = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    test = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=8080, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    everything = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
    prod_rule = elb.create_rule(ListenerArn=production, Priority=1, Conditions=everything,
                                Actions=forward)["Rules"][0]["RuleArn"]
    test_rule = elb.create_rule(ListenerArn=test, Priority=1, Conditions=everything,
                                Actions=forward)["Rules"][0]["RuleArn"]
    role = f"arn:aws:iam::{account}:role/ecs-infrastructure"
    ecs.create_cluster(clusterName="apps")
    v1 = ei.register(ecs, "web", f"{uri}:v1")
    v2 = ei.register(ecs, "web", f"{uri}:v2")
    lbs = [{"targetGroupArn": blue, "containerName": "web", "containerPort": 8080, "advancedConfiguration": {
        "alternateTargetGroupArn": green, "productionListenerRule": prod_rule, "testListenerRule": test_rule,
        "roleArn": role}}]
    ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=count, launchType="EC2",
                       loadBalancers=lbs, deploymentConfiguration={**config, "lifecycleHooks": hooks or []})
    _steady(ecs, count)
    return {"account": account, "uri": uri, "elb": elb, "ecs": ecs, "blue": blue, "green": green, "v1": v1, "v2": v2,
            "prod_rule": prod_rule, "test_rule": test_rule, "prod_url": _url(elb, production),
            "test_url": _url(elb, test)}


def _record(ecs) -> dict:
    arn = ecs.list_service_deployments(cluster="apps", service="web")["serviceDeployments"][0]
    return ecs.describe_service_deployments(serviceDeploymentArns=[arn["serviceDeploymentArn"]]
                                            )["serviceDeployments"][0]


def test_blue_green_to_v2_fails_no_request(cloud, images):
    from labkit.traffic import start_http_traffic

    s = _setup(cloud, images, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5})
    ecs, elb = s["ecs"], s["elb"]
    hook = make_function(cloud, s["account"], "check-green", PATIENT_HOOK)["FunctionArn"]
    ecs.update_service(cluster="apps", service="web", deploymentConfiguration={
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5,
        "lifecycleHooks": [{"hookTargetArn": hook, "roleArn": f"arn:aws:iam::{s['account']}:role/hooks",
                            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]})
    assert _weights(elb, s["prod_rule"]) == {s["blue"]: 100, s["green"]: 0}

    traffic = start_http_traffic(s["prod_url"] + "/health", count=100000, rate=25, concurrency=2)
    seen = []
    try:
        updated = ecs.update_service(cluster="apps", service="web", taskDefinition=s["v2"])["service"]
        assert updated["deployments"][0]["rolloutState"] == "IN_PROGRESS"

        def completed():
            record = _record(ecs)
            if not seen or seen[-1] != record.get("lifecycleStage"):
                seen.append(record.get("lifecycleStage"))
            return record if record["status"] == "SUCCESSFUL" else None

        record = ei.wait_for(completed, timeout=240, every=0.1)
        service = _steady(ecs, 2)
        time.sleep(1)       # requests already on their way to blue finish
    finally:
        traffic.stop()
    result = traffic.result(timeout=60)
    assert result.failed == 0, result.error_samples[:3]
    assert result.tally("1.0.0").succeeded > 0 and result.tally("2.0.0").succeeded > 0
    assert service["taskDefinition"] == s["v2"] and _versions(ecs) == ["2.0.0", "2.0.0"]
    # The stages in ECS's order (the quick ones may pass between two looks), the bake seen.
    assert seen == sorted(seen, key=STAGES.index) and "BAKE_TIME" in seen and seen[-1] == "CLEAN_UP"
    assert record["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    assert record["deploymentConfiguration"]["bakeTimeInMinutes"] == 5
    assert record["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    # Green now serves from the alternate group; the rules point there; blue's group is empty.
    assert _weights(elb, s["prod_rule"]) == {s["blue"]: 0, s["green"]: 100}
    assert _weights(elb, s["test_rule"]) == {s["blue"]: 0, s["green"]: 100}
    health = elb.describe_target_health(TargetGroupArn=s["green"])["TargetHealthDescriptions"]
    assert sorted(d["Target"]["Port"] for d in health if d["TargetHealth"]["State"] == "healthy") == sorted(
        ei.host_port(t) for t in ecs.describe_tasks(cluster="apps", tasks=ecs.list_tasks(
            cluster="apps", serviceName="web")["taskArns"])["tasks"])
    ei.wait_for(lambda: not elb.describe_target_health(TargetGroupArn=s["blue"])["TargetHealthDescriptions"])
    # ECS moved the rules on the learner's behalf: CloudTrail says so.
    trail = cloud.client("cloudtrail", s["account"])
    moves = ei.wait_for(lambda: trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "ModifyRule"}])["Events"], timeout=30)
    records = [json.loads(e["CloudTrailEvent"]) for e in moves]
    assert {r["userIdentity"].get("invokedBy") for r in records} == {"ecs.amazonaws.com"}
    assert {r["requestParameters"]["ruleArn"] for r in records} == {s["prod_rule"], s["test_rule"]}
    # The hook was invoked twice (IN_PROGRESS, then again with its hookDetails) with ECS's payload.
    logs = cloud.client("logs", s["account"])
    events = ei.wait_for(lambda: [json.loads(e["message"].split("EVENT ", 1)[1]) for e in logs.filter_log_events(
        logGroupName="/aws/lambda/check-green")["events"] if "EVENT " in e["message"]], timeout=30)
    assert len(events) == 2 and events[1]["hookDetails"] == {"calls": 1}
    assert events[0]["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    details = events[0]["executionDetails"]
    assert details["serviceArn"] == service["serviceArn"]
    assert details["testTrafficWeights"][details["targetServiceRevisionArn"]] == 100.0
    assert details["productionTrafficWeights"][details["targetServiceRevisionArn"]] == 0.0


def test_a_failing_hook_rolls_back_before_production_moves(cloud, images):
    from labkit.traffic import start_http_traffic

    s = _setup(cloud, images, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1})
    ecs, elb = s["ecs"], s["elb"]
    hook = make_function(cloud, s["account"], "smoke-test", FAILING_HOOK, Timeout=30)["FunctionArn"]
    ecs.update_service(cluster="apps", service="web", deploymentConfiguration={
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
        "lifecycleHooks": [{"hookTargetArn": hook, "roleArn": f"arn:aws:iam::{s['account']}:role/hooks",
                            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]})
    production = start_http_traffic(s["prod_url"] + "/health", count=100000, rate=25, concurrency=2)
    test = start_http_traffic(s["test_url"] + "/health", count=100000, rate=10, concurrency=1)
    green_weights = []
    try:
        failing = ecs.update_service(cluster="apps", service="web", taskDefinition=s["v2"]
                                     )["service"]["deployments"][0]["id"]

        def rolled_back():
            green_weights.append(_weights(elb, s["prod_rule"])[s["green"]])
            return _record(ecs)["status"] == "ROLLBACK_SUCCESSFUL"

        ei.wait_for(rolled_back, timeout=240, every=0.1)
        service = _steady(ecs, 2)
    finally:
        production.stop()
        test.stop()
    prod, tested = production.result(timeout=60), test.result(timeout=60)
    assert prod.failed == 0, prod.error_samples[:3]
    assert prod.tally("2.0.0").succeeded == 0 and prod.tally("1.0.0").succeeded > 0
    assert set(green_weights) == {0}
    assert tested.tally("2.0.0").succeeded > 0          # the test listener did reach green
    assert service["taskDefinition"] == s["v1"] and _versions(ecs) == ["1.0.0", "1.0.0"]
    record = _record(ecs)
    assert record["rollback"]["reason"].startswith(f"ECS deployment {failing} failed: the lifecycle hook {hook} "
                                                   "at POST_TEST_TRAFFIC_SHIFT returned hookStatus FAILED")
    assert record["lifecycleHookDetails"][0]["status"] == "FAILED"
    assert _weights(elb, s["prod_rule"]) == {s["blue"]: 100, s["green"]: 0}
    assert _weights(elb, s["test_rule"]) == {s["blue"]: 100, s["green"]: 0}
    messages = [e["message"] for e in service["events"]]
    assert any(m.startswith(f"(service web) deployment {failing} deployment failed: the lifecycle hook")
               for m in messages)


def test_a_canary_whose_alarm_goes_off_rolls_back_within_its_share(cloud, images):
    from labkit.traffic import start_http_traffic

    config = {"strategy": "CANARY", "bakeTimeInMinutes": 1,
              "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 60},
              "alarms": {"alarmNames": ["web-errors"], "enable": True, "rollback": True}}
    s = _setup(cloud, images, config)
    ecs, elb = s["ecs"], s["elb"]
    cw = cloud.client("cloudwatch", s["account"])
    cw.put_metric_alarm(AlarmName="web-errors", Namespace="Shop", MetricName="Errors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    v2_answers = []
    production = start_http_traffic(s["prod_url"] + "/health", count=100000, rate=25, concurrency=2,
                                    on_result=lambda version, ok: v2_answers.append(1) if version == "2.0.0" else None)
    green_weights = []
    try:
        canary = ecs.update_service(cluster="apps", service="web", taskDefinition=s["v2"]
                                    )["service"]["deployments"][0]["id"]

        def watch():
            green_weights.append(_weights(elb, s["prod_rule"])[s["green"]])
            return green_weights[-1] > 0 and v2_answers

        ei.wait_for(watch, timeout=240, every=0.1)      # the canary serves v2 to production
        assert _record(ecs)["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
        cw.set_alarm_state(AlarmName="web-errors", StateValue="ALARM", StateReason="errors in the canary")

        def rolled_back():
            green_weights.append(_weights(elb, s["prod_rule"])[s["green"]])
            return _record(ecs)["status"] == "ROLLBACK_SUCCESSFUL"

        ei.wait_for(rolled_back, timeout=240, every=0.1)
        service = _steady(ecs, 2)
    finally:
        production.stop()
    result = production.result(timeout=60)
    assert result.failed == 0, result.error_samples[:3]
    assert max(green_weights) == 20 and green_weights[-1] == 0
    v2 = result.tally("2.0.0").succeeded
    assert 0 < v2 < 0.5 * result.succeeded
    assert service["taskDefinition"] == s["v1"] and _versions(ecs) == ["1.0.0", "1.0.0"]
    record = _record(ecs)
    assert record["alarms"]["status"] == "TRIGGERED" and record["alarms"]["triggeredAlarmNames"] == ["web-errors"]
    assert record["deploymentConfiguration"]["canaryConfiguration"] == {"canaryPercent": 20.0,
                                                                         "canaryBakeTimeInMinutes": 60}
    messages = [e["message"] for e in service["events"]]
    assert f"(service web) deployment {canary} deployment failed: alarm(s) web-errors in ALARM state." in messages


def test_linear_moves_production_in_steps(cloud, images):
    from labkit.traffic import start_http_traffic

    config = {"strategy": "LINEAR", "bakeTimeInMinutes": 0,
              "linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 3}}
    s = _setup(cloud, images, config)
    ecs, elb = s["ecs"], s["elb"]
    production = start_http_traffic(s["prod_url"] + "/health", count=100000, rate=25, concurrency=2)
    green_weights = []
    try:
        ecs.update_service(cluster="apps", service="web", taskDefinition=s["v2"])

        def completed():
            green_weights.append(_weights(elb, s["prod_rule"])[s["green"]])
            return _record(ecs)["status"] == "SUCCESSFUL"

        ei.wait_for(completed, timeout=240, every=0.1)
        service = _steady(ecs, 2)
        time.sleep(1)
    finally:
        production.stop()
    result = production.result(timeout=60)
    assert result.failed == 0, result.error_samples[:3]
    # 0, then 50 for its bake, then 100: the steps in order, none skipped.
    assert [w for i, w in enumerate(green_weights) if i == 0 or w != green_weights[i - 1]] == [0, 50, 100]
    assert service["taskDefinition"] == s["v2"] and _versions(ecs) == ["2.0.0", "2.0.0"]


def test_a_bake_goes_on_after_a_restart(tmp_path, images):
    cloud = start_cloud(tmp_path, time_scale=60)
    try:
        s = _setup(cloud, images, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 60}, count=1)
        ecs = s["ecs"]
        ecs.update_service(cluster="apps", service="web", taskDefinition=s["v2"])
        ei.wait_for(lambda: _record(ecs)["lifecycleStage"] == "BAKE_TIME", timeout=180)
        stop_cloud(cloud, keep_data=True)
        cloud = start_cloud(tmp_path, time_scale=60, data_dir=cloud.data_dir, port=cloud.port)
        ecs, elb = cloud.client("ecs", s["account"]), cloud.client("elbv2", s["account"])
        record = _record(ecs)
        assert (record["status"], record["lifecycleStage"]) == ("IN_PROGRESS", "BAKE_TIME")
        assert _weights(elb, s["prod_rule"]) == {s["blue"]: 0, s["green"]: 100}
        # The lost green task is replaced in green's group; the bake ends; blue is not started again.
        record = ei.wait_for(lambda: (r := _record(ecs))["status"] == "SUCCESSFUL" and r, timeout=180)
        assert record["lifecycleStage"] == "CLEAN_UP"
        service = _steady(ecs, 1)
        assert service["taskDefinition"] == s["v2"] and _versions(ecs) == ["2.0.0"]
        assert ei.wait_for(lambda: ei.get(s["prod_url"] + "/health").get("version"), timeout=60) == "2.0.0"
    finally:
        stop_cloud(cloud)


def test_bad_settings_get_aws_errors(cloud):
    from botocore.exceptions import ClientError

    account = new_account()
    ecs = cloud.client("ecs", account)
    ecs.create_cluster(clusterName="apps")
    v1 = ei.register(ecs, "web", f"{account}.dkr.ecr.us-east-1.amazonaws.com/web:v1")
    group = f"arn:aws:elasticloadbalancing:us-east-1:{account}:targetgroup/web/0123456789abcdef"
    lb = [{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}]
    bad = [({"strategy": "CANARY"}, None, "canaryConfiguration must be specified"),
           ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 1.0}}, None, "stepPercent"),
           ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1441}, None, "bakeTimeInMinutes"),
           ({"strategy": "BLUE_GREEN", "lifecycleHooks": [{"hookTargetArn": "arn:aws:lambda:us-east-1:1:function:f",
                                                           "lifecycleStages": ["BAKE_TIME"]}]}, None,
            "lifecycleStages"),
           ({"strategy": "BLUE_GREEN"}, lb, "advancedConfiguration must be specified"),
           ({"strategy": "BLUE_GREEN"}, [{**lb[0], "advancedConfiguration": {"alternateTargetGroupArn": group}}],
            "advancedConfiguration.productionListenerRule")]
    for config, lbs, message in bad:
        with pytest.raises(ClientError) as caught:
            ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=0,
                               deploymentConfiguration=config, **({"loadBalancers": lbs} if lbs else {}))
        assert caught.value.response["Error"]["Code"] == "InvalidParameterException", config
        assert message in caught.value.response["Error"]["Message"], config
    assert ecs.list_services(cluster="apps")["serviceArns"] == []
    # A valid one is kept as given, advancedConfiguration included.
    advanced = {"alternateTargetGroupArn": group.replace("/web/", "/web-green/"), "roleArn": "arn:aws:iam::1:role/r",
                "productionListenerRule": f"arn:aws:elasticloadbalancing:us-east-1:{account}:listener-rule/app/w/1/2/3"}
    config = {"strategy": "CANARY", "bakeTimeInMinutes": 10,
              "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5}}
    service = ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=0,
                                 loadBalancers=[{**lb[0], "advancedConfiguration": advanced}],
                                 deploymentConfiguration=config)["service"]
    assert service["loadBalancers"][0]["advancedConfiguration"] == advanced
    assert {k: service["deploymentConfiguration"][k] for k in config} == config
    with pytest.raises(ClientError) as caught:
        ecs.update_service(cluster="apps", service="web", deploymentConfiguration={"strategy": "LINEAR"})
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert ecs.describe_services(cluster="apps", services=["web"])["services"][0][
        "deploymentConfiguration"]["strategy"] == "CANARY"


def test_the_circuit_breaker_of_a_blue_green_deployment_rolls_back(cloud, images):
    from labkit.traffic import start_http_traffic

    config = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
              "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    s = _setup(cloud, images, config)
    ecs, elb = s["ecs"], s["elb"]
    ei.build(cloud, s["account"], images["data"], ei.crashing_app(images["tmp"]), f"{s['uri']}:bad",
             cmd="python3 crash.py")
    bad = ei.register(ecs, "web", f"{s['uri']}:bad")
    production = start_http_traffic(s["prod_url"] + "/health", count=100000, rate=25, concurrency=2)
    green_weights = []
    try:
        failing = ecs.update_service(cluster="apps", service="web", taskDefinition=bad)["service"]["deployments"][0]["id"]

        def rolled_back():
            green_weights.append(_weights(elb, s["prod_rule"])[s["green"]])
            return _record(ecs)["status"] == "ROLLBACK_SUCCESSFUL"

        ei.wait_for(rolled_back, timeout=240, every=0.1)
        service = _steady(ecs, 2)
    finally:
        production.stop()
    result = production.result(timeout=60)
    assert result.failed == 0, result.error_samples[:3]
    assert set(green_weights) == {0} and result.tally("1.0.0").succeeded == result.succeeded > 0
    record = _record(ecs)
    assert record["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert record["deploymentCircuitBreaker"]["failureCount"] >= 3
    assert record["rollback"]["reason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert service["taskDefinition"] == s["v1"] and _versions(ecs) == ["1.0.0", "1.0.0"]
    assert f"(service web) deployment {failing} deployment failed: tasks failed to start." in [
        e["message"] for e in service["events"]]


def test_a_newer_deployment_takes_traffic_back_from_an_unfinished_canary(cloud, images):
    from labkit.traffic import start_http_traffic

    config = {"strategy": "CANARY", "bakeTimeInMinutes": 0,
              "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 60}}
    s = _setup(cloud, images, config)
    ecs, elb = s["ecs"], s["elb"]
    production = start_http_traffic(s["prod_url"] + "/health", count=100000, rate=25, concurrency=2)
    try:
        ecs.update_service(cluster="apps", service="web", taskDefinition=s["v2"])
        ei.wait_for(lambda: _weights(elb, s["prod_rule"])[s["green"]] == 20, timeout=240)
        first = _record(ecs)["serviceDeploymentArn"]
        # v1 again (a new revision of it), while v2's canary bakes: canary's traffic goes back to blue first.
        again = ei.register(ecs, "web", ecs.describe_task_definition(taskDefinition=s["v1"])["taskDefinition"][
            "containerDefinitions"][0]["image"])
        ecs.update_service(cluster="apps", service="web", taskDefinition=again,
                           deploymentConfiguration={"strategy": "BLUE_GREEN"})
        ei.wait_for(lambda: _record(ecs)["status"] == "SUCCESSFUL", timeout=240, every=0.2)
        service = _steady(ecs, 2)
    finally:
        production.stop()
    result = production.result(timeout=60)
    assert result.failed == 0, result.error_samples[:3]
    assert service["taskDefinition"] == again and _versions(ecs) == ["1.0.0", "1.0.0"]
    stopped = ecs.describe_service_deployments(serviceDeploymentArns=[first])["serviceDeployments"][0]
    assert stopped["status"] == "STOPPED" and "newer" in stopped["statusReason"]
    assert _weights(elb, s["prod_rule"]) == {s["blue"]: 0, s["green"]: 100}
