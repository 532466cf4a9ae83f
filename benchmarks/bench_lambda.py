"""Lambda invocations on the workshop cloud: the cold start, then the median warm
invoke latency and invocations/s of 400 sequential calls (to the function and to
an alias with 10% routing), beside the floor of the same cloud (400 GetFunction
calls: a Lambda round trip that runs nothing), and the traffic helper with 4
threads. Run: python3 benchmarks/bench_lambda.py [--calls N]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import start_cloud, stop_cloud  # noqa: E402  (one way to start a cloud)

ACCOUNT = "210987654321"
SOURCE = """
import json
CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    return {"calls": CALLS, "echo": event}
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def _timed(n: int, call) -> tuple[list[float], float]:
    """Per-call latencies (ms) and the calls per second of ``n`` sequential calls."""
    latencies = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - t0) * 1000.0)
    return latencies, n / (time.perf_counter() - started)


def _row(label: str, latencies: list[float], rate: float) -> str:
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"{label:<38} median {statistics.median(latencies):7.2f} ms   p95 {p95:7.2f} ms   {rate:7.1f} calls/s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as tmp:
        cloud = start_cloud(Path(tmp))
        try:
            client = cloud.client("lambda", ACCOUNT)
            role = cloud.client("iam", ACCOUNT).create_role(
                RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            client.create_function(FunctionName="bench", Runtime="python3.12", Role=role, Handler="app.handler",
                                   Code={"ZipFile": _zip(SOURCE)})
            client.publish_version(FunctionName="bench")
            client.update_function_code(FunctionName="bench", ZipFile=_zip(SOURCE + "\n# v2\n"))
            client.publish_version(FunctionName="bench")
            client.create_alias(FunctionName="bench", Name="live", FunctionVersion="1",
                                RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
            payload = json.dumps({"order": 1})

            def invoke(name: str = "bench"):
                response = client.invoke(FunctionName=name, Payload=payload)
                response["Payload"].read()
                assert "FunctionError" not in response

            t0 = time.perf_counter()
            invoke()
            cold_ms = (time.perf_counter() - t0) * 1000.0
            invoke("bench:live")          # warm both versions behind the alias too
            for _ in range(20):
                invoke("bench:live")

            floor, floor_rate = _timed(args.calls, lambda: client.get_function(FunctionName="bench"))
            warm, warm_rate = _timed(args.calls, invoke)
            alias, alias_rate = _timed(args.calls, lambda: invoke("bench:live"))

            from labkit.traffic import send_traffic

            traffic = send_traffic("bench:live", count=args.calls, concurrency=4, endpoint=cloud.endpoint,
                                   account=ACCOUNT)
        finally:
            stop_cloud(cloud)

    print(f"Lambda invoke on the workshop cloud ({args.calls} sequential calls each, boto3, 2 cores)")
    print(f"{'cold start (first invoke, new worker)':<38} {cold_ms:7.1f} ms")
    print(_row("floor: GetFunction (runs nothing)", floor, floor_rate))
    print(_row("invoke, warm worker", warm, warm_rate))
    print(_row("invoke alias (10% to version 2)", alias, alias_rate))
    print(f"{'invoke overhead over the floor':<38} median x{statistics.median(warm) / statistics.median(floor):.2f}")
    print(f"{'traffic helper, 4 threads':<38} {traffic.sent / traffic.seconds:7.1f} invocations/s "
          f"({traffic.failed} failed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
