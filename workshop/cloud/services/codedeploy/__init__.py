"""CodeDeploy whose deployments run: applications, deployment configurations,
groups, on-premises instances and deployments (models.py), their wire format
(responses.py), the engine that runs deployments (deployment_runner.py, with
agent.py for each instance), the predefined configurations (configs.py) and
CloudFormation resources (cloudformation.py).

For other engines: ``create_deployment(account, region, application, group,
revision, **options) -> deployment id`` and ``deployment_status(account, region,
deployment_id) -> dict`` (GetDeployment's deploymentInfo)."""

from workshop.cloud.services.codedeploy import deployment_runner, models, responses  # noqa: F401  (registers)
from workshop.cloud.services.codedeploy.models import create_deployment, deployment_status  # noqa: F401
