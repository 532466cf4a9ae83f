"""Lambda functions that run: Python handlers execute in warm local worker
processes (no Docker), aliases route by weight, every invocation leaves AWS's
metrics in CloudWatch and its output in CloudWatch Logs; CloudFormation creates
functions, versions and aliases."""

from workshop.cloud.services.awslambda import cloudformation, function_runner, models, responses  # noqa: F401  (registers)
