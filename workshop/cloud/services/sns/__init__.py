"""SNS as AWS measures it: per-topic AWS/SNS metrics on moto's own publish path."""

from workshop.cloud.services.sns import metrics  # noqa: F401
from workshop.cloud.services.sqs import metrics as _sqs_metrics  # noqa: F401  (deliveries to queues)
