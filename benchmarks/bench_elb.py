"""The load balancer's cost, measured: requests a second through a listener of the workshop
cloud vs straight to its target (one target process, tests/elb_targets.py), in one run,
sequential over one kept-alive connection and with C concurrent clients, and the latency
the listener adds (median of per-request differences). Beside it, the same proxy code
alone in a process of its own (what "one process per load balancer" would give), so the
choice of serving listeners inside the cloud process stays measured. And the cloud's idle
CPU with that listener and its healthy target (health checks every 5 s of the clock) against
the same cloud before the load balancer existed.

    python benchmarks/bench_elb.py [--requests 2000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, new_account, start_cloud, stop_cloud  # noqa: E402
from tests.elb_setup import balancer, group, wait_states  # noqa: E402
from tests.elb_targets import start as start_target  # noqa: E402

# The proxy alone: a process with the cloud's ELBv2 models and engines and no gateway.
STANDALONE = """
import sys, time
from workshop.cloud import services
from workshop.cloud.services.elbv2.models import elbv2_backends
backend = elbv2_backends["123456789012"]["us-east-1"]
vpc = backend.ec2_backend.create_vpc("10.0.0.0/16")
subnet = backend.ec2_backend.create_subnet(vpc.id, "10.0.1.0/24", availability_zone="us-east-1a")
lb = backend.create_load_balancer("alone", [], [subnet.id])
tg = backend.create_target_group("alone", protocol="HTTP", port=80, vpc_id=vpc.id, target_type="ip",
                                 healthcheck_path="/health")
listener = backend.create_listener(lb.arn, "HTTP", 80, None, None, [{"Type": "forward", "TargetGroupArn": tg.arn}])
backend.register_targets(tg.arn, [{"Id": "127.0.0.1", "Port": int(sys.argv[1])}])
while backend.describe_target_health(tg.arn, [])[0].status != "healthy":
    time.sleep(0.05)
print(listener.local_port, flush=True)
sys.stdin.read()
"""


def sequential(port: int, n: int) -> list[float]:
    """Per-request seconds of n GETs over one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        times.append(time.perf_counter() - started)
    conn.close()
    return times


def concurrent(port: int, n: int, clients: int) -> float:
    """Requests a second of n GETs shared by ``clients`` kept-alive connections."""
    share = [n // clients] * clients
    threads = [threading.Thread(target=sequential, args=(port, k)) for k in share]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(share) / (time.perf_counter() - started)


def measure(label: str, port: int, direct: int, n: int, clients: int) -> None:
    sequential(port, 50)
    sequential(direct, 50)      # warm both
    via, straight = [], []
    for _ in range(n // 100):   # interleaved, so load from others falls on both alike
        via += sequential(port, 100)
        straight += sequential(direct, 100)
    via_rps, direct_rps = len(via) / sum(via), len(straight) / sum(straight)
    added_ms = (statistics.median(via) - statistics.median(straight)) * 1000
    c_via, c_direct = concurrent(port, n, clients), concurrent(direct, n, clients)
    print(f"{label}:")
    print(f"  sequential, 1 connection : {via_rps:7.0f} req/s through the listener, {direct_rps:7.0f} req/s direct "
          f"(ratio {via_rps / direct_rps:.2f}); median {statistics.median(via) * 1000:.2f} ms vs "
          f"{statistics.median(straight) * 1000:.2f} ms: {added_ms:.2f} ms added")
    print(f"  {clients} clients              : {c_via:7.0f} req/s through the listener, {c_direct:7.0f} req/s direct "
          f"(ratio {c_via / c_direct:.2f})")


def cpu_seconds(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float) -> float:
    """Percent of one core the cloud used while nobody called it."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measured (each way)")
    args = parser.parse_args()

    target_port = free_port()
    target = start_target(target_port, "bench")
    tmp = Path(tempfile.mkdtemp(prefix="bench-elb-"))
    cloud = start_cloud(tmp)
    alone = None
    try:
        account = new_account()
        elb, ec2 = cloud.client("elbv2", account), cloud.client("ec2", account)
        ec2.describe_vpcs()
        elb.describe_load_balancers()
        time.sleep(2)
        idle_before = idle_cpu(cloud.process.pid, args.idle)
        lb_arn, vpc = balancer(elb, ec2, "bench")
        tg = group(elb, vpc, "bench")
        listener = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": target_port}])
        wait_states(elb, tg, {target_port: "healthy"})
        elb.modify_target_group(TargetGroupArn=tg, HealthCheckIntervalSeconds=5)
        time.sleep(2)
        idle_after = idle_cpu(cloud.process.pid, args.idle)
        print(f"idle cloud CPU: {idle_before:.1f}% of a core before the load balancer, {idle_after:.1f}% with its "
              f"listener and a healthy target checked every 5 s of the clock ({args.idle:.0f} s each)")
        tags = elb.describe_tags(ResourceArns=[listener])["TagDescriptions"][0]["Tags"]
        url = {t["Key"]: t["Value"] for t in tags}["workshop:url"]
        measure("listener in the cloud process", int(url.rsplit(":", 1)[1]), target_port, args.requests,
                args.concurrency)

        alone = subprocess.Popen([sys.executable, "-c", STANDALONE, str(target_port)], cwd=ROOT,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        measure("the same proxy alone in a process", int(alone.stdout.readline()), target_port, args.requests,
                args.concurrency)
    finally:
        if alone is not None:
            alone.kill()
            alone.wait()
        stop_cloud(cloud)
        target.terminate()
        target.wait()


if __name__ == "__main__":
    main()
