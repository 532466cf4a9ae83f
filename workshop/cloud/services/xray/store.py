"""X-Ray's traces on disk: the segment documents of one account and region are appended,
one JSON line each, to chunk files under the state dir (``xray/ACCOUNT/REGION/``); the
picklable ``TraceStore`` (kept in the account's X-Ray backend, so in its snapshot) holds
only an index: per trace its time span and where each of its documents lies.

Bounded as AWS bounds it: a trace is kept 30 days (``RETENTION_SECONDS``) and an account
keeps at most ``MAX_TRACES`` traces and ``MAX_DOCUMENTS`` documents per region (the
oldest traces go first), a trace at most ``MAX_DOCUMENTS_PER_TRACE``; a chunk file is
deleted once no kept trace points into it."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from workshop.cloud import runtime

RETENTION_SECONDS = 30 * 24 * 3600    # X-Ray keeps trace data 30 days
MAX_TRACES = 20_000                   # per account and region: ~10 MiB of index, a few hundred MiB on disk
MAX_DOCUMENTS = 200_000               # segment documents per account and region (the index's real size)
MAX_DOCUMENTS_PER_TRACE = 1_000       # past this a trace keeps what it had (batch_get_traces: LimitExceeded)
CHUNK_BYTES = 8 * 1024 * 1024         # a chunk file is closed for appends past this size

_locks: dict[str, threading.RLock] = {}
_locks_lock = threading.Lock()


def lock_for(key: str) -> threading.RLock:
    with _locks_lock:
        found = _locks.get(key)
        if found is None:
            found = _locks[key] = threading.RLock()
        return found


@dataclass
class Trace:
    """One trace as the query side reads it: its X-Ray id, its segment documents (dicts,
    in start-time order, each independently sent subsegment nested into its parent's
    ``subsegments``), and the earliest start and latest end of them (epoch seconds)."""

    trace_id: str
    segments: list[dict]
    start: float
    end: float
    # Subsegments sent on their own whose parent never arrived (AWS calls such a trace partial).
    orphans: list[dict] = field(default_factory=list)
    limit_exceeded: bool = False   # more documents came than a trace keeps

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def __iter__(self):
        """A trace reads as its segment documents (what filters.matches and graph.py take)."""
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def in_progress(self) -> bool:
        return any(doc.get("in_progress") for doc in self.segments)


class _Entry:
    """The index of one trace: where each of its documents lies, by document id (a later
    document with the same id replaces the earlier, as an in-progress segment is completed)."""

    __slots__ = ("start", "end", "docs", "limited")

    def __init__(self, start: float, end: float):
        self.start, self.end = start, end
        self.limited = False    # documents came past MAX_DOCUMENTS_PER_TRACE and were not kept
        self.docs: dict[str, tuple[str, int, int]] = {}   # document id -> (chunk, offset, length)


class TraceStore:
    """The traces of one account and region. Picklable: names files by a path relative to
    the state dir, holds no handles and no locks (those are in ``lock_for``)."""

    def __init__(self, account_id: str, region: str):
        self.account_id, self.region = account_id, region
        self.relative = f"xray/{account_id}/{region}"
        self._prefix = uuid.uuid4().hex[:12]   # chunk names never reused, even after a reset
        self._chunk = 0
        self._chunk_size = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()   # oldest first
        self._refs: dict[str, int] = {}                           # chunk -> documents pointing into it
        self._documents = 0

    @property
    def lock(self) -> threading.RLock:
        return lock_for(self.relative)

    def _path(self, chunk: str):
        return runtime.state_dir() / self.relative / chunk

    def __len__(self) -> int:
        return len(self._entries)

    # -- writing --------------------------------------------------------------
    def put(self, documents: list[dict], now: float) -> None:
        """Append valid segment documents (each with id, trace_id, start_time)."""
        if not documents:
            return
        lines = [json.dumps(doc, separators=(",", ":")).encode() + b"\n" for doc in documents]
        with self.lock:
            folder = runtime.state_dir() / self.relative
            if not folder.is_dir():
                runtime.account_dir("xray", self.account_id, self.region)   # 0700: the cloud's own
            if self._chunk_size > CHUNK_BYTES:
                self._chunk += 1
                self._chunk_size = 0
            chunk = f"{self._prefix}-{self._chunk:06d}.jsonl"
            fd = os.open(self._path(chunk), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                offset = os.fstat(fd).st_size
                data = b"".join(lines)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            self._chunk_size = offset + len(data)
            for doc, line in zip(documents, lines):
                self._index(doc, (chunk, offset, len(line)))
                offset += len(line)
            self._expire(now)

    def _index(self, doc: dict, where: tuple[str, int, int]) -> None:
        trace_id = doc["trace_id"]
        start = float(doc["start_time"])
        end = float(doc.get("end_time") or start)
        entry = self._entries.get(trace_id)
        if entry is None:
            entry = self._entries[trace_id] = _Entry(start, end)
        else:
            entry.start, entry.end = min(entry.start, start), max(entry.end, end)
        replaced = entry.docs.get(doc["id"])
        if replaced is not None:
            self._release(replaced[0])
        elif len(entry.docs) >= MAX_DOCUMENTS_PER_TRACE:
            entry.limited = True
            return
        else:
            self._documents = self.documents + 1
        entry.docs[doc["id"]] = where
        self._refs[where[0]] = self._refs.get(where[0], 0) + 1

    @property
    def documents(self) -> int:
        """Documents indexed (counted again for an index pickled before the count was kept)."""
        count = getattr(self, "_documents", None)
        if count is None:
            count = self._documents = sum(len(e.docs) for e in self._entries.values())
        return count

    def _release(self, chunk: str) -> None:
        left = self._refs.get(chunk, 0) - 1
        if left > 0:
            self._refs[chunk] = left
            return
        self._refs.pop(chunk, None)
        if chunk != f"{self._prefix}-{self._chunk:06d}.jsonl":
            try:
                self._path(chunk).unlink()
            except FileNotFoundError:
                pass

    def _expire(self, now: float) -> None:
        oldest_kept = now - RETENTION_SECONDS
        while self._entries:
            trace_id, entry = next(iter(self._entries.items()))
            if (len(self._entries) <= MAX_TRACES and self.documents <= MAX_DOCUMENTS
                    and entry.end >= oldest_kept):
                break
            del self._entries[trace_id]
            self._documents = self.documents - len(entry.docs)
            for chunk, _, _ in entry.docs.values():
                self._release(chunk)

    # -- reading --------------------------------------------------------------
    def ids(self, start: float | None = None, end: float | None = None) -> list[str]:
        """Ids of the traces with a document between ``start`` and ``end`` (epoch seconds)."""
        with self.lock:
            return [trace_id for trace_id, entry in self._entries.items()
                    if (start is None or entry.end >= start) and (end is None or entry.start <= end)]

    def get(self, trace_id: str, _open: dict | None = None) -> Trace | None:
        """The trace, or None. ``_open``: chunk descriptors kept open across calls (traces())."""
        with self.lock:
            entry = self._entries.get(trace_id)
            if entry is None:
                return None
            where = list(entry.docs.values())
        docs = []
        by_chunk: dict[str, list[tuple[int, int]]] = {}
        for chunk, offset, length in where:
            by_chunk.setdefault(chunk, []).append((offset, length))
        for chunk, places in by_chunk.items():
            fd = None if _open is None else _open.get(chunk)
            if fd is None:
                try:
                    fd = os.open(self._path(chunk), os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                if _open is not None:
                    _open[chunk] = fd
            try:
                for offset, length in places:
                    try:
                        docs.append(json.loads(os.pread(fd, length, offset)))
                    except ValueError:   # a write cut short by a kill: that document is lost
                        continue
            finally:
                if _open is None:
                    os.close(fd)
        if not docs:
            return None
        trace = assemble(trace_id, docs)
        trace.limit_exceeded = getattr(entry, "limited", False)
        return trace

    def traces(self, start: float | None = None, end: float | None = None) -> Iterator[Trace]:
        opened: dict[str, int] = {}   # a chunk file opened once for the whole walk
        try:
            for trace_id in self.ids(start, end):
                trace = self.get(trace_id, opened)
                if trace is not None:
                    yield trace
        finally:
            for fd in opened.values():
                os.close(fd)

    def remove(self) -> None:
        import shutil

        shutil.rmtree(runtime.state_dir() / self.relative, ignore_errors=True)
        self._entries.clear()
        self._refs.clear()
        self._documents = 0


def assemble(trace_id: str, docs: list[dict]) -> Trace:
    """A trace from its documents: subsegments sent on their own (``"type": "subsegment"``)
    nested into the segment or subsegment their ``parent_id`` names."""
    segments = [doc for doc in docs if doc.get("type") != "subsegment"]
    loose = [doc for doc in docs if doc.get("type") == "subsegment"]
    by_id: dict[str, dict] = {}

    def register(doc: dict) -> None:
        by_id.setdefault(doc.get("id"), doc)
        for sub in doc.get("subsegments") or ():
            if isinstance(sub, dict):
                register(sub)

    for doc in segments:
        register(doc)
    orphans: list[dict] = []
    pending = sorted(loose, key=lambda d: float(d.get("start_time") or 0))
    while pending:   # a subsegment's parent may itself be a loose subsegment
        progress, waiting = False, []
        for doc in pending:
            parent = by_id.get(doc.get("parent_id"))
            if parent is None:
                waiting.append(doc)
                continue
            sub = {k: v for k, v in doc.items() if k not in ("type", "trace_id", "parent_id")}
            parent.setdefault("subsegments", []).append(sub)
            register(sub)
            progress = True
        pending = waiting
        if not progress:
            orphans = waiting
            break
    for doc in by_id.values():
        if doc.get("subsegments"):
            doc["subsegments"].sort(key=lambda d: float(d.get("start_time") or 0))
    segments.sort(key=lambda d: float(d.get("start_time") or 0))
    times = [float(d["start_time"]) for d in docs if isinstance(d.get("start_time"), (int, float))]
    ends = [float(d.get("end_time") or d["start_time"]) for d in docs
            if isinstance(d.get("start_time"), (int, float))]
    return Trace(trace_id, segments, min(times, default=0.0), max(ends, default=0.0), orphans)


# -- what the query side calls ----------------------------------------------------------

def _store_of(account_id: str, region: str) -> TraceStore | None:
    """The account's store in that region, or None when it never had X-Ray state (nothing
    is created by looking)."""
    from moto.xray.models import xray_backends

    if account_id not in dict.keys(xray_backends):
        return None
    per_region = dict.__getitem__(xray_backends, account_id)
    if region not in dict.keys(per_region):
        return None
    return getattr(dict.__getitem__(per_region, region), "traces", None)


def traces(account_id: str, region: str, start: float | None = None,
           end: float | None = None) -> Iterator[Trace]:
    """The traces of an account and region with a document between ``start`` and ``end``
    (epoch seconds; None: unbounded), oldest stored first."""
    found = _store_of(account_id, region)
    return iter(()) if found is None else found.traces(start, end)


def get(account_id: str, region: str, trace_id: str) -> Trace | None:
    found = _store_of(account_id, region)
    return None if found is None else found.get(trace_id)
