"""ECS tasks that run: the sample app built with `workshop image build`, pushed to the
cloud's registry, run as a task (chrooted in a user namespace, as the account's sandbox
user) that answers on its host port, logs through awslogs into CloudWatch Logs, passes its
container health check and stops as ECS reports it; an essential container that exits
stops its task; an image that is not there fails the task's start."""

from __future__ import annotations

import pytest

from tests import ecs_images as ei
from tests.conftest import new_account
from workshop.images import podman

pytestmark = pytest.mark.skipif(not podman.user_namespaces(), reason="no user namespaces here")


@pytest.fixture(scope="module")
def app(cloud, tmp_path_factory):
    """One account with the sample app (v1) and a crashing app in its repository."""
    tmp = tmp_path_factory.mktemp("ecs-tasks")
    account = new_account()
    data = ei.data_dir_with_base(tmp)
    ecr = cloud.client("ecr", account)
    uri = ecr.create_repository(repositoryName="web")["repository"]["repositoryUri"]
    ei.build(cloud, account, data, ei.sample_app(tmp, "1.0.0"), f"{uri}:v1")
    ei.build(cloud, account, data, ei.crashing_app(tmp), f"{uri}:crash", cmd="python3 crash.py")
    ecs = cloud.client("ecs", account)
    ecs.create_cluster(clusterName="apps")
    return {"account": account, "uri": uri, "ecs": ecs}


def test_a_task_serves_on_its_host_port_logs_to_cloudwatch_and_stops(cloud, app):
    ecs, uri = app["ecs"], app["uri"]
    definition = ei.register(ecs, "web", f"{uri}:v1", log_group="/ecs/web", health=True)
    started = ecs.run_task(cluster="apps", taskDefinition=definition, launchType="EC2")["tasks"][0]
    assert started["lastStatus"] == "PROVISIONING" and started["desiredStatus"] == "RUNNING"
    arn = started["taskArn"]
    seen = set()

    def running():
        described = ei.task(ecs, "apps", arn)
        seen.add(described["lastStatus"])
        return described if described["lastStatus"] == "RUNNING" else None

    described = ei.wait_for(running)
    port = ei.host_port(described)
    binding = described["containers"][0]["networkBindings"][0]
    assert binding == {"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": port, "protocol": "tcp"}
    assert described["containers"][0]["imageDigest"].startswith("sha256:")
    # The container health check runs in the container's root and passes (RUNNING is not yet listening).
    healthy = ei.wait_for(lambda: (d := ei.task(ecs, "apps", arn))["healthStatus"] == "HEALTHY" and d)
    assert healthy["containers"][0]["healthStatus"] == "HEALTHY"
    assert ei.get(f"http://127.0.0.1:{port}/health") == {"status": "ok", "version": "1.0.0"}
    assert arn in ecs.list_tasks(cluster="apps", family="web")["taskArns"]
    # The app's own output is in its awslogs stream: PREFIX/CONTAINER/TASK.
    logs = cloud.client("logs", app["account"])
    stream = f"web/web/{arn.split('/')[-1]}"
    events = ei.wait_for(lambda: logs.get_log_events(logGroupName="/ecs/web", logStreamName=stream)["events"])
    assert any(f"listening on http://0.0.0.0:{port}" in e["message"] for e in events)
    # Stopped as ECS stops: through DEACTIVATING/STOPPING/DEPROVISIONING to STOPPED.
    ecs.stop_task(cluster="apps", task=arn, reason="done for today")
    stopped = ei.wait_for(lambda: (d := ei.task(ecs, "apps", arn))["lastStatus"] == "STOPPED" and d)
    assert {"PROVISIONING", "PENDING"} & seen
    assert stopped["desiredStatus"] == "STOPPED" and stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "done for today"
    assert stopped["containers"][0]["lastStatus"] == "STOPPED" and "exitCode" in stopped["containers"][0]
    assert stopped["stoppedAt"] >= stopped["startedAt"]
    with pytest.raises(OSError):
        ei.get(f"http://127.0.0.1:{port}/health")
    assert arn not in ecs.list_tasks(cluster="apps")["taskArns"]
    assert arn in ecs.list_tasks(cluster="apps", desiredStatus="STOPPED")["taskArns"]


def test_an_essential_container_that_exits_stops_its_task(cloud, app):
    ecs = app["ecs"]
    definition = ei.register(ecs, "crash", f"{app['uri']}:crash", log_group="/ecs/crash")
    arn = ecs.run_task(cluster="apps", taskDefinition=definition)["tasks"][0]["taskArn"]
    stopped = ei.wait_for(lambda: (d := ei.task(ecs, "apps", arn))["lastStatus"] == "STOPPED" and d)
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert stopped["containers"][0]["exitCode"] == 3
    logs = cloud.client("logs", app["account"])
    events = logs.get_log_events(logGroupName="/ecs/crash", logStreamName=f"web/web/{arn.split('/')[-1]}")["events"]
    assert [e["message"] for e in events] == ["cannot start: no database"]


def test_an_image_that_is_not_there_fails_the_start(cloud, app):
    ecs = app["ecs"]
    definition = ei.register(ecs, "missing", f"{app['uri']}:nope")
    arn = ecs.run_task(cluster="apps", taskDefinition=definition)["tasks"][0]["taskArn"]
    stopped = ei.wait_for(lambda: (d := ei.task(ecs, "apps", arn))["lastStatus"] == "STOPPED" and d)
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"].startswith("CannotPullContainerError:") and "nope" in stopped["stoppedReason"]
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.stop_task(cluster="apps", task="0123456789abcdef0123456789abcdef")
