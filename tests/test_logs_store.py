"""CloudWatch Logs on disk (issue 10): events written by PutLogEvents are read back by
GetLogEvents from either end with AWS's tokens and 1 MB pages, by FilterLogEvents across
streams in time order with its tokens, and live in files under the cloud's state dir, not
in the cloud's memory; deleting a stream or group removes its files."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError


def _put(logs, group: str, stream: str, messages: list[str], start: int, step: int = 1) -> None:
    for first in range(0, len(messages), 1000):
        batch = messages[first:first + 1000]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": start + (first + i) * step, "message": m} for i, m in enumerate(batch)])


def _setup(cloud, account: str, group: str, streams: list[str]):
    logs = cloud.client("logs", account)
    logs.create_log_group(logGroupName=group)
    for stream in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return logs


def test_get_log_events_pages_from_either_end(cloud, account):
    logs = _setup(cloud, account, "/app/pages", ["s"])
    now = int(time.time() * 1000) - 60_000
    _put(logs, "/app/pages", "s", [f"event {i}" for i in range(2500)], now)

    tail = logs.get_log_events(logGroupName="/app/pages", logStreamName="s", limit=100)
    assert [e["message"] for e in tail["events"]] == [f"event {i}" for i in range(2400, 2500)]
    # Backward from the tail, page by page, until the token stops changing (AWS's end mark).
    seen, token = [e["message"] for e in tail["events"]], tail["nextBackwardToken"]
    while True:
        page = logs.get_log_events(logGroupName="/app/pages", logStreamName="s", limit=700, nextToken=token)
        seen = [e["message"] for e in page["events"]] + seen
        if page["nextBackwardToken"] == token:
            break
        token = page["nextBackwardToken"]
    assert seen == [f"event {i}" for i in range(2500)]

    head = logs.get_log_events(logGroupName="/app/pages", logStreamName="s", startFromHead=True, limit=1000)
    assert head["events"][0]["message"] == "event 0" and len(head["events"]) == 1000
    forward = logs.get_log_events(logGroupName="/app/pages", logStreamName="s", startFromHead=True,
                                  nextToken=head["nextForwardToken"])
    assert [e["message"] for e in forward["events"]] == [f"event {i}" for i in range(1000, 2500)]
    end = logs.get_log_events(logGroupName="/app/pages", logStreamName="s", nextToken=forward["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == forward["nextForwardToken"]

    # startTime inclusive, endTime exclusive (AWS's rule).
    window = logs.get_log_events(logGroupName="/app/pages", logStreamName="s", startFromHead=True,
                                 startTime=now + 10, endTime=now + 20)
    assert [e["message"] for e in window["events"]] == [f"event {i}" for i in range(10, 20)]

    with pytest.raises(ClientError) as bad:
        logs.get_log_events(logGroupName="/app/pages", logStreamName="s", nextToken="x/12")
    assert bad.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_page_holds_at_most_1_mb(cloud, account):
    logs = _setup(cloud, account, "/app/big", ["s"])
    now = int(time.time() * 1000) - 60_000
    line = "y" * 10_000
    for first in range(0, 300, 50):
        logs.put_log_events(logGroupName="/app/big", logStreamName="s", logEvents=[
            {"timestamp": now + first + i, "message": f"{first + i:04d}{line}"} for i in range(50)])
    page = logs.get_log_events(logGroupName="/app/big", logStreamName="s", startFromHead=True)
    size = sum(len(e["message"]) + 26 for e in page["events"])
    assert 0 < len(page["events"]) < 300 and size <= 1_048_576
    rest = logs.get_log_events(logGroupName="/app/big", logStreamName="s", nextToken=page["nextForwardToken"])
    assert rest["events"][0]["message"].startswith(f"{len(page['events']):04d}")


def test_filter_log_events_interleaves_streams_with_tokens(cloud, account):
    logs = _setup(cloud, account, "/app/filter", ["a", "b"])
    now = int(time.time() * 1000) - 60_000
    _put(logs, "/app/filter", "a", [f"a {i} {'ERROR' if i % 3 == 0 else 'ok'}" for i in range(300)], now, 2)
    _put(logs, "/app/filter", "b", [f"b {i} {'ERROR' if i % 5 == 0 else 'ok'}" for i in range(300)], now + 1, 2)

    found, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = logs.filter_log_events(logGroupName="/app/filter", filterPattern="ERROR", limit=25, **kwargs)
        found += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    expected = sorted([(now + 2 * i, "a") for i in range(300) if i % 3 == 0]
                      + [(now + 1 + 2 * i, "b") for i in range(300) if i % 5 == 0])
    assert [(e["timestamp"], e["logStreamName"]) for e in found] == expected
    assert len({e["eventId"] for e in found}) == len(found)

    only_b = logs.filter_log_events(logGroupName="/app/filter", logStreamNames=["b"],
                                    startTime=now + 101, endTime=now + 201)["events"]
    assert [e["message"] for e in only_b] == [f"b {i} {'ERROR' if i % 5 == 0 else 'ok'}" for i in range(50, 100)]


def test_events_live_on_disk_and_go_with_their_stream(cloud, account):
    logs = _setup(cloud, account, "/app/disk", ["keep", "drop"])
    now = int(time.time() * 1000) - 60_000
    _put(logs, "/app/disk", "keep", ["kept on disk " + "z" * 100] * 50, now)
    _put(logs, "/app/disk", "drop", ["dropped"] * 10, now)
    folder = cloud.data_dir / "state" / "logs" / account / "us-east-1"
    stored = {p.parent.name: p.stat().st_size for p in folder.glob("*/events")}
    assert sorted(stored.values()) == [70, 50 * 113]

    described = {s["logStreamName"]: s for s in logs.describe_log_streams(logGroupName="/app/disk")["logStreams"]}
    assert described["keep"]["storedBytes"] == 50 * 113
    assert described["keep"]["firstEventTimestamp"] == now and described["keep"]["lastEventTimestamp"] == now + 49

    logs.delete_log_stream(logGroupName="/app/disk", logStreamName="drop")
    assert len(list(folder.glob("*/events"))) == 1
    logs.delete_log_group(logGroupName="/app/disk")
    assert list(folder.glob("*/events")) == []
    logs.create_log_group(logGroupName="/app/disk")
    logs.create_log_stream(logGroupName="/app/disk", logStreamName="keep")
    assert logs.get_log_events(logGroupName="/app/disk", logStreamName="keep")["events"] == []
