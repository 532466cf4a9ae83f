"""Lab 03's Lambda canary as a class does it: one learner's flow (the function,
its three versions, the errors alarm, the canary group; a good release then a bad
one, each under steady traffic), run in N learner processes side by side against
one cloud. Used by tests/test_lab03_concurrency.py and benchmarks/bench_canary_class.py."""

from __future__ import annotations

import io
import json
import multiprocessing
import time
import zipfile
from dataclasses import asdict, dataclass, field

FUNCTION, ALIAS, ALARM = "workshop-03-orders", "live", "workshop-03-orders-errors"
APP, GROUP = "workshop-03-orders", "workshop-03-orders-live"
EVENT = {"item": "coffee beans", "quantity": 12}
RATE = 20   # requests a second, as the lab sends

# The lab's three releases (solutions/03-deploy): 1.2 fails on every real request.
V1 = """
def handler(event, context):
    quantity = int(event.get("quantity", 1))
    return {"version": "1.0", "total": round(2.5 * quantity, 2)}
"""
V2 = """
def handler(event, context):
    quantity = int(event.get("quantity", 1))
    discount = 0.1 if quantity >= 10 else 0.0
    return {"version": "1.1", "total": round(2.5 * quantity * (1 - discount), 2), "discount": discount}
"""
V3 = """
def handler(event, context):
    quantity = int(event.get("quantity", 1))
    tier = event["customer"]["tier"]
    discount = {"gold": 0.2, "silver": 0.1}.get(tier, 0.0)
    return {"version": "1.2", "total": round(2.5 * quantity * (1 - discount), 2), "discount": discount}
"""


@dataclass
class Release:
    """One canary deployment under traffic, as the learner saw it."""
    status: str = ""
    error_code: str | None = None
    rollback_status: str | None = None
    alias_before: str = ""
    alias_after: str = ""
    seconds: float = 0.0          # create_deployment to its end, real seconds
    sent: int = 0
    failed: int = 0
    failed_by_version: dict = field(default_factory=dict)
    error_samples: list = field(default_factory=list)


@dataclass
class LearnerOutcome:
    account: str
    good: Release | None = None
    bad: Release | None = None
    error: str | None = None

    @property
    def good_ok(self) -> bool:
        return bool(self.good and self.good.status == "Succeeded" and self.good.failed == 0
                    and self.good.sent > 0)

    @property
    def bad_ok(self) -> bool:
        return bool(self.bad and self.bad.status == "Stopped" and self.bad.error_code == "ALARM_ACTIVE"
                    and self.bad.rollback_status == "Succeeded"
                    and self.bad.alias_after == self.bad.alias_before)


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("orders.py", date_time=(2026, 1, 1, 0, 0, 0)), source.lstrip())
    return buffer.getvalue()


def _clients(endpoint: str, account: str):
    import boto3

    def client(service):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id=account, aws_secret_access_key="test")
    return client


def _time_scale(endpoint: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/_workshop/health", timeout=10) as answer:
        return float(json.loads(answer.read()).get("time_scale") or 1.0)


def prepare(endpoint: str, account: str) -> None:
    """The function (1.0, 1.1 good, 1.2 bad), alias live on 1, the alarm, the canary group."""
    client = _clients(endpoint, account)
    iam, lam, cw, cd = client("iam"), client("lambda"), client("cloudwatch"), client("codedeploy")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": ["lambda.amazonaws.com"]}}]}
    role = iam.create_role(RoleName="workshop-03-lambda", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    cd_role = iam.create_role(RoleName="workshop-03-codedeploy",
                              AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    lam.create_function(FunctionName=FUNCTION, Runtime="python3.12", Role=role, Handler="orders.handler",
                        Code={"ZipFile": _zip(V1)}, Timeout=10)
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)
    for source in (None, V2, V3):
        if source:
            lam.update_function_code(FunctionName=FUNCTION, ZipFile=_zip(source))
            lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        lam.publish_version(FunctionName=FUNCTION)
    lam.create_alias(FunctionName=FUNCTION, Name=ALIAS, FunctionVersion="1")
    cw.put_metric_alarm(
        AlarmName=ALARM, Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": FUNCTION}, {"Name": "Resource", "Value": f"{FUNCTION}:{ALIAS}"}],
        Statistic="Sum", Period=60, EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    cd.create_application(applicationName=APP, computePlatform="Lambda")
    cd.create_deployment_group(
        applicationName=APP, deploymentGroupName=GROUP, serviceRoleArn=cd_role,
        deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        alarmConfiguration={"enabled": True, "alarms": [{"name": ALARM}]},
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]})


def _wait(cd, deployment_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        if info["status"] in ("Succeeded", "Failed", "Stopped"):
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"{deployment_id} is still {info['status']}")
        time.sleep(0.25)


def _wait_alarm_ok(cw, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"] != "OK":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{ALARM} never became OK")
        time.sleep(0.25)


def release(endpoint: str, account: str, target: str, start_at: float | None = None) -> Release:
    """Deploy version ``target`` through the canary group while the lab's traffic runs (as step 4/5 do)."""
    from labkit.traffic import start_traffic

    client = _clients(endpoint, account)
    lam, cw, cd = client("lambda"), client("cloudwatch"), client("codedeploy")
    bake = 300 / _time_scale(endpoint)
    _wait_alarm_ok(cw, 60 + 3 * bake)
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    current = lam.get_alias(FunctionName=FUNCTION, Name=ALIAS)["FunctionVersion"]
    traffic = start_traffic(f"{FUNCTION}:{ALIAS}", count=int(RATE * (bake + 1)), rate=RATE, payload=EVENT,
                            endpoint=endpoint, account=account)
    appspec = {"version": 0.0, "Resources": [{FUNCTION: {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": FUNCTION, "Alias": ALIAS, "CurrentVersion": current, "TargetVersion": target}}}]}
    started = time.monotonic()
    deployment_id = cd.create_deployment(
        applicationName=APP, deploymentGroupName=GROUP,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(appspec)}})["deploymentId"]
    info = _wait(cd, deployment_id, 120 + 3 * bake)
    out = Release(status=info["status"], error_code=(info.get("errorInformation") or {}).get("code"),
                  alias_before=current)
    out.seconds = (info["completeTime"] - info["createTime"]).total_seconds() if info.get("completeTime") \
        else time.monotonic() - started
    rollback_id = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
    if rollback_id:
        out.rollback_status = _wait(cd, rollback_id, 120)["status"]
    out.alias_after = lam.get_alias(FunctionName=FUNCTION, Name=ALIAS)["FunctionVersion"]
    result = traffic.result()
    out.sent, out.failed = result.sent, result.failed
    out.failed_by_version = {t.version: t.failed for t in result.rows() if t.failed}
    out.error_samples = list(result.error_samples)
    return out


def learner(endpoint: str, account: str, start_good: float | None = None,
            start_bad: float | None = None) -> dict:
    """One learner's whole flow, in its own process: prepare, the good release, the bad one."""
    outcome = LearnerOutcome(account)
    try:
        prepare(endpoint, account)
        outcome.good = release(endpoint, account, "2", start_good)
        outcome.bad = release(endpoint, account, "3", start_bad)
    except Exception as exc:   # reported, not raised: the class goes on
        outcome.error = f"{type(exc).__name__}: {exc}"
    return asdict(outcome)


def run_class(endpoint: str, accounts: list[str], align: bool = True) -> list[LearnerOutcome]:
    """Every learner in its own process (as each learner has its own kernel), all at once. With
    ``align``, everyone starts the good release at the same moment, and the bad one too."""
    now = time.time()
    prep = 8 + 1.5 * len(accounts)             # time to prepare every account on a 2-core machine
    bake = 300 / _time_scale(endpoint)
    start_good = now + prep if align else None
    start_bad = now + prep + bake + 8 if align else None
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(len(accounts)) as pool:
        raw = pool.starmap(learner, [(endpoint, a, start_good, start_bad) for a in accounts])
    results = []
    for r in raw:
        o = LearnerOutcome(r["account"], error=r["error"])
        o.good = Release(**r["good"]) if r["good"] else None
        o.bad = Release(**r["bad"]) if r["bad"] else None
        results.append(o)
    return results
