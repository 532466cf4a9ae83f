"""CloudWatch Logs events on disk: one append-only pair of files per log stream under
the state dir (``logs/ACCOUNT/REGION/STREAM-ID/``): ``events`` (the messages' UTF-8
bytes, back to back) and ``index`` (a fixed-size record per event: timestamp, ingestion
time, offset and length in ``events``). Positions are stable (the n-th event appended
stays the n-th), the index is searched by time with a binary search, and nothing but a
stream's counters is kept in memory.

A reader sees only whole events: the message bytes are written before the index record
that points at them. One writer at a time per stream (a lock kept beside, never in, the
picklable ``StreamFiles``)."""

from __future__ import annotations

import os
import shutil
import struct
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workshop.cloud import runtime

RECORD = struct.Struct("<qqQI")      # timestamp ms, ingestion ms, offset, length
CHUNK = 512                          # index records read at a time when scanning
EVENT_OVERHEAD = 26                  # what CloudWatch Logs counts per event besides the message


@dataclass(frozen=True)
class Event:
    """One stored event: its position in the stream's append order, and its fields."""

    position: int
    timestamp: int
    ingestion_time: int
    message: str

    @property
    def size(self) -> int:
        """The bytes CloudWatch Logs counts for this event (message + 26)."""
        return len(self.message.encode("utf-8")) + EVENT_OVERHEAD


_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _locks_lock:
        found = _locks.get(key)
        if found is None:
            found = _locks[key] = threading.Lock()
        return found


class StreamFiles:
    """The two files of one stream and its counters, named by a path relative to the
    state dir (a snapshot taken on one data dir reads on another). Picklable: no
    handles, no locks."""

    def __init__(self, account_id: str, region: str, stream_id: str):
        self.account_id, self.region = account_id, region
        self.relative = f"logs/{account_id}/{region}/{stream_id}"
        self.count = 0
        self.stored_bytes = 0
        self.first_timestamp: int | None = None
        self.last_timestamp: int | None = None
        self.sorted = True           # every event appended so far came no earlier than the one before

    @property
    def folder(self) -> Path:
        return runtime.state_dir() / self.relative

    # -- writing --------------------------------------------------------------
    def append(self, events: list[tuple[int, int, str]]) -> int:
        """Append (timestamp, ingestion time, message) events; returns the bytes stored."""
        if not events:
            return 0
        encoded = [message.encode("utf-8", "replace") for _, _, message in events]
        with _lock_for(self.relative):
            folder = self.folder
            if not folder.is_dir():
                runtime.account_dir("logs", self.account_id, self.region)   # 0700: the cloud's own
                folder.mkdir(mode=0o700, exist_ok=True)
            data_fd = os.open(folder / "events", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                offset = os.fstat(data_fd).st_size
                _write_all(data_fd, b"".join(encoded))
            finally:
                os.close(data_fd)
            records = bytearray()
            for (timestamp, ingested, _), body in zip(events, encoded):
                timestamp = int(timestamp)
                records += RECORD.pack(timestamp, int(ingested), offset, len(body))
                offset += len(body)
                if self.last_timestamp is not None and timestamp < self.last_timestamp:
                    self.sorted = False
                if self.last_timestamp is None or timestamp > self.last_timestamp:
                    self.last_timestamp = timestamp
                if self.first_timestamp is None or timestamp < self.first_timestamp:
                    self.first_timestamp = timestamp
            index_fd = os.open(folder / "index", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                _write_all(index_fd, bytes(records))
            finally:
                os.close(index_fd)
            stored = sum(len(body) for body in encoded)
            self.count += len(events)
            self.stored_bytes += stored
        return stored

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        with _locks_lock:
            _locks.pop(self.relative, None)

    # -- reading --------------------------------------------------------------
    def reader(self) -> StreamReader:
        """A reader over the events stored now (later appends are not seen by it)."""
        return StreamReader(self.folder, self.sorted)


class StreamReader:
    """Reads one stream's events by position or by time. Open it, use it, close it
    (``with files.reader() as r``): it holds two descriptors while open."""

    def __init__(self, folder: Path, in_order: bool):
        self._index = self._data = None
        try:
            self._index = os.open(folder / "index", os.O_RDONLY | os.O_CLOEXEC)
            self._data = os.open(folder / "events", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self.close()
        self.count = os.fstat(self._index).st_size // RECORD.size if self._index is not None else 0
        self._order: array | None = None
        if not in_order and self.count:
            self._order = self._sorted_positions()

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for fd in (self._index, self._data):
            if fd is not None:
                os.close(fd)
        self._index = self._data = None

    # Ranks are places in time order; positions are places in append order. In a stream
    # whose events came in time order (nearly all) the two are the same.
    def _position(self, rank: int) -> int:
        return rank if self._order is None else self._order[rank]

    def _records(self, start: int, count: int) -> list[tuple[int, int, int, int]]:
        raw = os.pread(self._index, count * RECORD.size, start * RECORD.size)
        return [RECORD.unpack_from(raw, i * RECORD.size) for i in range(len(raw) // RECORD.size)]

    def _sorted_positions(self) -> array:
        stamps = []
        for start in range(0, self.count, 65536):
            stamps += [(rec[0], start + i) for i, rec in enumerate(self._records(start, 65536))]
        stamps.sort()
        return array("q", (position for _, position in stamps))

    def timestamp(self, rank: int) -> int:
        return self._records(self._position(rank), 1)[0][0]

    def event(self, rank: int) -> Event:
        position = self._position(rank)
        timestamp, ingested, offset, length = self._records(position, 1)[0]
        body = os.pread(self._data, length, offset) if length else b""
        return Event(position, timestamp, ingested, body.decode("utf-8", "replace"))

    def bisect(self, timestamp: int | None) -> int:
        """The first rank whose event's timestamp is at or after ``timestamp``."""
        if timestamp is None:
            return 0
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            if self.timestamp(mid) < timestamp:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def span(self, start_time: int | None, end_time: int | None) -> tuple[int, int]:
        """Ranks [lo, hi) of the events with start_time <= timestamp < end_time (AWS's rule)."""
        lo = self.bisect(start_time)
        hi = self.bisect(end_time) if end_time is not None else self.count
        return lo, max(lo, hi)

    def forward(self, lo: int, hi: int) -> Iterator[Event]:
        """Events of ranks lo..hi-1, in time order, read a chunk of the index at a time."""
        rank = lo
        while rank < hi:
            if self._order is None:
                records = self._records(rank, min(CHUNK, hi - rank))
                if not records:
                    return
                first = rank
                start, end = records[0][2], records[-1][2] + records[-1][3]
                blob = os.pread(self._data, end - start, start) if end > start else b""
                for i, (timestamp, ingested, offset, length) in enumerate(records):
                    body = blob[offset - start:offset - start + length]
                    yield Event(first + i, timestamp, ingested, body.decode("utf-8", "replace"))
                rank += len(records)
            else:
                yield self.event(rank)
                rank += 1

    def backward(self, hi: int, lo: int) -> Iterator[Event]:
        """Events of ranks hi-1 down to lo, newest first."""
        rank = hi
        while rank > lo:
            start = max(lo, rank - CHUNK)
            chunk = list(self.forward(start, rank))
            yield from reversed(chunk)
            rank = start


def remove_account(account_id: str) -> None:
    shutil.rmtree(runtime.state_dir() / "logs" / account_id, ignore_errors=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
