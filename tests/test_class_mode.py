"""Class mode (issue 5): `workshop accounts` issues stable accounts and keys from
a roster; a cloud started with them accepts only issued keys with correctly
signed requests in every protocol (and git's basic auth with the secret),
refuses made-up secrets and keys never issued, and resets an account only for
its own verified owner or the admin token."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import stat
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ROOT, start_cloud, stop_cloud
from tests.test_codecommit_git import git
from workshop.accounts_command import RESERVED, derive_account_id
from workshop.cloud.class_mode import ClassKeys, learner_env

LEARNERS = [f"learner{n:02d}" for n in range(1, 41)]


def run_accounts(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workshop", "accounts", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def write_roster(path: Path, names: list[str], extra: str = "email") -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", extra])
        for name in names:
            writer.writerow([name, f"{name}@example.com"])


def read_roster(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


class Learner:
    def __init__(self, cloud, name: str, key: dict):
        self.cloud, self.name = cloud, name
        self.account, self.key, self.secret = key["account_id"], key["access_key_id"], key["secret_access_key"]

    def client(self, service: str, secret: str | None = None, **kwargs):
        return boto3.client(service, endpoint_url=self.cloud.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.key, aws_secret_access_key=secret or self.secret, **kwargs)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A roster run through `workshop accounts`, and a cloud in class mode with its keys."""
    tmp = tmp_path_factory.mktemp("class")
    roster = tmp / "roster.csv"
    write_roster(roster, LEARNERS)
    done = run_accounts(str(roster))
    assert done.returncode == 0, done.stderr
    keys_path = tmp / "class-keys.json"
    cloud = start_cloud(tmp, extra_env={"WORKSHOP_CLASS_KEYS": str(keys_path)})
    keys = json.loads(keys_path.read_text())["learners"]
    pool = [Learner(cloud, name, keys[name]) for name in LEARNERS]
    yield {"cloud": cloud, "keys_path": keys_path, "roster": roster, "pool": pool, "tmp": tmp}
    stop_cloud(cloud)


@pytest.fixture
def learners(classroom):
    """Two learners of the class that no other test uses."""
    pool = classroom["pool"]
    if len(pool) < 2:
        pytest.fail("the test roster ran out of learners: add names to LEARNERS")
    return pool.pop(0), pool.pop(0)


def error_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


# -- workshop accounts ---------------------------------------------------------------

def test_accounts_are_stable_private_and_kept_on_rerun(tmp_path):
    roster = tmp_path / "roster.csv"
    write_roster(roster, ["ada", "grace", "linus"])
    done = run_accounts(str(roster))
    assert done.returncode == 0, done.stderr
    rows = read_roster(roster)
    assert [r["learner"] for r in rows] == ["ada", "grace", "linus"]
    assert [r["email"] for r in rows] == ["ada@example.com", "grace@example.com", "linus@example.com"]
    ids = [r["account_id"] for r in rows]
    assert all(len(i) == 12 and i.isdigit() and i not in RESERVED for i in ids) and len(set(ids)) == 3
    assert all(r["access_key_id"] == r["account_id"] for r in rows)

    keys_path = tmp_path / "class-keys.json"
    assert stat.S_IMODE(keys_path.stat().st_mode) == 0o600
    keys = ClassKeys.load(keys_path)
    secrets = [keys.learners[n].secret_access_key for n in ("ada", "grace", "linus")]
    assert len(set(secrets)) == 3 and all(len(s) >= 30 for s in secrets)
    assert not any(s in roster.read_text() for s in secrets), "the roster must hold no secrets"
    # Derived from the class secret and the name: stable, and the same function gives it.
    assert ids[0] == derive_account_id(keys.class_secret, "ada", set())

    # Re-run with a new learner: the others keep their ids and secrets.
    with roster.open("a") as handle:
        handle.write("margaret,margaret@example.com\n")
    done = run_accounts(str(roster))
    assert done.returncode == 0, done.stderr
    assert "1 new, 3 kept" in done.stdout
    again = read_roster(roster)
    assert [r["account_id"] for r in again[:3]] == ids
    assert again[3]["learner"] == "margaret" and again[3]["account_id"] not in ids
    reloaded = ClassKeys.load(keys_path)
    assert [reloaded.learners[n].secret_access_key for n in ("ada", "grace", "linus")] == secrets


def test_accounts_refuses_bad_rosters_clearly(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nada,a@example.com\n")
    done = run_accounts(str(roster))
    assert done.returncode == 1 and "no 'learner' column" in done.stderr and "Traceback" not in done.stderr
    roster.write_text("learner\nada\ngrace\nada\n")
    done = run_accounts(str(roster))
    assert done.returncode == 1 and "'ada' appears twice (lines 2 and 4)" in done.stderr
    assert not (tmp_path / "class-keys.json").exists()


def test_keys_file_elsewhere_and_roster_written_to_out(tmp_path):
    roster, out, keys = tmp_path / "roster.csv", tmp_path / "shared" / "roster.csv", tmp_path / "secret" / "k.json"
    out.parent.mkdir()
    write_roster(roster, ["ada"])
    done = run_accounts(str(roster), "--keys", str(keys), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "account_id" not in roster.read_text()          # the input is left as it was
    assert read_roster(out)[0]["account_id"] == ClassKeys.load(keys).learners["ada"].account_id


def test_a_learners_environment_holds_only_their_own_key(classroom, learners):
    me, other = learners
    env = learner_env(classroom["keys_path"], me.name, classroom["cloud"].endpoint)
    assert env["AWS_ACCESS_KEY_ID"] == me.key and env["AWS_SECRET_ACCESS_KEY"] == me.secret
    assert env["WORKSHOP_ACCOUNT"] == me.account and env["AWS_ENDPOINT_URL"] == classroom["cloud"].endpoint
    assert other.secret not in json.dumps(env) and other.account not in json.dumps(env)
    with pytest.raises(KeyError, match="no key"):
        learner_env(classroom["keys_path"], "nobody", classroom["cloud"].endpoint)


# -- signatures ------------------------------------------------------------------------

def test_correctly_signed_requests_work_in_every_protocol(classroom, learners):
    me, _ = learners
    # query: STS and CloudFormation
    who = me.client("sts").get_caller_identity()
    # An issued key acts as the learner's IAM user (a 12-digit key on a laptop is the root).
    assert (who["Account"], who["Arn"]) == (me.account, f"arn:aws:iam::{me.account}:user/{me.name}")
    cfn = me.client("cloudformation")
    cfn.create_stack(StackName="signed", TemplateBody=json.dumps(
        {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}))
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == ["signed"]
    # json: ECR and SSM
    me.client("ecr").create_repository(repositoryName="signed")
    assert [r["repositoryName"] for r in me.client("ecr").describe_repositories()["repositories"]] == ["signed"]
    ssm = me.client("ssm")
    ssm.put_parameter(Name="/signed/p", Value="v a=l&u+e", Type="String")
    assert ssm.get_parameter(Name="/signed/p")["Parameter"]["Value"] == "v a=l&u+e"
    # rest-xml: S3, a body, keys that need encoding, query parameters
    s3 = me.client("s3")
    bucket = f"signed-{me.account}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/a file+plus.txt", Body=b"hello class")
    assert s3.get_object(Bucket=bucket, Key="dir/a file+plus.txt")["Body"].read() == b"hello class"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/a file+plus.txt"]
    # UNSIGNED-PAYLOAD, as boto3 sends it when payload signing is off
    unsigned = me.client("s3", config=Config(s3={"payload_signing_enabled": False}))
    unsigned.put_object(Bucket=bucket, Key="unsigned", Body=b"not hashed")
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"not hashed"
    # rest-json: Lambda
    assert me.client("lambda").list_functions()["Functions"] == []


def test_presigned_urls_work_with_the_issued_secret_only(classroom, learners):
    me, _ = learners
    s3 = me.client("s3")
    bucket = f"presign-{me.account}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="report 1.txt", Body=b"presigned")
    for config in (None, Config(signature_version="s3v4")):  # boto3's default (SigV2 here) and SigV4
        signer = me.client("s3", config=config) if config else s3
        url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "report 1.txt"})
        with urllib.request.urlopen(url) as resp:
            assert resp.read() == b"presigned"
        forged = me.client("s3", secret="made-up-secret", config=config).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "report 1.txt"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(forged)
        assert err.value.code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in err.value.read()
    # A presigned PUT with a body
    put = me.client("s3", config=Config(signature_version="s3v4")).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded"})
    urllib.request.urlopen(urllib.request.Request(put, data=b"via url", method="PUT",
                                                  headers={"Content-Type": "text/plain"})).close()
    assert s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read() == b"via url"


def test_expired_presigned_url_and_stale_signature_are_refused(classroom, learners, monkeypatch):
    import botocore.auth

    me, _ = learners
    s3 = me.client("s3", config=Config(signature_version="s3v4"))
    bucket = f"stale-{me.account}"
    s3.create_bucket(Bucket=bucket)
    real_now = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real_now() - dt.timedelta(hours=2))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=3600)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url)
    assert err.value.code == 403 and b"Request has expired" in err.value.read()
    # A header-signed request two hours old cannot be replayed.
    assert error_of(lambda: me.client("sts").get_caller_identity()) == ("SignatureDoesNotMatch", 403)
    assert error_of(lambda: me.client("s3").list_buckets()) == ("RequestTimeTooSkewed", 403)


def test_streaming_upload_as_boto3_sends_it_over_tls(classroom, learners):
    """aws-chunked with STREAMING-UNSIGNED-PAYLOAD-TRAILER (boto3's S3 uploads over HTTPS):
    the header signature covers the declared payload kind, and the object arrives whole."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    me, _ = learners
    bucket = f"stream-{me.account}"
    me.client("s3").create_bucket(Bucket=bucket)
    data = b"streamed " * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
            + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode())

    def send(secret: str) -> int:
        request = AWSRequest(method="PUT", url=f"{classroom['cloud'].endpoint}/{bucket}/streamed", data=body,
                             headers={"Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                                      "x-amz-decoded-content-length": str(len(data)),
                                      "x-amz-sdk-checksum-algorithm": "CRC32"})
        request.context["checksum"] = {"request_algorithm": {"in": "trailer", "name": "x-amz-checksum-crc32"}}
        S3SigV4Auth(Credentials(me.key, secret), "s3", "us-east-1").add_auth(request)
        assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        prepared = request.prepare()
        try:
            headers = {"Content-Type": "application/octet-stream", **dict(prepared.headers.items())}
            with urllib.request.urlopen(urllib.request.Request(prepared.url, data=body, method="PUT",
                                                               headers=headers)) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    assert send("made-up-secret") == 403
    assert send(me.secret) == 200
    assert me.client("s3").get_object(Bucket=bucket, Key="streamed")["Body"].read() == data


def test_a_body_that_does_not_match_its_signed_hash_is_refused(classroom, learners):
    me, _ = learners
    s3 = me.client("s3")
    bucket = f"tamper-{me.account}"
    s3.create_bucket(Bucket=bucket)

    def swap_body(request, **kwargs):
        request.body = b"tampered!!!"   # after signing: the signed hash names the original body

    s3.meta.events.register("before-send.s3.PutObject", swap_body)
    code, status = error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"original123"))
    assert (code, status) == ("XAmzContentSHA256Mismatch", 400)


@pytest.mark.parametrize("service,call,protocol_code", [
    ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch"),
    ("cloudformation", lambda c: c.describe_stacks(), "SignatureDoesNotMatch"),
    ("ecr", lambda c: c.describe_repositories(), "InvalidSignatureException"),
    ("ssm", lambda c: c.describe_parameters(), "InvalidSignatureException"),
    ("s3", lambda c: c.list_buckets(), "SignatureDoesNotMatch"),
    ("lambda", lambda c: c.list_functions(), "InvalidSignatureException"),
])
def test_a_made_up_secret_for_an_issued_key_is_refused(classroom, learners, service, call, protocol_code):
    me, _ = learners
    assert error_of(lambda: call(me.client(service, secret="made-up-secret"))) == (protocol_code, 403)
    # The same request with the issued secret goes through.
    call(me.client(service))


@pytest.mark.parametrize("service,call,protocol_code", [
    ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId"),
    ("cloudformation", lambda c: c.describe_stacks(), "InvalidClientTokenId"),
    ("ecr", lambda c: c.describe_repositories(), "UnrecognizedClientException"),
    ("ssm", lambda c: c.describe_parameters(), "UnrecognizedClientException"),
    ("s3", lambda c: c.list_buckets(), "InvalidAccessKeyId"),
    ("lambda", lambda c: c.list_functions(), "UnrecognizedClientException"),
])
@pytest.mark.parametrize("key", ["555555555555", "test", "AKIAIOSFODNN7EXAMPLE"])
def test_a_key_never_issued_is_refused(classroom, service, call, protocol_code, key):
    cloud = classroom["cloud"]
    client = boto3.client(service, endpoint_url=cloud.endpoint, region_name="us-east-1",
                          aws_access_key_id=key, aws_secret_access_key="test")
    assert error_of(lambda: call(client)) == (protocol_code, 403)


def test_an_unsigned_request_is_refused(classroom):
    request = urllib.request.Request(f"{classroom['cloud'].endpoint}/", method="POST",
                                     data=b"Action=GetCallerIdentity&Version=2011-06-15",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 403 and b"MissingAuthenticationToken" in err.value.read()


def test_the_admin_token_signs_as_any_account(classroom, learners):
    me, _ = learners
    me.client("s3").create_bucket(Bucket=f"admin-reads-{me.account}")
    admin = me.client("s3", secret=classroom["cloud"].admin_token)
    assert [b["Name"] for b in admin.list_buckets()["Buckets"]] == [f"admin-reads-{me.account}"]


def test_keys_issued_mid_class_are_accepted_without_a_restart(classroom):
    roster, keys_path = classroom["roster"], classroom["keys_path"]
    with roster.open("a") as handle:
        handle.write("latecomer,late@example.com\n")
    done = run_accounts(str(roster))
    assert done.returncode == 0, done.stderr
    late = Learner(classroom["cloud"], "latecomer", json.loads(keys_path.read_text())["learners"]["latecomer"])
    deadline = time.monotonic() + 30
    while True:
        try:
            assert late.client("sts").get_caller_identity()["Account"] == late.account
            break
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_learner_assumes_roles_in_their_own_account_only(classroom, learners):
    me, other = learners
    sts = me.client("sts")
    code, status = error_of(lambda: sts.assume_role(
        RoleArn=f"arn:aws:iam::{other.account}:role/anything", RoleSessionName="escape"))
    assert (code, status) == ("AccessDenied", 403)
    me.client("iam").create_role(RoleName="deployer",
                                 AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{me.account}:role/deployer",
                            RoleSessionName="lab")["Credentials"]
    session = dict(endpoint_url=classroom["cloud"].endpoint, region_name="us-east-1",
                   aws_access_key_id=creds["AccessKeyId"], aws_session_token=creds["SessionToken"])
    # The session's key is the cloud's own issue: checked against the secret the cloud gave out.
    assumed = boto3.client("sts", aws_secret_access_key=creds["SecretAccessKey"], **session)
    assert assumed.get_caller_identity()["Arn"].startswith(f"arn:aws:sts::{me.account}:assumed-role/deployer/")
    forged = boto3.client("sts", aws_secret_access_key="made-up-secret", **session)
    assert error_of(forged.get_caller_identity) == ("SignatureDoesNotMatch", 403)


# -- git -------------------------------------------------------------------------------

def test_git_checks_the_secret(classroom, learners, tmp_path):
    me, other = learners
    url = me.client("codecommit").create_repository(repositoryName="app")["repositoryMetadata"]["cloneUrlHttp"]

    def clone(user: str, password: str, dest: str):
        return git("clone", url.replace("http://", f"http://{user}:{password}@", 1), str(tmp_path / dest),
                   check=False)

    wrong = clone(me.key, "made-up-secret", "wrong")
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr
    assert clone(other.key, other.secret, "other").returncode != 0   # right secret, another's repository
    assert clone("555555555555", "test", "unknown").returncode != 0
    assert clone(me.key, me.secret, "mine").returncode == 0, "the issued secret must clone"
    assert (tmp_path / "mine" / ".git").is_dir()


# -- reset -------------------------------------------------------------------------------

def _reset(cloud, account: str, key: str, secret: str) -> int:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{cloud.endpoint}/_workshop/accounts/{account}/reset"
    request = AWSRequest(method="POST", url=url, data=b"")
    SigV4Auth(Credentials(key, secret), "workshop", "us-east-1").add_auth(request)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST",
                                                           headers=dict(request.headers.items()))) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_reset_of_another_account_needs_the_admin_token(classroom, learners):
    a, b = learners
    cloud = classroom["cloud"]
    b.client("s3").create_bucket(Bucket=f"keep-{b.account}")
    assert _reset(cloud, b.account, a.key, a.secret) == 403          # A's valid credentials, B's account
    assert _reset(cloud, b.account, b.key, "made-up-secret") == 403   # B's key, a made-up secret
    assert [x["Name"] for x in b.client("s3").list_buckets()["Buckets"]] == [f"keep-{b.account}"]
    assert _reset(cloud, b.account, b.key, b.secret) == 200           # B's own, verified
    assert b.client("s3").list_buckets()["Buckets"] == []
    b.client("s3").create_bucket(Bucket=f"keep-{b.account}")
    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{b.account}/reset", data=b"",
                                     method="POST", headers={"X-Workshop-Admin-Token": cloud.admin_token})
    with urllib.request.urlopen(request) as resp:
        assert resp.status == 200
    assert b.client("s3").list_buckets()["Buckets"] == []


# -- learner code in the cloud signs with the account's issued secret --------------------

def test_functions_and_builds_sign_with_their_accounts_issued_secret(classroom, learners):
    from tests.test_codebuild_builds import inline_project, log_text, run

    me, _ = learners
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", textwrap.dedent("""
            import boto3
            def handler(event, context):
                return boto3.client("sts").get_caller_identity()["Account"]
        """))
    me.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    lam = me.client("lambda")
    lam.create_function(FunctionName="whoami", Runtime="python3.12", Handler="app.handler",
                        Role=f"arn:aws:iam::{me.account}:role/fn", Code={"ZipFile": code.getvalue()})
    response = lam.invoke(FunctionName="whoami")
    assert "FunctionError" not in response, response["Payload"].read()
    assert json.loads(response["Payload"].read()) == me.account

    class Signed:  # what the CodeBuild helpers expect of a cloud
        @staticmethod
        def client(service, account):
            return me.client(service)

    cb = me.client("codebuild")
    inline_project(cb, me.account, "whoami", textwrap.dedent("""
        version: 0.2
        phases:
          build:
            commands:
              - python -c 'import boto3; print("caller", boto3.client("sts").get_caller_identity()["Account"])'
    """))
    build = run(cb, "whoami")
    text = log_text(Signed, me.account, build)
    assert build["buildStatus"] == "SUCCEEDED", text
    assert f"caller {me.account}" in text
