"""SQS as AWS measures it: per-queue AWS/SQS metrics on moto's own message path."""

from workshop.cloud.services.sqs import metrics  # noqa: F401
