"""Lab 03's Lambda canary when a class shares one cloud (time scale 60, as the lab):
several learners, each in its own process and account, ship a good release and a
bad one side by side; every bad canary is stopped by its alarm and rolled back,
every good one succeeds with every request answered. And the cases a loaded
machine makes common: a new version whose cold start outlasts the (scaled) bake is
still judged by the alarm, and the alarm counts late data points in their period."""

from __future__ import annotations

import json
import time

import pytest

from tests.canary_class import run_class
from tests.conftest import new_account, start_cloud, stop_cloud
from tests.test_codedeploy_lambda import appspec, errors_alarm, finished, lambda_group, wait_for
from tests.test_lambda_invoke import make_function, zip_code

LEARNERS = 4
CANARY = "CodeDeployDefault.LambdaCanary10Percent5Minutes"


@pytest.fixture(scope="module")
def cloud60(tmp_path_factory):
    c = start_cloud(tmp_path_factory.mktemp("cloud60"), time_scale=60)
    # A Lambda request during the cloud's start-up warm-up can meet a half-imported
    # moto.cloudformation.parsing (a 501, seen 2026-11-26): start once Lambda answers.
    wait_for(lambda: _answers(c), timeout=60, every=0.5)
    yield c
    stop_cloud(c)


def _answers(cloud) -> bool:
    try:
        cloud.client("lambda").list_functions()
        return True
    except Exception:
        return False


def test_a_class_of_canaries_side_by_side(cloud60):
    outcomes = run_class(cloud60.endpoint, [new_account() for _ in range(LEARNERS)])
    for o in outcomes:
        assert o.error is None, o
        # The good release: through the canary, not one request of the learner's traffic lost.
        assert o.good.status == "Succeeded", o.good
        assert o.good.sent > 0 and o.good.failed == 0, o.good
        # The bad release: caught by the alarm, stopped, rolled back to where the alias was.
        assert (o.bad.status, o.bad.error_code) == ("Stopped", "ALARM_ACTIVE"), o.bad
        assert o.bad.rollback_status == "Succeeded" and o.bad.alias_after == o.bad.alias_before, o.bad
        # Only the new version's requests failed, and it served a canary's share, not all.
        assert set(o.bad.failed_by_version) == {"3"} and 0 < o.bad.failed < o.bad.sent / 2, o.bad


# A broken release that takes longer to start than the whole scaled bake (5 s at scale 60):
# on AWS a 7-second cold start is nothing next to a 5-minute bake.
SLOW_BROKEN = """
    import time
    time.sleep({seconds})

    def handler(event, context):
        raise RuntimeError("release {tag} is broken")
"""


def test_a_bad_canary_slower_to_start_than_the_bake_is_still_caught(cloud60):
    account = new_account()
    client = cloud60.client("lambda", account)
    make_function(cloud60, account, "slow", "def handler(event, context):\n    return 'v1'\n")
    client.publish_version(FunctionName="slow")
    client.update_function_code(FunctionName="slow", ZipFile=zip_code(SLOW_BROKEN.format(seconds=7, tag="v2")))
    client.publish_version(FunctionName="slow")
    client.create_alias(FunctionName="slow", Name="live", FunctionVersion="1")
    alarm = errors_alarm(cloud60, account, "slow")
    cd = lambda_group(cloud60, account, "slow-group", CANARY, alarms=[alarm],
                      rollback=["DEPLOYMENT_STOP_ON_ALARM"])
    cw = cloud60.client("cloudwatch", account)
    wait_for(lambda: cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "OK")

    from labkit.traffic import start_traffic

    traffic = start_traffic("slow:live", count=100, rate=20, endpoint=cloud60.endpoint, account=account)
    deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="slow-group",
                                         revision=appspec("slow"))["deploymentId"]
    info = finished(cd, deployment_id)
    result = traffic.result()
    assert result.tally("2").failed > 0           # the new version did serve (and fail) during the bake
    assert (info["status"], info["errorInformation"]["code"]) == ("Stopped", "ALARM_ACTIVE"), info
    rollback = finished(cd, info["rollbackInfo"]["rollbackDeploymentId"])
    assert rollback["status"] == "Succeeded"
    assert client.get_alias(FunctionName="slow", Name="live")["FunctionVersion"] == "1"


def test_an_invocation_still_running_holds_its_period_until_its_metrics_land(cloud60):
    """An alarm on a function's errors, one slow failing invocation: its error is stamped when
    it was invoked and the alarm, evaluated every (scaled) minute meanwhile, still counts it."""
    account = new_account()
    client = cloud60.client("lambda", account)
    make_function(cloud60, account, "late", "import time\n\ndef handler(event, context):\n"
                                            "    time.sleep(3)\n    raise RuntimeError('late failure')\n")
    cw = cloud60.client("cloudwatch", account)
    cw.put_metric_alarm(
        AlarmName="late-errors", Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": "late"}], Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching")
    wait_for(lambda: cw.describe_alarms(AlarmNames=["late-errors"])["MetricAlarms"][0]["StateValue"] == "OK")
    invoked = time.time()
    response = client.invoke(FunctionName="late", Payload=b"{}")
    assert response.get("FunctionError") == "Unhandled"
    wait_for(lambda: cw.describe_alarms(AlarmNames=["late-errors"])["MetricAlarms"][0]["StateValue"] == "ALARM")
    # The datapoint that fired it is the period of the invocation's start, not of its end.
    history = cw.describe_alarm_history(AlarmName="late-errors", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    data = json.loads(history[0]["HistoryData"])["newState"]["stateReasonData"]
    data = json.loads(data) if isinstance(data, str) else data
    stamp = data["evaluatedDatapoints"][0]["timestamp"]
    from datetime import datetime

    period_start = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    # The invocation lasted 3 s: stamped at its end, the period would start 3 s after `invoked`.
    assert invoked - 1.5 < period_start < invoked + 1.5
