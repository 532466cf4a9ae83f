"""Bucket policies with conditions, evaluated as AWS does: a statement applies
only when its Condition holds. moto treats any condition it is not handed
values for as failed and answers DENIED, so the common TLS-only policy
(Deny unless aws:SecureTransport) would refuse every object request.

The evaluation itself (conditions, actions, resources) is the cloud's one
resource-policy evaluator, ``workshop.cloud.resource_policy``; requests from
another account are decided before moto by ``workshop.cloud.cross_account``."""

from __future__ import annotations

from typing import Any

from moto.iam.access_control import PermissionResult
from moto.s3.models import FakeBucket

from workshop.cloud import resource_policy
from workshop.cloud.services import extend

_RESULTS = {resource_policy.Decision.ALLOW: PermissionResult.PERMITTED,
            resource_policy.Decision.DENY: PermissionResult.DENIED,
            resource_policy.Decision.NEUTRAL: PermissionResult.NEUTRAL}


@extend(FakeBucket)
class _BucketPolicy:
    def get_permission(self, action: str, resource: str) -> Any:
        # moto asks without the caller: the owner's policy binds every principal it names.
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return _RESULTS[resource_policy.evaluate(self.policy, action, resource)]
