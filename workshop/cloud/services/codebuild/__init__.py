"""CodeBuild whose builds really run: projects, builds, report groups and
reports (models.py), their wire format (responses.py), the engine that runs
builds (build_runner.py), and CloudFormation resources (cloudformation.py)."""

from workshop.cloud.services.codebuild import build_runner, models, responses  # noqa: F401  (registers)
