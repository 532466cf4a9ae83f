"""The pipeline runner: the engine that moves executions through their stages.
A bounded pool of workers advances one execution at a time each (stages in
order, actions by runOrder, one execution per stage as the execution mode
says); actions that wait (builds, approvals, deployments) are polled on a
timer, never by a blocked thread. It works on backends only, never requests."""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import os
import re
import shutil
import threading
import time
from collections import deque

from workshop.cloud import runtime, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.codepipeline.actions import ActionContext, ActionFailed, Result, handler_for
from workshop.cloud.services.codepipeline.models import ActionRun, StageRun

log = logging.getLogger("workshop.cloud.codepipeline")

ACTION_PICKUP_SECONDS = 2  # AWS seconds between an action's start and its job being picked up

_VARIABLE = re.compile(r"#\{([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_]+)\}")


class PipelineRunner:
    def __init__(self, workers: int):
        self.workers = workers
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: deque = deque()
        self._timers: list = []  # heap of (monotonic due, seq, execution)
        self._timer_wake = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- what the backend asks ---------------------------------------------------
    def kick(self, execution) -> None:
        """Advance this execution soon (something it may wait for has changed)."""
        with self._lock:
            if self._closed:
                return
            self._start_threads()
            if execution.running:
                execution.again = True
                return
            if execution.queued:
                return
            execution.queued = True
            self._queue.append(execution)
            self._ready.notify()

    def schedule(self, execution, delay: float) -> None:
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + max(0.0, delay), next(self._seq), execution))
            self._timer_wake.notify()

    def forget(self, account_id: str, region: str | None = None) -> None:
        """The account (or one region of it) was reset: its executions end where they are."""
        with self._lock:
            doomed = [e for e in list(self._queue) + [t[2] for t in self._timers]
                      if e.account_id == account_id and (region is None or e.region == region)]
            self._queue = deque(e for e in self._queue if e not in doomed)
            self._timers = [t for t in self._timers if t[2] not in doomed]
            heapq.heapify(self._timers)
        for execution in doomed:
            execution.status = "Cancelled"

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._timers.clear()
            self._ready.notify_all()
            self._timer_wake.notify_all()

    # -- threads ------------------------------------------------------------------
    def _start_threads(self) -> None:
        if self._threads:
            return
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"pipeline-runner-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        timer = threading.Thread(target=self._tick, name="pipeline-runner-timer", daemon=True)
        timer.start()
        self._threads.append(timer)

    def _tick(self) -> None:
        """Kick executions whose poll time has come; sleeps without a timeout when idle."""
        while True:
            with self._lock:
                while not self._closed and (not self._timers or self._timers[0][0] > time.monotonic()):
                    timeout = self._timers[0][0] - time.monotonic() if self._timers else None
                    self._timer_wake.wait(timeout)
                if self._closed:
                    return
                _, _, execution = heapq.heappop(self._timers)
            self.kick(execution)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                execution = self._queue.popleft()
                execution.queued = False
                execution.running = True
                execution.again = False
            try:
                self._advance(execution)
            except Exception:  # an execution never takes the runner down
                log.exception("pipeline runner failed on execution %s", execution.id)
                try:
                    with execution.pipeline.lock:
                        if not execution.finished:
                            _release(execution)
                            execution.set_status("Failed", "The workshop's pipeline runner failed")
                except Exception:
                    log.exception("could not fail execution %s", execution.id)
            finally:
                with self._lock:
                    execution.running = False
                    again = execution.again
                if again:
                    self.kick(execution)

    # -- one execution -----------------------------------------------------------------
    def _advance(self, execution) -> None:
        lock = execution.pipeline.lock
        with lock:
            work = self._next_step(execution)
        for _ in range(1000):  # a bound, never reached by a sane pipeline
            if work is None:
                return
            decided = False
            for index, (kind, run) in enumerate(work):
                if kind == "abandon":
                    self._call(lambda h, c: h.abandon(c), run)
                    continue
                result = self._call((lambda h, c: h.start(c)) if kind == "start" else (lambda h, c: h.poll(c)),
                                    run)
                with lock:
                    self._record(execution, run, result)
                    if index == len(work) - 1:
                        # What the last result decides (the stage's and the execution's status) in
                        # the same hold: no reader sees an action Failed in a stage still InProgress.
                        work, decided = self._next_step(execution), True
            if not decided:
                with lock:
                    work = self._next_step(execution)

    def _call(self, method, run) -> Result | None:
        handler = handler_for(run.declaration["actionTypeId"])
        if handler is None:
            type_id = run.declaration["actionTypeId"]
            return Result.failed(f"The workshop cloud does not run {type_id.get('category')} actions of provider "
                                 f"{type_id.get('provider')} (owner {type_id.get('owner')})", "JobFailed")
        try:
            if not run.started and run.state.get("config") is None:
                run.state["config"] = resolve_configuration(run)
            ctx = ActionContext(run, run.state["config"])
            return method(handler, ctx)
        except ActionFailed as failure:
            return Result.failed(failure.message, failure.code)
        except Exception as exc:
            log.exception("action %s of execution %s", run.name, run.execution.id)
            return Result.failed(f"The workshop cloud failed to run the action: {type(exc).__name__}: {exc}")

    def _record(self, execution, run, result: Result | None) -> None:
        run.started = True
        if result is None or run.done:  # abandoned meanwhile
            return
        if result.status == "InProgress":
            run.next_poll = None if result.poll_after is None else time.monotonic() + result.poll_after
            if result.poll_after is not None:
                self.schedule(execution, result.poll_after)
            return
        run.next_poll = None
        run.finish(result.status, result.summary, result.code)
        if result.status == "Succeeded":
            for artifact in run.output_artifacts:
                execution.artifacts[artifact["name"]] = artifact["s3location"]
            namespace = run.declaration.get("namespace")
            if namespace:
                execution.namespaces[namespace] = dict(run.output_variables)
        execution.updated = run.updated

    def _next_step(self, execution):
        """Under the pipeline's lock: what to do next for this execution.
        None: nothing until a kick or a timer; []: look again at once;
        otherwise (kind, run) items to do outside the lock."""
        if execution.finished:
            return None
        pipeline = execution.pipeline
        names = execution.stage_names
        stage = names[execution.stage_index]
        if execution.stop_mode == "abandon":
            return self._abandon(execution)
        if not execution.in_stage:
            if execution.stop_mode == "finish" or pipeline.deleted:
                _leave_waiting(execution, stage)
                execution.set_status("Stopped")
                return None
            if not self._enter(execution, stage):
                return None
        stage_run = execution.stages[stage]
        runs = stage_run.actions
        active = [r for r in runs.values() if r is not None and not r.done]
        if active:
            moment = time.monotonic()
            starts = [("start", r) for r in active if not r.started and r.next_poll <= moment]
            polls = [("poll", r) for r in active if r.started and (
                r.approval is not None or (r.next_poll is not None and r.next_poll <= moment))]
            return starts + polls or None
        failed = [r for r in runs.values() if r is not None and r.status in ("Failed", "Abandoned")]
        if failed:
            stage_run.status = "Failed"
            _release(execution, stage)
            first = failed[0]
            execution.set_status("Failed", f"Action {first.name} in stage {stage} failed"
                                 + (f": {first.summary}" if first.summary else ""))
            return None
        if execution.stop_mode == "finish":
            unfinished = any(r is None for r in runs.values())
            stage_run.status = "Stopped" if unfinished else "Succeeded"
            _release(execution, stage)
            execution.set_status("Stopped")
            return None
        pending = [a for a in stage_run.declaration["actions"] if runs.get(a["name"]) is None]
        if pending:
            order = min(a.get("runOrder", 1) for a in pending)
            # As in AWS, an action shows InProgress a moment before its job is picked up.
            delay = get_clock().real_seconds(ACTION_PICKUP_SECONDS)
            for action in pending:
                if action.get("runOrder", 1) != order:
                    continue
                run = ActionRun(execution, stage, action)
                run.input_artifacts = [{"name": a["name"], "s3location": dict(execution.artifacts[a["name"]])}
                                       for a in action.get("inputArtifacts") or [] if a["name"] in execution.artifacts]
                run.next_poll = time.monotonic() + delay
                runs[action["name"]] = run
                execution.runs.append(run)
                execution.updated = run.start
            self.schedule(execution, delay)
            return None
        stage_run.status = "Succeeded"
        _release(execution, stage)
        execution.in_stage = False
        execution.stage_index += 1
        if execution.stage_index >= len(names):
            execution.set_status("Succeeded")
            return None
        return []

    def _abandon(self, execution):
        stage = execution.stage_names[execution.stage_index]
        work = []
        if execution.in_stage and stage in execution.stages:
            stage_run = execution.stages[stage]
            for run in stage_run.actions.values():
                if run is not None and not run.done:
                    run.finish("Abandoned", "Abandoned: the execution was stopped")
                    if run.started:
                        work.append(("abandon", run))
            stage_run.status = "Stopped"
            _release(execution, stage)
        else:
            _leave_waiting(execution, stage)
        execution.set_status("Stopped")
        return work or None

    def _enter(self, execution, stage: str) -> bool:
        """Whether the execution may enter the stage now (else it waits, or is superseded)."""
        pipeline = execution.pipeline
        mode = execution.mode
        waiting = pipeline.waiting.setdefault(stage, [])
        if mode == "SUPERSEDED":
            latest = pipeline.executions.get(pipeline.latest_in_stage.get(stage, ""))
            if latest is not None and latest is not execution and latest.sequence > execution.sequence:
                _supersede(execution, latest, stage)
                return False
        blocked = execution.stage_index > 0 and not pipeline.transition(stage).get("enabled", True)
        occupant_id = pipeline.occupant.get(stage)
        if mode != "PARALLEL" and occupant_id and occupant_id != execution.id:
            occupant = pipeline.executions.get(occupant_id)
            if occupant is None or occupant.finished:
                pipeline.occupant.pop(stage, None)
            else:
                blocked = True
        if mode == "QUEUED":  # first come, first served
            ahead = waiting[:waiting.index(execution.id)] if execution.id in waiting else waiting
            if any(i in pipeline.executions and not pipeline.executions[i].finished for i in ahead):
                blocked = True
        if blocked:
            if execution.id not in waiting:
                if mode == "SUPERSEDED":
                    for other_id in list(waiting):
                        other = pipeline.executions.get(other_id)
                        if other is None or other.finished:
                            waiting.remove(other_id)
                        elif other.sequence < execution.sequence:
                            _supersede(other, execution, stage)
                        else:
                            _supersede(execution, other, stage)
                            return False
                waiting.append(execution.id)
            return False
        if execution.id in waiting:
            waiting.remove(execution.id)
        stage_decl = next(s for s in execution.declaration["stages"] if s["name"] == stage)
        execution.stages[stage] = StageRun(stage_decl)
        execution.in_stage = True
        if mode != "PARALLEL":
            pipeline.occupant[stage] = execution.id
        pipeline.latest_in_stage[stage] = execution.id
        return True


def _leave_waiting(execution, stage: str) -> None:
    waiting = execution.pipeline.waiting.get(stage, [])
    if execution.id in waiting:
        waiting.remove(execution.id)


def _release(execution, stage: str | None = None) -> None:
    """The execution leaves its stage: the next one waiting there may enter."""
    pipeline = execution.pipeline
    stage = stage or execution.stage_names[execution.stage_index]
    if pipeline.occupant.get(stage) == execution.id:
        pipeline.occupant.pop(stage, None)
    runner = get_runner()
    for other_id in list(pipeline.waiting.get(stage, [])):
        other = pipeline.executions.get(other_id)
        if other is not None:
            runner.kick(other)


def _supersede(execution, newer, stage: str) -> None:
    _leave_waiting(execution, stage)
    execution.set_status("Superseded", f"Superseded by execution {newer.id}")


def resolve_configuration(run) -> dict[str, str]:
    """The action's configuration with #{Namespace.Variable} references filled in."""
    execution = run.execution
    variables = {"variables": {v["name"]: v["resolvedValue"] for v in execution.variables},
                 "codepipeline": {"PipelineExecutionId": execution.id}}
    variables.update(execution.namespaces)
    resolved = {}
    for key, value in (run.declaration.get("configuration") or {}).items():
        text = str(value)

        def replace(match: re.Match) -> str:
            namespace, name = match.group(1), match.group(2)
            if namespace not in variables or name not in variables[namespace]:
                raise ActionFailed(f"Unable to resolve the variable #{{{namespace}.{name}}} in configuration "
                                   f"{key}: no earlier action of this execution produced it", "ConfigurationError")
            return variables[namespace][name]

        resolved[key] = _VARIABLE.sub(replace, text)
    run.resolved_configuration = resolved
    return resolved


_runner: PipelineRunner | None = None
_runner_lock = threading.Lock()


def get_runner() -> PipelineRunner:
    global _runner
    if _runner is None:
        with _runner_lock:
            if _runner is None:
                try:
                    workers = int(os.environ.get("WORKSHOP_CODEPIPELINE_WORKERS", "4"))
                except ValueError:
                    workers = 4
                _runner = PipelineRunner(max(1, workers))
                atexit.register(_runner.shutdown)
    return _runner


@services.on("codepipeline.execution-changed")
def _execution_changed(execution) -> None:
    get_runner().kick(execution)


@services.on("codepipeline.backend-reset")
def _backend_reset(account_id: str, region: str) -> None:
    get_runner().forget(account_id, region)


@services.on_account_reset
def _reset_account(account_id: str) -> None:
    """Stop the account's executions and delete its working folders."""
    get_runner().forget(account_id)
    shutil.rmtree(runtime.state_dir() / "codepipeline" / account_id, ignore_errors=True)
