"""CodeDeploy on the Server platform, in place: instances (registered on-premises
instances or EC2 instances found by their tags) are local directories; the
revision is an S3 zip whose appspec.yml copies files and runs real hook
scripts; minimum healthy hosts decides how many instances go at once; a
failing ValidateService fails the deployment and the rollback reinstalls the
previous revision where the failed one had been."""

from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.test_codedeploy_lambda import finished, wait_for

APPSPEC = """
version: 0.0
os: linux
files:
  - source: /site
    destination: /var/www/html
hooks:
  ApplicationStop:
    - location: scripts/stop.sh
  BeforeInstall:
    - location: scripts/record.sh
  AfterInstall:
    - location: scripts/record.sh
  ApplicationStart:
    - location: scripts/record.sh
  ValidateService:
    - location: scripts/validate.sh
      timeout: 60
"""
RECORD = """#!/bin/sh
mkdir -p "$WORKSHOP_INSTANCE_ROOT/var/log"
echo "$LIFECYCLE_EVENT $DEPLOYMENT_ID $APPLICATION_NAME $DEPLOYMENT_GROUP_NAME $DEPLOYMENT_GROUP_ID" \
  >> "$WORKSHOP_INSTANCE_ROOT/var/log/hooks.log"
sleep 0.1
"""
STOP = """#!/bin/sh
mkdir -p "$WORKSHOP_INSTANCE_ROOT/var/log"
echo "stop {tag} $DEPLOYMENT_ID" >> "$WORKSHOP_INSTANCE_ROOT/var/log/hooks.log"
"""
VALIDATE = """#!/bin/sh
grep -q {tag} var/www/html/index.html || exit 3
"""
VALIDATE_FAILS_ON_WEB3 = """#!/bin/sh
if [ "$WORKSHOP_INSTANCE_ID" = "web-3" ]; then
  echo "health check failed on $WORKSHOP_INSTANCE_ID" >&2
  exit 1
fi
echo "healthy"
"""


def bundle(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".sh") else 0o644) << 16
            archive.writestr(info, textwrap.dedent(text).lstrip("\n") if not name.endswith(".sh") else text)
    return buffer.getvalue()


def release(tag: str, validate: str | None = None, extra: dict[str, str] | None = None,
            spec: str = APPSPEC) -> bytes:
    files = {"appspec.yml": spec, "site/index.html": f"<h1>{tag}</h1>\n", "scripts/record.sh": RECORD,
             "scripts/stop.sh": STOP.format(tag=tag), "scripts/validate.sh": validate or VALIDATE.format(tag=tag)}
    files.update(extra or {})
    return bundle(files)


def upload(cloud, account: str, key: str, body: bytes) -> dict:
    s3 = cloud.client("s3", account)
    bucket = f"revisions-{account}"
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {"revisionType": "S3", "s3Location": {"bucket": bucket, "key": key, "bundleType": "zip"}}


def register(cloud, account: str, names: list[str], tags: list[dict]) -> None:
    cd = cloud.client("codedeploy", account)
    for name in names:
        cd.register_on_premises_instance(instanceName=name, iamUserArn=f"arn:aws:iam::{account}:user/{name}")
    cd.add_tags_to_on_premises_instances(instanceNames=names, tags=tags)


def server_group(cloud, account: str, group: str, config: str, **options) -> object:
    cd = cloud.client("codedeploy", account)
    try:
        cd.create_application(applicationName="shop", computePlatform="Server")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ApplicationAlreadyExistsException"
    cd.create_deployment_group(applicationName="shop", deploymentGroupName=group, deploymentConfigName=config,
                               serviceRoleArn=f"arn:aws:iam::{account}:role/codedeploy", **options)
    return cd


def instance_root(cloud, account: str, instance: str) -> Path:
    return cloud.data_dir / "state" / "codedeploy" / account / "us-east-1" / "instances" / instance / "root"


def targets(cd, deployment_id: str) -> dict[str, dict]:
    ids = cd.list_deployment_targets(deploymentId=deployment_id)["targetIds"]
    found = cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids)["deploymentTargets"]
    return {t["instanceTarget"]["targetId"]: t["instanceTarget"] for t in found}


def span(target: dict) -> tuple:
    """When an instance's deployment began and ended (its events that ran)."""
    ran = [e for e in target["lifecycleEvents"] if "startTime" in e]
    return min(e["startTime"] for e in ran), max(e["endTime"] for e in ran)


WEB = [f"web-{n}" for n in range(1, 5)]


def test_rolling_one_at_a_time_then_a_failed_validation_rolls_back(cloud, account):
    register(cloud, account, WEB, [{"Key": "Role", "Value": "web"}])
    register(cloud, account, ["db-1"], [{"Key": "Role", "Value": "db"}])
    cd = server_group(cloud, account, "fleet", "CodeDeployDefault.OneAtATime",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "web", "Type": "KEY_AND_VALUE"}],
                      autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})
    group_id = cd.get_deployment_group(applicationName="shop", deploymentGroupName="fleet")[
        "deploymentGroupInfo"]["deploymentGroupId"]

    v1 = upload(cloud, account, "shop/v1.zip", release("v1"))
    first = cd.create_deployment(applicationName="shop", deploymentGroupName="fleet", revision=v1)["deploymentId"]
    info = finished(cd, first)
    assert info["status"] == "Succeeded", info
    assert info["deploymentOverview"]["Succeeded"] == 4
    found = targets(cd, first)
    assert sorted(found) == WEB   # db-1 is not tagged Role=web
    # One at a time: each instance starts after the one before it has finished.
    spans = sorted(span(t) for t in found.values())
    for (_, ended), (started, _) in zip(spans, spans[1:]):
        assert started >= ended
    events = found["web-1"]["lifecycleEvents"]
    assert [e["lifecycleEventName"] for e in events] == [
        "BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic", "ApplicationStop", "DownloadBundle",
        "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService", "BeforeAllowTraffic",
        "AllowTraffic", "AfterAllowTraffic"]
    assert {e["lifecycleEventName"]: e["status"] for e in events}["BlockTraffic"] == "Skipped"   # no load balancer
    assert all(e["status"] == "Succeeded" for e in events[3:10])
    assert events[5]["diagnostics"]["errorCode"] == "Success"
    for name in WEB:
        root = instance_root(cloud, account, name)
        assert (root / "var/www/html/index.html").read_text() == "<h1>v1</h1>\n"
        log = (root / "var/log/hooks.log").read_text()
        assert f"BeforeInstall {first} shop fleet {group_id}" in log
        assert f"ValidateService {first}" not in log      # validate.sh does not record
    assert not (instance_root(cloud, account, "db-1") / "var").exists()
    listed = cd.list_deployment_instances(deploymentId=first)["instancesList"]
    assert sorted(listed) == WEB
    summary = cd.get_deployment_instance(deploymentId=first, instanceId="web-2")["instanceSummary"]
    assert summary["status"] == "Succeeded" and summary["instanceType"] == "Blue"

    v2 = upload(cloud, account, "shop/v2.zip", release("v2", VALIDATE_FAILS_ON_WEB3,
                                                       {"site/new.html": "<p>new in v2</p>\n"}))
    second = cd.create_deployment(applicationName="shop", deploymentGroupName="fleet", revision=v2)["deploymentId"]
    info = finished(cd, second)
    assert info["status"] == "Failed"
    assert info["errorInformation"]["code"] == "HEALTH_CONSTRAINTS"
    assert info["previousRevision"]["s3Location"]["key"] == "shop/v1.zip"
    found = targets(cd, second)
    assert {k: t["status"] for k, t in found.items()} == {
        "web-1": "Succeeded", "web-2": "Succeeded", "web-3": "Failed", "web-4": "Skipped"}
    validate = {e["lifecycleEventName"]: e for e in found["web-3"]["lifecycleEvents"]}["ValidateService"]
    assert validate["status"] == "Failed"
    assert validate["diagnostics"]["errorCode"] == "ScriptFailed"
    assert validate["diagnostics"]["scriptName"] == "scripts/validate.sh"
    assert "exit code 1" in validate["diagnostics"]["message"]
    assert "[stderr]health check failed on web-3" in validate["diagnostics"]["logTail"]
    assert all(e["status"] == "Skipped" for e in found["web-4"]["lifecycleEvents"])
    assert (instance_root(cloud, account, "web-3") / "var/www/html/new.html").exists()   # v2 got that far

    rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
    rollback = finished(cd, rollback_id)
    assert rollback["status"] == "Succeeded" and rollback["creator"] == "codeDeployRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == second
    assert rollback["revision"]["s3Location"]["key"] == "shop/v1.zip"
    restored = targets(cd, rollback_id)
    assert {k: t["status"] for k, t in restored.items()} == {
        "web-1": "Succeeded", "web-2": "Succeeded", "web-3": "Succeeded", "web-4": "Skipped"}
    for name in WEB:
        root = instance_root(cloud, account, name)
        assert (root / "var/www/html/index.html").read_text() == "<h1>v1</h1>\n"
        assert not (root / "var/www/html/new.html").exists()
    # ApplicationStop runs the scripts of the revision the instance had: v2 where v2 succeeded.
    assert f"stop v2 {rollback_id}" in (instance_root(cloud, account, "web-1") / "var/log/hooks.log").read_text()
    assert f"stop v1 {rollback_id}" in (instance_root(cloud, account, "web-3") / "var/log/hooks.log").read_text()
    group = cd.get_deployment_group(applicationName="shop", deploymentGroupName="fleet")["deploymentGroupInfo"]
    assert group["lastSuccessfulDeployment"]["deploymentId"] == rollback_id
    assert group["lastAttemptedDeployment"]["deploymentId"] == rollback_id


def test_ec2_instances_by_tag_half_at_a_time(cloud, account):
    ec2 = cloud.client("ec2", account)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    reservation = ec2.run_instances(ImageId=image, MinCount=4, MaxCount=4, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "App", "Value": "shop"}]}])
    ids = sorted(i["InstanceId"] for i in reservation["Instances"])
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)    # untagged: not deployed to
    slow = RECORD.replace("sleep 0.1", "sleep 0.5")
    revision = upload(cloud, account, "half.zip", release("v1", extra={"scripts/record.sh": slow}))
    cd = server_group(cloud, account, "ec2", "CodeDeployDefault.HalfAtATime",
                      ec2TagFilters=[{"Key": "App", "Value": "shop", "Type": "KEY_AND_VALUE"}])
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="ec2",
                                         revision=revision)["deploymentId"]
    assert finished(cd, deployment_id)["status"] == "Succeeded"
    found = targets(cd, deployment_id)
    assert sorted(found) == ids
    assert all(t["targetArn"].endswith(f":instance/{k}") for k, t in found.items())
    spans = [span(t) for t in found.values()]
    # Half at a time: never more than two instances at once, and two did run together.
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most == 2
    for instance_id in ids:
        assert (instance_root(cloud, account, instance_id) / "var/www/html/index.html").exists()


def test_all_at_once_succeeds_if_any_instance_does_and_host_count_is_stricter(cloud, account):
    register(cloud, account, WEB, [{"Key": "Role", "Value": "web"}])
    tags = [{"Key": "Role", "Value": "web", "Type": "KEY_AND_VALUE"}]
    revision = upload(cloud, account, "v.zip", release("v1", VALIDATE_FAILS_ON_WEB3))
    cd = server_group(cloud, account, "all", "CodeDeployDefault.AllAtOnce", onPremisesInstanceTagFilters=tags)
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="all",
                                         revision=revision)["deploymentId"]
    info = finished(cd, deployment_id)
    assert info["status"] == "Succeeded"
    assert info["deploymentOverview"]["Failed"] == 1 and info["deploymentOverview"]["Succeeded"] == 3
    spans = [span(t) for t in targets(cd, deployment_id).values()]
    assert max(s for s, _ in spans) < min(e for _, e in spans)   # all four ran together

    cd.create_deployment_config(deploymentConfigName="KeepThree", computePlatform="Server",
                                minimumHealthyHosts={"type": "HOST_COUNT", "value": 3})
    server_group(cloud, account, "strict", "KeepThree", onPremisesInstanceTagFilters=tags)
    # Another group's files are in the way: by default (DISALLOW) the install refuses to overwrite them.
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="strict",
                                         revision=revision)["deploymentId"]
    info = finished(cd, deployment_id)
    assert info["status"] == "Failed" and info["fileExistsBehavior"] == "DISALLOW"
    install = {e["lifecycleEventName"]: e for e in targets(cd, deployment_id)["web-1"]["lifecycleEvents"]}["Install"]
    assert install["status"] == "Failed"
    assert "already exists at this location: /var/www/html/index.html" in install["diagnostics"]["message"]

    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="strict", revision=revision,
                                         fileExistsBehavior="OVERWRITE")["deploymentId"]
    info = finished(cd, deployment_id)
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "HEALTH_CONSTRAINTS"
    assert {k: t["status"] for k, t in targets(cd, deployment_id).items()} == {
        "web-1": "Succeeded", "web-2": "Succeeded", "web-3": "Failed", "web-4": "Skipped"}


CREDENTIALS_CHECK = """#!/bin/sh
env > "$WORKSHOP_INSTANCE_ROOT/env.txt"
python3 - <<'EOF'
import boto3, os
boto3.client("s3").put_object(Bucket="revisions-" + os.environ["AWS_ACCESS_KEY_ID"], Key="from-hook.txt",
                              Body=os.environ["LIFECYCLE_EVENT"].encode())
EOF
"""


def test_hooks_run_with_the_accounts_credentials_and_not_the_hosts(cloud, account):
    register(cloud, account, ["app-1"], [{"Key": "Name", "Value": "app-1"}])
    revision = upload(cloud, account, "creds.zip", release("v1", CREDENTIALS_CHECK))
    cd = server_group(cloud, account, "one", "CodeDeployDefault.OneAtATime",
                      onPremisesInstanceTagFilters=[{"Key": "Name", "Type": "KEY_ONLY"}])
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="one",
                                         revision=revision)["deploymentId"]
    assert finished(cd, deployment_id)["status"] == "Succeeded"
    body = cloud.client("s3", account).get_object(Bucket=f"revisions-{account}", Key="from-hook.txt")["Body"]
    assert body.read() == b"ValidateService"
    env = dict(line.split("=", 1) for line in
               (instance_root(cloud, account, "app-1") / "env.txt").read_text().splitlines() if "=" in line)
    assert env["AWS_ACCESS_KEY_ID"] == account and env["AWS_ENDPOINT_URL"] == cloud.endpoint
    assert env["DEPLOYMENT_ID"] == deployment_id and env["APPLICATION_NAME"] == "shop"
    assert "WORKSHOP_ADMIN_TOKEN" not in env   # the cloud's own secret stays with the cloud


BROKEN_SPECS = {
    "timeout": ("ValidateService", "ScriptTimedOut",
                APPSPEC.replace("timeout: 60", "timeout: 1"), "#!/bin/sh\nsleep 30\n"),
    "missing": ("BeforeInstall", "ScriptMissing",
                APPSPEC.replace("scripts/record.sh", "scripts/nowhere.sh", 1), None),
}


@pytest.mark.parametrize("case", sorted(BROKEN_SPECS))
def test_a_script_that_times_out_or_is_missing(cloud, account, case):
    event, code, spec, validate = BROKEN_SPECS[case]
    register(cloud, account, ["solo"], [{"Key": "Role", "Value": "solo"}])
    revision = upload(cloud, account, f"{case}.zip", release("v1", validate, spec=spec))
    cd = server_group(cloud, account, case, "CodeDeployDefault.AllAtOnce",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "solo", "Type": "KEY_AND_VALUE"}])
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName=case,
                                         revision=revision)["deploymentId"]
    info = finished(cd, deployment_id)
    assert info["status"] == "Failed"
    event_info = {e["lifecycleEventName"]: e for e in targets(cd, deployment_id)["solo"]["lifecycleEvents"]}[event]
    assert event_info["status"] == "Failed" and event_info["diagnostics"]["errorCode"] == code


def test_no_instances_a_missing_revision_and_a_bundle_without_appspec(cloud, account):
    cd = server_group(cloud, account, "empty", "CodeDeployDefault.OneAtATime",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "nobody", "Type": "KEY_AND_VALUE"}])
    revision = upload(cloud, account, "v1.zip", release("v1"))
    info = finished(cd, cd.create_deployment(applicationName="shop", deploymentGroupName="empty",
                                             revision=revision)["deploymentId"])
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "NO_INSTANCES"

    with pytest.raises(ClientError) as err:
        cd.create_deployment(applicationName="shop", deploymentGroupName="empty", revision={
            "revisionType": "S3", "s3Location": {"bucket": f"revisions-{account}", "key": "nope.zip",
                                                 "bundleType": "zip"}})
    assert err.value.response["Error"]["Code"] == "RevisionDoesNotExistException"
    with pytest.raises(ClientError) as err:
        cd.create_deployment(applicationName="shop", deploymentGroupName="empty", revision={
            "revisionType": "S3", "s3Location": {"bucket": f"revisions-{account}", "key": "v1.zip",
                                                 "bundleType": "YAML"}})
    assert err.value.response["Error"]["Code"] == "InvalidRevisionException"

    register(cloud, account, ["box"], [{"Key": "Role", "Value": "box"}])
    server_group(cloud, account, "box", "CodeDeployDefault.OneAtATime",
                 onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "box", "Type": "KEY_AND_VALUE"}])
    plain = upload(cloud, account, "plain.zip", bundle({"index.html": "hi"}))
    info = finished(cd, cd.create_deployment(applicationName="shop", deploymentGroupName="box",
                                             revision=plain)["deploymentId"])
    assert info["status"] == "Failed"
    download = targets(cd, info["deploymentId"])["box"]["lifecycleEvents"][4]
    assert download["lifecycleEventName"] == "DownloadBundle" and download["status"] == "Failed"
    assert "AppSpec file" in download["diagnostics"]["message"]


def test_a_stopped_server_deployment_kills_its_scripts(cloud, account):
    register(cloud, account, ["slow-1", "slow-2"], [{"Key": "Role", "Value": "slow"}])
    revision = upload(cloud, account, "slow.zip", release("v1", "#!/bin/sh\nsleep 60\n"))
    cd = server_group(cloud, account, "slow", "CodeDeployDefault.OneAtATime",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "slow", "Type": "KEY_AND_VALUE"}])
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="slow",
                                         revision=revision)["deploymentId"]
    wait_for(lambda: any(e["lifecycleEventName"] == "ValidateService" and e["status"] == "InProgress"
                         for e in targets(cd, deployment_id)["slow-1"]["lifecycleEvents"]))
    cd.stop_deployment(deploymentId=deployment_id)
    info = finished(cd, deployment_id, timeout=20)   # far less than the script's 60 s
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "MANUAL_STOP"
    found = targets(cd, deployment_id)
    assert found["slow-1"]["status"] == "Failed" and found["slow-2"]["status"] == "Skipped"
    assert _hook_processes(deployment_id) == []


def test_an_alarm_stops_a_rolling_deployment(cloud, account):
    register(cloud, account, WEB, [{"Key": "Role", "Value": "web"}])
    cw = cloud.client("cloudwatch", account)
    cw.put_metric_alarm(AlarmName="5xx", Namespace="Shop", MetricName="Errors5xx", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching")
    slow = RECORD.replace("sleep 0.1", "sleep 1")
    v1 = upload(cloud, account, "v1.zip", release("v1"))
    v2 = upload(cloud, account, "v2.zip", release("v2", extra={"scripts/record.sh": slow}))
    cd = server_group(cloud, account, "watched", "CodeDeployDefault.OneAtATime",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "web", "Type": "KEY_AND_VALUE"}],
                      alarmConfiguration={"enabled": True, "alarms": [{"name": "5xx"}]},
                      autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_STOP_ON_ALARM"]})
    assert finished(cd, cd.create_deployment(applicationName="shop", deploymentGroupName="watched",
                                             revision=v1)["deploymentId"])["status"] == "Succeeded"
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="watched",
                                         revision=v2)["deploymentId"]
    wait_for(lambda: targets(cd, deployment_id)["web-1"]["status"] == "Succeeded")
    cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Errors5xx", "Value": 5}])
    info = finished(cd, deployment_id)
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE"
    statuses = {k: t["status"] for k, t in targets(cd, deployment_id).items()}
    assert statuses["web-1"] == "Succeeded" and statuses["web-4"] == "Skipped"
    rollback = finished(cd, info["rollbackInfo"]["rollbackDeploymentId"])
    assert rollback["status"] == "Succeeded"   # a rollback is not stopped by the alarm it answers
    assert (instance_root(cloud, account, "web-1") / "var/www/html/index.html").read_text() == "<h1>v1</h1>\n"


def _hook_processes(deployment_id: str) -> list[int]:
    """Processes running a hook script of this deployment (its path holds the deployment id)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"deployment-archive/scripts/" in cmdline and deployment_id.encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_resetting_the_account_stops_its_deployments_and_deletes_its_instances(cloud, account):
    import urllib.request

    register(cloud, account, ["doomed"], [{"Key": "Role", "Value": "doomed"}])
    revision = upload(cloud, account, "doomed.zip", release("v1", "#!/bin/sh\nsleep 300\n"))
    cd = server_group(cloud, account, "doomed", "CodeDeployDefault.OneAtATime",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "doomed", "Type": "KEY_AND_VALUE"}])
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="doomed",
                                         revision=revision)["deploymentId"]
    wait_for(lambda: _hook_processes(deployment_id))
    folder = cloud.data_dir / "state" / "codedeploy" / account
    assert folder.exists()

    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", method="POST",
                                     headers={"x-workshop-admin-token": cloud.admin_token})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200
    assert _hook_processes(deployment_id) == []
    assert not folder.exists()
    assert cd.list_applications()["applications"] == []
    assert cd.list_deployments()["deployments"] == []
    assert cd.list_on_premises_instances()["instanceNames"] == []
