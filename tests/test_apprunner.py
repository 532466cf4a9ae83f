"""App Runner as the cloud serves it (moto has none): a service from the sample app's image,
built with the project's builder and pushed to the cloud's registry, goes
OPERATION_IN_PROGRESS -> RUNNING on the clock and serves its ServiceUrl; a push to the tag
with auto deployments starts a START_DEPLOYMENT that list_operations shows and the new image
serves; pause, resume, a failed deployment rolled back, delete; App Runner's errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from labkit.app_runner import service_url
from tests import ecs_images as ei
from tests.conftest import ROOT, new_account, start_cloud, stop_cloud
from workshop.images import podman

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "build.apprunner.amazonaws.com"}}]}
needs_containers = pytest.mark.skipif(not podman.user_namespaces(), reason="no user namespaces here")


@pytest.fixture(scope="module")
def fast_cloud(tmp_path_factory):
    """A cloud of its own at a high time scale: App Runner's minutes last a fraction of a second."""
    cloud = start_cloud(tmp_path_factory.mktemp("apprunner-cloud"), time_scale=600)
    yield cloud
    stop_cloud(cloud)


def access_role(cloud, account: str) -> str:
    iam = cloud.client("iam", account)
    try:
        return iam.create_role(RoleName="AppRunnerECRAccess", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName="AppRunnerECRAccess")["Role"]["Arn"]


def source(image: str, role: str, auto: bool = True) -> dict:
    config = {"Port": "8080", "RuntimeEnvironmentVariables": {"GREETING": "hello"}}
    return {"ImageRepository": {"ImageIdentifier": image, "ImageRepositoryType": "ECR",
                                "ImageConfiguration": config},
            "AutoDeploymentsEnabled": auto, "AuthenticationConfiguration": {"AccessRoleArn": role}}


def settled(apprunner, arn: str, timeout: float = 120) -> dict:
    return ei.wait_for(lambda: (s := apprunner.describe_service(ServiceArn=arn)["Service"])["Status"]
                       != "OPERATION_IN_PROGRESS" and s, timeout=timeout)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


# -- the API alone (no image needs to run) -------------------------------------------------

def test_app_runner_errors_as_app_runner_answers_them(fast_cloud):
    account = new_account()
    apprunner = fast_cloud.client("apprunner", account)
    role = access_role(fast_cloud, account)
    image = f"{account}.dkr.ecr.us-east-1.amazonaws.com/web:v1"

    def code(call, **kwargs) -> str:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return caught.value.response["Error"]["Code"]

    assert code(apprunner.create_service, ServiceName="web app!", SourceConfiguration=source(image, role)) \
        == "InvalidRequestException"
    no_role = source(image, role)
    del no_role["AuthenticationConfiguration"]
    assert code(apprunner.create_service, ServiceName="web-app", SourceConfiguration=no_role) \
        == "InvalidRequestException"
    stranger = f"arn:aws:iam::{account}:role/nobody"
    assert code(apprunner.create_service, ServiceName="web-app", SourceConfiguration=source(image, stranger)) \
        == "InvalidRequestException"
    assert code(apprunner.create_service, ServiceName="web-app", SourceConfiguration=source(image, role),
                InstanceConfiguration={"Cpu": "1 vCPU", "Memory": "12 GB"}) == "InvalidRequestException"
    assert code(apprunner.create_service, ServiceName="web-app", SourceConfiguration=source(image, role),
                HealthCheckConfiguration={"Interval": 21}) == "InvalidRequestException"
    missing = f"arn:aws:apprunner:us-east-1:{account}:service/none/0123456789abcdef0123456789abcdef"
    assert code(apprunner.describe_service, ServiceArn=missing) == "ResourceNotFoundException"
    assert code(apprunner.list_operations, ServiceArn=missing) == "ResourceNotFoundException"

    # An image that is not in the registry: created, then CREATE_FAILED on the clock.
    created = apprunner.create_service(ServiceName="web-app", SourceConfiguration=source(image, role),
                                       InstanceConfiguration={"Cpu": "0.25 vCPU", "Memory": "0.5 GB"},
                                       Tags=[{"Key": "lab", "Value": "05-containers"}])
    service = created["Service"]
    assert service["Status"] == "OPERATION_IN_PROGRESS" and service["ServiceUrl"]
    assert service["InstanceConfiguration"] == {"Cpu": "256", "Memory": "512"}
    assert service["HealthCheckConfiguration"] == {"Protocol": "TCP", "Path": "/", "Interval": 5, "Timeout": 2,
                                                   "HealthyThreshold": 1, "UnhealthyThreshold": 5}
    assert service["AutoScalingConfigurationSummary"]["AutoScalingConfigurationName"] == "DefaultConfiguration"
    assert code(apprunner.create_service, ServiceName="web-app", SourceConfiguration=source(image, role)) \
        == "InvalidRequestException"      # the name is taken
    # CloudTrail records the call as App Runner's (evidence a check can trust).
    trail = fast_cloud.client("cloudtrail", account)
    events = ei.wait_for(lambda: trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "CreateService"}])["Events"])
    assert {e["EventSource"] for e in events} == {"apprunner.amazonaws.com"}
    assert any(json.loads(e["CloudTrailEvent"]).get("errorCode") is None for e in events)
    assert code(apprunner.pause_service, ServiceArn=service["ServiceArn"]) == "InvalidStateException"
    failed = settled(apprunner, service["ServiceArn"])
    assert failed["Status"] == "CREATE_FAILED"
    operations = apprunner.list_operations(ServiceArn=service["ServiceArn"])["OperationSummaryList"]
    assert [(o["Type"], o["Status"], o["Id"]) for o in operations] == \
        [("CREATE_SERVICE", "FAILED", created["OperationId"])]
    assert operations[0]["EndedAt"] >= operations[0]["StartedAt"]
    assert code(apprunner.resume_service, ServiceArn=service["ServiceArn"]) == "InvalidStateException"
    assert code(apprunner.start_deployment, ServiceArn=service["ServiceArn"]) == "InvalidRequestException"
    assert apprunner.list_tags_for_resource(ResourceArn=service["ServiceArn"])["Tags"] == \
        [{"Key": "lab", "Value": "05-containers"}]
    listed = apprunner.list_services()["ServiceSummaryList"]
    assert [(s["ServiceName"], s["Status"]) for s in listed] == [("web-app", "CREATE_FAILED")]
    # The service's own log says why.
    logs = fast_cloud.client("logs", account)
    group = f"/aws/apprunner/web-app/{service['ServiceId']}/service"
    messages = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName="events")["events"]]
    assert any("Service creation failed" in m and "CannotPullContainerError" in m for m in messages)

    deleting = apprunner.delete_service(ServiceArn=service["ServiceArn"])
    assert deleting["Service"]["Status"] == "OPERATION_IN_PROGRESS"
    gone = settled(apprunner, service["ServiceArn"])
    assert gone["Status"] == "DELETED" and "DeletedAt" in gone
    assert apprunner.list_services()["ServiceSummaryList"] == []
    assert code(apprunner.delete_service, ServiceArn=service["ServiceArn"]) == "InvalidStateException"


# -- a service that runs the sample app --------------------------------------------------------

@pytest.fixture(scope="module")
def sample(fast_cloud, tmp_path_factory):
    """One account with the sample app v1 pushed to its repository, and the access role."""
    tmp = tmp_path_factory.mktemp("apprunner-images")
    account = new_account()
    data = ei.data_dir_with_base(tmp)
    uri = fast_cloud.client("ecr", account).create_repository(repositoryName="web")["repository"]["repositoryUri"]
    ei.build(fast_cloud, account, data, ei.sample_app(tmp, "1.0.0"), f"{uri}:latest")
    return {"account": account, "uri": uri, "data": data, "tmp": tmp, "role": access_role(fast_cloud, account)}


@needs_containers
def test_a_service_serves_its_url_and_a_push_deploys_the_new_image(fast_cloud, sample):
    account, uri = sample["account"], sample["uri"]
    apprunner = fast_cloud.client("apprunner", account)
    created = apprunner.create_service(
        ServiceName="sample-app", SourceConfiguration=source(f"{uri}:latest", sample["role"]),
        HealthCheckConfiguration={"Protocol": "HTTP", "Path": "/health", "Interval": 5, "Timeout": 5,
                                  "HealthyThreshold": 1, "UnhealthyThreshold": 5})
    arn = created["Service"]["ServiceArn"]
    running = settled(apprunner, arn)
    assert running["Status"] == "RUNNING"
    url = service_url(arn, client=apprunner)
    assert url == f"http://{running['ServiceUrl']}"
    assert get(f"{url}/health") == (200, {"status": "ok", "version": "1.0.0"})
    # workshop doctor names the same URL.
    doctor = subprocess.run([sys.executable, "-m", "workshop", "doctor"], cwd=ROOT, env=fast_cloud.env(account),
                            capture_output=True, text=True, timeout=120)
    assert re.search(rf"^app runner sample-app +{re.escape(url)} \(RUNNING\)$", doctor.stdout, re.M), doctor.stdout
    # The app's output is in its application log group.
    logs = fast_cloud.client("logs", account)
    group = f"/aws/apprunner/sample-app/{running['ServiceId']}/application"
    streams = ei.wait_for(lambda: logs.describe_log_streams(logGroupName=group)["logStreams"])
    assert streams[0]["logStreamName"].startswith("instance/")

    # v2 pushed to the same tag: an automatic START_DEPLOYMENT, then v2 serves at the same URL.
    ei.build(fast_cloud, account, sample["data"], ei.sample_app(sample["tmp"], "2.0.0"), f"{uri}:latest")
    operations = ei.wait_for(lambda: [o for o in apprunner.list_operations(ServiceArn=arn)["OperationSummaryList"]
                                      if o["Type"] == "START_DEPLOYMENT"])
    deployment = operations[0]
    assert deployment["Status"] in ("PENDING", "IN_PROGRESS", "SUCCEEDED")
    done = ei.wait_for(lambda: [o for o in apprunner.list_operations(ServiceArn=arn)["OperationSummaryList"]
                                if o["Id"] == deployment["Id"] and o["Status"] == "SUCCEEDED"], timeout=120)
    assert done and settled(apprunner, arn)["Status"] == "RUNNING"
    assert get(f"{url}/health") == (200, {"status": "ok", "version": "2.0.0"})
    kinds = [(o["Type"], o["Status"]) for o in apprunner.list_operations(ServiceArn=arn)["OperationSummaryList"]]
    assert kinds[-1] == ("CREATE_SERVICE", "SUCCEEDED") and ("START_DEPLOYMENT", "SUCCEEDED") in kinds

    # Paused: the URL has no instance behind it; resumed: it serves again.
    apprunner.pause_service(ServiceArn=arn)
    assert settled(apprunner, arn)["Status"] == "PAUSED"
    assert get(f"{url}/health")[0] == 503
    apprunner.resume_service(ServiceArn=arn)
    assert settled(apprunner, arn)["Status"] == "RUNNING"
    assert get(f"{url}/health") == (200, {"status": "ok", "version": "2.0.0"})

    # An update whose start command exits at once fails and is rolled back.
    broken = source(f"{uri}:latest", sample["role"])
    broken["ImageRepository"]["ImageConfiguration"]["StartCommand"] = "python3 -c 'raise SystemExit(3)'"
    apprunner.update_service(ServiceArn=arn, SourceConfiguration=broken)
    assert settled(apprunner, arn, timeout=180)["Status"] == "RUNNING"
    latest = apprunner.list_operations(ServiceArn=arn)["OperationSummaryList"][0]
    assert (latest["Type"], latest["Status"]) == ("UPDATE_SERVICE", "ROLLBACK_SUCCEEDED")
    described = apprunner.describe_service(ServiceArn=arn)["Service"]
    assert "StartCommand" not in described["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"]
    assert get(f"{url}/health") == (200, {"status": "ok", "version": "2.0.0"})

    # start_deployment by hand; then deleted: the URL is gone.
    operation = apprunner.start_deployment(ServiceArn=arn)["OperationId"]
    ei.wait_for(lambda: [o for o in apprunner.list_operations(ServiceArn=arn)["OperationSummaryList"]
                         if o["Id"] == operation and o["Status"] == "SUCCEEDED"], timeout=120)
    assert settled(apprunner, arn)["Status"] == "RUNNING"
    apprunner.delete_service(ServiceArn=arn)
    assert settled(apprunner, arn)["Status"] == "DELETED"
    ei.wait_for(lambda: refused(url), timeout=30)


def refused(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return True
    return False


@needs_containers
def test_an_account_reset_stops_its_services_and_closes_their_urls(fast_cloud, sample):
    apprunner = fast_cloud.client("apprunner", sample["account"])
    arn = apprunner.create_service(ServiceName="reset-me", SourceConfiguration=source(
        f"{sample['uri']}:latest", sample["role"]))["Service"]["ServiceArn"]
    assert settled(apprunner, arn)["Status"] == "RUNNING"
    url = service_url(arn, client=apprunner)
    assert get(f"{url}/health")[0] == 200
    request = urllib.request.Request(f"{fast_cloud.endpoint}/_workshop/accounts/{sample['account']}/reset",
                                     data=b"", method="POST",
                                     headers={"X-Workshop-Admin-Token": fast_cloud.admin_token})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert apprunner.list_services()["ServiceSummaryList"] == []
    ei.wait_for(lambda: refused(url), timeout=30)
