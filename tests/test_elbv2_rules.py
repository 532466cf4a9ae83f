"""How a listener decides, without a cloud: conditions as ELB's guide defines them
(wildcards, case rules, every condition of a rule), the answering action, weighted groups,
redirects to another listener's local port; and the health check's verdicts and reasons."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from tests.conftest import free_port
from tests.elb_targets import start
from workshop.cloud.services.elbv2 import health_checker, rules


def request(path="/", query="", host="shop.example.com:8080", headers=None, method="GET", ip="10.0.0.5"):
    return rules.Request(method, path, query, host, {k.lower(): v for k, v in (headers or {}).items()}, ip, 80)


@pytest.mark.parametrize("condition, req, matches", [
    ({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}, request("/api/v1"), True),
    ({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}, request("/API/v1"), False),
    ({"Field": "path-pattern", "Values": ["/img/?.png"]}, request("/img/a.png"), True),
    ({"Field": "path-pattern", "Values": ["/img/?.png"]}, request("/img/ab.png"), False),
    ({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a", "/b*"]}}, request("/bee"), True),
    ({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/[ab]"]}}, request("/a"), False),
    ({"Field": "host-header", "HostHeaderConfig": {"Values": ["*.EXAMPLE.com"]}}, request(), True),
    ({"Field": "host-header", "HostHeaderConfig": {"Values": ["example.com"]}}, request(), False),
    ({"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["ye?"]}},
     request(headers={"x-canary": "YES"}), True),
    ({"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["yes"]}},
     request(), False),
    ({"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}},
     request(query="a=1&v=2"), True),
    ({"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "beta*"}]}},
     request(query="channel=beta-7"), True),
    ({"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}},
     request(query="v=3"), False),
    ({"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST", "PUT"]}},
     request(method="PUT"), True),
    ({"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/24"]}}, request(), True),
    ({"Field": "source-ip", "SourceIpConfig": {"Values": ["192.168.0.0/16"]}}, request(), False),
])
def test_conditions(condition, req, matches):
    assert rules.condition_matches(condition, req) is matches


def _rule(priority, conditions, actions, default=False):
    return SimpleNamespace(priority="default" if default else priority, conditions=conditions,
                           is_default=default, actions=[SimpleNamespace(data=a) for a in actions])


def test_rules_in_priority_order_all_conditions_and_the_default_last():
    forward = {"Type": "forward", "TargetGroupArn": "tg-api"}
    listener = SimpleNamespace(rules={
        "d": _rule(0, [], [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}], True),
        "b": _rule(20, [{"Field": "path-pattern", "Values": ["/api/*"]}], [forward]),
        "a": _rule(3, [{"Field": "path-pattern", "Values": ["/api/*"]},
                       {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST"]}}],
                   [{"Type": "authenticate-oidc", "Order": 1}, {"Type": "redirect", "Order": 2}]),
    })
    assert rules.final_action(rules.matching_rule(listener, request("/api/x", method="POST")).actions)["Type"] \
        == "redirect"
    assert rules.final_action(rules.matching_rule(listener, request("/api/x")).actions) == forward
    assert rules.matching_rule(listener, request("/other")).priority == "default"


def test_weighted_groups_follow_their_weights():
    action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": "blue", "Weight": 3}, {"TargetGroupArn": "green", "Weight": 1},
        {"TargetGroupArn": "off", "Weight": 0}]}}
    rng = random.Random(7)
    picks = [rules.forward_group(action, rng) for _ in range(4000)]
    assert "off" not in picks and 0.7 < picks.count("blue") / 4000 < 0.8


def test_redirects_name_the_local_port_of_another_listener():
    config = {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    req = rules.Request("GET", "/cart", "id=3", "127.0.0.1:41000", {}, "127.0.0.1", 80)
    assert rules.redirect(config, req, {80: 41000, 443: 41001}) == (301, "http://127.0.0.1:41001/cart?id=3")
    # Elsewhere (no listener of this load balancer there) the URL is as AWS writes it.
    outside = {"Host": "example.com", "Path": "/new", "Query": "", "StatusCode": "HTTP_302", "Protocol": "HTTPS",
               "Port": "443"}
    assert rules.redirect(outside, req, {80: 41000}) == (302, "https://example.com/new")


def test_health_checks_say_why(tmp_path):
    port = free_port()
    state_file = tmp_path / "health"
    proc = start(port, "probe", state_file)
    try:
        group = SimpleNamespace(health_check_port="traffic-port", health_check_timeout_seconds=1,
                                health_check_protocol="HTTP", health_check_path="/health",
                                matcher={"HttpCode": "200-299"})
        target = SimpleNamespace(id="127.0.0.1", port=port)
        assert health_checker.probe(group, target) == (True, None, None)
        state_file.write_text("302")
        assert health_checker.probe(group, target) == (
            False, "Target.ResponseCodeMismatch", "Health checks failed with these codes: [302]")
        group.matcher = {"HttpCode": "200,302"}
        assert health_checker.probe(group, target)[0]
        group.health_check_path = "/slow?s=3"
        assert health_checker.probe(group, target)[1] == "Target.Timeout"
        assert health_checker.probe(group, SimpleNamespace(id="127.0.0.1", port=free_port()))[1] == \
            "Target.FailedHealthChecks"
        group.health_check_protocol, group.health_check_port = "TCP", str(port)
        assert health_checker.probe(group, SimpleNamespace(id="i-0abc", port=1))[0]   # an instance is this machine
    finally:
        proc.terminate()
        proc.wait()
