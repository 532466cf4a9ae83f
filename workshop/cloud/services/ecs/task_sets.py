"""ECS task sets (the services whose deploymentController is CODE_DEPLOY or EXTERNAL):
create/describe/update/delete_task_set and update_service_primary_task_set on moto's
TaskSet, a CODE_DEPLOY service's first task set made at create_service as ECS does, and
``reconcile`` (called by the scheduler's tick) that runs each task set's share of the
service's desiredCount through the task runner, its tasks registered with the task set's
own target group."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from moto.ecs.exceptions import ECSException, InvalidParameterException, ServiceNotFoundException
from moto.ecs.models import EC2ContainerServiceBackend, TaskSet

from workshop.cloud import persistence, services
from workshop.cloud.services import extend
from workshop.cloud.services.ecs import deployments  # noqa: F401  (its create_service is the one wrapped here)
from workshop.cloud.services.ecs.models import LOCK, STARTING

CONTROLLERS = ("CODE_DEPLOY", "EXTERNAL")
NOT_EXTERNAL = ("Amazon ECS only supports task set management on services configured to use external "
                "deployment controllers.")

_create_service = EC2ContainerServiceBackend.create_service
_update_service = EC2ContainerServiceBackend.update_service
_create_task_set = EC2ContainerServiceBackend.create_task_set


def controller(service) -> str:
    return (getattr(service, "deployment_controller", None) or {}).get("type", "ECS")


def _not_found() -> ECSException:
    return ECSException("TaskSetNotFoundException", "The specified task set does not exist.")


def _scale(scale) -> dict:
    if scale is None:
        return {"value": 100.0, "unit": "PERCENT"}
    if not isinstance(scale, dict) or scale.get("unit", "PERCENT") != "PERCENT":
        raise InvalidParameterException("scale.unit must be PERCENT.")
    try:
        value = float(scale.get("value", 100.0))
    except (TypeError, ValueError):
        raise InvalidParameterException("scale.value must be a number between 0 and 100.") from None
    if not 0 <= value <= 100:
        raise InvalidParameterException("scale.value must be between 0 and 100.")
    return {"value": value, "unit": "PERCENT"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def load_balancers(service, task) -> list:
    """The load balancers a service's task registers with: its task set's, else the service's."""
    task_set = find(service, task.started_by) if getattr(service, "task_sets", None) else None
    return task_set.load_balancers if task_set is not None else (service.load_balancers or [])


def find(service, ident: str | None):
    for task_set in getattr(service, "task_sets", []) or []:
        if ident and (ident == task_set.id or ident == task_set.task_set_arn
                      or ident == "/".join(task_set.task_set_arn.split("/")[-2:])):
            return task_set
    return None


def _prepare(task_set: TaskSet, started_by: str | None) -> TaskSet:
    task_set.started_by = started_by
    task_set.computed_desired_count = 0
    task_set.running_count = task_set.pending_count = 0
    task_set.stabilityStatus = "STABILIZING"
    task_set.stabilityStatusAt = _now()
    return task_set


@extend(EC2ContainerServiceBackend)
class _Backend:
    def create_service(self, cluster_str, service_name, desired_count, task_definition_str=None, *args, **kwargs):
        service = _create_service(self, cluster_str, service_name, desired_count, task_definition_str, *args,
                                  **kwargs)
        if controller(service) == "CODE_DEPLOY" and service.task_definition:
            # ECS makes a CODE_DEPLOY service's first task set itself (PRIMARY, 100%).
            with LOCK:
                task_set = self._new_task_set(service, service.task_definition, None,
                                              service.network_configuration or None, service.load_balancers,
                                              service.launch_type, None, {"value": 100.0, "unit": "PERCENT"},
                                              started_by=None)
                task_set.status = "PRIMARY"
            services.announce("ecs.service-changed", backend=self, service=service)
        return service

    def update_service(self, service_properties: dict):
        cluster_str = service_properties.get("cluster", "default")
        service = self._get_service(cluster_str, (service_properties.get("service") or "").split("/")[-1])
        definition = service_properties.get("task_definition")
        if controller(service) == "CODE_DEPLOY" and definition and \
                self.describe_task_definition(definition).arn != service.task_definition:
            raise InvalidParameterException(
                "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use "
                "AWS CodeDeploy to trigger a new deployment.")
        return _update_service(self, service_properties)

    def _new_task_set(self, service, task_definition, external_id, network_configuration, lbs, launch_type,
                      platform_version, scale, started_by=None, tags=None) -> TaskSet:
        definition = self.describe_task_definition(task_definition)
        task_set = TaskSet(service.name, service.cluster_name, definition.arn, self.account_id, self.region_name,
                           external_id=external_id, network_configuration=network_configuration,
                           load_balancers=[dict(lb) for lb in lbs or []], launch_type=launch_type or "EC2",
                           platform_version=platform_version, scale=_scale(scale), tags=tags)
        task_set.service_arn, task_set.cluster_arn = service.arn, service.cluster_arn
        service.task_sets.append(_prepare(task_set, started_by))
        persistence.changed(self.account_id)
        return task_set

    def create_task_set(self, service, cluster_str, task_definition, external_id=None, network_configuration=None,
                        load_balancers=None, service_registries=None, launch_type=None,
                        capacity_provider_strategy=None, platform_version=None, scale=None, client_token=None,
                        tags=None, started_by=None) -> TaskSet:
        if not service:
            raise InvalidParameterException("Service must be specified.")
        if not task_definition:
            raise InvalidParameterException("TaskDefinition must be specified.")
        found = self._get_service(cluster_str or "default", service.split("/")[-1])
        if found.status != "ACTIVE":
            raise ServiceNotFoundException()
        if controller(found) not in CONTROLLERS:
            raise InvalidParameterException(NOT_EXTERNAL)
        if launch_type not in (None, "EC2", "FARGATE", "EXTERNAL"):
            raise InvalidParameterException("launch type should be one of [EC2,FARGATE,EXTERNAL]")
        if len(load_balancers or []) > 1:
            raise InvalidParameterException("A task set can have at most one load balancer.")
        for lb in load_balancers or []:
            if not lb.get("targetGroupArn") or not lb.get("containerName") or lb.get("containerPort") is None:
                raise InvalidParameterException(
                    "loadBalancers needs targetGroupArn, containerName and containerPort.")
        with LOCK:
            task_set = self._new_task_set(found, task_definition, external_id, network_configuration,
                                          load_balancers, launch_type or found.launch_type, platform_version,
                                          scale, started_by=started_by, tags=tags)
        services.announce("ecs.service-changed", backend=self, service=found)
        return task_set

    def _task_set(self, cluster_str, service_str, ident):
        service = self._get_service(cluster_str or "default", (service_str or "").split("/")[-1])
        if controller(service) not in CONTROLLERS:
            raise InvalidParameterException(NOT_EXTERNAL)
        task_set = find(service, ident)
        if task_set is None:
            raise _not_found()
        return service, task_set

    def describe_task_sets(self, cluster_str, service, task_sets):
        found = self._get_service(cluster_str or "default", (service or "").split("/")[-1])
        if controller(found) not in CONTROLLERS:
            raise InvalidParameterException(NOT_EXTERNAL)
        if not task_sets:
            return list(found.task_sets)
        return [t for t in found.task_sets if any(find(found, ident) is t for ident in task_sets)]

    def update_task_set(self, cluster, service, task_set, scale):
        if scale is None:
            raise InvalidParameterException("Scale must be specified.")
        found, task_set = self._task_set(cluster, service, task_set)
        if task_set.status == "DRAINING":
            raise InvalidParameterException("The task set is being deleted.")
        with LOCK:
            task_set.scale = _scale(scale)
            task_set.updatedAt = _now()
            persistence.changed(self.account_id)
        services.announce("ecs.service-changed", backend=self, service=found)
        return task_set

    def update_service_primary_task_set(self, cluster, service, primary_task_set):
        found, task_set = self._task_set(cluster, service, primary_task_set)
        if task_set.status == "DRAINING":
            raise InvalidParameterException("The task set is being deleted.")
        with LOCK:
            for other in found.task_sets:
                if other.status != "DRAINING":
                    other.status = "PRIMARY" if other is task_set else "ACTIVE"
                    other.updatedAt = _now()
            found.task_definition = task_set.task_definition
            found.load_balancers = [dict(lb) for lb in task_set.load_balancers]
            persistence.changed(self.account_id)
        services.announce("ecs.service-changed", backend=self, service=found)
        return task_set

    def delete_task_set(self, cluster, service, task_set, force=False):
        found, task_set = self._task_set(cluster, service, task_set)
        if task_set.status == "PRIMARY" and not force and task_set.scale.get("value", 0) > 0:
            raise InvalidParameterException(
                "Cannot delete the primary task set while it is scaled above 0%. Scale it to 0% first, or use force.")
        with LOCK:
            task_set.status = "DRAINING"
            task_set.updatedAt = _now()
            persistence.changed(self.account_id)
        services.announce("ecs.service-changed", backend=self, service=found)
        return task_set


# -- the engine's side: the scheduler calls this for every service on its tick --------------------

def reconcile(backend, service) -> None:
    """Hold each task set's computedDesiredCount (ceil of desiredCount x scale) of running tasks;
    tasks of a deleted (DRAINING) task set stop, and the task set goes once they have."""
    if controller(service) not in CONTROLLERS or not getattr(service, "task_sets", None):
        return
    from workshop.cloud.services.ecs.scheduler import _service_tasks, _stop_task, healthy

    live = [t for t in _service_tasks(backend, service) if t.desired_status == "RUNNING"]

    by_set: dict[str, list] = {}
    for task in live:
        by_set.setdefault(task.started_by, []).append(task)
    active = service.status == "ACTIVE"
    for task_set in list(service.task_sets):
        mine = by_set.pop(task_set.id, [])
        draining = task_set.status == "DRAINING" or not active
        want = 0 if draining else math.ceil(service.desired_count * task_set.scale.get("value", 0) / 100 - 1e-9)
        running = sum(1 for t in mine if t.last_status == "RUNNING")
        pending = sum(1 for t in mine if t.last_status in STARTING)
        ready = sum(1 for t in mine if healthy(backend, t, service))
        stable = ready == want == len(mine)
        if (want, running, pending) != (getattr(task_set, "computed_desired_count", None), task_set.running_count,
                                         task_set.pending_count):
            task_set.computed_desired_count, task_set.running_count, task_set.pending_count = want, running, pending
            task_set.updatedAt = _now()
            persistence.changed(backend.account_id)
        status = "STEADY_STATE" if stable else "STABILIZING"
        if status != task_set.stabilityStatus:
            task_set.stabilityStatus, task_set.stabilityStatusAt = status, _now()
        if draining and not mine:
            if not any(t.started_by == task_set.id and t.last_status != "STOPPED"
                       for t in backend.tasks.get(service.cluster_name, {}).values()):
                service.task_sets.remove(task_set)
                persistence.changed(backend.account_id)
            continue
        if len(mine) > want:
            extra = sorted(mine, key=lambda t: (t.last_status == "RUNNING", t.created_at))[:len(mine) - want]
            for task in extra:
                _stop_task(backend, task, "ServiceSchedulerInitiated",
                           f"Scaling activity initiated by (deployment {task_set.id})")
        elif len(mine) < want and active:
            started = backend.run_task(service.cluster_name, task_set.task_definition, min(10, want - len(mine)),
                                       None, task_set.id, None, task_set.launch_type,
                                       task_set.network_configuration or None, f"service:{service.name}")
            for task in started:
                task.ws_task_set = task_set.id
    # Tasks of no task set (one deleted and gone) stop.
    for tasks in by_set.values():
        for task in tasks:
            _stop_task(backend, task, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment)")

