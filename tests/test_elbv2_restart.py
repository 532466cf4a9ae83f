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
