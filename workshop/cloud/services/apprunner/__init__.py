"""AWS App Runner, which moto lacks, served by the project alone (services.serve by its
signing name): ``models.py`` (services from an ECR image, their operations and tags),
``responses.py`` (JSON 1.0 wire format), the engine ``service_runner.py`` (instances run by
the ECS task engine, health checks, operations on the clock, auto deployments on a push to
the image's tag) and ``listener.py`` (each service's URL, served locally)."""

from workshop.cloud import services

# The engine runs on ECS's task engine and ELB's proxy, whose moto modules moto's CloudFormation
# imports too: loaded through their services' locks first, so that an App Runner request never
# imports moto's ELB and ECS while the start-up warm-up imports CloudFormation (measured: two
# threads importing them at once left moto.elb.models half-initialised, an ImportError).
for _needed in ("cloudformation", "ecr", "ecs", "elbv2", "logs"):
    services.ensure_loaded(_needed)

from workshop.cloud.services.apprunner import models, responses, service_runner  # noqa: E402,F401  (subscribes)

services.serve("apprunner", responses.App())
