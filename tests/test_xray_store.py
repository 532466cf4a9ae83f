"""The trace store's bounds, in process: a trace older than X-Ray's 30 days and the oldest
traces past the per-account cap are dropped, with the chunk files nobody points into; a
document that arrives again (an in-progress segment completed) replaces the first; an
independently sent subsegment is nested under its parent, one whose parent never came is
an orphan."""

from __future__ import annotations

import secrets

import pytest

from workshop.cloud import runtime
from workshop.cloud.services.xray import store


@pytest.fixture
def traces(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "_state_dir", tmp_path)
    return store.TraceStore("123456789012", "us-east-1")


def _doc(trace_id: str, start: float, **fields) -> dict:
    return {"id": secrets.token_hex(8), "trace_id": trace_id, "name": "svc", "start_time": start,
            "end_time": start + 1, **fields}


def _tid() -> str:
    return f"1-6b000000-{secrets.token_hex(12)}"


def test_cap_drops_the_oldest_and_their_chunk_files(traces, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MAX_TRACES", 3)
    monkeypatch.setattr(store, "CHUNK_BYTES", 10)     # a chunk file per put
    ids = [_tid() for _ in range(5)]
    for i, trace_id in enumerate(ids):
        traces.put([_doc(trace_id, 1_000 + i)], now=2_000)
    assert traces.ids() == ids[2:]
    assert traces.get(ids[0]) is None and traces.get(ids[4]).segments[0]["trace_id"] == ids[4]
    chunks = sorted((tmp_path / traces.relative).iterdir())
    assert len(chunks) == 3                                  # the two dropped traces' files are gone


def test_thirty_days_retention(traces):
    old, new = _tid(), _tid()
    traces.put([_doc(old, 0)], now=10)
    traces.put([_doc(new, 40 * 86400)], now=40 * 86400)
    assert traces.ids() == [new]


def test_a_later_document_replaces_and_subsegments_nest(traces):
    trace_id = _tid()
    root = _doc(trace_id, 100, in_progress=True)
    del root["end_time"]
    traces.put([root], now=200)
    assert traces.get(trace_id).in_progress
    done = dict(root, end_time=105)
    del done["in_progress"]
    child = _doc(trace_id, 101, type="subsegment", parent_id=root["id"], name="db")
    grandchild = _doc(trace_id, 102, type="subsegment", parent_id=child["id"], name="query")
    lost = _doc(trace_id, 103, type="subsegment", parent_id="ffffffffffffffff", name="lost")
    traces.put([grandchild, lost, done, child], now=200)
    trace = traces.get(trace_id)
    (segment,) = trace.segments
    assert not trace.in_progress and segment["end_time"] == 105
    assert segment["subsegments"][0]["name"] == "db"
    assert segment["subsegments"][0]["subsegments"][0]["name"] == "query"
    assert [o["name"] for o in trace.orphans] == ["lost"]
    assert (trace.start, trace.end) == (100, 105) and list(trace) == trace.segments
    assert [t.trace_id for t in traces.traces(104, 200)] == [trace_id]
    assert list(traces.traces(300, 400)) == []


def test_the_index_pickles_without_files_or_locks(traces):
    import pickle

    trace_id = _tid()
    traces.put([_doc(trace_id, 100)], now=200)
    copy = pickle.loads(pickle.dumps(traces))
    assert copy.get(trace_id).segments[0]["trace_id"] == trace_id


def test_documents_are_bounded_per_store_and_per_trace(traces, monkeypatch):
    monkeypatch.setattr(store, "MAX_DOCUMENTS", 6)
    monkeypatch.setattr(store, "MAX_DOCUMENTS_PER_TRACE", 3)
    big, small, last = _tid(), _tid(), _tid()
    traces.put([_doc(big, 100 + i) for i in range(5)], now=200)          # 3 kept, then LimitExceeded
    trace = traces.get(big)
    assert len(trace.segments) == 3 and trace.limit_exceeded
    traces.put([_doc(small, 110), _doc(small, 111)], now=200)
    assert traces.ids() == [big, small] and traces.documents == 5
    traces.put([_doc(last, 120), _doc(last, 121)], now=200)              # 7 > 6: the oldest trace goes
    assert traces.ids() == [small, last] and traces.documents == 4
    assert not traces.get(small).limit_exceeded


def test_a_restored_moto_backend_is_upgraded(tmp_path, monkeypatch):
    """A snapshot written before this extension holds moto's own X-Ray backend."""
    monkeypatch.setattr(runtime, "_state_dir", tmp_path)
    from moto.xray.models import XRayBackend, xray_backends

    from workshop.cloud.services.xray import models

    account = "123456789099"
    per_region = xray_backends[account]
    dict.__setitem__(per_region, "eu-west-1", XRayBackend("eu-west-1", account))
    upgraded = models.backend(account, "eu-west-1")
    assert isinstance(upgraded, models.WorkshopXRayBackend) and models.backend(account, "eu-west-1") is upgraded
