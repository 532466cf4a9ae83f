"""CloudFormation that teaches IaC honestly: drift detection, failing (and
rolling back) on resource types the cloud cannot create, change sets with
real actions that keep Outputs."""

from workshop.cloud.services.cloudformation import models, responses  # noqa: F401  (registers)
