"""``workshop doctor`` run as a learner runs it: against a healthy cloud it
names the endpoint, the account, the versions and the time scale (exit 0);
against a closed port it says the cloud is down and how to start it (exit 1)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from tests.conftest import ROOT, free_port


def _doctor(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workshop", "doctor", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _fields(output: str) -> dict[str, str]:
    fields = {}
    for line in output.splitlines():
        label, _, value = line.partition("  ")
        if label and value and not line.startswith((" ", "note:")):
            fields[label.strip()] = value.strip()
    return fields


def test_doctor_reports_a_healthy_cloud(cloud, account):
    env = dict(cloud.env(account), WORKSHOP_ADMIN_TOKEN=cloud.admin_token)
    result = _doctor("--endpoint", cloud.endpoint, "--account", account, "--data-dir", str(cloud.data_dir),
                     env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    fields = _fields(result.stdout)
    assert fields["endpoint"] == cloud.endpoint
    assert fields["account"] == account  # from sts get_caller_identity
    assert fields["region"] == "us-east-1"
    for name in ("moto", "boto3", "jupyterlab", "nbgrader"):
        assert fields[name] == metadata.version(name)
    assert fields["python"].startswith(".".join(map(str, sys.version_info[:3])))
    assert "node" in fields and "workshop" in fields
    assert fields["cloud"].startswith("healthy") and "time scale 60" in fields["cloud"]
    # The fixture's cloud takes its admin token from the environment; doctor is given the same.
    assert "accepted by the cloud" in fields["admin token"]
    assert "no Kubernetes API" in fields["kubernetes"]      # EKS here is its control plane API only
    assert "All good." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_finds_the_admin_token_file(cloud, account, tmp_path):
    (tmp_path / "admin-token").write_text("not-the-cloud-token\n")
    env = cloud.env(account)
    env.pop("WORKSHOP_ADMIN_TOKEN", None)
    result = _doctor("--endpoint", cloud.endpoint, "--account", account, "--data-dir", str(tmp_path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _fields(result.stdout)["admin token"] == str(tmp_path / "admin-token")
    assert "does not accept the admin token" in result.stdout

    empty = tmp_path / "empty"
    result = _doctor("--endpoint", cloud.endpoint, "--account", account, "--data-dir", str(empty), env=env)
    assert result.returncode == 0
    assert _fields(result.stdout)["admin token"].startswith("none")


def test_doctor_with_the_cloud_down_says_how_to_start_it(account):
    port = free_port()  # nothing listens there
    result = _doctor("--endpoint", f"http://127.0.0.1:{port}", "--account", account)
    assert result.returncode == 1
    assert "python3 -m workshop up" in result.stdout
    fields = _fields(result.stdout)
    assert fields["cloud"] == "not answering"
    assert fields["account"].startswith("unknown")
    assert fields["moto"] == metadata.version("moto")  # versions are reported all the same
    assert "Traceback" not in result.stdout + result.stderr
