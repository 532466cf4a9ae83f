"""What the ELB tests share: a VPC, a load balancer with a listener, target groups, target
processes (tests/elb_targets.py) registered on their local ports, and waits on health."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from tests.conftest import free_port
from tests.elb_targets import start


def network(ec2) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    return vpc, subnets


def balancer(elb, ec2, name: str = "web") -> tuple[str, str]:
    vpc, subnets = network(ec2)
    lb = elb.create_load_balancer(Name=name, Subnets=subnets, Type="application")["LoadBalancers"][0]
    return lb["LoadBalancerArn"], vpc


def group(elb, vpc: str, name: str, interval: int = 5, healthy: int = 2, unhealthy: int = 2,
          path: str = "/health", delay: int | None = None) -> str:
    arn = elb.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                                  HealthCheckPath=path, HealthCheckIntervalSeconds=interval,
                                  HealthCheckTimeoutSeconds=2, HealthyThresholdCount=healthy,
                                  UnhealthyThresholdCount=unhealthy)["TargetGroups"][0]["TargetGroupArn"]
    if delay is not None:
        elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}])
    return arn


def targets(elb, group_arn: str, names: list[str], tmp_path, procs: list) -> dict[str, int]:
    """Start a target process per name and register it; name -> port."""
    ports = {}
    for name in names:
        port = free_port()
        procs.append(start(port, name, tmp_path / f"{name}.health"))
        ports[name] = port
    elb.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": "127.0.0.1", "Port": p} for p in ports.values()])
    return ports


def states(elb, group_arn: str) -> dict[int, tuple[str, str | None]]:
    found = elb.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Port"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason")) for d in found}


def wait_states(elb, group_arn: str, wanted: dict[int, str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        seen = states(elb, group_arn)
        if all(seen.get(port, ("unused",))[0] == state for port, state in wanted.items()):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"wanted {wanted}, target health is {seen}")
        time.sleep(0.1)


def get(url: str, headers: dict | None = None, timeout: float = 10) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def stop(procs: list) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(10)
