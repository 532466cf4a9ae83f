"""Lab 05-containers Parts 4-6 helpers: the roles Express Mode and App Runner assume, App Runner's
create with AWS's refusal said plainly, requests until a URL answers, EKS's waits on the clock, the
kubeconfig `aws eks update-kubeconfig` writes (saved to the lab's bucket), the decision matrix shown
and saved, and what a reset of these parts deletes. AWS only through ``checker.session``."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from checker.labs import bucket_name
from checker.labs.lab05_choices import (
    APPRUNNER_SERVICE,
    BUCKET_PREFIX,
    CHOICES,
    CRITERIA,
    EKS_CLUSTER,
    EKS_NODEGROUP,
    EXPRESS_SERVICE,
    KUBECONFIG_KEY,
    KUBECONFIG_PATH,
    LAB_ID,
    MATRIX_KEY,
    WORKLOADS,
    Choices,
    _entry,
    apprunner_refusal,
    parse_matrix,
)
from labkit import account_id, lab_tags, region

__all__ = ["LAB_ID", "EXPRESS_SERVICE", "APPRUNNER_SERVICE", "EKS_CLUSTER", "EKS_NODEGROUP", "KUBECONFIG_PATH",
           "express_roles", "app_runner_role", "create_app_runner_service", "wait_until_answers", "eks_roles",
           "eks_subnets", "eks_versions", "wait_for_cluster", "wait_for_nodegroup", "wait_for_update",
           "write_kubeconfig", "show_workloads", "save_decisions", "lab_bucket", "reset_choices", "AppRunnerClosed",
           "wait_for_app_runner"]


def _client(service: str):
    from checker.session import client

    return client(service)


def lab_bucket() -> str:
    """The lab's bucket (``workshop-05-containers-<account>-<region>``), made (tagged) if missing."""
    from botocore.exceptions import ClientError

    name = bucket_name(BUCKET_PREFIX, account_id(), region())
    s3 = _client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        extra = {} if region() == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region()}}
        s3.create_bucket(Bucket=name, **extra)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": lab_tags(LAB_ID)})
    return name


# -- roles -----------------------------------------------------------------------------------------

def _role(name: str, principal: str, managed: list[str] = ()) -> str:
    """An IAM role that ``principal`` may assume (made once, tagged for the lab); its ARN."""
    iam = _client("iam")
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        pass
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": principal},
                                                     "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=lab_tags(LAB_ID))[
        "Role"]["Arn"]
    for policy in managed:
        try:
            iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        except iam.exceptions.NoSuchEntityException:
            from checker.session import target

            if not target().is_emulator:
                raise
            # The workshop cloud does not load AWS's managed policies (nor check permissions).
    return arn


def express_roles() -> dict[str, str]:
    """The two roles an Express Mode service needs: the task execution role (pulls the image, writes
    logs) and the infrastructure role (ECS makes the load balancer, target groups and scaling)."""
    return {"execution": _role("workshop-05-express-execution", "ecs-tasks.amazonaws.com",
                               ["service-role/AmazonECSTaskExecutionRolePolicy"]),
            "infrastructure": _role("workshop-05-express-infrastructure", "ecs.amazonaws.com",
                                    ["service-role/AmazonECSInfrastructureRoleforExpressGatewayServices"])}


def app_runner_role() -> str:
    """The role App Runner assumes to pull the image from ECR."""
    return _role("workshop-05-apprunner-ecr", "build.apprunner.amazonaws.com",
                 ["service-role/AWSAppRunnerServicePolicyForECRAccess"])


class AppRunnerClosed(Exception):
    """AWS refused App Runner in this account (closed to new customers since 2026-04-30)."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def create_app_runner_service(name: str, image: str, port: int = 8080) -> dict:
    """Create an App Runner service from an ECR image (or return the one of that name). On an AWS
    account App Runner refuses, raise AppRunnerClosed saying so: the check of this step is then
    skipped and not graded (CloudTrail keeps AWS's refusal)."""
    from botocore.exceptions import ClientError

    from labkit.app_runner import services

    apprunner = _client("apprunner")
    for summary in services(apprunner):
        if summary["ServiceName"] == name:
            return apprunner.describe_service(ServiceArn=summary["ServiceArn"])["Service"]
    try:
        return apprunner.create_service(
            ServiceName=name, Tags=lab_tags(LAB_ID),
            SourceConfiguration={"ImageRepository": {"ImageIdentifier": image, "ImageRepositoryType": "ECR",
                                                     "ImageConfiguration": {"Port": str(port)}},
                                 "AutoDeploymentsEnabled": True,
                                 "AuthenticationConfiguration": {"AccessRoleArn": app_runner_role()}},
            HealthCheckConfiguration={"Protocol": "HTTP", "Path": "/health"})["Service"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        refusal = apprunner_refusal({"errorCode": error.get("Code"), "errorMessage": error.get("Message")})
        if refusal:
            raise AppRunnerClosed(f"AWS refused App Runner in this account ({refusal}). App Runner is closed to new "
                                  "customers since 2026-04-30 and AWS recommends ECS Express Mode: this step's "
                                  "check is skipped and not graded.") from None
        raise


def wait_for_app_runner(arn: str, timeout: float = 900) -> dict:
    """Wait until the service's operation ends (RUNNING, or a failed state); its description."""
    apprunner = _client("apprunner")
    deadline = time.monotonic() + timeout
    while True:
        service = apprunner.describe_service(ServiceArn=arn)["Service"]
        if service["Status"] != "OPERATION_IN_PROGRESS" or time.monotonic() > deadline:
            return service
        time.sleep(1)


def wait_until_answers(url: str, path: str = "/health", requests: int = 10, timeout: float = 300) -> int:
    """Send GET ``url + path`` until ``requests`` answers were 2XX (a service behind a new load balancer
    takes the provisioning time first); how many requests it took. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    good = sent = 0
    while good < requests:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}{path} answered {good} of {sent} requests with 2XX in {timeout:.0f} s")
        sent += 1
        try:
            with urllib.request.urlopen(url.rstrip("/") + path, timeout=10) as resp:
                good += 200 <= resp.status < 300
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    return sent


# -- EKS ---------------------------------------------------------------------------------------------

def eks_roles() -> dict[str, str]:
    """The cluster role (EKS runs the control plane with it) and the node role (the nodes' instances)."""
    return {"cluster": _role("workshop-05-eks-cluster", "eks.amazonaws.com", ["AmazonEKSClusterPolicy"]),
            "node": _role("workshop-05-eks-node", "ec2.amazonaws.com",
                          ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"])}


def eks_subnets(count: int = 2) -> list[str]:
    """Subnets of the default VPC in different availability zones (EKS needs two)."""
    ec2 = _client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    filters = [{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}] if vpcs else []
    by_zone: dict[str, str] = {}
    for subnet in ec2.describe_subnets(Filters=filters)["Subnets"]:
        by_zone.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    return list(by_zone.values())[:count]


def eks_versions() -> tuple[str, str]:
    """(older, newer): the two newest Kubernetes versions EKS offers today, to create at one and
    upgrade to the other."""
    found = [v["clusterVersion"] for v in _client("eks").describe_cluster_versions()["clusterVersions"]]
    ordered = sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))
    return ordered[-2], ordered[-1]


def _wait(read, done, what: str, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: still {value!r} after {timeout:.0f} s")
        time.sleep(every)


def wait_for_cluster(name: str = EKS_CLUSTER, timeout: float = 1800) -> dict:
    """Wait until the cluster is ACTIVE (CREATING takes ~10 minutes on AWS; the workshop's clock
    divides it by its time scale)."""
    eks = _client("eks")
    return _wait(lambda: eks.describe_cluster(name=name)["cluster"], lambda c: c["status"] != "CREATING"
                 and c["status"] != "UPDATING", f"cluster {name}", timeout)


def wait_for_nodegroup(cluster: str = EKS_CLUSTER, nodegroup: str = EKS_NODEGROUP, timeout: float = 1800) -> dict:
    eks = _client("eks")
    return _wait(lambda: eks.describe_nodegroup(clusterName=cluster, nodegroupName=nodegroup)["nodegroup"],
                 lambda n: n["status"] not in ("CREATING", "UPDATING"), f"node group {nodegroup}", timeout)


def wait_for_update(update_id: str, cluster: str = EKS_CLUSTER, nodegroup: str | None = None,
                    timeout: float = 3600) -> dict:
    """Wait until describe_update says the update is no longer InProgress; the update."""
    eks = _client("eks")
    where = {"nodegroupName": nodegroup} if nodegroup else {}
    return _wait(lambda: eks.describe_update(name=cluster, updateId=update_id, **where)["update"],
                 lambda u: u["status"] not in ("InProgress",), f"update {update_id}", timeout)


def write_kubeconfig(cluster: str = EKS_CLUSTER, path: str | Path = KUBECONFIG_PATH) -> Path:
    """Run `aws eks update-kubeconfig --name CLUSTER --kubeconfig PATH` (the AWS CLI reads the cluster's
    endpoint and certificate authority with DescribeCluster), then save the file to the lab's bucket."""
    from checker.session import target

    where = target()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": where.access_key_id, "AWS_SECRET_ACCESS_KEY": where.secret_access_key,
           "AWS_DEFAULT_REGION": where.region}
    if where.endpoint:
        env["AWS_ENDPOINT_URL"] = where.endpoint
    if where.session_token:
        env["AWS_SESSION_TOKEN"] = where.session_token
    done = subprocess.run(["aws", "eks", "update-kubeconfig", "--name", cluster, "--kubeconfig", str(path)],
                          env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"aws eks update-kubeconfig failed: {done.stderr.strip() or done.stdout.strip()}")
    print(done.stdout.strip())
    _client("s3").put_object(Bucket=lab_bucket(), Key=KUBECONFIG_KEY, Body=path.read_bytes())
    return path


# -- the decision matrix -------------------------------------------------------------------------------

def show_workloads() -> None:
    """Print the three workloads, the choices and the criteria to choose with (the words the matrix uses)."""
    print("Workloads:")
    for w in WORKLOADS:
        print(f"  {w.slug}: {w.title}.\n      {w.description}")
    print("\nChoices:")
    for word, what in CHOICES.items():
        print(f"  {word:<24} {what}")
    print("\nCriteria:")
    for word, what in CRITERIA.items():
        print(f"  {word:<24} {what}")


def save_decisions(matrix: dict) -> str:
    """Check the matrix against the vocabulary (printing what is wrong), then save it as JSON to the
    lab's bucket, where the checks read it: ``{"workloads": {SLUG: {"choice": WORD, "criteria":
    [WORD, ...], "reasons": "..."}}}``. Returns the object's S3 URI."""
    body = json.dumps(matrix, indent=2)
    workloads, problem = parse_matrix(body)
    problems = [problem] if problem else []
    if workloads is not None:
        st = Choices(on_aws=False, matrix=workloads)
        problems += [p for p in (_entry(st, w)[1] for w in WORKLOADS) if p]
    for p in problems:
        print(f"Check this: {p}")
    name = lab_bucket()
    _client("s3").put_object(Bucket=name, Key=MATRIX_KEY, Body=body.encode(), ContentType="application/json")
    print(f"saved s3://{name}/{MATRIX_KEY}")
    return f"s3://{name}/{MATRIX_KEY}"


# -- reset ---------------------------------------------------------------------------------------------

def reset_choices(cleanup) -> None:
    """Delete what Parts 4-6 made (lab 05's reset calls it): the Express Mode and App Runner
    services, the node group and cluster, the roles, and the lab bucket's objects of these parts."""
    from botocore.exceptions import ClientError

    missing = ("ResourceNotFoundException", "NoSuchEntity", "ServiceNotFoundException", "NoSuchBucket")

    def attempt(what: str, call) -> None:
        cleanup.attempt(f"deleted {what}", call, missing=missing)

    ecs, eks = cleanup.client("ecs"), cleanup.client("eks")
    try:
        services = ecs.describe_services(cluster="default", services=[EXPRESS_SERVICE]).get("services", [])
    except ClientError:
        services = []
    for service in services:
        if service.get("status") == "ACTIVE":
            attempt(f"Express Mode service {EXPRESS_SERVICE}",
                    lambda arn=service["serviceArn"]: ecs.delete_express_gateway_service(serviceArn=arn))
    apprunner = cleanup.client("apprunner")
    try:
        summaries = apprunner.list_services().get("ServiceSummaryList", [])
    except ClientError:
        summaries = []
    for s in summaries:
        if s["ServiceName"] == APPRUNNER_SERVICE:
            attempt(f"App Runner service {APPRUNNER_SERVICE}",
                    lambda arn=s["ServiceArn"]: apprunner.delete_service(ServiceArn=arn))
    attempt(f"node group {EKS_NODEGROUP}",
            lambda: eks.delete_nodegroup(clusterName=EKS_CLUSTER, nodegroupName=EKS_NODEGROUP))
    try:
        _wait(lambda: eks.list_nodegroups(clusterName=EKS_CLUSTER)["nodegroups"], lambda n: EKS_NODEGROUP not in n,
              "node group deletion", 600, every=0.5)
    except (ClientError, TimeoutError):
        pass
    attempt(f"EKS cluster {EKS_CLUSTER}", lambda: eks.delete_cluster(name=EKS_CLUSTER))
    iam = cleanup.client("iam")
    for role in ("workshop-05-express-execution", "workshop-05-express-infrastructure", "workshop-05-apprunner-ecr",
                 "workshop-05-eks-cluster", "workshop-05-eks-node"):
        def drop(role=role):
            for p in iam.list_attached_role_policies(RoleName=role).get("AttachedPolicies", []):
                iam.detach_role_policy(RoleName=role, PolicyArn=p["PolicyArn"])
            iam.delete_role(RoleName=role)
        attempt(f"role {role}", drop)
    s3 = cleanup.client("s3")
    name = bucket_name(BUCKET_PREFIX, cleanup.account, cleanup.region)
    if cleanup.bucket_exists(name):
        for key in (MATRIX_KEY, KUBECONFIG_KEY):
            attempt(f"s3://{name}/{key}", lambda key=key: s3.delete_object(Bucket=name, Key=key))

