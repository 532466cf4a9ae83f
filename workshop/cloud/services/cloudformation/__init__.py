"""CloudFormation that teaches IaC honestly: drift detection, failing (and
rolling back) on resource types the cloud cannot create, change sets with
real actions that keep Outputs, and resource types moto lacks."""

from workshop.cloud.services.cloudformation import models, resources, responses  # noqa: F401  (registers)
