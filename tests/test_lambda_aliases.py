"""Versions and aliases of Lambda functions: aliases keep and show their routing
weights, refuse impossible ones, and route invocations by them; every
invocation leaves AWS/Lambda metrics with AWS's dimensions in CloudWatch."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.test_lambda_invoke import invoke, make_function, zip_code

VERSIONED = """
    def handler(event, context):
        if event.get("fail") and "{tag}" == "v2":
            raise RuntimeError("v2 is broken")
        return "{tag}"
"""


def two_versions(cloud, account: str, name: str) -> object:
    """A function with published versions 1 ("v1") and 2 ("v2"); v2 fails on {"fail": true}."""
    client = cloud.client("lambda", account)
    make_function(cloud, account, name, VERSIONED.format(tag="v1"))
    assert client.publish_version(FunctionName=name)["Version"] == "1"
    client.update_function_code(FunctionName=name, ZipFile=zip_code(VERSIONED.format(tag="v2")))
    assert client.publish_version(FunctionName=name)["Version"] == "2"
    return client


def test_versions_run_their_own_code(cloud, account):
    client = two_versions(cloud, account, "versioned")
    for qualifier, expected in (("1", "v1"), ("2", "v2"), ("$LATEST", "v2")):
        response, payload = invoke(client, "versioned", Qualifier=qualifier)
        assert payload == expected and response["ExecutedVersion"] == qualifier
    response, payload = invoke(client, "versioned:1")
    assert payload == "v1" and response["ExecutedVersion"] == "1"


def test_alias_keeps_and_shows_routing_weights(cloud, account):
    client = two_versions(cloud, account, "aliased")
    created = client.create_alias(FunctionName="aliased", Name="live", FunctionVersion="1",
                                  Description="production",
                                  RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    alias = client.get_alias(FunctionName="aliased", Name="live")
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    assert alias["AliasArn"] == f"arn:aws:lambda:us-east-1:{account}:function:aliased:live"
    listed = client.list_aliases(FunctionName="aliased")["Aliases"]
    assert [(a["Name"], a["RoutingConfig"]) for a in listed] == [("live", {"AdditionalVersionWeights": {"2": 0.1}})]

    # Updating only the description keeps the weights; an empty RoutingConfig removes them.
    kept = client.update_alias(FunctionName="aliased", Name="live", Description="still production")
    assert kept["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    assert kept["RevisionId"] != alias["RevisionId"]
    done = client.update_alias(FunctionName="aliased", Name="live", FunctionVersion="2", RoutingConfig={})
    assert done["FunctionVersion"] == "2" and "RoutingConfig" not in done
    assert "RoutingConfig" not in client.get_alias(FunctionName="aliased", Name="live")

    with pytest.raises(ClientError) as err:
        client.update_alias(FunctionName="aliased", Name="live", FunctionVersion="1", RevisionId=alias["RevisionId"])
    assert err.value.response["Error"]["Code"] == "PreconditionFailedException"

    client.delete_alias(FunctionName="aliased", Name="live")
    with pytest.raises(ClientError) as err:
        client.get_alias(FunctionName="aliased", Name="live")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize("version, routing, code", [
    ("1", {"AdditionalVersionWeights": {"2": 1.5}}, "ValidationException"),
    ("1", {"AdditionalVersionWeights": {"1": 0.5}}, "InvalidParameterValueException"),
    ("1", {"AdditionalVersionWeights": {"9": 0.5}}, "InvalidParameterValueException"),
    ("$LATEST", {"AdditionalVersionWeights": {"2": 0.5}}, "InvalidParameterValueException"),
    ("7", None, "ResourceNotFoundException"),
])
def test_impossible_aliases_are_refused(cloud, account, version, routing, code):
    client = two_versions(cloud, account, "picky")
    kwargs = {"RoutingConfig": routing} if routing else {}
    with pytest.raises(ClientError) as err:
        client.create_alias(FunctionName="picky", Name="live", FunctionVersion=version, **kwargs)
    assert err.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError) as err:
        client.create_alias(FunctionName="picky", Name="123", FunctionVersion="1")
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_alias_routes_invocations_by_weight(cloud, account):
    client = two_versions(cloud, account, "canary")
    client.create_alias(FunctionName="canary", Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    executed = []
    for _ in range(400):
        response, payload = invoke(client, "canary:live")
        assert payload == {"1": "v1", "2": "v2"}[response["ExecutedVersion"]]
        executed.append(response["ExecutedVersion"])
    # Binomial(400, 0.1): mean 40, sd 6. P(X < 16 or X > 64) = 7.3e-5 (exact), so 4%-16%
    # fails about once in 14,000 runs; a router that ignored the weights gives 0 or 400.
    assert 16 <= executed.count("2") <= 64
    assert executed.count("1") + executed.count("2") == 400

    client.update_alias(FunctionName="canary", Name="live", FunctionVersion="2", RoutingConfig={})
    assert {invoke(client, "canary:live")[0]["ExecutedVersion"] for _ in range(20)} == {"2"}


def _statistic(cloud, account: str, metric: str, dimensions: dict[str, str], stat: str = "Sum") -> float:
    now = datetime.now(timezone.utc)
    points = cloud.client("cloudwatch", account).get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1), Period=3600, Statistics=[stat],
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()])["Datapoints"]
    return sum(p[stat] for p in points)


def test_invocations_publish_lambda_metrics(cloud, account):
    client = two_versions(cloud, account, "measured")
    # Every invocation through the alias runs version 2, which fails on {"fail": true}.
    client.create_alias(FunctionName="measured", Name="live", FunctionVersion="2")
    for i in range(10):
        response, _ = invoke(client, "measured:live", {"fail": i < 3})
        assert ("FunctionError" in response) == (i < 3)
    invoke(client, "measured", {"fail": True}, Qualifier="1")    # version 1 does not fail

    alias = {"FunctionName": "measured", "Resource": "measured:live"}
    assert _statistic(cloud, account, "Errors", alias) == 3
    assert _statistic(cloud, account, "Invocations", alias) == 10
    assert _statistic(cloud, account, "Throttles", alias) == 0
    assert _statistic(cloud, account, "Duration", alias, "SampleCount") == 10
    assert _statistic(cloud, account, "Errors", {"FunctionName": "measured", "ExecutedVersion": "2"}) == 3
    assert _statistic(cloud, account, "Invocations", {"FunctionName": "measured", "Resource": "measured:1"}) == 1

    metrics = cloud.client("cloudwatch", account).list_metrics(Namespace="AWS/Lambda", MetricName="Errors")["Metrics"]
    dimension_sets = {frozenset((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in metrics}
    assert frozenset({("FunctionName", "measured")}) in dimension_sets
    assert frozenset({("FunctionName", "measured"), ("Resource", "measured:live")}) in dimension_sets
    assert frozenset({("FunctionName", "measured"), ("ExecutedVersion", "2")}) in dimension_sets
    # Another account sees none of it.
    from tests.conftest import new_account

    other = new_account()
    assert _statistic(cloud, other, "Invocations", alias) == 0


def test_deleting_a_version_or_function_stops_its_invocations(cloud, account):
    client = two_versions(cloud, account, "doomed")
    assert invoke(client, "doomed", Qualifier="1")[1] == "v1"
    client.delete_function(FunctionName="doomed", Qualifier="1")
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="doomed", Qualifier="1", Payload=json.dumps({}))
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert invoke(client, "doomed", Qualifier="2")[1] == "v2"
