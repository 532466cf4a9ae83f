"""Runs a lab's checks: one read of the learner's account, then every check
over that read. A broken or half-made state becomes findings with hints;
only an unreachable endpoint stops the run (``CannotRun``)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from checker.registry import Check, failed, get_lab
from checker.results import CheckResult, LabResult
from checker.session import Session, Target, session as make_session


class CannotRun(Exception):
    """The checks cannot run at all (the endpoint is down, no credentials)."""


class Account:
    """What a lab's reader gets: clients, the account id, and calls that turn
    AWS errors into ``None`` (with the error kept) instead of raising."""

    def __init__(self, session: Session, account_id: str):
        self.session = session
        self.id = account_id
        self.region = session.target.region
        self.errors: dict[str, str] = {}

    def client(self, service: str):
        return self.session.client(service)

    def call(self, service: str, operation: str, /, **params) -> dict | None:
        """``client(service).<operation>(**params)``; None on an AWS error (kept in ``errors``).
        Positional-only, so that an operation's own ``service`` parameter (ECS) passes through."""
        from botocore.exceptions import ClientError

        try:
            return getattr(self.client(service), operation)(**params)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            self.errors[f"{service}.{operation}"] = f"{err.get('Code', 'Error')}: {err.get('Message', '')}"
            return None

    @functools.cached_property
    def time_scale(self) -> float:
        """The workshop clock's time scale (1 on AWS), asked once per run."""
        from checker.session import time_scale

        return time_scale(self.session.target)

    def error_code(self, service: str, operation: str) -> str | None:
        text = self.errors.get(f"{service}.{operation}")
        return text.split(":", 1)[0] if text else None

    def poll(self, read: Callable[[], Any], done: Callable[[Any], bool],
             timeout: float = 10.0, every: float = 0.25) -> Any:
        """Read until ``done`` holds or the bound runs out (eventual consistency)."""
        deadline = time.monotonic() + timeout
        value = read()
        while not done(value) and time.monotonic() < deadline:
            time.sleep(every)
            value = read()
        return value


def identify(sess: Session) -> str:
    """The account the session's keys act as: asked once per session (STS), then known."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    if sess.account_id is not None:
        return sess.account_id
    try:
        sess.account_id = sess.client("sts").get_caller_identity()["Account"]
        return sess.account_id
    except EndpointConnectionError:
        where = sess.target.endpoint or "AWS"
        raise CannotRun(
            f"cannot reach the AWS endpoint at {where}. Start the workshop cloud with "
            "`workshop up` (or `workshop cloud`), or point --endpoint / AWS_ENDPOINT_URL at it."
        ) from None
    except NoCredentialsError:
        raise CannotRun("no AWS credentials: set AWS_ACCESS_KEY_ID (your account id) or pass --account") from None
    except ClientError as exc:
        raise CannotRun(f"the endpoint refused to identify the account: {exc}") from None


def run_lab(lab_id: str, where: Target | None = None, step: str | None = None,
            sess: Session | None = None) -> LabResult:
    """Run the checks of one lab (or of one step of it) against an account."""
    lab = get_lab(lab_id)
    sess = sess or make_session(where)
    endpoint = sess.target.endpoint or "aws"
    result = LabResult(lab=lab.id, title=lab.title, endpoint=endpoint, account=None)
    account_id = identify(sess)
    result.account = account_id
    checks = [c for c in lab.checks if step is None or c.step == step]
    account = Account(sess, account_id)
    try:
        state = lab.read(account) if lab.read else None
    except Exception as exc:  # a reader bug must still leave the learner a finding
        state = None
        read_error = f"could not read the lab's resources ({type(exc).__name__}: {exc})"
    else:
        read_error = None
    for check in checks:
        result.results.append(_run_check(check, state, read_error))
    return result


def _run_check(check: Check, state: Any, read_error: str | None) -> CheckResult:
    if read_error is not None:
        finding = failed(read_error)
    else:
        try:
            finding = check.func(state)
        except Exception as exc:
            finding = failed(f"could not evaluate this check ({type(exc).__name__}: {exc})")
    return CheckResult(
        id=check.id, title=check.title, points=check.points, passed=finding.passed,
        message=finding.message, hint="" if finding.passed or finding.skipped else check.hints[0],
        hints=list(check.hints), docs=check.docs, step=check.step, skipped=finding.skipped,
    )
