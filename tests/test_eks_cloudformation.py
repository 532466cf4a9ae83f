"""AWS::EKS::Cluster and AWS::EKS::Nodegroup in a stack, on the clock (a cloud at time scale
600): the stack waits while the cluster is CREATING and completes once both are ACTIVE;
GetAtt answers the cluster's endpoint as describe_cluster does; drift is IN_SYNC, then
MODIFIED at /ScalingConfig/DesiredSize after update_nodegroup_config out of band; a new
Version in the template upgrades the cluster then the node group as EKS updates that
describe_update reports Successful; deleting the stack waits for EKS to delete them."""

from __future__ import annotations

import json

import pytest

from tests import ecs_images as ei
from tests.conftest import new_account, start_cloud, stop_cloud

SUBNETS = ["subnet-0a1", "subnet-0b2"]


@pytest.fixture(scope="module")
def eks_cloud(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("eks-cfn"), time_scale=600)
    yield cloud
    stop_cloud(cloud)


def template(account: str, version: str) -> str:
    return json.dumps({
        "Parameters": {"Version": {"Type": "String", "Default": version}},
        "Resources": {
            "Cluster": {"Type": "AWS::EKS::Cluster", "Properties": {
                "Name": "shop", "Version": {"Ref": "Version"}, "RoleArn": f"arn:aws:iam::{account}:role/eks-cluster",
                "ResourcesVpcConfig": {"SubnetIds": SUBNETS, "EndpointPublicAccess": True},
                "Logging": {"ClusterLogging": {"EnabledTypes": [{"Type": "api"}, {"Type": "audit"}]}},
                "AccessConfig": {"AuthenticationMode": "API"},
                "Tags": [{"Key": "lab", "Value": "05-containers"}]}},
            "Nodes": {"Type": "AWS::EKS::Nodegroup", "Properties": {
                "ClusterName": {"Ref": "Cluster"}, "NodegroupName": "ng", "Version": {"Ref": "Version"},
                "NodeRole": f"arn:aws:iam::{account}:role/eks-node", "Subnets": SUBNETS,
                "ScalingConfig": {"MinSize": 1, "MaxSize": 3, "DesiredSize": 2},
                "Labels": {"team": "shop"}, "Tags": {"lab": "05-containers"}}}},
        "Outputs": {
            "Arn": {"Value": {"Fn::GetAtt": ["Cluster", "Arn"]}},
            "Endpoint": {"Value": {"Fn::GetAtt": ["Cluster", "Endpoint"]}},
            "Ca": {"Value": {"Fn::GetAtt": ["Cluster", "CertificateAuthorityData"]}},
            "NodesRef": {"Value": {"Ref": "Nodes"}},
            "NodesArn": {"Value": {"Fn::GetAtt": ["Nodes", "Arn"]}}}})


def _wait(cf, waiter: str) -> None:
    try:
        cf.get_waiter(waiter).wait(StackName="eks", WaiterConfig={"Delay": 1, "MaxAttempts": 240})
    except Exception:
        events = cf.describe_stack_events(StackName="eks")["StackEvents"]
        raise AssertionError([(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason"))
                              for e in events if "FAILED" in e["ResourceStatus"]]) from None


def _drift(cf) -> dict[str, dict]:
    detection = cf.detect_stack_drift(StackName="eks")["StackDriftDetectionId"]
    ei.wait_for(lambda: cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection)[
        "DetectionStatus"] != "DETECTION_IN_PROGRESS", timeout=60)
    return {d["LogicalResourceId"]: d for d in cf.describe_stack_resource_drifts(StackName="eks")[
        "StackResourceDrifts"]}


def test_a_cluster_and_node_group_stack_on_the_clock(eks_cloud):
    account = new_account()
    cf, eks = eks_cloud.client("cloudformation", account), eks_cloud.client("eks", account)
    offered = [v["clusterVersion"] for v in eks.describe_cluster_versions()["clusterVersions"]]
    old, new = sorted(offered, key=lambda v: tuple(int(p) for p in v.split(".")))[-2:]

    cf.create_stack(StackName="eks", TemplateBody=template(account, old))
    # The stack runs in the background while EKS creates the cluster (10 clock minutes).
    assert cf.describe_stacks(StackName="eks")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
    ei.wait_for(lambda: "shop" in eks.list_clusters()["clusters"], timeout=30)
    assert eks.describe_cluster(name="shop")["cluster"]["status"] == "CREATING"
    _wait(cf, "stack_create_complete")
    cluster = eks.describe_cluster(name="shop")["cluster"]
    group = eks.describe_nodegroup(clusterName="shop", nodegroupName="ng")["nodegroup"]
    assert (cluster["status"], cluster["version"], group["status"], group["version"]) == ("ACTIVE", old, "ACTIVE", old)
    assert cluster["accessConfig"]["authenticationMode"] == "API" and cluster["tags"] == {"lab": "05-containers"}
    assert {t for entry in cluster["logging"]["clusterLogging"] if entry["enabled"] for t in entry["types"]} == {
        "api", "audit"}
    assert group["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 2}
    assert group["labels"] == {"team": "shop"}
    out = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName="eks")["Stacks"][0]["Outputs"]}
    assert (out["Arn"], out["Endpoint"], out["Ca"]) == (cluster["arn"], cluster["endpoint"],
                                                         cluster["certificateAuthority"]["data"])
    assert (out["NodesRef"], out["NodesArn"]) == ("shop/ng", group["nodegroupArn"])

    # Drift: IN_SYNC, then the node group scaled out of band.
    assert {k: d["StackResourceDriftStatus"] for k, d in _drift(cf).items()} == {"Cluster": "IN_SYNC",
                                                                                 "Nodes": "IN_SYNC"}
    update = eks.update_nodegroup_config(clusterName="shop", nodegroupName="ng",
                                         scalingConfig={"desiredSize": 3})["update"]["id"]
    ei.wait_for(lambda: eks.describe_update(name="shop", updateId=update, nodegroupName="ng")["update"][
        "status"] == "Successful", timeout=30)
    found = _drift(cf)
    assert found["Cluster"]["StackResourceDriftStatus"] == "IN_SYNC"
    assert found["Nodes"]["PropertyDifferences"] == [{"PropertyPath": "/ScalingConfig/DesiredSize",
                                                      "ExpectedValue": "2", "ActualValue": "3",
                                                      "DifferenceType": "NOT_EQUAL"}]

    # A new Version: the cluster's upgrade, then the node group's, as EKS updates.
    cf.update_stack(StackName="eks", TemplateBody=template(account, old),
                    Parameters=[{"ParameterKey": "Version", "ParameterValue": new}])
    _wait(cf, "stack_update_complete")
    assert eks.describe_cluster(name="shop")["cluster"]["version"] == new
    assert eks.describe_nodegroup(clusterName="shop", nodegroupName="ng")["nodegroup"]["version"] == new
    cluster_updates = [eks.describe_update(name="shop", updateId=u)["update"]
                       for u in eks.list_updates(name="shop")["updateIds"]]
    assert [(u["type"], u["status"]) for u in cluster_updates] == [("VersionUpdate", "Successful")]
    assert {"type": "Version", "value": new} in cluster_updates[0]["params"]
    group_updates = [eks.describe_update(name="shop", updateId=u, nodegroupName="ng")["update"]
                     for u in eks.list_updates(name="shop", nodegroupName="ng")["updateIds"]]
    assert sorted((u["type"], u["status"]) for u in group_updates) == [("ConfigUpdate", "Successful"),
                                                                     ("VersionUpdate", "Successful")]

    cf.delete_stack(StackName="eks")
    _wait(cf, "stack_delete_complete")
    assert eks.list_clusters()["clusters"] == []
