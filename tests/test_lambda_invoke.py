"""Lambda functions that run, as boto3 sees them: handlers return their value,
see their environment and context, fail with AWS's error payloads (exceptions,
timeouts, import errors, exits), stay warm between invocations and are
recycled when their code changes; other runtimes get a clear error."""

from __future__ import annotations

import base64
import io
import json
import re
import textwrap
import time
import zipfile

import pytest
from botocore.exceptions import ClientError

ROLE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def zip_code(source: str, filename: str = "app.py", extra: dict[str, str] | None = None) -> bytes:
    """A zip of the code, the same bytes for the same code (fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in {filename: source, **(extra or {})}.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), textwrap.dedent(text))
    return buffer.getvalue()


def lambda_role(cloud, account: str) -> str:
    iam = cloud.client("iam", account)
    try:
        return iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    except ClientError:
        return iam.get_role(RoleName="lambda-exec")["Role"]["Arn"]


def make_function(cloud, account: str, name: str, source: str, *, handler: str = "app.handler",
                  runtime: str = "python3.12", **options) -> dict:
    return cloud.client("lambda", account).create_function(
        FunctionName=name, Runtime=runtime, Role=lambda_role(cloud, account), Handler=handler,
        Code={"ZipFile": zip_code(source)}, **options)


def invoke(client, name: str, event=None, **options) -> tuple[dict, object]:
    """(response, decoded payload) of a RequestResponse invocation."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}), **options)
    return response, json.loads(response["Payload"].read() or b"null")


COUNTER = """
    import os
    CALLS = 0

    def handler(event, context):
        global CALLS
        CALLS += 1
        return {"calls": CALLS, "pid": os.getpid(), "tag": "v1"}
"""


def test_handler_runs_and_returns_its_value(cloud, account):
    make_function(cloud, account, "adder", """
        def handler(event, context):
            return {"sum": event["a"] + event["b"]}
    """)
    response, payload = invoke(cloud.client("lambda", account), "adder", {"a": 2, "b": 40})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert payload == {"sum": 42}


def test_environment_context_and_credentials(cloud, account):
    make_function(cloud, account, "env-probe", """
        import os
        import boto3

        def handler(event, context):
            return {
                "env": dict(os.environ),
                "context": {
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "invoked_function_arn": context.invoked_function_arn,
                    "aws_request_id": context.aws_request_id,
                    "remaining": context.get_remaining_time_in_millis(),
                    "log_group_name": context.log_group_name,
                },
                # The function reaches the cloud as its own account, with no set-up of its own.
                "caller": boto3.client("sts").get_caller_identity()["Account"],
            }
    """, MemorySize=256, Timeout=20, Environment={"Variables": {"GREETING": "hello", "STAGE": "test"}})
    response, payload = invoke(cloud.client("lambda", account), "env-probe")
    env, context = payload["env"], payload["context"]
    assert env["GREETING"] == "hello" and env["STAGE"] == "test"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "env-probe"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == account and env["AWS_SECRET_ACCESS_KEY"] == "test"
    assert env["AWS_ENDPOINT_URL"] == cloud.endpoint
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/env-probe"
    # Never the cloud host's own secrets (the test cloud runs with an admin token in its environment).
    assert "WORKSHOP_ADMIN_TOKEN" not in env
    assert payload["caller"] == account
    assert context["function_name"] == "env-probe"
    assert context["function_version"] == "$LATEST"
    assert str(context["memory_limit_in_mb"]) == "256"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:{account}:function:env-probe"
    assert context["aws_request_id"] == response["ResponseMetadata"]["RequestId"]
    assert 0 < context["remaining"] <= 20_000
    assert context["log_group_name"] == "/aws/lambda/env-probe"


def test_reserved_environment_variables_are_refused(cloud, account):
    with pytest.raises(ClientError) as err:
        make_function(cloud, account, "reserved", COUNTER, Environment={"Variables": {"AWS_REGION": "x"}})
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "AWS_REGION" in err.value.response["Error"]["Message"]


def test_handler_exception_is_an_unhandled_function_error(cloud, account):
    make_function(cloud, account, "thrower", """
        def handler(event, context):
            raise ValueError("the order has no items")
    """)
    response, payload = invoke(cloud.client("lambda", account), "thrower")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "the order has no items"
    assert payload["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any("in handler" in frame for frame in payload["stackTrace"])
    assert not any("bootstrap.py" in frame for frame in payload["stackTrace"])


def test_timeout_stops_the_function_with_aws_message(cloud, account):
    make_function(cloud, account, "sleeper", """
        import time
        CALLS = 0

        def handler(event, context):
            global CALLS
            CALLS += 1
            time.sleep(event.get("sleep", 0))
            return CALLS
    """, Timeout=1)
    client = cloud.client("lambda", account)
    assert invoke(client, "sleeper")[1] == 1
    response, payload = invoke(client, "sleeper", {"sleep": 30}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    assert "Task timed out after 1.00 seconds" in base64.b64decode(response["LogResult"]).decode()
    # The timed-out environment is gone: the next invocation starts a fresh one.
    assert invoke(client, "sleeper")[1] == 1


@pytest.mark.parametrize("handler, source, error_type, message", [
    ("missing.handler", "def handler(e, c):\n    return 1\n", "Runtime.ImportModuleError",
     "Unable to import module 'missing'"),
    ("app.nothere", "def handler(e, c):\n    return 1\n", "Runtime.HandlerNotFound",
     "Handler 'nothere' missing on module 'app'"),
    ("app.handler", "def handler(e, c:\n    return 1\n", "Runtime.UserCodeSyntaxError",
     "Syntax error in module 'app'"),
    ("handler", "def handler(e, c):\n    return 1\n", "Runtime.MalformedHandlerName", "Bad handler 'handler'"),
    ("app.handler", "import json\nraise RuntimeError('no config')\n", "RuntimeError", "no config"),
])
def test_broken_code_gives_aws_runtime_errors(cloud, account, handler, source, error_type, message):
    make_function(cloud, account, "broken", source, handler=handler)
    response, payload = invoke(cloud.client("lambda", account), "broken")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == error_type
    assert message in payload["errorMessage"]


def test_exit_and_unserialisable_result(cloud, account):
    make_function(cloud, account, "quitter", """
        import sys

        def handler(event, context):
            if event.get("exit"):
                sys.exit(3)
            return {1, 2}
    """)
    client = cloud.client("lambda", account)
    response, payload = invoke(client, "quitter", {"exit": True})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in payload["errorMessage"]
    response, payload = invoke(client, "quitter")
    assert payload["errorType"] == "Runtime.MarshalError"


def test_warm_worker_is_reused_then_recycled_on_change(cloud, account):
    make_function(cloud, account, "counter", COUNTER)
    client = cloud.client("lambda", account)
    results = [invoke(client, "counter")[1] for _ in range(5)]
    assert [r["calls"] for r in results] == [1, 2, 3, 4, 5]
    assert len({r["pid"] for r in results}) == 1

    client.update_function_code(FunctionName="counter", ZipFile=zip_code(COUNTER.replace('"v1"', '"v2"')))
    after_code = invoke(client, "counter")[1]
    assert after_code["tag"] == "v2" and after_code["calls"] == 1
    assert after_code["pid"] != results[0]["pid"]

    client.update_function_configuration(FunctionName="counter", Environment={"Variables": {"X": "1"}})
    assert invoke(client, "counter")[1]["calls"] == 1


def test_log_tail_and_cloudwatch_logs(cloud, account):
    make_function(cloud, account, "talker", """
        import logging
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        print("loading the module")

        def handler(event, context):
            print("processing", event["order"])
            logger.info("done with %s", event["order"])
            return "ok"
    """)
    client = cloud.client("lambda", account)
    response, _ = invoke(client, "talker", {"order": "A-1"}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"START RequestId: {request_id} Version: $LATEST" in tail
    assert "processing A-1" in tail
    assert f"END RequestId: {request_id}" in tail
    assert f"REPORT RequestId: {request_id}\tDuration:" in tail and "Init Duration:" in tail
    response, _ = invoke(client, "talker", {"order": "A-2"})
    assert "LogResult" not in response

    logs = cloud.client("logs", account)
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/talker")["logStreams"]
    assert len(streams) == 1      # one warm environment served both invocations
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", streams[0]["logStreamName"])
    messages = [e["message"] for e in logs.get_log_events(
        logGroupName="/aws/lambda/talker", logStreamName=streams[0]["logStreamName"],
        startFromHead=True)["events"]]
    assert "loading the module" in messages
    assert messages.index("loading the module") < messages.index(f"START RequestId: {request_id} Version: $LATEST")
    assert any(m.startswith("[INFO]") and "done with A-2" in m for m in messages)
    assert sum(m.startswith("REPORT RequestId:") for m in messages) == 2


def test_event_and_dry_run_invocations(cloud, account):
    make_function(cloud, account, "async-fn", """
        def handler(event, context):
            print("async got", event["n"])
    """)
    client = cloud.client("lambda", account)
    assert client.invoke(FunctionName="async-fn", InvocationType="DryRun")["StatusCode"] == 204
    assert client.invoke(FunctionName="async-fn", InvocationType="Event",
                         Payload=json.dumps({"n": 7}))["StatusCode"] == 202
    logs = cloud.client("logs", account)
    deadline = time.monotonic() + 20
    seen = False
    while time.monotonic() < deadline and not seen:
        try:
            events = logs.filter_log_events(logGroupName="/aws/lambda/async-fn")["events"]
            seen = any(e["message"] == "async got 7" for e in events)
        except ClientError:
            pass
        if not seen:
            time.sleep(0.1)
    assert seen, "the Event invocation did not run"


def test_bad_requests_get_aws_errors(cloud, account):
    make_function(cloud, account, "strict", COUNTER)
    client = cloud.client("lambda", account)
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="strict", Payload=b"{not json")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="no-such-function")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        client.create_function(FunctionName="notzip", Runtime="python3.12", Role=lambda_role(cloud, account),
                               Handler="app.handler", Code={"ZipFile": b"this is not a zip"})
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"


@pytest.mark.parametrize("runtime", ["java21", "dotnet8"])
def test_other_runtimes_get_a_clear_error(cloud, account, runtime):
    cloud.client("lambda", account).create_function(
        FunctionName="not-python", Runtime=runtime, Role=lambda_role(cloud, account), Handler="index.handler",
        Code={"ZipFile": zip_code("exports.handler = async () => 1;", "index.js")})
    with pytest.raises(ClientError) as err:
        cloud.client("lambda", account).invoke(FunctionName="not-python")
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert response["Error"]["Code"] == "InvalidRuntimeException"
    assert runtime in response["Error"]["Message"] and "Python" in response["Error"]["Message"]


def test_accounts_have_separate_functions(cloud):
    from tests.conftest import new_account

    a, b = new_account(), new_account()
    for acct in (a, b):
        make_function(cloud, acct, "whoami", f"""
            import os

            def handler(event, context):
                return {{"built_for": "{acct}", "key": os.environ["AWS_ACCESS_KEY_ID"]}}
        """)
    for acct in (a, b):
        assert invoke(cloud.client("lambda", acct), "whoami")[1] == {"built_for": acct, "key": acct}
    cloud.client("lambda", a).delete_function(FunctionName="whoami")
    assert invoke(cloud.client("lambda", b), "whoami")[1]["built_for"] == b
    with pytest.raises(ClientError) as err:
        cloud.client("lambda", a).invoke(FunctionName="whoami")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def _admin_reset(cloud, account: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", method="POST",
                                     headers={"X-Workshop-Admin-Token": cloud.admin_token})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_account_reset_stops_warm_workers(cloud, account):
    make_function(cloud, account, "survivor", COUNTER)
    client = cloud.client("lambda", account)
    assert [invoke(client, "survivor")[1]["calls"] for _ in range(2)] == [1, 2]
    _admin_reset(cloud, account)
    with pytest.raises(ClientError):
        client.get_function(FunctionName="survivor")
    # The same function again: a fresh environment, not the reset account's warm one.
    make_function(cloud, account, "survivor", COUNTER)
    assert invoke(client, "survivor")[1]["calls"] == 1


def test_sns_delivers_to_a_function_and_invoke_async_runs_it(cloud, account):
    fn = make_function(cloud, account, "subscriber", """
        def handler(event, context):
            print("got", event["Records"][0]["Sns"]["Message"])
    """)
    sns = cloud.client("sns", account)
    topic = sns.create_topic(Name="orders")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn["FunctionArn"])
    sns.publish(TopicArn=topic, Message="order 17 placed")
    cloud.client("lambda", account).invoke_async(
        FunctionName="subscriber", InvokeArgs=json.dumps({"Records": [{"Sns": {"Message": "order 18 placed"}}]}))
    logs = cloud.client("logs", account)
    wanted = {"got order 17 placed", "got order 18 placed"}
    deadline = time.monotonic() + 20
    seen: set[str] = set()
    while time.monotonic() < deadline and not wanted <= seen:
        try:
            seen = {e["message"] for e in logs.filter_log_events(logGroupName="/aws/lambda/subscriber")["events"]}
        except ClientError:
            pass
        time.sleep(0.1)
    assert wanted <= seen
