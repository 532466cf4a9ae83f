"""CloudWatch Logs with its events on disk: moto's log groups and streams keep their
metadata, and every stream's events live in ``store.StreamFiles`` (append-only, indexed
by time). PutLogEvents, GetLogEvents and FilterLogEvents read and write the files, with
AWS's page limits (10,000 events or 1 MB) and tokens; ``scan`` is how other engines
(metric filters, Logs Insights) read a group's events by time."""

from __future__ import annotations

import base64
import heapq
import json
import uuid
import zlib
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from moto.core.utils import unix_time_millis, utcnow
from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
from moto.logs.models import LogGroup, LogsBackend, LogStream, logs_backends

from workshop.cloud.services import extend, on_account_reset
from workshop.cloud.services.logs import filter_pattern, metric_filters, store

PAGE_EVENTS = 10_000                 # GetLogEvents / FilterLogEvents: at most 10,000 events...
PAGE_BYTES = 1_048_576               # ...or 1 MB, whichever comes first (AWS)
SCAN_BYTES = 64 * 1024 * 1024        # FilterLogEvents reads at most this much per call, then hands a token


def logs_backend(account_id: str, region: str) -> LogsBackend:
    """The account's CloudWatch Logs backend, for engines that write or read logs."""
    return logs_backends[account_id][region]


class StoredEvent:
    """An event read back from disk, shaped as moto's LogEvent for moto's own readers."""

    __slots__ = ("timestamp", "ingestion_time", "message", "event_id")

    def __init__(self, stream: DiskLogStream, event: store.Event):
        self.timestamp = event.timestamp
        self.ingestion_time = event.ingestion_time
        self.message = event.message
        self.event_id = event_id(stream.log_stream_name, event)

    def to_filter_dict(self) -> dict[str, Any]:
        return {"eventId": self.event_id, "ingestionTime": self.ingestion_time,
                "message": self.message, "timestamp": self.timestamp}

    def to_response_dict(self) -> dict[str, Any]:
        return {"ingestionTime": self.ingestion_time, "message": self.message, "timestamp": self.timestamp}


def event_id(stream_name: str, event: store.Event) -> str:
    """A 56-digit id, unique in its group, as AWS's look."""
    return f"{event.timestamp:020d}{zlib.crc32(stream_name.encode()):010d}{event.position:026d}"


class EventsView:
    """``stream.events`` for moto's code that iterates it (Logs Insights, live tail):
    read from disk in time order, never held."""

    def __init__(self, stream: DiskLogStream):
        self._stream = stream

    def __len__(self) -> int:
        return self._stream.files.count

    def __bool__(self) -> bool:
        return self._stream.files.count > 0

    def __iter__(self) -> Iterator[StoredEvent]:
        with self._stream.files.reader() as reader:
            for event in reader.forward(0, reader.count):
                yield StoredEvent(self._stream, event)


class DiskLogStream(LogStream):
    """moto's LogStream with its events in files instead of a list."""

    def __init__(self, log_group: LogGroup, name: str):
        self.files = store.StreamFiles(log_group.account_id, log_group.region, uuid.uuid4().hex)
        super().__init__(log_group, name)

    # moto's __init__ sets these; they are the files' counters here.
    events = property(lambda self: EventsView(self), lambda self, value: _only_empty(value))
    stored_bytes = property(lambda self: self.files.stored_bytes, lambda self, value: None)
    first_event_timestamp = property(lambda self: self.files.first_timestamp, lambda self, value: None)
    last_event_timestamp = property(lambda self: self.files.last_timestamp, lambda self, value: None)

    def _update(self) -> None:
        pass

    def to_describe_dict(self) -> dict[str, Any]:
        described = {
            "arn": self.arn,
            "creationTime": int(unix_time_millis(self.creation_time)),
            "logStreamName": self.log_stream_name,
            "storedBytes": self.stored_bytes,
        }
        if self.files.count:
            described.update({
                "firstEventTimestamp": self.first_event_timestamp,
                "lastEventTimestamp": self.last_event_timestamp,
                "lastIngestionTime": int(unix_time_millis(self.last_ingestion_time)),
                "uploadSequenceToken": str(self.upload_sequence_token),
            })
        return described

    def put_log_events(self, log_events: list[dict[str, Any]], emf: bool = False) -> str:
        """Store a batch; the group's metric filters (and, with ``emf``, embedded metric
        format lines) turn it into metrics as it arrives."""
        self.last_ingestion_time = utcnow()
        ingested = int(unix_time_millis(self.last_ingestion_time))
        first = self.files.count
        self.files.append([(e["timestamp"], ingested, e["message"]) for e in log_events])
        self.upload_sequence_token += 1
        filters = list(self.log_group.subscription_filters.values())
        if filters and log_events:
            delivered = [{"id": event_id(self.log_stream_name, store.Event(first + i, e["timestamp"], ingested, "")),
                          "timestamp": e["timestamp"], "message": e["message"]} for i, e in enumerate(log_events)]
            for subscription in filters:
                self._send_log_events(service=subscription.destination_arn.split(":")[2],
                                      destination_arn=subscription.destination_arn,
                                      filter_name=subscription.name, log_events=delivered)
        if log_events and (emf or getattr(self.log_group, "metric_filters", None)):
            metric_filters.on_events(self.log_group.account_id, self.log_group.region, self.log_group,
                                     log_events, emf)
        return f"{self.upload_sequence_token:056d}"

    def get_log_events(self, start_time: int | None, end_time: int | None, limit: int | None,
                       next_token: str | None, start_from_head: bool
                       ) -> tuple[list[dict[str, Any]], str, str]:
        """A page of GetLogEvents: tokens are f/RANK (the next page forward starts there) and
        b/RANK (the next page backward ends before it); at either end the token stays the same."""
        limit = limit or PAGE_EVENTS
        direction, mark = _read_token(next_token)
        with self.files.reader() as reader:
            lo, hi = reader.span(start_time, end_time)
            if direction is None:
                direction, mark = ("f", lo) if start_from_head else ("b", hi)
            page: list[store.Event] = []
            if direction == "f":
                first = max(lo, min(mark, hi))
                for event in reader.forward(first, hi):
                    if not _fits(page, event, limit):
                        break
                    page.append(event)
                begin, end = first, first + len(page)
            else:
                last = min(hi, max(mark, lo))
                for event in reader.backward(last, lo):
                    if not _fits(page, event, limit):
                        break
                    page.append(event)
                page.reverse()
                begin, end = last - len(page), last
        events = [{"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time} for e in page]
        return events, f"b/{begin:056d}", f"f/{end:056d}"


def _only_empty(value: Any) -> None:
    if value:
        raise TypeError("a stream's events are stored on disk: use put_log_events")


def _fits(page: list[store.Event], event: store.Event, limit: int) -> bool:
    if len(page) >= limit:
        return False
    if not page:
        return True
    return sum(e.size for e in page) + event.size <= PAGE_BYTES


def _read_token(token: str | None) -> tuple[str | None, int]:
    if not token:
        return None, 0
    try:
        direction, number = token[0], int(token[2:])
    except (ValueError, IndexError):
        raise InvalidParameterException("The specified nextToken is invalid.") from None
    if direction not in ("f", "b") or token[1] != "/" or number < 0:
        raise InvalidParameterException("The specified nextToken is invalid.")
    return direction, number


# -- a group's events by time ------------------------------------------------------------

def scan(group: LogGroup, start_time: int | None = None, end_time: int | None = None,
         stream_names: Iterable[str] | None = None, after: tuple[int, str, int] | None = None
         ) -> Iterator[tuple[str, store.Event]]:
    """(stream name, event) for every event of ``group`` with start_time <= timestamp <
    end_time, in (timestamp, stream name, position) order, read from disk as it goes; each
    stream is entered by a binary search on its index, and streams whose events all lie
    outside the window are never opened. ``after`` resumes past an event's (timestamp,
    stream name, position). Events appended while it runs may or may not be seen."""
    wanted = set(stream_names) if stream_names else None
    readers: list[store.StreamReader] = []
    iterators = []
    try:
        for name, stream in sorted(group.streams.items()):
            if wanted is not None and name not in wanted:
                continue
            files = getattr(stream, "files", None)
            if files is None or not files.count:
                continue
            if end_time is not None and files.first_timestamp is not None and files.first_timestamp >= end_time:
                continue
            begin = start_time
            if after is not None:
                begin = after[0] if begin is None else max(begin, after[0])
            if begin is not None and files.last_timestamp is not None and files.last_timestamp < begin:
                continue
            reader = files.reader()
            readers.append(reader)
            lo, hi = reader.span(begin, end_time)
            iterators.append(_keyed(name, reader.forward(lo, hi)))
        for timestamp, name, position, event in heapq.merge(*iterators, key=lambda item: item[:3]):
            if after is not None and (timestamp, name, position) <= after:
                continue
            yield name, event
    finally:
        for reader in readers:
            reader.close()


def _keyed(name: str, events: Iterator[store.Event]) -> Iterator[tuple[int, str, int, store.Event]]:
    for event in events:
        yield event.timestamp, name, event.position, event


def matcher(pattern: str | None):
    """The function that says whether a message matches a filter pattern: the same syntax
    as metric filters (terms, JSON selectors, space-delimited fields)."""
    try:
        return filter_pattern.compile_pattern(pattern).matches
    except filter_pattern.PatternError:
        raise InvalidParameterException("Invalid filter pattern") from None


@extend(LogGroup)
class _LogGroup:
    def create_log_stream(self, log_stream_name: str) -> None:
        from moto.logs.exceptions import ResourceAlreadyExistsException

        if log_stream_name in self.streams:
            raise ResourceAlreadyExistsException()
        self.streams[log_stream_name] = DiskLogStream(self, log_stream_name)

    def delete_log_stream(self, log_stream_name: str) -> None:
        if log_stream_name not in self.streams:
            raise ResourceNotFoundException()
        _remove_files(self.streams.pop(log_stream_name))

    def put_log_events(self, log_stream_name: str, log_events: list[dict[str, Any]], emf: bool = False) -> str:
        if log_stream_name not in self.streams:
            raise ResourceNotFoundException("The specified log stream does not exist.")
        stream = self.streams[log_stream_name]
        if not isinstance(stream, DiskLogStream):   # made before this extension loaded
            stream = self.streams[log_stream_name] = _to_disk(self, stream)
        return stream.put_log_events(log_events, emf)

    def filter_log_events(self, log_group_name: str, log_stream_names: list[str], start_time: int | None,
                          end_time: int | None, limit: int | None, next_token: str | None,
                          filter_pattern: str | None, interleaved: bool
                          ) -> tuple[list[dict[str, Any]], str | None, list[dict[str, Any]]]:
        limit = limit or PAGE_EVENTS
        after = _read_filter_token(next_token, log_group_name)
        matches = matcher(filter_pattern)
        page: list[dict[str, Any]] = []
        size = scanned = 0
        last: tuple[int, str, int] | None = None
        more = False
        for name, event in scan(self, start_time, end_time, log_stream_names or None, after):
            if len(page) >= limit or scanned >= SCAN_BYTES or (page and size + event.size > PAGE_BYTES):
                more = True
                break
            scanned += event.size
            last = (event.timestamp, name, event.position)
            if not matches(event.message):
                continue
            size += event.size
            page.append({"logStreamName": name, "timestamp": event.timestamp, "message": event.message,
                         "ingestionTime": event.ingestion_time, "eventId": event_id(name, event)})
        token = _filter_token(log_group_name, last) if more and last is not None else None
        searched = [{"logStreamName": name, "searchedCompletely": not more} for name in sorted(self.streams)
                    if not log_stream_names or name in log_stream_names]
        return page, token, searched


@extend(LogsBackend)
class _LogsBackend:
    def put_log_events(self, log_group_name: str, log_stream_name: str, log_events: list[dict[str, Any]],
                       emf: bool = False) -> tuple[str, dict[str, Any]]:
        """moto's, with ``emf``: the batch's embedded-metric-format lines become metrics
        (Lambda's output always; PutLogEvents with ``x-amzn-logs-format: json/emf``)."""
        if log_group_name not in self.groups:
            raise ResourceNotFoundException()
        rejected: dict[str, int] = {}
        allowed = []
        last = None
        oldest = int(unix_time_millis(utcnow() - timedelta(days=14)))
        newest = int(unix_time_millis(utcnow() + timedelta(hours=2)))
        for index, event in enumerate(log_events):
            if last is not None and last > event["timestamp"]:
                raise InvalidParameterException(
                    "Log events in a single PutLogEvents request must be in chronological order.")
            if event["timestamp"] < oldest:
                rejected["tooOldLogEventEndIndex"] = index
            elif event["timestamp"] > newest:
                rejected["tooNewLogEventStartIndex"] = index
            else:
                allowed.append(event)
            last = event["timestamp"]
        return self.groups[log_group_name].put_log_events(log_stream_name, allowed, emf=emf), rejected

    def put_metric_filter(self, filter_name: str, filter_pattern: str, log_group_name: str,
                          metric_transformations: list[dict[str, Any]]) -> None:
        metric_filters.put_metric_filter(self, log_group_name, filter_name, filter_pattern, metric_transformations)

    def describe_metric_filters(self, prefix: str | None = None, log_group_name: str | None = None,
                                metric_name: str | None = None, metric_namespace: str | None = None
                                ) -> list[dict[str, Any]]:
        return metric_filters.describe_metric_filters(self, prefix, log_group_name, metric_name, metric_namespace)

    def delete_metric_filter(self, filter_name: str | None = None, log_group_name: str | None = None) -> None:
        metric_filters.delete_metric_filter(self, log_group_name, filter_name)

    def delete_log_group(self, log_group_name: str) -> None:
        if log_group_name not in self.groups:
            raise ResourceNotFoundException()
        group = self.groups.pop(log_group_name)
        for stream in list(group.streams.values()):
            _remove_files(stream)


def _filter_token(group_name: str, last: tuple[int, str, int]) -> str:
    raw = json.dumps([group_name, *last], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_filter_token(token: str | None, group_name: str) -> tuple[int, str, int] | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        group, timestamp, stream, position = json.loads(raw)
        if group != group_name:
            raise ValueError(group)
        return int(timestamp), str(stream), int(position)
    except (ValueError, TypeError):
        raise InvalidParameterException("The specified nextToken is invalid.") from None


def _remove_files(stream: LogStream) -> None:
    files = getattr(stream, "files", None)
    if files is not None:
        files.remove()


def _to_disk(group: LogGroup, old: LogStream) -> DiskLogStream:
    """A stream moto made before the disk store was loaded: its events move to disk."""
    new = DiskLogStream(group, old.log_stream_name)
    new.creation_time = old.creation_time
    new.upload_sequence_token = old.upload_sequence_token
    events = sorted(old.events, key=lambda e: e.timestamp)
    if events:
        new.files.append([(e.timestamp, e.ingestion_time, e.message) for e in events])
        new.last_ingestion_time = old.last_ingestion_time
    return new


@on_account_reset
def _forget_account(account_id: str) -> None:
    store.remove_account(account_id)
