"""Lab 05-containers' helpers for Parts 1-3: the image built and pushed with the project's own
builder (``build_image``: ``workshop image build``, no Docker), an app that exits at start, waits
on scans, ECS rollouts and CodeDeploy deployments, and the lab's reset. Like every lab helper it
reaches AWS only through ``checker.session`` (and the builder, which does the same)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from checker.labs.lab05_containers import (
    BG_LOAD_BALANCER,
    BG_SERVICE,
    BLUE_GROUP,
    BUILD_PREFIX,
    CD_APP,
    CD_GROUP,
    CD_ROLE,
    CLUSTER,
    GREEN_GROUP,
    LAB_ID,
    LOAD_BALANCER,
    PLANTED,
    REPO_NAME,
    SERVICE,
    TARGET_GROUP,
)
from labkit.reset import Cleanup, resetter

__all__ = ["LAB_ID", "REPO_NAME", "CLUSTER", "SERVICE", "LOAD_BALANCER", "TARGET_GROUP", "BG_SERVICE",
           "BG_LOAD_BALANCER", "BLUE_GROUP", "GREEN_GROUP", "CD_APP", "CD_GROUP", "CD_ROLE", "PLANTED", "BUILD_PREFIX",
           "build_image", "crashing_app", "wait_for_scan", "wait_for_rollout", "wait_for_deployment", "network",
           "reset"]


def _client(service: str):
    from checker.session import client

    return client(service)


# -- images -----------------------------------------------------------------------------------

def _images_dir() -> Path:
    """Where the builder keeps images: the workshop's data dir when the Python base image is there
    (``workshop up`` makes it), else a folder beside the lab with a base made from this Python."""
    from workshop import settings
    from workshop.images import base

    data = settings.data_dir()
    try:
        if base.get(data) is not None:
            return data
    except OSError:
        pass
    local = Path.cwd() / ".workshop-images"
    if base.get(local) is None:
        local.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "workshop", "image", "base", "--from", "python", "--if-missing",
                        "--data-dir", str(local)], check=True)
    return local


def build_image(folder: str | Path, tag: str, cmd: str | None = None, env: dict[str, str] | None = None) -> str:
    """``workshop image build FOLDER -t TAG`` (``TAG`` is ``repositoryUri:tag``): the folder on the
    Python base image, its requirements.txt installed, pushed with your ECR token. The pushed digest."""
    argv = [sys.executable, "-m", "workshop", "image", "build", str(folder), "-t", tag,
            "--data-dir", str(_images_dir())]
    if cmd:
        argv += ["--cmd", cmd]
    for key, value in (env or {}).items():
        argv += ["--env", f"{key}={value}"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ))
    print(proc.stdout.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"workshop image build failed ({proc.returncode}): {proc.stderr.strip()}")
    pushed = [line.split() for line in proc.stdout.splitlines() if line.startswith("pushed ")]
    return pushed[-1][2] if pushed else ""


def crashing_app(dest: str | Path) -> Path:
    """A folder whose app exits at start (no database), as a bad release does."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "crash.py").write_text("import sys\nprint('cannot start: no database', flush=True)\nsys.exit(3)\n")
    return dest


def wait_for_scan(tag: str, repository: str = REPO_NAME, timeout: float = 120.0, ecr=None) -> dict:
    """Wait for the image's scan to be COMPLETE; describe_image_scan_findings' answer."""
    ecr = ecr or _client("ecr")
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = ecr.describe_image_scan_findings(repositoryName=repository, imageId={"imageTag": tag})
            if found["imageScanStatus"]["status"] in ("COMPLETE", "FAILED"):
                return found
        except ecr.exceptions.ScanNotFoundException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the scan of {repository}:{tag} did not complete in {timeout:.0f} s")
        time.sleep(0.5)


# -- networks, rollouts, deployments ------------------------------------------------------------

def network(ec2=None) -> tuple[str, list[str]]:
    """The lab's VPC (tagged with the lab) and two subnets in two zones, made once."""
    ec2 = ec2 or _client("ec2")
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:workshop:lab", "Values": [LAB_ID]}])["Vpcs"]
    if found:
        vpc = found[0]["VpcId"]
    else:
        vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16", TagSpecifications=[{
            "ResourceType": "vpc", "Tags": [{"Key": "workshop:lab", "Value": LAB_ID}]}])["Vpc"]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    for i, zone in enumerate("ab"[len(subnets):], start=len(subnets) + 1):
        subnets.append(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.5.{i}.0/24",
                                         AvailabilityZone=f"{ec2.meta.region_name}{zone}")["Subnet"]["SubnetId"])
    return vpc, subnets


def wait_for_rollout(service: str = SERVICE, cluster: str = CLUSTER, timeout: float = 300.0, ecs=None) -> dict:
    """Wait until the service's newest deployment is COMPLETED or FAILED and a single deployment is
    left (a failed one has rolled back); the service as describe_services shows it then."""
    ecs = ecs or _client("ecs")
    deadline = time.monotonic() + timeout
    while True:
        svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        deployments = svc["deployments"]
        if len(deployments) == 1 and deployments[0]["rolloutState"] in ("COMPLETED", "FAILED") \
                and svc["runningCount"] == svc["desiredCount"]:
            return svc
        if time.monotonic() > deadline:
            states = [(d["taskDefinition"].rsplit("/", 1)[-1], d["rolloutState"]) for d in deployments]
            raise TimeoutError(f"{service} did not settle in {timeout:.0f} s: {states}")
        time.sleep(0.5)


def wait_for_deployment(deployment_id: str, statuses=("Succeeded", "Failed", "Stopped"), timeout: float = 300.0,
                        cd=None) -> dict:
    """Wait until a CodeDeploy deployment's status is one of ``statuses``; its deploymentInfo."""
    cd = cd or _client("codedeploy")
    deadline = time.monotonic() + timeout
    while True:
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        if info["status"] in statuses:
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"deployment {deployment_id} is {info['status']} after {timeout:.0f} s")
        time.sleep(0.5)


# -- reset --------------------------------------------------------------------------------------

@resetter(LAB_ID)
def reset(cleanup: Cleanup) -> None:
    """The CodeDeploy application, the services (stopped, then deleted), the cluster, the load
    balancers and target groups, the task definitions of the lab's families, the repository with
    its images, the lab's VPC; first, what Parts 4-6 made (``lab05_choices.reset_choices``)."""
    from labkit.lab05_choices import reset_choices

    reset_choices(cleanup)
    cd = cleanup.client("codedeploy")
    if CD_APP in cd.list_applications().get("applications", []):
        cleanup.attempt(f"deleted CodeDeploy application {CD_APP}", lambda: cd.delete_application(
            applicationName=CD_APP))
    ecs = cleanup.client("ecs")
    clusters = ecs.describe_clusters(clusters=[CLUSTER]).get("clusters", [])
    if clusters and clusters[0].get("status") == "ACTIVE":
        for arn in ecs.list_services(cluster=CLUSTER).get("serviceArns", []):
            name = arn.rsplit("/", 1)[-1]
            cleanup.attempt(f"deleted ECS service {name}",
                     lambda n=name: ecs.delete_service(cluster=CLUSTER, service=n, force=True))
        # A deleted service drains its tasks (DRAINING, then INACTIVE); AWS keeps a cluster with draining
        # services from being deleted.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(
                s.get("status") == "DRAINING" for s in ecs.describe_services(
                    cluster=CLUSTER, services=[SERVICE, BG_SERVICE]).get("services", [])):
            time.sleep(0.5)
        for arn in ecs.list_tasks(cluster=CLUSTER).get("taskArns", []):
            try:
                ecs.stop_task(cluster=CLUSTER, task=arn, reason="workshop reset")
            except Exception:  # noqa: BLE001 (a task that stopped meanwhile)
                pass
        cleanup.attempt(f"deleted ECS cluster {CLUSTER}", lambda: ecs.delete_cluster(cluster=CLUSTER))
    for family in (SERVICE, BG_SERVICE, f"{SERVICE}-bad"):
        arns = ecs.list_task_definitions(familyPrefix=family, status="ACTIVE").get("taskDefinitionArns", [])
        for arn in arns:
            ecs.deregister_task_definition(taskDefinition=arn)
        if arns:
            cleanup.did(f"deregistered {len(arns)} task definition(s) of {family}")
    elb = cleanup.client("elbv2")
    for name in (LOAD_BALANCER, BG_LOAD_BALANCER):
        try:
            arn = elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]["LoadBalancerArn"]
        except Exception:  # noqa: BLE001 (LoadBalancerNotFound)
            continue
        cleanup.attempt(f"deleted load balancer {name}", lambda a=arn: elb.delete_load_balancer(LoadBalancerArn=a))
    for name in (TARGET_GROUP, BLUE_GROUP, GREEN_GROUP):
        try:
            arn = elb.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
        except Exception:  # noqa: BLE001 (TargetGroupNotFound)
            continue
        cleanup.attempt(f"deleted target group {name}", lambda a=arn: elb.delete_target_group(TargetGroupArn=a))
    iam = cleanup.client("iam")
    if any(r["RoleName"] == CD_ROLE for r in iam.list_roles().get("Roles", [])):
        for name in iam.list_role_policies(RoleName=CD_ROLE).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=CD_ROLE, PolicyName=name)
        cleanup.attempt(f"deleted IAM role {CD_ROLE}", lambda: iam.delete_role(RoleName=CD_ROLE))
    ecr = cleanup.client("ecr")
    cleanup.attempt(f"deleted repository {REPO_NAME} and its images",
             lambda: ecr.delete_repository(repositoryName=REPO_NAME, force=True),
             missing=("RepositoryNotFoundException",))
    ec2 = cleanup.client("ec2")
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "tag:workshop:lab", "Values": [LAB_ID]}])["Vpcs"]:
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
            cleanup.attempt(f"deleted subnet {subnet['SubnetId']}",
                     lambda s=subnet["SubnetId"]: ec2.delete_subnet(SubnetId=s))
        cleanup.attempt(f"deleted VPC {vpc['VpcId']}", lambda v=vpc["VpcId"]: ec2.delete_vpc(VpcId=v))
