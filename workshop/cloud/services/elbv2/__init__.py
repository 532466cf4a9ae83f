"""Elastic Load Balancing v2 that serves: application load balancers whose listeners
answer on a local port (models.py: targets, health, listeners; rules.py: routing), the
engines that proxy (proxy.py), check health and drain (health_checker.py), publish
``AWS/ApplicationELB`` (metrics.py) and write access logs to S3 (access_logs.py)."""

from workshop.cloud.services.elbv2 import models  # noqa: F401  (registers)
from workshop.cloud.services.elbv2 import health_checker, proxy  # noqa: F401  (engines subscribe)
