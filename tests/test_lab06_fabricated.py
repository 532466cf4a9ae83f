"""Lab 06-observability's checks against evidence a learner could fabricate without
doing the work: traces written by hand with put_trace_segments (older than the lab's
repository, or "fixed" with no fix committed, or all before the fixing commit), a
fix that only deletes the per-item call, a group that holds every order, a metric
filter that matches every line, alarm states set by hand (CloudTrail's SetAlarmState)
and a dashboard of text. Each check must fail and say what is missing."""

from __future__ import annotations

import json
import secrets
import time

from checker.labs import lab06_observability as lab
from checker.runner import run_lab
from checker.session import Target

PLANTED = """def look_up_stock(items):
    return [call("GET", f"{INVENTORY_URL}/stock/{urlquote(item['item'])}") for item in items]
"""
FIXED = """def look_up_stock(items):
    names = ",".join(urlquote(item["item"]) for item in items)
    return call("GET", f"{INVENTORY_URL}/stock?items={names}")["items"]
"""
DELETED = """def look_up_stock(items):
    return [{"in_stock": 99, "unit_price": "1.00"} for item in items]
"""


def checks(cloud, account: str) -> dict:
    result = run_lab(lab.LAB_ID, Target(cloud.endpoint, account, "test", "us-east-1"))
    assert result.error is None and result.account == account
    return {r.id.split(".", 1)[1]: r for r in result.results}


def repo(cloud, account: str, code: str = PLANTED) -> str:
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName=lab.REPO_NAME)
    return commit(cloud, account, code)


def commit(cloud, account: str, code: str) -> str:
    cc = cloud.client("codecommit", account)
    try:
        branch = cc.get_branch(repositoryName=lab.REPO_NAME, branchName="main")["branch"]
        parent = {"parentCommitId": branch["commitId"]}
    except cc.exceptions.ClientError:
        parent = {}
    time.sleep(1.1)   # CloudTrail's times are whole seconds: the commit is after what came before it
    return cc.create_commit(repositoryName=lab.REPO_NAME, branchName="main", commitMessage="shop",
                            putFiles=[{"filePath": lab.PRICING_PATH, "fileContent": code.encode()}],
                            **parent)["commitId"]


def hand_written_orders(cloud, account: str, count: int, calls: int, url: str = "/stock/widget",
                        duration: float = 0.05) -> None:
    """Traces of orders -> pricing -> inventory written with put_trace_segments, ``calls``
    inventory requests each."""
    xray = cloud.client("xray", account)
    docs = []
    for n in range(count):
        now = time.time()
        trace = f"1-{int(now):08x}-{secrets.token_hex(12)}"
        orders, pricing = secrets.token_hex(8), secrets.token_hex(8)
        docs.append({"trace_id": trace, "id": orders, "name": "orders", "start_time": now,
                     "end_time": now + duration, "http": {"request": {"url": "http://127.0.0.1/orders"},
                                                          "response": {"status": 200}}})
        docs.append({"trace_id": trace, "id": pricing, "parent_id": orders, "name": "pricing",
                     "start_time": now + 0.001, "end_time": now + duration - 0.001})
        for _ in range(calls):
            docs.append({"trace_id": trace, "id": secrets.token_hex(8), "parent_id": pricing, "name": "inventory",
                         "start_time": now + 0.002, "end_time": now + 0.01,
                         "http": {"request": {"url": f"http://127.0.0.1{url}"}, "response": {"status": 200}}})
    for at in range(0, len(docs), 50):
        xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in docs[at:at + 50]])


def test_traces_from_before_the_repository_and_a_fix_that_is_not_there_fail(cloud, account):
    # Orders traced (by hand, or in an earlier attempt) before the lab's repository was made.
    hand_written_orders(cloud, account, 12, 3)
    time.sleep(2.1)
    repo(cloud, account)
    found = checks(cloud, account)
    assert not found["shop-traced"].passed and "0 order(s)" in found["shop-traced"].message
    # One inventory call per order, written by hand, while the code still asks once per item.
    hand_written_orders(cloud, account, 6, 1, "/stock?items=widget,gadget")
    found = checks(cloud, account)
    assert not found["bottleneck-fixed"].passed and "still asks inventory once per item" in \
        found["bottleneck-fixed"].message


def test_a_fix_that_deletes_the_call_or_has_no_traces_after_it_fails(cloud, account):
    repo(cloud, account)
    hand_written_orders(cloud, account, 12, 4)                         # the bottleneck, seen
    hand_written_orders(cloud, account, 6, 1, "/stock?items=widget,gadget")   # "fixed" orders ...
    commit(cloud, account, FIXED)                                      # ... all before the fix
    found = checks(cloud, account)
    assert not found["bottleneck-fixed"].passed and "0 order(s) traced after the fix" in \
        found["bottleneck-fixed"].message
    # After the commit, one call per order but not the batch call: not the fixed code's traces.
    hand_written_orders(cloud, account, 6, 1, "/stock/widget")
    found = checks(cloud, account)
    assert not found["bottleneck-fixed"].passed and "not the fixed code's" in found["bottleneck-fixed"].message
    # The per-item call deleted, with nothing asking inventory for the order.
    commit(cloud, account, DELETED)
    found = checks(cloud, account)
    assert not found["bottleneck-fixed"].passed and "still asks inventory" in found["bottleneck-fixed"].message


def test_a_group_of_every_order_and_a_filter_of_every_line_fail(cloud, account):
    repo(cloud, account)
    hand_written_orders(cloud, account, 4, 3, duration=0.3)
    hand_written_orders(cloud, account, 8, 1, duration=0.03)
    xray, logs = cloud.client("xray", account), cloud.client("logs", account)
    xray.create_group(GroupName=lab.GROUP_NAME, FilterExpression="responsetime >= 0")
    logs.create_log_group(logGroupName=lab.LOG_GROUP)
    logs.create_log_stream(logGroupName=lab.LOG_GROUP, logStreamName="inventory")
    logs.put_metric_filter(logGroupName=lab.LOG_GROUP, filterName=lab.FILTER_NAME, filterPattern="",
                           metricTransformations=[{"metricName": "Lines", "metricNamespace": lab.SHOP_NAMESPACE,
                                                   "metricValue": "1"}])
    logs.put_log_events(logGroupName=lab.LOG_GROUP, logStreamName="inventory", logEvents=[
        {"timestamp": int(time.time() * 1000), "message": lab.OK_LINE}])
    found = checks(cloud, account)
    assert not found["slow-group"].passed and "holds 12 of the 12" in found["slow-group"].message
    assert not found["fault-metric-filter"].passed and "matches a fault's request line and not a good one" in \
        found["fault-metric-filter"].message
    xray.update_group(GroupName=lab.GROUP_NAME, FilterExpression="responsetime > 0.1")
    logs.put_metric_filter(logGroupName=lab.LOG_GROUP, filterName=lab.FILTER_NAME,
                           filterPattern="{ $.status >= 500 }",
                           metricTransformations=[{"metricName": "Faults", "metricNamespace": lab.SHOP_NAMESPACE,
                                                   "metricValue": "1"}])
    found = checks(cloud, account)
    assert found["slow-group"].passed, found["slow-group"].message        # the same read, now right
    assert not found["fault-metric-filter"].passed and "has no data" in found["fault-metric-filter"].message


def test_alarms_set_by_hand_and_a_dashboard_of_text_fail(cloud, account):
    repo(cloud, account)
    logs, cw, sns = cloud.client("logs", account), cloud.client("cloudwatch", account), cloud.client("sns", account)
    logs.create_log_group(logGroupName=lab.LOG_GROUP)
    logs.create_log_stream(logGroupName=lab.LOG_GROUP, logStreamName="inventory")
    logs.put_metric_filter(logGroupName=lab.LOG_GROUP, filterName=lab.FILTER_NAME,
                           filterPattern="{ $.status >= 500 }",
                           metricTransformations=[{"metricName": "Faults", "metricNamespace": lab.SHOP_NAMESPACE,
                                                   "metricValue": "1"}])
    topic = sns.create_topic(Name=lab.TOPIC_NAME)["TopicArn"]
    common = dict(Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                  TreatMissingData="notBreaching", Statistic="Maximum")
    cw.put_metric_alarm(AlarmName=lab.FAULTS_ALARM, Namespace=lab.SHOP_NAMESPACE, MetricName="Faults", **common)
    cw.put_metric_alarm(AlarmName=lab.LATENCY_ALARM, Namespace=lab.SHOP_NAMESPACE, MetricName="Latency",
                        Dimensions=[{"Name": "Service", "Value": "orders"}], **common)
    cw.put_metric_alarm(AlarmName=lab.DEPLOY_ALARM, Namespace=lab.DEPLOY_NAMESPACE, MetricName=lab.DEPLOY_METRIC,
                        Dimensions=[{"Name": "Service", "Value": "shop"}], **common)
    cw.put_composite_alarm(AlarmName=lab.COMPOSITE_ALARM, AlarmActions=[topic],
                           AlarmRule=f"ALARM({lab.FAULTS_ALARM}) AND ALARM({lab.LATENCY_ALARM})",
                           ActionsSuppressor=lab.DEPLOY_ALARM, ActionsSuppressorWaitPeriod=0,
                           ActionsSuppressorExtensionPeriod=0)
    # The children put in ALARM by hand: the composite follows them and notifies the topic.
    for name in (lab.FAULTS_ALARM, lab.LATENCY_ALARM):
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            "Successfully executed action" in h["HistorySummary"] for h in cw.describe_alarm_history(
                AlarmName=lab.COMPOSITE_ALARM, AlarmTypes=["CompositeAlarm"])["AlarmHistoryItems"]):
        time.sleep(0.2)
    # The fix committed while the deploy alarm was set to ALARM by hand.
    cw.set_alarm_state(AlarmName=lab.DEPLOY_ALARM, StateValue="ALARM", StateReason="deploying")
    commit(cloud, account, FIXED)
    arn = f"arn:aws:cloudwatch:us-east-1:{account}:alarm:{lab.COMPOSITE_ALARM}"
    cw.put_dashboard(DashboardName=lab.DASHBOARD, DashboardBody=json.dumps({"widgets": [
        {"type": "text", "x": 0, "y": 0, "width": 24, "height": 3, "properties": {
            "markdown": f"Latency, Faults and {arn}"}}]}))

    found = checks(cloud, account)
    assert not found["composite-alarm"].passed and "set by hand (SetAlarmState)" in found["composite-alarm"].message
    assert not found["deploy-suppressed"].passed and "set by hand" in found["deploy-suppressed"].message
    assert not found["dashboard"].passed and "Latency" in found["dashboard"].message
    # A composite that went to ALARM and notified, read from its history: only the hand-set states stop it.
    history = cw.describe_alarm_history(AlarmName=lab.COMPOSITE_ALARM, AlarmTypes=["CompositeAlarm"])
    assert any("Successfully executed action" in h["HistorySummary"] for h in history["AlarmHistoryItems"])
