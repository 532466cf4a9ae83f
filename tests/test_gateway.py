"""The gateway as boto3 sees it: accounts from access keys, isolation between
accounts, AWS-shaped 501s for what nobody implements, the control API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.conftest import new_account

A, B = "111111111111", "222222222222"


def _names(cloud, account):
    s3 = cloud.client("s3", account)
    cfn = cloud.client("cloudformation", account)
    ecr = cloud.client("ecr", account)
    cc = cloud.client("codecommit", account)
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    stacks = {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}
    repos = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    code = set()
    for name in (f"code-{A}", f"code-{B}"):
        try:
            code.add(cc.get_repository(repositoryName=name)["repositoryMetadata"]["repositoryName"])
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "RepositoryDoesNotExistException"
    return buckets, stacks, repos, code


def test_each_account_sees_only_its_own_resources(cloud):
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    for acct in (A, B):
        assert cloud.client("sts", acct).get_caller_identity()["Account"] == acct
        cloud.client("s3", acct).create_bucket(Bucket=f"iso-{acct}")
        cloud.client("cloudformation", acct).create_stack(StackName=f"iso-{acct}", TemplateBody=template)
        cloud.client("ecr", acct).create_repository(repositoryName=f"iso-{acct}")
        cloud.client("codecommit", acct).create_repository(repositoryName=f"code-{acct}")

    for acct in (A, B):
        buckets, stacks, repos, code = _names(cloud, acct)
        assert f"iso-{acct}" in buckets and f"iso-{acct}" in stacks and f"iso-{acct}" in repos
        assert code == {f"code-{acct}"}
        other = B if acct == A else A
        assert f"iso-{other}" not in buckets | stacks | repos


def test_non_numeric_key_is_the_default_account(cloud):
    assert cloud.client("sts", "test").get_caller_identity()["Account"] == "000000000000"
    assert cloud.client("sts", "AKIAIOSFODNN7EXAMPLE").get_caller_identity()["Account"] == "000000000000"


def test_bucket_names_are_global_across_accounts(cloud):
    a, b = new_account(), new_account()
    cloud.client("s3", a).create_bucket(Bucket=f"shared-name-{a}")
    with pytest.raises(ClientError) as err:
        cloud.client("s3", b).create_bucket(Bucket=f"shared-name-{a}")
    assert err.value.response["Error"]["Code"] == "BucketAlreadyExists"


@pytest.mark.parametrize("service, operation, params", [
    ("codeartifact", "list_domains", {}),                       # a service moto lacks (rest-json)
    ("apprunner", "list_vpc_connectors", {}),                   # one the cloud's own App Runner lacks (json)
    ("xray", "get_indexing_rules", {}),                         # rest-json operation nobody implements
    ("ec2", "describe_capacity_reservation_fleets", {}),        # ec2 query protocol
    ("ecs", "get_task_protection", {"cluster": "c"}),          # json protocol
])
def test_unimplemented_operation_is_501_without_retries(cloud, account, service, operation, params):
    client = cloud.client(service, account)
    with pytest.raises(ClientError) as err:
        getattr(client, operation)(**params)
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert response["Error"]["Code"] == "NotImplemented"
    op_name = client.meta.service_model.operation_model(
        client.meta.method_to_api_mapping[operation]).name
    assert op_name in response["Error"]["Message"]
    assert service in response["Error"]["Message"]


def test_unimplemented_query_operation_is_xml_error(cloud, account):
    # CloudFormation speaks the query protocol: the error must parse as a ClientError.
    with pytest.raises(ClientError) as err:
        cloud.client("cloudformation", account).describe_stack_set(StackSetName="nope")
    code = err.value.response["Error"]["Code"]
    # moto may implement it (then a proper not-found error), never an HTML 500.
    assert code in ("NotImplemented", "StackSetNotFoundException", "StackSetNotFound")
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_moto_api_is_not_exposed(cloud):
    # moto's own reset would wipe every learner's account at once.
    req = urllib.request.Request(f"{cloud.endpoint}/moto-api/reset", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 404


# -- control API ---------------------------------------------------------------

def _control(cloud, method, path, headers=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{cloud.endpoint}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _signed_reset(cloud, path, as_account):
    """POST signed with SigV4 by `as_account`'s credentials, as `workshop reset` sends it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=f"{cloud.endpoint}{path}", data=b"")
    SigV4Auth(Credentials(as_account, "test"), "workshop", "us-east-1").add_auth(req)
    return _control(cloud, "POST", path, headers=dict(req.headers.items()))


def test_localstack_health_shape(cloud):
    status, body = _control(cloud, "GET", "/_localstack/health")
    assert status == 200
    assert body["services"]["s3"] in ("available", "running")
    assert body["services"]["cloudformation"] in ("available", "running")


def test_workshop_health_is_open(cloud):
    status, body = _control(cloud, "GET", "/_workshop/health")
    assert status == 200 and body["status"] == "running" and body["time_scale"] > 0


def test_reset_own_account_leaves_others(cloud):
    mine, other = new_account(), new_account()
    for acct in (mine, other):
        cloud.client("s3", acct).create_bucket(Bucket=f"reset-{acct}")
        cloud.client("sqs", acct).create_queue(QueueName="q")
    status, body = _signed_reset(cloud, f"/_workshop/accounts/{mine}/reset", mine)
    assert status == 200 and body["reset"] is True
    assert cloud.client("s3", mine).list_buckets()["Buckets"] == []
    assert cloud.client("sqs", mine).list_queues().get("QueueUrls", []) == []
    assert [b["Name"] for b in cloud.client("s3", other).list_buckets()["Buckets"]] == [f"reset-{other}"]
    assert len(cloud.client("sqs", other).list_queues()["QueueUrls"]) == 1
    # The reset account's bucket name is free again (names are global).
    cloud.client("s3", mine).create_bucket(Bucket=f"reset-{mine}")


def test_reset_needs_own_credentials_or_admin(cloud):
    victim, attacker = new_account(), new_account()
    cloud.client("s3", victim).create_bucket(Bucket=f"victim-{victim}")
    status, body = _signed_reset(cloud, f"/_workshop/accounts/{victim}/reset", attacker)
    assert status == 403 and "admin token" in body["error"]
    status, _ = _control(cloud, "POST", f"/_workshop/accounts/{victim}/reset")
    assert status == 403
    assert len(cloud.client("s3", victim).list_buckets()["Buckets"]) == 1
    status, _ = _control(cloud, "POST", f"/_workshop/accounts/{victim}/reset",
                         headers={"X-Workshop-Admin-Token": cloud.admin_token})
    assert status == 200
    assert cloud.client("s3", victim).list_buckets()["Buckets"] == []


def test_reset_rejects_bad_account_id(cloud):
    status, body = _control(cloud, "POST", "/_workshop/accounts/12ab/reset",
                            headers={"X-Workshop-Admin-Token": cloud.admin_token})
    assert status == 400 and "12-digit" in body["error"]


def test_clock_needs_admin_and_validates(cloud):
    assert _control(cloud, "GET", "/_workshop/clock")[0] == 403
    admin = {"Authorization": f"Bearer {cloud.admin_token}"}
    status, body = _control(cloud, "GET", "/_workshop/clock", headers=admin)
    assert status == 200 and body["time_scale"] == 60
    status, body = _control(cloud, "PUT", "/_workshop/clock", headers=admin, body={"time_scale": 0})
    assert status == 400
    try:
        status, body = _control(cloud, "PUT", "/_workshop/clock", headers=admin, body={"time_scale": 120})
        assert status == 200 and body["time_scale"] == 120
        assert _control(cloud, "GET", "/_workshop/health")[1]["time_scale"] == 120
    finally:
        _control(cloud, "PUT", "/_workshop/clock", headers=admin, body={"time_scale": 60})


def _environ(service: str, method: str = "POST", path: str = "/", target: str | None = None,
             query: str = "") -> dict:
    import io

    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "localhost",
           "SERVER_PORT": "4566", "HTTP_HOST": "localhost:4566", "wsgi.input": io.BytesIO(b""),
           "CONTENT_LENGTH": "0", "CONTENT_TYPE": "application/x-amz-json-1.1",
           "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=123456789012/20261205/us-east-1/{service}/"
                                 "aws4_request, SignedHeaders=host, Signature=0"}
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    return env


def test_dispatcher_serves_what_moto_serves_without_listing_its_package_per_request(monkeypatch):
    """The gateway's dispatcher picks the app moto's own would for each protocol, and
    lists moto's package folder once, not for every request (the cost it saves)."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from workshop.cloud.gateway import _dispatcher

    requests = [
        _environ("codecommit", target="CodeCommit_20150413.GetRepository"),
        _environ("cloudtrail", target="com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"),
        _environ("sts", query="Action=GetCallerIdentity"),
        _environ("s3", "GET", "/some-bucket"),
        _environ("lambda", "GET", "/2015-03-31/functions/f/configuration"),
        _environ("codebuild", target="CodeBuild_20161006.BatchGetBuilds"),
    ]
    ours, theirs = _dispatcher(), DomainDispatcherApplication(create_backend_app)
    listed = []
    real = backends.list_of_moto_modules
    monkeypatch.setattr(backends, "list_of_moto_modules", lambda: listed.append(1) or real())
    for _ in range(5):
        for environ in requests:
            assert ours.get_application(dict(environ)).service == theirs.get_application(dict(environ)).service
    assert len(listed) >= 5 * len(requests)  # moto's own: at least once a request
    listed.clear()
    for _ in range(5):
        for environ in requests:
            ours.get_application(dict(environ))
    assert listed == []


def test_method_names_answer_as_moto_list_does():
    """moto's call_action asks `action in method_names_from_class(cls)`; the gateway's
    lookup answers the same for every attribute of a response class, and for methods
    the project adds later."""
    from moto.codecommit.responses import CodeCommitResponse
    from moto.core.utils import method_names_from_class

    from workshop.cloud.gateway import _MethodNames

    listed = set(method_names_from_class(CodeCommitResponse))
    names = _MethodNames(CodeCommitResponse)
    for name in [*dir(CodeCommitResponse), "no_such_operation", "get_repository"]:
        assert (name in names) == (name in listed), name

    class Extended(CodeCommitResponse):
        pass

    names = _MethodNames(Extended)
    assert "added_later" not in names
    Extended.added_later = lambda self: None
    assert "added_later" in names
