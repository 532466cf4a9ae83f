"""Old snapshots stay readable: a cloud restores the snapshot committed in tests/data (an
account with every kind of resource, written by an earlier version of the cloud) and
answers for what it holds. A change that breaks it (a class renamed or moved, a field
whose meaning changed) fails here: then either keep the old shape readable, or raise
``workshop.cloud.snapshot.FORMAT`` deliberately and regenerate the file with
``python tests/data/make_snapshot.py`` (a cloud then refuses older snapshots, clearly)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from tests.conftest import start_cloud, stop_cloud
from workshop.cloud.snapshot import FORMAT

DATA = Path(__file__).resolve().parent / "data"


def test_the_committed_snapshot_is_restored(tmp_path):
    snapshot = DATA / f"snapshot-format{FORMAT}.snapshot"
    assert snapshot.exists(), f"no snapshot of format {FORMAT}: run tests/data/make_snapshot.py"
    made = json.loads((DATA / f"snapshot-format{FORMAT}.json").read_text())
    account = made["account"]
    data = Path(tempfile.mkdtemp(prefix="workshop-data-"))
    (data / "state" / "snapshots").mkdir(parents=True)
    shutil.copyfile(snapshot, data / "state" / "snapshots" / f"{account}.snapshot")
    cloud = start_cloud(tmp_path, data_dir=data)
    try:
        c = {s: cloud.client(s, account) for s in ("s3", "cloudformation", "codebuild", "lambda", "cloudwatch",
                                                   "codedeploy", "codepipeline", "iam", "codecommit", "ecr")}
        body = c["s3"].get_object(Bucket=made["bucket"], Key="notes/hello.txt")["Body"].read()
        assert body == b"kept across restarts\n"
        stack = c["cloudformation"].describe_stacks(StackName="kept-stack")["Stacks"][0]
        assert (stack["StackId"], stack["StackStatus"]) == (made["stack_id"], "CREATE_COMPLETE")
        build = c["codebuild"].batch_get_builds(ids=[made["build_id"]])["builds"][0]
        assert build["buildStatus"] == "SUCCEEDED" and build["phases"][-1]["phaseType"] == "COMPLETED"
        assert c["lambda"].get_alias(FunctionName="kept-fn", Name="live")["FunctionVersion"] == "2"
        alarm = c["cloudwatch"].describe_alarms(AlarmNames=["kept-alarm"])["MetricAlarms"][0]
        assert alarm["StateValue"] == "ALARM"
        assert c["cloudwatch"].describe_alarm_history(AlarmName="kept-alarm")["AlarmHistoryItems"]
        deployment = c["codedeploy"].get_deployment(deploymentId=made["deployment_id"])["deploymentInfo"]
        assert deployment["status"] == "Succeeded"
        execution = c["codepipeline"].get_pipeline_execution(
            pipelineName="kept-pipeline", pipelineExecutionId=made["execution_id"])["pipelineExecution"]
        assert execution["status"] == "Succeeded"
        assert c["iam"].list_access_keys(UserName="kept-user")["AccessKeyMetadata"]
        assert c["codecommit"].get_repository(repositoryName="kept-app")["repositoryMetadata"]["repositoryName"]
        assert [r["repositoryName"] for r in c["ecr"].describe_repositories()["repositories"]] == ["kept-images"]
    finally:
        stop_cloud(cloud)
