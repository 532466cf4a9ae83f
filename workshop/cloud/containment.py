"""Contained jobs: every process a build, a deployment hook or a Lambda worker starts is
gone when the job ends, including processes that left its session (``setsid``, double
fork), and each job runs within limits that fit it (processes, memory, a lower CPU and
I/O priority than the cloud's own request handling).

Where a cgroup hierarchy is writable (root on cgroup v1 or v2, a delegated v2 subtree),
each job gets its own cgroup under ``devops-workshop/CLOUD`` (CLOUD names the state dir)
and is killed whole when it ends; a cloud that starts ends the jobs a killed cloud of the
same state dir left (``sweep``). Elsewhere each process of a job runs under a supervisor
that is its child subreaper and kills what the process left once the job ends or the
cloud is gone. Nothing is ever killed by user: an account's jobs share its sandbox user.
``job_launcher.py`` is the small program that starts each process either way."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from workshop.cloud import runtime, sandbox

log = logging.getLogger("workshop.cloud.containment")

LAUNCHER = Path(__file__).with_name("job_launcher.py")
CGROUP_ROOT = Path("/sys/fs/cgroup")
TOP = "devops-workshop"
JOBS_CPU_SHARES = 512          # v1: all of a cloud's jobs together weigh half a busy cloud thread
MIB = 1024 * 1024

# CodeBuild's compute types: memory (AWS's figures).
BUILD_MEMORY_GIB = {"BUILD_GENERAL1_SMALL": 3, "BUILD_GENERAL1_MEDIUM": 7, "BUILD_GENERAL1_LARGE": 15,
                    "BUILD_GENERAL1_XLARGE": 70, "BUILD_GENERAL1_2XLARGE": 145,
                    "BUILD_LAMBDA_1GB": 1, "BUILD_LAMBDA_2GB": 2, "BUILD_LAMBDA_4GB": 4,
                    "BUILD_LAMBDA_8GB": 8, "BUILD_LAMBDA_10GB": 10}


@dataclass(frozen=True)
class Limits:
    """What one job may use. memory: bytes (cgroup memory where writable, else an address
    space limit with room for the runtime); processes: tasks in the job (pids cgroup) and,
    for a sandbox user, its processes altogether (RLIMIT_NPROC)."""

    processes: int
    memory: int | None = None
    open_files: int | None = None
    nice: int = 10
    ionice: tuple[int, int] | None = (2, 7)     # best effort, lowest level
    address_space_room: int | None = 1024 * MIB  # added to memory for RLIMIT_AS (None: no such limit)


def for_build(compute_type: str | None) -> Limits:
    gib = BUILD_MEMORY_GIB.get(compute_type or "", 3)
    return Limits(processes=4096, memory=_fit(gib * 1024 * MIB), nice=10)


def for_hook() -> Limits:
    # An instance of CodeDeploy's (the workshop's stand-in for a small EC2 instance).
    return Limits(processes=1024, memory=_fit(2048 * MIB), nice=10)


def for_function(memory_mb: int, runtime: str = "python") -> Limits:
    # AWS: 1,024 processes/threads and 1,024 file descriptors per execution environment. The
    # workshop's runtime is the cloud's own Python (heavier than AWS's): 128 MB more room.
    # Node reserves far more address space than it uses: only a memory cgroup bounds it.
    return Limits(processes=1024, memory=_fit((int(memory_mb) + 128) * MIB), open_files=1024, nice=5,
                  ionice=(2, 4), address_space_room=None if runtime.startswith("nodejs") else 1024 * MIB)


def _fit(memory: int) -> int:
    """No job is allowed more than the machine has."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return memory
    return min(memory, total)


# -- the machine's cgroups ----------------------------------------------------------------

@dataclass
class _Hierarchy:
    base: Path                     # devops-workshop/CLOUD in this hierarchy
    controllers: set[str] = field(default_factory=set)
    v2: bool = False


_plan_lock = threading.Lock()
_plan: list[_Hierarchy] | None = None
_mode: str | None = None


def mode() -> str:
    """'cgroup', 'subreaper' (Linux without a writable cgroup) or 'session' (elsewhere:
    the job's process group only). WORKSHOP_CONTAINMENT=subreaper forces the second."""
    global _mode, _plan
    with _plan_lock:
        if _mode is None:
            wanted = os.environ.get("WORKSHOP_CONTAINMENT", "auto").lower()
            if not sys.platform.startswith("linux"):
                _mode = "session"
            elif wanted == "subreaper":
                _mode = "subreaper"
            else:
                _plan = _discover()
                _mode = "cgroup" if _plan else "subreaper"
            log.info("containment: %s", _mode if _mode != "cgroup" else
                     "cgroups " + ", ".join(str(h.base) for h in _plan or []))
        return _mode


def _cloud_key() -> str:
    return hashlib.sha1(str(runtime.state_dir().resolve()).encode()).hexdigest()[:12]


def _own_paths() -> dict[str, str]:
    """controller (or '' for cgroup v2) -> this process's cgroup in that hierarchy."""
    found: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            found[name] = path
    return found


def _discover() -> list[_Hierarchy]:
    """The hierarchies to use: the first is where jobs are counted and killed (v2, else v1
    freezer or pids); v1 pids, memory and cpu add their limits where writable."""
    own = _own_paths()
    plan: list[_Hierarchy] = []
    key = _cloud_key()
    v2_mount = CGROUP_ROOT / "unified" if (CGROUP_ROOT / "unified" / "cgroup.procs").exists() else (
        CGROUP_ROOT if (CGROUP_ROOT / "cgroup.controllers").exists() else None)
    if v2_mount is not None and "" in own:
        base = _make_base(v2_mount, own[""], key)
        if base is not None:
            controllers = set((base / "cgroup.controllers").read_text().split()) & {"pids", "memory", "cpu"}
            if controllers:
                try:
                    (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(controllers)))
                except OSError:
                    controllers = set()
            plan.append(_Hierarchy(base, controllers, v2=True))
    for controller in ("freezer", "pids", "memory", "cpu"):
        if controller not in own or not (CGROUP_ROOT / controller / "cgroup.procs").exists():
            continue
        if controller == "freezer" and plan:
            continue
        base = _make_base(CGROUP_ROOT / controller, own[controller], key)
        if base is None:
            continue
        if controller == "cpu":
            _write(base.parent / "cpu.shares", JOBS_CPU_SHARES)
        plan.append(_Hierarchy(base, {controller}))
    if plan and not (plan[0].v2 or plan[0].controllers & {"freezer", "pids"}):
        return []     # limits without a way to find every process of a job: not contained
    return plan


def _make_base(mount: Path, own: str, key: str) -> Path | None:
    base = mount / own.lstrip("/") / TOP / key
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = base / f"probe-{uuid.uuid4().hex[:8]}"
        probe.mkdir()
        probe.rmdir()
    except OSError:
        return None
    return base


def _write(path: Path, value) -> bool:
    try:
        path.write_text(str(value))
        return True
    except OSError:
        return False


def start() -> None:
    """At the cloud's start: end what a killed run left, and leave nothing when this one exits."""
    import atexit

    ended = sweep()
    if ended:
        log.warning("containment: ended %d job(s) left by a previous run of this cloud", ended)
    atexit.register(close)


def close() -> None:
    """At exit: end every job still running and remove this cloud's cgroups."""
    if _mode != "cgroup":
        return
    sweep()
    for hierarchy in _plan or []:
        for folder in (hierarchy.base, hierarchy.base.parent):
            try:
                folder.rmdir()
            except OSError:
                break     # another cloud's jobs are there


def sweep() -> int:
    """At start: end the jobs a killed cloud of this state dir left behind (their cgroups).
    Returns how many jobs were ended."""
    if mode() != "cgroup":
        return 0
    ended = 0
    for hierarchy in _plan or []:
        for folder in sorted(p for p in hierarchy.base.iterdir() if p.is_dir()):
            if hierarchy is _plan[0] and _procs(folder):
                ended += 1
            _end_cgroup(folder, hierarchy)
    return ended


def _procs(folder: Path) -> list[int]:
    try:
        return [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _end_cgroup(folder: Path, hierarchy: _Hierarchy, wait: float = 10.0) -> None:
    _kill_cgroup(folder, hierarchy)
    _remove_cgroup(folder, hierarchy, wait)


def _kill_cgroup(folder: Path, hierarchy: _Hierarchy) -> None:
    """Kill every process in the cgroup: at once with cgroup.kill (v2), else frozen (v1
    freezer, so that none forks meanwhile), killed one by one, thawed."""
    import signal

    if not folder.is_dir() or (hierarchy.v2 and _write(folder / "cgroup.kill", 1)):
        return
    frozen = "freezer" in hierarchy.controllers and _write(folder / "freezer.state", "FROZEN")
    for _ in range(100):
        pids = _procs(folder)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if frozen:
            _write(folder / "freezer.state", "THAWED")
            frozen = False
        time.sleep(0.005)


def _remove_cgroup(folder: Path, hierarchy: _Hierarchy, wait: float) -> None:
    """Wait for the killed processes to be gone, then remove the cgroup."""
    deadline = time.monotonic() + wait
    while folder.is_dir():
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                log.warning("containment: %s still has processes %s", folder, _procs(folder)[:10])
                return
            _kill_cgroup(folder, hierarchy)
            time.sleep(0.01)


# -- jobs -------------------------------------------------------------------------------------

class JobProcess:
    """One process of a job, as much of ``subprocess.Popen`` as the engines use: ``pid`` (its
    own process group), ``stdin``/``stdout``/``stderr``, ``poll``, ``wait``, ``returncode``."""

    def __init__(self, popen: subprocess.Popen, pid: int, status: int | None = None,
                 control: int | None = None):
        self._popen = popen
        self.pid = pid
        self.stdin, self.stdout, self.stderr = popen.stdin, popen.stdout, popen.stderr
        self._status = status          # supervised: the supervisor's reports ("exit N")
        self._control = control        # supervised: closing it ends what the process left
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._check(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        if self._status is None:
            self.returncode = self._popen.wait(timeout)
            return self.returncode
        if not self._check(timeout):
            raise subprocess.TimeoutExpired(self._popen.args, timeout)
        return self.returncode

    def _check(self, timeout: float | None) -> bool:
        if self._status is None:
            self.returncode = self._popen.poll()
            return self.returncode is not None
        if not readable(self._status, timeout):
            return False
        data = os.read(self._status, 4096)
        if data.startswith(b"exit "):
            self.returncode = int(data.split()[1])
        else:   # the supervisor is gone without a word: it was killed
            self.returncode = -9
        return True

    def stop(self) -> None:
        """Supervised: tell the supervisor to end what the process left (it kills and exits)."""
        if self._control is not None:
            os.close(self._control)
            self._control = None

    def end(self, wait: float = 5.0) -> None:
        """Stop, reap the launcher, close the pipes."""
        self.stop()
        try:
            self._popen.wait(wait)
        except subprocess.TimeoutExpired:
            log.warning("containment: process %s did not end", self.pid)
        if self._status is not None and self.returncode is None:
            self._check(1.0)           # the supervisor's last word: how the process ended
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self._status is not None:
            os.close(self._status)
            self._status = None
        if self.returncode is None:
            self.returncode = self._popen.returncode if self._popen.returncode is not None else -9


class Job:
    """One build, hook or Lambda worker: ``spawn`` starts its processes, ``end`` ends every
    process it started (and everything they started), wherever they went."""

    def __init__(self, kind: str, limits: Limits):
        self.name = f"{kind}-{uuid.uuid4().hex[:12]}"
        self.limits = limits
        self._processes: list[JobProcess] = []
        self._lock = threading.Lock()
        self._folders: list[tuple[Path, _Hierarchy]] | None = None
        self._ended = False

    def spawn(self, argv: list[str], *, cwd: str | os.PathLike | None, env: dict[str, str],
              who=None, stdin=None, stdout=None, stderr=None) -> JobProcess:
        """Start ``argv`` in this job as ``who`` (a sandbox.Identity; None: as the cloud)."""
        if self._ended:
            raise OSError(0, "the job has ended")
        how = mode()
        if how == "session":
            popen = subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr,
                                     start_new_session=True, **sandbox.run_as(who))
            process = JobProcess(popen, popen.pid)
            with self._lock:
                self._processes.append(process)
            return process
        spec = {"argv": [str(a) for a in argv], "env": env, "cwd": str(cwd) if cwd else None,
                "nice": self.limits.nice, "ionice": self.limits.ionice, "rlimits": self._rlimits(who, how)}
        if who is not None:
            spec.update(uid=who.uid, gid=who.gid, umask=0o077)
        spec_r, spec_w = os.pipe()
        status_r, status_w = os.pipe()
        passed = [spec_r, status_w]
        control_w = None
        spec["status_fd"] = status_w
        if how == "cgroup":
            spec["cgroups"] = [str(folder / "cgroup.procs") for folder, _ in self._cgroups()]
        else:
            control_r, control_w = os.pipe()
            passed.append(control_r)
            spec.update(supervise=True, control_fd=control_r)
        try:
            popen = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER), str(spec_r)],
                                     cwd="/", env={"LANG": "C.UTF-8"}, stdin=stdin, stdout=stdout, stderr=stderr,
                                     pass_fds=passed, start_new_session=True)
        except BaseException:
            for fd in (spec_r, spec_w, status_r, status_w, *passed[2:], *([control_w] if control_w else [])):
                os.close(fd)
            raise
        for fd in passed:
            os.close(fd)
        try:
            with os.fdopen(spec_w, "wb") as out:
                out.write(json.dumps(spec).encode())
        except BrokenPipeError:
            pass
        if how == "cgroup":
            report = _read_line(status_r)
            os.close(status_r)
            process = JobProcess(popen, popen.pid)
        else:
            report = _read_line(status_r)
            pid = int(report.split()[1]) if report.startswith("pid ") else 0
            process = JobProcess(popen, pid, status_r, control_w)
            if pid:
                report = ""
        if report:
            # The command could not start: the OSError subprocess would raise.
            popen.wait()
            process.end()
            with self._lock:
                empty, folders = not self._processes, self._folders
                if empty:
                    self._folders = None
            for folder, hierarchy in (folders or []) if empty else []:
                _remove_cgroup(folder, hierarchy, 1.0)
            _, number, message = (report.split(" ", 2) + ["", ""])[:3]
            raise OSError(int(number or 0), message.strip() or report)
        with self._lock:
            if self._ended:
                process.end(0)
                raise OSError(0, "the job has ended")
            self._processes.append(process)
        return process

    def kill(self) -> None:
        """Kill every process of the job, wherever it went; pipes stay open to be read to
        their end. The job starts nothing more."""
        import signal

        with self._lock:
            self._ended = True
            processes, folders = list(self._processes), list(self._folders or [])
        for folder, hierarchy in folders:
            _kill_cgroup(folder, hierarchy)
        for process in processes:
            if mode() == "session":
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except OSError:
                    pass
            process.stop()

    def end(self) -> None:
        """Kill every process of the job, reap them, close their pipes and remove the job's
        cgroups; safe to call twice."""
        self.kill()
        with self._lock:
            processes, self._processes = self._processes, []
            folders, self._folders = self._folders, None
        for process in processes:
            process.end()
        for folder, hierarchy in folders or []:
            _remove_cgroup(folder, hierarchy, 10.0)

    def usage(self) -> tuple[float | None, int | None]:
        """(CPU seconds used so far, memory in use in bytes) of the whole job, from its cgroups'
        counters (v2 cpu.stat / memory.current, v1 memory.usage_in_bytes), else from /proc
        for the processes the job started; None where nothing says."""
        cpu = memory = None
        with self._lock:
            folders, processes = list(self._folders or []), list(self._processes)
        for folder, hierarchy in folders:
            try:
                if hierarchy.v2 and cpu is None:
                    for line in (folder / "cpu.stat").read_text().splitlines():
                        if line.startswith("usage_usec "):
                            cpu = int(line.split()[1]) / 1e6
                if hierarchy.v2 and "memory" in hierarchy.controllers:
                    memory = int((folder / "memory.current").read_text())
                elif "memory" in hierarchy.controllers:
                    memory = int((folder / "memory.usage_in_bytes").read_text())
            except (OSError, ValueError):
                continue
        if cpu is None or memory is None:
            ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
            seconds = rss = 0
            for process in processes:
                try:
                    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                seconds += (int(fields[11]) + int(fields[12])) / ticks
                rss += int(fields[21]) * page
            cpu = seconds if cpu is None else cpu
            memory = rss if memory is None else memory
        return cpu, memory

    def _cgroups(self) -> list[tuple[Path, _Hierarchy]]:
        with self._lock:
            if self._folders is None:
                self._folders = [self._make(h) for h in _plan or []]
            return self._folders

    def _make(self, hierarchy: _Hierarchy) -> tuple[Path, _Hierarchy]:
        folder = hierarchy.base / self.name
        folder.mkdir(exist_ok=True)
        limits = self.limits
        if "pids" in hierarchy.controllers:
            _write(folder / "pids.max", limits.processes)
        if "memory" in hierarchy.controllers and limits.memory:
            _write(folder / ("memory.max" if hierarchy.v2 else "memory.limit_in_bytes"), limits.memory)
            if hierarchy.v2:
                _write(folder / "memory.swap.max", 0)
        return folder, hierarchy

    def _rlimits(self, who, how: str) -> dict[str, list[int]]:
        limits = self.limits
        found: dict[str, list[int]] = {}
        if limits.open_files:
            found["NOFILE"] = [limits.open_files, limits.open_files]
        if who is not None:
            # Linux counts a user's processes together: the account's jobs share this ceiling.
            found["NPROC"] = [limits.processes * 2, limits.processes * 2]
        has_memory_cgroup = how == "cgroup" and any("memory" in h.controllers for h in _plan or [])
        if limits.memory and limits.address_space_room is not None and not has_memory_cgroup:
            room = limits.memory + limits.address_space_room
            found["AS"] = [room, room]
        return found


def readable(fd: int, timeout: float | None) -> bool:
    """Whether ``fd`` has data (or EOF) within ``timeout`` seconds. poll(), not select(): a
    class's cloud holds more than 1,024 descriptors, and select() refuses those past it."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(None if timeout is None else max(0, math.ceil(timeout * 1000))))


def _read_line(fd: int) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").strip()
