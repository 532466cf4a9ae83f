"""Application load balancers that serve: two target processes behind a listener take
turns, the forwarded headers, the local URL from labkit, ALB's own answers (502, 503,
fixed responses, redirects) and AWS's errors for bad input."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from labkit.load_balancers import load_balancer_url
from tests.conftest import ROOT
from tests.elb_setup import balancer, get, group, states, stop, targets, wait_states


@pytest.fixture
def procs():
    started: list = []
    yield started
    stop(started)


def test_two_targets_behind_a_listener_take_turns(cloud, account, tmp_path, procs):
    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2)
    tg = group(elb, vpc, "web")
    listener = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]
    assert listener["Port"] == 80      # the AWS port stays in the API
    ports = targets(elb, tg, ["blue", "green"], tmp_path, procs)
    assert {s for s, _ in states(elb, tg).values()} <= {"initial", "healthy"}
    wait_states(elb, tg, {p: "healthy" for p in ports.values()})

    url = load_balancer_url("web", client=elb)
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":80")
    lb = elb.describe_load_balancers(Names=["web"])["LoadBalancers"][0]
    assert lb["DNSName"].endswith(".elb.amazonaws.com")
    seen = []
    for _ in range(10):
        status, headers, body = get(url + "/hello?x=1")
        assert status == 200
        seen.append(headers["X-App-Version"])
        echoed = json.loads(body)
        assert echoed["path"] == "/hello?x=1"
        assert echoed["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert echoed["headers"]["x-forwarded-proto"] == "http"
        assert echoed["headers"]["x-forwarded-port"] == "80"
        assert echoed["headers"]["x-amzn-trace-id"].startswith("Root=1-")
    assert Counter(seen) == {"blue": 5, "green": 5}
    assert all(a != b for a, b in zip(seen, seen[1:]))      # round robin

    # workshop doctor names the same URL.
    doctor = subprocess.run([sys.executable, "-m", "workshop", "doctor"], cwd=ROOT, env=cloud.env(account),
                            capture_output=True, text=True, timeout=120)
    assert f"load balancer web  80 -> {url}" in doctor.stdout, doctor.stdout + doctor.stderr

    # A listener deleted stops answering; the others of the cloud go on.
    elb.delete_listener(ListenerArn=listener["ListenerArn"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1).close()
            time.sleep(0.1)
        except OSError:
            break
    else:
        raise AssertionError(f"{url} still answers after delete_listener")


def test_unhealthy_target_leaves_rotation_and_comes_back(cloud, account, tmp_path, procs):
    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2)
    tg = group(elb, vpc, "web", interval=5, healthy=2, unhealthy=2)
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    ports = targets(elb, tg, ["good", "bad"], tmp_path, procs)
    wait_states(elb, tg, {p: "healthy" for p in ports.values()})
    (tmp_path / "bad.health").write_text("500")
    seen = wait_states(elb, tg, {ports["bad"]: "unhealthy", ports["good"]: "healthy"})
    assert seen[ports["bad"]][1] == "Target.ResponseCodeMismatch"
    health = elb.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": ports["bad"]}])
    assert health["TargetHealthDescriptions"][0]["TargetHealth"]["Description"] == \
        "Health checks failed with these codes: [500]"
    assert health["TargetHealthDescriptions"][0]["HealthCheckPort"] == str(ports["bad"])
    url = load_balancer_url("web", client=elb)
    assert {get(url)[1]["X-App-Version"] for _ in range(6)} == {"good"}

    (tmp_path / "bad.health").write_text("200")
    wait_states(elb, tg, {ports["bad"]: "healthy"})
    assert {get(url)[1]["X-App-Version"] for _ in range(6)} == {"good", "bad"}


def test_elb_answers_itself_when_targets_cannot(cloud, account, tmp_path, procs):
    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2)
    tg = group(elb, vpc, "web", interval=5, healthy=2)
    empty = group(elb, vpc, "empty")
    listener = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": empty}])["Listeners"][0]
    url = load_balancer_url("web", client=elb)
    status, headers, body = get(url)
    assert status == 503 and headers["Server"] == "awselb/2.0" and b"503" in body

    # A target that refuses: unhealthy, and as the only one ALB still tries it (fail-open): 502.
    from tests.conftest import free_port
    closed = free_port()
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": closed}])
    elb.modify_listener(ListenerArn=listener["ListenerArn"],
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    seen = wait_states(elb, tg, {closed: "unhealthy"})
    assert seen[closed][1] == "Target.FailedHealthChecks"
    assert get(url)[0] == 502

    elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=1,
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/teapot*"]}}],
                    Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
                        "StatusCode": "418", "ContentType": "text/plain", "MessageBody": "short and stout"}}])
    elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=2,
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/old/*"]}}],
                    Actions=[{"Type": "redirect", "RedirectConfig": {"Path": "/new/#{path}",
                                                                       "StatusCode": "HTTP_302"}}])
    assert get(url + "/teapot/1")[0:3:2] == (418, b"short and stout")
    import urllib.request as request

    opener = request.build_opener(type("NoRedirect", (request.HTTPRedirectHandler,),
                                       {"redirect_request": lambda *a, **k: None}))
    try:
        opener.open(url + "/old/page?q=1", timeout=5)
        raise AssertionError("no redirect")
    except Exception as exc:  # HTTPError 302
        assert exc.code == 302
        assert exc.headers["Location"] == f"{url}/new/old/page?q=1"


def test_a_target_slower_than_the_idle_timeout_is_504(cloud, account, tmp_path, procs):
    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2)
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "1"}])
    tg = group(elb, vpc, "web")
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443,
                        Certificates=[{"CertificateArn": "arn:aws:iam::123456789012:server-certificate/test"}],
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    ports = targets(elb, tg, ["slow"], tmp_path, procs)
    wait_states(elb, tg, {ports["slow"]: "healthy"})
    url = load_balancer_url("web", client=elb)      # 443 is served as plain HTTP on its local port
    status, _, body = get(url + "/slow?s=0.1")
    assert status == 200 and json.loads(body)["headers"]["x-forwarded-proto"] == "https"
    assert json.loads(body)["headers"]["x-forwarded-port"] == "443"
    status, headers, body = get(url + "/slow?s=3")
    assert status == 504 and b"504 Gateway Time-out" in body


def test_bad_input_gets_aws_errors(cloud, account):
    from botocore.config import Config

    # What the CLI or another SDK could send: botocore's own checks off, so the cloud answers.
    elb = cloud.client("elbv2", account, config=Config(parameter_validation=False, retries={"max_attempts": 0}))
    ec2 = cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2)
    tg = group(elb, vpc, "web")
    unknown = tg.replace("/web/", "/nope/")
    for port in (0, 70000):
        with pytest.raises(ClientError) as err:
            elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        assert err.value.response["Error"]["Code"] == "ValidationError"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": unknown}])
    assert err.value.response["Error"]["Code"] == "TargetGroupNotFound"
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    with pytest.raises(ClientError) as err:
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    assert err.value.response["Error"]["Code"] == "DuplicateListener"
    for call, kwargs in ((elb.register_targets, {"TargetGroupArn": unknown, "Targets": [{"Id": "127.0.0.1"}]}),
                         (elb.describe_target_health, {"TargetGroupArn": unknown})):
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert err.value.response["Error"]["Code"] == "TargetGroupNotFound"
    with pytest.raises(ClientError) as err:
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": 70000}])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as err:
        elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": 8080}])
    assert err.value.response["Error"]["Code"] == "InvalidTarget"
    with pytest.raises(ClientError) as err:
        elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "forever"}])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    health = elb.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": 8080}])
    assert health["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"] == "Target.NotRegistered"
    for call, kwargs in ((elb.modify_target_group, {"TargetGroupArn": tg, "HealthCheckIntervalSeconds": 0}),
                         (elb.modify_target_group, {"TargetGroupArn": tg, "HealthyThresholdCount": 11}),
                         (elb.modify_target_group, {"TargetGroupArn": tg, "HealthCheckTimeoutSeconds": 60}),
                         (elb.create_target_group, {"Name": "fast", "Protocol": "HTTP", "Port": 80, "VpcId": vpc,
                                                    "HealthCheckIntervalSeconds": 1}),
                         (elb.modify_load_balancer_attributes, {"LoadBalancerArn": lb_arn, "Attributes": [
                             {"Key": "idle_timeout.timeout_seconds", "Value": "0"}]})):
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert err.value.response["Error"]["Code"] == "ValidationError", kwargs
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_restarted_target_costs_no_failed_request(cloud, account, tmp_path, procs):
    """Kept-alive connections to a target that restarted are stale: a request that meets one
    is sent again on a new connection, never answered 502."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.elb_targets import start

    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2)
    tg = group(elb, vpc, "web", interval=30, healthy=2, unhealthy=10)
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    ports = targets(elb, tg, ["before"], tmp_path, procs)
    wait_states(elb, tg, {ports["before"]: "healthy"})
    url = load_balancer_url("web", client=elb)
    with ThreadPoolExecutor(6) as pool:     # several kept connections to the target
        assert {r[0] for r in pool.map(lambda _: get(url + "/slow?s=0.2"), range(12))} == {200}
    procs[0].terminate()
    procs[0].wait()
    procs[0] = start(ports["before"], "after")
    answers = [get(url) for _ in range(10)]
    assert [(status, headers.get("X-App-Version")) for status, headers, _ in answers] == [(200, "after")] * 10


def test_resetting_the_account_closes_its_listeners(cloud, account):
    import urllib.request

    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, _vpc = balancer(elb, ec2)
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "up"}}])
    url = load_balancer_url("web", client=elb)
    assert get(url)[2] == b"up"
    reset = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", method="POST",
                                   headers={"X-Workshop-Admin-Token": cloud.admin_token})
    assert urllib.request.urlopen(reset, timeout=30).status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1).close()
            time.sleep(0.1)
        except OSError:
            break
    else:
        raise AssertionError(f"{url} still answers after the account was reset")
    assert elb.describe_load_balancers()["LoadBalancers"] == []


def test_expect_100_continue_is_answered_before_the_body(cloud, account, tmp_path, procs):
    """curl sends large bodies after ``Expect: 100-continue``: the listener answers 100 before
    the body is sent, then forwards the body whole."""
    elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
    lb_arn, vpc = balancer(elb, ec2)
    tg = group(elb, vpc, "web")
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    ports = targets(elb, tg, ["v1"], tmp_path, procs)
    wait_states(elb, tg, {ports["v1"]: "healthy"})
    port = int(load_balancer_url("web", client=elb).rsplit(":", 1)[1])
    body = b"x" * 5000
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"POST /orders HTTP/1.1\r\nHost: shop\r\nContent-Length: 5000\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reader = conn.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 100")    # before any byte of the body
        assert reader.readline() == b"\r\n"
        conn.sendall(body)
        assert reader.readline().startswith(b"HTTP/1.1 200")
        headers = {}
        while (line := reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        echoed = json.loads(reader.read(int(headers["content-length"])))
    assert echoed["received"] == 5000 and "expect" not in echoed["headers"]
