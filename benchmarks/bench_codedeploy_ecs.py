"""CodeDeploy blue/green on ECS, measured on a cloud at a time scale (60 by default): a
CODE_DEPLOY service of 2 tasks behind a production and a test listener, then deployments
that alternate v2 and v1 (CodeDeployDefault.ECSAllAtOnce or --config, original task set terminated
after 1 minute of workshop time): create_deployment to production answering with the new
version only (the listener's weights at 100) and to Succeeded (the original task set gone).
Steady requests (25/s) run meanwhile and their failures are counted. Prints medians.

    python benchmarks/bench_codedeploy_ecs.py [--deployments 3] [--scale 60] [--config ECSCanary10Percent5Minutes]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import ecs_images as ei  # noqa: E402
from tests import test_codedeploy_ecs as t  # noqa: E402
from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=3)
    parser.add_argument("--scale", type=float, default=60.0)
    parser.add_argument("--config", default="ECSAllAtOnce", help="a CodeDeployDefault.* ECS configuration")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cd-ecs-"))
    cloud = start_cloud(tmp, time_scale=args.scale)
    try:
        account = new_account()
        data = ei.data_dir_with_base(tmp)
        uri = cloud.client("ecr", account).create_repository(repositoryName="web")["repository"]["repositoryUri"]
        for version, tag in (("1.0.0", "v1"), ("2.0.0", "v2")):
            ei.build(cloud, account, data, ei.sample_app(tmp, version), f"{uri}:{tag}")
        world = {"cloud": cloud, "account": account, "uri": uri, "tmp": tmp}
        started = time.monotonic()
        s = t._stack(world, "bench", "CodeDeployDefault." + args.config)
        print(f"service of 2 tasks steady behind the listener: {time.monotonic() - started:.1f} s")
        prod = t.Answers(s["prod_url"])
        shifted, done = [], []
        try:
            for i in range(args.deployments):
                definition, version = (s["v2"], "2.0.0") if i % 2 == 0 else (s["v1"], "1.0.0")
                spec = {"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                    "TaskDefinition": definition, "LoadBalancerInfo": {"ContainerName": "web",
                                                                       "ContainerPort": 8080}}}}]}
                revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}}
                begin = time.monotonic()
                deployment = s["cd"].create_deployment(applicationName="bench", deploymentGroupName="web",
                                                       revision=revision)["deploymentId"]
                ei.wait_for(lambda: 100 in t._weights(s["elb"], s["prod"]).values() and
                            ei.get(s["prod_url"] + "/health")["version"] == version, timeout=600, every=0.05)
                shifted.append(time.monotonic() - begin)
                info = t._finished(s["cd"], deployment, timeout=600)
                assert info["status"] == "Succeeded", info.get("errorInformation")
                done.append(time.monotonic() - begin)
                print(f"deployment {i + 1}: production on {version} after {shifted[-1]:.1f} s, "
                      f"Succeeded after {done[-1]:.1f} s")
        finally:
            result = prod.stop()
        print(f"time scale {args.scale:g}, {args.deployments} {args.config} deployments of 2 tasks: "
              f"median {statistics.median(shifted):.1f} s to production on the new version, "
              f"{statistics.median(done):.1f} s to Succeeded; {result.sent} requests, {result.failed} failed")
    finally:
        stop_cloud(cloud)


if __name__ == "__main__":
    main()
