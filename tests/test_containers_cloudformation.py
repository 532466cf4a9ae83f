"""The containers of lab 05 as one CloudFormation stack: an ECR repository (lifecycle
policy, scanning, tags) that a real image is pushed to, then an ECS cluster, task
definition and service behind a load balancer (listener, target group, listener rule).
The stack waits until the service is stable and it serves through the listener; drift
is IN_SYNC, then MODIFIED at /DesiredCount after update_service out of band; a new
image tag in the task definition rolls a real deployment that the stack waits for;
deleting the stack stops the tasks and removes everything. A deployment the circuit breaker
fails fails the stack's update, which rolls back; an App Runner service in a stack serves,
drifts and goes."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from labkit.load_balancers import load_balancer_url
from tests import ecs_images as ei
from tests.elb_setup import network
from workshop.images import podman

pytestmark = pytest.mark.skipif(not podman.user_namespaces(), reason="no user namespaces here")

LIFECYCLE = {"rules": [{"rulePriority": 1, "description": "keep ten", "selection": {
    "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10}, "action": {"type": "expire"}}]}

REPOSITORY = {
    "Type": "AWS::ECR::Repository",
    "Properties": {
        "RepositoryName": "shop", "ImageTagMutability": "IMMUTABLE", "EmptyOnDelete": True,
        "ImageScanningConfiguration": {"ScanOnPush": True},
        "LifecyclePolicy": {"LifecyclePolicyText": json.dumps(LIFECYCLE)},
        "Tags": [{"Key": "lab", "Value": "05-containers"}]}}


def template(vpc: str, subnets: list[str]) -> dict:
    return {
        "Parameters": {"ImageTag": {"Type": "String", "Default": "v1"}},
        "Resources": {
            "Repo": REPOSITORY,
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "shop"}},
            "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
                "Family": "shop", "NetworkMode": "bridge", "RequiresCompatibilities": ["EC2"], "Cpu": "256",
                "Memory": "512",
                "ContainerDefinitions": [{
                    "Name": "web", "Essential": True,
                    "Image": {"Fn::Sub": "${Repo.RepositoryUri}:${ImageTag}"},
                    "PortMappings": [{"ContainerPort": "8080"}],
                    "LogConfiguration": {"LogDriver": "awslogs", "Options": {
                        "awslogs-group": "/ecs/shop", "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "web", "awslogs-create-group": "true"}}}]}},
            "Lb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
                "Name": "shop", "Type": "application", "Subnets": subnets,
                "LoadBalancerAttributes": [{"Key": "idle_timeout.timeout_seconds", "Value": "30"}]}},
            "Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
                "Name": "shop", "Protocol": "HTTP", "Port": 80, "VpcId": vpc, "TargetType": "ip",
                "HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 5, "HealthyThresholdCount": 2,
                "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}]}},
            "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
                "LoadBalancerArn": {"Ref": "Lb"}, "Protocol": "HTTP", "Port": 80,
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Tg"}}]}},
            "Ping": {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule", "Properties": {
                "ListenerArn": {"Ref": "Listener"}, "Priority": 1,
                "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/ping"]}}],
                "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {
                    "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "pong"}}]}},
            "Service": {"Type": "AWS::ECS::Service", "DependsOn": "Listener", "Properties": {
                "ServiceName": "shop", "Cluster": {"Ref": "Cluster"}, "TaskDefinition": {"Ref": "Task"},
                "DesiredCount": 2, "LaunchType": "EC2", "DeploymentController": {"Type": "ECS"},
                "DeploymentConfiguration": {"MaximumPercent": 200, "MinimumHealthyPercent": 100,
                                            "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}},
                "LoadBalancers": [{"ContainerName": "web", "ContainerPort": 8080,
                                   "TargetGroupArn": {"Ref": "Tg"}}]}}},
        "Outputs": {
            "RepositoryUri": {"Value": {"Fn::GetAtt": ["Repo", "RepositoryUri"]}},
            "RepositoryArn": {"Value": {"Fn::GetAtt": ["Repo", "Arn"]}},
            "ClusterArn": {"Value": {"Fn::GetAtt": ["Cluster", "Arn"]}},
            "TaskDefinition": {"Value": {"Ref": "Task"}},
            "DNSName": {"Value": {"Fn::GetAtt": ["Lb", "DNSName"]}},
            "LoadBalancerFullName": {"Value": {"Fn::GetAtt": ["Lb", "LoadBalancerFullName"]}},
            "TargetGroupArn": {"Value": {"Fn::GetAtt": ["Tg", "TargetGroupArn"]}},
            "ListenerArn": {"Value": {"Ref": "Listener"}},
            "ServiceRef": {"Value": {"Ref": "Service"}},
            "ServiceName": {"Value": {"Fn::GetAtt": ["Service", "Name"]}},
            "ServiceArn": {"Value": {"Fn::GetAtt": ["Service", "ServiceArn"]}}}}


def _wait(cf, waiter: str) -> None:
    # The stack waits for the service's tasks, which start in real time on a loaded machine.
    try:
        cf.get_waiter(waiter).wait(StackName="shop", WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    except Exception:
        events = cf.describe_stack_events(StackName="shop")["StackEvents"]
        raise AssertionError([(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason"))
                              for e in events if "FAILED" in e["ResourceStatus"]]) from None


def _outputs(cf) -> dict[str, str]:
    stack = cf.describe_stacks(StackName="shop")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _drift(cf) -> dict[str, dict]:
    detection = cf.detect_stack_drift(StackName="shop")["StackDriftDetectionId"]
    ei.wait_for(lambda: cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection)[
        "DetectionStatus"] != "DETECTION_IN_PROGRESS", timeout=60)
    return {d["LogicalResourceId"]: d for d in cf.describe_stack_resource_drifts(StackName="shop")[
        "StackResourceDrifts"]}


def _text(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


def test_a_containers_stack_deploys_serves_drifts_rolls_and_goes(cloud, account, tmp_path):
    cf, ecr, ecs, elb, ec2 = (cloud.client(s, account) for s in ("cloudformation", "ecr", "ecs", "elbv2", "ec2"))

    # The repository first (the image must exist before a service can run it), as a team would.
    cf.create_stack(StackName="shop", TemplateBody=json.dumps({"Resources": {"Repo": REPOSITORY}, "Outputs": {
        "RepositoryUri": {"Value": {"Fn::GetAtt": ["Repo", "RepositoryUri"]}}}}))
    _wait(cf, "stack_create_complete")
    uri = _outputs(cf)["RepositoryUri"]
    repo = ecr.describe_repositories(repositoryNames=["shop"])["repositories"][0]
    assert repo["repositoryUri"] == uri and repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert json.loads(ecr.get_lifecycle_policy(repositoryName="shop")["lifecyclePolicyText"]) == LIFECYCLE
    assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [
        {"Key": "lab", "Value": "05-containers"}]
    data = ei.data_dir_with_base(tmp_path)
    ei.build(cloud, account, data, ei.sample_app(tmp_path, "1.0.0"), f"{uri}:v1")
    ei.build(cloud, account, data, ei.sample_app(tmp_path, "2.0.0"), f"{uri}:v2")

    # The rest of the containers: the stack completes once the service is stable.
    vpc, subnets = network(ec2)
    body = json.dumps(template(vpc, subnets))
    cf.update_stack(StackName="shop", TemplateBody=body)
    _wait(cf, "stack_update_complete")
    out = _outputs(cf)
    service = ecs.describe_services(cluster="shop", services=["shop"])["services"][0]
    assert service["runningCount"] == 2 and service["desiredCount"] == 2
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert (service["deploymentConfiguration"]["maximumPercent"],
            service["deploymentConfiguration"]["minimumHealthyPercent"]) == (200, 100)
    assert service["loadBalancers"] == [{"targetGroupArn": out["TargetGroupArn"], "containerName": "web",
                                         "containerPort": 8080}]
    assert out["ServiceRef"] == out["ServiceArn"] == service["serviceArn"] and out["ServiceName"] == "shop"
    assert out["TaskDefinition"] == service["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=out["TaskDefinition"])["taskDefinition"]
    assert (definition["cpu"], definition["memory"], definition["networkMode"]) == ("256", "512", "bridge")
    assert definition["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"] == "/ecs/shop"
    balancer = elb.describe_load_balancers(Names=["shop"])["LoadBalancers"][0]
    assert out["DNSName"] == balancer["DNSName"] and balancer["Type"] == "application"
    assert out["LoadBalancerFullName"] == "app/shop/" + balancer["LoadBalancerArn"].rsplit("/", 1)[-1]
    assert out["ClusterArn"] == ecs.describe_clusters(clusters=["shop"])["clusters"][0]["clusterArn"]
    attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
        LoadBalancerArn=balancer["LoadBalancerArn"])["Attributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == "30"

    # It serves through the listener: the tasks are the target group's healthy targets.
    url = load_balancer_url("shop", client=elb)
    assert ei.wait_for(lambda: ei.get(url + "/health").get("version"), timeout=30) == "1.0.0"
    assert _text(url + "/ping") == (200, "pong")
    health = elb.describe_target_health(TargetGroupArn=out["TargetGroupArn"])["TargetHealthDescriptions"]
    assert [d["TargetHealth"]["State"] for d in health] == ["healthy", "healthy"]

    # Drift: every resource read back and IN_SYNC; then desiredCount changed out of band.
    found = _drift(cf)
    assert {k: d["StackResourceDriftStatus"] for k, d in found.items()} == {
        k: "IN_SYNC" for k in ("Repo", "Cluster", "Task", "Lb", "Tg", "Listener", "Ping", "Service")}
    ecs.update_service(cluster="shop", service="shop", desiredCount=3)
    found = _drift(cf)
    assert found["Service"]["StackResourceDriftStatus"] == "MODIFIED"
    assert found["Service"]["PropertyDifferences"] == [{"PropertyPath": "/DesiredCount", "ExpectedValue": "2",
                                                        "ActualValue": "3", "DifferenceType": "NOT_EQUAL"}]
    assert cf.describe_stacks(StackName="shop")["Stacks"][0]["DriftInformation"]["StackDriftStatus"] == "DRIFTED"
    assert {k for k, d in found.items() if d["StackResourceDriftStatus"] != "IN_SYNC"} == {"Service"}

    # A new image tag: a new task definition revision, a real rolling deployment the stack waits for.
    before = {d["serviceDeploymentArn"] for d in ecs.list_service_deployments(
        cluster="shop", service="shop")["serviceDeployments"]}
    cf.update_stack(StackName="shop", TemplateBody=body, Parameters=[{"ParameterKey": "ImageTag",
                                                                      "ParameterValue": "v2"}])
    assert cf.describe_stacks(StackName="shop")["Stacks"][0]["StackStatus"] == "UPDATE_IN_PROGRESS"
    _wait(cf, "stack_update_complete")
    out2 = _outputs(cf)
    assert out2["TaskDefinition"] != out["TaskDefinition"] and out2["TaskDefinition"].endswith("shop:2")
    service = ecs.describe_services(cluster="shop", services=["shop"])["services"][0]
    assert service["taskDefinition"] == out2["TaskDefinition"]
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    assert service["desiredCount"] == service["runningCount"] == 2   # the template's count again
    records = ecs.list_service_deployments(cluster="shop", service="shop")["serviceDeployments"]
    new = [r for r in records if r["serviceDeploymentArn"] not in before]
    assert [r["status"] for r in new] == ["SUCCESSFUL"]
    arns = ecs.list_tasks(cluster="shop", serviceName="shop")["taskArns"]
    assert {t["taskDefinitionArn"] for t in ecs.describe_tasks(cluster="shop", tasks=arns)["tasks"]} == {
        out2["TaskDefinition"]}
    assert ei.wait_for(lambda: ei.get(url + "/health").get("version") == "2.0.0" or None, timeout=30)
    assert ecs.describe_task_definition(taskDefinition=out["TaskDefinition"])["taskDefinition"]["status"] == \
        "INACTIVE"
    assert _drift(cf)["Service"]["StackResourceDriftStatus"] == "IN_SYNC"

    # Delete: the tasks stop, and nothing of the stack is left.
    running = ecs.list_tasks(cluster="shop", serviceName="shop")["taskArns"]
    cf.delete_stack(StackName="shop")
    _wait(cf, "stack_delete_complete")
    assert ecs.describe_services(cluster="shop", services=["shop"])["services"][0]["status"] == "INACTIVE"
    assert {t["lastStatus"] for t in ecs.describe_tasks(cluster="shop", tasks=running)["tasks"]} == {"STOPPED"}
    assert ecs.list_tasks(cluster="shop", desiredStatus="RUNNING")["taskArns"] == []
    assert ecs.describe_clusters(clusters=["shop"])["clusters"][0]["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition=out2["TaskDefinition"])["taskDefinition"]["status"] == \
        "INACTIVE"
    assert elb.describe_load_balancers()["LoadBalancers"] == []
    assert elb.describe_target_groups()["TargetGroups"] == []
    assert ecr.describe_repositories()["repositories"] == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _text(url + "/health")
            time.sleep(0.2)
        except OSError:
            break
    else:
        pytest.fail(f"{url} still answers after the stack was deleted")


def test_an_app_runner_service_in_a_stack_serves_drifts_and_goes(cloud, account, tmp_path):
    cf, ecr, iam, apprunner = (cloud.client(s, account) for s in ("cloudformation", "ecr", "iam", "apprunner"))
    uri = ecr.create_repository(repositoryName="runner")["repository"]["repositoryUri"]
    ei.build(cloud, account, ei.data_dir_with_base(tmp_path), ei.sample_app(tmp_path, "1.0.0"), f"{uri}:v1")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "build.apprunner.amazonaws.com"}}]}
    role = iam.create_role(RoleName="AppRunnerECRAccess", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    cf.create_stack(StackName="shop", TemplateBody=json.dumps({"Resources": {"Web": {
        "Type": "AWS::AppRunner::Service", "Properties": {
            "ServiceName": "shop-web",
            "SourceConfiguration": {"AutoDeploymentsEnabled": False,
                                    "AuthenticationConfiguration": {"AccessRoleArn": role},
                                    "ImageRepository": {"ImageIdentifier": f"{uri}:v1", "ImageRepositoryType": "ECR",
                                                        "ImageConfiguration": {"Port": "8080"}}},
            "InstanceConfiguration": {"Cpu": "1024", "Memory": "2048"},
            "Tags": [{"Key": "lab", "Value": "05-containers"}]}}},
        "Outputs": {"Url": {"Value": {"Fn::GetAtt": ["Web", "ServiceUrl"]}},
                    "Arn": {"Value": {"Ref": "Web"}}}}))
    _wait(cf, "stack_create_complete")
    out = _outputs(cf)
    service = apprunner.describe_service(ServiceArn=out["Arn"])["Service"]
    assert service["Status"] == "RUNNING" and service["ServiceUrl"] == out["Url"]
    assert ei.wait_for(lambda: ei.get(f"http://{out['Url']}/health").get("version"), timeout=30) == "1.0.0"
    assert apprunner.list_tags_for_resource(ResourceArn=out["Arn"])["Tags"] == [
        {"Key": "lab", "Value": "05-containers"}]

    assert _drift(cf)["Web"]["StackResourceDriftStatus"] == "IN_SYNC"
    apprunner.update_service(ServiceArn=out["Arn"], InstanceConfiguration={"Cpu": "1024", "Memory": "3072"})
    ei.wait_for(lambda: apprunner.describe_service(ServiceArn=out["Arn"])["Service"]["Status"] == "RUNNING",
                timeout=120)
    found = _drift(cf)["Web"]
    assert found["StackResourceDriftStatus"] == "MODIFIED"
    assert found["PropertyDifferences"] == [{"PropertyPath": "/InstanceConfiguration/Memory", "ExpectedValue": "2048",
                                             "ActualValue": "3072", "DifferenceType": "NOT_EQUAL"}]

    cf.delete_stack(StackName="shop")
    _wait(cf, "stack_delete_complete")
    assert apprunner.list_services()["ServiceSummaryList"] == []


def test_a_deployment_the_circuit_breaker_fails_rolls_the_stack_back(cloud, account, tmp_path):
    cf, ecr, ecs = (cloud.client(s, account) for s in ("cloudformation", "ecr", "ecs"))
    uri = ecr.create_repository(repositoryName="breaker")["repository"]["repositoryUri"]
    data = ei.data_dir_with_base(tmp_path)
    ei.build(cloud, account, data, ei.sample_app(tmp_path, "1.0.0"), f"{uri}:v1")
    ei.build(cloud, account, data, ei.crashing_app(tmp_path), f"{uri}:bad", cmd="python3 crash.py")
    body = json.dumps({
        "Parameters": {"Image": {"Type": "String"}},
        "Resources": {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "shop"}},
            "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
                "Family": "shop", "NetworkMode": "bridge", "Memory": "512",
                "ContainerDefinitions": [{"Name": "web", "Image": {"Ref": "Image"},
                                          "PortMappings": [{"ContainerPort": 8080}]}]}},
            "Service": {"Type": "AWS::ECS::Service", "Properties": {
                "ServiceName": "shop", "Cluster": {"Ref": "Cluster"}, "TaskDefinition": {"Ref": "Task"},
                "DesiredCount": 1, "DeploymentConfiguration": {
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}}}}})
    cf.create_stack(StackName="shop", TemplateBody=body,
                    Parameters=[{"ParameterKey": "Image", "ParameterValue": f"{uri}:v1"}])
    _wait(cf, "stack_create_complete")
    good = ecs.describe_services(cluster="shop", services=["shop"])["services"][0]["taskDefinition"]

    cf.update_stack(StackName="shop", TemplateBody=body,
                    Parameters=[{"ParameterKey": "Image", "ParameterValue": f"{uri}:bad"}])
    deadline = time.monotonic() + 600
    while (status := cf.describe_stacks(StackName="shop")["Stacks"][0]["StackStatus"]).endswith("_IN_PROGRESS"):
        assert time.monotonic() < deadline, status
        time.sleep(1)
    assert status == "UPDATE_ROLLBACK_COMPLETE"
    failed = [e for e in cf.describe_stack_events(StackName="shop")["StackEvents"]
              if e["LogicalResourceId"] == "Service" and e["ResourceStatus"] == "UPDATE_FAILED"]
    assert [e["ResourceStatusReason"] for e in failed] == [
        "Error occurred during operation 'ECS Deployment Circuit Breaker was triggered'."]
    service = ecs.describe_services(cluster="shop", services=["shop"])["services"][0]
    assert service["taskDefinition"] == good and service["runningCount"] == 1
    assert cf.describe_stack_resource(StackName="shop", LogicalResourceId="Task")[
        "StackResourceDetail"]["PhysicalResourceId"] == good
    cf.delete_stack(StackName="shop")
    _wait(cf, "stack_delete_complete")
