"""CodeBuild figures: `start_build` to IN_PROGRESS (its own latency, beside
list_projects on the same cloud, the floor of any call), a trivial build
(`echo ok`) to SUCCEEDED against the AWS-imposed waits it must sit out at this
time scale, and the sample app's real build (17 tests, report, zip artifact).
Prints medians over repeated runs.

    python benchmarks/bench_codebuild.py [--runs 10] [--time-scale 60] [--sample-app-runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402
from tests.test_codebuild_builds import (  # noqa: E402
    environment, inline_project, role, sample_app_copy, zip_dir)
from workshop.cloud.services.codebuild import build_runner  # noqa: E402

TRIVIAL = "version: 0.2\nphases:\n  build:\n    commands: [echo ok]\n"


def until_complete(cb, build_id: str, poll: float = 0.01, timeout: float = 300.0) -> dict:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildComplete"]:
            return build
        time.sleep(poll)
    raise TimeoutError(build_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--sample-app-runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cloud = start_cloud(tmp_path, time_scale=args.time_scale)
        try:
            account = new_account()
            cb = cloud.client("codebuild", account)
            inline_project(cb, account, "trivial", TRIVIAL)
            cb.list_projects()  # warm the service before timing it
            floor, to_in_progress, to_succeeded = [], [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                cb.list_projects()
                floor.append(time.perf_counter() - started)

                started = time.perf_counter()
                build = cb.start_build(projectName="trivial")["build"]
                to_in_progress.append(time.perf_counter() - started)
                assert build["buildStatus"] == "IN_PROGRESS"
                done = until_complete(cb, build["id"])
                to_succeeded.append(time.perf_counter() - started)
                assert done["buildStatus"] == "SUCCEEDED", done["phases"]

            sample = []
            if args.sample_app_runs:
                s3 = cloud.client("s3", account)
                bucket = f"bench-{account}"
                s3.create_bucket(Bucket=bucket)
                s3.put_object(Bucket=bucket, Key="app.zip", Body=zip_dir(sample_app_copy(tmp_path)))
                cb.create_project(name="sample-app", source={"type": "S3", "location": f"{bucket}/app.zip"},
                                  artifacts={"type": "S3", "location": bucket, "packaging": "ZIP", "name": "out.zip"},
                                  environment=environment(), serviceRole=role(account))
                for _ in range(args.sample_app_runs):
                    started = time.perf_counter()
                    build = cb.start_build(projectName="sample-app")["build"]
                    done = until_complete(cb, build["id"])
                    sample.append(time.perf_counter() - started)
                    assert done["buildStatus"] == "SUCCEEDED", done["phases"]
        finally:
            stop_cloud(cloud)

    waits = (build_runner.QUEUED_SECONDS + build_runner.PROVISIONING_SECONDS
             + build_runner.FINALIZING_SECONDS) / args.time_scale

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:8.1f} ms"

    print(f"runs: {args.runs} (median), time scale {args.time_scale:g}")
    print(f"list_projects (floor of a call)           {ms(floor)}")
    print(f"start_build -> IN_PROGRESS                {ms(to_in_progress)}  "
          f"(ratio to the floor {statistics.median(to_in_progress) / statistics.median(floor):.2f})")
    print(f"trivial build -> SUCCEEDED                {ms(to_succeeded)}  "
          f"(AWS-imposed waits at this scale: {waits * 1000:.0f} ms)")
    if sample:
        print(f"sample app build -> SUCCEEDED ({len(sample)} runs)  {ms(sample)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
