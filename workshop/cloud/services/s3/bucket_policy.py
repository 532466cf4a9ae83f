"""Bucket policies with conditions, evaluated as AWS does: a statement applies
only when its Condition holds. moto treats any condition it is not handed
values for as failed and answers DENIED, so the common TLS-only policy
(Deny unless aws:SecureTransport) would refuse every object request.

The cloud stands in for AWS's HTTPS endpoints, so requests count as made over
TLS (aws:SecureTransport is true). Conditions on keys the cloud does not know
do not hold, so such statements do not apply (moto enforces no IAM either)."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.s3.models import FakeBucket

from workshop.cloud.services import extend

# What the cloud knows about every request, in IAM condition keys.
REQUEST_CONTEXT = {"aws:securetransport": "true"}


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


def _holds(operator: str, key: str, expected: Any) -> bool:
    if_exists = operator.endswith("IfExists")
    op = operator[: -len("IfExists")] if if_exists else operator
    actual = REQUEST_CONTEXT.get(key.lower())
    if actual is None:
        return if_exists
    wanted = _values(expected)
    if op == "Bool":
        return actual in [w.lower() for w in wanted]
    if op == "StringEquals":
        return actual in wanted
    if op == "StringNotEquals":
        return actual not in wanted
    if op == "StringEqualsIgnoreCase":
        return actual.lower() in [w.lower() for w in wanted]
    if op == "StringLike":
        return any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    if op == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    return False  # an operator the cloud does not evaluate: the statement does not apply


def conditions_hold(condition: Any) -> bool:
    if not isinstance(condition, dict):
        return False
    for operator, pairs in condition.items():
        if not isinstance(pairs, dict):
            return False
        for key, expected in pairs.items():
            if not _holds(str(operator), str(key), expected):
                return False
    return True


@extend(FakeBucket)
class _BucketPolicy:
    def get_permission(self, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        try:
            statements = json.loads(self.policy).get("Statement") or []
        except (ValueError, AttributeError):
            return PermissionResult.NEUTRAL
        if isinstance(statements, dict):
            statements = [statements]
        permitted = False
        for statement in statements:
            if not isinstance(statement, dict):
                continue
            if "Condition" in statement:
                if not conditions_hold(statement["Condition"]):
                    continue
                statement = {k: v for k, v in statement.items() if k != "Condition"}
            result = IAMPolicyStatement(statement).is_action_permitted(action, resource)
            if result == PermissionResult.DENIED:
                return result
            permitted = permitted or result == PermissionResult.PERMITTED
        return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL
