"""The engine that runs Lambda handlers: warm worker processes per function
version (``bootstrap.py``, more than one only under concurrent load), recycled
when the code or configuration changes, with AWS's timeouts and error payloads;
each invocation's output goes to CloudWatch Logs and its metrics to CloudWatch,
stamped when the request arrived (as AWS stamps them) and announced to the alarm
evaluator until they land. A caller that finds every worker of its version busy
waits its turn. It works on backends and the clock, never on requests."""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from workshop.cloud import class_mode, containment, persistence, runtime, sandbox, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.awslambda.invocation import (
    NODE_RUNTIMES,
    RESERVED_ENV,
    CodeError,
    FunctionSpec,
    Invocation,
    Outcome,
    Throttled,
)
from workshop.cloud.services.awslambda.validation import UNZIPPED_LIMIT
from workshop.cloud.services.cloudwatch import alarm_evaluator

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
NODE_BOOTSTRAP = Path(__file__).with_name("bootstrap.js")
INIT_TIMEOUT_SECONDS = 10.0          # AWS's limit on a cold start's init phase (the handler's import)
RUNTIME_START_SECONDS = 120.0        # the interpreter's own start: the cloud's cost, slow on a loaded machine
QUEUE_SECONDS = 300.0                # a caller waits this long for a busy version's worker before a 429
MAX_WORKERS_PER_VERSION = 4          # concurrent executions of one version
MAX_WORKERS = 32                     # all functions together; idle ones are evicted first
IDLE_SECONDS = 600.0                 # a warm worker unused this long (real time) is stopped
MAX_EVENT_CHARS = 256 * 1024         # CloudWatch Logs' limit on one event
MAX_OUTPUT_BYTES = 4 * 1024 * 1024   # what one invocation's output may cost the cloud
# Announced after each invocation of a function with active tracing (spec, invocation,
# outcome, end: when it ended, epoch seconds); X-Ray subscribes and keeps its segments.
INVOCATION_TRACED = "lambda.invocation-traced"


class _WorkerGone(Exception):
    pass


def _error_payload(message: str, error_type: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _iso_now() -> str:
    return get_clock().now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Worker:
    """One warm execution environment: a bootstrap process for one function version."""

    def __init__(self, spec: FunctionSpec, work_dir: Path):
        self.spec = spec
        self.id = uuid.uuid4().hex
        self.stream = f"{get_clock().now():%Y/%m/%d}/[{spec.version}]{self.id}"
        self.code_dir: Path | None = None
        self.log_path = work_dir / f"{self.id}.log"
        self.home = work_dir / self.id
        self.proc: containment.JobProcess | None = None
        # The execution environment: everything the worker starts goes when it is stopped.
        self.box = containment.Job("lambda", containment.for_function(spec.memory_size, spec.runtime))
        self.ready = False
        self.started = False          # the runtime said it is up (before the handler's init)
        self.busy = True
        self.retired = False          # set when its function changed or went away while it ran
        self.last_used = time.monotonic()
        self._buf = bytearray()

    # -- process ------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        spec = self.spec
        env = {k: v for k, v in spec.environment if k not in RESERVED_ENV}
        python_bin = os.path.dirname(sys.executable)
        if spec.runtime in NODE_RUNTIMES:
            # AWS's Node.js runtimes carry the AWS SDK v3: here, the machine's global node_modules.
            env["NODE_PATH"] = ":".join(node_modules())
        env.update({
            "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            # Libraries that look for a home (botocore's config files) find an empty one,
            # never the cloud host's ~/.aws.
            "HOME": str(self.home),
            "AWS_CONFIG_FILE": str(self.home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / ".aws" / "credentials"),
            "LAMBDA_TASK_ROOT": str(self.code_dir),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            # The account's own credentials (the access key is the account), never the host's.
            "AWS_ACCESS_KEY_ID": spec.account_id,
            "AWS_SECRET_ACCESS_KEY": class_mode.secret_for(spec.account_id),
            "AWS_ENDPOINT_URL": runtime.endpoint(),
        })
        return env

    def start(self, code_dir: Path) -> None:
        self.code_dir = code_dir
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as early_errors:
            # As root, the worker runs as the account's own user: its home and log are its own.
            sandbox.prepare_dir(self.spec.account_id, self.home)
            sandbox.prepare_dir(self.spec.account_id, self.log_path)
            if self.spec.runtime in NODE_RUNTIMES:
                command = [node_binary(), str(NODE_BOOTSTRAP), str(self.log_path)]
            else:
                command = [sys.executable, "-u", "-P", str(BOOTSTRAP), str(self.log_path)]
            self.proc = self.box.spawn(
                command,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=early_errors,
                cwd=self.code_dir, env=self._environment(), who=sandbox.identity(self.spec.account_id))

    def kill(self) -> None:
        """End the execution environment: the worker and whatever its handler started."""
        self.box.end()

    def stop(self) -> None:
        """Kill the process and remove its files."""
        self.kill()
        shutil.rmtree(self.home, ignore_errors=True)
        try:
            self.log_path.unlink()
        except FileNotFoundError:
            pass

    def exit_status(self) -> str:
        code = self.proc.poll() if self.proc else None
        if code is None:
            return "exit status unknown"
        if code < 0:
            return f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
        return f"exit status {code}"

    # -- protocol -----------------------------------------------------------
    def ask(self, message: dict, deadline: float) -> dict | None:
        """Send one request; the reply, or None when the deadline passed first."""
        try:
            self.proc.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise _WorkerGone() from None
        return self.read_reply(deadline)

    def read_reply(self, deadline: float) -> dict | None:
        """The next line the runtime sends, or None when the deadline passed first."""
        fd = self.proc.stdout.fileno()
        while True:
            newline = self._buf.find(b"\n")
            if newline >= 0:
                line = bytes(self._buf[:newline])
                del self._buf[:newline + 1]
                return json.loads(line)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if containment.readable(fd, remaining):
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise _WorkerGone()
                self._buf += chunk

    def read_output(self) -> list[str]:
        """What the function printed since the invocation began (bounded, as CloudWatch Logs is)."""
        try:
            with open(self.log_path, "rb") as output:
                size = os.fstat(output.fileno()).st_size
                skipped = max(0, size - MAX_OUTPUT_BYTES)
                output.seek(skipped)
                text = output.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        lines = [line if len(line) <= MAX_EVENT_CHARS else line[:MAX_EVENT_CHARS] + " [truncated]"
                 for line in text.splitlines()]
        if skipped:
            lines.insert(0, f"[{skipped} bytes of output before this were not kept]")
        return lines


class FunctionRunner:
    """Workers for every function version of every account, and the invocations they run."""

    def __init__(self) -> None:
        self._pools: dict[tuple, list[Worker]] = {}
        self._cond = threading.Condition()
        self._code_lock = threading.Lock()
        self._telemetry_lock = threading.RLock()
        self._async = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lambda-event")
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()

    # -- public -------------------------------------------------------------
    def invoke(self, spec: FunctionSpec, invocation: Invocation) -> Outcome:
        """Run one invocation synchronously (RequestResponse); Throttled when no worker came free."""
        token = alarm_evaluator.expect_data(spec.account_id, spec.region, invocation.received)
        try:
            return self._invoke(spec, invocation)
        finally:
            alarm_evaluator.data_landed(token)

    def _invoke(self, spec: FunctionSpec, invocation: Invocation) -> Outcome:
        try:
            worker = self._acquire(spec)
        except Throttled:
            self.record_throttle(spec, invocation)
            raise
        healthy = False
        try:
            outcome, healthy = self._run(worker, invocation)
        finally:
            self._release(worker, healthy)
        return outcome

    def submit(self, spec: FunctionSpec, invocation: Invocation) -> None:
        """Run one invocation in the background (the Event invocation type)."""
        # Its metrics are on their way from now on, however long it queues.
        token = alarm_evaluator.expect_data(spec.account_id, spec.region, invocation.received)

        def run() -> None:
            try:
                self._invoke(spec, invocation)
            except Throttled:
                pass
            except Exception:
                log.exception("asynchronous invocation of %s failed", spec.function_name)
            finally:
                alarm_evaluator.data_landed(token)

        self._async.submit(run)

    def forget(self, account_id: str, region: str | None = None, function_name: str | None = None,
               version: str | None = None) -> None:
        """Stop the workers of an account (optionally one region, function, version)."""
        doomed: list[Worker] = []
        with self._cond:
            for key in list(self._pools):
                acct, reg, name, ver = key
                if acct != account_id or (region and reg != region) or (
                        function_name and name != function_name) or (version and ver != version):
                    continue
                pool = self._pools[key]
                for worker in list(pool):
                    if not worker.busy:
                        pool.remove(worker)
                        doomed.append(worker)
                    else:
                        worker.retired = True      # stopped when its invocation ends
                if not pool:
                    del self._pools[key]
            self._cond.notify_all()
        for worker in doomed:
            worker.stop()

    def worker_count(self) -> int:
        with self._cond:
            return sum(len(pool) for pool in self._pools.values())

    def shutdown(self) -> None:
        self._closed.set()
        with self._cond:
            workers = [w for pool in self._pools.values() for w in pool]
            self._pools.clear()
        for worker in workers:
            worker.stop()

    # -- workers ------------------------------------------------------------
    def _acquire(self, spec: FunctionSpec) -> Worker:
        stale: list[Worker] = []
        started_waiting = time.monotonic()
        # AWS would start another environment; here a caller queues for a worker of its version
        # (a class's traffic on 2 cores keeps them busy), long enough that a caller's own read
        # timeout comes first: a 429 would be a failure AWS does not have at this concurrency.
        patience = max(QUEUE_SECONDS, spec.timeout + INIT_TIMEOUT_SECONDS)
        with self._cond:
            while True:
                pool = self._pools.setdefault(spec.key, [])
                for worker in [w for w in pool if not w.busy and w.spec != spec]:
                    pool.remove(worker)          # code or configuration changed: recycle
                    stale.append(worker)
                idle = [w for w in pool if not w.busy]
                if idle:
                    worker = max(idle, key=lambda w: w.last_used)   # the warmest one
                    worker.busy = True
                    break
                if len([w for w in pool if w.spec == spec]) < MAX_WORKERS_PER_VERSION:
                    stale.extend(self._evict_for_room())
                    worker = Worker(spec, self._work_dir(spec))
                    worker.busy = True
                    pool.append(worker)
                    break
                waited = time.monotonic() - started_waiting
                if waited >= patience:
                    raise Throttled()
                self._cond.wait(min(1.0, patience - waited))
        for old in stale:
            old.stop()
        if worker.proc is None:
            try:
                worker.start(self._code_dir(spec))   # unpacked outside the lock: zips can be large
            except Exception:
                self._release(worker, healthy=False)
                raise
            self._ensure_reaper()
        return worker

    def _evict_for_room(self) -> list[Worker]:
        """Under the lock: make room under MAX_WORKERS by dropping the least recently used idle worker."""
        total = sum(len(pool) for pool in self._pools.values())
        if total < MAX_WORKERS:
            return []
        idle = [(w.last_used, key, w) for key, pool in self._pools.items() for w in pool if not w.busy]
        if not idle:
            return []
        _, key, worker = min(idle, key=lambda item: item[0])
        self._pools[key].remove(worker)
        return [worker]

    def _release(self, worker: Worker, healthy: bool) -> None:
        with self._cond:
            worker.busy = False
            worker.last_used = time.monotonic()
            pool = self._pools.get(worker.spec.key)
            retire = not healthy or worker.retired or pool is None
            if retire and pool is not None and worker in pool:
                pool.remove(worker)
            self._cond.notify_all()
        if retire:
            worker.stop()

    def _ensure_reaper(self) -> None:
        if self._reaper is not None:
            return
        with self._cond:
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="lambda-reaper", daemon=True)
                self._reaper.start()

    def _reap(self) -> None:
        while not self._closed.wait(30.0):
            cutoff = time.monotonic() - IDLE_SECONDS
            doomed = []
            with self._cond:
                for key, pool in list(self._pools.items()):
                    for worker in [w for w in pool if not w.busy and w.last_used < cutoff]:
                        pool.remove(worker)
                        doomed.append(worker)
                    if not pool:
                        del self._pools[key]
            for worker in doomed:
                worker.stop()

    # -- code ---------------------------------------------------------------
    def _work_dir(self, spec: FunctionSpec) -> Path:
        path = runtime.account_dir("lambda", spec.account_id, spec.region) / "workers"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _code_dir(self, spec: FunctionSpec) -> Path:
        """The function's code unpacked once per code hash (shared by its versions)."""
        root = runtime.account_dir("lambda", spec.account_id, spec.region) / "code"
        target = root / hashlib.sha256(spec.code).hexdigest()
        with self._code_lock:
            if target.is_dir():
                return target
            unpack_code(spec.code, target)
        return target

    # -- running ------------------------------------------------------------
    def _run(self, worker: Worker, inv: Invocation) -> tuple[Outcome, bool]:
        spec = worker.spec
        clock = get_clock()
        lines: list[tuple[int, str]] = []

        def emit(message: str) -> None:
            lines.append((int(clock.timestamp() * 1000), message))

        def start_line() -> None:
            emit(f"START RequestId: {inv.request_id} Version: {spec.version}")

        init_ms = None
        healthy = True
        error_payload: bytes | None = None
        payload = b"null"
        duration_ms = 0.0
        memory_mb = 0
        timed_out = False
        phase = "init"
        started = time.monotonic()
        try:
            if not worker.ready:
                own = (f"Node.js {node_version()}" if spec.runtime in NODE_RUNTIMES
                       else f"Python {sys.version.split()[0]}")
                emit(f"INIT_START Runtime Version: {spec.runtime}.workshop\t(runs on the workshop's own {own})")
                if not worker.started:
                    # The interpreter's start is not the function's init: on a machine a class
                    # keeps busy it takes seconds, and AWS's 10 s are for the handler's import.
                    if worker.read_reply(time.monotonic() + RUNTIME_START_SECONDS) is None:
                        raise TimeoutError(INIT_TIMEOUT_SECONDS)
                    worker.started = True
                reply = worker.ask({"op": "init"}, time.monotonic() + INIT_TIMEOUT_SECONDS)
                if reply is None:
                    raise TimeoutError(INIT_TIMEOUT_SECONDS)
                for text in worker.read_output():
                    emit(text)
                init_ms = reply.get("init_ms", 0.0)
                if not reply["ok"]:
                    healthy = False
                    error_payload = json.dumps(dict(reply["error"], requestId=inv.request_id)).encode()
                else:
                    worker.ready = True
            start_line()
            if error_payload is None:
                phase = "invoke"
                deadline_ms = int(clock.timestamp() * 1000 + spec.timeout * 1000)
                started = time.monotonic()
                reply = worker.ask({
                    "op": "invoke", "request_id": inv.request_id, "event": inv.payload.decode("utf-8"),
                    "invoked_arn": inv.invoked_arn, "deadline_ms": deadline_ms,
                    "client_context": inv.client_context,
                    "trace_id": f"Root=1-{int(clock.timestamp()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                }, started + spec.timeout)
                if reply is None:
                    raise TimeoutError(spec.timeout)
                for text in worker.read_output():
                    emit(text)
                duration_ms = reply.get("duration_ms", 0.0)
                memory_mb = reply.get("max_memory_mb", 0)
                if reply["ok"]:
                    payload = reply["payload"].encode("utf-8")
                else:
                    error_payload = json.dumps(reply["error"]).encode()
        except TimeoutError as exc:
            # AWS stops the execution environment of a function that runs out of time.
            limit = float(exc.args[0])
            timed_out, healthy = True, False
            worker.kill()
            for text in worker.read_output():
                emit(text)
            if phase == "init":
                start_line()
            duration_ms = limit * 1000.0
            emit(f"{_iso_now()} {inv.request_id} Task timed out after {limit:.2f} seconds")
            error_payload = _error_payload(
                f"RequestId: {inv.request_id} Error: Task timed out after {limit:.2f} seconds", "Sandbox.Timedout")
        except _WorkerGone:
            # The function ended its own process (sys.exit, os._exit, a crash).
            healthy = False
            duration_ms = (time.monotonic() - started) * 1000.0 if phase == "invoke" else 0.0
            try:
                worker.proc.wait(2)    # let it finish exiting, for its real exit status
            except subprocess.TimeoutExpired:
                pass
            worker.kill()
            for text in worker.read_output():
                emit(text)
            if phase == "init":
                start_line()
            status = worker.exit_status()
            emit(f"RequestId: {inv.request_id} Error: Runtime exited with error: {status}\nRuntime.ExitError")
            error_payload = _error_payload(
                f"RequestId: {inv.request_id} Error: Runtime exited with error: {status}", "Runtime.ExitError")

        emit(f"END RequestId: {inv.request_id}")
        report = (f"REPORT RequestId: {inv.request_id}\tDuration: {duration_ms:.2f} ms\t"
                  f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\tMemory Size: {spec.memory_size} MB\t"
                  f"Max Memory Used: {memory_mb} MB")
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if timed_out:
            report += "\tStatus: timeout"
        emit(report)

        failed = error_payload is not None
        outcome = Outcome(request_id=inv.request_id, payload=error_payload if failed else payload,
                          function_error="Unhandled" if failed else None,
                          executed_version=inv.executed_version,
                          log_text="\n".join(text for _, text in lines) + "\n", duration_ms=duration_ms)
        self._record(worker, inv, lines, outcome)
        return outcome, healthy

    # -- telemetry ----------------------------------------------------------
    def _record(self, worker: Worker, inv: Invocation, lines: list[tuple[int, str]], outcome: Outcome) -> None:
        spec = worker.spec
        try:
            self._write_logs(spec, worker.stream, lines)
        except Exception:
            log.exception("could not write the logs of %s", spec.function_name)
        try:
            self._put_metrics(spec, inv, {
                "Invocations": (1.0, "Count"),
                "Errors": (1.0 if outcome.function_error else 0.0, "Count"),
                "Duration": (outcome.duration_ms, "Milliseconds"),
                "Throttles": (0.0, "Count"),
            })
        except Exception:
            log.exception("could not publish the metrics of %s", spec.function_name)
        if spec.tracing_mode == "Active":   # X-Ray keeps the invocation's segments
            try:
                services.announce(INVOCATION_TRACED, spec=spec, invocation=inv, outcome=outcome,
                                  end=get_clock().timestamp())
            except Exception:
                log.exception("could not trace the invocation of %s", spec.function_name)

    def record_throttle(self, spec: FunctionSpec, inv: Invocation) -> None:
        self._put_metrics(spec, inv, {"Throttles": (1.0, "Count")})

    def _write_logs(self, spec: FunctionSpec, stream: str, lines: list[tuple[int, str]]) -> None:
        from workshop.cloud.services.logs.models import logs_backend

        backend = logs_backend(spec.account_id, spec.region)
        persistence.changed(spec.account_id)
        events = [{"timestamp": ts, "message": text} for ts, text in lines]
        # Re-entrant: a subscription filter on this group may invoke a function that logs too.
        with self._telemetry_lock:
            backend.ensure_log_group(spec.log_group)
            backend.ensure_log_stream(spec.log_group, stream)
            backend.put_log_events(spec.log_group, stream, events, emf=True)   # EMF lines become metrics

    def _put_metrics(self, spec: FunctionSpec, inv: Invocation, values: dict[str, tuple[float, str]]) -> None:
        from workshop.cloud.services.cloudwatch import aws_metrics

        name = {"FunctionName": spec.function_name}
        dimension_sets = [name]
        if inv.resource:
            dimension_sets.append({**name, "Resource": inv.resource})
        if inv.via_alias:
            dimension_sets.append({**name, "ExecutedVersion": inv.executed_version})
        # Stamped when the request arrived, as AWS does ("the timestamp on a metric reflects when
        # the function was invoked").
        aws_metrics.publish(spec.account_id, spec.region, "AWS/Lambda", values, dimension_sets, inv.received)


def unpack_code(code: bytes, target: Path) -> None:
    """Unzip a function's code into ``target`` (atomically: a half-unpacked folder is never used)."""
    import io

    if not code:
        raise CodeError("the function has no code")
    try:
        archive = zipfile.ZipFile(io.BytesIO(code))
    except zipfile.BadZipFile:
        raise CodeError("Could not unzip uploaded file. Please check your file, then try to upload again.") from None
    with archive:
        if sum(info.file_size for info in archive.infolist()) > UNZIPPED_LIMIT:
            raise CodeError(f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes")
        partial = target.with_name(target.name + f".{uuid.uuid4().hex}.partial")
        archive.extractall(partial)   # extractall drops absolute and '..' parts of member names
    partial.rename(target)


def node_binary() -> str:
    """The machine's `node` (Node.js runtimes run on it); CodeError when there is none."""
    found = shutil.which("node")
    if not found:
        raise CodeError("the Node.js runtimes need `node` on the cloud's machine (it has none)")
    return found


def node_version() -> str:
    try:
        return subprocess.run([node_binary(), "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip().lstrip("v")
    except (OSError, subprocess.SubprocessError, CodeError):
        return "unknown"


def node_modules() -> list[str]:
    """Global node_modules folders (where `npm install -g` put the AWS SDK)."""
    found = []
    node = shutil.which("node")
    prefixes = [str(Path(os.path.realpath(node)).parent.parent)] if node else []
    for prefix in prefixes + ["/usr/local", "/usr"]:
        folder = os.path.join(prefix, "lib", "node_modules")
        if os.path.isdir(folder) and folder not in found:
            found.append(folder)
    return found


_runner: FunctionRunner | None = None
_runner_lock = threading.Lock()


def get_runner() -> FunctionRunner:
    """The cloud's one function runner (created on first use)."""
    global _runner
    if _runner is None:
        with _runner_lock:
            if _runner is None:
                _runner = FunctionRunner()
                atexit.register(_runner.shutdown)
    return _runner


@services.on("lambda.invoke")
def _invoke(spec: FunctionSpec, invocation: Invocation) -> Outcome:
    return get_runner().invoke(spec, invocation)


@services.on("lambda.invocation-queued")
def _queued(spec: FunctionSpec, invocation: Invocation) -> None:
    get_runner().submit(spec, invocation)


@services.on("lambda.function-deleted")
def _function_deleted(account_id: str, region: str, function_name: str, qualifier: str | None) -> None:
    get_runner().forget(account_id, region, function_name, qualifier)


@services.on_account_reset
def _reset_account(account_id: str) -> None:
    """A reset account keeps no warm environments and no unpacked code."""
    get_runner().forget(account_id)
    shutil.rmtree(runtime.state_dir() / "lambda" / account_id, ignore_errors=True)
