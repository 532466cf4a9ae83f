"""EKS on the clock: ``models.py`` (clusters, node groups, Fargate profiles, updates, on
moto's backend), ``addons.py`` (add-ons, access entries), ``catalog.py`` (Kubernetes
versions, add-on versions, access policies), ``responses.py`` (the wire format),
``endpoint.py`` (the paths moto lacks and what a cluster's endpoint answers) and the
engine ``lifecycle_runner.py`` (the clock's time spent on the work under way)."""

from workshop.cloud.services.eks import models, responses  # noqa: F401  (registers)
from workshop.cloud.services.eks import lifecycle_runner  # noqa: F401  (the engine subscribes; starts lazily)
