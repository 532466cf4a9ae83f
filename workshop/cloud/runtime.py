"""What the running cloud knows about itself, for services and engines that
need it outside a request: where its state lives on disk and the endpoint
that builds and hooks should call back on."""

from __future__ import annotations

import tempfile
from pathlib import Path

_state_dir: Path | None = None
_endpoint: str = "http://127.0.0.1:4566"


def configure(state_dir: Path, endpoint: str) -> None:
    global _state_dir, _endpoint
    _state_dir = Path(state_dir)
    _endpoint = endpoint


def state_dir() -> Path:
    """The data dir's state folder (emptied at each start); a temp dir if unset."""
    global _state_dir
    if _state_dir is None:
        _state_dir = Path(tempfile.mkdtemp(prefix="workshop-state-"))
    return _state_dir


def account_dir(service: str, account_id: str, region: str | None = None) -> Path:
    """A private folder per service, account (and region) under the state dir."""
    path = state_dir() / service / account_id
    # Private to the cloud (0700): a sandboxed account reaches only what
    # sandbox.prepare_dir opens to it, never another account's files.
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if region:
        path = path / region
        path.mkdir(exist_ok=True)
    return path


def endpoint() -> str:
    """The cloud's own endpoint, as a subprocess on this machine reaches it."""
    return _endpoint
