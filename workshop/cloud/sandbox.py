"""Where a learner's code runs: build commands, deployment hooks and Lambda
workers run as their account's own unprivileged user when the cloud runs as
root (a class), in folders only that user can reach; on a laptop, as the user
who runs the cloud, unchanged. Engines ask ``identity`` (and start the process
through ``containment.Job``) and ``prepare_dir``, and use ``read_text``/``write_text``
for files in folders the account can change.

Users come from a pool of system users ``ws-sandbox-N`` made on demand with
``useradd``; a cloud claims one per account for its lifetime (an flock under
``/run/workshop-sandbox``, so two clouds on one machine never share one), and
a claimed user's leftover processes and temp files are removed first. Other
processes that run learner code (the grader's autograde kernels) borrow a
pool user for one job with ``borrowed()`` and hand it back emptied.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workshop.cloud import persistence, runtime

log = logging.getLogger("workshop.cloud.sandbox")

POOL_PREFIX = "ws-sandbox-"
POOL_SIZE = 800                      # the system uid range (100-999) bounds it anyway
LOCK_DIR = Path(os.environ.get("WORKSHOP_SANDBOX_LOCK_DIR", "/run/workshop-sandbox"))
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
UMASK = 0o077                        # what learner code creates is its own
MAX_READ = 4 * 1024 * 1024           # what the cloud reads back from a file the account controls


class SandboxError(Exception):
    """Learner code cannot be run as an unprivileged user (and must not run as root)."""


@dataclass(frozen=True)
class Identity:
    name: str
    uid: int
    gid: int


_lock = threading.Lock()
_identities: dict[str, Identity] = {}
_held: dict[int, int] = {}           # pool index -> the lock file's descriptor, held while the cloud runs
_kept: dict[str, int] = {}           # account -> the pool index it had before the cloud restarted
_activated = False


def enabled() -> bool:
    """Learner code is sandboxed when the cloud runs as root (unless an operator turned it off)."""
    if os.name != "posix" or os.geteuid() != 0:
        return False
    return os.environ.get("WORKSHOP_SANDBOX", "on").lower() not in ("off", "0", "no", "false")


def identity(account_id: str) -> Identity | None:
    """The user an account's code runs as; None when it runs as the cloud's own user."""
    if not enabled():
        _log_once_unsandboxed()
        return None
    with _lock:
        found = _identities.get(account_id)
        if found is None:
            _activate()
            _, found = _claim(_kept.pop(account_id, None))
            _identities[account_id] = found
            persistence.changed(account_id)
            log.warning("sandbox: account %s runs its code as %s (uid %d)", account_id, found.name, found.uid)
        return found


def run_as(who: Identity | None) -> dict:
    """``subprocess.Popen`` arguments that run a process as ``who`` (none: as we are)."""
    if who is None:
        return {}
    return {"user": who.uid, "group": who.gid, "extra_groups": [], "umask": UMASK}


@contextmanager
def borrowed() -> Iterator[Identity | None]:
    """A pool user for one job of learner code outside the cloud (an autograde
    kernel): claimed and emptied of leftovers, then, after the job, its processes
    killed, its temp files removed and the user handed back. None when learner
    code runs as the caller (not root)."""
    if not enabled():
        _log_once_unsandboxed()
        yield None
        return
    with _lock:
        make_python_reachable()
        index, who = _claim()
    try:
        yield who
    finally:
        _clear_leftovers(who)
        with _lock:
            os.close(_held.pop(index))


def prepare_dir(account_id: str, path: str | os.PathLike) -> None:
    """Give ``path`` (a folder, recursively, or a file) to the account's user, 0700.
    The folders between the account's folder in the state dir and ``path`` stay the
    cloud's, open only to the account's group for passing through (0710), so that
    the account's code can reach its own files and nobody else's."""
    who = identity(account_id)
    if who is None:
        return
    path = Path(path)
    for folder in _chain(account_id, path):
        os.chown(folder, os.geteuid(), who.gid, follow_symlinks=False)
        os.chmod(folder, 0o710)
    hand_over(path, who)


def read_text(account_id: str, path: str | os.PathLike) -> str:
    """Read, as the cloud, a file in a folder the account's code can change:
    never through a link it planted (to the admin token, say), never a FIFO."""
    who = identity(account_id)
    if who is None:
        return Path(path).read_text()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if (not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid not in (who.uid, os.geteuid())
                or st.st_size > MAX_READ):
            raise PermissionError(errno.EACCES, "not a plain file of the account's own", str(path))
        return handle.read(MAX_READ).decode("utf-8", "replace")


def write_text(account_id: str, path: str | os.PathLike, text: str) -> None:
    """Write, as the cloud, a new file into a folder the account's code can change:
    never through a link (symbolic or hard) that the code planted under that name."""
    if identity(account_id) is None:
        Path(path).write_text(text)
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


# -- helpers ----------------------------------------------------------------------

def _chain(account_id: str, path: Path) -> list[Path]:
    """The folders from ``state/SERVICE/ACCOUNT`` down to ``path``'s parent."""
    try:
        relative = path.relative_to(runtime.state_dir())
    except ValueError:
        return []
    parts = relative.parts
    if account_id not in parts[:-1]:
        return []
    start = parts.index(account_id)
    base = runtime.state_dir().joinpath(*parts[:start])
    return [base.joinpath(*parts[start:end]) for end in range(start + 1, len(parts))]


def hand_over(path: str | os.PathLike, who: Identity) -> None:
    """Give ``path`` (recursively) to ``who``: folders 0700, owned by that user."""
    path = Path(path)

    def own(p: str, is_dir: bool) -> None:
        os.chown(p, who.uid, who.gid, follow_symlinks=False)
        if is_dir:
            os.chmod(p, 0o700)

    if path.is_symlink() or not path.is_dir():
        if path.exists() or path.is_symlink():
            own(str(path), False)
        return
    own(str(path), True)
    for root, dirs, files in os.walk(path, followlinks=False):
        for name in dirs:
            full = os.path.join(root, name)
            own(full, not os.path.islink(full))
        for name in files:
            own(os.path.join(root, name), False)


def protect_data_dir(data_dir: str | os.PathLike) -> None:
    """When sandboxing: the data dir and its state folder are the cloud's, 0711
    (passable on the way to an account's own folder, never listable or readable);
    the admin token stays 0600."""
    if not enabled():
        return
    data = Path(data_dir)
    for folder in (data, runtime.state_dir()):
        if folder.is_dir():
            os.chown(folder, os.geteuid(), os.getegid())
            os.chmod(folder, 0o711)
    token = data / "admin-token"
    if token.exists():
        os.chmod(token, 0o600)
    _reachable(data, "the cloud's data dir")


def _activate() -> None:
    """Once: make what sandboxed code must run (the interpreter, its libraries,
    the workshop's own files, the state dir) reachable by unprivileged users."""
    global _activated
    if _activated:
        return
    _activated = True
    make_python_reachable()
    _reachable(runtime.state_dir(), "the cloud's state dir")


_python_reachable = False


def make_python_reachable() -> None:
    """What a process of another user needs to run the workshop's Python and files."""
    global _python_reachable
    if _python_reachable:
        return
    _python_reachable = True
    needed = {Path(sys.executable).parent, Path(os.path.realpath(sys.executable)).parent,
              Path(sys.prefix), Path(sys.base_prefix), Path(__file__).resolve().parents[2]}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            needed.add(Path(sysconfig.get_path(key)))
        except KeyError:
            pass
    for path in sorted(needed):
        _reachable(path, "the workshop's Python")


def _reachable(path: Path, what: str) -> None:
    """Add search permission for others (o+x, never read) to folders on the way to
    ``path`` that lack it, saying so: e.g. a Python installed under /root (0700)."""
    path = Path(os.path.abspath(path))
    for folder in [*reversed(path.parents), path]:
        try:
            st = os.stat(folder)
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
            os.chmod(folder, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
            log.warning("sandbox: added search permission for others (o+x, not read) to %s so that "
                        "sandboxed code can reach %s", folder, what)


_told = False


def _log_once_unsandboxed() -> None:
    global _told
    if not _told:
        _told = True
        reason = ("WORKSHOP_SANDBOX=off" if os.name == "posix" and os.geteuid() == 0
                  else "the cloud does not run as root")
        user = os.environ.get("USER") or str(os.getuid())
        log.info("sandbox: learner code runs as %s, the cloud's own user (%s: one learner on this machine)",
                 user, reason)
        if reason.startswith("WORKSHOP_SANDBOX"):
            log.warning("sandbox: turned off: learner code runs as root; learners are not isolated")


def _claim(preferred: int | None = None) -> tuple[int, Identity]:
    """The first pool user nobody holds (index, user), made if needed, emptied of leftovers;
    ``preferred`` first (the user an account had before a restart: its files are that user's)."""
    try:
        LOCK_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxError(f"cannot make the sandbox lock folder {LOCK_DIR}: {exc}") from None
    # Users that restored accounts will ask for again come last for everyone else.
    reserved = set(_kept.values())
    others = [i for i in range(1, POOL_SIZE + 1) if i != preferred]
    order = ([preferred] if preferred else []) + sorted(others, key=lambda i: i in reserved)
    for index in order:
        if index in _held:
            continue
        fd = os.open(LOCK_DIR / f"{index}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            who = _pool_user(index)
            _clear_leftovers(who)
        except BaseException:
            os.close(fd)
            raise
        _held[index] = fd
        return index, who
    raise SandboxError(f"all {POOL_SIZE} sandbox users are in use on this machine")


def _pool_user(index: int) -> Identity:
    return ensure_user(f"{POOL_PREFIX}{index}", "devops-workshop sandbox",
                       hint="or create users ws-sandbox-1..N yourself")


def ensure_user(name: str, comment: str, home: str = "/nonexistent", shell: str = "/usr/sbin/nologin",
                hint: str = "") -> Identity:
    """The system user ``name`` (with a group of its own), made with ``useradd`` if missing."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
        return Identity(name, entry.pw_uid, entry.pw_gid)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    command = [useradd, "--system", "--no-create-home", "--home-dir", home,
               "--shell", shell, "--user-group", "--comment", comment, name]
    for attempt in range(50):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxError(f"cannot create the system user {name} ({exc}); install useradd (Debian's "
                               f"passwd){', ' + hint if hint else ''}") from None
        if done.returncode in (0, 9):  # 9: it exists (made meanwhile)
            break
        if done.returncode == 10:      # /etc/passwd is locked by another useradd: wait a little
            time.sleep(0.1)
            continue
        raise SandboxError(f"useradd {name} failed ({done.returncode}): {done.stderr.strip()}")
    entry = pwd.getpwnam(name)
    log.warning("sandbox: created system user %s (uid %d)", name, entry.pw_uid)
    return Identity(name, entry.pw_uid, entry.pw_gid)


def _clear_leftovers(who: Identity) -> None:
    """A pool user is handed on only without what it ran or left for someone else."""
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == who.uid:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
    for temp in TEMP_DIRS:
        try:
            entries = list(os.scandir(temp))
        except OSError:
            continue
        for item in entries:
            try:
                if item.stat(follow_symlinks=False).st_uid != who.uid:
                    continue
                if item.is_dir(follow_symlinks=False):
                    shutil.rmtree(item.path, ignore_errors=True)
                else:
                    os.unlink(item.path)
            except OSError:
                continue


def _kept_user(account_id: str) -> str | None:
    who = _identities.get(account_id)
    return who.name if who is not None else None


def _restore_user(account_id: str, name: object) -> None:
    if isinstance(name, str) and name.startswith(POOL_PREFIX) and name[len(POOL_PREFIX):].isdigit():
        _kept[account_id] = int(name[len(POOL_PREFIX):])


# An account keeps its sandbox user across restarts (the files it made are that user's).
persistence.keep("sandbox-user", _kept_user, _restore_user)
