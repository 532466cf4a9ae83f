"""ECS task sets and CodeDeploy's ECS groups through the API alone (no task runs: desired
count 0): an EXTERNAL service's task sets created, scaled, made primary and deleted; the
errors AWS answers for a service ECS deploys itself, an unknown task set, a bad scale, a
CODE_DEPLOY service's task definition changed by update_service, and an ECS deployment
group's target group pair or AppSpec that cannot work."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


def _definition(ecs, family: str = "web") -> str:
    return ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "web", "image": "example/web:1", "memory": 128, "portMappings": [{"containerPort": 8080}]}]
    )["taskDefinition"]["taskDefinitionArn"]


def _code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_an_external_services_task_sets(cloud, account):
    ecs = cloud.client("ecs", account)
    ecs.create_cluster(clusterName="apps")
    v1 = _definition(ecs)
    ecs.create_service(cluster="apps", serviceName="ext", desiredCount=0, deploymentController={"type": "EXTERNAL"})
    ecs.create_service(cluster="apps", serviceName="ecs", taskDefinition=v1, desiredCount=0)
    assert _code(lambda: ecs.create_task_set(cluster="apps", service="ecs", taskDefinition=v1)) == \
        "InvalidParameterException"
    first = ecs.create_task_set(cluster="apps", service="ext", taskDefinition=v1, externalId="blue",
                                scale={"value": 50, "unit": "PERCENT"})["taskSet"]
    assert first["status"] == "ACTIVE" and first["externalId"] == "blue" and first["taskDefinition"] == v1
    assert first["scale"] == {"value": 50.0, "unit": "PERCENT"}
    assert _code(lambda: ecs.update_task_set(cluster="apps", service="ext", taskSet=first["id"],
                                             scale={"value": 150, "unit": "PERCENT"})) == "InvalidParameterException"
    assert ecs.update_task_set(cluster="apps", service="ext", taskSet=first["taskSetArn"],
                               scale={"value": 100, "unit": "PERCENT"})["taskSet"]["scale"]["value"] == 100.0
    second = ecs.create_task_set(cluster="apps", service="ext", taskDefinition=v1)["taskSet"]
    ecs.update_service_primary_task_set(cluster="apps", service="ext", primaryTaskSet=second["taskSetArn"])
    sets = {t["id"]: t["status"] for t in ecs.describe_task_sets(cluster="apps", service="ext")["taskSets"]}
    assert sets == {first["id"]: "ACTIVE", second["id"]: "PRIMARY"}
    assert _code(lambda: ecs.delete_task_set(cluster="apps", service="ext", taskSet=second["id"])) == \
        "InvalidParameterException"      # the primary at 100% needs force
    assert ecs.delete_task_set(cluster="apps", service="ext", taskSet=first["id"])["taskSet"]["status"] == "DRAINING"
    assert _code(lambda: ecs.update_task_set(cluster="apps", service="ext", taskSet="ecs-svc/0",
                                             scale={"value": 1, "unit": "PERCENT"})) == "TaskSetNotFoundException"


def test_a_code_deploy_service_and_its_group(cloud, account):
    ecs, cd = cloud.client("ecs", account), cloud.client("codedeploy", account)
    ecs.create_cluster(clusterName="apps")
    v1, v2 = _definition(ecs), _definition(ecs)
    ecs.create_service(cluster="apps", serviceName="web", taskDefinition=v1, desiredCount=0,
                       deploymentController={"type": "CODE_DEPLOY"})
    (primary,) = ecs.describe_task_sets(cluster="apps", service="web")["taskSets"]
    assert primary["status"] == "PRIMARY" and primary["taskDefinition"] == v1
    assert _code(lambda: ecs.update_service(cluster="apps", service="web", taskDefinition=v2)) == \
        "InvalidParameterException"
    cd.create_application(applicationName="web", computePlatform="ECS")
    role = f"arn:aws:iam::{account}:role/codedeploy"
    one_group = {"targetGroupPairInfoList": [{"targetGroups": [{"name": "blue"}],
                                              "prodTrafficRoute": {"listenerArns": ["arn:listener"]}}]}
    assert _code(lambda: cd.create_deployment_group(
        applicationName="web", deploymentGroupName="web", serviceRoleArn=role, loadBalancerInfo=one_group,
        ecsServices=[{"serviceName": "web", "clusterName": "apps"}])) == "InvalidTargetGroupPairException"
    cd.create_deployment_group(applicationName="web", deploymentGroupName="web", serviceRoleArn=role,
                               ecsServices=[{"serviceName": "web", "clusterName": "apps"}])
    lambda_spec = {"version": 0.0, "Resources": [{"f": {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": "f", "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"}}}]}
    assert _code(lambda: cd.create_deployment(applicationName="web", deploymentGroupName="web", revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(lambda_spec)}})) == \
        "InvalidRevisionException"
