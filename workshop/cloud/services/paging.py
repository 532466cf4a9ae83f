"""Offset pagination with opaque tokens, shared by every service the
workshop adds: each caller validates its own page size and names the error
its service answers for a bad token."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: Any) -> int | None:
    """The offset in a token this module made; None for anything else."""
    try:
        text = base64.urlsafe_b64decode(str(token).encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    kind, _, number = text.partition(":")
    if kind != "offset" or not number.isdigit():
        return None
    return int(number)


def page(items: Sequence[T], token: Any, size: int,
         bad_token: Callable[[], Exception]) -> tuple[list[T], str | None]:
    """One page of ``items`` from ``token`` (None: the start), and the next token."""
    start = 0
    if token:
        start = decode_token(token)
        if start is None or start > len(items):
            raise bad_token()
    end = start + size
    return list(items[start:end]), (encode_token(end) if end < len(items) else None)
