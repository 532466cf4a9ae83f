"""S3 as the labs need it beyond moto: bucket policies whose Condition blocks
are evaluated (bucket_policy.py)."""

from workshop.cloud.services.s3 import bucket_policy  # noqa: F401  (registers)
