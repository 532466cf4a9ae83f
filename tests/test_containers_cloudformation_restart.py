"""A containers stack survives a restart of the cloud: its resource models (kept in the stack's
snapshot) still read their resources back for drift, update them in place and delete them."""

from __future__ import annotations

import json
import time

from tests.conftest import free_port, new_account, start_cloud, stop_cloud
from tests.elb_setup import network


def template(vpc: str, subnets: list[str], grace: int) -> str:
    return json.dumps({"Resources": {
        "Repo": {"Type": "AWS::ECR::Repository", "Properties": {
            "RepositoryName": "kept", "ImageScanningConfiguration": {"ScanOnPush": True}}},
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "kept"}},
        "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            "Family": "kept", "NetworkMode": "bridge", "Memory": "512",
            "ContainerDefinitions": [{"Name": "web", "Image": "127.0.0.1:1/kept:v1",
                                      "PortMappings": [{"ContainerPort": 8080}]}]}},
        "Lb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
            "Name": "kept", "Type": "application", "Subnets": subnets}},
        "Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
            "Name": "kept", "Protocol": "HTTP", "Port": 80, "VpcId": vpc, "TargetType": "ip"}},
        "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
            "LoadBalancerArn": {"Ref": "Lb"}, "Protocol": "HTTP", "Port": 80,
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Tg"}}]}},
        # No tasks (a desired count of 0): what is kept is the stack's, not the ECS engine's.
        "Service": {"Type": "AWS::ECS::Service", "DependsOn": "Listener", "Properties": {
            "ServiceName": "kept", "Cluster": {"Ref": "Cluster"}, "TaskDefinition": {"Ref": "Task"},
            "DesiredCount": 0, "HealthCheckGracePeriodSeconds": grace,
            "LoadBalancers": [{"ContainerName": "web", "ContainerPort": 8080, "TargetGroupArn": {"Ref": "Tg"}}]}}}})


def _settle(cf, wanted: str, stack: str = "kept") -> None:
    deadline = time.monotonic() + 120
    while (status := cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]).endswith("_IN_PROGRESS"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status == wanted


def _drift(cf) -> dict[str, str]:
    detection = cf.detect_stack_drift(StackName="kept")["StackDriftDetectionId"]
    while cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection)[
            "DetectionStatus"] == "DETECTION_IN_PROGRESS":
        time.sleep(0.2)
    return {d["LogicalResourceId"]: d["StackResourceDriftStatus"]
            for d in cf.describe_stack_resource_drifts(StackName="kept")["StackResourceDrifts"]}


def test_a_containers_stack_is_read_updated_and_deleted_after_a_restart(tmp_path):
    port, account = free_port(), new_account()
    first = start_cloud(tmp_path, port=port)
    try:
        vpc, subnets = network(first.client("ec2", account))
        cf = first.client("cloudformation", account)
        stack_id = cf.create_stack(StackName="kept", TemplateBody=template(vpc, subnets, 0))["StackId"]
        _settle(cf, "CREATE_COMPLETE")
        assert set(_drift(cf).values()) == {"IN_SYNC"}
        stop_cloud(first, keep_data=True)
        second = start_cloud(tmp_path, data_dir=first.data_dir, port=port)
        try:
            cf, ecs = second.client("cloudformation", account), second.client("ecs", account)
            assert _drift(cf) == {k: "IN_SYNC" for k in ("Repo", "Cluster", "Task", "Lb", "Tg", "Listener",
                                                         "Service")}
            ecs.update_service(cluster="kept", service="kept", healthCheckGracePeriodSeconds=30)
            assert _drift(cf)["Service"] == "MODIFIED"
            cf.update_stack(StackName="kept", TemplateBody=template(vpc, subnets, 60))
            _settle(cf, "UPDATE_COMPLETE")
            assert ecs.describe_services(cluster="kept", services=["kept"])["services"][0][
                "healthCheckGracePeriodSeconds"] == 60
            cf.delete_stack(StackName="kept")
            _settle(cf, "DELETE_COMPLETE", stack_id)   # a deleted stack is found by its id only
            assert second.client("elbv2", account).describe_load_balancers()["LoadBalancers"] == []
            assert second.client("ecr", account).describe_repositories()["repositories"] == []
            assert ecs.describe_services(cluster="kept", services=["kept"])["services"][0]["status"] == "INACTIVE"
        finally:
            stop_cloud(second)
    finally:
        if first.process.poll() is None:
            stop_cloud(first)
