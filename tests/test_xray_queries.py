"""X-Ray that answers, through boto3 and the AWS CLI against a test cloud: the
fixed traces (orders -> pricing -> inventory, a fault, a throttle, a slow order)
put with put_trace_segments, then the service graph's edges, filter
expressions, groups applied to graphs and summaries, sampling rules and targets,
tags, and groups and rules that survive a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

TRACES = json.loads((Path(__file__).parent / "data" / "xray" / "traces.json").read_text())["traces"]
BASE = 1700000000.0


def put_fixture(xray, now: float) -> dict[str, str]:
    """The fixed traces, moved to ``now`` with fresh trace ids; name -> trace id."""
    ids = {}
    for name, segments in TRACES.items():
        trace_id = f"1-{int(now):08x}-{os.urandom(12).hex()}"
        ids[name] = trace_id
        docs = json.loads(json.dumps(segments))

        def move(doc):
            for key in ("start_time", "end_time"):
                if key in doc:
                    doc[key] = doc[key] - BASE + now
            for sub in doc.get("subsegments") or ():
                move(sub)

        for doc in docs:
            move(doc)
            doc["trace_id"] = trace_id
        result = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in docs])
        assert result["UnprocessedTraceSegments"] == []
    return ids


@pytest.fixture
def shop(cloud, account):
    xray = cloud.client("xray", account)
    now = time.time() - 120
    return xray, put_fixture(xray, now), now


def by_name(services):
    return {(s.get("Name"), s.get("Type")): s for s in services}


def edge(services, source, destination):
    nodes = by_name(services)
    target = nodes[destination]["ReferenceId"]
    [found] = [e for e in nodes[source]["Edges"] if e["ReferenceId"] == target]
    return found["SummaryStatistics"]


ORDERS, PRICING = ("orders", "AWS::EC2::Instance"), ("pricing", "AWS::EC2::Instance")
INVENTORY = ("inventory", "AWS::ECS::Container")


def test_service_graph_edges(shop, account):
    xray, _, now = shop
    graph = xray.get_service_graph(StartTime=now - 60, EndTime=now + 60)
    services = graph["Services"]
    assert graph["ContainsOldGroupVersions"] is False
    assert ORDERS in by_name(services) and ("api.example.com", "remote") in by_name(services)
    s = edge(services, ORDERS, PRICING)
    assert (s["TotalCount"], s["OkCount"], s["ErrorStatistics"]["ThrottleCount"],
            s["FaultStatistics"]["TotalCount"]) == (4, 2, 1, 1)
    s = edge(services, PRICING, INVENTORY)
    assert (s["TotalCount"], s["FaultStatistics"]["TotalCount"]) == (7, 1)
    assert by_name(services)[ORDERS]["AccountId"] == account
    # nothing in an earlier hour
    assert xray.get_service_graph(StartTime=now - 7200, EndTime=now - 3600)["Services"] == []


@pytest.mark.parametrize("expression, expected", [
    ('service("inventory") { fault }', ["T2-fault"]),
    ("responsetime > 5", ["T8-slow"]),
    ('edge("orders", "pricing") { error }', ["T3-throttled"]),
    ('http.method = "POST"', ["T5-bad-request"]),
    ('annotation.items > 2 AND !fault', ["T1-ok", "T8-slow"]),
])
def test_trace_summaries_filter(shop, expression, expected):
    xray, ids, now = shop
    summaries = xray.get_trace_summaries(StartTime=now - 60, EndTime=now + 60,
                                         FilterExpression=expression)["TraceSummaries"]
    mine = {v: k for k, v in ids.items()}
    assert sorted(mine[s["Id"]] for s in summaries if s["Id"] in mine) == expected


def test_bad_filter_expression_is_invalid_request(cloud, account):
    xray = cloud.client("xray", account)
    with pytest.raises(ClientError) as err:
        xray.get_trace_summaries(StartTime=time.time() - 60, EndTime=time.time(),
                                 FilterExpression='service("x" { fault }')
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "Invalid filter expression" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        xray.create_group(GroupName="broken", FilterExpression="responsetime >")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_group_applies_to_graph_and_summaries(shop):
    xray, ids, now = shop
    group = xray.create_group(GroupName="slow", FilterExpression="responsetime > 5",
                              InsightsConfiguration={"InsightsEnabled": True},
                              Tags=[{"Key": "lab", "Value": "06-observability"}])["Group"]
    try:
        assert group["GroupARN"].startswith("arn:aws:xray:us-east-1:")
        services = xray.get_service_graph(StartTime=now - 60, EndTime=now + 60, GroupName="slow")["Services"]
        assert set(by_name(services)) == {(None, "client"), ORDERS, PRICING, INVENTORY}
        assert edge(services, PRICING, INVENTORY)["TotalCount"] == 5      # one order, five inventory calls
        by_arn = xray.get_service_graph(StartTime=now - 60, EndTime=now + 60, GroupARN=group["GroupARN"])
        assert by_arn["Services"] == services
        summaries = xray.get_trace_summaries(StartTime=now - 60, EndTime=now + 60,
                                             FilterExpression='group.name = "slow"')["TraceSummaries"]
        assert [s["Id"] for s in summaries if s["Id"] in ids.values()] == [ids["T8-slow"]]
        names = [g["GroupName"] for g in xray.get_groups()["Groups"]]
        assert names[0] == "Default" and "slow" in names
        assert xray.list_tags_for_resource(ResourceARN=group["GroupARN"])["Tags"] == [
            {"Key": "lab", "Value": "06-observability"}]
        xray.update_group(GroupName="slow", FilterExpression="responsetime > 1")
        assert xray.get_group(GroupARN=group["GroupARN"])["Group"]["FilterExpression"] == "responsetime > 1"
        # the range began before the filter changed: its graph mixes the group's versions
        assert xray.get_service_graph(StartTime=now - 60, EndTime=now + 60,
                                      GroupName="slow")["ContainsOldGroupVersions"] is True
        series = xray.get_time_series_service_statistics(
            StartTime=now - 60, EndTime=now + 60, GroupName="slow", Period=60,
            EntitySelectorExpression='service("inventory")')["TimeSeriesServiceStatistics"]
        assert sum(p["ServiceSummaryStatistics"]["TotalCount"] for p in series) == 6   # T2's one, T8's five
    finally:
        xray.delete_group(GroupName="slow")
    with pytest.raises(ClientError) as err:
        xray.get_group(GroupName="slow")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_trace_graph(shop):
    xray, ids, _ = shop
    services = xray.get_trace_graph(TraceIds=[ids["T7-lambda"]])["Services"]
    assert set(by_name(services)) == {(None, "client"), ("checkout", "AWS::Lambda"),
                                      ("checkout", "AWS::Lambda::Function"), ("api.example.com", "remote")}


def test_sampling_rules_and_targets(cloud, account):
    xray = cloud.client("xray", account)
    rules = xray.get_sampling_rules()["SamplingRuleRecords"]
    assert [r["SamplingRule"]["RuleName"] for r in rules] == ["Default"]
    xray.create_sampling_rule(SamplingRule={
        "RuleName": "orders", "ResourceARN": "*", "Priority": 10, "FixedRate": 0.25, "ReservoirSize": 4,
        "ServiceName": "orders", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1})
    now = time.time()

    def targets(client_id):
        return xray.get_sampling_targets(SamplingStatisticsDocuments=[{
            "RuleName": "orders", "ClientID": client_id, "Timestamp": now, "RequestCount": 20,
            "SampledCount": 5, "BorrowCount": 1}])

    first = targets("a" * 24)["SamplingTargetDocuments"][0]
    assert (first["FixedRate"], first["ReservoirQuota"], first["Interval"]) == (0.25, 4, 10)
    targets("b" * 24)
    quotas = [targets(c)["SamplingTargetDocuments"][0]["ReservoirQuota"] for c in ("a" * 24, "b" * 24)]
    assert quotas == [2, 2]
    summary = {s["RuleName"]: s for s in xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]}
    assert summary["orders"]["RequestCount"] == 80
    updated = xray.update_sampling_rule(SamplingRuleUpdate={"RuleName": "orders", "FixedRate": 0.5})
    assert updated["SamplingRuleRecord"]["SamplingRule"]["FixedRate"] == 0.5
    with pytest.raises(ClientError) as err:
        xray.delete_sampling_rule(RuleName="Default")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    xray.delete_sampling_rule(RuleName="orders")


def test_aws_cli_get_service_graph(shop, cloud, account):
    _, _, now = shop
    env = {**os.environ, "AWS_ACCESS_KEY_ID": account, "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": cloud.endpoint}
    aws = str(Path(sys.executable).with_name("aws"))
    out = subprocess.run([aws, "xray", "get-service-graph", "--start-time", str(int(now - 60)),
                          "--end-time", str(int(now + 60)), "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    names = {s.get("Name") for s in json.loads(out.stdout)["Services"]}
    assert {"orders", "pricing", "inventory"} <= names


def test_groups_and_rules_survive_a_restart(tmp_path):
    from tests.conftest import ADMIN_TOKEN, ROOT, Cloud, free_port, wait_healthy

    data, port = tmp_path / "data", free_port()

    def start() -> Cloud:
        proc = subprocess.Popen([sys.executable, "-m", "workshop", "cloud", "--port", str(port), "--data-dir",
                                 str(data)], cwd=ROOT, env={**os.environ, "WORKSHOP_ADMIN_TOKEN": ADMIN_TOKEN},
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_healthy(f"http://127.0.0.1:{port}/_workshop/health", proc=proc)
        return Cloud(f"http://127.0.0.1:{port}", port, data, ADMIN_TOKEN, proc)

    def stop(cloud: Cloud) -> None:
        cloud.process.terminate()
        cloud.process.wait(30)

    account = "135792468024"
    first = start()
    try:
        xray = first.client("xray", account)
        arn = xray.create_group(GroupName="slow", FilterExpression="responsetime > 5",
                                Tags=[{"Key": "k", "Value": "v"}])["Group"]["GroupARN"]
        xray.create_sampling_rule(SamplingRule={
            "RuleName": "kept", "ResourceARN": "*", "Priority": 5, "FixedRate": 0.3, "ReservoirSize": 2,
            "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1})
    finally:
        stop(first)
    second = start()
    try:
        xray = second.client("xray", account)
        assert xray.get_group(GroupName="slow")["Group"] == {
            "GroupName": "slow", "GroupARN": arn, "FilterExpression": "responsetime > 5",
            "InsightsConfiguration": {"InsightsEnabled": False, "NotificationsEnabled": False}}
        assert xray.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
        rules = {r["SamplingRule"]["RuleName"]: r["SamplingRule"]
                 for r in xray.get_sampling_rules()["SamplingRuleRecords"]}
        assert rules["kept"]["FixedRate"] == 0.3 and "Default" in rules
    finally:
        stop(second)


def test_aws_xray_sdk_sampler_reads_rules_and_targets(cloud):
    """aws-xray-sdk's own centralized-sampling client reads the rules and its targets (with a
    signed client: the SDK's own is unsigned, for the daemon's TCP proxy, which signs)."""
    from aws_xray_sdk.core.sampling.connector import ServiceConnector

    cloud.client("xray").create_sampling_rule(SamplingRule={
        "RuleName": "sdk-rule", "ResourceARN": "*", "Priority": 1, "FixedRate": 0.2, "ReservoirSize": 3,
        "ServiceName": "orders", "ServiceType": "*", "Host": "*", "HTTPMethod": "GET", "URLPath": "/orders/*",
        "Version": 1})
    try:
        connector = ServiceConnector()
        connector.setup_xray_client(None, None, cloud.client("xray"))
        rules = {rule.name: rule for rule in connector.fetch_sampling_rules()}
        assert {"sdk-rule", "Default"} <= set(rules)
        assert (rules["sdk-rule"].rate, rules["sdk-rule"].priority, rules["sdk-rule"].can_borrow) == (0.2, 1, True)
        targets, modified = connector.fetch_sampling_target([rules["sdk-rule"]])
        assert targets["sdk-rule"]["rate"] == 0.2 and targets["sdk-rule"]["quota"] == 3
        assert targets["sdk-rule"]["interval"] == 10 and targets["sdk-rule"]["TTL"] > time.time()
        assert modified <= time.time() + 1
    finally:
        cloud.client("xray").delete_sampling_rule(RuleName="sdk-rule")


@pytest.mark.parametrize("path, body", [
    ("/ServiceGraph", b"not json"),
    ("/ServiceGraph", b"[1, 2]"),
    ("/ServiceGraph", b'{"StartTime": "yesterday", "EndTime": 1}'),
    ("/ServiceGraph", b'{"StartTime": 10, "EndTime": 1}'),
    ("/ServiceGraph", b'{"StartTime": 1, "EndTime": 2, "GroupName": "no-such-group"}'),
    ("/TraceGraph", b'{"TraceIds": "1-2-3"}'),
    ("/TimeSeriesServiceStatistics", b'{"StartTime": 1, "EndTime": 2, "Period": 61}'),
    ("/TimeSeriesServiceStatistics", b'{"StartTime": 1, "EndTime": 2, "EntitySelectorExpression": "ok"}'),
    ("/CreateGroup", b'{"GroupName": 5}'),
    ("/CreateGroup", b'{"GroupName": "g", "FilterExpression": ["fault"]}'),
    ("/CreateGroup", b'{"GroupName": "g", "Tags": {"k": "v"}}'),
    ("/CreateGroup", b'{"GroupName": "g", "InsightsConfiguration": {"InsightsEnabled": "yes"}}'),
    ("/UpdateGroup", b'{}'),
    ("/Groups", b'{"NextToken": "garbage"}'),
    ("/CreateSamplingRule", b'{"SamplingRule": "everything"}'),
    ("/CreateSamplingRule", b'{"SamplingRule": {"RuleName": "r", "Priority": "high"}}'),
    ("/UpdateSamplingRule", b'{"SamplingRuleUpdate": {"RuleName": "nope"}}'),
    ("/DeleteSamplingRule", b'{}'),
    ("/SamplingTargets", b'{"SamplingStatisticsDocuments": {"RuleName": "Default"}}'),
    ("/TagResource", b'{"ResourceARN": "arn:aws:xray:us-east-1:1:group/none", "Tags": []}'),
])
def test_bad_requests_get_aws_errors_never_500(cloud, account, path, body):
    from tests.test_bad_input import send

    status, answer = send(cloud, account, "POST", path, body, service="xray",
                          headers={"Content-Type": "application/json"})
    error = json.loads(answer)
    assert 400 <= status < 500, (status, answer)
    assert error["__type"] in ("InvalidRequestException", "ResourceNotFoundException"), error


def test_tags_on_groups_and_rules(cloud, account):
    xray = cloud.client("xray", account)
    arn = xray.create_group(GroupName="tagged")["Group"]["GroupARN"]
    xray.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    xray.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert xray.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as err:
        xray.tag_resource(ResourceARN=arn.replace("tagged", "gone"), Tags=[{"Key": "a", "Value": "1"}])
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(xray.exceptions.TooManyTagsException):
        xray.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    xray.delete_group(GroupARN=arn)
    with pytest.raises(ClientError) as err:
        xray.list_tags_for_resource(ResourceARN=arn)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


SDK_SAMPLING_APP = """
import logging, sys, time
from aws_xray_sdk.core.sampling.connector import ServiceConnector
from aws_xray_sdk.core.daemon_config import DaemonConfig
config = DaemonConfig()            # AWS_XRAY_DAEMON_ADDRESS, as the SDK's sampler reads it
connector = ServiceConnector()
connector.setup_xray_client(config.tcp_ip, config.tcp_port, None)   # the SDK's own: unsigned, to the daemon
rules = {r.name: r for r in connector.fetch_sampling_rules()}
targets, _ = connector.fetch_sampling_target([rules["sdk-tcp"]])
print(sorted(rules), targets["sdk-tcp"]["quota"], targets["sdk-tcp"]["rate"])
"""


def test_aws_xray_sdk_sampling_through_the_daemon_port(tmp_path):
    """aws-xray-sdk asks the daemon's TCP port for sampling rules and targets, unsigned, as
    it asks the real daemon: they come from the account the daemon sends segments to."""
    from tests.conftest import new_account, start_cloud, stop_cloud

    account = new_account()
    cloud = start_cloud(tmp_path, extra_env={"WORKSHOP_ACCOUNT": account})
    try:
        cloud.client("xray", account).create_sampling_rule(SamplingRule={
            "RuleName": "sdk-tcp", "ResourceARN": "*", "Priority": 1, "FixedRate": 0.5, "ReservoirSize": 7,
            "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1})
        env = {**os.environ, "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{cloud.xray_daemon_port}"}
        run = subprocess.run([sys.executable, "-c", SDK_SAMPLING_APP], env=env, capture_output=True, text=True,
                             timeout=60)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["['Default',", "'sdk-tcp']", "7", "0.5"]
    finally:
        stop_cloud(cloud)
