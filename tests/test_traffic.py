"""The traffic helper and ``workshop traffic``: invocations of an alias tallied per
executed version, and the tally agrees with what the cloud itself counted."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from labkit.traffic import TrafficError, TrafficResult, VersionTally, send_traffic, start_traffic
from tests.conftest import ROOT
from tests.test_lambda_invoke import make_function, zip_code

GOOD = "def handler(event, context):\n    return 'ok'\n"
BAD = "def handler(event, context):\n    raise RuntimeError('bad release')\n"


def canary(cloud, account: str, name: str, weight: float) -> None:
    """Version 1 works, version 2 always fails; alias ``live`` sends ``weight`` to 2."""
    client = cloud.client("lambda", account)
    make_function(cloud, account, name, GOOD)
    client.publish_version(FunctionName=name)
    client.update_function_code(FunctionName=name, ZipFile=zip_code(BAD))
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": weight}})


def _cloud_count(cloud, account: str, name: str, metric: str, version: str) -> int:
    now = datetime.now(timezone.utc)
    points = cloud.client("cloudwatch", account).get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1), Period=3600, Statistics=["Sum"],
        Dimensions=[{"Name": "FunctionName", "Value": name}, {"Name": "ExecutedVersion", "Value": version}])
    return int(sum(p["Sum"] for p in points["Datapoints"]))


def test_tally_per_version_matches_what_the_cloud_executed(cloud, account):
    canary(cloud, account, "shop", 0.3)
    result = send_traffic("shop:live", count=80, concurrency=4, endpoint=cloud.endpoint, account=account)
    assert result.sent == 80 and not result.stopped
    assert set(result.versions) == {"1", "2"}
    assert result.tally("1").failed == 0 and result.tally("2").succeeded == 0
    for version in ("1", "2"):
        assert result.tally(version).requests == _cloud_count(cloud, account, "shop", "Invocations", version)
        assert result.tally(version).failed == _cloud_count(cloud, account, "shop", "Errors", version)
    assert result.failed == result.tally("2").failed > 0
    assert "RuntimeError: bad release" in result.error_samples

    text = str(result)
    assert "80 invocations of shop:live" in text
    assert any(line.split()[:4] == ["2", str(result.tally("2").requests), "0", str(result.tally("2").failed)]
               for line in text.splitlines())
    html = result._repr_html_()
    assert "<table" in html and "shop:live" in html


def test_rate_and_background_run(cloud, account):
    make_function(cloud, account, "steady", GOOD)
    client = cloud.client("lambda", account)
    client.publish_version(FunctionName="steady")
    client.create_alias(FunctionName="steady", Name="live", FunctionVersion="1")
    seen = []
    run = start_traffic("steady", alias="live", count=12, rate=50, endpoint=cloud.endpoint, account=account,
                        on_result=lambda version, ok: seen.append((version, ok)))
    result = run.result(timeout=60)
    assert run.done()
    assert result.to_dict()["versions"] == {"1": {"requests": 12, "succeeded": 12, "failed": 0}}
    assert sorted(seen) == [("1", True)] * 12

    stopped = start_traffic("steady:live", count=10_000, rate=20, endpoint=cloud.endpoint, account=account)
    stopped.stop()
    partial = stopped.result(timeout=60)
    assert partial.sent < 10_000 and partial.stopped


def test_missing_function_or_alias_is_a_clear_error(cloud, account):
    with pytest.raises(TrafficError, match="no function 'ghost'"):
        send_traffic("ghost", count=5, endpoint=cloud.endpoint, account=account)
    make_function(cloud, account, "real", GOOD)
    with pytest.raises(TrafficError, match="has no alias or version 'prod'"):
        send_traffic("real:prod", count=5, endpoint=cloud.endpoint, account=account)


def test_result_views_without_a_cloud():
    result = TrafficResult(function="f:live", requested=5, seconds=2.0,
                           versions={"2": VersionTally("2", 0, 1), "1": VersionTally("1", 4, 0)})
    assert [t.version for t in result.rows()] == ["1", "2"]
    assert result.failure_rate == pytest.approx(0.2)
    assert result.tally("3").requests == 0
    lines = str(result).splitlines()
    assert lines[0] == "5 invocations of f:live in 2.0 s, 2.5/s"
    assert lines[-1].split() == ["total", "5", "4", "1", "20.0"]


def _workshop(cloud, account: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workshop", "traffic", *args, "--endpoint", cloud.endpoint,
                           "--account", account], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=cloud.env(account))


def test_workshop_traffic_command(cloud, account):
    canary(cloud, account, "cli-shop", 0.5)
    done = _workshop(cloud, account, "cli-shop:live", "--count", "30", "--json", "--payload", '{"order": 1}')
    assert done.returncode == 1, done.stderr        # some requests failed (version 2)
    tally = json.loads(done.stdout)
    assert tally["sent"] == 30
    assert tally["versions"]["2"]["failed"] == tally["versions"]["2"]["requests"] > 0
    assert tally["versions"]["1"]["failed"] == 0

    cloud.client("lambda", account).update_alias(FunctionName="cli-shop", Name="live", RoutingConfig={})
    done = _workshop(cloud, account, "cli-shop:live", "--count", "5", "--rate", "100")
    assert done.returncode == 0, done.stderr
    assert "5 invocations of cli-shop:live" in done.stdout

    done = _workshop(cloud, account, "nothing-here", "--count", "5")
    assert done.returncode == 2 and "no function 'nothing-here'" in done.stderr
    done = _workshop(cloud, account, "cli-shop", "--payload", "{nope")
    assert done.returncode == 2 and "--payload is not JSON" in done.stderr
