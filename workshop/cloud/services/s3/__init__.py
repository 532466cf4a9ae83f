"""S3 as the labs need it beyond moto: bucket policies whose Condition blocks
are evaluated (bucket_policy.py); requests from other accounts are decided in
``workshop.cloud.cross_account`` before moto sees them; restored buckets claim
their names again (names.py)."""

from workshop.cloud.services.s3 import bucket_policy, names  # noqa: F401  (they register)
