"""git with the learner's AWS credentials, as lab 01 teaches it: a credential helper hands
them to git when the server asks, so they are never written into a URL or a config file
(HTTP basic auth on the workshop cloud; the AWS CLI's signing helper on real AWS)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Prints your access key id and secret when git asks for credentials (basic auth).
WORKSHOP_CREDENTIALS = ('!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" '
                        '"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"; }; f')
# On real AWS: the AWS CLI signs git's requests with your AWS credentials.
AWS_CLI_CREDENTIALS = "!aws codecommit credential-helper $@"


def run_git(*args: str, cwd: str | Path, check: bool = True, quiet: bool = False) -> str | None:
    """Run one git command in ``cwd`` with your AWS credentials. It prints what git says and
    returns None, or with ``quiet=True`` returns git's output without printing it (a cell
    ending in a call shows the output once). Raises RuntimeError when git fails (``check``)."""
    import boto3

    creds = boto3.Session().get_credentials()
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        env.update(AWS_ACCESS_KEY_ID=frozen.access_key, AWS_SECRET_ACCESS_KEY=frozen.secret_key)
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = frozen.token
    helper = WORKSHOP_CREDENTIALS if os.environ.get("AWS_ENDPOINT_URL") else AWS_CLI_CREDENTIALS
    # The empty helper first clears any helper your global git configuration names.
    command = ["git", "-c", "credential.helper=", "-c", f"credential.helper={helper}",
               "-c", "credential.UseHttpPath=true", *args]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    said = (proc.stdout + proc.stderr).strip()
    if said and not quiet:
        print(said)
    if check and proc.returncode != 0:
        detail = f": {said}" if said and quiet else ""
        raise RuntimeError(f"git {' '.join(args)} failed with exit code {proc.returncode}{detail}")
    return proc.stdout.strip() if quiet else None
