"""Listener rules and target groups over time: a path rule routes to a second group,
host-header and query-string rules, rule priorities and changes, weighted forwarding 90/10,
a deregistration that drains under steady requests with no failure, and the
``AWS/ApplicationELB`` metrics the load balancer publishes."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from labkit.load_balancers import load_balancer_url
from tests.elb_setup import balancer, get, group, states, stop, targets, wait_states


@pytest.fixture
def procs():
    started: list = []
    yield started
    stop(started)


def _served(cloud, account, tmp_path, procs, groups: dict[str, list[str]], **group_options):
    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2)
    arns, ports = {}, {}
    for name, names in groups.items():
        arns[name] = group(elb, vpc, name, **group_options)
        ports.update(targets(elb, arns[name], names, tmp_path, procs))
    first = next(iter(arns.values()))
    listener = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": first}])["Listeners"][0]
    for name, arn in arns.items():
        if arn != first:    # a group no listener forwards to is not health-checked: give it a rule
            elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=1000, Actions=[
                {"Type": "forward", "TargetGroupArn": arn}], Conditions=[
                {"Field": "path-pattern", "PathPatternConfig": {"Values": [f"/{name}-warmup"]}}])
    for name, arn in arns.items():
        wait_states(elb, arn, {ports[n]: "healthy" for n in groups[name]})
    return elb, lb_arn, listener["ListenerArn"], arns, ports, load_balancer_url(lb_arn, client=elb)


def test_rules_route_by_path_host_and_query(cloud, account, tmp_path, procs):
    elb, _lb, listener, arns, _ports, url = _served(cloud, account, tmp_path, procs,
                                                    {"web": ["web"], "api": ["api"]})
    path_rule = elb.create_rule(ListenerArn=listener, Priority=10, Actions=[
        {"Type": "forward", "TargetGroupArn": arns["api"]}], Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}])["Rules"][0]["RuleArn"]
    assert get(url + "/api/orders")[1]["X-App-Version"] == "api"
    assert get(url + "/apix")[1]["X-App-Version"] == "web"
    assert get(url + "/API/orders")[1]["X-App-Version"] == "web"     # path patterns are case-sensitive

    host_rule = elb.create_rule(ListenerArn=listener, Priority=5, Actions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "admin"}}],
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["admin.*"]}}])["Rules"][0]["RuleArn"]
    assert get(url + "/api/x", {"Host": "Admin.example.com"})[2] == b"admin"
    assert get(url + "/api/x", {"Host": "www.example.com"})[1]["X-App-Version"] == "api"

    # The path rule ahead of the host rule, then changed to match a query string instead.
    elb.set_rule_priorities(RulePriorities=[{"RuleArn": path_rule, "Priority": 1},
                                            {"RuleArn": host_rule, "Priority": 20}])
    assert get(url + "/api/x", {"Host": "admin.example.com"})[1]["X-App-Version"] == "api"
    elb.modify_rule(RuleArn=path_rule, Conditions=[
        {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "backend", "Value": "api"}]}}])
    assert get(url + "/anything?backend=api")[1]["X-App-Version"] == "api"
    assert get(url + "/api/x")[1]["X-App-Version"] == "web"
    elb.delete_rule(RuleArn=path_rule)
    assert get(url + "/anything?backend=api")[1]["X-App-Version"] == "web"


def test_weighted_forward_splits_90_10(cloud, account, tmp_path, procs):
    elb, _lb, listener, arns, _ports, url = _served(cloud, account, tmp_path, procs,
                                                    {"blue": ["blue"], "green": ["green"]})
    elb.modify_listener(ListenerArn=listener, DefaultActions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": arns["blue"], "Weight": 90},
                         {"TargetGroupArn": arns["green"], "Weight": 10}]}}])
    seen = Counter(get(url)[1]["X-App-Version"] for _ in range(200))
    # 200 draws at p = 0.1: green 20 expected, standard deviation 4.2; 6 to 40 is beyond 3.3 sigma.
    assert 6 <= seen["green"] <= 40 and seen["blue"] + seen["green"] == 200, seen

    # A test listener (blue/green's) on 8080: a URL of its own, found by its AWS port.
    lb_arn = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["LoadBalancerArn"]
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=8080, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": arns["green"]}])
    test_url = load_balancer_url(lb_arn, port=8080, client=elb)
    assert test_url != url and load_balancer_url(lb_arn, client=elb) == url
    assert {get(test_url)[1]["X-App-Version"] for _ in range(5)} == {"green"}
    with pytest.raises(LookupError, match="no listener on port 9090"):
        load_balancer_url(lb_arn, port=9090, client=elb)


def test_deregistration_drains_without_failed_requests(cloud, account, tmp_path, procs):
    elb, _lb, listener, arns, ports, url = _served(cloud, account, tmp_path, procs,
                                                   {"web": ["one", "two"]}, delay=180)
    tg = arns["web"]
    failures, served, stop_sending = [], Counter(), threading.Event()

    def steady():
        while not stop_sending.is_set():
            status, headers, _ = get(url, timeout=10)
            if status != 200:
                failures.append(status)
            else:
                served[headers["X-App-Version"]] += 1
            time.sleep(0.01)

    # Slow requests in flight on both targets (round robin alternates while nothing else is sent):
    # the one on "two" finishes with a 200 while "two" drains.
    slow: list = []
    slow_threads = [threading.Thread(target=lambda: slow.append(get(url + "/slow?s=1.5"))) for _ in range(4)]
    for t in slow_threads:
        t.start()
        time.sleep(0.05)
    senders = [threading.Thread(target=steady) for _ in range(3)]
    for t in senders:
        t.start()
    time.sleep(0.3)
    elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": ports["two"]}])
    assert states(elb, tg)[ports["two"]] == ("draining", "Target.DeregistrationInProgress")
    time.sleep(0.3)
    before = served["two"]
    time.sleep(1.0)
    assert served["two"] == before          # no new requests go to a draining target
    # 180 s of deregistration delay at the test cloud's time scale 60: 3 s.
    deadline = time.monotonic() + 20
    while ports["two"] in states(elb, tg) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop_sending.set()
    for t in senders:
        t.join()
    for t in slow_threads:
        t.join()
    assert ports["two"] not in states(elb, tg)
    health = elb.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": ports["two"]}])
    assert health["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "unused"
    assert failures == []
    assert served["one"] > 20
    assert sorted((status, json.loads(body)["version"]) for status, _, body in slow) == \
        [(200, "one"), (200, "one"), (200, "two"), (200, "two")]


def test_metrics_appear_in_aws_application_elb(cloud, account, tmp_path, procs):
    elb, lb_arn, listener, arns, ports, url = _served(cloud, account, tmp_path, procs, {"web": ["web"]})
    cw = cloud.client("cloudwatch", account)
    lb_dim = lb_arn.split(":loadbalancer/")[1]
    tg_dim = arns["web"].split(":")[-1]
    assert lb_dim.startswith("app/web/") and tg_dim.startswith("targetgroup/web/")

    def total(metric, dims, statistic="Sum"):
        now = datetime.now(timezone.utc)
        points = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName=metric, Dimensions=[
            {"Name": k, "Value": v} for k, v in dims.items()], StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1), Period=60, Statistics=[statistic])["Datapoints"]
        return sum(p[statistic] for p in points) if statistic == "Sum" else max((p[statistic] for p in points),
                                                                                default=None)

    lb, both = {"LoadBalancer": lb_dim}, {"LoadBalancer": lb_dim, "TargetGroup": tg_dim}
    for _ in range(7):
        assert get(url)[0] == 200
    # The group's health is published while a listener forwards to it.
    deadline = time.monotonic() + 20
    while total("HealthyHostCount", both, "Maximum") != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total("HealthyHostCount", both, "Maximum") == 1
    assert total("UnHealthyHostCount", both, "Maximum") == 0
    elb.modify_listener(ListenerArn=listener, DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
        "StatusCode": "503"}}])
    assert get(url)[0] == 503
    deadline = time.monotonic() + 20
    while total("RequestCount", lb) < 8 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total("RequestCount", lb) == 8
    assert total("RequestCount", both) == 7
    assert total("HTTPCode_Target_2XX_Count", both) == 7
    assert total("HTTPCode_ELB_5XX_Count", lb) == 1
    assert total("HTTPCode_ELB_503_Count", lb) == 1
    assert total("HTTPCode_Target_5XX_Count", lb) == 0
    assert 0 < total("TargetResponseTime", both, "Average") < 10
    # Learners cannot write there (AWS refuses it).
    with pytest.raises(ClientError) as refused:
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
            {"MetricName": "HTTPCode_ELB_5XX_Count", "Value": 0, "Dimensions": [{"Name": "LoadBalancer",
                                                                                 "Value": lb_dim}]}])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
