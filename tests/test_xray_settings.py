"""X-Ray groups and sampling rules as models: validation in X-Ray's words, the
Default group and rule, sampling targets sharing a rule's reservoir among its
clients, and state that pickles (a snapshot keeps it)."""

from __future__ import annotations

import pickle

import pytest

from workshop.cloud.services.xray.groups import XRayError
from workshop.cloud.services.xray.settings import XRaySettingsBackend


@pytest.fixture
def backend():
    return XRaySettingsBackend("us-east-1", "123456789012")


def rule(name="api", **over):
    base = {"RuleName": name, "ResourceARN": "*", "Priority": 100, "FixedRate": 0.1, "ReservoirSize": 5,
            "ServiceName": "orders", "ServiceType": "*", "Host": "*", "HTTPMethod": "GET", "URLPath": "/orders/*",
            "Version": 1}
    base.update(over)
    return base


def test_groups_lifecycle(backend):
    group = backend.create_group("slow", "responsetime > 5", {"InsightsEnabled": True},
                                 [{"Key": "team", "Value": "shop"}])
    assert group.arn.startswith("arn:aws:xray:us-east-1:123456789012:group/slow/")
    assert backend.find_group(arn=group.arn) is group
    assert [g.name for g in backend.list_groups()] == ["Default", "slow"]
    assert backend.list_tags(group.arn) == [{"Key": "team", "Value": "shop"}]
    backend.update_group("slow", filter_expression='service("pricing") { responsetime > 2 }')
    assert backend.find_group("slow").filter_expression == 'service("pricing") { responsetime > 2 }'
    assert backend.find_group("slow").insights == {"InsightsEnabled": True, "NotificationsEnabled": False}
    assert backend.group_filter("name", "slow").startswith("service(")
    assert backend.group_filter("name", "Default") == ""
    assert backend.group_filter("name", "gone") is None
    backend.delete_group(arn=group.arn)
    assert [g.name for g in backend.list_groups()] == ["Default"]


@pytest.mark.parametrize("call, message", [
    (lambda b: b.create_group("slow", "responsetime >"), "Invalid filter expression"),
    (lambda b: b.create_group("has space"), "GroupName"),
    (lambda b: b.create_group("Default"), "already exists"),
    (lambda b: b.find_group("nope"), "Group not found"),
    (lambda b: b.delete_group("Default"), "Default group cannot be deleted"),
    (lambda b: b.create_group("n", None, {"NotificationsEnabled": True}), "insights enabled"),
    (lambda b: b.create_group("t", None, None, [{"Key": "aws:x", "Value": "1"}]), "reserved"),
])
def test_group_errors(backend, call, message):
    with pytest.raises(XRayError) as err:
        call(backend)
    assert err.value.code == "InvalidRequestException" and message in err.value.message
    assert [g.name for g in backend.list_groups()] == ["Default"]      # nothing half-made


def test_default_rule_and_rule_lifecycle(backend):
    [default] = backend.list_rules()
    assert (default.name, default.priority, default.fixed_rate, default.reservoir_size) == ("Default", 10000, 0.05, 1)
    created = backend.create_sampling_rule(rule())
    assert created.arn == "arn:aws:xray:us-east-1:123456789012:sampling-rule/api"
    assert [r.name for r in backend.list_rules()] == ["api", "Default"]      # by priority
    backend.update_sampling_rule({"RuleName": "api", "FixedRate": 0.5, "URLPath": "/pay"})
    record = backend.find_rule("api").describe()["SamplingRule"]
    assert (record["FixedRate"], record["URLPath"], record["HTTPMethod"]) == (0.5, "/pay", "GET")
    backend.update_sampling_rule({"RuleName": "Default", "ReservoirSize": 2})
    with pytest.raises(XRayError, match="Only FixedRate and ReservoirSize"):
        backend.update_sampling_rule({"RuleName": "Default", "Priority": 5})
    with pytest.raises(XRayError, match="cannot be deleted"):
        backend.delete_sampling_rule("Default")
    assert backend.delete_sampling_rule(arn=created.arn).name == "api"
    assert [r.name for r in backend.list_rules()] == ["Default"]


@pytest.mark.parametrize("bad, message", [
    ({"FixedRate": 1.5}, "FixedRate"), ({"Priority": 0}, "Priority"), ({"ReservoirSize": -1}, "ReservoirSize"),
    ({"Version": 2}, "Version"), ({"HTTPMethod": "X" * 11}, "HTTPMethod"), ({"RuleName": ""}, "RuleName"),
    ({"ResourceARN": "arn:aws:lambda:us-east-1:1:function:f"}, "ResourceARN"),
])
def test_rule_errors(backend, bad, message):
    with pytest.raises(XRayError) as err:
        backend.create_sampling_rule(rule(**bad))
    assert message in err.value.message
    assert [r.name for r in backend.list_rules()] == ["Default"]


def test_rule_limit(backend):
    for i in range(25):
        backend.create_sampling_rule(rule(f"r{i}"))
    with pytest.raises(XRayError) as err:
        backend.create_sampling_rule(rule("one-too-many"))
    assert err.value.code == "RuleLimitExceededException"


def stats(rule_name, client, requests=10, sampled=2, borrowed=0):
    return {"RuleName": rule_name, "ClientID": client, "Timestamp": 0, "RequestCount": requests,
            "SampledCount": sampled, "BorrowCount": borrowed}


def test_targets_share_the_reservoir_among_clients(backend, monkeypatch):
    now = [1700000000.0]
    monkeypatch.setattr(backend, "now", lambda: now[0])
    backend.create_sampling_rule(rule(ReservoirSize=5, FixedRate=0.2))
    one = backend.sampling_targets([stats("api", "a" * 24)])
    [target] = one["targets"]
    assert target == {"RuleName": "api", "FixedRate": 0.2, "ReservoirQuota": 5,
                      "ReservoirQuotaTTL": now[0] + 10, "Interval": 10}
    # a second client reports: from then on the 5 a second are split 3 + 2, never more than the rule's size
    backend.sampling_targets([stats("api", "b" * 24)])
    quotas = [backend.sampling_targets([stats("api", c)])["targets"][0]["ReservoirQuota"]
              for c in ("a" * 24, "b" * 24)]
    assert sorted(quotas) == [2, 3] and sum(quotas) == 5
    # the first client goes silent for 3 intervals: the second has the whole reservoir again
    now[0] += 31
    assert backend.sampling_targets([stats("api", "b" * 24)])["targets"][0]["ReservoirQuota"] == 5
    unknown = backend.sampling_targets([stats("nope", "c" * 24)])
    assert unknown["targets"] == [] and unknown["unprocessed"][0]["RuleName"] == "nope"
    summary = {s["RuleName"]: s for s in backend.statistic_summaries()}
    assert summary["api"]["RequestCount"] == 50 and summary["api"]["SampledCount"] == 10


def test_state_pickles(backend):
    backend.create_group("slow", "responsetime > 5", None, [{"Key": "k", "Value": "v"}])
    backend.create_sampling_rule(rule())
    copy = pickle.loads(pickle.dumps(backend))
    assert copy.find_group("slow").filter_expression == "responsetime > 5"
    assert copy.find_rule("api").reservoir_size == 5
    assert copy.list_tags(copy.find_group("slow").arn) == [{"Key": "k", "Value": "v"}]
