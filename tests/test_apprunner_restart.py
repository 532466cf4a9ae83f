"""An App Runner service is the cloud's state: after a restart on the same data dir it is
RUNNING at the same URL (its instance started again), its operations are kept, and a push
to its tag still deploys. Also the backend pickles (the snapshot's way)."""

from __future__ import annotations

import pickle

import pytest

from labkit.app_runner import service_url
from tests import ecs_images as ei
from tests.conftest import free_port, start_cloud, stop_cloud
from tests.test_apprunner import access_role, get, needs_containers, settled, source
from workshop.cloud import snapshot


@needs_containers
def test_restart_keeps_the_service_its_url_and_its_auto_deployments(tmp_path):
    port = free_port()
    account = "246813579135"
    first = start_cloud(tmp_path, time_scale=600, port=port)
    try:
        data = ei.data_dir_with_base(tmp_path)
        uri = first.client("ecr", account).create_repository(repositoryName="web")["repository"]["repositoryUri"]
        ei.build(first, account, data, ei.sample_app(tmp_path, "1.0.0"), f"{uri}:latest")
        apprunner = first.client("apprunner", account)
        arn = apprunner.create_service(ServiceName="kept-app", SourceConfiguration=source(
            f"{uri}:latest", access_role(first, account)))["Service"]["ServiceArn"]
        assert settled(apprunner, arn)["Status"] == "RUNNING"
        url = service_url(arn, client=apprunner)
        assert get(f"{url}/health") == (200, {"status": "ok", "version": "1.0.0"})
        stop_cloud(first, keep_data=True)
        second = start_cloud(tmp_path, time_scale=600, data_dir=first.data_dir, port=port)
        try:
            apprunner = second.client("apprunner", account)
            described = apprunner.describe_service(ServiceArn=arn)["Service"]
            assert described["Status"] == "RUNNING" and service_url(arn, client=apprunner) == url
            assert ei.wait_for(lambda: get(f"{url}/health")[0] == 200 and get(f"{url}/health"), timeout=120) == \
                (200, {"status": "ok", "version": "1.0.0"})
            kinds = [(o["Type"], o["Status"]) for o in apprunner.list_operations(ServiceArn=arn)["OperationSummaryList"]]
            assert kinds == [("CREATE_SERVICE", "SUCCEEDED")]
            ei.build(second, account, data, ei.sample_app(tmp_path, "2.0.0"), f"{uri}:latest")
            ei.wait_for(lambda: [o for o in apprunner.list_operations(ServiceArn=arn)["OperationSummaryList"]
                                 if o["Type"] == "START_DEPLOYMENT" and o["Status"] == "SUCCEEDED"], timeout=120)
            assert get(f"{url}/health") == (200, {"status": "ok", "version": "2.0.0"})
        finally:
            stop_cloud(second)
    finally:
        if first.process.poll() is None:
            stop_cloud(first)


def test_the_backend_pickles_with_its_services_and_operations(monkeypatch):
    from workshop.cloud import services
    from workshop.cloud.services.apprunner import models

    monkeypatch.setattr(models, "_check_access_role", lambda arn, account: None)
    monkeypatch.setitem(services._subscribers, "apprunner.url-opened", [lambda **_: 45678])
    monkeypatch.setitem(services._subscribers, "apprunner.operation-started", [])
    backend = models.apprunner_backends["975310864202"]["us-east-1"]
    service, operation = backend.create_service({"ServiceName": "pickled", "SourceConfiguration": source(
        "975310864202.dkr.ecr.us-east-1.amazonaws.com/web:latest", "arn:aws:iam::975310864202:role/r")})
    again = pickle.loads(snapshot.dumps(backend))
    kept = again.services[service.arn]
    assert (kept.name, kept.url, kept.status) == ("pickled", "127.0.0.1:45678", "OPERATION_IN_PROGRESS")
    assert [(o.id, o.type, o.status) for o in again.operations[service.arn]] == \
        [(operation.id, "CREATE_SERVICE", "IN_PROGRESS")]
    with pytest.raises(models.AppRunnerError):
        again.create_service({"ServiceName": "pickled", "SourceConfiguration": source(
            "975310864202.dkr.ecr.us-east-1.amazonaws.com/web:latest", "arn:aws:iam::975310864202:role/r")})
