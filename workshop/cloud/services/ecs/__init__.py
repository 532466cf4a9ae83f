"""ECS beyond moto (the first pieces; tasks that run are still to come): the
inputs AWS accepts and moto answered with a 500 (models.py)."""

from workshop.cloud.services.ecs import models  # noqa: F401  (registers)
