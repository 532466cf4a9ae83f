"""``workshop traffic`` against a load balancer: steady requests tallied per version (the
sample app's header or JSON field), failures counted; and the load balancer's own records
(``AWS/ApplicationELB``, read the checker's way) count the same failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from labkit.traffic import send_http_traffic
from tests.conftest import ROOT, free_port
from tests.elb_setup import balancer, group, stop, targets, wait_states


@pytest.fixture
def procs():
    started: list = []
    yield started
    stop(started)


def test_traffic_counts_versions_and_failures_as_the_load_balancer_does(cloud, account, tmp_path, procs):
    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2, "shop")
    tg = group(elb, vpc, "shop")
    listener = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    ports = targets(elb, tg, ["v1", "v2"], tmp_path, procs)
    wait_states(elb, tg, {p: "healthy" for p in ports.values()})
    started = datetime.now(timezone.utc) - timedelta(seconds=1)

    run = subprocess.run([sys.executable, "-m", "workshop", "traffic", "--load-balancer", "shop", "--path", "/",
                          "--count", "40", "--rate", "100", "--json"], cwd=ROOT, env=cloud.env(account),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    tally = json.loads(run.stdout)
    assert tally["failed"] == 0 and tally["versions"] == {
        "v1": {"requests": 20, "succeeded": 20, "failed": 0}, "v2": {"requests": 20, "succeeded": 20, "failed": 0}}

    # A group whose only target refuses: every request is ALB's 502, and counted as failed.
    broken = group(elb, vpc, "broken")
    refusing = free_port()
    elb.register_targets(TargetGroupArn=broken, Targets=[{"Id": "127.0.0.1", "Port": refusing}])
    elb.modify_listener(ListenerArn=listener, DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": tg, "Weight": 1}, {"TargetGroupArn": broken, "Weight": 1}]}}])
    wait_states(elb, broken, {refusing: "unhealthy"})     # as the only target, tried anyway (fail-open)
    url = elb.describe_tags(ResourceArns=[listener])["TagDescriptions"][0]["Tags"]
    url = {t["Key"]: t["Value"] for t in url}["workshop:url"]
    result = send_http_traffic(url + "/", count=30, concurrency=2, version_field=None)
    assert result.failed > 0 and result.succeeded > 0
    assert result.tally("-").failed == result.failed     # a 502 names no version
    assert "HTTP 502" in result.error_samples[0]

    # The checker's read of the load balancer's own counters finds the same numbers.
    from checker.labs import metric_sum
    from checker.runner import Account
    from checker.session import session, target

    reader = Account(session(target(endpoint=cloud.endpoint, account=account)), account)
    dims = {"LoadBalancer": lb_arn.split(":loadbalancer/")[1]}
    deadline = time.monotonic() + 20
    while True:
        end = datetime.now(timezone.utc) + timedelta(seconds=5)
        requests = metric_sum(reader, "AWS/ApplicationELB", "RequestCount", dims, started, end)
        if requests == 70 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert requests == 70
    assert metric_sum(reader, "AWS/ApplicationELB", "HTTPCode_ELB_502_Count", dims, started, end) == result.failed
    assert metric_sum(reader, "AWS/ApplicationELB", "HTTPCode_Target_2XX_Count", dims, started, end) == \
        40 + result.succeeded


def test_traffic_refuses_what_it_cannot_send(cloud, account):
    run = subprocess.run([sys.executable, "-m", "workshop", "traffic", "--load-balancer", "nowhere"], cwd=ROOT,
                         env=cloud.env(account), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no load balancer 'nowhere'" in run.stderr and "Traceback" not in run.stderr


def test_access_logs_land_in_the_bucket_in_elb_format(cloud, account, tmp_path, procs):
    import gzip
    import shlex

    from botocore.exceptions import ClientError

    from tests.elb_setup import get

    elb, ec2, s3 = (cloud.client(name, account) for name in ("elbv2", "ec2", "s3"))
    lb_arn, vpc = balancer(elb, ec2, "logged")
    with pytest.raises(ClientError) as refused:
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"}, {"Key": "access_logs.s3.bucket", "Value": "nope"}])
    assert refused.value.response["Error"]["Code"] == "InvalidConfigurationRequest"
    bucket = f"elb-logs-{account}"
    s3.create_bucket(Bucket=bucket)
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
        {"Key": "access_logs.s3.enabled", "Value": "true"}, {"Key": "access_logs.s3.bucket", "Value": bucket},
        {"Key": "access_logs.s3.prefix", "Value": "web"}])
    tg = group(elb, vpc, "logged")
    listener = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    elb.create_rule(ListenerArn=listener, Priority=7, Actions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/missing"]}}])
    ports = targets(elb, tg, ["v1"], tmp_path, procs)
    wait_states(elb, tg, {ports["v1"]: "healthy"})
    url = elb.describe_tags(ResourceArns=[listener])["TagDescriptions"][0]["Tags"][0]["Value"]
    assert [get(url + path, {"User-Agent": "lab"})[0] for path in ("/a", "/b?x=1", "/missing")] == [200, 200, 404]

    deadline = time.monotonic() + 30     # 5 minutes of the clock at time scale 60: 5 s
    keys: list = []
    while not keys and time.monotonic() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="web/AWSLogs/").get("Contents", [])]
        time.sleep(0.5)
    assert keys and keys[0].startswith(f"web/AWSLogs/{account}/elasticloadbalancing/us-east-1/")
    assert f"{account}_elasticloadbalancing_us-east-1_app.logged." in keys[0] and keys[0].endswith(".log.gz")
    lines = [shlex.split(line) for key in keys
             for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode().splitlines()]
    by_path = {fields[12].split()[1].split(url.split("//")[1])[-1]: fields for fields in lines}
    assert set(by_path) == {"/a", "/b?x=1", "/missing"}
    ok, missing = by_path["/b?x=1"], by_path["/missing"]
    assert ok[0] == "http" and ok[2] == lb_arn.split(":loadbalancer/")[1]
    assert ok[4] == f"127.0.0.1:{ports['v1']}" and ok[8:10] == ["200", "200"] and ok[13] == "lab"
    assert ok[16] == tg and ok[20] == "0" and ok[22] == "forward" and len(ok) == 30
    assert missing[4] == "-" and missing[8:10] == ["404", "-"] and missing[20] == "7"
    assert missing[22] == "fixed-response"
