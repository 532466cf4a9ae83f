"""CodeCommit's errors, as AWS names them: every rule in models.py fails with
one of these, so boto3 raises a ClientError whose code a learner can look up."""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError


class CodeCommitError(JsonRESTError):
    code = 400

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)


def error(error_type: str, message: str) -> CodeCommitError:
    return CodeCommitError(error_type, message)


def repository_does_not_exist(name: str) -> CodeCommitError:
    return CodeCommitError("RepositoryDoesNotExistException", f"{name} does not exist")


def required(error_type: str, what: str) -> CodeCommitError:
    return CodeCommitError(error_type, f"{what} is required but was not specified.")
