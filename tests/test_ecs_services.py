"""ECS services whose tasks run: a service of 3 tasks reaches a steady state and holds
its desiredCount (a task that dies is replaced); a rolling update to v2 ends COMPLETED
with every task on v2; an image whose container exits at start trips the deployment
circuit breaker, the rollout ends FAILED and the service is back on v2, with the events
ECS writes and the service deployments' records; after a restart the lost tasks are
STOPPED and the service starts replacements."""

from __future__ import annotations

import pytest

from tests import ecs_images as ei
from tests.conftest import new_account, start_cloud, stop_cloud
from workshop.images import podman

pytestmark = pytest.mark.skipif(not podman.user_namespaces(), reason="no user namespaces here")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ecs-services")
    return {"tmp": tmp, "data": ei.data_dir_with_base(tmp)}


def _push(cloud, account, images) -> dict:
    ecr = cloud.client("ecr", account)
    uri = ecr.create_repository(repositoryName="web")["repository"]["repositoryUri"]
    tmp, data = images["tmp"], images["data"]
    ei.build(cloud, account, data, ei.sample_app(tmp, "1.0.0"), f"{uri}:v1")
    return {"uri": uri, "tmp": tmp, "data": data}


def _service(ecs, name: str = "web") -> dict:
    return ecs.describe_services(cluster="apps", services=[name])["services"][0]


def _versions(ecs, name: str = "web") -> list[str]:
    arns = ecs.list_tasks(cluster="apps", serviceName=name)["taskArns"]
    tasks = ecs.describe_tasks(cluster="apps", tasks=arns)["tasks"] if arns else []
    return sorted(ei.get(f"http://127.0.0.1:{ei.host_port(t)}/health")["version"] for t in tasks
                  if t["lastStatus"] == "RUNNING")


def _steady(ecs, count: int, name: str = "web"):
    def check():
        service = _service(ecs, name)
        deployments = service["deployments"]
        return (len(deployments) == 1 and deployments[0]["rolloutState"] == "COMPLETED"
                and service["runningCount"] == count and service) or None
    return ei.wait_for(check, timeout=180)


def test_a_service_rolls_to_v2_and_a_crashing_image_rolls_back(cloud, images):
    account = new_account()
    pushed = _push(cloud, account, images)
    uri = pushed["uri"]
    ecs = cloud.client("ecs", account)
    ecs.create_cluster(clusterName="apps")
    v1 = ei.register(ecs, "web", f"{uri}:v1", log_group="/ecs/web", health=True)
    ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=3, launchType="EC2",
                       deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100,
                                                "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    service = _steady(ecs, 3)
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert _versions(ecs) == ["1.0.0"] * 3
    messages = [e["message"] for e in service["events"]]
    assert messages[0] == "(service web) has reached a steady state."
    assert any(m.startswith("(service web) has started 3 tasks: (task ") for m in messages)

    # desiredCount is held: a task that dies is replaced.
    victim = ecs.list_tasks(cluster="apps", serviceName="web")["taskArns"][0]
    ecs.stop_task(cluster="apps", task=victim, reason="chaos")
    ei.wait_for(lambda: ei.task(ecs, "apps", victim)["lastStatus"] == "STOPPED")
    ei.wait_for(lambda: len([a for a in ecs.list_tasks(cluster="apps", serviceName="web")["taskArns"]
                             if ei.task(ecs, "apps", a)["lastStatus"] == "RUNNING"]) == 3, timeout=120)
    assert victim not in ecs.list_tasks(cluster="apps", serviceName="web")["taskArns"]

    # A rolling update to v2 ends COMPLETED with every task on v2.
    ei.build(cloud, account, pushed["data"], ei.sample_app(pushed["tmp"], "2.0.0"), f"{uri}:v2")
    v2 = ei.register(ecs, "web", f"{uri}:v2", log_group="/ecs/web", health=True)
    updated = ecs.update_service(cluster="apps", service="web", taskDefinition=v2)["service"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert updated["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    v2_deployment = updated["deployments"][0]["id"]
    service = _steady(ecs, 3)
    assert service["deployments"][0]["id"] == v2_deployment and service["taskDefinition"] == v2
    assert _versions(ecs) == ["2.0.0"] * 3
    assert f"(service web) deployment {v2_deployment} deployment completed." in [e["message"] for e in service["events"]]

    # An image whose container exits at start: the circuit breaker trips and rolls back to v2.
    ei.build(cloud, account, pushed["data"], ei.crashing_app(pushed["tmp"]), f"{uri}:bad", cmd="python3 crash.py")
    bad = ei.register(ecs, "web", f"{uri}:bad", log_group="/ecs/web", health=True)
    failing = ecs.update_service(cluster="apps", service="web", taskDefinition=bad)["service"]["deployments"][0]["id"]

    def rolled_back():
        service = _service(ecs)
        failed = [d for d in service["deployments"] if d["id"] == failing]
        return service if (not failed or failed[0]["rolloutState"] == "FAILED") and \
            service["taskDefinition"] == v2 else None

    ei.wait_for(rolled_back, timeout=180)
    service = _steady(ecs, 3)
    assert service["taskDefinition"] == v2 and service["deployments"][0]["taskDefinition"] == v2
    assert _versions(ecs) == ["2.0.0"] * 3
    messages = [e["message"] for e in service["events"]]
    assert f"(service web) deployment {failing} deployment failed: tasks failed to start." in messages
    assert f"(service web) rolling back to deployment {v2_deployment}." in messages
    stopped = ecs.list_tasks(cluster="apps", serviceName="web", desiredStatus="STOPPED")["taskArns"]
    crashed = [t for t in ecs.describe_tasks(cluster="apps", tasks=stopped)["tasks"]
               if t["taskDefinitionArn"] == bad]
    # The breaker's 3 failures (others may have been stopped by the rollback before they crashed).
    assert sum(t["stopCode"] == "EssentialContainerExited" and t["containers"][0]["exitCode"] == 3
               for t in crashed) >= 3

    # The service deployments as ECS records them: v1 and v2 SUCCESSFUL, the bad one rolled back.
    briefs = ecs.list_service_deployments(cluster="apps", service="web")["serviceDeployments"]
    assert [b["status"] for b in briefs] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL", "SUCCESSFUL"]
    record = ecs.describe_service_deployments(serviceDeploymentArns=[briefs[0]["serviceDeploymentArn"]]
                                              )["serviceDeployments"][0]
    assert record["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert record["deploymentCircuitBreaker"]["threshold"] == 3
    assert record["deploymentCircuitBreaker"]["failureCount"] >= 3
    assert record["rollback"]["reason"] == "ECS deployment circuit breaker: tasks failed to start."
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.stop_service_deployment(serviceDeploymentArn=briefs[0]["serviceDeploymentArn"])


def test_a_rolling_update_behind_a_load_balancer_fails_no_request(cloud, images):
    from labkit.traffic import start_http_traffic
    from tests.elb_setup import balancer, group

    account = new_account()
    pushed = _push(cloud, account, images)
    uri = pushed["uri"]
    ei.build(cloud, account, pushed["data"], ei.sample_app(pushed["tmp"], "2.0.0"), f"{uri}:v2")
    elb, ec2, ecs = (cloud.client(name, account) for name in ("elbv2", "ec2", "ecs"))
    lb_arn, vpc = balancer(elb, ec2, "web")
    tg = group(elb, vpc, "web", interval=5, delay=30)
    listener = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    url = {t["Key"]: t["Value"] for t in elb.describe_tags(ResourceArns=[listener])["TagDescriptions"][0]["Tags"]
           }["workshop:url"]
    ecs.create_cluster(clusterName="apps")
    v1 = ei.register(ecs, "web", f"{uri}:v1")
    ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=3, launchType="EC2",
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}])
    _steady(ecs, 3)
    # Each task is a target of the group at 127.0.0.1:its host port, healthy before the rollout counts it.
    ports = sorted(ei.host_port(t) for t in ecs.describe_tasks(
        cluster="apps", tasks=ecs.list_tasks(cluster="apps", serviceName="web")["taskArns"])["tasks"])
    health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    assert sorted(d["Target"]["Port"] for d in health) == ports
    assert {d["Target"]["Id"] for d in health} == {"127.0.0.1"}
    assert {d["TargetHealth"]["State"] for d in health} == {"healthy"}

    traffic = start_http_traffic(url + "/health", count=100000, rate=25, concurrency=2)
    try:
        ecs.update_service(cluster="apps", service="web", taskDefinition=ei.register(ecs, "web", f"{uri}:v2"))
        _steady(ecs, 3)
        assert _versions(ecs) == ["2.0.0"] * 3
        ei.wait_for(lambda: {d["TargetHealth"]["State"] for d in elb.describe_target_health(
            TargetGroupArn=tg)["TargetHealthDescriptions"]} == {"healthy"}, timeout=60)
    finally:
        traffic.stop()
    result = traffic.result(timeout=60)
    assert result.failed == 0, result.error_samples[:3]
    assert result.tally("1.0.0").succeeded > 0 and result.tally("2.0.0").succeeded > 0


def test_metrics_and_a_deployment_alarm_that_rolls_back(cloud, images):
    from datetime import datetime, timedelta, timezone

    account = new_account()
    pushed = _push(cloud, account, images)
    uri = pushed["uri"]
    ecs, cw = cloud.client("ecs", account), cloud.client("cloudwatch", account)
    cw.put_metric_alarm(AlarmName="web-5xx", Namespace="Shop", MetricName="Errors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    ecs.create_cluster(clusterName="apps")
    v1 = ei.register(ecs, "web", f"{uri}:v1", health=True)
    ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=2, launchType="EC2",
                       deploymentConfiguration={"alarms": {"alarmNames": ["web-5xx"], "enable": True,
                                                           "rollback": True}})
    first = _steady(ecs, 2)["deployments"][0]["id"]

    # AWS/ECS per ClusterName/ServiceName, published by the cloud.
    dims = [{"Name": "ClusterName", "Value": "apps"}, {"Name": "ServiceName", "Value": "web"}]

    def stat(metric):
        now = datetime.now(timezone.utc)
        points = cw.get_metric_statistics(Namespace="AWS/ECS", MetricName=metric, Dimensions=dims,
                                          StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
                                          Period=60, Statistics=["Maximum"])["Datapoints"]
        return max((p["Maximum"] for p in points), default=None)

    assert ei.wait_for(lambda: stat("RunningTaskCount") == 2, timeout=60)
    memory = ei.wait_for(lambda: stat("MemoryUtilization"), timeout=60)
    assert 0 < memory < 100          # a Python app in 512 MiB
    assert ei.wait_for(lambda: stat("CPUUtilization") is not None, timeout=60)

    # The alarm goes off during the next deployment: FAILED and rolled back to the first. It goes
    # back to OK at once, before the scheduler's next tick: an ALARM that begins and ends between
    # two ticks still counts (a scaled period is a second or less, a loaded tick can be longer).
    ei.build(cloud, account, pushed["data"], ei.sample_app(pushed["tmp"], "2.0.0"), f"{uri}:v2")
    v2 = ei.register(ecs, "web", f"{uri}:v2", health=True)
    second = ecs.update_service(cluster="apps", service="web", taskDefinition=v2)["service"]["deployments"][0]["id"]
    cw.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="errors after the release")
    cw.set_alarm_state(AlarmName="web-5xx", StateValue="OK", StateReason="the errors stopped")
    ei.wait_for(lambda: _service(ecs)["taskDefinition"] == v1, timeout=60)
    service = _steady(ecs, 2)
    messages = [e["message"] for e in service["events"]]
    assert f"(service web) deployment {second} deployment failed: alarm(s) web-5xx in ALARM state." in messages
    assert f"(service web) rolling back to deployment {first}." in messages
    assert _versions(ecs) == ["1.0.0"] * 2
    record = ecs.describe_service_deployments(serviceDeploymentArns=[
        ecs.list_service_deployments(cluster="apps", service="web")["serviceDeployments"][0]["serviceDeploymentArn"]
    ])["serviceDeployments"][0]
    assert record["alarms"] == {"status": "TRIGGERED", "alarmNames": ["web-5xx"], "triggeredAlarmNames": ["web-5xx"]}
    assert record["status"] == "ROLLBACK_SUCCESSFUL"


def test_maximum_percent_100_and_a_stopped_deployment_rolls_back(cloud, images):
    account = new_account()
    pushed = _push(cloud, account, images)
    uri = pushed["uri"]
    ecs = cloud.client("ecs", account)
    ecs.create_cluster(clusterName="apps")
    v1 = ei.register(ecs, "web", f"{uri}:v1", health=True)
    ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=2, launchType="EC2",
                       deploymentConfiguration={"maximumPercent": 100, "minimumHealthyPercent": 50})
    _steady(ecs, 2)
    # A deployment that never gets healthy (the image crashes), held within 2 tasks, stopped by the learner.
    ei.build(cloud, account, pushed["data"], ei.crashing_app(pushed["tmp"]), f"{uri}:bad", cmd="python3 crash.py")
    bad = ei.register(ecs, "web", f"{uri}:bad", health=True)
    ecs.update_service(cluster="apps", service="web", taskDefinition=bad)
    most = 0
    for _ in range(30):
        arns = ecs.list_tasks(cluster="apps", serviceName="web")["taskArns"]
        most = max(most, len(arns))
        healthy = [t for t in ecs.describe_tasks(cluster="apps", tasks=arns)["tasks"]
                   if t["healthStatus"] == "HEALTHY"] if arns else []
        assert len(healthy) >= 1          # minimumHealthyPercent 50 of 2
        ei.time.sleep(0.2)
    assert most <= 2                      # maximumPercent 100 of 2
    arn = ecs.list_service_deployments(cluster="apps", service="web",
                                       status=["IN_PROGRESS"])["serviceDeployments"][0]["serviceDeploymentArn"]
    assert ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")["serviceDeploymentArn"] == arn
    ei.wait_for(lambda: _service(ecs)["taskDefinition"] == v1, timeout=60)
    _steady(ecs, 2)
    record = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
    assert record["status"] == "ROLLBACK_SUCCESSFUL"
    assert _versions(ecs) == ["1.0.0"] * 2


def test_after_a_restart_lost_tasks_are_stopped_and_replaced(tmp_path, images):
    cloud = start_cloud(tmp_path, time_scale=600)
    try:
        account = new_account()
        pushed = _push(cloud, account, images)
        ecs = cloud.client("ecs", account)
        ecs.create_cluster(clusterName="apps")
        v1 = ei.register(ecs, "web", f"{pushed['uri']}:v1", health=True)
        ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=1, launchType="EC2")
        _steady(ecs, 1)
        before = ecs.list_tasks(cluster="apps", serviceName="web")["taskArns"]
        port = ei.host_port(ei.task(ecs, "apps", before[0]))
        stop_cloud(cloud, keep_data=True)
        with pytest.raises(OSError):   # the task's process ended with the cloud
            ei.get(f"http://127.0.0.1:{port}/health")
        cloud = start_cloud(tmp_path, time_scale=600, data_dir=cloud.data_dir, port=cloud.port)
        ecs = cloud.client("ecs", account)
        lost = ei.task(ecs, "apps", before[0])
        assert lost["lastStatus"] == "STOPPED" and lost["stopCode"] == "TerminationNotice"
        assert "restarted" in lost["stoppedReason"]
        replacement = ei.wait_for(lambda: [t for t in ecs.describe_tasks(
            cluster="apps", tasks=ecs.list_tasks(cluster="apps", serviceName="web")["taskArns"] or ["none"])["tasks"]
            if t["healthStatus"] == "HEALTHY"], timeout=120)[0]
        assert replacement["taskArn"] not in before
        assert ei.get(f"http://127.0.0.1:{ei.host_port(replacement)}/health")["status"] == "ok"
        service = _steady(ecs, 1)
        assert service["deploymentConfiguration"]["maximumPercent"] == 200
        assert any(e["message"].startswith("(service web) has started 1 tasks: (task " + replacement["taskArn"]
                                           .split("/")[-1]) for e in service["events"])
        assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["taskDefinitionArn"] == v1
    finally:
        stop_cloud(cloud)
