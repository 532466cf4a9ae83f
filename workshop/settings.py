"""Where things are and the defaults every command shares: the project folder,
the data dir, the endpoint, the learner's account, the admin token file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULT_HOST = "localhost"  # the cloud listens on 127.0.0.1 and ::1
DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"
DEFAULT_ENDPOINT = f"http://localhost:{DEFAULT_PORT}"
ADMIN_TOKEN_FILE = "admin-token"


def project_root() -> Path:
    """The folder holding labs/ and solutions/: $WORKSHOP_HOME, else the
    checkout this package was installed from, else the current folder."""
    env = os.environ.get("WORKSHOP_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[1]
    if (here / "solutions").is_dir():
        return here
    return Path.cwd()


def data_dir(given: str | None = None) -> Path:
    path = given or os.environ.get("WORKSHOP_DATA_DIR") or str(Path.home() / ".workshop")
    return Path(path).expanduser().resolve()


def admin_token(data: Path, create: bool = False) -> str | None:
    """$WORKSHOP_ADMIN_TOKEN, else the token stored in the data dir (made on first use)."""
    env = os.environ.get("WORKSHOP_ADMIN_TOKEN")
    if env:
        return env
    path = data / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text().strip() or None
    if not create:
        return None
    data.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def learner_aws_env(endpoint: str, access_key_id: str, secret_access_key: str = "test",
                    region: str = DEFAULT_REGION) -> dict[str, str]:
    """The AWS settings of one learner's kernels, builds and grading runs: their
    endpoint, region and own key, nothing else. A 12-digit key is the account."""
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret_access_key,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
    if access_key_id.isdigit() and len(access_key_id) == 12:
        env["WORKSHOP_ACCOUNT"] = access_key_id
    return env
