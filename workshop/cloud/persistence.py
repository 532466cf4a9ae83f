"""State that lasts: every account's state is one snapshot file under the state
dir (snapshot.py says what is in it), written atomically when the account changed
(at most SAVE_EVERY seconds later) and at stop, and read back at start, after
which each service ends the work the stop cut short (``@services.on(RESTORED)``).

What marks an account changed: the gateway, on every request that is not a read,
and the engines, through ``changed(account)`` wherever they change state outside
a request. A snapshot is taken while no write request of the account is running
(``writing``) and under each backend's own ``lock`` where it has one, so a reader
of the file sees what a reader of the API could have seen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from workshop.cloud import snapshot

log = logging.getLogger("workshop.cloud.persistence")

SNAPSHOT_DIR = "snapshots"
# Announced (services.announce) once per restored account, with ``account_id``, before the
# cloud serves: each service ends the work the stop cut short (``@services.on(RESTORED)``).
RESTORED = "cloud.account-restored"
SAVE_EVERY = 2.0        # seconds a change waits at most before it is on disk (the issue asks <= 5)
QUIET_WAIT = 0.25       # how long a snapshot waits for an account's write requests to end
LOCK_WAIT = 0.5         # ... and for each backend's lock

_lock = threading.Lock()
_dirty: set[str] = set()        # changed since their last write
_seen: set[str] = set()         # had any request or work since their last write (written at stop)
_gates: dict[str, _Gate] = {}
_kept: dict[str, tuple[Callable[[str], object], Callable[[str, object], None]]] = {}
_folder: Path | None = None
_writer: threading.Thread | None = None
_stopping = threading.Event()


# -- what services call ----------------------------------------------------------------

def changed(account_id: str) -> None:
    """This account's state changed outside a request (an engine's work): write it soon."""
    with _lock:
        _dirty.add(account_id)
        _seen.add(account_id)


def keep(name: str, save: Callable[[str], object], load: Callable[[str, object], None]) -> None:
    """Keep module state that lives outside moto's BackendDicts in each account's snapshot:
    ``save(account)`` returns something picklable (None: nothing to keep), ``load(account,
    value)`` puts it back at start. Call it when the module is imported."""
    _kept[name] = (save, load)


def backends(backend_dict, account_id: str) -> list:
    """An account's backends (every region it has) in one BackendDict: what a restore hook
    goes through. Creates nothing."""
    if account_id not in dict.keys(backend_dict):
        return []
    return list(dict.values(dict.__getitem__(backend_dict, account_id)))


class _Gate:
    """An account's write requests against its snapshot: requests never wait for each
    other, a snapshot waits (a little) for the account's running write requests to end
    and holds new ones while it pickles."""

    def __init__(self):
        self._cond = threading.Condition()
        self._active = 0
        self._saving = False

    def enter(self) -> None:
        with self._cond:
            while self._saving:
                self._cond.wait()
            self._active += 1

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    @contextmanager
    def quiet(self, timeout: float) -> Iterator[bool]:
        with self._cond:
            quiet = self._cond.wait_for(lambda: self._active == 0, timeout)
            self._saving = True
        try:
            yield quiet
        finally:
            with self._cond:
                self._saving = False
                self._cond.notify_all()


def _gate(account_id: str) -> _Gate:
    gate = _gates.get(account_id)
    if gate is None:
        with _lock:
            gate = _gates.setdefault(account_id, _Gate())
    return gate


@contextmanager
def writing(account_id: str) -> Iterator[None]:
    """Around a request that may change the account (the gateway's): the account is
    written soon after, and never in the middle of the request."""
    gate = _gate(account_id)
    gate.enter()
    try:
        yield
    finally:
        gate.leave()
        changed(account_id)


def seen(account_id: str) -> None:
    """The account had a request (even a read): written at stop if anything is unsaved."""
    if account_id not in _seen:
        with _lock:
            _seen.add(account_id)


# -- writing ------------------------------------------------------------------------------

def folder() -> Path:
    if _folder is None:
        raise RuntimeError("persistence is not started")
    return _folder


def path_of(account_id: str) -> Path:
    return folder() / f"{account_id}{snapshot.SUFFIX}"


def capture(account_id: str) -> dict:
    """One account's state as the snapshot holds it (pickled by the caller)."""
    state = {"backends": snapshot.account_backends(account_id), "kept": {}}
    for name, (save, _) in list(_kept.items()):
        value = save(account_id)
        if value is not None:
            state["kept"][name] = value
    return state


def save(account_id: str) -> bool:
    """Write one account's snapshot now; False when it must be tried again later."""
    with _gate(account_id).quiet(QUIET_WAIT):
        state = capture(account_id)
        locks = _acquire_backend_locks(state["backends"])
        if locks is None:
            return False
        try:
            data = _encode(account_id, state)
        finally:
            for lock in reversed(locks):
                lock.release()
    if data is None:
        return False
    snapshot.write_atomically(path_of(account_id), data)
    return True


def _acquire_backend_locks(backends: dict) -> list | None:
    """Each backend's own ``lock`` (the one its engines change it under), or None when one
    stays held (the caller tries again later: never a deadlock with an engine)."""
    taken = []
    for home in sorted(backends):
        for region in sorted(backends[home]):
            lock = getattr(backends[home][region], "lock", None)
            if lock is None or not hasattr(lock, "acquire"):
                continue
            if not lock.acquire(timeout=LOCK_WAIT):
                for held in reversed(taken):
                    held.release()
                return None
            taken.append(lock)
    return taken


def _encode(account_id: str, state: dict) -> bytes | None:
    for _ in range(3):
        try:
            return snapshot.encode(account_id, state)
        except RuntimeError as exc:
            if "changed size" in str(exc):  # a dict an engine changed while it was pickled: again
                continue
            return _encode_without_failures(account_id, state)
        except Exception:
            return _encode_without_failures(account_id, state)
    return None


def _encode_without_failures(account_id: str, state: dict) -> bytes | None:
    """A service that cannot be pickled must not cost the account every other service:
    keep the rest, and say loudly which one failed (a defect to fix with a reducer)."""
    for home in list(state["backends"]):
        try:
            snapshot.dumps(state["backends"][home])
        except Exception as exc:
            log.error("snapshot of account %s: %s cannot be pickled (%s: %s); it is NOT kept",
                      account_id, home, type(exc).__name__, exc)
            del state["backends"][home]
    for name in list(state["kept"]):
        try:
            snapshot.dumps(state["kept"][name])
        except Exception as exc:
            log.error("snapshot of account %s: kept state %s cannot be pickled (%s)", account_id, name, exc)
            del state["kept"][name]
    return snapshot.encode(account_id, state)


def save_changed(everything_seen: bool = False) -> int:
    """Write the accounts changed since their last write (and, at stop, every account
    that had a request since); returns how many were written."""
    with _lock:
        accounts = set(_dirty) | (set(_seen) if everything_seen else set())
        _dirty.difference_update(accounts)
        _seen.difference_update(accounts)
    written = 0
    for account_id in sorted(accounts):
        try:
            ok = save(account_id)
        except Exception:
            log.exception("snapshot of account %s failed", account_id)
            ok = False
        if ok:
            written += 1
        else:
            with _lock:
                _dirty.add(account_id)
    return written


def _write_loop() -> None:
    while not _stopping.wait(SAVE_EVERY):
        save_changed()


# -- the cloud's life ------------------------------------------------------------------------

def stored_accounts(state_dir: Path) -> list[str]:
    where = state_dir / SNAPSHOT_DIR
    if not where.is_dir():
        return []
    return sorted(p.name[:-len(snapshot.SUFFIX)] for p in where.iterdir()
                  if p.name.endswith(snapshot.SUFFIX) and not p.name.startswith("."))


def read_all(state_dir: Path) -> dict[str, dict]:
    """Every account's snapshot, read and checked; SnapshotError naming every file that
    cannot be used (nothing is restored then, and nothing is changed on disk)."""
    where = state_dir / SNAPSHOT_DIR
    states, problems = {}, []
    for account_id in stored_accounts(state_dir):
        path = where / f"{account_id}{snapshot.SUFFIX}"
        try:
            _, states[account_id] = snapshot.decode(path.read_bytes(), str(path))
        except snapshot.SnapshotError as exc:
            problems.append(str(exc))
        except OSError as exc:
            problems.append(f"{path} cannot be read ({exc.strerror or exc})")
    if problems:
        raise snapshot.SnapshotError("\n".join(problems))
    return states


def install(account_id: str, state: dict) -> None:
    """Put one account's restored state in place of whatever its backends hold."""
    from moto.core.base_backend import backend_lock

    for home, regions in state.get("backends", {}).items():
        backend_dict = snapshot.backend_dict_at(home)
        account_backends = backend_dict[account_id]
        with backend_lock:
            dict.clear(account_backends)
            for region, backend in regions.items():
                dict.__setitem__(account_backends, region, backend)
    for name, value in state.get("kept", {}).items():
        kept = _kept.get(name)
        if kept is None:
            log.warning("snapshot of account %s keeps %s, which nothing in this cloud loads", account_id, name)
            continue
        kept[1](account_id, value)


def start(state_dir: Path, states: dict[str, dict] | None = None) -> list[str]:
    """Restore every account kept under ``state_dir`` (``states``: as ``read_all`` read
    them), let each service end the work the stop cut short, then write changes from now
    on. Returns the restored accounts."""
    global _folder, _writer
    from workshop.cloud import services

    _folder = Path(state_dir) / SNAPSHOT_DIR
    _folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for leftover in _folder.glob(".*.tmp"):  # a write the last stop cut short: the old file stands
        leftover.unlink(missing_ok=True)
    if states is None:
        states = read_all(state_dir)
    if states:
        services.load_all()  # every extension in place (and its restore hooks) before its state
    for account_id, state in states.items():
        install(account_id, state)
    for account_id in states:
        try:
            services.announce(RESTORED, account_id=account_id)
        except Exception:  # a service's hook must not keep the cloud from starting
            log.exception("ending the cut-short work of account %s failed", account_id)
    _stopping.clear()
    _writer = threading.Thread(target=_write_loop, name="snapshot-writer", daemon=True)
    _writer.start()
    return list(states)


def stop() -> int:
    """The cloud is stopping: write everything not yet on disk."""
    global _writer
    _stopping.set()
    if _writer is not None:
        _writer.join(timeout=30)
        _writer = None
    if _folder is None:
        return 0
    return save_changed(everything_seen=True)

