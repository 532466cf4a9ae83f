"""CodeDeploy on the workshop cloud at the default time scale (60): how long a
Lambda canary with a 5-minute bake (LambdaCanary10Percent5Minutes) takes from
create_deployment to Succeeded, beside its floor (the bake itself: 300 AWS
seconds = 5 s) and an all-at-once deployment of the same function; and a
rolling in-place deployment to four on-premises instances, one at a time.
Medians over a few runs. Target (issue 4): the canary in at most 10 s.
Run: python3 benchmarks/bench_codedeploy.py [--runs N]
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

ACCOUNT = "310987654321"
TIME_SCALE = 60.0
BAKE_AWS_SECONDS = 300
SOURCE = "def handler(event, context):\n    return {tag!r}\n"
APPSPEC = "version: 0.0\nos: linux\nfiles:\n  - source: /site\n    destination: /srv/app\nhooks:\n" \
          "  ValidateService:\n    - location: validate.sh\n"


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            archive.writestr(info, text)
    return buffer.getvalue()


def _appspec(current: str, target: str) -> dict:
    content = json.dumps({"version": 0.0, "Resources": [{"fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": "bench", "Alias": "live", "CurrentVersion": current, "TargetVersion": target}}}]})
    return {"revisionType": "AppSpecContent", "appSpecContent": {"content": content}}


def _until_done(cd, deployment_id: str) -> float:
    started = time.perf_counter()
    while True:
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        if info["status"] in ("Succeeded", "Failed", "Stopped"):
            assert info["status"] == "Succeeded", info
            return time.perf_counter() - started
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    canary, all_at_once, rolling = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-codedeploy-") as tmp:
        cloud = start_cloud(Path(tmp), time_scale=TIME_SCALE)
        try:
            lam = cloud.client("lambda", ACCOUNT)
            cd = cloud.client("codedeploy", ACCOUNT)
            role = cloud.client("iam", ACCOUNT).create_role(
                RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            lam.create_function(FunctionName="bench", Runtime="python3.12", Role=role, Handler="app.handler",
                                Code={"ZipFile": _zip({"app.py": SOURCE.format(tag="v1")})})
            lam.publish_version(FunctionName="bench")
            lam.update_function_code(FunctionName="bench", ZipFile=_zip({"app.py": SOURCE.format(tag="v2")}))
            lam.publish_version(FunctionName="bench")
            lam.create_alias(FunctionName="bench", Name="live", FunctionVersion="1")
            cd.create_application(applicationName="bench", computePlatform="Lambda")
            service_role = f"arn:aws:iam::{ACCOUNT}:role/codedeploy"
            for group, config in (("canary", "CodeDeployDefault.LambdaCanary10Percent5Minutes"),
                                  ("all-at-once", "CodeDeployDefault.LambdaAllAtOnce")):
                cd.create_deployment_group(applicationName="bench", deploymentGroupName=group,
                                           serviceRoleArn=service_role, deploymentConfigName=config)
            current, target = "1", "2"
            for _ in range(args.runs):
                for group, times in (("canary", canary), ("all-at-once", all_at_once)):
                    deployment_id = cd.create_deployment(applicationName="bench", deploymentGroupName=group,
                                                         revision=_appspec(current, target))["deploymentId"]
                    times.append(_until_done(cd, deployment_id))
                    current, target = target, current

            s3 = cloud.client("s3", ACCOUNT)
            s3.create_bucket(Bucket=f"bench-{ACCOUNT}")
            s3.put_object(Bucket=f"bench-{ACCOUNT}", Key="app.zip", Body=_zip({
                "appspec.yml": APPSPEC, "site/index.html": "ok\n", "validate.sh": "#!/bin/sh\ntrue\n"}))
            for n in range(1, 5):
                cd.register_on_premises_instance(instanceName=f"web-{n}",
                                                 iamUserArn=f"arn:aws:iam::{ACCOUNT}:user/web-{n}")
            cd.add_tags_to_on_premises_instances(instanceNames=[f"web-{n}" for n in range(1, 5)],
                                                 tags=[{"Key": "Role", "Value": "web"}])
            cd.create_application(applicationName="fleet", computePlatform="Server")
            cd.create_deployment_group(applicationName="fleet", deploymentGroupName="rolling",
                                       serviceRoleArn=service_role, deploymentConfigName="CodeDeployDefault.OneAtATime",
                                       onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "web",
                                                                      "Type": "KEY_AND_VALUE"}])
            revision = {"revisionType": "S3", "s3Location": {"bucket": f"bench-{ACCOUNT}", "key": "app.zip",
                                                             "bundleType": "zip"}}
            for _ in range(args.runs):
                deployment_id = cd.create_deployment(applicationName="fleet", deploymentGroupName="rolling",
                                                     revision=revision, fileExistsBehavior="OVERWRITE")["deploymentId"]
                rolling.append(_until_done(cd, deployment_id))
        finally:
            stop_cloud(cloud)

    floor = BAKE_AWS_SECONDS / TIME_SCALE
    median = statistics.median(canary)
    print(f"CodeDeploy on the workshop cloud (time scale {TIME_SCALE:g}, {args.runs} runs, 2 cores)")
    print(f"{'canary 10% / 5 min bake, to Succeeded':<44} median {median:6.2f} s   "
          f"(runs {', '.join(f'{t:.2f}' for t in canary)})   target <= 10 s: {'PASS' if median <= 10 else 'FAIL'}")
    print(f"{'floor: the bake itself (300 AWS s)':<44} {floor:13.2f} s   overhead x{median / floor:.3f}")
    print(f"{'all at once, to Succeeded':<44} median {statistics.median(all_at_once):6.2f} s")
    print(f"{'rolling, 4 instances one at a time':<44} median {statistics.median(rolling):6.2f} s   "
          f"({statistics.median(rolling) / 4:.2f} s per instance)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
