"""ECS tasks through podman (the cloud's choice where podman works and learner code runs as the
cloud's own user; forced here with WORKSHOP_ECS_RUNTIME=podman): the sample app pulled by digest
from the cloud's registry, serving on its host port through podman's port mapping, its output in
CloudWatch Logs, its health check run with podman exec, and no container left once it stopped.
Without podman this is a skip, in CI a failure."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import ecs_images as ei
from tests.conftest import new_account, start_cloud, stop_cloud
from workshop.images import podman

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def podman_cloud(tmp_path):
    if not podman.podman_works():
        message = "podman with runc does not work here (apt-get install podman runc)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    cloud = start_cloud(tmp_path, time_scale=60, extra_env={"WORKSHOP_ECS_RUNTIME": "podman",
                                                            "WORKSHOP_SANDBOX": "off"})
    yield cloud
    stop_cloud(cloud)


def test_a_task_runs_with_podman(podman_cloud, tmp_path):
    cloud = podman_cloud
    account = new_account()
    data = ei.data_dir_with_base(tmp_path)
    uri = cloud.client("ecr", account).create_repository(repositoryName="web")["repository"]["repositoryUri"]
    ei.build(cloud, account, data, ei.sample_app(tmp_path, "1.0.0"), f"{uri}:v1")
    ecs = cloud.client("ecs", account)
    ecs.create_cluster(clusterName="apps")
    definition = ei.register(ecs, "web", f"{uri}:v1", log_group="/ecs/web", health=True)
    arn = ecs.run_task(cluster="apps", taskDefinition=definition)["tasks"][0]["taskArn"]
    described = ei.wait_for(lambda: (d := ei.task(ecs, "apps", arn))["healthStatus"] == "HEALTHY" and d,
                            timeout=180)
    port = ei.host_port(described)
    assert ei.get(f"http://127.0.0.1:{port}/health") == {"status": "ok", "version": "1.0.0"}
    logs = cloud.client("logs", account)
    events = ei.wait_for(lambda: logs.get_log_events(
        logGroupName="/ecs/web", logStreamName=f"web/web/{arn.split('/')[-1]}")["events"])
    # Inside its own network namespace the app listens on its container port (podman maps the host port).
    assert any("listening on http://0.0.0.0:8080" in e["message"] for e in events)
    ecs.stop_task(cluster="apps", task=arn)
    stopped = ei.wait_for(lambda: (d := ei.task(ecs, "apps", arn))["lastStatus"] == "STOPPED" and d, timeout=120)
    assert stopped["stopCode"] == "UserInitiated"
    from workshop.cloud import runtime

    runtime.configure(cloud.data_dir / "state", cloud.endpoint)
    from workshop.cloud.services.ecs import podman_runner

    left = subprocess.run(podman_runner.command("ps", "--all", "--quiet"), capture_output=True, text=True,
                          env=podman.env(), timeout=60)
    assert left.returncode == 0 and left.stdout.strip() == ""

    # A task still running when the cloud stops: its container goes with the cloud, and podman's
    # mounts of the cloud's storage with it.
    arn = ecs.run_task(cluster="apps", taskDefinition=definition)["tasks"][0]["taskArn"]
    port = ei.host_port(ei.wait_for(lambda: (d := ei.task(ecs, "apps", arn))["healthStatus"] == "HEALTHY" and d,
                                    timeout=120))
    stop_cloud(cloud, keep_data=True)
    with pytest.raises(OSError):
        ei.get(f"http://127.0.0.1:{port}/health")
    assert str(cloud.data_dir) not in Path("/proc/self/mounts").read_text()
