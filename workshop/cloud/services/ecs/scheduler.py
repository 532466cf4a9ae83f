"""ECS's service scheduler: one thread, started by the first task or service, that
moves tasks along their lifecycle (task_runner.step), holds each service's
desiredCount, rolls deployments with minimumHealthyPercent/maximumPercent, trips
the circuit breaker and deployment alarms (rolling back to the last COMPLETED
deployment), registers tasks with their target groups through the ELBv2 backend
as ECS does, writes the service's events, and publishes the AWS/ECS metrics."""

from __future__ import annotations

import logging
import math
import threading
import time

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.ecs import bluegreen, task_runner, task_sets
from workshop.cloud.services.ecs.deployments import add_event, failure_threshold, record_of, start_deployment
from workshop.cloud.services.ecs.models import LOCK, STARTING, STOPPING

log = logging.getLogger(__name__)

TICK = 0.2                      # real seconds between the scheduler's looks
METRIC_PERIOD = 60              # AWS seconds between AWS/ECS data points
STEADY_EVENT_EVERY = 6 * 3600   # ECS repeats "reached a steady state" at most every 6 hours

_backends: dict[tuple[str, str], object] = {}
_thread: threading.Thread | None = None
_wake = threading.Event()
_stop = threading.Event()
_last_metrics: dict[tuple[str, str], float] = {}
_registered: dict[str, list[tuple[str, dict]]] = {}     # task arn -> [(target group arn, target)]
_draining: dict[str, list[tuple[str, dict]]] = {}       # task arn -> targets deregistered, maybe draining


def _watch(backend) -> None:
    global _thread
    _backends[(backend.account_id, backend.region_name)] = backend
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_loop, name="ecs-scheduler", daemon=True)
        _thread.start()
    _wake.set()


@services.on("ecs.tasks-started")
def _tasks_started(backend, tasks) -> None:
    _watch(backend)


@services.on("ecs.task-stop-requested")
def _task_stop(backend, task) -> None:
    _watch(backend)


@services.on("ecs.service-changed")
def _service_changed(backend, service) -> None:
    _watch(backend)


@services.on(persistence.RESTORED)
def _restored(account_id: str) -> None:
    """Running tasks did not survive the restart: STOPPED as after a host loss; services replace them."""
    from moto.ecs.models import ecs_backends

    for backend in persistence.backends(ecs_backends, account_id):
        lost = False
        with LOCK:
            for tasks in backend.tasks.values():
                for task in tasks.values():
                    if task.last_status == "STOPPED" or not hasattr(task, "ws_since"):
                        continue
                    lost = True
                    task_runner.lose(task)
                    task.desired_status = "STOPPED"
                    task.stop_code = task.stop_code or "TerminationNotice"
                    task.stopped_reason = task.stopped_reason or (
                        "Task stopped: the workshop cloud restarted and the task's containers were lost "
                        "(as on a host loss)")
                    for container in task.containers:
                        container.last_status = "STOPPED"
                        if container.exitCode is None:
                            container.reason = "The container's process ended with the cloud"
                    task.stopped_at = task.execution_stopped_at = time.time()
                    task_runner.move(task, "STOPPED", account_id)
            for service in backend.services.values():
                if getattr(service, "ws_service_deployments", None) is not None:
                    _count(backend, service, [t for t in _service_tasks(backend, service)
                                              if t.desired_status == "RUNNING"])
        if lost or any(s.status == "ACTIVE" for s in backend.services.values()):
            _watch(backend)


@services.on_account_reset
def _reset(account_id: str) -> None:
    for key in [k for k in _backends if k[0] == account_id]:
        _backends.pop(key, None)


def _loop() -> None:
    while not _stop.is_set():
        _wake.wait(TICK)
        _wake.clear()
        for key, backend in list(_backends.items()):
            try:
                _tick(backend)
            except Exception:
                log.exception("ecs scheduler: %s", key)


def _tick(backend) -> None:
    elb: list[tuple[str, str, str, dict]] = []
    with LOCK:
        for cluster, tasks in list(backend.tasks.items()):
            for task in list(tasks.values()):
                if task.last_status == "STOPPED" or not hasattr(task, "ws_since"):
                    continue
                before = task.last_status
                try:
                    definition = backend.describe_task_definition(task.task_definition_arn)
                    drained = task.last_status != "DEACTIVATING" or _drained(backend, task)
                    task_runner.step(backend, task, definition, drained)
                except Exception as exc:
                    log.exception("ecs task %s", task.task_arn)
                    task.stopped_reason = task.stopped_reason or f"Task failed: {exc}"
                    task.desired_status = "STOPPED"
                    task_runner._finish(backend, task, task_runner._runs.get(task.task_arn, task_runner.Run()))
                _targets(backend, task, before, elb)
        for service in list(backend.services.values()):
            if getattr(service, "ws_service_deployments", None) is None:
                continue
            try:
                _reconcile(backend, service)
                task_sets.reconcile(backend, service)
            except Exception:
                log.exception("ecs service %s", service.arn)
    _elb_calls(backend, elb)
    _metrics(backend)


# -- load balancers (ECS registers its tasks as the ELB API does) ---------------------------------

def _service_of(backend, task):
    if not (task.group or "").startswith("service:"):
        return None
    return backend.services.get(f"{task.cluster_name}:{task.group[8:]}")


def _targets(backend, task, before: str, elb: list) -> None:
    service = _service_of(backend, task)
    balancers = task_sets.load_balancers(service, task) if service is not None else []
    if not balancers and task.task_arn not in _registered:
        return
    if task.last_status in ("ACTIVATING", "RUNNING") and task.task_arn not in _registered:
        found = []
        groups = getattr(task, "ws_groups", None) or []
        for index, lb in enumerate(balancers):
            # A blue/green deployment's tasks go to its own group (the alternate one, every other time).
            group = groups[index] if index < len(groups) and groups[index] else lb.get("targetGroupArn")
            container = next((c for c in task.containers if c.name == lb.get("containerName")), None)
            binding = next((b for b in (container.network_bindings if container else [])
                            if b.get("containerPort") == lb.get("containerPort")), None)
            if group and binding:
                found.append((group, {"Id": "127.0.0.1", "Port": binding["hostPort"]}))
        _registered[task.task_arn] = found
        elb += [("register", arn, task.task_arn, target) for arn, target in found]
    elif task.last_status not in ("ACTIVATING", "RUNNING") and task.task_arn in _registered:
        _draining[task.task_arn] = _registered.pop(task.task_arn)
        elb += [("deregister", arn, task.task_arn, target) for arn, target in _draining[task.task_arn]]
    if task.last_status == "STOPPED":
        _draining.pop(task.task_arn, None)


def _drained(backend, task) -> bool:
    """No target of the task is draining any more (the ELB engine ends draining after the
    target group's deregistration delay, on the clock); moto alone never drains."""
    if task.task_arn in _registered:
        return False     # its deregistration is not sent yet
    try:
        elb = _elbv2(backend)
        for arn, target in _draining.get(task.task_arn, []):
            states = elb.describe_target_health(arn, [target])
            if states and getattr(states[0], "status", "") == "draining":
                return False
    except Exception:
        return True
    return True


def _elbv2(backend):
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[backend.account_id][backend.region_name]


def _elb_calls(backend, calls: list) -> None:
    for action, arn, task_arn, target in calls:
        try:
            elb = _elbv2(backend)
            if action == "register":
                elb.register_targets(arn, [target])
            else:
                elb.deregister_targets(arn, [target])
            persistence.changed(backend.account_id)
        except Exception as exc:
            log.info("ecs: %s %s with %s: %s", action, task_arn, arn, exc)


def _target_healthy(backend, task) -> bool:
    """Every target group of the task's service says healthy (moto alone reports registered
    targets as it does; the ELB engine's health checks decide when it runs)."""
    targets = _registered.get(task.task_arn)
    if not targets:
        return not (_service_of(backend, task) and _service_of(backend, task).load_balancers)
    try:
        elb = _elbv2(backend)
        for arn, target in targets:
            states = elb.describe_target_health(arn, [target])
            if not states or getattr(states[0], "status", "healthy") != "healthy":
                return False
    except Exception:
        return False
    return True


def healthy(backend, task, service) -> bool:
    """Healthy for the deployment: RUNNING, its container health checks (if any) HEALTHY, its
    target groups healthy."""
    if task.last_status != "RUNNING" or task.desired_status != "RUNNING":
        return False
    if task.health_status == "UNHEALTHY":
        return False
    has_checks = any(c.health_status != "UNKNOWN" for c in task.containers) or task.health_status == "HEALTHY"
    definition = backend.describe_task_definition(task.task_definition_arn)
    wants_checks = any((c.get("healthCheck") or {}).get("command") for c in definition.container_definitions)
    if wants_checks and task.health_status != "HEALTHY":
        return False
    del has_checks
    return _target_healthy(backend, task)


# -- services -----------------------------------------------------------------------------------------

def _service_tasks(backend, service) -> list:
    return [t for t in backend.tasks.get(service.cluster_name, {}).values()
            if t.group == f"service:{service.name}" and hasattr(t, "ws_since")]


def _short(task) -> str:
    return task.id


def _reconcile(backend, service) -> None:
    tasks = _service_tasks(backend, service)
    live = [t for t in tasks if t.desired_status == "RUNNING"]
    if service.deployments and service.deployments[0].get("ws_rollback_of"):
        # A rollback keeps the tasks that already run the definition it goes back to (a blue/green
        # one, the blue revision's tasks, which never stopped).
        primary = service.deployments[0]
        for task in live:
            if primary.get("ws_adopt"):
                if task.started_by == primary["ws_adopt"]:
                    task.started_by = primary["id"]
            elif (task.task_definition_arn == primary["taskDefinition"]
                    and task.started_by not in (primary["id"], primary["ws_rollback_of"])):
                task.started_by = primary["id"]
    by_deployment = _count(backend, service, live)
    _count_failures(backend, service, tasks)
    if service.status != "ACTIVE":
        for task in live:
            _stop_task(backend, task, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment)")
        if not [t for t in tasks if t.last_status != "STOPPED"] and service.status == "DRAINING":
            service.status = "INACTIVE"
            persistence.changed(backend.account_id)
        return
    if not service.deployments:
        return
    primary = service.deployments[0]
    record = record_of(service, primary)
    if record is not None and record["status"] in ("STOP_REQUESTED", "STOPPED") and not record.get("ws_stop_done"):
        _stop_requested(backend, service, primary, record)
        return
    primary["desiredCount"] = service.desired_count
    _check_alarms(backend, service, primary, record)
    if primary["rolloutState"] == "FAILED" and primary["status"] == "PRIMARY":
        return
    if primary.get("ws_blue") and record is not None and not primary.get("ws_rollback_of"):
        bluegreen.advance(backend, service, primary, record, live)
        return
    desired = service.desired_count
    config = service.deployment_configuration
    maximum = math.floor(desired * config["maximumPercent"] / 100) if desired else 0
    minimum_healthy = math.ceil(desired * config["minimumHealthyPercent"] / 100)
    mine = by_deployment.get(primary["id"], [])
    olds = [t for t in live if t.started_by != primary["id"]]
    healthy_all = [t for t in live if healthy(backend, t, service)]
    # Scale down the primary when it has more than wanted (desiredCount lowered).
    if len(mine) > desired:
        extra = sorted(mine, key=lambda t: (t.last_status == "RUNNING", t.created_at))[:len(mine) - desired]
        for task in extra:
            _stop_task(backend, task, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "
                       f"{primary['id']})")
        add_event(service, f"(service {service.name}) has stopped {len(extra)} running tasks: "
                           + " ".join(f"(task {_short(t)})." for t in extra))
        return
    # Stop old tasks not serving (never healthy) first, then healthy ones while enough stay healthy.
    stopped = []
    for task in sorted(olds, key=lambda t: t in healthy_all):
        if task in healthy_all and len(healthy_all) - 1 < minimum_healthy:
            continue
        if task in healthy_all:
            if not _enough_new_ready(backend, service, mine, healthy_all, minimum_healthy, desired):
                continue
            healthy_all.remove(task)
        _stop_task(backend, task, "ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment "
                   f"{primary['id']})")
        stopped.append(task)
    if stopped:
        add_event(service, f"(service {service.name}) has stopped {len(stopped)} running tasks: "
                           + " ".join(f"(task {_short(t)})." for t in stopped))
        live = [t for t in live if t not in stopped]
    # Start primary tasks within maximumPercent.
    room = max(0, maximum - len(live)) if maximum else 0
    start = min(desired - len(mine), room)
    if start > 0 and primary["taskDefinition"]:
        tasks_started = backend.run_task(service.cluster_name, primary["taskDefinition"], start, None,
                                         primary["id"], None, service.launch_type,
                                         service.network_configuration or None, f"service:{service.name}")
        for task in tasks_started:
            task.ws_deployment = primary["id"]
            task.ws_groups = list(primary.get("ws_groups") or [])
        add_event(service, f"(service {service.name}) has started {len(tasks_started)} tasks: "
                           + " ".join(f"(task {_short(t)})." for t in tasks_started))
        return
    _progress(backend, service, primary, record, mine, olds)


def _count(backend, service, live: list) -> dict[str, list]:
    """Running and pending counts of the service and each deployment; its live tasks by deployment."""
    by_deployment: dict[str, list] = {}
    for task in live:
        by_deployment.setdefault(task.started_by, []).append(task)
    for deployment in service.deployments:
        mine = by_deployment.get(deployment["id"], [])
        running = sum(1 for t in mine if t.last_status == "RUNNING")
        pending = sum(1 for t in mine if t.last_status in STARTING)
        if (running, pending) != (deployment["runningCount"], deployment["pendingCount"]):
            deployment["runningCount"], deployment["pendingCount"] = running, pending
            deployment["updatedAt"] = time.time()
            persistence.changed(backend.account_id)
    service.running_count = sum(1 for t in live if t.last_status == "RUNNING")
    service.pending_count = sum(1 for t in live if t.last_status in STARTING)
    return by_deployment


def _enough_new_ready(backend, service, mine, healthy_all, minimum_healthy, desired) -> bool:
    """An old healthy task may go when stopping it keeps minimumHealthyPercent healthy."""
    return len(healthy_all) - 1 >= minimum_healthy


def _stop_task(backend, task, code: str, reason: str) -> None:
    if task.desired_status == "STOPPED":
        return
    task.desired_status = "STOPPED"
    task.stop_code = code
    task.stopped_reason = reason
    task.stopping_at = time.time()
    persistence.changed(backend.account_id)


def _count_failures(backend, service, tasks) -> None:
    """Tasks of a deployment that failed (could not start, an essential container exited,
    health checks failed) count toward its circuit breaker; unhealthy tasks are replaced."""
    for task in tasks:
        if task.desired_status == "RUNNING" and task.last_status == "RUNNING" and task.health_status == "UNHEALTHY":
            _stop_task(backend, task, "ServiceSchedulerInitiated", "Task failed container health checks")
            task.ws_failed = True
            add_event(service, f"(service {service.name}) (task {_short(task)}) failed container health checks.")
        if not getattr(task, "ws_failed", False) or getattr(task, "ws_counted", False):
            continue
        if task.desired_status != "STOPPED":
            continue
        task.ws_counted = True
        deployment = next((d for d in service.deployments if d["id"] == task.started_by), None)
        if deployment is None:
            continue
        deployment["failedTasks"] += 1
        record = record_of(service, deployment)
        if record is not None:
            record["deploymentCircuitBreaker"]["failureCount"] = deployment["failedTasks"]
        if task.stop_code == "TaskFailedToStart":
            add_event(service, f"(service {service.name}) was unable to place a task. Reason: {task.stopped_reason}.")
        breaker = service.deployment_configuration["deploymentCircuitBreaker"]
        if (breaker["enable"] and deployment["status"] == "PRIMARY" and deployment["rolloutState"] == "IN_PROGRESS"
                and deployment["failedTasks"] >= failure_threshold(service.desired_count)):
            _fail(backend, service, deployment, record, "tasks failed to start",
                  f"ECS deployment circuit breaker: tasks failed to start.", breaker["rollback"], "circuit")


def _fail(backend, service, deployment, record, why: str, reason: str, rollback: bool, monitor: str) -> None:
    now = time.time()
    deployment["rolloutState"] = "FAILED"
    deployment["rolloutStateReason"] = reason
    deployment["updatedAt"] = now
    add_event(service, f"(service {service.name}) deployment {deployment['id']} deployment failed: {why}.")
    if record is not None:
        record["status"] = "ROLLBACK_REQUESTED" if rollback else "STOPPED"
        record["statusReason"] = reason
        record["updatedAt"] = now
        if monitor == "circuit":
            record["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
        elif monitor == "alarms":
            record["alarms"]["status"] = "TRIGGERED"
        if not rollback:
            record["finishedAt"] = record["stoppedAt"] = now
    persistence.changed(backend.account_id)
    if rollback:
        _roll_back(backend, service, deployment, record, reason)


def _roll_back(backend, service, deployment, record, reason: str) -> None:
    target = service.ws_last_completed
    if not target:
        add_event(service, f"(service {service.name}) deployment {deployment['id']} cannot roll back: "
                           "no deployment completed before it.")
        if record is not None:
            record["status"] = "ROLLBACK_FAILED"
            record["finishedAt"] = time.time()
        return
    if deployment.get("ws_blue"):
        bluegreen.restore(backend, service, deployment)    # production back on blue before green stops
    new = start_deployment(backend, service, target["taskDefinition"], rollback_of={"reason": reason})
    service.task_definition = target["taskDefinition"]
    new["ws_rollback_of"] = deployment["id"]
    if deployment.get("ws_blue"):
        new["ws_adopt"] = deployment["ws_blue"]
        new["ws_groups"] = list(deployment.get("ws_blue_groups") or new["ws_groups"])
    add_event(service, f"(service {service.name}) rolling back to deployment {target['id']}.")
    if record is not None:
        record["status"] = "ROLLBACK_IN_PROGRESS"
        record["rollback"] = {"reason": reason, "startedAt": time.time(),
                              "serviceRevisionArn": target.get("ws_revision_arn")}
        rolled = record_of(service, new)
        if rolled is not None:
            service.ws_service_deployments.remove(rolled)   # the rollback is this deployment's own
        new["ws_record"] = record["serviceDeploymentArn"]


def _progress(backend, service, primary, record, mine, olds) -> None:
    """COMPLETED when the primary has desiredCount healthy tasks and no other deployment has tasks."""
    ready = [t for t in mine if healthy(backend, t, service)]
    now = time.time()
    if record is not None:
        target = record["targetServiceRevision"]
        target["runningTaskCount"], target["pendingTaskCount"] = primary["runningCount"], primary["pendingCount"]
        target["requestedTaskCount"] = service.desired_count
    if len(ready) >= service.desired_count and not olds and len(mine) == service.desired_count:
        for old in service.deployments[1:]:
            if old["status"] == "ACTIVE":
                old["status"] = "INACTIVE"
                old["updatedAt"] = now
        service.deployments[1:] = []
        if primary["rolloutState"] == "IN_PROGRESS":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            primary["updatedAt"] = now
            service.ws_last_completed = {k: primary.get(k) for k in ("id", "taskDefinition", "ws_revision_arn",
                                                                     "ws_groups")}
            if record is not None:
                record["status"] = "ROLLBACK_SUCCESSFUL" if record["status"].startswith("ROLLBACK") else "SUCCESSFUL"
                record["finishedAt"] = record["updatedAt"] = now
                record["lifecycleStage"] = "CLEAN_UP"
                for monitor in ("deploymentCircuitBreaker", "alarms"):
                    if record.get(monitor, {}).get("status") == "MONITORING":
                        record[monitor]["status"] = "MONITORING_COMPLETE"
            add_event(service, f"(service {service.name}) deployment {primary['id']} deployment completed.")
            add_event(service, f"(service {service.name}) has reached a steady state.")
            service.ws_steady_at = now
            persistence.changed(backend.account_id)
        elif now - getattr(service, "ws_steady_at", 0) > get_clock().real_seconds(STEADY_EVENT_EVERY):
            add_event(service, f"(service {service.name}) has reached a steady state.")
            service.ws_steady_at = now
    elif record is not None and record["lifecycleStage"] == "RECONCILE_SERVICE" and mine:
        record["lifecycleStage"] = "SCALE_UP"


def _stop_requested(backend, service, primary, record) -> None:
    """stop_service_deployment: ROLLBACK goes back to the last completed deployment; ABORT stops here."""
    record["ws_stop_done"] = True
    if record.get("ws_stop_type") == "ROLLBACK" and service.ws_last_completed:
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment stopped by a StopServiceDeployment request."
        _roll_back(backend, service, primary, record, "StopServiceDeployment requested a rollback")
    else:
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment stopped by a StopServiceDeployment request."
        record["status"] = "STOPPED"
        record["finishedAt"] = record["stoppedAt"] = time.time()
    persistence.changed(backend.account_id)


def _check_alarms(backend, service, primary, record) -> None:
    """Deployment alarms: one of the named CloudWatch alarms in ALARM during the rollout fails it,
    even if it left ALARM again before this look (a scaled alarm period is a second or less, and
    a tick on a loaded machine can take longer: a set_alarm_state was missed so)."""
    alarms = service.deployment_configuration.get("alarms")
    if not alarms or not alarms.get("enable") or primary["rolloutState"] != "IN_PROGRESS":
        return
    if primary.get("ws_rollback_of"):
        return       # the rollback goes back to what ran before the alarm: it is not stopped by it
    try:
        fired = services.ask("cloudwatch.alarms-fired", account_id=backend.account_id,
                             region=backend.region_name, names=alarms["alarmNames"], since=primary["createdAt"])
    except LookupError:
        return
    firing = sorted(fired)
    if not firing:
        return
    if record is not None:
        record["alarms"]["triggeredAlarmNames"] = firing
    _fail(backend, service, primary, record, f"alarm(s) {', '.join(firing)} in ALARM state",
          f"ECS deployment {primary['id']} failed: alarm(s) detected.", alarms.get("rollback", False), "alarms")


# -- AWS/ECS metrics -----------------------------------------------------------------------------------

def _metrics(backend) -> None:
    """CPUUtilization and MemoryUtilization (percent of what the tasks reserved, from the
    launcher's cgroup counters) and RunningTaskCount, per ClusterName/ServiceName and ClusterName."""
    key = (backend.account_id, backend.region_name)
    now = time.time()
    last = _last_metrics.get(key)
    if last is not None and now - last < get_clock().real_seconds(METRIC_PERIOD):
        return
    _last_metrics[key] = now
    from workshop.cloud.services.cloudwatch.aws_metrics import publish

    with LOCK:
        services_ = [s for s in backend.services.values() if s.status == "ACTIVE"]
        plan = []
        for service in services_:
            tasks = [t for t in _service_tasks(backend, service) if t.last_status == "RUNNING"]
            cpu_used = cpu_reserved = memory_used = memory_reserved = 0.0
            for task in tasks:
                seconds, memory = task_runner.usage(task.task_arn)
                previous = getattr(task, "ws_cpu_seen", None)
                task.ws_cpu_seen = (now, seconds)
                if seconds is not None and previous and previous[1] is not None and now > previous[0]:
                    cpu_used += (seconds - previous[1]) / (now - previous[0])
                cpu_reserved += (int(task.cpu or 256)) / 1024
                memory_used += memory or 0
                memory_reserved += int(task.memory or 512) * 1024 * 1024
            plan.append((service, len(tasks), cpu_used, cpu_reserved, memory_used, memory_reserved))
    for service, count, cpu_used, cpu_reserved, memory_used, memory_reserved in plan:
        dims = [{"ClusterName": service.cluster_name, "ServiceName": service.name}]
        values = {"RunningTaskCount": (count, "Count")}
        if count:
            values["CPUUtilization"] = (100 * cpu_used / cpu_reserved if cpu_reserved else 0, "Percent")
            values["MemoryUtilization"] = (100 * memory_used / memory_reserved if memory_reserved else 0, "Percent")
        publish(backend.account_id, backend.region_name, "AWS/ECS", values, dims)


def shutdown() -> None:
    _stop.set()
    task_runner.end_all()
