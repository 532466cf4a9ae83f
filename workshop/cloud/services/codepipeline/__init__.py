"""CodePipeline that executes: pipelines and executions (models.py), the
structure's rules (declaration.py), the wire format (responses.py), the engine
that runs stages and actions (pipeline_runner.py, actions/), and the
AWS::CodePipeline::Pipeline CloudFormation resource (cloudformation.py)."""

from workshop.cloud.services.codepipeline import models, pipeline_runner, responses  # noqa: F401  (registers)
