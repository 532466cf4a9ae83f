"""CodeDeploy on the Lambda platform, on a cloud at time scale 20 (a canary's
5-minute bake lasts 15 s): traffic shifts on the alias as the configuration
says, visible in get_alias and in what really runs; an alarm on the function's
errors stops a bad canary and the rollback puts the alias back; the same bad
version all at once fails far more requests; hooks, linear steps, stop_deployment."""

from __future__ import annotations

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from labkit.traffic import send_traffic, start_traffic
from tests.conftest import new_account, start_cloud, stop_cloud
from tests.test_lambda_invoke import make_function, zip_code

VERSION = """
    def handler(event, context):
        return "{tag}"
"""
BROKEN = """
    def handler(event, context):
        raise RuntimeError("release {tag} is broken")
"""
# A hook that reports its verdict the way AWS documents it: PutLifecycleEventHookExecutionStatus.
HOOK = """
    import boto3

    def handler(event, context):
        boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
            deploymentId=event["DeploymentId"],
            lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
            status="{status}")
        return "{status}"
"""


@pytest.fixture(scope="module")
def cloud20(tmp_path_factory):
    c = start_cloud(tmp_path_factory.mktemp("cloud20"), time_scale=20)
    yield c
    stop_cloud(c)


def two_versions(cloud, account: str, name: str, second: str = VERSION) -> object:
    """Version 1 answers "v1"; version 2 runs ``second``; alias ``live`` is on version 1."""
    client = cloud.client("lambda", account)
    make_function(cloud, account, name, VERSION.format(tag="v1"))
    assert client.publish_version(FunctionName=name)["Version"] == "1"
    client.update_function_code(FunctionName=name, ZipFile=zip_code(second.format(tag="v2")))
    assert client.publish_version(FunctionName=name)["Version"] == "2"
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return client


def appspec(name: str, hooks: dict[str, str] | None = None, current: str = "1", target: str = "2") -> dict:
    spec = {"version": 0.0, "Resources": [{name: {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": name, "Alias": "live", "CurrentVersion": current, "TargetVersion": target}}}]}
    if hooks:
        spec["Hooks"] = [{event: fn} for event, fn in hooks.items()]
    return {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}}


def lambda_group(cloud, account: str, group: str, config: str, alarms: list[str] | None = None,
                 rollback: list[str] | None = None, application: str = "shop") -> object:
    cd = cloud.client("codedeploy", account)
    try:
        cd.create_application(applicationName=application, computePlatform="Lambda")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ApplicationAlreadyExistsException"
    options = {}
    if alarms:
        options["alarmConfiguration"] = {"enabled": True, "alarms": [{"name": a} for a in alarms]}
    if rollback:
        options["autoRollbackConfiguration"] = {"enabled": True, "events": rollback}
    cd.create_deployment_group(applicationName=application, deploymentGroupName=group,
                               serviceRoleArn=f"arn:aws:iam::{account}:role/codedeploy",
                               deploymentConfigName=config, **options)
    return cd


def errors_alarm(cloud, account: str, function: str) -> str:
    """ALARM as soon as one period (60 s: 3 s at scale 20) holds an error of the function."""
    name = f"{function}-errors"
    cloud.client("cloudwatch", account).put_metric_alarm(
        AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": function}], Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching")
    return name


def wait_for(predicate, timeout: float = 90.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def finished(cd, deployment_id: str, timeout: float = 120.0) -> dict:
    return wait_for(lambda: (lambda info: info if info["status"] in ("Succeeded", "Failed", "Stopped") else None)(
        cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]), timeout)


def weights(client, name: str) -> dict:
    return client.get_alias(FunctionName=name, Name="live").get("RoutingConfig", {}).get("AdditionalVersionWeights",
                                                                                            {})


def test_a_good_canary_gets_ten_percent_for_the_bake_then_everything(cloud20):
    account = new_account()
    client = two_versions(cloud20, account, "orders")
    cd = lambda_group(cloud20, account, "canary", "CodeDeployDefault.LambdaCanary10Percent5Minutes")
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="canary",
                                         revision=appspec("orders"))["deploymentId"]

    wait_for(lambda: weights(client, "orders") == {"2": 0.1})
    alias = client.get_alias(FunctionName="orders", Name="live")
    assert alias["FunctionVersion"] == "1"
    assert cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "InProgress"
    target = cd.get_deployment_target(deploymentId=deployment_id, targetId="orders:live")["deploymentTarget"]
    assert target["deploymentTargetType"] == "LambdaTarget"
    assert target["lambdaTarget"]["lambdaFunctionInfo"]["targetVersionWeight"] == 0.1

    during = send_traffic("orders:live", count=600, concurrency=8, endpoint=cloud20.endpoint, account=account)
    # Every request above was sent during the bake: the alias still routes 10% to version 2.
    assert weights(client, "orders") == {"2": 0.1}
    assert during.sent == 600 and during.failed == 0
    # Binomial(600, 0.1): mean 60, sd 7.3; 5%-15% (30-90) fails about once in 20,000 runs.
    assert 30 <= during.tally("2").requests <= 90
    assert during.tally("1").requests + during.tally("2").requests == 600

    info = finished(cd, deployment_id)
    assert info["status"] == "Succeeded" and "errorInformation" not in info
    assert info["deploymentOverview"]["Succeeded"] == 1 and info["completeTime"] >= info["startTime"]
    alias = client.get_alias(FunctionName="orders", Name="live")
    assert alias["FunctionVersion"] == "2" and "RoutingConfig" not in alias
    after = send_traffic("orders:live", count=100, concurrency=4, endpoint=cloud20.endpoint, account=account)
    assert after.tally("2").requests == 100 and after.failed == 0

    target = cd.get_deployment_target(deploymentId=deployment_id, targetId="orders:live")["deploymentTarget"]
    events = target["lambdaTarget"]["lifecycleEvents"]
    assert [e["lifecycleEventName"] for e in events] == ["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
    assert all(e["status"] == "Succeeded" for e in events)
    allow = events[1]
    # The AllowTraffic event lasted the bake: 5 AWS minutes, 15 s at time scale 20.
    assert (allow["endTime"] - allow["startTime"]).total_seconds() >= 14
    assert target["lambdaTarget"]["lambdaFunctionInfo"] == {
        "functionName": "orders", "functionAlias": "live", "currentVersion": "1", "targetVersion": "2",
        "targetVersionWeight": 1.0}


def _bad_release(cloud, account: str, function: str, group: str, config: str):
    """Deploy a broken version 2 of ``function`` with ``config`` while 300 requests arrive at 20/s."""
    client = two_versions(cloud, account, function, BROKEN)
    alarm = errors_alarm(cloud, account, function)
    cd = lambda_group(cloud, account, group, config, alarms=[alarm], rollback=["DEPLOYMENT_STOP_ON_ALARM"])
    # The alarm must have left INSUFFICIENT_DATA... or at least not be in ALARM when the deployment starts.
    traffic = start_traffic(f"{function}:live", count=300, rate=20, concurrency=4, endpoint=cloud.endpoint,
                            account=account)
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName=group,
                                         revision=appspec(function))["deploymentId"]
    result = traffic.result(timeout=120)
    return client, cd, deployment_id, result, alarm


def test_an_alarm_stops_a_bad_canary_and_the_rollback_restores_the_old_version(cloud20):
    account = new_account()
    client, cd, deployment_id, canary, alarm = _bad_release(
        cloud20, account, "payments", "canary", "CodeDeployDefault.LambdaCanary10Percent5Minutes")

    info = finished(cd, deployment_id)
    assert info["status"] == "Stopped"
    assert info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert alarm in info["errorInformation"]["message"]
    rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
    rollback = finished(cd, rollback_id)
    assert rollback["status"] == "Succeeded" and rollback["creator"] == "codeDeployRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == deployment_id
    alias = client.get_alias(FunctionName="payments", Name="live")
    assert alias["FunctionVersion"] == "1" and "RoutingConfig" not in alias

    history = cloud20.client("cloudwatch", account).describe_alarm_history(AlarmName=alarm,
                                                                           HistoryItemType="StateUpdate")
    assert any("to ALARM" in item["HistorySummary"] for item in history["AlarmHistoryItems"])
    # The canary failed some requests (version 2 at 10%), never most of them.
    assert canary.sent == 300
    assert canary.tally("2").failed == canary.tally("2").requests > 0
    assert canary.tally("1").failed == 0
    assert canary.failed <= 0.15 * canary.sent
    target = cd.get_deployment_target(deploymentId=deployment_id, targetId="payments:live")["deploymentTarget"]
    allow = target["lambdaTarget"]["lifecycleEvents"][1]
    assert allow["lifecycleEventName"] == "AllowTraffic" and allow["status"] == "Failed"

    # The same broken release, all at once, to another function with the same alarm and rollback:
    # it is over before the alarm can fire, so every request after the switch fails.
    other, cd, all_at_once_id, all_at_once, _ = _bad_release(
        cloud20, account, "payments-aao", "all-at-once", "CodeDeployDefault.LambdaAllAtOnce")
    assert finished(cd, all_at_once_id)["status"] == "Succeeded"
    assert all_at_once.sent == canary.sent
    assert all_at_once.failed >= 3 * canary.failed
    assert all_at_once.failed >= 0.9 * all_at_once.sent
    assert other.get_alias(FunctionName="payments-aao", Name="live")["FunctionVersion"] == "2"


def test_an_alarm_that_goes_off_and_back_between_two_looks_still_stops_the_canary(cloud20):
    """A scaled alarm period lasts a second or less (3 s here) and on a loaded machine the runner
    can look less often than that: an alarm in ALARM at any moment of the deployment stops it, one
    in ALARM only before it started does not. ALARM then OK at once makes that moment a few ms."""
    account = new_account()
    client = two_versions(cloud20, account, "blip")
    alarm = errors_alarm(cloud20, account, "blip")
    cd = lambda_group(cloud20, account, "blip-group", "CodeDeployDefault.LambdaCanary10Percent30Minutes",
                      alarms=[alarm], rollback=["DEPLOYMENT_STOP_ON_ALARM"])
    cw = cloud20.client("cloudwatch", account)
    wait_for(lambda: cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "OK")

    def blip() -> None:
        cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="errors for a moment")
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="no errors")

    blip()
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="blip-group",
                                         revision=appspec("blip"))["deploymentId"]
    wait_for(lambda: weights(client, "blip") == {"2": 0.1})        # the canary bakes (90 s here)
    assert cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "InProgress"
    blip()
    info = finished(cd, deployment_id, timeout=60)
    assert (info["status"], info["errorInformation"]["code"]) == ("Stopped", "ALARM_ACTIVE"), info
    assert alarm in info["errorInformation"]["message"]
    assert finished(cd, info["rollbackInfo"]["rollbackDeploymentId"])["status"] == "Succeeded"
    alias = client.get_alias(FunctionName="blip", Name="live")
    assert alias["FunctionVersion"] == "1" and "RoutingConfig" not in alias


def test_linear_steps_shift_a_little_more_each_interval(cloud20):
    account = new_account()
    client = two_versions(cloud20, account, "search")
    cd = cloud20.client("codedeploy", account)
    cd.create_deployment_config(deploymentConfigName="Linear25Every1", computePlatform="Lambda",
                                trafficRoutingConfig={"type": "TimeBasedLinear", "timeBasedLinear": {
                                    "linearPercentage": 25, "linearInterval": 1}})
    lambda_group(cloud20, account, "linear", "Linear25Every1")
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="linear",
                                         revision=appspec("search"))["deploymentId"]
    seen = []
    while cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "InProgress":
        current = weights(client, "search").get("2")
        if current is not None and (not seen or seen[-1] != current):
            seen.append(current)
        time.sleep(0.1)
    # Each step lasts a minute (3 s at scale 20): every weight is seen, in order.
    assert seen == [0.25, 0.5, 0.75]
    alias = client.get_alias(FunctionName="search", Name="live")
    assert alias["FunctionVersion"] == "2" and "RoutingConfig" not in alias


def test_hooks_report_their_verdict_and_a_failed_hook_rolls_back(cloud20):
    account = new_account()
    client = two_versions(cloud20, account, "basket")
    make_function(cloud20, account, "check-ok", HOOK.format(status="Succeeded"), Timeout=30)
    make_function(cloud20, account, "check-bad", HOOK.format(status="Failed"), Timeout=30)
    make_function(cloud20, account, "check-raises", BROKEN.format(tag="hook"))
    cd = lambda_group(cloud20, account, "hooked", "CodeDeployDefault.LambdaAllAtOnce",
                      rollback=["DEPLOYMENT_FAILURE"])

    good = cd.create_deployment(applicationName="shop", deploymentGroupName="hooked", revision=appspec(
        "basket", {"BeforeAllowTraffic": "check-ok", "AfterAllowTraffic": "check-ok"}))["deploymentId"]
    assert finished(cd, good)["status"] == "Succeeded"
    assert client.get_alias(FunctionName="basket", Name="live")["FunctionVersion"] == "2"

    # Version 2 is live now; deploy 1 -> ... no: deploy 2 -> 1 with an AfterAllowTraffic hook that says Failed.
    bad = cd.create_deployment(applicationName="shop", deploymentGroupName="hooked", revision=appspec(
        "basket", {"AfterAllowTraffic": "check-bad"}, current="2", target="1"))["deploymentId"]
    info = finished(cd, bad)
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    events = cd.get_deployment_target(deploymentId=bad, targetId="basket:live")["deploymentTarget"][
        "lambdaTarget"]["lifecycleEvents"]
    assert [(e["lifecycleEventName"], e["status"]) for e in events] == [
        ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "Succeeded"), ("AfterAllowTraffic", "Failed")]
    assert "check-bad" in events[2]["diagnostics"]["message"]
    rollback = finished(cd, info["rollbackInfo"]["rollbackDeploymentId"])
    assert rollback["status"] == "Succeeded"
    assert client.get_alias(FunctionName="basket", Name="live")["FunctionVersion"] == "2"

    # A hook that raises fails the deployment too (no verdict reported).
    raised = cd.create_deployment(applicationName="shop", deploymentGroupName="hooked", revision=appspec(
        "basket", {"BeforeAllowTraffic": "check-raises"}, current="2", target="1"))["deploymentId"]
    info = finished(cd, raised)
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    assert "release hook is broken" in info["errorInformation"]["message"]
    finished(cd, info["rollbackInfo"]["rollbackDeploymentId"])
    alias = client.get_alias(FunctionName="basket", Name="live")
    assert alias["FunctionVersion"] == "2" and "RoutingConfig" not in alias

    # A verdict is given once, for an execution the deployment knows.
    with pytest.raises(ClientError) as err:
        cd.put_lifecycle_event_hook_execution_status(deploymentId=good, lifecycleEventHookExecutionId="nope",
                                                     status="Succeeded")
    assert err.value.response["Error"]["Code"] == "InvalidLifecycleEventHookExecutionIdException"
    with pytest.raises(ClientError) as err:
        cd.put_lifecycle_event_hook_execution_status(deploymentId=good, lifecycleEventHookExecutionId="x",
                                                     status="Maybe")
    assert err.value.response["Error"]["Code"] == "InvalidLifecycleEventHookExecutionStatusException"


def test_stop_deployment_with_and_without_rollback(cloud20):
    account = new_account()
    client = two_versions(cloud20, account, "profile")
    cd = lambda_group(cloud20, account, "slow", "CodeDeployDefault.LambdaCanary10Percent30Minutes")

    first = cd.create_deployment(applicationName="shop", deploymentGroupName="slow",
                                 revision=appspec("profile"))["deploymentId"]
    wait_for(lambda: weights(client, "profile") == {"2": 0.1})
    with pytest.raises(ClientError) as err:   # one active deployment per group
        cd.create_deployment(applicationName="shop", deploymentGroupName="slow", revision=appspec("profile"))
    assert err.value.response["Error"]["Code"] == "DeploymentLimitExceededException"
    assert first in err.value.response["Error"]["Message"]
    stopped = cd.stop_deployment(deploymentId=first)
    assert stopped["status"] == "Pending"
    info = finished(cd, first)
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "MANUAL_STOP"
    assert "rollbackDeploymentId" not in info.get("rollbackInfo", {})
    # Without a rollback the alias stays where the deployment left it.
    assert weights(client, "profile") == {"2": 0.1}
    with pytest.raises(ClientError) as err:
        cd.stop_deployment(deploymentId=first)
    assert err.value.response["Error"]["Code"] == "DeploymentAlreadyCompletedException"

    client.update_alias(FunctionName="profile", Name="live", FunctionVersion="1", RoutingConfig={})
    second = cd.create_deployment(applicationName="shop", deploymentGroupName="slow",
                                  revision=appspec("profile"))["deploymentId"]
    wait_for(lambda: weights(client, "profile") == {"2": 0.1})
    cd.stop_deployment(deploymentId=second, autoRollbackEnabled=True)
    info = finished(cd, second)
    assert info["status"] == "Stopped"
    rollback = finished(cd, info["rollbackInfo"]["rollbackDeploymentId"])
    assert rollback["status"] == "Succeeded"
    alias = client.get_alias(FunctionName="profile", Name="live")
    assert alias["FunctionVersion"] == "1" and "RoutingConfig" not in alias
    listed = cd.list_deployments(applicationName="shop", deploymentGroupName="slow")["deployments"]
    assert listed == [rollback["deploymentId"], second, first]
    assert cd.list_deployments(applicationName="shop", deploymentGroupName="slow",
                               includeOnlyStatuses=["Stopped"])["deployments"] == [second, first]


def test_bad_lambda_revisions(cloud20):
    account = new_account()
    client = two_versions(cloud20, account, "cart")
    cd = lambda_group(cloud20, account, "g", "CodeDeployDefault.LambdaAllAtOnce")
    bad = {"revisionType": "AppSpecContent", "appSpecContent": {"content": "version: 0.0\nResources: []\n"}}
    with pytest.raises(ClientError) as err:
        cd.create_deployment(applicationName="shop", deploymentGroupName="g", revision=bad)
    assert err.value.response["Error"]["Code"] == "InvalidRevisionException"
    with pytest.raises(ClientError) as err:
        cd.create_deployment(applicationName="shop", deploymentGroupName="g", revision=appspec("cart"),
                             deploymentConfigName="CodeDeployDefault.OneAtATime")
    assert err.value.response["Error"]["Code"] == "InvalidDeploymentConfigNameException"

    # The alias is on version 1, not the CurrentVersion the AppSpec names.
    wrong = cd.create_deployment(applicationName="shop", deploymentGroupName="g",
                                 revision=appspec("cart", current="2", target="1"))["deploymentId"]
    info = finished(cd, wrong)
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "INVALID_LAMBDA_CONFIGURATION"
    missing = cd.create_deployment(applicationName="shop", deploymentGroupName="g",
                                   revision=appspec("nothing-here"))["deploymentId"]
    info = finished(cd, missing)
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "INVALID_LAMBDA_FUNCTION"
    assert client.get_alias(FunctionName="cart", Name="live")["FunctionVersion"] == "1"
