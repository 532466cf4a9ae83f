"""State that lasts (issue 10, items 1 and 2): every kind of resource the labs make
is there after SIGTERM or SIGKILL and a new start, with the same ids and content;
work cut short ends as AWS ends work whose infrastructure was lost; state that
cannot be read stops the start, says why, and keeps the files; one cloud per data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, ADMIN_TOKEN, free_port, new_account, start_cloud, stop_cloud
from tests.persistence_scenario import populate, reading, wait_for
from tests.test_codebuild_builds import inline_project


def _kill(cloud) -> None:
    cloud.process.send_signal(signal.SIGKILL)
    cloud.process.wait(10)


def _snapshots(data: Path) -> list[Path]:
    return sorted((data / "state" / "snapshots").glob("*.snapshot"))


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_every_kind_of_resource_survives_a_restart(tmp_path, stop):
    cloud = start_cloud(tmp_path)
    data = cloud.data_dir
    try:
        account = new_account()
        made = populate(cloud, account, tmp_path)
        before = reading(cloud, made, tmp_path)
        if stop == "SIGTERM":
            stop_cloud(cloud, keep_data=True)
            assert cloud.process.returncode == 0
        else:
            time.sleep(6)   # a quiet period: everything changed is on disk within it
            _kill(cloud)
        cloud = start_cloud(tmp_path, data_dir=data, port=cloud.port)
        after = reading(cloud, made, tmp_path)
        for kind in before:
            assert after[kind] == before[kind], kind
        assert after["git_log"][0].startswith(made["head"])
        assert after["invoke"] == "v2" and after["alarm"][1] == "ALARM"
        assert after["caller_by_user_key"] == after["caller_by_sts_key"] == account
    finally:
        stop_cloud(cloud)


def test_a_build_running_when_the_cloud_is_killed_ends_failed(tmp_path):
    cloud = start_cloud(tmp_path)
    data = cloud.data_dir
    try:
        account = new_account()
        cb = cloud.client("codebuild", account)
        inline_project(cb, account, "long", "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n")
        build_id = cb.start_build(projectName="long")["build"]["id"]
        wait_for(lambda: cb.batch_get_builds(ids=[build_id])["builds"][0]["currentPhase"] == "BUILD",
                 what="the build's BUILD phase")
        time.sleep(3)   # the running build is on disk
        _kill(cloud)
        cloud = start_cloud(tmp_path, data_dir=data, port=cloud.port)
        cb = cloud.client("codebuild", account)
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        assert build["buildStatus"] == "FAILED" and build["buildComplete"]
        lost = [p for p in build["phases"] if p.get("phaseStatus") == "FAILED"]
        assert lost and lost[-1]["phaseType"] == "BUILD"
        assert "build environment was lost" in lost[-1]["contexts"][0]["message"]
        # The project still builds.
        second = cb.start_build(projectName="long")["build"]["id"]
        assert cb.batch_get_builds(ids=[second])["builds"][0]["buildStatus"] == "IN_PROGRESS"
    finally:
        stop_cloud(cloud)


def _listing(data: Path) -> list:
    """Every file and folder of a data dir, with its size and modification time."""
    return sorted((str(p.relative_to(data)), p.stat().st_size, p.stat().st_mtime_ns) for p in data.rglob("*"))


def _cloud_command(data: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "workshop", "cloud", "--port", str(port), "--data-dir", str(data), *extra]


def _env() -> dict:
    return {**os.environ, "WORKSHOP_ADMIN_TOKEN": ADMIN_TOKEN}


def test_a_second_cloud_on_the_same_data_dir_changes_nothing(tmp_path):
    cloud = start_cloud(tmp_path)
    try:
        account = new_account()
        cloud.client("s3", account).create_bucket(Bucket=f"first-{account}")
        cc = cloud.client("codecommit", account)
        url = cc.create_repository(repositoryName="still-here")["repositoryMetadata"]["cloneUrlHttp"]
        cc.put_file(repositoryName="still-here", branchName="main", fileContent=b"hello\n", filePath="README.md")
        time.sleep(3)   # the first cloud has written its changes: from now on nothing changes the data dir
        listing = _listing(cloud.data_dir)
        for port in (free_port(), cloud.port):   # a free port, and the first cloud's own
            second = subprocess.run(_cloud_command(cloud.data_dir, port), cwd=ROOT, env=_env(),
                                    capture_output=True, text=True, timeout=60)
            assert second.returncode != 0
            assert "another workshop cloud" in second.stderr and str(cloud.process.pid) in second.stderr
        assert _listing(cloud.data_dir) == listing
        clone = subprocess.run(["git", "clone", "-q", url.replace("://", f"://{account}:test@", 1),
                                str(tmp_path / "clone")], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        assert clone.returncode == 0, clone.stderr
        assert (tmp_path / "clone" / "README.md").read_text() == "hello\n"
        assert cloud.client("s3", account).head_bucket(Bucket=f"first-{account}")
    finally:
        stop_cloud(cloud)


def test_a_taken_port_stops_the_start_before_the_state_is_touched(tmp_path):
    cloud = start_cloud(tmp_path)
    other = Path(tmp_path / "other-data")
    try:
        taken = subprocess.run(_cloud_command(other, cloud.port), cwd=ROOT, env=_env(),
                               capture_output=True, text=True, timeout=60)
        assert taken.returncode != 0 and f"cannot listen on localhost:{cloud.port}" in taken.stderr
        assert not (other / "state").exists()
    finally:
        stop_cloud(cloud)


def _reset(cloud, account: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", method="POST",
                                     headers={"X-Workshop-Admin-Token": cloud.admin_token})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def test_what_a_reset_deleted_stays_deleted_after_a_restart(tmp_path):
    cloud = start_cloud(tmp_path)
    data = cloud.data_dir
    try:
        reset, kept = new_account(), new_account()
        for account in (reset, kept):
            cloud.client("s3", account).create_bucket(Bucket=f"bucket-{account}")
            cloud.client("sqs", account).create_queue(QueueName="work")
        _reset(cloud, reset)
        stop_cloud(cloud, keep_data=True)
        cloud = start_cloud(tmp_path, data_dir=data, port=cloud.port)
        assert cloud.client("s3", reset).list_buckets()["Buckets"] == []
        assert cloud.client("sqs", reset).list_queues().get("QueueUrls", []) == []
        assert [b["Name"] for b in cloud.client("s3", kept).list_buckets()["Buckets"]] == [f"bucket-{kept}"]
        # The reset account's bucket name is free again; the kept one's is still taken.
        cloud.client("s3", reset).create_bucket(Bucket=f"bucket-{reset}")
        with pytest.raises(Exception, match="BucketAlreadyExists"):
            cloud.client("s3", reset).create_bucket(Bucket=f"bucket-{kept}")
    finally:
        stop_cloud(cloud)


def test_state_that_cannot_be_read_stops_the_start_and_fresh_moves_it_aside(tmp_path):
    cloud = start_cloud(tmp_path)
    data = cloud.data_dir
    account = new_account()
    try:
        cloud.client("s3", account).create_bucket(Bucket=f"bucket-{account}")
        stop_cloud(cloud, keep_data=True)
        path = data / "state" / "snapshots" / f"{account}.snapshot"
        good = path.read_bytes()
        header_end = good.index(b"\n", good.index(b"\n") + 1) + 1
        damaged = {
            "damaged": good[:header_end] + good[header_end:-10],
            "format": good.replace(b'"format": 1,', b'"format": 999,', 1),
        }
        for problem, content in damaged.items():
            path.write_bytes(content)
            start = subprocess.run(_cloud_command(data, free_port()), cwd=ROOT, env=_env(),
                                   capture_output=True, text=True, timeout=120)
            assert start.returncode != 0, problem
            assert str(path) in start.stderr and "--fresh" in start.stderr, start.stderr
            assert ("damaged" in start.stderr) if problem == "damaged" else ("format 999" in start.stderr)
            assert path.read_bytes() == content   # nothing was changed
        # --fresh: empty, and the old state kept beside it.
        proc_port = free_port()
        fresh = subprocess.Popen(_cloud_command(data, proc_port, "--fresh"), cwd=ROOT, env=_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            from tests.conftest import wait_healthy

            wait_healthy(f"http://127.0.0.1:{proc_port}/_workshop/health", proc=fresh)
            import boto3

            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{proc_port}", region_name="us-east-1",
                              aws_access_key_id=account, aws_secret_access_key="test")
            assert s3.list_buckets()["Buckets"] == []
        finally:
            fresh.terminate()
            fresh.wait(30)
        aside = [p for p in data.iterdir() if p.name.startswith("state.")]
        assert len(aside) == 1
        assert (aside[0] / "snapshots" / f"{account}.snapshot").read_bytes() == damaged["format"]
    finally:
        import shutil

        shutil.rmtree(data, ignore_errors=True)


def _self_signed(name: str) -> tuple[bytes, bytes]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def test_acm_certificates_survive_a_restart(tmp_path):
    # ACM's certificates hold cryptography's key and certificate objects, which pickle refuses: the
    # snapshot keeps them as PEM (before, the account's ACM state was dropped at every write).
    cloud = start_cloud(tmp_path)
    data = cloud.data_dir
    try:
        account = new_account()
        acm = cloud.client("acm", account)
        pem, key = _self_signed("shop.example.com")
        imported = acm.import_certificate(Certificate=pem, PrivateKey=key)["CertificateArn"]
        requested = acm.request_certificate(DomainName="www.example.com", ValidationMethod="DNS")["CertificateArn"]
        before = {arn: acm.describe_certificate(CertificateArn=arn)["Certificate"] for arn in (imported, requested)}
        stop_cloud(cloud, keep_data=True)
        cloud = start_cloud(tmp_path, data_dir=data, port=cloud.port)
        acm = cloud.client("acm", account)
        assert {c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]} == {imported, requested}
        for arn, was in before.items():
            now = acm.describe_certificate(CertificateArn=arn)["Certificate"]
            assert (now["DomainName"], now["Type"], now["Status"]) == (was["DomainName"], was["Type"], was["Status"])
        assert acm.get_certificate(CertificateArn=imported)["Certificate"].strip() == pem.decode().strip()
    finally:
        stop_cloud(cloud)
