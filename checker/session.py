"""The one session factory: every check, every command and every lab helper
that talks to AWS gets its clients here.

An emulator endpoint (the workshop cloud, LocalStack) is reached through
``localstack-client``; real AWS through plain boto3. The endpoint comes from
the caller, else ``AWS_ENDPOINT_URL``, else ``http://localhost:4566``; the
string ``aws`` means real AWS. An account id given as ``account`` is used as
the access key id, the way a learner's notebook does.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from urllib.parse import urlparse

DEFAULT_ENDPOINT = "http://localhost:4566"
DEFAULT_REGION = "us-east-1"
REAL_AWS = "aws"


@dataclass(frozen=True)
class Target:
    """Where to read: an endpoint (None for real AWS), credentials, a region."""

    endpoint: str | None
    access_key_id: str
    secret_access_key: str
    region: str
    session_token: str | None = None

    @property
    def is_emulator(self) -> bool:
        return self.endpoint is not None


def target(endpoint: str | None = None, account: str | None = None,
           region: str | None = None) -> Target:
    """Resolve where to read from arguments, then the environment, then defaults."""
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
    region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
    if endpoint == REAL_AWS:
        import boto3

        creds = boto3.Session(region_name=region).get_credentials()
        if creds is None:
            raise LookupError("no AWS credentials found for real AWS")
        frozen = creds.get_frozen_credentials()
        return Target(None, frozen.access_key, frozen.secret_key, region, frozen.token)
    if account:
        key = account
        same = os.environ.get("AWS_ACCESS_KEY_ID") == account
        secret = (os.environ.get("AWS_SECRET_ACCESS_KEY") if same else None) or "test"
    else:
        key = os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("WORKSHOP_ACCOUNT") or "test"
        secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or "test"
    return Target(endpoint.rstrip("/"), key, secret, region)



def time_scale(where: Target | None = None) -> float:
    """How many times faster than AWS the workshop clock runs the waits AWS imposes
    (canary bakes, alarm and metric periods): 60 means a 5-minute bake lasts 5 s. The
    workshop cloud says so in its health answer; anywhere else (real AWS, another
    emulator) it is 1."""
    import json
    import urllib.request

    where = where or target()
    if where.endpoint is None:
        return 1.0
    try:
        with urllib.request.urlopen(f"{where.endpoint}/_workshop/health", timeout=3) as answer:
            scale = float(json.loads(answer.read()).get("time_scale") or 1.0)
    except (OSError, ValueError, AttributeError):
        return 1.0   # LocalStack and other emulators: no workshop clock
    return scale if scale > 0 else 1.0


@dataclass
class Session:
    """Clients for one target, made once each (client creation is the costly part), and
    the account the target's keys act as, once known (``checker.runner.identify``)."""

    target: Target
    _clients: dict = field(default_factory=dict)
    account_id: str | None = None

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = _make_client(self.target, service)
        return self._clients[service]


def session(where: Target | None = None) -> Session:
    return Session(where or target())


def client(service: str, where: Target | None = None):
    """A single client (notebooks and helpers); prefer ``session()`` for many calls."""
    return _make_client(where or target(), service)


def _config():
    from botocore.config import Config

    # Quick to fail when the cloud is down; no long retry loops in a checker.
    return Config(connect_timeout=3, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"})


# Clients are made one at a time in a process: making one is CPU (botocore loads and
# caches the service's model and endpoint rules in its loader), and threads of a class
# report that made their first clients at once each loaded every model again (measured:
# 9 learners' threads, 42 clients, 3 s of stat/listdir in botocore's loader).
_making = threading.Lock()


def _make_client(where: Target, service: str):
    with _making:
        return _new_client(where, service)


def _new_client(where: Target, service: str):
    if where.endpoint is None:
        import boto3

        return boto3.Session(
            aws_access_key_id=where.access_key_id, aws_secret_access_key=where.secret_access_key,
            aws_session_token=where.session_token, region_name=where.region,
        ).client(service, config=_config())
    from localstack_client.session import Session as LocalSession

    host = urlparse(where.endpoint).netloc
    local = LocalSession(aws_access_key_id=where.access_key_id,
                         aws_secret_access_key=where.secret_access_key,
                         region_name=where.region, localstack_host=host)
    # localstack-client prefers $AWS_ENDPOINT_URL over the host it is given:
    # the endpoint asked for here wins.
    local._service_endpoint_mapping = {name: where.endpoint for name in local._service_endpoint_mapping}
    try:
        return local.client(service, config=_config())
    except Exception:
        # Services localstack-client does not list (apprunner, ...): plain boto3, same endpoint.
        import boto3

        return boto3.client(service, endpoint_url=where.endpoint, region_name=where.region,
                            aws_access_key_id=where.access_key_id,
                            aws_secret_access_key=where.secret_access_key, config=_config())
