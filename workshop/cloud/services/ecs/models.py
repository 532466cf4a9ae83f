"""ECS requests AWS accepts that moto 5.2.5 failed with a 500:

- an awsvpc service or task without ``securityGroups``: AWS uses the default
  security group of the subnets' VPC (moto raised KeyError);
- a container without ``memory``/``memoryReservation`` in a task definition with
  task-level memory (Fargate's usual shape): the task's memory counts (moto added None).
"""

from __future__ import annotations

from typing import Any

from moto.ecs.models import EC2ContainerServiceBackend, Service

from workshop.cloud.services import extend

_validate_network = Service._validate_network
_resources = EC2ContainerServiceBackend._calculate_task_resource_requirements
_run_task = EC2ContainerServiceBackend.run_task


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
        return _run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type,
                         networking_configuration, *args, **kwargs)

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
