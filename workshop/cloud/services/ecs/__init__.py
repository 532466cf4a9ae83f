"""ECS whose tasks run: ``models.py`` (tasks as ECS reports them, and the requests moto
answered with a 500), ``deployments.py`` (services' deployments, events and service
deployment records), ``task_sets.py`` (task sets of CODE_DEPLOY and EXTERNAL
services), ``express.py`` (Express Mode services and what they make),
``responses.py`` (the wire format moto lacks); the engines ``task_runner.py`` (containers
from the registry's images, chrooted in a user namespace), ``rootfs.py`` (images unpacked
once per digest), ``scheduler.py`` (lifecycle on the clock, desiredCount, rolling
deployments, circuit breaker, alarms, AWS/ECS metrics), ``bluegreen.py`` (BLUE_GREEN,
CANARY and LINEAR deployments, lifecycle hooks) and ``express_endpoints.py`` (Express
endpoints served on local ports)."""

from workshop.cloud.services.ecs import deployments, express, models, responses, task_sets  # noqa: F401  (registers)
from workshop.cloud.services.ecs import express_endpoints  # noqa: F401  (serves Express endpoints)
from workshop.cloud.services.ecs import scheduler  # noqa: F401  (the engine subscribes; starts lazily)
