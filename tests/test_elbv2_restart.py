"""A load balancer is the cloud's state: after a restart on the same data dir its listener
is served again on the same local URL (when that port is still free), its targets keep
their health and traffic flows again. Also the backend pickles (the snapshot's way)."""

from __future__ import annotations

import pickle

from labkit.load_balancers import load_balancer_url
from tests.conftest import free_port, start_cloud, stop_cloud
from tests.elb_setup import balancer, get, group, stop, targets, wait_states
from workshop.cloud import snapshot


def test_restart_keeps_the_listener_url_and_its_targets(tmp_path):
    procs: list = []
    port = free_port()
    first = start_cloud(tmp_path, port=port)
    account = "135792468024"
    try:
        elb, ec2 = first.client("elbv2", account), first.client("ec2", account)
        lb_arn, vpc = balancer(elb, ec2)
        tg = group(elb, vpc, "web")
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        ports = targets(elb, tg, ["one"], tmp_path, procs)
        wait_states(elb, tg, {ports["one"]: "healthy"})
        url = load_balancer_url("web", client=elb)
        assert get(url)[1]["X-App-Version"] == "one"
        stop_cloud(first, keep_data=True)
        second = start_cloud(tmp_path, data_dir=first.data_dir, port=port)
        try:
            elb = second.client("elbv2", account)
            assert load_balancer_url("web", client=elb) == url
            wait_states(elb, tg, {ports["one"]: "healthy"})
            status, headers, _ = get(url)
            assert status == 200 and headers["X-App-Version"] == "one"
        finally:
            stop_cloud(second)
    finally:
        if first.process.poll() is None:
            stop_cloud(first)
        stop(procs)


def test_the_backend_pickles_with_target_states():
    from workshop.cloud.services.elbv2.models import WorkshopELBv2Backend, elbv2_backends

    backend = elbv2_backends["864213579024"]["us-east-1"]
    assert isinstance(backend, WorkshopELBv2Backend)
    vpc = backend.ec2_backend.create_vpc("10.0.0.0/16")
    group = backend.create_target_group("kept", protocol="HTTP", port=80, vpc_id=vpc.id, target_type="ip")
    backend.register_targets(group.arn, [{"Id": "127.0.0.1", "Port": 8081}, {"Id": "127.0.0.1", "Port": 8082}])
    again = pickle.loads(snapshot.dumps(backend))     # the snapshot's pickler: locks come back new
    kept = again.target_groups[group.arn]
    assert [(s.id, s.port, s.state) for s in kept.states().values()] == \
        [("127.0.0.1", 8081, "initial"), ("127.0.0.1", 8082, "initial")]
    assert again.lock is not backend.lock


def test_a_taken_port_gets_another_and_the_tag_follows():
    """On restart the old local port is tried first; taken by something else, the listener
    opens on another and its workshop:url tag names that one (never a dead URL)."""
    import socket
    import time

    from workshop.cloud.services.elbv2 import proxy
    from workshop.cloud.services.elbv2.models import URL_TAG, elbv2_backends

    backend = elbv2_backends["864213579025"]["us-east-1"]
    vpc = backend.ec2_backend.create_vpc("10.0.0.0/16")
    subnet = backend.ec2_backend.create_subnet(vpc.id, "10.0.1.0/24", availability_zone="us-east-1a")
    balancer = backend.create_load_balancer("moved", [], [subnet.id])
    listener = backend.create_listener(balancer.arn, "HTTP", 80, None, None,
                                       [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])
    first = listener.local_port
    proxy.close_listener(listener.arn)
    squatter = socket.socket()
    try:
        deadline = time.monotonic() + 5
        while True:     # the closed server lets go of its port in the background
            try:
                squatter.bind(("127.0.0.1", first))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
        squatter.listen()
        backend.open_listener(listener, preferred_port=first)
        assert listener.local_port != first
        tags = backend.describe_tags([listener.arn])[listener.arn]
        assert tags[URL_TAG] == f"http://127.0.0.1:{listener.local_port}"
    finally:
        squatter.close()
        backend.delete_load_balancer(balancer.arn)
