"""The task runner: a task's containers run from their images' unpacked roots, each
command chrooted into its image's root inside a user namespace (``unshare --user
--map-root-user --root=ROOT --wd=DIR``) as the account's sandbox user, through the
one launcher (containment.Job: a cgroup per task with the task's memory, or the
subreaper). No network namespace: ECS's bridge mode with dynamic host ports, the
host port in ``PORT``. ``step`` moves one task along ECS's lifecycle on the clock;
the scheduler calls it for every task that is not STOPPED."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from workshop.cloud import containment, persistence, runtime, sandbox
from workshop.cloud.clock import get_clock
from workshop.cloud.services.ecs import podman_runner, rootfs

log = logging.getLogger(__name__)

# AWS seconds each step of ECS's lifecycle takes here (on the workshop clock).
PROVISIONING_SECONDS = 2
ACTIVATING_SECONDS = 2
DEACTIVATING_SECONDS = 2
DEPROVISIONING_SECONDS = 2
STOP_TIMEOUT = 30                 # ECS_CONTAINER_STOP_TIMEOUT: SIGTERM, then SIGKILL
# Health checks are real processes (~0.15 CPU s each for a Python check here): at most one a
# real second until the container is HEALTHY, then one every 5 real seconds at most.
MIN_REAL_INTERVAL = 1.0
MIN_REAL_INTERVAL_HEALTHY = 5.0
MAX_EVENT_BYTES = 256 * 1024

_pulls = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ecs-pull")


@dataclass
class Health:
    argv: list[str] | None
    interval: float = 30
    timeout: float = 5
    retries: int = 3
    start_period: float = 0
    failures: int = 0
    last: float = 0.0
    running: containment.JobProcess | None = None
    job: containment.Job | None = None
    started: float = 0.0


@dataclass
class Run:
    """What runs for one task (the engine's, never pickled)."""
    pulls: dict[str, Future] = field(default_factory=dict)
    job: containment.Job | None = None
    processes: dict[str, containment.JobProcess] = field(default_factory=dict)
    logs: dict[str, dict] = field(default_factory=dict)
    roots: dict[str, rootfs.Pulled] = field(default_factory=dict)
    env: dict[str, dict] = field(default_factory=dict)
    health: dict[str, Health] = field(default_factory=dict)
    stop_deadline: float | None = None
    started: float = field(default_factory=time.time)


_runs: dict[str, Run] = {}
_runtime: str | None = None


def runtime_name() -> str:
    """'podman' or 'chroot' (workshop.images.podman.ecs_runtime, for this cloud), chosen once."""
    global _runtime
    if _runtime is None:
        from workshop.images import podman

        _runtime = podman.ecs_runtime(sandbox.enabled())
        log.info("ecs: tasks' containers run with %s", _runtime)
        import atexit

        atexit.register(end_all)        # before containment's own exit hook (atexit runs last-in first)
        if _runtime == "podman":
            podman_runner.sweep()
    return _runtime


def elapsed(task) -> float:
    """AWS seconds since the task entered its status."""
    return get_clock().aws_seconds(time.time() - task.ws_since)


def move(task, status: str, account: str) -> None:
    task.status = status
    task.ws_since = time.time()
    task.version = getattr(task, "version", 1) + 1
    persistence.changed(account)


def step(backend, task, definition, drained: bool = True) -> None:
    """Move ``task`` on as far as its state allows now (called under models.LOCK).
    ``drained``: its load balancers' targets are no longer draining (DEACTIVATING waits,
    as ECS waits out the target group's deregistration delay before it stops containers)."""
    status = task.last_status
    run = _runs.setdefault(task.task_arn, Run())
    account = backend.account_id
    if status == "PROVISIONING":
        if task.desired_status == "STOPPED":
            _finish(backend, task, run)
        elif elapsed(task) >= PROVISIONING_SECONDS:
            move(task, "PENDING", account)
            task.pull_started_at = time.time()
            puller = podman_runner.pull if runtime_name() == "podman" else rootfs.pull
            for container in task.containers:
                run.pulls[container.name] = _pulls.submit(puller, account, backend.region_name, container.image)
    elif status == "PENDING":
        if task.desired_status == "STOPPED":
            _finish(backend, task, run)
            return
        if not all(f.done() for f in run.pulls.values()):
            return
        task.pull_stopped_at = time.time()
        for container in task.containers:
            try:
                run.roots[container.name] = run.pulls[container.name].result()
            except rootfs.PullError as exc:
                _fail_start(backend, task, run, container, f"CannotPullContainerError: {exc}")
                return
            except Exception as exc:  # an unexpected failure is the task's, never the engine's
                log.exception("pulling %s", container.image)
                _fail_start(backend, task, run, container, f"CannotPullContainerError: {exc}")
                return
        problem = _start_containers(backend, task, definition, run)
        if problem:
            _fail_start(backend, task, run, problem[0], problem[1])
            return
        move(task, "ACTIVATING", account)
    elif status == "ACTIVATING":
        _watch(backend, task, run, definition)
        if task.desired_status == "STOPPED":
            move(task, "DEACTIVATING", account)
        elif elapsed(task) >= ACTIVATING_SECONDS:
            move(task, "RUNNING", account)
            task.started_at = time.time()
            task.connectivity, task.connectivity_at = "CONNECTED", task.started_at
    elif status == "RUNNING":
        _watch(backend, task, run, definition)
        _health(task, run)
        if task.desired_status == "STOPPED":
            move(task, "DEACTIVATING", account)
    elif status == "DEACTIVATING":
        _pump(backend, task, run)
        if elapsed(task) >= DEACTIVATING_SECONDS and drained:
            move(task, "STOPPING", account)
            run.stop_deadline = time.time() + get_clock().real_seconds(_stop_timeout(definition))
            for process in run.processes.values():
                if process.poll() is None:
                    _signal(process, signal.SIGTERM)
    elif status == "STOPPING":
        _watch(backend, task, run, definition, stopping=True)
        alive = [p for p in run.processes.values() if p.poll() is None]
        if not alive or time.time() >= (run.stop_deadline or 0):
            _end_processes(backend, task, run)
            move(task, "DEPROVISIONING", account)
    elif status == "DEPROVISIONING":
        if elapsed(task) >= DEPROVISIONING_SECONDS:
            _finish(backend, task, run)


def _stop_timeout(definition) -> float:
    values = [c.get("stopTimeout") for c in definition.container_definitions if c.get("stopTimeout")]
    return float(max(values)) if values else STOP_TIMEOUT


def _fail_start(backend, task, run: Run, container, reason: str) -> None:
    container.reason = reason[:1024]
    task.desired_status = "STOPPED"
    task.stop_code = "TaskFailedToStart"
    task.stopped_reason = reason[:1024]
    task.ws_failed = True
    _end_processes(backend, task, run)
    _finish(backend, task, run)


def _finish(backend, task, run: Run) -> None:
    """STOPPED: every process gone, the logs shipped, the run forgotten."""
    _end_processes(backend, task, run)
    for future in run.pulls.values():
        future.cancel()
    now = time.time()
    task.desired_status = "STOPPED"
    task.stopping_at = getattr(task, "stopping_at", None) or now
    task.execution_stopped_at = now
    task.stopped_at = now
    task.connectivity = "DISCONNECTED" if getattr(task, "connectivity", None) else None
    if not task.stopped_reason:
        task.stopped_reason = "Task stopped"
    for container in task.containers:
        if container.last_status != "STOPPED":
            container.last_status = "STOPPED"
    move(task, "STOPPED", backend.account_id)
    _runs.pop(task.task_arn, None)


def _end_processes(backend, task, run: Run) -> None:
    if run.job is not None:
        run.job.end()
        if runtime_name() == "podman":
            for name in run.processes:
                podman_runner.remove(podman_runner.container_name(task.id, name))
        for name, process in run.processes.items():
            container = next(c for c in task.containers if c.name == name)
            if container.exitCode is None:
                code = process.returncode if process.returncode is not None else -9
                container.exitCode = 128 - code if code < 0 else code
            container.last_status = "STOPPED"
        run.job = None
    for health in run.health.values():
        if health.job is not None:
            health.job.end()
            health.job = health.running = None
    _pump(backend, task, run, final=True)
    for spec in run.logs.values():
        try:
            spec["file"].close()
        except OSError:
            pass
    run.logs.clear()


def _signal(process: containment.JobProcess, which: int) -> None:
    try:
        os.kill(process.pid, which)
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_limit(task, definition) -> int:
    mib = 0
    for value in (task.memory, definition.memory):
        try:
            mib = int(value or 0)
        except (TypeError, ValueError):
            continue
        if mib:
            break
    if not mib:
        mib = sum(int(c.get("memory") or c.get("memoryReservation") or 0) for c in definition.container_definitions)
    return (mib or 512) * 1024 * 1024


def _start_containers(backend, task, definition, run: Run):
    """Start every container; (container, reason) when one cannot start."""
    account, region = backend.account_id, backend.region_name
    specs = {c.get("name"): c for c in definition.container_definitions}
    folder = runtime.account_dir("ecs", account, region) / "tasks" / task.id
    folder.mkdir(parents=True, exist_ok=True)
    run.job = containment.Job("task", containment.Limits(processes=1024, memory=_memory_limit(task, definition),
                                                         nice=5, address_space_room=None))
    who = sandbox.identity(account)
    for container in task.containers:
        spec = specs.get(container.name) or {}
        pulled = run.roots[container.name]
        container.image_digest = pulled.digest
        image = pulled.config
        env = dict(e.split("=", 1) for e in image.get("Env") or [] if "=" in e)
        env.update({e["name"]: str(e.get("value", "")) for e in container.ws_environment if e.get("name")})
        bindings = []
        for mapping in spec.get("portMappings") or []:
            host_port = mapping.get("hostPort") or 0
            if not host_port or definition.network_mode == "awsvpc":
                host_port = free_port()
            bindings.append({"bindIP": "0.0.0.0", "containerPort": mapping.get("containerPort"),
                             "hostPort": host_port, "protocol": mapping.get("protocol", "tcp")})
        podman = runtime_name() == "podman"
        if podman:      # podman applies the image's own environment; the app listens in its network namespace
            env = {e["name"]: str(e.get("value", "")) for e in container.ws_environment if e.get("name")}
            if bindings:
                env["PORT"] = str(bindings[0]["containerPort"])
        elif bindings:
            env["PORT"] = str(bindings[0]["hostPort"])
        if not podman:
            env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            env.setdefault("HOSTNAME", task.id[:12])
        container.network_bindings = bindings
        entry = spec.get("entryPoint") or image.get("Entrypoint") or []
        command = container.ws_command or image.get("Cmd") or []
        argv = list(entry) + list(command)
        if not argv:
            return container, "CannotStartContainerError: no command: the image and the task definition name none"
        workdir = spec.get("workingDirectory") or image.get("WorkingDir") or "/"
        log_spec = _open_log(backend, task, container, spec, folder)
        if isinstance(log_spec, str):
            return container, log_spec
        run.logs[container.name] = log_spec
        run.env[container.name] = env
        if podman:
            command_line = podman_runner.argv(podman_runner.container_name(task.id, container.name), pulled, spec,
                                              env, bindings, _memory_limit(task, definition),
                                              spec.get("entryPoint"), container.ws_command)
            spawn_env, spawn_who = podman_env(), None
        else:
            command_line, spawn_env, spawn_who = chrooted(pulled.root, workdir, argv), env, who
        try:
            process = run.job.spawn(command_line, cwd="/", env=spawn_env, who=spawn_who,
                                    stdin=subprocess_devnull(), stdout=log_spec["file"], stderr=log_spec["file"])
        except OSError as exc:
            return container, f"CannotStartContainerError: {exc}"
        run.processes[container.name] = process
        container.runtime_id = uuid.uuid4().hex
        container.last_status = "RUNNING"
        check = spec.get("healthCheck")
        if check and check.get("command"):
            command = list(check["command"])
            argv = (None if command[0] == "NONE" else ["/bin/sh", "-c", " ".join(command[1:])]
                    if command[0] == "CMD-SHELL" else command[1:] if command[0] == "CMD" else command)
            run.health[container.name] = Health(argv, check.get("interval", 30), check.get("timeout", 5),
                                                check.get("retries", 3), check.get("startPeriod", 0),
                                                last=time.time())
    run.started = time.time()
    return None


def chrooted(root: Path, workdir: str, argv: list[str]) -> list[str]:
    """The command run in the image's root, in a user namespace where the account's user is root."""
    return ["unshare", "--user", "--map-root-user", f"--root={root}", f"--wd={workdir}", *argv]


def _open_log(backend, task, container, spec: dict, folder: Path):
    """The container's output file, and where the awslogs driver ships it (or a reason it cannot)."""
    path = folder / f"{container.name}.log"
    out = {"file": open(path, "ab"), "path": path, "offset": path.stat().st_size, "partial": b"",
           "group": None, "stream": None, "region": backend.region_name}
    config = spec.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return out
    options = config.get("options") or {}
    group = options.get("awslogs-group")
    prefix = options.get("awslogs-stream-prefix")
    region = options.get("awslogs-region") or backend.region_name
    if not group:
        out["file"].close()
        return "ResourceInitializationError: failed to validate logger args: awslogs-group is required"
    from workshop.cloud.services.logs.models import logs_backend

    logs = logs_backend(backend.account_id, region)
    if group not in logs.groups:
        if str(options.get("awslogs-create-group", "false")).lower() == "true":
            try:
                logs.create_log_group(group, tags={})
            except Exception:
                pass
        else:
            out["file"].close()
            return ("ResourceInitializationError: failed to validate logger args: create stream has been retried "
                    f"1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified "
                    f"log group does not exist. : exit status 1 (log group {group})")
    out["group"], out["region"] = group, region
    out["stream"] = f"{prefix}/{container.name}/{task.id}" if prefix else task.id
    logs.ensure_log_stream(group, out["stream"])
    return out


def _pump(backend, task, run: Run, final: bool = False) -> None:
    """Ship what the containers wrote since the last pump into their awslogs streams."""
    for spec in run.logs.values():
        try:
            with open(spec["path"], "rb") as src:
                src.seek(spec["offset"])
                data = src.read(4 * 1024 * 1024)
        except OSError:
            continue
        if not data and not (final and spec["partial"]):
            continue
        spec["offset"] += len(data)
        lines = (spec["partial"] + data).split(b"\n")
        spec["partial"] = lines.pop()
        if final and spec["partial"]:
            lines.append(spec["partial"])
            spec["partial"] = b""
        if not lines or not spec["group"]:
            continue
        stamp = int(time.time() * 1000)
        events = [{"timestamp": stamp, "message": (line.decode("utf-8", "replace").rstrip("\r") or " ")[:MAX_EVENT_BYTES]}
                  for line in lines]
        try:
            from workshop.cloud.services.logs.models import logs_backend

            logs = logs_backend(backend.account_id, spec["region"])
            logs.ensure_log_stream(spec["group"], spec["stream"])
            for start in range(0, len(events), 1000):
                logs.put_log_events(spec["group"], spec["stream"], events[start:start + 1000])
            persistence.changed(backend.account_id)
        except Exception:   # the learner deleted the group: the driver drops the lines, as awslogs retries fail
            pass


def _watch(backend, task, run: Run, definition, stopping: bool = False) -> None:
    """Containers that exited: their exit codes; an essential one stops the task."""
    _pump(backend, task, run)
    for container in task.containers:
        process = run.processes.get(container.name)
        if process is None or container.last_status == "STOPPED" or process.poll() is None:
            continue
        code = process.returncode
        container.exitCode = 128 - code if code < 0 else code
        container.last_status = "STOPPED"
        container.health_status = "UNKNOWN" if container.name in run.health else container.health_status
        persistence.changed(backend.account_id)
        if container.essential and not stopping and task.desired_status != "STOPPED":
            task.desired_status = "STOPPED"
            task.stop_code = "EssentialContainerExited"
            task.stopped_reason = "Essential container in task exited"
            task.stopping_at = time.time()
            task.ws_failed = True


def _health(task, run: Run) -> None:
    """Container health checks on the clock: HEALTHY after a pass, UNHEALTHY after
    ``retries`` failures in a row (failures in the start period do not count)."""
    clock = get_clock()
    now = time.time()
    for container in task.containers:
        health = run.health.get(container.name)
        if health is None or health.argv is None or container.last_status != "RUNNING":
            continue
        if health.running is not None:
            code = health.running.poll()
            # The check is real work: its timeout is in real seconds (the clock's rule for learner code).
            if code is None and now - health.started < health.timeout:
                continue
            passed = code == 0
            health.job.end()
            health.job = health.running = None
            # The start period covers the app's boot, real work: real seconds, as the check's timeout.
            in_start = now - run.started < health.start_period
            if passed:
                health.failures = 0
                container.health_status = "HEALTHY"
            elif not in_start:
                health.failures += 1
                if health.failures >= health.retries:
                    container.health_status = "UNHEALTHY"
            continue
        floor = MIN_REAL_INTERVAL_HEALTHY if container.health_status == "HEALTHY" else MIN_REAL_INTERVAL
        if now - health.last < max(floor, clock.real_seconds(health.interval)):
            continue
        health.last = now
        pulled = run.roots[container.name]
        health.job = containment.Job("health", containment.Limits(processes=64, memory=256 * 1024 * 1024,
                                                                  nice=10, address_space_room=None))
        try:
            if runtime_name() == "podman":
                argv = podman_runner.health_argv(podman_runner.container_name(task.id, container.name), health.argv)
                env, who = podman_env(), None
            else:
                argv, env = chrooted(pulled.root, "/", health.argv), run.env[container.name]
                who = sandbox.identity(task._account_id)
            health.running = health.job.spawn(argv, cwd="/", env=env, who=who,
                                              stdin=subprocess_devnull(), stdout=subprocess_devnull(),
                                              stderr=subprocess_devnull())
            health.started = now
        except OSError:
            health.job.end()
            health.job = health.running = None
            health.failures += 1
            if health.failures >= health.retries:
                container.health_status = "UNHEALTHY"
    checked = [c for c in task.containers if c.name in run.health and run.health[c.name].argv]
    essential = [c for c in checked if c.essential]
    if not checked:
        task.health_status = "UNKNOWN"
    elif any(c.health_status == "UNHEALTHY" for c in essential):
        task.health_status = "UNHEALTHY"
    elif all(c.health_status == "HEALTHY" for c in essential or checked):
        task.health_status = "HEALTHY"
    else:
        task.health_status = "UNKNOWN"


def podman_env() -> dict:
    from workshop.images import podman

    return podman.env()


def subprocess_devnull():
    import subprocess

    return subprocess.DEVNULL


def usage(task_arn: str) -> tuple[float | None, int | None]:
    run = _runs.get(task_arn)
    if run is None or run.job is None:
        return None, None
    return run.job.usage()


def lose(task) -> None:
    """After a restart: the task's containers are gone (as on a host loss)."""
    _runs.pop(task.task_arn, None)


def end_all() -> None:
    """At the cloud's exit: every task's processes (and podman's containers) gone."""
    for run in list(_runs.values()):
        if run.job is not None:
            run.job.end()
        for health in run.health.values():
            if health.job is not None:
                health.job.end()
    _runs.clear()
    if _runtime == "podman":
        podman_runner.close()
