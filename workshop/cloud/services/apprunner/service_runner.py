"""App Runner's engine: each service's instance runs its image through the ECS task engine
(task_runner.step: the image from the cloud's registry, chrooted or in podman, its output in
CloudWatch Logs at /aws/apprunner/NAME/ID/application), is health-checked as App Runner
checks (TCP, or HTTP GET on the path, on the image's port), and is served at the service's
URL by a small local listener (listener.py); operations end on the workshop clock, a new
instance taking traffic only once healthy. Auto deployments start on a push to the tag."""

from __future__ import annotations

import http.client
import logging
import shlex
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.apprunner import listener
from workshop.cloud.services.apprunner.models import LOCK, apprunner_backends
from workshop.cloud.services.ecs import task_runner

log = logging.getLogger(__name__)

TICK = 0.2
# AWS seconds an operation takes at least (on the workshop clock); a deployment also waits
# for its new instance to pass its health check, which is real work.
DURATIONS = {"CREATE_SERVICE": 240, "START_DEPLOYMENT": 180, "UPDATE_SERVICE": 180, "RESUME_SERVICE": 120,
             "PAUSE_SERVICE": 60, "DELETE_SERVICE": 60}
START_GRACE = 30.0          # real seconds of an app's boot in which failed health checks do not count (a loaded
                            # machine: ECS measured a Python check taking ~4 s at load average 15)
MIN_REAL_INTERVAL = 0.5     # health checks at most this often (real seconds) until healthy ...
MIN_REAL_INTERVAL_HEALTHY = 5.0   # ... and this often once healthy

_probes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="apprunner-health")
_backends: dict[tuple[str, str], object] = {}
_runs: dict[str, "ServiceRun"] = {}
_thread: threading.Thread | None = None
_wake = threading.Event()


# -- an instance, shaped as the ECS task engine expects a task ----------------------------

@dataclass
class Container:
    name: str
    image: str
    ws_environment: list
    ws_command: list | None
    essential: bool = True
    last_status: str = "PENDING"
    exitCode: int | None = None
    reason: str | None = None
    network_bindings: list = field(default_factory=list)
    health_status: str = "UNKNOWN"
    image_digest: str | None = None
    runtime_id: str | None = None


@dataclass
class Definition:
    container_definitions: list
    memory: str
    cpu: str
    network_mode: str = "awsvpc"


class Instance:
    """One App Runner instance: a task for task_runner.step, and its health as App Runner sees it."""

    def __init__(self, service):
        image = service.image()
        config = image["ImageConfiguration"]
        self.id = uuid.uuid4().hex
        self.task_arn = f"{service.arn}/instance/{self.id}"
        self._account_id = service.account_id
        self.status = "PROVISIONING"
        self.desired_status = "RUNNING"
        self.ws_since = time.time()
        self.memory = service.instance["Memory"]
        self.stop_code = self.stopped_reason = None
        self.ws_failed = False
        self.version = 1
        port = int(config["Port"])
        environment = [{"name": k, "value": v} for k, v in (config.get("RuntimeEnvironmentVariables") or {}).items()]
        command = shlex.split(config["StartCommand"]) if config.get("StartCommand") else None
        self.containers = [Container("application", image["ImageIdentifier"], environment, command)]
        spec = {"name": "application", "image": image["ImageIdentifier"], "essential": True,
                "portMappings": [{"containerPort": port}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": f"/aws/apprunner/{service.name}/{service.id}/application",
                    "awslogs-region": service.region, "awslogs-stream-prefix": "instance",
                    "awslogs-create-group": "true"}}}
        if command:
            spec["entryPoint"] = []     # App Runner's start command replaces the image's own
        self.definition = Definition([spec], service.instance["Memory"], service.instance["Cpu"])
        self.health = dict(service.health)
        self.passes = self.failures = 0
        self.healthy = False
        self.checked = 0.0
        self.probe: Future | None = None
        self.running_since: float | None = None

    @property
    def last_status(self) -> str:
        return self.status

    @last_status.setter
    def last_status(self, value: str) -> None:
        self.status = value

    def port(self) -> int | None:
        bindings = self.containers[0].network_bindings
        return bindings[0]["hostPort"] if bindings else None

    def failed(self) -> str | None:
        """Why this instance cannot serve (None while it can or may yet)."""
        if self.status == "STOPPED" or self.desired_status == "STOPPED":
            return self.stopped_reason or "the instance stopped"
        if self.failures >= int(self.health.get("UnhealthyThreshold", 5)):
            return (f"health check failed {self.failures} times in a row "
                    f"({self.health.get('Protocol')} on port {self.containers[0].network_bindings[0]['containerPort']}"
                    + (f", path {self.health.get('Path')}" if self.health.get("Protocol") == "HTTP" else "") + ")")
        return None


@dataclass
class ServiceRun:
    """What runs for one service (the engine's, never pickled)."""
    active: Instance | None = None
    candidate: Instance | None = None
    candidate_for: str | None = None    # the operation (or replacement) the candidate is for
    leaving: list = field(default_factory=list)


# -- what the models announce --------------------------------------------------------------

@services.on("apprunner.url-opened")
def _url_opened(service_arn: str, account_id: str, region: str, preferred_port: int | None = None) -> int:
    return listener.open(service_arn, account_id, region, preferred_port)


@services.on("apprunner.operation-started")
def _operation_started(backend, service, operation) -> None:
    _watch(backend)


@services.on("ecr.image-pushed")
def _image_pushed(account_id: str, region: str, repository: str, tag: str | None, digest: str) -> None:
    if not tag or account_id not in dict.keys(apprunner_backends):
        return
    backend = dict.get(dict.__getitem__(apprunner_backends, account_id), region)
    if backend is None:
        return
    for operation in backend.pushed(repository, tag):
        service = backend.services[operation.target_arn]
        _event(service, f"[AppRunner] Image pushed to {repository}:{tag} ({digest}): automatic deployment "
                        f"{operation.id} queued.")


@services.on(persistence.RESTORED)
def _restored(account_id: str) -> None:
    """Instances did not survive the restart: each service's URL is served again (on its
    port when free) and its instance started again; operations cut short go on."""
    for backend in persistence.backends(apprunner_backends, account_id):
        with LOCK:
            for service in backend.live():
                port = listener.open(service.arn, account_id, backend.region_name, service.local_port)
                if port != service.local_port:
                    service.local_port = port
                    persistence.changed(account_id)
        if backend.live():
            _watch(backend)


@services.on_account_reset
def _reset(account_id: str) -> None:
    for key in [k for k in _backends if k[0] == account_id]:
        backend = _backends.pop(key)
        with LOCK:
            for arn in [a for a in _runs if a.split(":")[4] == account_id]:
                _end_run(backend, _runs.pop(arn))
    listener.close_account(account_id)


def _watch(backend) -> None:
    global _thread
    _backends[(backend.account_id, backend.region_name)] = backend
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_loop, name="apprunner-engine", daemon=True)
        _thread.start()
    _wake.set()


def _loop() -> None:
    while True:
        _wake.wait(TICK)
        _wake.clear()
        for key, backend in list(_backends.items()):
            try:
                with LOCK:
                    for service in list(backend.services.values()):
                        if service.status != "DELETED":
                            _tick(backend, service)
            except Exception:
                log.exception("apprunner engine: %s", key)


def serving(service_arn: str) -> tuple[str, int] | None:
    """Where the service's URL sends a request now: its healthy active instance."""
    run = _runs.get(service_arn)
    instance = run.active if run else None
    if instance is None or instance.status != "RUNNING" or not instance.healthy or instance.port() is None:
        return None
    return "127.0.0.1", instance.port()


# -- one service, one tick -------------------------------------------------------------------

def _tick(backend, service) -> None:
    run = _runs.setdefault(service.arn, ServiceRun())
    for instance in [run.active, run.candidate, *run.leaving]:
        if instance is not None:
            _step(backend, instance)
    run.leaving = [i for i in run.leaving if i.status != "STOPPED"]
    operation = next((o for o in backend.operations.get(service.arn, []) if o.status == "IN_PROGRESS"), None)
    if operation is None:
        if service.status == "RUNNING":
            _keep_serving(backend, service, run)
        return
    elapsed = get_clock().aws_seconds(time.time() - _started(operation))
    if operation.type in ("PAUSE_SERVICE", "DELETE_SERVICE"):
        for name in ("active", "candidate"):
            instance = getattr(run, name)
            if instance is not None:
                _stop(instance, "the service was paused" if operation.type == "PAUSE_SERVICE" else "the service was deleted")
                run.leaving.append(instance)
                setattr(run, name, None)
        if run.leaving or elapsed < DURATIONS[operation.type]:
            return
        if operation.type == "PAUSE_SERVICE":
            _finish(backend, service, operation, "SUCCEEDED", "PAUSED")
        else:
            listener.close(service.arn)
            _finish(backend, service, operation, "SUCCEEDED", "DELETED")
            _runs.pop(service.arn, None)
        return
    # CREATE_SERVICE, START_DEPLOYMENT, UPDATE_SERVICE, RESUME_SERVICE: a new instance, healthy, takes over.
    if run.candidate_for != operation.id or run.candidate is None:
        if run.candidate is not None:
            _stop(run.candidate, "replaced by a newer deployment")
            run.leaving.append(run.candidate)
        run.candidate, run.candidate_for = Instance(service), operation.id
        _event(service, f"[AppRunner] {_what(operation)} started (operation {operation.id}): pulling "
                        f"{service.image()['ImageIdentifier']}.")
        return
    why = run.candidate.failed()
    if why:
        _stop(run.candidate, why)
        run.leaving.append(run.candidate)
        run.candidate = None
        _failed(backend, service, operation, run, why)
        return
    if run.candidate.healthy and elapsed >= DURATIONS[operation.type]:
        if run.active is not None:
            _stop(run.active, "replaced by a new deployment")
            run.leaving.append(run.active)
        run.active, run.candidate = run.candidate, None
        service.deployed_digest = run.active.containers[0].image_digest
        _event(service, f"[AppRunner] {_what(operation)} completed successfully: {service.deployed_digest} "
                        "is serving.")
        _finish(backend, service, operation, "SUCCEEDED", "RUNNING")


def _keep_serving(backend, service, run: ServiceRun) -> None:
    """A RUNNING service whose instance died or went unhealthy gets a new one (no operation)."""
    if run.candidate is not None and run.candidate_for == "replacement":
        why = run.candidate.failed()
        if why:
            _stop(run.candidate, why)
            run.leaving.append(run.candidate)
            run.candidate = None
        elif run.candidate.healthy:
            if run.active is not None:
                _stop(run.active, "replaced: it was unhealthy")
                run.leaving.append(run.active)
            run.active, run.candidate = run.candidate, None
            service.deployed_digest = run.active.containers[0].image_digest
            persistence.changed(backend.account_id)
        return
    if run.candidate is not None:       # a deployment's instance its operation no longer wants
        _stop(run.candidate, "its deployment ended")
        run.leaving.append(run.candidate)
        run.candidate = None
    if run.active is None or run.active.failed():
        if run.active is not None:
            _event(service, f"[AppRunner] Instance {run.active.id} is unhealthy ({run.active.failed()}): "
                            "replacing it.")
        run.candidate, run.candidate_for = Instance(service), "replacement"


def _failed(backend, service, operation, run: ServiceRun, why: str) -> None:
    _event(service, f"[AppRunner] {_what(operation)} failed: {why}.")
    if operation.type == "CREATE_SERVICE":
        _finish(backend, service, operation, "FAILED", "CREATE_FAILED", why)
    elif operation.type == "RESUME_SERVICE":
        _finish(backend, service, operation, "FAILED", "PAUSED", why)
    else:
        if operation.previous:          # a failed update rolls its configuration back
            service.source, service.instance, service.health, service.network = operation.previous
        _event(service, "[AppRunner] Rollback completed: the previous version keeps serving.")
        _finish(backend, service, operation, "ROLLBACK_SUCCEEDED", "RUNNING", why)


def _finish(backend, service, operation, status: str, service_status: str, why: str | None = None) -> None:
    backend.finish(service, operation, status, service_status, why)
    _wake.set()


def _what(operation) -> str:
    return {"CREATE_SERVICE": "Service creation", "START_DEPLOYMENT": "Deployment", "UPDATE_SERVICE":
            "Service update", "RESUME_SERVICE": "Service resume"}.get(operation.type, operation.type)


def _started(operation) -> float:
    return operation.started_at or operation.updated_at


# -- instances ---------------------------------------------------------------------------------

def _step(backend, instance: Instance) -> None:
    try:
        task_runner.step(backend, instance, instance.definition)
    except Exception as exc:      # a failure is the instance's, never the engine's
        log.exception("apprunner instance %s", instance.task_arn)
        instance.stopped_reason = instance.stopped_reason or f"the instance failed: {exc}"
        instance.desired_status = "STOPPED"
        task_runner._finish(backend, instance, task_runner._runs.get(instance.task_arn, task_runner.Run()))
        return
    if instance.status == "RUNNING":
        instance.running_since = instance.running_since or time.time()
        _health(instance)


def _stop(instance: Instance, reason: str) -> None:
    if instance.desired_status != "STOPPED":
        instance.desired_status = "STOPPED"
        instance.stopped_reason = instance.stopped_reason or reason


def _end_run(backend, run: ServiceRun) -> None:
    for instance in [run.active, run.candidate, *run.leaving]:
        if instance is not None:
            task_runner._finish(backend, instance, task_runner._runs.get(instance.task_arn, task_runner.Run()))


def _health(instance: Instance) -> None:
    """App Runner's health check on the clock: healthy after HealthyThreshold passes in a
    row, failed after UnhealthyThreshold failures in a row (not counted while the app boots)."""
    now = time.time()
    if instance.probe is not None:
        if not instance.probe.done():
            return
        passed = instance.probe.result()
        instance.probe = None
        if passed:
            instance.failures = 0
            instance.passes += 1
            if instance.passes >= int(instance.health.get("HealthyThreshold", 1)):
                instance.healthy = True
        else:
            instance.passes = 0
            if now - (instance.running_since or now) >= START_GRACE or instance.healthy:
                instance.failures += 1
        return
    floor = MIN_REAL_INTERVAL_HEALTHY if instance.healthy else MIN_REAL_INTERVAL
    if now - instance.checked < max(floor, get_clock().real_seconds(instance.health.get("Interval", 5))):
        return
    port = instance.port()
    if port is None:
        return
    instance.checked = now
    instance.probe = _probes.submit(probe, port, instance.health)


def probe(port: int, health: dict) -> bool:
    """One health check: a TCP connection, or an HTTP GET of the path answered 2xx. The
    timeout is real seconds (the app's own work)."""
    timeout = float(health.get("Timeout", 2))
    try:
        if health.get("Protocol") == "HTTP":
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                conn.request("GET", health.get("Path") or "/", headers={"User-Agent": "AppRunner-HealthCheck"})
                response = conn.getresponse()
                response.read()
                return 200 <= response.status < 300
            finally:
                conn.close()
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except (OSError, http.client.HTTPException):
        return False


# -- the service's own log (what App Runner writes to /aws/apprunner/NAME/ID/service) --------

def _event(service, message: str) -> None:
    try:
        from workshop.cloud.services.logs.models import logs_backend

        logs = logs_backend(service.account_id, service.region)
        group = f"/aws/apprunner/{service.name}/{service.id}/service"
        if group not in logs.groups:
            logs.create_log_group(group, tags={})
        logs.ensure_log_stream(group, "events")
        logs.put_log_events(group, "events", [{"timestamp": int(time.time() * 1000), "message": message}])
        persistence.changed(service.account_id)
    except Exception:   # the learner deleted the group or its stream: App Runner's log drops the line
        log.debug("apprunner event log of %s", service.arn, exc_info=True)
