"""AWS::CodeCommit::Repository through CloudFormation: name, description, tags,
triggers and the initial commit from a zip in S3; its attributes in outputs; a
stack update renames it; deleting the stack deletes it. And checkout(), the
export CodeBuild uses, writes a commit's files with their modes."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
from botocore.exceptions import ClientError


def _zip(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _template(name: str, bucket: str, topic: str) -> dict:
    return {
        "Resources": {
            "Repo": {"Type": "AWS::CodeCommit::Repository", "Properties": {
                "RepositoryName": name, "RepositoryDescription": "made by a stack",
                "Tags": [{"Key": "lab", "Value": "01-source"}],
                "Triggers": [{"Name": "to-topic", "DestinationArn": topic, "Branches": ["main"],
                              "Events": ["all"], "CustomData": "from cfn"}],
                "Code": {"S3": {"Bucket": bucket, "Key": "seed.zip"}, "BranchName": "main"}}}},
        "Outputs": {"CloneUrl": {"Value": {"Fn::GetAtt": ["Repo", "CloneUrlHttp"]}},
                    "Arn": {"Value": {"Fn::GetAtt": ["Repo", "Arn"]}},
                    "Id": {"Value": {"Ref": "Repo"}}},
    }


def test_stack_creates_repository_with_code_triggers_and_tags(cloud, account):
    s3, cfn, cc = (cloud.client(s, account) for s in ("s3", "cloudformation", "codecommit"))
    bucket = f"seed-{account}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="seed.zip", Body=_zip({
        "app.py": (b"print('seeded')\n", 0o644), "scripts/run.sh": (b"#!/bin/sh\n", 0o755)}))
    topic = cloud.client("sns", account).create_topic(Name="repo-events")["TopicArn"]

    cfn.create_stack(StackName="source", TemplateBody=json.dumps(_template("seeded", bucket, topic)))
    stack = cfn.describe_stacks(StackName="source")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    meta = cc.get_repository(repositoryName="seeded")["repositoryMetadata"]
    assert meta["repositoryDescription"] == "made by a stack" and meta["defaultBranch"] == "main"
    assert outputs["Id"] == meta["repositoryId"] and outputs["Arn"] == meta["Arn"]
    assert outputs["CloneUrl"].endswith("/v1/repos/seeded")
    assert cc.list_tags_for_resource(resourceArn=meta["Arn"])["tags"] == {"lab": "01-source"}
    [trigger] = cc.get_repository_triggers(repositoryName="seeded")["triggers"]
    assert (trigger["name"], trigger["destinationArn"], trigger["customData"]) == ("to-topic", topic, "from cfn")
    assert cc.get_file(repositoryName="seeded", filePath="app.py")["fileContent"] == b"print('seeded')\n"
    assert cc.get_file(repositoryName="seeded", filePath="scripts/run.sh")["fileMode"] == "EXECUTABLE"

    template = _template("renamed", bucket, topic)
    template["Resources"]["Repo"]["Properties"]["RepositoryDescription"] = "updated"
    cfn.update_stack(StackName="source", TemplateBody=json.dumps(template))
    meta2 = cc.get_repository(repositoryName="renamed")["repositoryMetadata"]
    assert meta2["repositoryId"] == meta["repositoryId"] and meta2["repositoryDescription"] == "updated"

    cfn.delete_stack(StackName="source")
    with pytest.raises(ClientError) as raised:
        cc.get_repository(repositoryName="renamed")
    assert raised.value.response["Error"]["Code"] == "RepositoryDoesNotExistException"


def test_checkout_writes_a_commits_files_for_codebuild(tmp_path):
    """In-process: the function CodeBuild's source step calls."""
    from workshop.cloud import runtime
    from workshop.cloud.services.codecommit import models

    runtime.configure(tmp_path / "state", "http://127.0.0.1:1")
    backend = models.backend("123456789012", "us-east-1")
    backend.create_repository("src")
    first = backend.create_commit("src", "main", None, "a", "a@example.com", "one", False, [
        {"filePath": "app.py", "fileContent": b"v1\n"},
        {"filePath": "bin/run", "fileContent": b"#!/bin/sh\n", "fileMode": "EXECUTABLE"}], [], [],
        "arn:aws:iam::123456789012:root")["commitId"]
    backend.put_file("src", "main", b"v2\n", "app.py", None, first, "two", None, None,
                     "arn:aws:iam::123456789012:root")

    head = models.checkout("123456789012", "us-east-1", "src", "", tmp_path / "head")
    assert head == backend.get_branch("src", "main")
    assert (tmp_path / "head" / "app.py").read_text() == "v2\n"
    assert os.access(tmp_path / "head" / "bin" / "run", os.X_OK)
    assert models.checkout("123456789012", "us-east-1", "src", first, tmp_path / "old") == first
    assert (tmp_path / "old" / "app.py").read_text() == "v1\n"
    with pytest.raises(models.CodeCommitError):
        models.checkout("123456789012", "us-east-1", "src", "no-such-branch", tmp_path / "x")
