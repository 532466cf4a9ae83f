"""A load balancer made by a CloudFormation template serves like one made by the API:
its listener answers on a local URL, the target group keeps TargetGroupAttributes (CDK's
deregistration delay) and Targets, a ListenerRule routes; deleting the stack closes it."""

from __future__ import annotations

import json
import socket
import time

import pytest

from labkit.load_balancers import load_balancer_url
from tests.conftest import free_port
from tests.elb_setup import get, network, stop, wait_states
from tests.elb_targets import start


def test_a_stack_makes_a_load_balancer_that_serves(cloud, account, tmp_path):
    port = free_port()
    procs = [start(port, "stacked")]
    try:
        elb, ec2, cfn = (cloud.client(s, account) for s in ("elbv2", "ec2", "cloudformation"))
        vpc, subnets = network(ec2)
        template = {"Resources": {
            "Lb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
                "Name": "stacked", "Subnets": subnets, "Type": "application"}},
            "Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
                "Name": "stacked", "Protocol": "HTTP", "Port": 80, "VpcId": vpc, "TargetType": "ip",
                "HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 5, "HealthyThresholdCount": 2,
                "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
                "Targets": [{"Id": "127.0.0.1", "Port": port}]}},
            "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
                "LoadBalancerArn": {"Ref": "Lb"}, "Protocol": "HTTP", "Port": 80,
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Tg"}}]}},
            "Rule": {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule", "Properties": {
                "ListenerArn": {"Ref": "Listener"}, "Priority": 1,
                "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/ping"]}}],
                "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {
                    "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "pong"}}]}}}}
        cfn.create_stack(StackName="web", TemplateBody=json.dumps(template))
        cfn.get_waiter("stack_create_complete").wait(StackName="web", WaiterConfig={"Delay": 1})
        tg = elb.describe_target_groups(Names=["stacked"])["TargetGroups"][0]["TargetGroupArn"]
        attributes = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
            TargetGroupArn=tg)["Attributes"]}
        assert attributes["deregistration_delay.timeout_seconds"] == "30"
        wait_states(elb, tg, {port: "healthy"})
        url = load_balancer_url("stacked", client=elb)
        assert get(url)[1]["X-App-Version"] == "stacked"
        assert get(url + "/ping")[2] == b"pong"

        cfn.delete_stack(StackName="web")
        cfn.get_waiter("stack_delete_complete").wait(StackName="web", WaiterConfig={"Delay": 1})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1).close()
                time.sleep(0.1)
            except OSError:
                break
        else:
            pytest.fail(f"{url} still answers after the stack was deleted")
    finally:
        stop(procs)
