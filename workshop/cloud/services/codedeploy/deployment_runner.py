"""The deployment runner: the engine that carries CodeDeploy deployments from
Created to Succeeded, Failed or Stopped. One thread per active deployment:
Lambda deployments shift the alias's traffic step by step (canary, linear,
all at once) and call the hook functions; Server deployments go instance by
instance as minimum healthy hosts allows (``agent.py`` does each instance).
AWS's waits (bake times, linear intervals) run on the workshop clock; while a
deployment runs, the group's alarms are watched and one in ALARM at any moment
since it started stops it (a scaled alarm period can begin and end between two
looks). A bake ends only once the alarms have judged every request it served:
the scaled bake is seconds long, while a new version's cold start and a loaded
machine's delays are not scaled, so without that a bad canary could finish unjudged.
It works on backends and the clock only, never on requests."""

from __future__ import annotations

import atexit
import json
import logging
import shutil
import threading
import uuid
from typing import Any

from workshop.cloud import runtime, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudtrail import recorder
from workshop.cloud.services.codedeploy import ecs_runner

log = logging.getLogger("workshop.cloud.codedeploy")

CHECK_EVERY = 0.1     # real seconds between looks at the alarms and stop requests
POLL = 0.02           # real seconds between looks at running instances

NO_INSTANCES = ("The deployment failed because no instances were found for your deployment group. Check your "
                "deployment group settings to make sure the tags for your Amazon EC2 instances, on-premises "
                "instances or Auto Scaling groups correctly identify the instances you want to deploy to, and "
                "then try again.")
HEALTH_CONSTRAINTS = ("The overall deployment failed because too many individual instances failed deployment, "
                      "too few healthy instances are available for deployment, or some instances in your "
                      "deployment group are experiencing problems.")
ALARM_ACTIVE = ("One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, "
                "and the affected deployments have been stopped. Activated alarms: {names}")
MANUAL_STOP = "The deployment was stopped by a user (StopDeployment)."


class Halt(Exception):
    """The deployment ends here: its status, error code and message, and what
    caused it (failure, alarm, request; None: no rollback applies)."""

    def __init__(self, status: str, code: str, message: str, cause: str | None):
        super().__init__(message)
        self.status, self.code, self.message, self.cause = status, code, message, cause


class Reset(Exception):
    """The account was reset: the deployment is gone, nothing is recorded."""


class Job:
    """A deployment as the runner holds it: its stop signal and running scripts."""

    def __init__(self, backend, deployment):
        self.backend = backend
        self.deployment = deployment
        self.stop_event = threading.Event()
        self.reason: str | None = None       # request | alarm | reset
        self._procs: set = set()
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def track(self, proc) -> None:
        with self._lock:
            self._procs.add(proc)
        if self.stopping():
            self._kill_all()

    def untrack(self, proc) -> None:
        with self._lock:
            self._procs.discard(proc)

    def request_stop(self, reason: str) -> None:
        with self._lock:
            if self.reason is None or reason == "reset":
                self.reason = reason
        self.stop_event.set()
        self._kill_all()

    def _kill_all(self) -> None:
        from workshop.cloud.services.codedeploy.agent import _kill

        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill(proc)


class DeploymentRunner:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    # -- what the backend asks ---------------------------------------------
    def submit(self, backend, deployment) -> None:
        job = Job(backend, deployment)
        with self._lock:
            self._jobs[deployment.id] = job
        job.thread = threading.Thread(target=self._run, args=(job,), name=f"codedeploy-{deployment.id}",
                                      daemon=True)
        job.thread.start()

    def stop(self, deployment, reason: str) -> None:
        with self._lock:
            job = self._jobs.get(deployment.id)
        if job is not None:
            job.request_stop(reason)

    def forget(self, account_id: str, region: str | None = None) -> None:
        """Stop the account's deployments (their scripts too) without recording anything."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.deployment.account_id == account_id
                    and (region is None or j.deployment.region == region)]
        for job in jobs:
            job.request_stop("reset")
        for job in jobs:
            if job.thread is not None and job.thread is not threading.current_thread():
                job.thread.join(10)

    def active(self) -> int:
        with self._lock:
            return len(self._jobs)

    def shutdown(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.request_stop("reset")

    # -- one deployment ----------------------------------------------------
    def _run(self, job: Job) -> None:
        d, backend = job.deployment, job.backend
        try:
            d.start()
            backend.notify(d, "DeploymentStart")
            outcome: Halt | None = None
            try:
                self._check(job)
                if d.compute_platform == "Lambda":
                    self._lambda(job)
                elif d.compute_platform == "Server":
                    self._server(job)
                else:
                    ecs_runner.run(self, job)
            except Halt as halt:
                outcome = halt
            except Reset:
                return
            except Exception as exc:  # the engine must outlive any one broken deployment
                log.exception("deployment %s failed in the runner", d.id)
                outcome = Halt("Failed", "INTERNAL_ERROR", f"The workshop cloud failed to run the deployment: "
                               f"{type(exc).__name__}: {exc}", None)
            if job.reason == "reset":
                return
            if outcome is None:
                backend.finish_deployment(d, "Succeeded")
                backend.notify(d, "DeploymentSuccess")
                return
            self._fail_targets(d, outcome.message)
            rollback = backend.finish_deployment(d, outcome.status, outcome.code, outcome.message, outcome.cause)
            backend.notify(d, "DeploymentStop" if outcome.status == "Stopped" else "DeploymentFailure")
            if rollback is not None:
                backend.notify(d, "DeploymentRollback")
        except Exception:
            log.exception("deployment %s: recording its end failed", d.id)
        finally:
            with self._lock:
                self._jobs.pop(d.id, None)

    def _check(self, job: Job) -> None:
        """Raise when the deployment must end now: a reset, a stop request, an alarm in ALARM."""
        if job.reason == "reset":
            raise Reset()
        d = job.deployment
        if job.reason == "request" or d.stop_requested == "request":
            raise Halt("Stopped", "MANUAL_STOP", MANUAL_STOP, "request")
        names = d.alarm_names()
        if not names:
            return
        services.ensure_loaded("cloudwatch")
        from workshop.cloud.services.cloudwatch.models import alarm_states, alarms_fired

        since = (d.start_time or d.create_time).timestamp()
        try:
            states = alarm_states(d.account_id, d.region, names)
            # An alarm in ALARM at any moment since the deployment started counts, even if it
            # left ALARM before this look: a scaled period is a second or less, and _settle's
            # wait for the evaluations at the end of a bake saw ALARM then OK go by (under load,
            # 2 of 5 runs of lab 03's slow bad canary ended Succeeded so).
            fired = set(alarms_fired(d.account_id, d.region, names, since))
        except Exception:
            log.debug("reading alarm states failed", exc_info=True)
            states, fired = None, set()
        if states is None or any(n not in states for n in names):
            if d.ignores_alarm_poll_failure():
                states = states or {}
            else:
                missing = [n for n in names if states is None or n not in states]
                job.request_stop("alarm")
                raise Halt("Stopped", "ALARM_ACTIVE",
                           f"The deployment was stopped because CodeDeploy could not retrieve the state of the "
                           f"alarm(s) {', '.join(missing)} from CloudWatch (they do not exist in this account and "
                           "region). Create them, or set ignorePollAlarmFailure.", "alarm")
        alarming = [n for n in names if n in fired]
        if alarming:
            job.request_stop("alarm")
            raise Halt("Stopped", "ALARM_ACTIVE", ALARM_ACTIVE.format(names=", ".join(alarming)), "alarm")

    def _settle(self, job: Job) -> None:
        """The end of a bake: wait until the group's alarms have evaluated every period that
        began before now, with every data point stamped in it (requests still running when the
        bake ends count), then look at them once more. On AWS the bake (minutes) dwarfs an alarm
        period and a cold start; here the bake is scaled and they are not."""
        names = job.deployment.alarm_names()
        if not names:
            return
        services.ensure_loaded("cloudwatch")
        from workshop.cloud.services.cloudwatch import alarm_evaluator

        d = job.deployment
        try:
            alarm_evaluator.evaluated_through(d.account_id, d.region, names, get_clock().timestamp(),
                                              job.stop_event)
        except Exception:   # alarms that cannot be read: _check says what to do about them
            log.debug("waiting for the alarms of %s failed", d.id, exc_info=True)
        self._check(job)

    def _wait(self, job: Job, aws_seconds: float) -> None:
        """Wait out an AWS-imposed delay on the workshop clock, watching alarms and stops."""
        clock = get_clock()
        remaining = float(aws_seconds)
        while remaining > 0:
            self._check(job)
            chunk = min(remaining, clock.aws_seconds(CHECK_EVERY))
            clock.wait(chunk, job.stop_event)
            remaining -= chunk
        self._check(job)

    @staticmethod
    def _fail_targets(d, message: str) -> None:
        """Targets still under way when the deployment ended: the event in progress fails, the rest are skipped."""
        for target in list(d.targets.values()):
            if target.status not in ("InProgress", "Pending"):
                continue
            with d.lock:
                running = [e["lifecycleEventName"] for e in target.events if e["status"] == "InProgress"]
            for name in running:
                target.end(name, "Failed", "UnknownError", message)
            target.skip_rest()
            target.set_status("Failed" if target.touched else "Skipped")

    # -- the Lambda platform -------------------------------------------------
    def _lambda(self, job: Job) -> None:
        d = job.deployment
        spec = d.lambda_spec
        target = next(iter(d.targets.values()))
        services.ensure_loaded("awslambda")
        from moto.awslambda.utils import get_backend

        lam = get_backend(d.account_id, d.region)
        target.set_status("InProgress")
        self._check_lambda(d, lam, spec)

        for event in ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"):
            self._check(job)
            if event == "AllowTraffic":
                target.begin(event)
                self._shift(job, lam, target)
                target.end(event, "Succeeded")
                continue
            hook = spec.hooks.get(event)
            target.begin(event)
            if hook:
                self._lambda_hook(job, lam, target, event, hook)
            target.end(event, "Succeeded")
        target.set_status("Succeeded")

    @staticmethod
    def _check_lambda(d, lam, spec) -> None:
        from moto.awslambda.exceptions import LambdaClientError

        try:
            lam.get_function(spec.function_name)
        except Exception:
            raise Halt("Failed", "INVALID_LAMBDA_FUNCTION",
                       f"The Lambda function {spec.function_name} named in the AppSpec does not exist in this "
                       "account and region.", None) from None
        for version in (spec.current_version, spec.target_version):
            try:
                lam.get_function(spec.function_name, version)
            except Exception:
                raise Halt("Failed", "INVALID_LAMBDA_CONFIGURATION",
                           f"Version {version} of Lambda function {spec.function_name} does not exist: publish it "
                           "before you deploy it.", None) from None
            if version == "$LATEST":
                raise Halt("Failed", "INVALID_LAMBDA_CONFIGURATION",
                           "CurrentVersion and TargetVersion must be published versions, not $LATEST.", None)
        try:
            alias = lam.get_alias(spec.alias, spec.function_name)
        except (LambdaClientError, Exception):
            raise Halt("Failed", "INVALID_LAMBDA_CONFIGURATION",
                       f"The alias {spec.alias} of Lambda function {spec.function_name} does not exist.", None) from None
        if not d.is_rollback and str(alias.function_version) != spec.current_version:
            raise Halt("Failed", "INVALID_LAMBDA_CONFIGURATION",
                       f"The alias {spec.alias} points to version {alias.function_version}, but the AppSpec's "
                       f"CurrentVersion is {spec.current_version}.", None)

    def _shift(self, job: Job, lam, target) -> None:
        d = job.deployment
        spec = d.lambda_spec
        # Nothing to shift between one version and itself: the alias just points at it.
        steps = [(1.0, 0.0)] if spec.current_version == spec.target_version else d.config.traffic_steps()
        baked = False
        for weight, wait in steps:
            self._check(job)
            if weight >= 1.0 and baked:
                self._settle(job)   # every request of the bake judged before all traffic moves
            if weight >= 1.0:
                version, routing = spec.target_version, {}
            else:
                version, routing = spec.current_version, {"AdditionalVersionWeights": {spec.target_version: weight}}
            try:
                lam.update_alias(spec.alias, spec.function_name, version, None, routing)
                recorder.on_behalf(d.account_id, d.region, "codedeploy.amazonaws.com", "lambda", "UpdateAlias",
                                   {"FunctionName": spec.function_name, "Name": spec.alias,
                                    "FunctionVersion": version, "RoutingConfig": routing})
            except Exception as exc:
                raise Halt("Failed", "INVALID_LAMBDA_CONFIGURATION",
                           f"Shifting traffic on alias {spec.alias} of {spec.function_name} failed: {exc}",
                           "failure") from None
            with d.lock:
                target.lambda_info["targetVersionWeight"] = weight
            if wait:
                self._wait(job, wait)
                baked = weight < 1.0

    def _lambda_hook(self, job: Job, lam, target, event: str, function: str) -> None:
        d = job.deployment
        execution_id = str(uuid.uuid4())
        with d.lock:
            d.hook_executions[execution_id] = {"event": event, "status": None}
        payload = json.dumps({"DeploymentId": d.id, "LifecycleEventHookExecutionId": execution_id}).encode()
        outcome: dict[str, Any] = {}

        def invoke() -> None:
            try:
                outcome["result"] = lam.invoke_function(function, None, payload)
            except Exception as exc:
                outcome["error"] = exc

        # The hook runs in real time; the deployment keeps watching alarms and stops meanwhile.
        worker = threading.Thread(target=invoke, name=f"codedeploy-hook-{d.id}", daemon=True)
        worker.start()
        while worker.is_alive():
            self._check(job)
            worker.join(CHECK_EVERY)
        with d.lock:
            execution = d.hook_executions[execution_id]
            execution["done"] = True
            reported = execution.get("status")
        if "error" in outcome:
            message = f"The {event} hook function {function} could not be invoked: {outcome['error']}"
        elif reported == "Failed":
            message = f"The {event} hook function {function} reported Failed for lifecycle event hook execution " \
                      f"{execution_id}."
        elif reported is None and outcome["result"].function_error:
            body = outcome["result"].payload.decode("utf-8", "replace")[:500]
            message = f"The {event} hook function {function} failed: {body}"
        else:
            return
        target.end(event, "Failed", "ScriptFailed", message, function)
        target.skip_rest()
        target.set_status("Failed")
        raise Halt("Failed", "HOOK_EXECUTION_FAILURE", message, "failure")

    # -- the Server platform ---------------------------------------------------
    def _server(self, job: Job) -> None:
        from workshop.cloud.services.codedeploy import agent
        from workshop.cloud.services.codedeploy.models import revision_bytes

        d = job.deployment
        style = d.deployment_style or {}
        if style.get("deploymentType") == "BLUE_GREEN":
            raise Halt("Failed", "MISSING_BLUE_GREEN_DEPLOYMENT_CONFIGURATION",
                       "The workshop cloud runs in-place deployments on the Server platform; a blue/green "
                       "deployment needs a replacement fleet (an Auto Scaling copy), which it does not provide.", None)
        targets = [t for t in d.targets.values() if t.status == "Pending"]
        if not d.targets or not targets:
            raise Halt("Failed", "NO_INSTANCES", NO_INSTANCES, None)
        try:
            bundle = revision_bytes(d.account_id, d.revision)
        except Exception as exc:
            raise Halt("Failed", "REVISION_MISSING", f"The revision could not be read: {exc}", None) from None
        bundle_type = (d.revision.get("s3Location") or {}).get("bundleType", "zip")
        total = len(targets)
        minimum = d.config.minimum_healthy(total)
        if total - minimum < 1 and minimum > 0:
            raise Halt("Failed", "HEALTH_CONSTRAINTS_INVALID",
                       f"The deployment failed because the minimum number of healthy instances ({minimum}) leaves no "
                       f"instance of the {total} to deploy to. Use a deployment configuration with fewer minimum "
                       "healthy hosts, or add instances.", None)
        pending = list(targets)
        running: dict[str, threading.Thread] = {}
        results: dict[str, bool] = {}

        def deploy(target) -> None:
            try:
                ok = agent.InstanceAgent(d, target, bundle, job, bundle_type).run()
            except Exception:
                log.exception("deployment %s: instance %s failed in the agent", d.id, target.target_id)
                target.skip_rest()
                target.set_status("Failed")
                ok = False
            results[target.target_id] = ok

        while pending or running:
            try:
                self._check(job)
            except Halt:
                job.request_stop(job.reason or "alarm")
                for thread in running.values():
                    thread.join()
                raise
            for target_id, thread in list(running.items()):
                if not thread.is_alive():
                    del running[target_id]
                    job.backend.notify(d, "InstanceSuccess" if results.get(target_id) else "InstanceFailure",
                                       d.targets[target_id])
            failed = sum(1 for ok in results.values() if not ok)
            while pending and total - failed - len(running) - 1 >= minimum:
                target = pending.pop(0)
                job.backend.notify(d, "InstanceStart", target)
                thread = threading.Thread(target=deploy, args=(target,), daemon=True,
                                          name=f"codedeploy-{d.id}-{target.target_id}")
                running[target.target_id] = thread
                thread.start()
            if pending and not running:
                raise Halt("Failed", "HEALTH_CONSTRAINTS", HEALTH_CONSTRAINTS, "failure")
            if pending or running:
                job.stop_event.wait(POLL)
        succeeded = sum(1 for ok in results.values() if ok)
        if succeeded < max(minimum, 1):
            raise Halt("Failed", "HEALTH_CONSTRAINTS", HEALTH_CONSTRAINTS, "failure")


_runner: DeploymentRunner | None = None
_runner_lock = threading.Lock()


def get_runner() -> DeploymentRunner:
    global _runner
    if _runner is None:
        with _runner_lock:
            if _runner is None:
                _runner = DeploymentRunner()
                atexit.register(_runner.shutdown)
    return _runner


@services.on("codedeploy.deployment-created")
def _created(backend, deployment) -> None:
    get_runner().submit(backend, deployment)


@services.on("codedeploy.deployment-stop-requested")
def _stop_requested(deployment, reason: str) -> None:
    get_runner().stop(deployment, reason)


@services.on("codedeploy.backend-reset")
def _backend_reset(account_id: str, region: str) -> None:
    get_runner().forget(account_id, region)


@services.on_account_reset
def _reset_account(account_id: str) -> None:
    """Stop the account's deployments (and their scripts) and delete its instances."""
    get_runner().forget(account_id)
    shutil.rmtree(runtime.state_dir() / "codedeploy" / account_id, ignore_errors=True)
