"""The workshop cloud against bare moto, in one run and side by side:
(a) start to healthy and to the first AWS answer, (b) per-call latency on the
same calls, (c) an unimplemented operation (time, HTTP status, boto3 retries),
(d) the wall time of a new `workshop check 04-iac` process against a running
cloud. Prints medians, ratios and the targets. Run: python3 benchmarks/bench_cloud.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"

TARGET_START = 1.5          # s, start-to-healthy median
TARGET_RATIO = 1.15         # gateway / moto per-call latency
TARGET_CHECK = 0.5          # s, a new `workshop check 04-iac` process
TARGET_UNIMPLEMENTED = 0.1  # s

CALLS = [  # (service, operation, params): the same calls against both servers
    ("sts", "get_caller_identity", {}),
    ("s3", "list_buckets", {}),
    ("sqs", "list_queues", {}),
    ("cloudformation", "describe_stacks", {}),
]
# Operations nobody implements (the first one that answers 501 is measured).
UNIMPLEMENTED = [
    ("ec2", "describe_capacity_reservation_fleets", {}),
    ("apprunner", "list_services", {}),
    ("xray", "get_groups", {}),
]


# -- servers -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind: str, tmp: Path):
        self.kind, self.port = kind, free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        if kind == "workshop":
            command = [sys.executable, "-m", "workshop", "cloud", "--port", str(self.port),
                       "--data-dir", str(tmp / f"data-{self.port}")]
            self.health = f"{self.endpoint}/_workshop/health"
        else:  # moto's own server, as `moto_server -p PORT` starts it
            command = [sys.executable, "-m", "moto.server", "-p", str(self.port)]
            self.health = f"{self.endpoint}/moto-api/"
        env = dict(os.environ, WORKSHOP_ADMIN_TOKEN="bench")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def wait_healthy(self, timeout: float = 60.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.health, timeout=1) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - self.started
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.01)
        raise TimeoutError(f"{self.kind} not healthy after {timeout} s")

    def first_answer(self, client) -> float:
        client.get_caller_identity()
        return time.perf_counter() - self.started

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used (Linux), for a figure load cannot skew."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        last = self.cpu_seconds()
        while time.perf_counter() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - last < 0.02:
                return
            last = now

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def client(service: str, endpoint: str, account: str = ACCOUNT, retries: int | None = None):
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": retries, "mode": "standard"}) if retries else None
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=account,
                        aws_secret_access_key="test", config=config)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


# -- (a) start ----------------------------------------------------------------
def bench_start(n: int, tmp: Path) -> dict:
    results = {kind: {"healthy": [], "first_call": []} for kind in ("workshop", "moto")}
    sts = {kind: None for kind in results}
    for _ in range(n):
        for kind in ("workshop", "moto"):  # alternate, so load on the machine hits both alike
            server = Server(kind, tmp)
            try:
                results[kind]["healthy"].append(server.wait_healthy())
                sts[kind] = client("sts", server.endpoint)
                results[kind]["first_call"].append(server.first_answer(sts[kind]))
            finally:
                server.stop()
    return results


# -- (b) per-call latency -----------------------------------------------------
def bench_calls(gateway: Server, moto: Server, calls: int) -> dict:
    out = {}
    for service, operation, params in CALLS:
        clients = {"workshop": client(service, gateway.endpoint), "moto": client(service, moto.endpoint)}
        servers = {"workshop": gateway, "moto": moto}
        times = {"workshop": [], "moto": []}
        cpu = {"workshop": 0.0, "moto": 0.0}
        for kind, c in clients.items():  # warm: the service loaded, the connection open
            for _ in range(5):
                getattr(c, operation)(**params)
        batch = 10
        for _ in range(calls // batch):  # interleaved batches
            for kind, c in clients.items():
                call = getattr(c, operation)
                before = servers[kind].cpu_seconds()
                for _ in range(batch):
                    t = time.perf_counter()
                    call(**params)
                    times[kind].append(time.perf_counter() - t)
                cpu[kind] += servers[kind].cpu_seconds() - before
        out[f"{service}.{operation}"] = {k: median_ms(v) for k, v in times.items()}
        out[f"{service}.{operation}"].update(
            {f"{k}_cpu": cpu[k] * 1000 / len(times[k]) for k in cpu})
    return out


# -- (c) unimplemented operation ----------------------------------------------
def bench_unimplemented(gateway: Server, calls: int) -> dict:
    from botocore.exceptions import ClientError

    for service, operation, params in UNIMPLEMENTED:
        c = client(service, gateway.endpoint, retries=5)  # retries allowed: they must not happen
        call = getattr(c, operation)
        try:
            call(**params)
            continue  # implemented by now: try the next candidate
        except ClientError as exc:
            if exc.response["ResponseMetadata"]["HTTPStatusCode"] != 501:
                continue
        times, retries, statuses = [], [], set()
        for _ in range(calls):
            t = time.perf_counter()
            try:
                call(**params)
            except ClientError as exc:
                meta = exc.response["ResponseMetadata"]
                retries.append(meta["RetryAttempts"])
                statuses.add(meta["HTTPStatusCode"])
            times.append(time.perf_counter() - t)
        return {"operation": f"{service}.{operation}", "median_ms": median_ms(times),
                "max_retries": max(retries), "statuses": sorted(statuses)}
    return {"operation": None}


# -- (d) workshop check ---------------------------------------------------------
def bench_check(gateway: Server, n: int) -> dict:
    times, codes = [], set()
    command = [sys.executable, "-m", "workshop", "check", "04-iac", "--endpoint", gateway.endpoint,
               "--account", "987654321098"]  # an account nobody used: every check fails
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True)  # warm the OS file cache
    last, cpu = None, []
    for _ in range(n):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        last = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        codes.add(last.returncode)
    checks = sum(1 for line in last.stdout.splitlines() if line.startswith(("PASS", "FAIL")))
    return {"median_s": statistics.median(times), "cpu_s": statistics.median(cpu), "exit_codes": sorted(codes), "checks": checks,
            "stderr": last.stderr.strip()[-300:]}


# -- report ---------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=7, help="starts of each server (default %(default)s)")
    parser.add_argument("--calls", type=int, default=200, help="calls of each operation (default %(default)s)")
    parser.add_argument("--checks", type=int, default=7, help="`workshop check` runs (default %(default)s)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f} at start; Python {sys.version.split()[0]}")
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-cloud-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"\n(a) start, N={args.starts} each (median)")
        start = bench_start(args.starts, tmp)
        figures["start"] = start
        print(f"    {'':<24}{'workshop cloud':>16}{'moto_server':>14}{'ratio':>8}")
        for key, label in (("healthy", "start to healthy"), ("first_call", "start to first STS")):
            w, m = (statistics.median(start[k][key]) for k in ("workshop", "moto"))
            print(f"    {label:<24}{w:>14.3f} s{m:>12.3f} s{w / m:>8.2f}")
        healthy = statistics.median(start["workshop"]["healthy"])
        print(f"    target: start-to-healthy median <= {TARGET_START} s: {verdict(healthy <= TARGET_START)}")

        gateway, moto = Server("workshop", tmp), Server("moto", tmp)
        try:
            gateway.wait_healthy()
            moto.wait_healthy()
            # Let the cloud finish its start-up warm-up (CloudFormation's first call waits for it),
            # then wait until both servers are idle, so no background work is counted.
            client("cloudformation", gateway.endpoint).describe_stacks()
            for server in (gateway, moto):
                server.wait_idle()

            print(f"\n(b) per-call latency, {args.calls} calls each, interleaved (median)")
            calls = bench_calls(gateway, moto, args.calls)
            figures["calls"] = calls
            print(f"    {'':<34}{'gateway':>10}{'moto':>10}{'ratio':>7}   "
                  f"{'server CPU per call: gateway':>28}{'moto':>9}{'ratio':>7}")
            ratios = []
            for name, t in calls.items():
                ratios.append(t["workshop"] / t["moto"])
                cpu_ratio = t["workshop_cpu"] / t["moto_cpu"] if t["moto_cpu"] else float("nan")
                print(f"    {name:<34}{t['workshop']:>8.2f}ms{t['moto']:>8.2f}ms{ratios[-1]:>7.2f}   "
                      f"{t['workshop_cpu']:>26.2f}ms{t['moto_cpu']:>7.2f}ms{cpu_ratio:>7.2f}")
            overall = statistics.median(ratios)
            figures["ratio"] = overall
            print(f"    median ratio gateway/moto {overall:.2f}; target <= {TARGET_RATIO}: "
                  f"{verdict(overall <= TARGET_RATIO)}")

            print(f"\n(c) unimplemented operation through the gateway, {args.calls // 4} calls")
            unimplemented = bench_unimplemented(gateway, max(10, args.calls // 4))
            figures["unimplemented"] = unimplemented
            if unimplemented["operation"] is None:
                print("    every candidate operation is implemented now: add one to UNIMPLEMENTED")
            else:
                ok = (unimplemented["median_ms"] < TARGET_UNIMPLEMENTED * 1000
                      and unimplemented["max_retries"] == 0 and unimplemented["statuses"] == [501])
                print(f"    {unimplemented['operation']}: median {unimplemented['median_ms']:.2f} ms, "
                      f"HTTP {unimplemented['statuses']}, boto3 retries (max) {unimplemented['max_retries']}")
                print(f"    target: < {TARGET_UNIMPLEMENTED * 1000:.0f} ms, 501, 0 retries: {verdict(ok)}")

            print(f"\n(d) a new `workshop check 04-iac` process on an empty account, N={args.checks} (median)")
            check = bench_check(gateway, args.checks)
            figures["check"] = check
            print(f"    wall {check['median_s']:.3f} s (its own CPU {check['cpu_s']:.3f} s), {check['checks']} checks, exit codes {check['exit_codes']}")
            if check["exit_codes"] != [1]:
                print(f"    note: expected exit 1 (every check fails on an empty account): {check['stderr']}")
            print(f"    target: <= {TARGET_CHECK} s: {verdict(check['median_s'] <= TARGET_CHECK)}")
        finally:
            gateway.stop()
            moto.stop()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
