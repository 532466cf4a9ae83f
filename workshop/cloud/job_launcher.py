"""Starts one process of a learner's job (see containment.py), run by the cloud as
``python -I -S job_launcher.py SPEC_FD`` with an empty environment: it reads the job's
spec from SPEC_FD, joins the job's cgroups, takes its limits and priority, becomes the
account's user and execs the command; or, without cgroups, stays as the job's child
subreaper and kills whatever the command left behind. Standard library only."""

import json
import os
import resource
import select
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
IOPRIO_SYSCALL = {"x86_64": 251, "aarch64": 30}
IOPRIO_WHO_PROCESS = 1


def main() -> None:
    spec_fd = int(sys.argv[1])
    spec = json.loads(_read_all(spec_fd))
    os.close(spec_fd)
    status = spec["status_fd"]
    try:
        for procs in spec.get("cgroups", ()):
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
        for name, (soft, hard) in spec.get("rlimits", {}).items():
            _set_limit(getattr(resource, f"RLIMIT_{name}"), soft, hard)
        if spec.get("nice"):
            os.setpriority(os.PRIO_PROCESS, 0, int(spec["nice"]))
        if spec.get("ionice"):
            _ionice(*spec["ionice"])
    except OSError as exc:
        _fail(status, exc)
    if spec.get("supervise"):
        _supervise(spec, status)
    else:
        os.set_inheritable(status, False)   # closed by a successful exec: the cloud reads EOF
        _become(spec)
        try:
            os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
        except OSError as exc:
            _fail(status, exc)


def _become(spec: dict) -> None:
    """chdir first (as the cloud, as subprocess does), then the account's user and umask."""
    if spec.get("cwd"):
        os.chdir(spec["cwd"])
    if spec.get("uid") is not None:
        if os.geteuid() == 0:
            os.setgroups([])
        os.setgid(spec["gid"])
        os.setuid(spec["uid"])
    if spec.get("umask") is not None:
        os.umask(spec["umask"])


def _supervise(spec: dict, status: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        _fail(status, OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)"))
    control = spec["control_fd"]
    failed_r, failed_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(failed_r)
            os.close(status)
            os.close(control)
            os.setsid()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _become(spec)
            os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
        except OSError as exc:
            os.write(failed_w, f"{exc.errno} {exc.strerror or exc}".encode())
        finally:
            os._exit(127)
    os.close(failed_w)
    # The command has our stdin/stdout/stderr: let them close when it (and what it started) ends.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    failure = _read_all(failed_r)
    os.close(failed_r)
    if failure:
        os.waitpid(child, 0)
        number, _, message = failure.decode().partition(" ")
        _fail(status, OSError(int(number), message))
    os.write(status, f"pid {child}\n".encode())
    global _main, _status
    _main, _status = child, status
    ended = False
    while True:
        _reap()
        if _children_gone():
            break
        ready, _, _ = select.select([control], [], [], 0.05)
        if ready and not os.read(control, 4096):
            ended = True       # the job ended, or the cloud is gone: nothing it started stays
            break
    if ended:
        _kill_all()
        _reap()
    os._exit(0)


_reported = False
_main = _status = -1


def _reap() -> None:
    """Reap what has ended; the command's own exit status goes to the cloud."""
    global _reported
    child, status = _main, _status
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == child and not _reported:
            _reported = True
            returncode = -os.WTERMSIG(code) if os.WIFSIGNALED(code) else os.WEXITSTATUS(code)
            try:
                os.write(status, f"exit {returncode}\n".encode())
            except OSError:
                pass


def _children_gone() -> bool:
    return _reported and not _children()


def _children() -> list[int]:
    me = str(os.getpid())
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1].decode() == me and fields[0] != b"Z":
            found.append(int(name))
    return found


def _kill_all() -> None:
    """Kill every descendant: each one killed hands its own children to us (the subreaper)."""
    import time

    for _ in range(2000):
        children = _children()
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.005)
        _reap()


def _set_limit(which: int, soft: int, hard: int) -> None:
    old_soft, old_hard = resource.getrlimit(which)
    if old_hard != resource.RLIM_INFINITY:
        hard = min(hard, old_hard)
    resource.setrlimit(which, (min(soft, hard), hard))


def _ionice(klass: int, level: int) -> None:
    number = IOPRIO_SYSCALL.get(os.uname().machine)
    if number is None:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(number, IOPRIO_WHO_PROCESS, 0, (klass << 13) | level)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _fail(status: int, exc: OSError) -> None:
    try:
        os.write(status, f"error {exc.errno or 0} {exc.strerror or exc}\n".encode())
    finally:
        os._exit(127)


if __name__ == "__main__":
    main()
