"""The build runner: the engine that runs CodeBuild builds. A bounded pool of
worker threads takes builds from the backend and runs their buildspec phases
as real subprocesses in each build's own folder, on the workshop clock for
the waits AWS adds; it reports through the backends only, never requests."""

from __future__ import annotations

import atexit
import copy
import gzip
import hashlib
import io
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import venv
import zipfile
from pathlib import Path

from workshop.cloud import class_mode, containment, runtime, sandbox, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.codebuild import build_io, buildspec, junit
from workshop.cloud.services.codebuild.build_io import BuildIOError

log = logging.getLogger("workshop.cloud.codebuild")

# AWS-imposed waits, in AWS seconds (divided by the time scale).
QUEUED_SECONDS = 2
PROVISIONING_SECONDS = 20
FINALIZING_SECONDS = 2
POLL = 0.05  # how often a running command is checked (real seconds)
KILL_GRACE = 2.0


def _timeout_minute() -> float:
    """Real seconds in a minute of timeoutInMinutes: 60 (an operator may
    shorten it, e.g. for the cloud's own tests of timeouts)."""
    try:
        value = float(os.environ.get("WORKSHOP_CODEBUILD_TIMEOUT_MINUTE_SECONDS", "60"))
    except ValueError:
        value = 60.0
    return value if value > 0 else 60.0


class Interrupted(Exception):
    """The build stopped (stop_build or reset) or ran out of time."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # STOPPED | TIMED_OUT | RESET


class PhaseFailed(Exception):
    def __init__(self, status_code: str, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class Job:
    """A build as the runner holds it: its stop signal, processes and folder."""

    def __init__(self, build, backend):
        self.build = build
        self.backend = backend
        self.account = build.account_id
        self.region = build.region
        self.stop_event = threading.Event()
        self.reason: str | None = None
        self.done = threading.Event()
        self.started = False
        self.claim_lock = threading.Lock()
        # The build's container: every process its commands start, killed whole when it ends.
        self.box = containment.Job("build", containment.for_build(
            (build.spec.get("environment") or {}).get("computeType")))
        self.running: containment.JobProcess | None = None
        self.deadline = float("inf")
        self.failed = False
        self.dir: Path | None = None
        self.logs: build_io.LogShipper | None = None
        self.spec: buildspec.Buildspec | None = None
        self.commands_run = 0

    def request_stop(self, reason: str) -> None:
        if self.reason is None or reason == "RESET":
            self.reason = reason
        if reason == "RESET" and self.logs is not None:
            self.logs.detached = True
        self.stop_event.set()
        proc = self.running
        if proc is not None and proc.poll() is None:
            _kill_group(proc.pid, signal.SIGTERM)

    def check(self) -> None:
        if self.stop_event.is_set():
            raise Interrupted(self.reason or "STOPPED")
        if time.monotonic() > self.deadline:
            raise Interrupted("TIMED_OUT")

    @property
    def detached(self) -> bool:
        return self.reason == "RESET"


class BuildRunner:
    """A bounded pool of workers over one queue of builds. No account runs
    more than `per_account` builds at once, so one learner's long builds
    never hold every worker while other accounts wait."""

    def __init__(self, workers: int, per_account: int | None = None):
        self.workers = workers
        self.per_account = per_account or max(1, workers // 2)
        self._pending: list[Job] = []
        self._running: dict[str, int] = {}  # account -> builds running now
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []

    # -- what the backend asks ---------------------------------------------
    def submit(self, build) -> None:
        from workshop.cloud.services.codebuild.models import codebuild_backend

        job = Job(build, codebuild_backend(build.account_id, build.region))
        with self._wake:
            self._jobs[build.arn] = job
            self._pending.append(job)
            self._start_workers()
            self._wake.notify()

    def stop(self, build, wait: float = 5.0) -> None:
        with self._lock:
            job = self._jobs.get(build.arn)
        if job is None:
            return
        job.request_stop("STOPPED")
        if self._claim(job):  # still queued: it never runs
            build.finish_phase("STOPPED")
            build.finish("STOPPED")
            self._done(job)
            return
        job.done.wait(wait)

    def forget(self, account: str, region: str | None = None, wait: float = 5.0) -> None:
        """Stop an account's builds (on reset) and make sure they write nothing more."""
        with self._lock:
            jobs = [j for j in self._jobs.values()
                    if j.account == account and (region is None or j.region == region)]
        for job in jobs:
            job.request_stop("RESET")
            if self._claim(job):
                self._done(job)
        deadline = time.monotonic() + wait
        for job in jobs:
            job.done.wait(max(0.0, deadline - time.monotonic()))

    def shutdown(self) -> None:
        """The cloud is exiting: end every build's processes."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.request_stop("RESET")
        for job in jobs:
            job.box.end()

    # -- workers --------------------------------------------------------------
    def _start_workers(self) -> None:
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name=f"codebuild-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            job = self._next()
            try:
                if self._claim(job):
                    self._run(job)
            except Exception:  # a build never takes the runner down
                log.exception("build runner failed on %s", job.build.id)
            finally:
                with self._wake:
                    self._running[job.account] -= 1
                    self._wake.notify_all()
                self._done(job)

    def _next(self) -> Job:
        """The oldest pending build whose account is below its share of workers."""
        with self._wake:
            while True:
                self._pending = [j for j in self._pending if not j.done.is_set()]
                for i, job in enumerate(self._pending):
                    if self._running.get(job.account, 0) < self.per_account:
                        del self._pending[i]
                        self._running[job.account] = self._running.get(job.account, 0) + 1
                        return job
                self._wake.wait()

    @staticmethod
    def _claim(job: Job) -> bool:
        with job.claim_lock:
            if job.started or job.done.is_set():
                return False
            job.started = True
            return True

    def _done(self, job: Job) -> None:
        with self._wake:
            self._jobs.pop(job.build.arn, None)
            job.done.set()
            self._wake.notify_all()

    # -- one build --------------------------------------------------------------
    def _run(self, job: Job) -> None:
        build = job.build
        status = "SUCCEEDED"
        try:
            self._queued(job)
            if self._phase(job, "PROVISIONING", self._provision) and \
                    self._phase(job, "DOWNLOAD_SOURCE", self._download_source):
                self._run_phases(job)
            status = "FAILED" if job.failed else "SUCCEEDED"
        except Interrupted as stop:
            status = "STOPPED" if stop.reason in ("STOPPED", "RESET") else "TIMED_OUT"
            if status == "TIMED_OUT":
                build.finish_phase(status, "BUILD_TIMED_OUT", "Build timed out")
            else:
                build.finish_phase(status, "", "Build was stopped")
        except Exception as exc:
            log.exception("build %s failed inside the runner", build.id)
            status = "FAULT"
            build.finish_phase("FAULT", "INTERNAL_ERROR", f"The workshop's build runner failed: {exc}")
        finally:
            self._finalize(job)
        if not job.detached:
            if job.logs is not None:
                job.logs.container(f"Build {status.lower().replace('_', ' ')}")
                job.logs.pump(final=True)
                self._s3_logs(job)
            build.finish(status)
            _publish_metrics(build, status)
        else:
            build.finish("STOPPED")
        self._cleanup(job)

    def _queued(self, job: Job) -> None:
        build = job.build
        if not get_clock().wait(QUEUED_SECONDS, job.stop_event):
            job.check()
        waited = time.time() - build.start_time.timestamp()
        if waited > build.spec["queuedTimeoutInMinutes"] * _timeout_minute():
            build.finish_phase("TIMED_OUT", "BUILD_TIMED_OUT", "Build timed out while queued")
            raise Interrupted("TIMED_OUT_QUEUED")
        build.finish_phase("SUCCEEDED")

    def _phase(self, job: Job, name: str, work) -> bool:
        """Run one phase; True when it succeeded."""
        job.check()
        build = job.build
        build.enter_phase(name)
        if job.logs is not None:
            job.logs.container(f"Entering phase {name}")
        try:
            message = work(job) or ""
        except (PhaseFailed, BuildIOError, buildspec.BuildspecError) as failure:
            code = getattr(failure, "status_code", "CLIENT_ERROR")
            text = getattr(failure, "message", None) or str(failure)
            self._phase_end(job, name, "FAILED", code, text)
            job.failed = True
            return False
        self._phase_end(job, name, "SUCCEEDED", "", message)
        return True

    @staticmethod
    def _phase_end(job: Job, name: str, status: str, code: str, message: str) -> None:
        job.build.finish_phase(status, code, message)
        if job.logs is not None:
            job.logs.container(f"Phase complete: {name} State: {status}")
            job.logs.container(f"Phase context status code: {code} Message: {message}")
            job.logs.pump()

    def _run_phases(self, job: Job) -> None:
        """INSTALL to UPLOAD_ARTIFACTS, with CodeBuild's phase transitions: a
        failed INSTALL or PRE_BUILD ends the build, a failed BUILD still runs
        POST_BUILD, and artifacts are uploaded even after a failed BUILD;
        `on-failure` CONTINUE goes on, ABORT ends the build."""
        spec = job.spec
        for name in ("install", "pre_build", "build", "post_build"):
            phase = spec.phases.get(name) or buildspec.Phase(name=name)
            ok = self._phase(job, name.upper(), lambda j, p=phase: self._commands(j, p))
            if ok:
                continue
            if phase.on_failure == "CONTINUE":
                continue
            if phase.on_failure == "ABORT" or name in ("install", "pre_build"):
                return
        self._export_variables(job)
        self._phase(job, "UPLOAD_ARTIFACTS", self._upload)

    # -- PROVISIONING -----------------------------------------------------------
    def _provision(self, job: Job) -> str:
        build = job.build
        job.deadline = time.monotonic() + build.spec["timeoutInMinutes"] * _timeout_minute()
        root = runtime.account_dir("codebuild", job.account, job.region) / build.uuid
        job.dir = root
        for sub in ("src", "tmp", "home", "state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        logs = build.spec["logs"]
        job.logs = build_io.LogShipper(job.account, job.region, root / "output.log",
                                       logs.get("groupName"), logs.get("streamName"))
        job.logs.detached = job.detached
        try:
            job.logs.open_stream()
        except Exception as exc:
            raise PhaseFailed("CLIENT_ERROR", f"cannot write to log group {logs.get('groupName')}: "
                              f"{getattr(exc, 'message', None) or exc}") from None
        build.set(logs=copy.deepcopy(logs))
        job.logs.container(f"Running on CodeBuild On-demand (the workshop cloud), "
                           f"image {build.spec['environment'].get('image')}")
        job.logs.container("Waiting for agent ping")
        _make_python_env(root / "venv")
        if not get_clock().wait(PROVISIONING_SECONDS, job.stop_event):
            job.check()
        return ""

    # -- DOWNLOAD_SOURCE ---------------------------------------------------------
    def _download_source(self, job: Job) -> str:
        build, src = job.build, job.dir / "src"
        source = build.spec["source"]
        kind = source["type"]
        version = build.spec.get("sourceVersion")
        resolved = None
        if kind == "S3":
            resolved = build_io.fetch_s3_source(job.account, source["location"], src, version)
        elif kind == "CODECOMMIT":
            resolved, version = build_io.fetch_codecommit_source(
                job.account, job.region, source["location"], version, src)
        elif kind == "CODEPIPELINE":
            raise PhaseFailed("CLIENT_ERROR", "A CODEPIPELINE source is given by the pipeline that starts the "
                              "build (sourceTypeOverride and sourceLocationOverride)")
        elif kind != "NO_SOURCE":
            raise PhaseFailed("CLIENT_ERROR", f"The workshop cloud cannot fetch {kind} sources: "
                              "use CODECOMMIT, S3 or NO_SOURCE")
        if resolved:
            build.set(resolvedSourceVersion=resolved)
        if version and not build.record.get("sourceVersion"):
            build.set(sourceVersion=version)
        job.logs.container(f"CODEBUILD_SRC_DIR={src}")

        text, where = self._buildspec_text(job, src)
        job.logs.container(f"YAML location is {where}")
        job.spec = buildspec.parse(text)
        job.logs.container("Processing environment variables")
        self._prepare_env(job, resolved)
        job.logs.container(f"Moving to directory {src}")
        return ""

    @staticmethod
    def _buildspec_text(job: Job, src: Path) -> tuple[str, str]:
        value = job.build.spec["source"].get("buildspec") or ""
        if "\n" in value.strip() or value.lstrip().startswith("version"):
            return value, "the project's inline buildspec"
        if value.startswith("arn:aws:s3:::"):
            bucket, _, key = value[len("arn:aws:s3:::"):].partition("/")
            data, _ = build_io.read_s3_object(job.account, bucket, key)
            return data.decode("utf-8", "replace"), value
        relative = value.strip() or "buildspec.yml"
        try:
            path = build_io.safe_join(src, relative)
        except BuildIOError:
            raise PhaseFailed("YAML_FILE_ERROR", f"invalid buildspec path {relative}") from None
        if not path.is_file():
            # The source directory's name, not the cloud's path to it (a learner sees this message).
            raise PhaseFailed("YAML_FILE_ERROR", f"stat src/{relative.removeprefix('./')}: no such file or directory")
        return path.read_text(encoding="utf-8", errors="replace"), str(path)

    def _prepare_env(self, job: Job, resolved: str | None) -> None:
        """The environment every command starts from: the build's own
        credentials, region and endpoint, CodeBuild's variables, then the
        buildspec's, the project's and start_build's (highest) variables."""
        build, spec, root = job.build, job.spec, job.dir
        env: dict[str, str] = {}
        env.update(spec.variables)
        for name, param in spec.parameter_store.items():
            env[name] = build_io.ssm_parameter(job.account, job.region, param)
            job.logs.hide(env[name])
        for name, ref in spec.secrets_manager.items():
            env[name] = build_io.secret_value(job.account, job.region, ref)
            job.logs.hide(env[name])
        for var in build.spec["environment"].get("environmentVariables") or []:
            kind, value = var.get("type", "PLAINTEXT"), str(var.get("value", ""))
            if kind == "PARAMETER_STORE":
                value = build_io.ssm_parameter(job.account, job.region, value)
                job.logs.hide(value)
            elif kind == "SECRETS_MANAGER":
                value = build_io.secret_value(job.account, job.region, value)
                job.logs.hide(value)
            env[var["name"]] = value
        source = build.spec["source"]
        env.update(_base_env(job, root))
        env.update({
            "AWS_ACCESS_KEY_ID": job.account,
            "AWS_SECRET_ACCESS_KEY": class_mode.secret_for(job.account),
            "AWS_DEFAULT_REGION": job.region,
            "AWS_REGION": job.region,
            "AWS_ENDPOINT_URL": runtime.endpoint(),
            "CODEBUILD_BUILD_ARN": build.arn,
            "CODEBUILD_BUILD_IMAGE": build.spec["environment"].get("image", ""),
            "CODEBUILD_BUILD_NUMBER": str(build.record["buildNumber"]),
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            "CODEBUILD_CI": "true",
            "CODEBUILD_INITIATOR": build.record.get("initiator", ""),
            "CODEBUILD_KMS_KEY_ID": build.spec.get("encryptionKey", ""),
            "CODEBUILD_LOG_PATH": build.spec["logs"].get("streamName", ""),
            "CODEBUILD_RESOLVED_SOURCE_VERSION": resolved or "",
            "CODEBUILD_SOURCE_REPO_URL": source.get("location", "") or "",
            "CODEBUILD_SOURCE_VERSION": build.record.get("sourceVersion", "") or "",
            "CODEBUILD_SRC_DIR": str(root / "src"),
            "CODEBUILD_START_TIME": str(int(build.start_time.timestamp() * 1000)),
        })
        env.setdefault("PYTHONUNBUFFERED", "1")
        state = root / "state"
        (state / "env.sh").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items())))
        (state / "cwd").write_text(str(root / "src"))
        # As root, the commands run as the account's own user: give it what they write.
        for sub in ("src", "tmp", "home", "venv", "state"):
            sandbox.prepare_dir(job.account, root / sub)

    # -- INSTALL .. POST_BUILD -----------------------------------------------------
    def _commands(self, job: Job, phase: buildspec.Phase) -> str:
        message = ""
        if phase.runtime_versions:
            message = self._runtime_versions(job, phase.runtime_versions)
        failure: PhaseFailed | None = None
        for command in phase.commands:
            rc = self._command(job, command)
            if rc != 0:
                failure = PhaseFailed("COMMAND_EXECUTION_ERROR",
                                      f"Error while executing command: {command}. Reason: exit status {rc}")
                job.logs.container(f"Command did not exit successfully {command} exit status {rc}")
                job.failed = True
                break
        if phase.commands or failure:
            for command in phase.finally_commands:
                rc = self._command(job, command)
                if rc != 0 and failure is None:
                    failure = PhaseFailed("COMMAND_EXECUTION_ERROR",
                                          f"Error while executing command: {command}. Reason: exit status {rc}")
                    job.logs.container(f"Command did not exit successfully {command} exit status {rc}")
                    job.failed = True
        if failure:
            raise failure
        return message

    def _runtime_versions(self, job: Job, runtimes: dict[str, str]) -> str:
        job.logs.container("Processing runtime-versions")
        python = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
        notes = []
        for name, version in runtimes.items():
            if name not in buildspec.RUNTIMES:
                raise PhaseFailed("YAML_FILE_ERROR", f"Unknown runtime named '{name}'. This build image has "
                                  f"the following runtimes: {', '.join(buildspec.RUNTIMES)}")
            actual = python if name == "python" else ("on this machine's PATH" if shutil.which(
                {"nodejs": "node", "golang": "go", "dotnet": "dotnet"}.get(name, name)) else "not installed here")
            job.logs.container(f"Selecting '{name}' runtime version '{version}' "
                               f"(the workshop runs builds on its own {name}: {actual})")
            notes.append(f"{name} {version} (ran on {actual})")
        return "runtime-versions: " + ", ".join(notes)

    def _command(self, job: Job, command: str) -> int:
        job.check()
        spec, state = job.spec, job.dir / "state"
        job.commands_run += 1
        job.logs.container(f"Running command {command}")
        cwd = (sandbox.read_text(job.account, state / "cwd").strip() if spec.persistent_shell
               else str(job.dir / "src"))
        succeeding = "0" if job.failed else "1"
        lines = [f". {shlex.quote(str(state / 'env.sh'))}",
                 f"cd {shlex.quote(cwd)} 2>/dev/null || cd \"$CODEBUILD_SRC_DIR\"",
                 f"CODEBUILD_BUILD_SUCCEEDING={succeeding}; export CODEBUILD_BUILD_SUCCEEDING"]
        if spec.persistent_shell:
            env_file, tmp = shlex.quote(str(state / "env.sh")), shlex.quote(str(state / "env.sh.next"))
            lines += ["__codebuild_save() {",
                      "  __codebuild_rc=$?",
                      f"  export -p > {tmp} && mv {tmp} {env_file}",
                      f"  pwd > {shlex.quote(str(state / 'cwd'))}",
                      "  exit $__codebuild_rc",
                      "}",
                      "trap __codebuild_save EXIT"]
        script = state / f"command-{job.commands_run}.sh"
        sandbox.write_text(job.account, script, "\n".join(lines) + "\n" + command + "\n")
        return self._spawn(job, [spec.shell, str(script)])

    def _spawn(self, job: Job, argv: list[str]) -> int:
        with open(job.dir / "output.log", "ab") as out:
            proc = job.box.spawn(argv, cwd=job.dir / "src", env=_base_env(job, job.dir),
                                 who=sandbox.identity(job.account),
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        job.running = proc
        try:
            while True:
                try:
                    rc = proc.wait(timeout=POLL)
                except subprocess.TimeoutExpired:
                    rc = None
                if rc is not None:
                    if job.stop_event.is_set():  # killed by stop_build or reset, not a failure
                        job.check()
                    return rc
                job.logs.pump()
                try:
                    job.check()
                except Interrupted:
                    self._kill(proc)
                    raise
        finally:
            job.running = None
            job.logs.pump()

    @staticmethod
    def _kill(proc: containment.JobProcess) -> None:
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            pass
        _kill_group(proc.pid, signal.SIGKILL)
        try:
            proc.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            log.warning("build process %s did not exit after SIGKILL", proc.pid)

    def _export_variables(self, job: Job) -> None:
        names = job.spec.exported_variables
        if not names:
            return
        final = self._final_env(job)
        job.build.set(exportedEnvironmentVariables=[{"name": n, "value": final.get(n, "")} for n in names])

    def _final_env(self, job: Job) -> dict[str, str]:
        """The environment as the last command left it (version 0.2 keeps one shell session)."""
        try:
            return self._read_final_env(job)
        except (OSError, subprocess.SubprocessError):
            log.debug("reading the final environment of %s", job.build.id, exc_info=True)
            return {}

    def _read_final_env(self, job: Job) -> dict[str, str]:
        out = job.dir / "state" / "final-env.json"
        python = job.dir / "venv" / "bin" / "python"
        state = job.dir / "state"
        cwd = (sandbox.read_text(job.account, state / "cwd").strip() if job.spec.persistent_shell
               else str(job.dir / "src"))
        script = state / "final-env.sh"
        sandbox.write_text(job.account, script,
                           f". {shlex.quote(str(state / 'env.sh'))}\ncd {shlex.quote(cwd)} 2>/dev/null\n"
                           f"exec {shlex.quote(str(python))} -c 'import json,os,sys; "
                           f"json.dump(dict(os.environ), open(sys.argv[1], \"w\"))' {shlex.quote(str(out))}\n")
        proc = job.box.spawn([job.spec.shell, str(script)], cwd=job.dir / "src", env=_base_env(job, job.dir),
                             who=sandbox.identity(job.account), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGKILL)
            raise
        try:  # the account's code may have left anything under that name
            return json.loads(sandbox.read_text(job.account, out))
        except ValueError:
            return {}

    # -- UPLOAD_ARTIFACTS ---------------------------------------------------------------
    def _upload(self, job: Job) -> str:
        self._reports(job)
        target = job.build.spec["artifactTarget"]
        fileset = job.spec.artifacts
        if target is None:
            return ""
        if fileset is None:
            job.logs.container("The buildspec has no artifacts section: nothing to upload")
            return ""
        files = _select(job.dir / "src", fileset, "artifact")
        artifacts = job.build.spec["artifacts"]
        if artifacts.get("overrideArtifactName") and fileset.name:
            name = _expand(fileset.name, self._final_env(job))
            target = dict(target, name=name, key="/".join(p for p in target["key"].split("/")[:-1] + [name] if p))
        job.logs.container(f"Expanding base directory path: {fileset.base_directory or '.'}")
        job.logs.container(f"Found {len(files)} file(s)")
        record = dict(job.build.record["artifacts"])
        record["location"] = f"arn:aws:s3:::{target['bucket']}/{target['key']}"
        if target["zip"]:
            data = _zip(files)
            build_io.upload_s3(job.account, target["bucket"], target["key"], data)
            record.update(md5sum=hashlib.md5(data).hexdigest(), sha256sum=hashlib.sha256(data).hexdigest())
        else:
            for arcname, path in files:
                build_io.upload_s3(job.account, target["bucket"], f"{target['key']}/{arcname}", path.read_bytes())
        job.build.set(artifacts=record)
        job.logs.container(f"Uploaded artifacts to s3://{target['bucket']}/{target['key']}")
        return ""

    def _reports(self, job: Job) -> None:
        for name, fileset in job.spec.reports.items():
            try:
                self._report(job, name, fileset)
            except Exception as exc:  # a report never fails the build
                log.debug("report %s of %s", name, job.build.id, exc_info=True)
                job.logs.container(f"Report {name} was not created: {getattr(exc, 'message', None) or exc}")

    def _report(self, job: Job, name: str, fileset: buildspec.FileSet) -> None:
        build, backend = job.build, job.backend
        if name.startswith("arn:"):
            group = backend.report_groups.get(name)
            if group is None:
                raise PhaseFailed("CLIENT_ERROR", f"report group {name} does not exist")
        else:
            group_name = f"{build.project_name}-{name}"
            group = backend.find_report_group(group_name)
            if group is None:
                try:
                    group = backend.create_report_group(group_name, "TEST", None, None)
                except Exception:  # created meanwhile by a concurrent build, or a bad name
                    group = backend.find_report_group(group_name)
                    if group is None:
                        raise
        report = backend.add_report(group, build)
        job.logs.container(f"Preparing to copy {name} report files")
        cases, problems = [], []
        try:
            files = _select(job.dir / "src", fileset, "report")
        except (PhaseFailed, BuildIOError) as failure:
            files, problems = [], [failure.message]
        if fileset.file_format != "JUNITXML":
            problems.append(f"file-format {fileset.file_format} is not read by the workshop cloud: use JUNITXML")
            files = []
        for arcname, path in files:
            try:
                cases += junit.read_file(path, arcname)
            except junit.ReportFileError as exc:
                problems.append(str(exc))
        expired = report.to_dict()["expired"]
        report.test_cases = [{
            "reportArn": report.arn, "testRawDataPath": c.raw_path, "prefix": c.prefix, "name": c.name,
            "status": c.status, "durationInNanoSeconds": c.duration_ns, "message": c.message,
            "expired": expired, "testSuiteName": c.suite} for c in cases]
        bad = any(c.status in ("FAILED", "ERROR") for c in cases)
        report.status = "FAILED" if (bad or problems or not cases) else "SUCCEEDED"
        for problem in problems:
            job.logs.container(f"Report {name}: {problem}")
        job.logs.container(f"Report {group.name}: {len(cases)} test cases, status {report.status}")

    # -- FINALIZING ----------------------------------------------------------------------
    def _finalize(self, job: Job) -> None:
        build = job.build
        if job.detached:
            return
        try:
            build.enter_phase("FINALIZING")
            if job.logs is not None:
                job.logs.container("Entering phase FINALIZING")
            get_clock().wait(FINALIZING_SECONDS)
            build.finish_phase("SUCCEEDED")
            if job.logs is not None:
                job.logs.container("Phase complete: FINALIZING State: SUCCEEDED")
        except Exception:
            log.exception("finalizing build %s", build.id)

    @staticmethod
    def _s3_logs(job: Job) -> None:
        """A copy of the build's output in S3, gzipped, when logsConfig asks for it."""
        arn = job.build.spec["logs"].get("s3LogsArn")
        if not arn:
            return
        bucket, _, key = arn.split(":::", 1)[1].partition("/")
        try:
            buffer = io.BytesIO()   # only the compressed copy is in memory, never the output whole
            with open(job.dir / "output.log", "rb") as src, gzip.GzipFile(fileobj=buffer, mode="wb") as packed:
                while line := src.readline(build_io.PUMP_CHUNK):
                    packed.write(job.logs.mask(line.decode("utf-8", "replace")).encode())
            build_io.upload_s3(job.account, bucket, key, buffer.getvalue())
        except (OSError, BuildIOError) as exc:
            job.logs.container(f"Could not write the build log to s3://{bucket}/{key}: "
                               f"{getattr(exc, 'message', exc)}")
            job.logs.pump(final=True)

    def _cleanup(self, job: Job) -> None:
        """The build's container goes away: its processes and its folder."""
        job.box.end()
        if job.logs is not None and not job.detached:
            job.logs.pump(final=True)
        if job.dir is not None:
            shutil.rmtree(job.dir, ignore_errors=True)


# -- helpers ---------------------------------------------------------------------------

def _base_env(job: Job, root: Path) -> dict[str, str]:
    """The minimal environment a build process starts with (never the cloud's own)."""
    python_bin = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([str(root / "venv" / "bin"), python_bin, "/usr/local/sbin", "/usr/local/bin",
                                 "/usr/sbin", "/usr/bin", "/sbin", "/bin"]),
        "HOME": str(root / "home"),
        "TMPDIR": str(root / "tmp"),
        "LANG": "C.UTF-8",
        "CODEBUILD_BUILD_ID": job.build.id,
    }


def _make_python_env(path: Path) -> None:
    """A virtual environment on the workshop's Python that sees the workshop's
    packages, so `pip install` in a build lands in the build, not the workshop."""
    import site

    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt", clear=True).create(path)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = path / "lib" / version / "site-packages"
    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    (site_packages / "workshop-base.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs) + "\n")
    bin_dir = path / "bin"
    for tool, module in (("pip", "pip"), ("pip3", "pip"), ("pytest", "pytest"), ("py.test", "pytest")):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{bin_dir / "python"}" -m {module} "$@"\n')
        wrapper.chmod(0o755)


def _select(src: Path, fileset: buildspec.FileSet, what: str) -> list[tuple[str, Path]]:
    """(name in the artifact, file) for the files a fileset selects."""
    try:
        base = build_io.safe_join(src, fileset.base_directory) if fileset.base_directory.strip("./") else src
    except BuildIOError:
        raise PhaseFailed("CLIENT_ERROR", f"invalid base-directory {fileset.base_directory}") from None
    if not base.is_dir():
        raise PhaseFailed("CLIENT_ERROR", f"no matching base directory path found for {fileset.base_directory}")
    chosen: dict[Path, None] = {}
    for pattern in fileset.files:
        for path in _glob(base, pattern):
            chosen[path] = None
    for pattern in fileset.exclude_paths:
        for path in _glob(base, pattern):
            chosen.pop(path, None)
    real_src = src.resolve()
    files = []
    for path in chosen:
        if not path.resolve().is_relative_to(real_src):  # a link out of the build's folder
            continue
        name = path.name if fileset.discard_paths else path.relative_to(base).as_posix()
        files.append((name, path))
    if not files:
        raise PhaseFailed("CLIENT_ERROR", f"no matching {what} paths found")
    return sorted(files)


def _glob(base: Path, pattern: str):
    pattern = pattern.strip()
    if not pattern or pattern.startswith("/") or ".." in Path(pattern).parts:
        return []
    if pattern.endswith("/"):
        pattern += "**/*"
    return [p for p in base.glob(pattern) if p.is_file()]


def _zip(files: list[tuple[str, Path]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            archive.write(path, name)
    return buffer.getvalue()


def _expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), text)


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        pass


_runner: BuildRunner | None = None
_runner_lock = threading.Lock()


def get_runner() -> BuildRunner:
    global _runner
    if _runner is None:
        with _runner_lock:
            if _runner is None:
                try:
                    workers = int(os.environ.get("WORKSHOP_CODEBUILD_WORKERS", "4"))
                except ValueError:
                    workers = 4
                try:
                    per_account = int(os.environ.get("WORKSHOP_CODEBUILD_BUILDS_PER_ACCOUNT", "0")) or None
                except ValueError:
                    per_account = None
                _runner = BuildRunner(max(1, workers), per_account)
                atexit.register(_runner.shutdown)
    return _runner


@services.on("codebuild.build-queued")
def _queued(build) -> None:
    get_runner().submit(build)


@services.on("codebuild.build-stop-requested")
def _stop_requested(build) -> None:
    get_runner().stop(build)


@services.on("codebuild.backend-reset")
def _backend_reset(account_id: str, region: str) -> None:
    get_runner().forget(account_id, region)


@services.on_account_reset
def _reset_account(account_id: str) -> None:
    """Stop the account's builds and delete their folders."""
    get_runner().forget(account_id)
    shutil.rmtree(runtime.state_dir() / "codebuild" / account_id, ignore_errors=True)


def _publish_metrics(build, status: str) -> None:
    """AWS/CodeBuild per project and account-wide: Builds, SucceededBuilds, FailedBuilds, Duration."""
    from workshop.cloud.services.cloudwatch import aws_metrics

    record = build.to_dict()
    start, end = record.get("startTime"), record.get("endTime")
    values = {"Builds": (1.0, "Count"),
              "SucceededBuilds": (1.0 if status == "SUCCEEDED" else 0.0, "Count"),
              "FailedBuilds": (1.0 if status in ("FAILED", "FAULT", "TIMED_OUT") else 0.0, "Count")}
    if start is not None and end is not None:
        values["Duration"] = (max(0.0, (end - start).total_seconds()), "Seconds")
    aws_metrics.publish(build.account_id, build.region, "AWS/CodeBuild", values,
                        [{"ProjectName": build.project_name}, {}], end)
