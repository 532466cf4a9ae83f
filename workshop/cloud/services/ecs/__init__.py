"""ECS whose tasks run: ``models.py`` (tasks as ECS reports them, and the requests moto
answered with a 500), ``deployments.py`` (services' deployments, events and service
deployment records), ``responses.py`` (the wire format moto lacks); the engines
``task_runner.py`` (containers from the registry's images, chrooted in a user namespace),
``rootfs.py`` (images unpacked once per digest) and ``scheduler.py`` (lifecycle on the
clock, desiredCount, rolling deployments, circuit breaker, alarms, AWS/ECS metrics)."""

from workshop.cloud.services.ecs import deployments, models, responses  # noqa: F401  (registers)
from workshop.cloud.services.ecs import scheduler  # noqa: F401  (the engine subscribes; starts lazily)
