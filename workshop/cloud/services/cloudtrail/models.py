"""CloudTrail's Event History per account and region: an append-only file of
events under the cloud's state dir (one JSON line each, oldest first), read
backwards for LookupEvents, so memory stays bounded however long the class runs.

Only the recorder's writer thread appends; lookups read whole lines up to the
size the file had when they began. Nothing but an account reset removes events.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from workshop.cloud import runtime

SERVICE_DIR = "cloudtrail"
FILE = "events.jsonl"
RETENTION = timedelta(days=90)
MAX_RESULTS = 50
# Events reach the file in the order they were recorded, which may differ by a
# moment from their eventTime (a request's event is written when it ends): a
# lookup bounded by StartTime reads this much further back before it stops.
ORDER_SLACK = 120.0
_BLOCK = 64 * 1024

LOOKUP_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName",
               "EventSource", "AccessKeyId")


class LookupRefused(Exception):
    """An AWS-shaped refusal of a lookup (code, message)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Page:
    events: list[dict]
    next_token: str | None


def history_file(account_id: str, region: str, create: bool = False) -> Path:
    if create:
        return runtime.account_dir(SERVICE_DIR, account_id, region) / FILE
    return runtime.state_dir() / SERVICE_DIR / account_id / region / FILE


def append(account_id: str, region: str, lines: list[bytes]) -> None:
    """Append encoded events (each one line ending in a newline) in one write."""
    path = history_file(account_id, region, create=True)
    with open(path, "ab") as out:
        out.write(b"".join(lines))


def encode(entry: dict) -> bytes:
    """One stored line: LookupEvents' Event with EventTime (epoch seconds) first, so a
    lookup reads a line's time without parsing it."""
    entry = {"EventTime": entry["EventTime"], **entry}
    return json.dumps(entry, separators=(",", ":"), default=str).encode() + b"\n"


_TIME_AT = len(b'{"EventTime":')


def forget_account(account_id: str) -> None:
    shutil.rmtree(runtime.state_dir() / SERVICE_DIR / account_id, ignore_errors=True)


# -- LookupEvents -----------------------------------------------------------------

def lookup(account_id: str, region: str, now: datetime, attributes: list[dict] | None = None,
           start: datetime | None = None, end: datetime | None = None, max_results: int | None = None,
           next_token: str | None = None) -> Page:
    """The events that match, newest first, one page of them (AWS's rules and errors)."""
    attribute = _one_attribute(attributes)
    if max_results is None:
        max_results = MAX_RESULTS
    if not 1 <= int(max_results) <= MAX_RESULTS:
        raise LookupRefused("InvalidMaxResultsException", "Value of MaxResults must be between 1 and 50.")
    oldest = (now - RETENTION).timestamp()
    t0 = max(start.timestamp(), oldest) if start is not None else oldest
    t1 = end.timestamp() if end is not None else float("inf")
    if start is not None and end is not None and start > end:
        raise LookupRefused("InvalidTimeRangeException", "Start time must be before end time.")
    path = history_file(account_id, region)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    offset = size
    if next_token:
        offset, size = _read_token(next_token, size)
    matches, needle = _matcher(attribute), _needle(attribute)
    found: list[dict] = []
    for raw, end_at in _backwards(path, offset):
        try:
            when = float(raw[_TIME_AT:raw.index(b",", _TIME_AT)])
        except ValueError:  # a line still being written
            continue
        if when < t0 - ORDER_SLACK:
            break
        if when < t0 or when > t1 or (needle is not None and needle not in raw):
            continue  # most lines of a filtered lookup end here, unparsed
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not matches(entry):
            continue
        if len(found) == max_results:  # one more match: the next page begins with it
            return Page(found, _token(end_at, size))
        found.append(entry)
    return Page(found, None)


def _needle(attribute: tuple[str, str] | None) -> bytes | None:
    """Bytes every line that matches holds (the value as JSON writes it), None for ReadOnly."""
    if attribute is None or attribute[0] == "ReadOnly":
        return None
    return json.dumps(attribute[1]).encode()


def _one_attribute(attributes: list[dict] | None) -> tuple[str, str] | None:
    if not attributes:
        return None
    if len(attributes) > 1:
        raise LookupRefused("InvalidLookupAttributesException",
                           "You cannot specify more than one lookup attribute.")
    key, value = attributes[0].get("AttributeKey"), attributes[0].get("AttributeValue")
    if key not in LOOKUP_KEYS:
        raise LookupRefused("InvalidLookupAttributesException", f"{key} is not a valid lookup attribute key.")
    if value is None or value == "":
        raise LookupRefused("InvalidLookupAttributesException", "The attribute value cannot be empty.")
    return key, value


def _matcher(attribute: tuple[str, str] | None):
    if attribute is None:
        return lambda entry: True
    key, value = attribute
    if key == "ReadOnly":
        wanted = value.lower()
        return lambda entry: entry.get("ReadOnly") == wanted
    if key in ("ResourceType", "ResourceName"):
        return lambda entry: any(r.get(key) == value for r in entry.get("Resources") or ())
    return lambda entry: entry.get(key) == value


def _token(offset: int, size: int) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{size}".encode()).decode()


def _read_token(token: str, size: int) -> tuple[int, int]:
    try:
        offset, first_size = (int(x) for x in base64.urlsafe_b64decode(token.encode()).decode().split(":"))
    except (ValueError, UnicodeDecodeError):
        raise LookupRefused("InvalidNextTokenException", "Invalid NextToken.") from None
    if not 0 <= offset <= first_size <= size:  # not ours, or the history was reset since
        raise LookupRefused("InvalidNextTokenException", "Invalid NextToken.")
    return offset, first_size


def _backwards(path: Path, end: int) -> Iterator[tuple[bytes, int]]:
    """(line, where it ends) for each line stored before ``end``, last first; reads the
    file backwards in blocks, so memory holds a block, not the history."""
    if end <= 0:
        return
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        pos, tail = end, b""
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + tail
            lines = data.split(b"\n")
            tail = lines[0]  # may be the end of a line that began in an earlier block
            line_end = pos + len(data)
            for raw in reversed(lines[1:]):
                if raw:
                    yield raw, line_end
                line_end -= len(raw) + 1
        if tail:
            yield tail, len(tail)


def as_api(entry: dict) -> dict:
    """A stored line as LookupEvents answers it (EventTime stays epoch seconds, as on the wire)."""
    return dict(entry)
