"""ECS tasks and services as AWS reports them, on moto's backend (state only: the
engines in task_runner.py and scheduler.py run the containers and the deployments,
told through ``services.announce``). Also the requests AWS accepts that moto 5.2.5
failed with a 500:

- an awsvpc service or task without ``securityGroups``: AWS uses the default
  security group of the subnets' VPC (moto raised KeyError);
- a container without ``memory``/``memoryReservation`` in a task definition with
  task-level memory (Fargate's usual shape): the task's memory counts (moto added None).
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from typing import Any

from moto.ecs.exceptions import InvalidParameterException, ServiceNotFoundException
from moto.ecs.models import Container, EC2ContainerServiceBackend, Service, Task

from workshop.cloud import persistence, services
from workshop.cloud.services import extend

# Task states in ECS's order (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle.html).
STARTING = ("PROVISIONING", "PENDING", "ACTIVATING")
STOPPING = ("DEACTIVATING", "STOPPING", "DEPROVISIONING")
LOCK = threading.RLock()     # the ECS engines and the API change tasks and services under it

_validate_network = Service._validate_network
_resources = EC2ContainerServiceBackend._calculate_task_resource_requirements
_run_task = EC2ContainerServiceBackend.run_task
_start_task = EC2ContainerServiceBackend.start_task


def _with_default_security_group(account_id: str, region: str, nc: dict | None) -> dict | None:
    config = (nc or {}).get("awsvpcConfiguration")
    if not isinstance(config, dict) or config.get("securityGroups") or not config.get("subnets"):
        return nc
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account_id][region]
    try:
        vpc_id = ec2.describe_subnets(subnet_ids=config["subnets"][:1])[0].vpc_id
    except Exception:  # an unknown subnet: moto's own check says so in AWS's words
        return nc
    default = ec2.get_security_group_from_name("default", vpc_id=vpc_id)
    groups = [default.id] if default is not None else []
    return {**nc, "awsvpcConfiguration": {**config, "securityGroups": groups}}


@extend(Service)
class _Service:
    def _validate_network(self, nc: dict) -> dict:
        return _validate_network(self, _with_default_security_group(self._account_id, self.region_name, nc))


@extend(EC2ContainerServiceBackend)
class _Backend:
    def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type,
                 networking_configuration=None, *args, **kwargs):
        networking_configuration = _with_default_security_group(self.account_id, self.region_name,
                                                                 networking_configuration)
        if not 1 <= int(count or 1) <= 10:
            raise InvalidParameterException("count must be between 1 and 10.")
        _check_definition(self, task_definition_str)
        # The workshop runs every task on the cloud's machine: EC2 without container
        # instances runs as Fargate does (moto: "No instances found", a 500).
        placed = launch_type
        if launch_type in (None, "EC2", "EXTERNAL") and not self.container_instances.get(
                self._get_cluster(cluster_str).name):
            placed = "FARGATE"
        with LOCK:
            tasks = _run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, placed,
                              networking_configuration, *args, **kwargs)
            for task in tasks:
                prepare_task(task, self, launch_type or "FARGATE" if placed == "FARGATE" else launch_type)
        services.announce("ecs.tasks-started", backend=self, tasks=tasks)
        return tasks

    def start_task(self, cluster_str, task_definition_str, container_instances, overrides, started_by,
                   tags=None, group=None):
        if not container_instances:
            raise InvalidParameterException("Container instances cannot be empty.")
        with LOCK:
            tasks = _start_task(self, cluster_str, task_definition_str, container_instances, overrides,
                                started_by, tags, group)
            for task in tasks:
                prepare_task(task, self, "EC2")
        services.announce("ecs.tasks-started", backend=self, tasks=tasks)
        return tasks

    def describe_tasks(self, cluster_str: str, tasks: list[str]) -> list:
        cluster = self._get_cluster(cluster_str)
        if not tasks:
            raise InvalidParameterException("Tasks cannot be empty.")
        if len(tasks) > 100:
            raise InvalidParameterException("Tasks cannot have more than 100 elements.")
        wanted = {t.split("/")[-1] for t in tasks}
        return [task for task in self.tasks.get(cluster.name, {}).values() if task.id in wanted]

    def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                   service_name=None, desiredStatus=None):
        cluster = self._get_cluster(cluster_str or "default")
        found = list(self.tasks.get(cluster.name, {}).values())
        if family:
            found = [t for t in found if t.task_definition_arn.split("/")[-1].rsplit(":", 1)[0] == family]
        if started_by:
            found = [t for t in found if t.started_by == started_by]
        if service_name:
            self._get_service(cluster_str or "default", service_name)
            name = service_name.split("/")[-1]
            found = [t for t in found if t.group == f"service:{name}"]
        # ECS lists RUNNING tasks unless asked otherwise; STOPPED ones for an hour.
        status = desiredStatus or "RUNNING"
        found = [t for t in found if t.desired_status == status]
        return found

    def stop_task(self, cluster_str: str, task_str: str, reason: str):
        cluster = self._get_cluster(cluster_str)
        task_id = (task_str or "").split("/")[-1]
        task = next((t for t in self.tasks.get(cluster.name, {}).values() if t.id == task_id), None)
        if task is None:
            raise InvalidParameterException("The referenced task was not found.")
        with LOCK:
            if task.desired_status != "STOPPED":
                task.desired_status = "STOPPED"
                task.stop_code = "UserInitiated"
                task.stopped_reason = reason or "Task stopped by user"
                task.stopping_at = _now()
                persistence.changed(self.account_id)
        services.announce("ecs.task-stop-requested", backend=self, task=task)
        return task

    @staticmethod
    def _calculate_task_resource_requirements(task_definition) -> dict[str, Any]:
        containers = task_definition.container_definitions
        missing = [c for c in containers
                   if not any(c.get(k) is not None for k in ("memory", "memoryReservation", "Memory",
                                                             "MemoryReservation"))]
        if not missing:
            return _resources(task_definition)
        try:
            task_memory = int(getattr(task_definition, "memory", None) or 0)
        except (TypeError, ValueError):
            task_memory = 0
        share = task_memory // len(missing) if missing else 0
        patched = [dict(c, memory=share) if c in missing else c for c in containers]
        original = task_definition.container_definitions
        try:
            task_definition.container_definitions = patched
            return _resources(task_definition)
        finally:
            task_definition.container_definitions = original


# -- tasks ----------------------------------------------------------------------------------

@extend(Task)
class _Task:
    def advance(self) -> None:
        """moto moves a task one state per describe; here the task runner moves it on the clock."""

    # moto's ManagedState moves the status as it is read; here only the task runner moves it.
    status = property(lambda self: self._status, lambda self, value: setattr(self, "_status", value))


def _now() -> float:
    return time.time()


def prepare_task(task: Task, backend: EC2ContainerServiceBackend, launch_type: str | None) -> None:
    """A task as ECS reports it when run_task answers: PROVISIONING, one container per
    container definition, nothing started yet."""
    definition = backend.describe_task_definition(task.task_definition_arn)
    overrides = {c.get("name"): c for c in (task.overrides or {}).get("containerOverrides", []) or []}
    task.status = "PROVISIONING"
    task.desired_status = "RUNNING"
    task.launch_type = launch_type or task.launch_type or "FARGATE"
    task.created_at = _now()
    task.ws_since = task.created_at
    task.cpu = str(definition.cpu) if definition.cpu else None
    task.memory = str(definition.memory) if definition.memory else None
    task.health_status = "UNKNOWN"
    task.stop_code = None
    task.stopped_reason = None
    task.version = 1
    task.platform_family = "Linux" if task.launch_type == "FARGATE" else None
    task.availability_zone = f"{task.region_name}a"
    task.ws_failed = False          # stopped by what ECS counts as a failure (circuit breaker)
    containers = []
    for spec in definition.container_definitions:
        container = Container(definition)
        container.task_arn = task.task_arn
        container.container_arn = (f"arn:aws:ecs:{task.region_name}:{backend.account_id}:container/"
                                   f"{task.cluster_name}/{task.id}/{uuid.uuid4()}")
        container.name = spec.get("name")
        container.image = spec.get("image")
        container.last_status = "PENDING"
        container.exitCode = None
        container.reason = None
        container.network_bindings = []
        container.network_interfaces = []
        container.health_status = "UNKNOWN"
        container.cpu = str(spec.get("cpu", 0))
        container.memory = str(spec["memory"]) if spec.get("memory") else None
        container.memory_reservation = str(spec["memoryReservation"]) if spec.get("memoryReservation") else None
        container.essential = spec.get("essential", True)
        override = overrides.get(container.name) or {}
        container.ws_command = override.get("command") or spec.get("command")
        container.ws_environment = list(spec.get("environment") or []) + list(override.get("environment") or [])
        containers.append(container)
    task.containers = containers
    persistence.changed(backend.account_id)






def _check_definition(backend, task_definition_str: str) -> None:
    definition = backend.describe_task_definition(task_definition_str)
    for spec in definition.container_definitions:
        if not spec.get("image"):
            raise InvalidParameterException(f"Container.image should not be null or empty.")
