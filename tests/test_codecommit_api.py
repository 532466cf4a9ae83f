"""CodeCommit through the API alone: repositories (list order, rename,
description, tags, batch get), branches, files and commits with CodeCommit's
parentCommitId rules, folders, blobs, differences; and bad input always gets
AWS's error code, never a 500 (also with boto3's own validation turned off)."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def code_of(raised) -> str:
    return raised.value.response["Error"]["Code"]


def test_repository_lifecycle_list_rename_tags(cloud, account):
    cc = cloud.client("codecommit", account)
    created = cc.create_repository(repositoryName="beta", repositoryDescription="first",
                                   tags={"lab": "01-source"})["repositoryMetadata"]
    cc.create_repository(repositoryName="alpha")
    assert created["Arn"] == f"arn:aws:codecommit:us-east-1:{account}:beta"
    assert created["accountId"] == account and "defaultBranch" not in created

    names = [r["repositoryName"] for r in cc.list_repositories()["repositories"]]
    assert names == ["alpha", "beta"]
    names = [r["repositoryName"] for r in cc.list_repositories(sortBy="repositoryName",
                                                              order="descending")["repositories"]]
    assert names == ["beta", "alpha"]
    cc.update_repository_description(repositoryName="alpha", repositoryDescription="touched")
    names = [r["repositoryName"] for r in cc.list_repositories(sortBy="lastModifiedDate",
                                                              order="descending")["repositories"]]
    assert names[0] == "alpha"

    assert cc.list_tags_for_resource(resourceArn=created["Arn"])["tags"] == {"lab": "01-source"}
    cc.tag_resource(resourceArn=created["Arn"], tags={"team": "blue"})
    cc.untag_resource(resourceArn=created["Arn"], tagKeys=["lab"])
    assert cc.list_tags_for_resource(resourceArn=created["Arn"])["tags"] == {"team": "blue"}

    cc.update_repository_name(oldName="beta", newName="gamma")
    renamed = cc.get_repository(repositoryName="gamma")["repositoryMetadata"]
    assert renamed["repositoryId"] == created["repositoryId"]
    assert renamed["cloneUrlHttp"].endswith("/v1/repos/gamma")
    batch = cc.batch_get_repositories(repositoryNames=["gamma", "beta"])
    assert [r["repositoryName"] for r in batch["repositories"]] == ["gamma"]
    assert batch["repositoriesNotFound"] == ["beta"]

    assert cc.delete_repository(repositoryName="gamma")["repositoryId"] == created["repositoryId"]
    assert "repositoryId" not in cc.delete_repository(repositoryName="gamma")
    assert [r["repositoryName"] for r in cc.list_repositories()["repositories"]] == ["alpha"]


def test_files_commits_and_parent_commit_rules(cloud, account):
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="app")
    first = cc.put_file(repositoryName="app", branchName="main", filePath="/src/app.py",
                        fileContent=b"print(1)\n", name="Ana", email="ana@example.com",
                        commitMessage="first")["commitId"]
    assert cc.get_repository(repositoryName="app")["repositoryMetadata"]["defaultBranch"] == "main"

    with pytest.raises(ClientError) as raised:  # a second write must name its parent
        cc.put_file(repositoryName="app", branchName="main", filePath="x.txt", fileContent=b"x")
    assert code_of(raised) == "ParentCommitIdRequiredException"
    with pytest.raises(ClientError) as raised:
        cc.put_file(repositoryName="app", branchName="main", filePath="src/app.py", fileContent=b"print(1)\n",
                    parentCommitId=first)
    assert code_of(raised) == "SameFileContentException"

    second = cc.create_commit(
        repositoryName="app", branchName="main", parentCommitId=first, commitMessage="second",
        putFiles=[{"filePath": "run.sh", "fileContent": b"#!/bin/sh\necho hi\n", "fileMode": "EXECUTABLE"},
                  {"filePath": "src/main.py", "sourceFile": {"filePath": "src/app.py", "isMove": True}}])
    assert [f["absolutePath"] for f in second["filesAdded"]] == ["run.sh", "src/main.py"]
    assert [f["absolutePath"] for f in second["filesDeleted"]] == ["src/app.py"]

    with pytest.raises(ClientError) as raised:  # writing on top of an outdated parent
        cc.put_file(repositoryName="app", branchName="main", filePath="y.txt", fileContent=b"y",
                    parentCommitId=first)
    assert code_of(raised) == "ParentCommitIdOutdatedException"

    folder = cc.get_folder(repositoryName="app", folderPath="/")
    assert [f["relativePath"] for f in folder["files"]] == ["run.sh"]
    assert folder["files"][0]["fileMode"] == "EXECUTABLE"
    assert [f["absolutePath"] for f in folder["subFolders"]] == ["src"]
    main_py = cc.get_file(repositoryName="app", filePath="src/main.py")
    assert main_py["fileContent"] == b"print(1)\n" and main_py["commitId"] == second["commitId"]
    assert cc.get_blob(repositoryName="app", blobId=main_py["blobId"])["content"] == b"print(1)\n"

    commit = cc.get_commit(repositoryName="app", commitId=first)["commit"]
    assert commit["author"]["name"] == "Ana" and commit["author"]["email"] == "ana@example.com"
    assert commit["parents"] == []
    diffs = cc.get_differences(repositoryName="app", beforeCommitSpecifier=first,
                               afterCommitSpecifier="main")["differences"]
    assert sorted((d["changeType"], (d.get("afterBlob") or d.get("beforeBlob"))["path"]) for d in diffs) == \
        [("A", "run.sh"), ("A", "src/main.py"), ("D", "src/app.py")]
    batch = cc.batch_get_commits(repositoryName="app", commitIds=[first, "0" * 40])
    assert [c["commitId"] for c in batch["commits"]] == [first]
    assert batch["errors"][0]["errorCode"] == "CommitDoesNotExistException"

    third = cc.delete_file(repositoryName="app", branchName="main", filePath="run.sh",
                           parentCommitId=second["commitId"])
    with pytest.raises(ClientError) as raised:
        cc.get_file(repositoryName="app", filePath="run.sh")
    assert code_of(raised) == "FileDoesNotExistException"
    assert cc.get_file(repositoryName="app", commitSpecifier=first, filePath="src/app.py")["fileSize"] == 9
    assert cc.get_branch(repositoryName="app", branchName="main")["branch"]["commitId"] == third["commitId"]


def test_branches(cloud, account):
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="app")
    first = cc.put_file(repositoryName="app", branchName="main", filePath="a", fileContent=b"a")["commitId"]
    cc.create_branch(repositoryName="app", branchName="develop", commitId=first)
    with pytest.raises(ClientError) as raised:
        cc.create_branch(repositoryName="app", branchName="develop", commitId=first)
    assert code_of(raised) == "BranchNameExistsException"
    with pytest.raises(ClientError) as raised:
        cc.delete_branch(repositoryName="app", branchName="main")
    assert code_of(raised) == "DefaultBranchCannotBeDeletedException"
    cc.update_default_branch(repositoryName="app", defaultBranchName="develop")
    assert cc.get_repository(repositoryName="app")["repositoryMetadata"]["defaultBranch"] == "develop"
    deleted = cc.delete_branch(repositoryName="app", branchName="main")["deletedBranch"]
    assert deleted == {"branchName": "main", "commitId": first}
    assert cc.list_branches(repositoryName="app")["branches"] == ["develop"]


@pytest.mark.parametrize("call, code", [
    (lambda cc: cc.get_repository(repositoryName="nope"), "RepositoryDoesNotExistException"),
    (lambda cc: cc.create_repository(repositoryName="bad name!"), "InvalidRepositoryNameException"),
    (lambda cc: cc.create_repository(repositoryName="x" * 101), "InvalidRepositoryNameException"),
    (lambda cc: cc.create_repository(repositoryName="ok", repositoryDescription="d" * 1001),
     "InvalidRepositoryDescriptionException"),
    (lambda cc: cc.get_branch(repositoryName="seed", branchName="nope"), "BranchDoesNotExistException"),
    (lambda cc: cc.get_branch(repositoryName="seed", branchName="bad..branch"), "InvalidBranchNameException"),
    (lambda cc: cc.create_branch(repositoryName="seed", branchName="b", commitId="xyz"), "InvalidCommitIdException"),
    (lambda cc: cc.create_branch(repositoryName="seed", branchName="b", commitId="a" * 40),
     "CommitDoesNotExistException"),
    (lambda cc: cc.get_commit(repositoryName="seed", commitId="a" * 40), "CommitIdDoesNotExistException"),
    (lambda cc: cc.get_file(repositoryName="seed", filePath="../etc/passwd"), "InvalidPathException"),
    (lambda cc: cc.get_file(repositoryName="seed", filePath="nope.txt"), "FileDoesNotExistException"),
    (lambda cc: cc.get_file(repositoryName="seed", commitSpecifier="no-branch", filePath="a"),
     "CommitDoesNotExistException"),
    (lambda cc: cc.get_folder(repositoryName="seed", folderPath="nope"), "FolderDoesNotExistException"),
    (lambda cc: cc.get_blob(repositoryName="seed", blobId="zz"), "InvalidBlobIdException"),
    (lambda cc: cc.put_file(repositoryName="seed", branchName="main", filePath="a", fileContent=b"",
                            parentCommitId="a" * 40), "FileContentRequiredException"),
    (lambda cc: cc.put_file(repositoryName="seed", branchName="main", filePath="a", fileContent=b"z",
                            parentCommitId="not-a-commit"), "InvalidParentCommitIdException"),
    (lambda cc: cc.put_file(repositoryName="seed", branchName="main", filePath="a", fileContent=b"z",
                            parentCommitId="b" * 40), "ParentCommitDoesNotExistException"),
    (lambda cc: cc.put_file(repositoryName="seed", branchName="main", filePath="a/b", fileContent=b"z",
                            parentCommitId=cc.get_branch(repositoryName="seed", branchName="main")
                            ["branch"]["commitId"]), "DirectoryNameConflictsWithFileNameException"),
    (lambda cc: cc.create_commit(repositoryName="seed", branchName="main"), "FileEntryRequiredException"),
    (lambda cc: cc.list_repositories(sortBy="size"), "InvalidSortByException"),
    (lambda cc: cc.list_repositories(nextToken="garbage!"), "InvalidContinuationTokenException"),
    (lambda cc: cc.tag_resource(resourceArn="arn:aws:s3:::bucket", tags={"a": "b"}), "InvalidResourceArnException"),
    (lambda cc: cc.get_pull_request(pullRequestId="999"), "PullRequestDoesNotExistException"),
    (lambda cc: cc.get_pull_request(pullRequestId="abc"), "InvalidPullRequestIdException"),
    (lambda cc: cc.create_pull_request(title="t", targets=[{"repositoryName": "seed", "sourceReference": "main"}]),
     "SourceAndDestinationAreSameException"),
    (lambda cc: cc.create_pull_request(title="t", targets=[{"repositoryName": "seed", "sourceReference": "nope"}]),
     "ReferenceDoesNotExistException"),
    (lambda cc: cc.get_merge_conflicts(repositoryName="seed", destinationCommitSpecifier="main",
                                       sourceCommitSpecifier="main", mergeOption="OCTOPUS"),
     "InvalidMergeOptionException"),
])
def test_bad_input_gets_aws_error_codes(cloud, account, call, code):
    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="seed")
    cc.put_file(repositoryName="seed", branchName="main", filePath="a", fileContent=b"a")
    with pytest.raises(ClientError) as raised:
        call(cc)
    assert code_of(raised) == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("operation, params, code", [
    ("create_repository", {}, "RepositoryNameRequiredException"),
    ("get_branch", {"repositoryName": "seed"}, "BranchNameRequiredException"),
    ("put_file", {"repositoryName": "seed", "branchName": "main", "filePath": "f"}, "FileContentRequiredException"),
    ("put_file", {"repositoryName": "seed", "branchName": "main", "fileContent": b"x"}, "PathRequiredException"),
    ("put_repository_triggers", {"repositoryName": "seed"}, "RepositoryTriggersListRequiredException"),
    ("put_repository_triggers", {"repositoryName": "seed", "triggers": [{}]},
     "RepositoryTriggerNameRequiredException"),
    ("create_pull_request", {"title": "t"}, "TargetsRequiredException"),
    ("create_pull_request", {"targets": [{"repositoryName": "seed", "sourceReference": "main"}]},
     "TitleRequiredException"),
    ("update_pull_request_approval_state", {}, "PullRequestIdRequiredException"),
    ("create_approval_rule_template", {"approvalRuleTemplateName": "t"},
     "ApprovalRuleTemplateContentRequiredException"),
    ("tag_resource", {"tags": {"a": "b"}}, "ResourceArnRequiredException"),
    ("batch_get_repositories", {}, "RepositoryNamesRequiredException"),
    ("create_commit", {"repositoryName": "seed", "branchName": "main", "putFiles": [{"fileContent": b"x"}]},
     "ParentCommitIdRequiredException"),
])
def test_missing_parameters_get_aws_error_codes_without_client_validation(cloud, account, operation, params, code):
    cc = cloud.client("codecommit", account, config=Config(parameter_validation=False,
                                                           retries={"max_attempts": 1}))
    cc.create_repository(repositoryName="seed")
    cc.put_file(repositoryName="seed", branchName="main", filePath="a", fileContent=b"a")
    with pytest.raises(ClientError) as raised:
        getattr(cc, operation)(**params)
    assert code_of(raised) == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _malformed_bodies(operation) -> list[bytes]:
    """Bodies of the wrong shape for one operation: every member a number, a dict, a list, a string."""
    import json

    members = list(operation.input_shape.members) if operation.input_shape else []
    bodies = [b"{not json", b"[]", b"{}"]
    for value in (5, {"a": 1}, [{"x": None}], "seed", ["x"]):
        bodies.append(json.dumps({m: value for m in members}).encode())
    # Well-named repository and pull request, everything else wrong.
    bodies.append(json.dumps({m: ("seed" if "repositoryName" in m else "1" if m == "pullRequestId" else [5])
                              for m in members}).encode())
    return bodies


def test_malformed_request_bodies_never_give_a_500(cloud, account):
    """Every CodeCommit operation, sent bodies of the wrong shape, answers 4xx (or 501), never 500."""
    import urllib.request

    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    cc = cloud.client("codecommit", account)
    cc.create_repository(repositoryName="seed")
    main = cc.put_file(repositoryName="seed", branchName="main", filePath="a", fileContent=b"a")["commitId"]
    cc.create_branch(repositoryName="seed", branchName="f", commitId=main)
    cc.put_file(repositoryName="seed", branchName="f", filePath="b", fileContent=b"b", parentCommitId=main)
    cc.create_pull_request(title="t", targets=[{"repositoryName": "seed", "sourceReference": "f"}])

    model = botocore.session.get_session().get_service_model("codecommit")
    failures = []
    for name in model.operation_names:
        for body in _malformed_bodies(model.operation_model(name)):
            request = AWSRequest(method="POST", url=cloud.endpoint + "/", data=body, headers={
                "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"CodeCommit_20150413.{name}"})
            SigV4Auth(Credentials(account, "test"), "codecommit", "us-east-1").add_auth(request)
            prepared = request.prepare()
            req = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            if status >= 500 and status != 501:
                failures.append((name, body[:120], status))
    assert failures == []
