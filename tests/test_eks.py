"""EKS on the clock, against a real cloud process: clusters CREATING then ACTIVE, node
groups with the cluster's version and their scaling, a version upgrade as an update
that describe_update follows to Successful, add-ons, access entries, Fargate profiles,
EKS's errors, a kubeconfig written by the AWS CLI, and a restart in the middle of an
update. The cloud runs at time scale 600 (a 25-minute upgrade takes 2.5 s)."""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.conftest import free_port, new_account, start_cloud, stop_cloud

SCALE = 600
ROLE = "arn:aws:iam::{}:role/eks-cluster"
NODE_ROLE = "arn:aws:iam::{}:role/eks-node"
VPC = {"subnetIds": ["subnet-0a1", "subnet-0b2"]}


@pytest.fixture(scope="module")
def eks_cloud(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("eks"), time_scale=SCALE)
    yield cloud
    stop_cloud(cloud)


def set_time_scale(cloud, scale: float) -> None:
    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/clock", method="PUT",
                                     data=json.dumps({"time_scale": scale}).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {cloud.admin_token}"})
    with urllib.request.urlopen(request) as resp:
        assert resp.status == 200


def wait_for(read, done, timeout: float = 90.0):
    """Poll ``read()`` until ``done(value)``; generous for a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        time.sleep(0.1)


def error_of(call, *args, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def versions(eks) -> list[str]:
    """The versions EKS offers today, oldest first."""
    found = [v["clusterVersion"] for v in eks.describe_cluster_versions()["clusterVersions"]]
    return sorted(found, key=lambda v: tuple(map(int, v.split("."))))


def cluster(eks, account: str, name: str, **extra) -> dict:
    return eks.create_cluster(name=name, roleArn=ROLE.format(account), resourcesVpcConfig=VPC, **extra)["cluster"]


def active_cluster(eks, account: str, name: str, **extra) -> dict:
    cluster(eks, account, name, **extra)
    return wait_for(lambda: eks.describe_cluster(name=name)["cluster"], lambda c: c["status"] == "ACTIVE")


def status_of(eks, name: str) -> str:
    return eks.describe_cluster(name=name)["cluster"]["status"]


def test_a_cluster_is_creating_then_active_on_the_clock(eks_cloud):
    account = new_account()
    eks = eks_cloud.client("eks", account)
    listed = eks.describe_cluster_versions()["clusterVersions"]
    [default] = [v["clusterVersion"] for v in listed if v["defaultVersion"]]
    assert {v["versionStatus"] for v in listed} <= {"STANDARD_SUPPORT", "EXTENDED_SUPPORT"}
    set_time_scale(eks_cloud, 60)       # 10 minutes are 10 s: room to see CREATING
    try:
        created = cluster(eks, account, "demo")
        assert created["status"] == "CREATING" and created["version"] == default
        assert "endpoint" not in created and not created["certificateAuthority"].get("data")
        assert status_of(eks, "demo") == "CREATING"
        code, status, _ = error_of(eks.create_nodegroup, clusterName="demo", nodegroupName="early",
                                   nodeRole=NODE_ROLE.format(account), subnets=VPC["subnetIds"])
        assert (code, status) == ("InvalidRequestException", 400)
    finally:
        set_time_scale(eks_cloud, SCALE)
    ready = wait_for(lambda: eks.describe_cluster(name="demo")["cluster"], lambda c: c["status"] != "CREATING")
    assert ready["status"] == "ACTIVE"
    assert ready["endpoint"].startswith(eks_cloud.endpoint + "/eks-api/")
    assert base64.b64decode(ready["certificateAuthority"]["data"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert ready["platformVersion"].startswith("eks.")
    assert eks.list_clusters()["clusters"] == ["demo"]

    eks.delete_cluster(name="demo")
    assert status_of(eks, "demo") == "DELETING"
    code, status, _ = error_of(eks.delete_cluster, name="demo")
    assert (code, status) == ("ResourceInUseException", 409)
    wait_for(lambda: eks.list_clusters()["clusters"], lambda names: names == [])
    code, status, message = error_of(eks.describe_cluster, name="demo")
    assert (code, status, message) == ("ResourceNotFoundException", 404, "No cluster found for name: demo.")


def test_a_version_upgrade_runs_as_an_update_that_describe_update_follows(eks_cloud):
    account = new_account()
    eks = eks_cloud.client("eks", account)
    offered = versions(eks)
    assert len(offered) >= 3
    old, new, newest = offered[-3:]
    active_cluster(eks, account, "prod", version=old)
    group = eks.create_nodegroup(clusterName="prod", nodegroupName="workers", nodeRole=NODE_ROLE.format(account),
                                 subnets=VPC["subnetIds"], instanceTypes=["t3.large"],
                                 scalingConfig={"minSize": 2, "maxSize": 5, "desiredSize": 3})["nodegroup"]
    assert group["status"] == "CREATING" and group["version"] == old
    assert group["releaseVersion"].startswith(old + ".")
    assert group["scalingConfig"] == {"minSize": 2, "maxSize": 5, "desiredSize": 3}
    wait_for(lambda: eks.describe_nodegroup(clusterName="prod", nodegroupName="workers")["nodegroup"]["status"],
             lambda s: s == "ACTIVE")

    code, _, message = error_of(eks.update_cluster_version, name="prod", version=newest)
    assert code == "InvalidParameterException" and f"from {old} to {newest}" in message
    set_time_scale(eks_cloud, 60)       # 25 minutes are 25 s while the update is looked at
    try:
        update = eks.update_cluster_version(name="prod", version=new)["update"]
        assert update["status"] == "InProgress" and update["type"] == "VersionUpdate"
        assert {"type": "Version", "value": new} in update["params"]
        assert eks.list_updates(name="prod")["updateIds"] == [update["id"]]
        assert eks.describe_update(name="prod", updateId=update["id"])["update"]["status"] == "InProgress"
        assert status_of(eks, "prod") == "UPDATING"
        code, status, _ = error_of(eks.update_cluster_version, name="prod", version=new)
        assert (code, status) == ("ResourceInUseException", 409)
    finally:
        set_time_scale(eks_cloud, SCALE)
    done = wait_for(lambda: eks.describe_update(name="prod", updateId=update["id"])["update"],
                    lambda u: u["status"] != "InProgress")
    assert done["status"] == "Successful" and done["errors"] == []
    upgraded = eks.describe_cluster(name="prod")["cluster"]
    assert (upgraded["status"], upgraded["version"]) == ("ACTIVE", new)

    # The node group is one version behind: the next control plane step waits for it.
    code, _, message = error_of(eks.update_cluster_version, name="prod", version=newest)
    assert code == "InvalidParameterException" and "workers" in message
    step = eks.update_nodegroup_version(clusterName="prod", nodegroupName="workers")["update"]
    assert step["type"] == "VersionUpdate" and step["status"] == "InProgress"
    assert eks.list_updates(name="prod", nodegroupName="workers")["updateIds"] == [step["id"]]
    assert eks.list_updates(name="prod")["updateIds"] == [update["id"]]
    wait_for(lambda: eks.describe_update(name="prod", updateId=step["id"], nodegroupName="workers")["update"],
             lambda u: u["status"] == "Successful")
    group = eks.describe_nodegroup(clusterName="prod", nodegroupName="workers")["nodegroup"]
    assert (group["status"], group["version"]) == ("ACTIVE", new)
    assert group["releaseVersion"].startswith(new + ".")
    assert group["scalingConfig"] == {"minSize": 2, "maxSize": 5, "desiredSize": 3}

    trail = eks_cloud.client("cloudtrail", account)
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                    "AttributeValue": "UpdateClusterVersion"}])["Events"]
    recorded = [json.loads(e["CloudTrailEvent"]) for e in events]
    assert [(e["requestParameters"]["name"], e["requestParameters"]["version"]) for e in recorded
            if "errorCode" not in e] == [("prod", new)]
    assert all(e["eventSource"] == "eks.amazonaws.com" for e in recorded)
    assert {"ResourceType": "AWS::EKS::Cluster", "ResourceName": "prod"} in events[0]["Resources"]


def test_node_group_scaling_and_the_errors_eks_answers(eks_cloud):
    account = new_account()
    eks = eks_cloud.client("eks", account)
    code, status, message = error_of(cluster, eks, account, "old", version="1.19")
    assert (code, status) == ("InvalidParameterException", 400) and "1.19" in message
    active_cluster(eks, account, "shop")
    code, status, _ = error_of(cluster, eks, account, "shop")
    assert (code, status) == ("ResourceInUseException", 409)
    role, subnets = NODE_ROLE.format(account), VPC["subnetIds"]
    code, _, message = error_of(eks.create_nodegroup, clusterName="shop", nodegroupName="ng", nodeRole=role,
                                subnets=subnets, scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 4})
    assert code == "InvalidParameterException" and "max size 2" in message
    eks.create_nodegroup(clusterName="shop", nodegroupName="ng", nodeRole=role, subnets=subnets)
    code, _, _ = error_of(eks.update_nodegroup_config, clusterName="shop", nodegroupName="ng",
                          scalingConfig={"desiredSize": 3})
    assert code == "ResourceInUseException"      # still CREATING
    wait_for(lambda: eks.describe_nodegroup(clusterName="shop", nodegroupName="ng")["nodegroup"]["status"],
             lambda s: s == "ACTIVE")
    code, _, _ = error_of(eks.update_nodegroup_config, clusterName="shop", nodegroupName="ng",
                          scalingConfig={"desiredSize": 9})
    assert code == "InvalidParameterException"
    update = eks.update_nodegroup_config(clusterName="shop", nodegroupName="ng", labels={"addOrUpdateLabels":
                                                                                          {"tier": "web"}},
                                         scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 3})["update"]
    assert update["type"] == "ConfigUpdate"
    assert {"type": "DesiredSize", "value": "3"} in update["params"]
    wait_for(lambda: eks.describe_update(name="shop", updateId=update["id"], nodegroupName="ng")["update"]["status"],
             lambda s: s == "Successful")
    group = eks.describe_nodegroup(clusterName="shop", nodegroupName="ng")["nodegroup"]
    assert group["scalingConfig"] == {"minSize": 1, "maxSize": 4, "desiredSize": 3}
    assert group["labels"] == {"tier": "web"}
    eks.tag_resource(resourceArn=group["nodegroupArn"], tags={"team": "shop"})
    assert eks.list_tags_for_resource(resourceArn=group["nodegroupArn"])["tags"] == {"team": "shop"}
    code, status, _ = error_of(eks.list_tags_for_resource,
                               resourceArn=group["nodegroupArn"].replace("nodegroup/shop", "nodegroup/gone"))
    assert (code, status) == ("NotFoundException", 404)
    code, status, _ = error_of(eks.describe_update, name="shop", updateId=update["id"])
    assert (code, status) == ("ResourceNotFoundException", 404)   # a node group's update, asked of the cluster

    code, status, _ = error_of(eks.delete_cluster, name="shop")
    assert (code, status) == ("ResourceInUseException", 409)
    eks.delete_nodegroup(clusterName="shop", nodegroupName="ng")
    wait_for(lambda: eks.list_nodegroups(clusterName="shop")["nodegroups"], lambda n: n == [])
    eks.delete_cluster(name="shop")
    code, status, _ = error_of(eks.list_nodegroups, clusterName="nowhere")
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_add_ons_and_their_versions(eks_cloud):
    account = new_account()
    eks = eks_cloud.client("eks", account)
    minor = active_cluster(eks, account, "apps")["version"]
    [info] = eks.describe_addon_versions(addonName="kube-proxy", kubernetesVersion=minor)["addons"]
    offered = [v["addonVersion"] for v in info["addonVersions"]]
    assert offered and all(v.startswith(f"v{minor}.") for v in offered)
    [default] = [v["addonVersion"] for v in info["addonVersions"] if v["compatibilities"][0]["defaultVersion"]]
    names = {a["addonName"] for a in eks.describe_addon_versions(kubernetesVersion=minor)["addons"]}
    assert {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"} <= names

    code, _, _ = error_of(eks.create_addon, clusterName="apps", addonName="kube-proxy", addonVersion="v1.0.0")
    assert code == "InvalidParameterException"
    addon = eks.create_addon(clusterName="apps", addonName="kube-proxy")["addon"]
    assert (addon["status"], addon["addonVersion"]) == ("CREATING", default)
    wait_for(lambda: eks.describe_addon(clusterName="apps", addonName="kube-proxy")["addon"]["status"],
             lambda s: s == "ACTIVE")
    assert eks.list_addons(clusterName="apps")["addons"] == ["kube-proxy"]
    other = next(v for v in offered if v != default)
    update = eks.update_addon(clusterName="apps", addonName="kube-proxy", addonVersion=other)["update"]
    assert update["type"] == "AddonUpdate" and {"type": "AddonVersion", "value": other} in update["params"]
    assert eks.list_updates(name="apps", addonName="kube-proxy")["updateIds"] == [update["id"]]
    wait_for(lambda: eks.describe_update(name="apps", updateId=update["id"], addonName="kube-proxy")["update"],
             lambda u: u["status"] == "Successful")
    assert eks.describe_addon(clusterName="apps", addonName="kube-proxy")["addon"]["addonVersion"] == other
    eks.delete_addon(clusterName="apps", addonName="kube-proxy")
    wait_for(lambda: eks.list_addons(clusterName="apps")["addons"], lambda a: a == [])
    code, status, _ = error_of(eks.describe_addon, clusterName="apps", addonName="kube-proxy")
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_access_entries_and_policies(eks_cloud):
    account = new_account()
    eks = eks_cloud.client("eks", account)
    active_cluster(eks, account, "legacy")      # the API's default: CONFIG_MAP
    code, _, message = error_of(eks.create_access_entry, clusterName="legacy",
                                principalArn=f"arn:aws:iam::{account}:role/dev")
    assert code == "InvalidRequestException" and "API_AND_CONFIG_MAP" in message

    active_cluster(eks, account, "team", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    [creator] = eks.list_access_entries(clusterName="team")["accessEntries"]   # the creator, bootstrapped
    admin = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert [p["policyArn"] for p in eks.list_associated_access_policies(
        clusterName="team", principalArn=creator)["associatedAccessPolicies"]] == [admin]
    policies = {p["name"] for p in eks.list_access_policies()["accessPolicies"]}
    assert {"AmazonEKSClusterAdminPolicy", "AmazonEKSViewPolicy", "AmazonEKSEditPolicy"} <= policies

    principal = f"arn:aws:iam::{account}:role/teams/dev"     # a role with a path: slashes in the URL
    entry = eks.create_access_entry(clusterName="team", principalArn=principal,
                                    kubernetesGroups=["developers"])["accessEntry"]
    assert entry["type"] == "STANDARD" and entry["username"].startswith(f"arn:aws:sts::{account}:assumed-role/dev/")
    code, status, _ = error_of(eks.create_access_entry, clusterName="team", principalArn=principal)
    assert (code, status) == ("ResourceInUseException", 409)
    code, _, _ = error_of(eks.create_access_entry, clusterName="team", principalArn="not-an-arn")
    assert code == "InvalidParameterException"
    view = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
    code, _, _ = error_of(eks.associate_access_policy, clusterName="team", principalArn=principal,
                          policyArn=view, accessScope={"type": "namespace"})
    assert code == "InvalidParameterException"
    associated = eks.associate_access_policy(clusterName="team", principalArn=principal, policyArn=view,
                                             accessScope={"type": "namespace", "namespaces": ["shop"]})
    assert associated["principalArn"] == principal
    assert associated["associatedAccessPolicy"]["accessScope"] == {"type": "namespace", "namespaces": ["shop"]}
    assert eks.list_access_entries(clusterName="team", associatedPolicyArn=view)["accessEntries"] == [principal]
    assert eks.describe_access_entry(clusterName="team", principalArn=principal)["accessEntry"][
        "kubernetesGroups"] == ["developers"]
    trail = eks_cloud.client("cloudtrail", account)
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                    "AttributeValue": "AssociateAccessPolicy"}])["Events"]
    recorded = [json.loads(e["CloudTrailEvent"]) for e in events]
    assert [(e["requestParameters"]["principalArn"], e.get("errorCode")) for e in recorded] == \
        [(principal, None), (principal, "InvalidParameterException")]      # newest first
    eks.disassociate_access_policy(clusterName="team", principalArn=principal, policyArn=view)
    assert eks.list_associated_access_policies(clusterName="team", principalArn=principal)[
        "associatedAccessPolicies"] == []
    eks.delete_access_entry(clusterName="team", principalArn=principal)
    code, status, _ = error_of(eks.describe_access_entry, clusterName="team", principalArn=principal)
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_fargate_profiles_come_and_go_on_the_clock(eks_cloud):
    account = new_account()
    eks = eks_cloud.client("eks", account)
    active_cluster(eks, account, "serverless")
    profile = eks.create_fargate_profile(clusterName="serverless", fargateProfileName="jobs",
                                         podExecutionRoleArn=f"arn:aws:iam::{account}:role/pods",
                                         selectors=[{"namespace": "jobs"}])["fargateProfile"]
    assert profile["status"] == "CREATING"
    wait_for(lambda: eks.describe_fargate_profile(clusterName="serverless", fargateProfileName="jobs")[
        "fargateProfile"]["status"], lambda s: s == "ACTIVE")
    assert eks.list_fargate_profiles(clusterName="serverless")["fargateProfileNames"] == ["jobs"]
    code, _, _ = error_of(eks.delete_cluster, name="serverless")
    assert code == "ResourceInUseException"
    eks.delete_fargate_profile(clusterName="serverless", fargateProfileName="jobs")
    wait_for(lambda: eks.list_fargate_profiles(clusterName="serverless")["fargateProfileNames"], lambda n: n == [])


def test_the_aws_cli_writes_a_kubeconfig_naming_the_endpoint(eks_cloud, tmp_path):
    account = new_account()
    eks = eks_cloud.client("eks", account)
    ready = active_cluster(eks, account, "web")
    env = {**eks_cloud.env(account), "AWS_ENDPOINT_URL": eks_cloud.endpoint}
    kubeconfig = tmp_path / "config"
    result = subprocess.run(["aws", "eks", "update-kubeconfig", "--name", "web", "--kubeconfig", str(kubeconfig)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(kubeconfig.read_text())
    [entry] = config["clusters"]
    assert entry["name"] == ready["arn"]
    assert entry["cluster"]["server"] == ready["endpoint"]
    assert entry["cluster"]["certificate-authority-data"] == ready["certificateAuthority"]["data"]
    assert config["current-context"] == ready["arn"]
    [user] = config["users"]
    assert user["user"]["exec"]["args"][:4] == ["--region", "us-east-1", "eks", "get-token"]

    # The endpoint answers, as a Kubernetes Status that says what the workshop does not run.
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(ready["endpoint"] + "/api/v1/namespaces/default/pods", timeout=10)
    status = json.loads(answer.value.read())
    assert answer.value.code == 503 and status["kind"] == "Status"
    assert "no Kubernetes API server" in status["message"]


def test_restart_keeps_clusters_and_an_update_in_flight(tmp_path):
    port = free_port()
    first = start_cloud(tmp_path, time_scale=SCALE, port=port)
    account = new_account()
    try:
        eks = first.client("eks", account)
        old, new = versions(eks)[-2:]
        active_cluster(eks, account, "kept", version=old, accessConfig={"authenticationMode": "API"})
        set_time_scale(first, 1)        # the upgrade would take 25 real minutes: it is in flight at the stop
        update = eks.update_cluster_version(name="kept", version=new)["update"]
        stop_cloud(first, keep_data=True)
        second = start_cloud(tmp_path, time_scale=60, data_dir=first.data_dir, port=port)
        try:
            eks = second.client("eks", account)
            kept = eks.describe_cluster(name="kept")["cluster"]
            assert (kept["status"], kept["version"]) == ("UPDATING", old)
            assert eks.describe_update(name="kept", updateId=update["id"])["update"]["status"] == "InProgress"
            assert len(eks.list_access_entries(clusterName="kept")["accessEntries"]) == 1
            set_time_scale(second, 6000)
            wait_for(lambda: eks.describe_update(name="kept", updateId=update["id"])["update"]["status"],
                     lambda s: s == "Successful")
            assert eks.describe_cluster(name="kept")["cluster"]["version"] == new
        finally:
            stop_cloud(second)
    finally:
        if first.process.poll() is None:
            stop_cloud(first)


def test_the_backend_pickles_with_its_work_under_way():
    from workshop.cloud import snapshot
    from workshop.cloud.services.eks.models import WorkshopEKSBackend, eks_backends

    backend = eks_backends["975318642024"]["us-east-1"]
    assert isinstance(backend, WorkshopEKSBackend)
    backend.create_cluster("pickled", ROLE.format("975318642024"), VPC)
    again = pickle.loads(snapshot.dumps(backend))
    assert again.clusters["pickled"].status == "CREATING"
    assert [w["kind"] for w in again.ws_work] == ["cluster-create"]
    assert again.advance(600) and again.clusters["pickled"].status == "ACTIVE"


def test_a_backend_from_before_this_extension_is_adopted():
    from moto.eks.models import EKSBackend

    from workshop.cloud.services.eks.models import WorkshopEKSBackend, backend, eks_backends
    from workshop.cloud.services.eks.responses import cluster_view

    old = EKSBackend("us-east-1", "864297531024")       # moto's own, as an older snapshot holds it
    EKSBackend.create_cluster(old, "legacy", ROLE.format("864297531024"), VPC)
    dict.__setitem__(eks_backends["864297531024"], "us-east-1", old)
    adopted = backend("864297531024", "us-east-1")
    assert isinstance(adopted, WorkshopEKSBackend) and eks_backends["864297531024"]["us-east-1"] is adopted
    view = cluster_view(adopted.describe_cluster("legacy"))
    assert view["status"] == "ACTIVE" and "/eks-api/" in view["endpoint"]
    assert adopted.list_updates("legacy") == []
