"""A lab's first check: where the notebook's AWS calls go (endpoint, region, account) and
that something answers there; when a piece is missing, one sentence says what to run,
never a traceback (each lab's first code cell calls ``check_environment``)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

START = "start the workshop with `python -m workshop up` and open the labs from there"


class SetupProblem(Exception):
    """The notebook cannot reach AWS; IPython shows only the message (no traceback)."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


@dataclass(frozen=True)
class Environment:
    kind: str            # "the workshop cloud", "LocalStack" or "AWS"
    endpoint: str | None  # None: real AWS
    region: str
    account: str

    def describe(self) -> str:
        where = f"{self.kind} at {self.endpoint}" if self.endpoint else self.kind
        return f"{where}: account {self.account}, region {self.region}"


def check_environment(quiet: bool = False) -> Environment:
    """Check the notebook's AWS set-up and print it in one line; raise SetupProblem
    (one sentence: what to run) when the endpoint, region or keys are missing or nothing answers."""
    import boto3

    endpoint = (os.environ.get("AWS_ENDPOINT_URL") or "").rstrip("/") or None
    session = boto3.Session()
    region = session.region_name
    has_keys = session.get_credentials() is not None
    if endpoint is None and not has_keys:
        raise SetupProblem(f"This notebook has no AWS endpoint and no AWS keys: {START}.")
    if not region:
        if endpoint is None:
            raise SetupProblem("This notebook has AWS keys but no region: set one (for example "
                               "`export AWS_DEFAULT_REGION=us-east-1`) and start JupyterLab again.")
        raise SetupProblem(f"This notebook has an AWS endpoint but no region: {START}.")
    if not has_keys:
        raise SetupProblem(f"This notebook has an AWS endpoint but no AWS keys: {START}.")

    if endpoint is None:
        kind = "AWS"
    elif _answers(f"{endpoint}/_workshop/health"):
        kind = "the workshop cloud"
    elif _answers(f"{endpoint}/_localstack/health"):
        kind = "LocalStack"
    else:
        raise SetupProblem(f"Nothing answers at {endpoint}: start the workshop with `python -m workshop up` "
                           "(or the endpoint you chose) and run this cell again.")
    account = _account(kind)
    environment = Environment(kind, endpoint, region, account)
    if not quiet:
        print(environment.describe())
    return environment


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            json.loads(resp.read() or b"{}")
            return resp.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _account(kind: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    import labkit

    try:
        return labkit.account_id()
    except ClientError as err:
        error = err.response.get("Error", {})
        raise SetupProblem(f"{kind} refused your keys ({error.get('Code')}: {error.get('Message')}): "
                           + ("log in again (for example `aws sso login`) and restart the kernel."
                              if kind == "AWS" else f"{START}.")) from None
    except BotoCoreError as err:
        raise SetupProblem(f"{kind} did not answer ({err}): {START}.") from None
