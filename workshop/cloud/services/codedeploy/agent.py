"""What the CodeDeploy agent does on one instance, for the workshop's instances:
each instance is a local directory whose ``root/`` stands for its filesystem
("/"). The agent unpacks the revision, runs the AppSpec's hook scripts as real
subprocesses (the learner's code: real time, their own timeouts), copies the
revision's files into the instance and removes what the previous revision had
installed, and records every lifecycle event on the deployment target.

An instance directory (``runtime.account_dir("codedeploy", account, region)/instances/ID``):
``root/`` the instance's files; ``agent/deployment-root/GROUP_ID/DEPLOYMENT_ID/``
the unpacked revision (``deployment-archive/``) and ``logs/scripts.log``;
``agent/state.json`` the last successful revision and the files it installed.
Hook scripts run with their working directory at ``root/`` and find it in
``WORKSHOP_INSTANCE_ROOT`` (so ``$WORKSHOP_INSTANCE_ROOT/var/www/html`` is
``/var/www/html`` on a real instance) and the instance's id in ``WORKSHOP_INSTANCE_ID``.

As root (a class), hooks run as the account's own user (``sandbox``): ``root/``,
``home/`` and the unpacked revision are that user's, ``agent/`` stays the cloud's;
the agent reads and writes in the account's folders without following links.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections import deque
from pathlib import Path, PurePosixPath
from typing import Any

from workshop.cloud import class_mode, containment, runtime, sandbox
from workshop.cloud.services.codedeploy import appspec

KEEP_ARCHIVES = 5          # the agent keeps the last five revisions per deployment group
LOG_TAIL_CHARS = 4096      # what diagnostics.logTail holds (AWS: up to the last 4 KB)
LOG_TAIL_LINES = 512       # lines of a script's output kept for that tail (each at least "[stdout]\n")
POLL = 0.05                # how often a running script is checked (real seconds)
APPSPEC_NAMES = ("appspec.yml", "appspec.yaml")


class Stopped(Exception):
    """The deployment stopped while this instance was being deployed to."""


class EventFailed(Exception):
    def __init__(self, error_code: str, message: str, script: str = "", log_tail: str = ""):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.script = script
        self.log_tail = log_tail


class InstanceAgent:
    """Deploys one revision to one instance. ``job`` is the runner's handle on the
    deployment: ``stopping()`` and ``track(proc)`` / ``untrack(proc)``."""

    def __init__(self, deployment, target, bundle: bytes, job, bundle_type: str = "zip"):
        self.deployment = deployment
        self.target = target
        self.bundle = bundle
        self.bundle_type = bundle_type
        self.job = job
        self.home = Path(target.instance_dir)
        self.root = self.home / "root"
        self.agent_dir = self.home / "agent"
        group_dir = self.agent_dir / "deployment-root" / deployment.group.id
        self.work = group_dir / deployment.id
        self.archive = self.work / "deployment-archive"
        self.log_file = self.work / "logs" / "scripts.log"
        self.spec: appspec.ServerAppSpec | None = None
        self.state = self._load_state()

    # -- the lifecycle -------------------------------------------------------------
    def run(self) -> bool:
        """Deploy; True when every event succeeded."""
        for path in (self.root, self.archive, self.log_file.parent):
            path.mkdir(parents=True, exist_ok=True)
        sandbox.prepare_dir(self.account, self.root)
        self.target.set_status("InProgress")
        behind_load_balancer = bool(self.deployment.load_balancer_info)
        try:
            for event in appspec.SERVER_EVENTS:
                if event in appspec.TRAFFIC_EVENTS and not behind_load_balancer:
                    self.target.skip(event)
                    continue
                if self.job.stopping():
                    raise Stopped()
                self.target.begin(event)
                try:
                    message = self._event(event)
                except EventFailed as exc:
                    if event == "ApplicationStop" and self.deployment.ignore_application_stop_failures:
                        self.target.end(event, "Succeeded", exc.error_code,
                                        f"{exc.message} (ignored: ignoreApplicationStopFailures)", exc.script,
                                        exc.log_tail)
                        continue
                    self.target.end(event, "Failed", exc.error_code, exc.message, exc.script, exc.log_tail)
                    raise
                self.target.end(event, "Succeeded", "Success", message or "Succeeded")
        except (EventFailed, Stopped):
            self.target.skip_rest()
            self.target.set_status("Failed")
            return False
        finally:
            self._prune_archives()
        self.state["last_successful"] = {"deployment_id": self.deployment.id, "archive": str(self.archive)}
        self._save_state()
        self.target.skip_rest()     # traffic events without a load balancer
        self.target.set_status("Succeeded")
        return True

    @property
    def account(self) -> str:
        return self.deployment.account_id

    def _event(self, event: str) -> str:
        if event == "DownloadBundle":
            self._download()
            return "Succeeded"
        if event == "Install":
            self._install()
            return "Succeeded"
        if event in ("BlockTraffic", "AllowTraffic"):
            return "Succeeded"
        if event in ("ApplicationStop", "BeforeBlockTraffic", "AfterBlockTraffic"):
            # These run the scripts of the revision already on the instance, as the agent does.
            previous = self._previous_spec()
            if previous is None:
                return "Succeeded"
            spec, archive = previous
        else:
            spec, archive = self.spec, self.archive
        for script in spec.hooks.get(event, []):
            self._run_script(event, script, archive)
        return "Succeeded"

    # -- DownloadBundle and Install ------------------------------------------------------
    def _download(self) -> None:
        shutil.rmtree(self.archive, ignore_errors=True)
        self.archive.mkdir(parents=True)
        try:
            _unpack(self.bundle, self.bundle_type, self.archive)
        except (zipfile.BadZipFile, tarfile.TarError, OSError, ValueError) as exc:
            raise EventFailed("UnknownError", f"The revision bundle could not be unpacked as {self.bundle_type}: "
                              f"{exc}") from None
        found = [self.archive / n for n in APPSPEC_NAMES if (self.archive / n).is_file()]
        if not found:
            raise EventFailed("UnknownError",
                              "The CodeDeploy agent did not find an AppSpec file within the unpacked revision "
                              "directory at revision-relative path \"appspec.yml\". The revision was unpacked to "
                              f"directory \"{self.archive}\", and the AppSpec file was expected but not found at "
                              f"path \"{self.archive / 'appspec.yml'}\".")
        try:
            self.spec = appspec.parse_server(found[0].read_bytes())
        except appspec.AppSpecError as exc:
            raise EventFailed("UnknownError", str(exc)) from None
        # The revision is the account's from here on: its hooks run from it.
        sandbox.prepare_dir(self.account, self.archive)

    def _install(self) -> None:
        assert self.spec is not None
        behavior = self.spec.file_exists_behavior or self.deployment.file_exists_behavior or "DISALLOW"
        group_key = self.deployment.group.id
        previous = self.state.setdefault("installed", {}).get(group_key, {"files": [], "dirs": []})
        # The previous revision's files go first (the agent's cleanup file).
        # root/ is the account's: never through a link its hooks planted on the way.
        for rel in previous.get("files", []):
            path = self.root / rel
            if _no_links(self.root, path.parent) and (path.is_file() or path.is_symlink()):
                path.unlink()
        for rel in sorted(previous.get("dirs", []), key=len, reverse=True):
            path = self.root / rel
            if _no_links(self.root, path) and path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        self.state["installed"][group_key] = {"files": [], "dirs": []}
        self._save_state()
        files: list[str] = []
        dirs: list[str] = []
        for mapping in self.spec.files:
            source = _inside(self.archive, mapping.source.lstrip("/"), "source", mapping.source)
            destination = _inside(self.root, mapping.destination.lstrip("/"), "destination", mapping.destination)
            if not source.exists():
                raise EventFailed("UnknownError", f"The files section names source {mapping.source}, which is "
                                  "not in the revision.")
            pairs = ([(p, destination / p.relative_to(source)) for p in sorted(source.rglob("*"))]
                     if source.is_dir() else [(source, destination / source.name)])
            if source.resolve() == self.archive.resolve():
                pairs = [(s, d) for s, d in pairs if s.name not in APPSPEC_NAMES or s.parent != source]
            for src, dst in pairs:
                rel = dst.relative_to(self.root).as_posix()
                if src.is_dir() and not src.is_symlink():
                    self._make_parents(dst / "_", dirs)
                    continue
                self._make_parents(dst, dirs)
                if os.path.lexists(dst):
                    if behavior == "DISALLOW":
                        self._record_install(files, dirs)
                        raise EventFailed("UnknownError", "The deployment failed because a specified file already "
                                          f"exists at this location: /{rel}")
                    if behavior == "RETAIN":
                        continue
                    dst.unlink()
                self._copy(src, dst, rel)
                files.append(rel)
        self._record_install(files, dirs)

    def _make_parents(self, path: Path, dirs: list[str]) -> None:
        """Make ``path``'s missing folders under root/, refusing a link on the way."""
        folder = self.root
        for part in path.parent.relative_to(self.root).parts:
            folder = folder / part
            try:
                st = os.lstat(folder)
            except FileNotFoundError:
                folder.mkdir()
                self._give(folder)
                dirs.append(folder.relative_to(self.root).as_posix())
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise EventFailed("UnknownError", f"/{folder.relative_to(self.root).as_posix()} on the instance is "
                                  "not a directory (a link or a file), so the revision's files cannot go there")

    def _copy(self, src: Path, dst: Path, rel: str) -> None:
        """Copy one revision file into root/: a plain file only, never through a link."""
        if not _no_links(self.archive, src):
            raise EventFailed("UnknownError", f"The revision's file for /{rel} is reached through a link")
        try:
            fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise EventFailed("UnknownError", f"The revision's file for /{rel} is not a plain file "
                              f"({exc.strerror})") from None
        with os.fdopen(fd_in, "rb") as source:
            st = os.fstat(source.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise EventFailed("UnknownError", f"The revision's file for /{rel} is not a plain file")
            fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             stat.S_IMODE(st.st_mode) & 0o777)
            with os.fdopen(fd_out, "wb") as target:
                shutil.copyfileobj(source, target)
                os.utime(target.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))
                self._give(target.fileno())

    def _give(self, what: Path | int) -> None:
        """Hand a folder or file the agent made under root/ to the account's user (as root).
        Not ``prepare_dir``: that would take root/'s own folders back from the account."""
        who = sandbox.identity(self.account)
        if who is None:
            return
        if isinstance(what, int):
            os.fchown(what, who.uid, who.gid)
        else:
            os.chown(what, who.uid, who.gid, follow_symlinks=False)

    def _record_install(self, files: list[str], dirs: list[str]) -> None:
        self.state["installed"][self.deployment.group.id] = {"files": files, "dirs": dirs}
        self._save_state()

    # -- hook scripts --------------------------------------------------------------
    def _run_script(self, event: str, script: appspec.Script, archive: Path) -> None:
        location = script.location
        try:
            path = _inside(archive, location.lstrip("/"), "location", location)
        except EventFailed:
            raise EventFailed("ScriptMissing", f"Script does not exist at specified location: {location}",
                              location) from None
        # The revision is the account's: a script it turned into a link is no script.
        if not _no_links(archive, path) or not path.is_file():
            raise EventFailed("ScriptMissing", f"Script does not exist at specified location: {path}", location)
        mode = path.lstat().st_mode
        if not mode & stat.S_IXUSR:   # the agent makes a script executable before it runs it
            path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self._log(f"LifecycleEvent - {event}")
        self._log(f"Script - {location}")
        env = self._environment(event)
        who = sandbox.identity(self.account)   # as root: the account's own user
        # The script's job: whatever it starts, in its session or out of it, ends with it.
        box = containment.Job("hook", containment.for_hook())
        pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            proc = box.spawn([str(path)], cwd=self.root, env=env, who=who, **pipes)
        except OSError as exc:
            if exc.errno != 8:   # ENOEXEC (no #! line): run it with the shell, as the agent's Ruby does
                raise EventFailed("ScriptFailed", f"Script at specified location: {location} could not be run: "
                                  f"{exc.strerror}", location) from None
            proc = box.spawn(["/bin/sh", str(path)], cwd=self.root, env=env, who=who, **pipes)
        lines: deque[str] = deque(maxlen=LOG_TAIL_LINES)   # the tail only: a script may print gigabytes
        lock = threading.Lock()
        readers = [threading.Thread(target=self._pump, args=(stream, tag, lines, lock), daemon=True)
                   for stream, tag in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
        for reader in readers:
            reader.start()
        self.job.track(proc)
        deadline = time.monotonic() + script.timeout
        timed_out = stopped = False
        try:
            while proc.poll() is None:
                if self.job.stopping():
                    stopped = True
                    _kill(proc)
                    break
                if time.monotonic() > deadline:
                    timed_out = True
                    _kill(proc)
                    break
                time.sleep(POLL)
            proc.wait()
        finally:
            self.job.untrack(proc)
            box.kill()    # whatever the script left running, wherever it went
            for reader in readers:
                reader.join(2)
            box.end()
        with lock:
            tail = "\n".join(lines)[-LOG_TAIL_CHARS:]
        if stopped:
            raise EventFailed("UnknownError", "The deployment was stopped while this script ran.", location, tail)
        if timed_out:
            raise EventFailed("ScriptTimedOut", f"Script at specified location: {location} failed to complete in "
                              f"{script.timeout:g} seconds", location, tail)
        if proc.returncode != 0:
            raise EventFailed("ScriptFailed", f"Script at specified location: {location} failed with exit code "
                              f"{proc.returncode}", location, tail)

    def _pump(self, stream, tag: str, lines: deque[str], lock: threading.Lock) -> None:
        for raw in iter(lambda: stream.readline(LOG_TAIL_CHARS), b""):
            text = raw.decode("utf-8", "replace").rstrip("\n")
            with lock:
                lines.append(f"[{tag}]{text}")
            self._log(f"[{tag}]{text}")
        stream.close()

    def _environment(self, event: str) -> dict[str, str]:
        """AWS's hook variables, the account's own credentials and the cloud's endpoint; never the host's."""
        d = self.deployment
        python_bin = os.path.dirname(sys.executable)
        home = self.home / "home"
        home.mkdir(parents=True, exist_ok=True)
        sandbox.prepare_dir(self.account, home)
        return {
            "PATH": f"{python_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
            "LIFECYCLE_EVENT": event,
            "DEPLOYMENT_ID": d.id,
            "APPLICATION_NAME": d.application.name,
            "DEPLOYMENT_GROUP_NAME": d.group.name,
            "DEPLOYMENT_GROUP_ID": d.group.id,
            "AWS_ACCESS_KEY_ID": d.account_id,
            "AWS_SECRET_ACCESS_KEY": class_mode.secret_for(d.account_id),
            "AWS_REGION": d.region,
            "AWS_DEFAULT_REGION": d.region,
            "AWS_ENDPOINT_URL": runtime.endpoint(),
            "WORKSHOP_INSTANCE_ROOT": str(self.root),
            "WORKSHOP_INSTANCE_ID": self.target.target_id,
        }

    def _log(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        try:
            with open(self.log_file, "a", encoding="utf-8") as out:
                out.write(f"[{stamp}] {text}\n")
        except OSError:
            pass

    # -- what the instance remembers -------------------------------------------------
    def _previous_spec(self) -> tuple[appspec.ServerAppSpec, Path] | None:
        last = self.state.get("last_successful")
        if not last:
            return None
        archive = Path(last["archive"])
        for name in APPSPEC_NAMES:
            if (archive / name).is_file():
                try:   # the account's hooks may have changed it: read it as theirs
                    text = sandbox.read_text(self.account, archive / name)
                    return appspec.parse_server(text.encode("utf-8")), archive
                except (appspec.AppSpecError, OSError):
                    return None
        return None

    def _load_state(self) -> dict[str, Any]:
        path = self.agent_dir / "state.json"
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _save_state(self) -> None:
        self.agent_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.agent_dir / "state.json.tmp"
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.agent_dir / "state.json")

    def _prune_archives(self) -> None:
        group_dir = self.work.parent
        keep = {Path((self.state.get("last_successful") or {}).get("archive", "/")).parent, self.work}
        try:
            folders = sorted((p for p in group_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        for folder in folders[:-KEEP_ARCHIVES]:
            if folder not in keep:
                shutil.rmtree(folder, ignore_errors=True)


def _no_links(base: Path, path: Path) -> bool:
    """Whether no folder between ``base`` and ``path`` (itself included) is a link."""
    try:
        parts = path.relative_to(base).parts
    except ValueError:
        return False
    here = base
    for part in parts:
        here = here / part
        if here.is_symlink():
            return False
    return True


def _inside(base: Path, relative: str, what: str, given: str) -> Path:
    """``base/relative``, refusing paths that leave ``base`` (``..``)."""
    parts = PurePosixPath(relative).parts
    if ".." in parts:
        raise EventFailed("UnknownError", f"The {what} {given} leaves its directory (..)")
    path = base.joinpath(*parts) if parts else base
    return path


def _unpack(bundle: bytes, bundle_type: str, target: Path) -> None:
    root = target.resolve()
    if bundle_type == "zip":
        with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
            for info in archive.infolist():
                dest = (target / info.filename).resolve()
                if not dest.is_relative_to(root):
                    raise ValueError(f"{info.filename} would be unpacked outside the revision directory")
                archive.extract(info, target)
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    dest.chmod(mode)
        return
    mode = "r:gz" if bundle_type == "tgz" else "r:"
    with tarfile.open(fileobj=io.BytesIO(bundle), mode=mode) as archive:
        archive.extractall(target, filter="data")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass
