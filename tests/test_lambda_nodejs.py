"""Node.js functions (CDK's custom resource handlers are Node.js): async and
callback handlers, console lines in the function's log, AWS's error payload,
the AWS SDK v3 from npm against the cloud, and an https request to the cloud's
own host name reaching its endpoint."""

from __future__ import annotations

import base64
import os
import shutil

import pytest

from tests.test_lambda_invoke import invoke, lambda_role, zip_code

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="no node on this machine")


def node_function(cloud, account, name: str, source: str, **options) -> None:
    cloud.client("lambda", account).create_function(
        FunctionName=name, Runtime="nodejs22.x", Role=lambda_role(cloud, account), Handler="index.handler",
        Code={"ZipFile": zip_code(source, "index.js")}, **options)


def test_async_and_callback_handlers_answer(cloud, account):
    client = cloud.client("lambda", account)
    node_function(cloud, account, "node-async", """
        exports.handler = async (event, context) => {
          console.log("hello", event.name);
          return {greeting: `hi ${event.name}`, fn: context.functionName, left: context.getRemainingTimeInMillis() > 0};
        };
    """)
    response, payload = invoke(client, "node-async", {"name": "ada"}, LogType="Tail")
    assert "FunctionError" not in response
    assert payload == {"greeting": "hi ada", "fn": "node-async", "left": True}
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "\tINFO\thello ada" in tail and "Node.js" in tail

    node_function(cloud, account, "node-callback", """
        exports.handler = (event, context, callback) => { setTimeout(() => callback(null, event.n * 2), 10); };
    """)
    assert invoke(client, "node-callback", {"n": 21})[1] == 42


def test_a_throwing_handler_gets_aws_error_payload(cloud, account):
    node_function(cloud, account, "node-throws", """
        exports.handler = async () => { const e = new Error("boom"); e.name = "BadThing"; throw e; };
    """)
    response, payload = invoke(cloud.client("lambda", account), "node-throws")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "BadThing" and payload["errorMessage"] == "boom"


def test_sdk_v3_and_https_to_the_cloud_host(cloud, account):
    pytest.importorskip("boto3")
    cloud.client("s3", account).create_bucket(Bucket=f"node-{account}")
    node_function(cloud, account, "node-sdk", """
        const { S3Client, ListObjectsV2Command } = require("@aws-sdk/client-s3");
        const https = require("https");
        exports.handler = async (event) => {
          const s3 = new S3Client({});
          const listed = await s3.send(new ListObjectsV2Command({Bucket: event.bucket}));
          // As CDK's handlers PUT their CloudFormation response: https, host name only, no port.
          const url = new URL(process.env.AWS_ENDPOINT_URL);
          const status = await new Promise((resolve, reject) => {
            const body = "hello";
            const req = https.request({hostname: url.hostname, path: `/${event.bucket}/from-node.txt`, method: "PUT",
                                       headers: {"content-length": body.length}}, (res) => { res.resume(); resolve(res.statusCode); });
            req.on("error", reject); req.write(body); req.end();
          });
          return {count: listed.KeyCount, status};
        };
    """, Timeout=30)
    if not _has_sdk():
        reason = "the AWS SDK for JavaScript v3 is not installed (npm install -g @aws-sdk/client-s3@3)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    response, payload = invoke(cloud.client("lambda", account), "node-sdk", {"bucket": f"node-{account}"})
    assert "FunctionError" not in response, payload
    assert payload["count"] == 0
    # The unsigned PUT reached the cloud (S3 refuses it as anonymous or accepts it: either is S3 answering).
    assert payload["status"] in (200, 403)


def _has_sdk() -> bool:
    from workshop.cloud.services.awslambda.function_runner import node_modules

    return any(os.path.isdir(os.path.join(folder, "@aws-sdk", "client-s3")) for folder in node_modules())
