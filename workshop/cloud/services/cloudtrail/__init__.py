"""CloudTrail's Event History: the one recorder (recorder.py), the history per account
and region (models.py), LookupEvents (responses.py)."""

from workshop.cloud.services.cloudtrail import responses  # noqa: F401  (registers LookupEvents)
