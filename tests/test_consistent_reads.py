"""State changes a reader sees whole (issue 10, item 6): a deployment's Failed status
and its rollbackInfo change under one lock, which get_deployment reads under; a reader
polling as fast as it can, in 10 accounts whose rolling deployments fail and roll back
at once, never sees one without the other."""

from __future__ import annotations

import threading

from tests.conftest import new_account
from tests.test_codedeploy_lambda import finished
from tests.test_codedeploy_server import register, release, server_group, upload

ALWAYS_FAILS = """#!/bin/sh
echo "health check failed" >&2
exit 1
"""


def _failing_rollout(cloud, account: str) -> tuple[object, dict]:
    """A rolling group whose failures and rollbacks notify a topic (as lab 03's) and whose
    first release succeeded; returns (client, the failing release's revision)."""
    register(cloud, account, ["web-1", "web-2"], [{"Key": "Role", "Value": "web"}])
    topic = cloud.client("sns", account).create_topic(Name="deployments")["TopicArn"]
    queue = cloud.client("sqs", account).create_queue(QueueName="deployments")["QueueUrl"]
    queue_arn = cloud.client("sqs", account).get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.client("sns", account).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    cd = server_group(cloud, account, "fleet", "CodeDeployDefault.OneAtATime",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "web", "Type": "KEY_AND_VALUE"}],
                      autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
                      triggerConfigurations=[{"triggerName": "failures", "triggerTargetArn": topic,
                                              "triggerEvents": ["DeploymentFailure", "DeploymentRollback"]}])
    good = upload(cloud, account, "shop/v1.zip", release("v1"))
    first = cd.create_deployment(applicationName="shop", deploymentGroupName="fleet", revision=good)["deploymentId"]
    assert finished(cd, first)["status"] == "Succeeded"
    return cd, upload(cloud, account, "shop/v2.zip", release("v2", ALWAYS_FAILS))


def test_no_reader_sees_a_failed_deployment_without_its_rollback(cloud):
    accounts = [new_account() for _ in range(10)]
    prepared = [_failing_rollout(cloud, account) for account in accounts]
    torn: list[dict] = []
    seen_failed: list[str] = []
    done = threading.Event()

    def watch(cd, deployment_id: str) -> None:
        while not done.is_set():
            info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            if info["status"] == "Failed":
                if "rollbackInfo" not in info:
                    torn.append(info)
                seen_failed.append(deployment_id)
                return

    readers = []
    for cd, revision in prepared:
        deployment_id = cd.create_deployment(applicationName="shop", deploymentGroupName="fleet",
                                             revision=revision)["deploymentId"]
        readers += [threading.Thread(target=watch, args=(cd, deployment_id), daemon=True) for _ in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(180)
    done.set()
    assert not torn, torn[0]
    assert len(set(seen_failed)) == len(accounts)

