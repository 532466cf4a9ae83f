"""Resource policies (bucket, topic and queue policies) evaluated as AWS does for
a request: who is asking (Principal), what (Action) on what (Resource), and
whether its Condition holds. One evaluator serves S3's bucket policies and the
cross-account rule (cross_account.py).

The cloud authorizes by account (it enforces no IAM): a principal naming any
identity of an account (its root, a role, a user) matches that account's requests.
The cloud stands in for AWS's HTTPS endpoints, so requests count as made over TLS;
conditions on keys the cloud does not know do not hold, so such statements do not apply.
"""

from __future__ import annotations

import fnmatch
import json
import re
from enum import Enum
from typing import Any

# What the cloud knows about every request, in IAM condition keys (lower case).
REQUEST_CONTEXT = {"aws:securetransport": "true"}

_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:[^:]+:(?:iam|sts)::(\d{12}):")


class Decision(Enum):
    ALLOW = "allow"      # an Allow statement applies and no Deny does
    DENY = "deny"        # a Deny statement applies
    NEUTRAL = "neutral"  # no statement applies


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


def _holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    op = operator[: -len("IfExists")] if if_exists else operator
    actual = context.get(key.lower())
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
    if op in ("StringLike", "ArnLike", "ArnEquals"):
        return any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    if op in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
        return not any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    return False  # an operator the cloud does not evaluate: the statement does not apply


def conditions_hold(condition: Any, context: dict[str, str] | None = None) -> bool:
    """Whether every operator/key pair of a Condition block holds for the request."""
    known = dict(REQUEST_CONTEXT, **(context or {}))
    if not isinstance(condition, dict):
        return False
    for operator, pairs in condition.items():
        if not isinstance(pairs, dict):
            return False
        for key, expected in pairs.items():
            if not _holds(str(operator), str(key), expected, known):
                return False
    return True


def statements(policy: Any) -> list[dict]:
    """The statements of a policy given as JSON text or a parsed document; [] if unreadable."""
    if policy is None or policy == "":
        return []
    if isinstance(policy, (str, bytes)):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    found = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(found, dict):
        found = [found]
    return [s for s in found or [] if isinstance(s, dict)]


def principal_matches(principal: Any, account_id: str) -> bool:
    """``"*"``, ``{"AWS": "*"}``, the account id, or an IAM/STS ARN in the account.
    Service principals (``{"Service": ...}``) name deliveries inside the cloud, never a request."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _values(principal.get("AWS", [])):
        if value == "*" or value == account_id:
            return True
        match = _IAM_ARN.match(value)
        if match and match.group(1) == account_id:
            return True
    return False


def _any_matches(patterns: Any, value: str, ignore_case: bool) -> bool:
    for pattern in _values(patterns):
        if ignore_case:
            if fnmatch.fnmatchcase(value.lower(), pattern.lower()):
                return True
        elif fnmatch.fnmatchcase(value, pattern):
            return True
    return False


def statement_applies(statement: dict, action: str, resource: str, account_id: str | None,
                      context: dict[str, str] | None = None) -> bool:
    """Whether a statement speaks about this request. ``account_id`` None: any principal
    (a same-account check, where the bucket owner's own policy binds everyone)."""
    if account_id is not None:
        if "NotPrincipal" in statement:
            if principal_matches(statement["NotPrincipal"], account_id):
                return False
        elif not principal_matches(statement.get("Principal"), account_id):
            return False
    if "NotAction" in statement:
        if _any_matches(statement["NotAction"], action, True):
            return False
    elif not _any_matches(statement.get("Action", []), action, True):
        return False
    if "NotResource" in statement:
        if _any_matches(statement["NotResource"], resource, False):
            return False
    elif "Resource" in statement and not _any_matches(statement["Resource"], resource, False):
        return False
    return "Condition" not in statement or conditions_hold(statement["Condition"], context)


def evaluate(policy: Any, action: str, resource: str, account_id: str | None = None,
             context: dict[str, str] | None = None) -> Decision:
    """What a resource policy says about ``account_id`` doing ``action`` on ``resource``."""
    allowed = False
    for statement in statements(policy):
        if not statement_applies(statement, action, resource, account_id, context):
            continue
        if str(statement.get("Effect", "")).lower() == "deny":
            return Decision.DENY
        allowed = allowed or str(statement.get("Effect", "")).lower() == "allow"
    return Decision.ALLOW if allowed else Decision.NEUTRAL
