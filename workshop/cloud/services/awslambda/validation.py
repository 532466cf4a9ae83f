"""What AWS Lambda checks when a function is created or changed, with its error codes and
messages: a request body that is a JSON object, the function name's pattern and length, the
runtime, memory size (128-10,240 MB), timeout (1-900 s), a Code member, and code whose
files unzip to at most 250 MB."""

from __future__ import annotations

import io
import json
import re
import zipfile
from functools import lru_cache
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError, ValidationException

MEMORY_MB = (128, 10_240)
TIMEOUT_SECONDS = (1, 900)
NAME_MAX = 64                       # the name itself; with an ARN around it, 140
UNZIPPED_LIMIT = 262_144_000


class InvalidRequestContentException(LambdaClientError):
    def __init__(self, message: str):
        super().__init__("InvalidRequestContentException", message)


def json_object(body: str | bytes | None) -> dict[str, Any]:
    """A request body as AWS reads it: a JSON object, else InvalidRequestContentException."""
    try:
        value = json.loads(body or "{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequestContentException(
            "Could not parse request body into json: the request body must be a JSON object, "
            f"not a {type(value).__name__}")
    return value


@lru_cache(maxsize=1)
def _model():
    import botocore.session

    shapes = botocore.session.get_session().get_service_model("lambda").operation_model("CreateFunction")
    members = shapes.input_shape.members
    return re.compile(members["FunctionName"].metadata["pattern"]), tuple(members["Runtime"].enum)


def check_create(spec: dict[str, Any]) -> None:
    """CreateFunction's checks, before anything is made."""
    name = spec.get("FunctionName")
    pattern, _ = _model()
    if not isinstance(name, str) or not name:
        raise ValidationException("null", "functionName", "Member must not be null")
    if len(name) > 140:
        raise ValidationException(name, "functionName", "Member must have length less than or equal to 140")
    if not pattern.fullmatch(name):
        raise ValidationException(name, "functionName",
                                  f"Member must satisfy regular expression pattern: {pattern.pattern}")
    short = name.rsplit(":function:", 1)[-1].split(":", 1)[0] if ":" in name else name
    if len(short) > NAME_MAX:
        raise ValidationException(short, "functionName",
                                  f"Member must have length less than or equal to {NAME_MAX}")
    code = spec.get("Code")
    if code is None:
        raise ValidationException("null", "code", "Member must not be null")
    if not isinstance(code, dict):
        raise InvalidRequestContentException("Could not parse request body into json: Code must be an object")
    check_configuration(spec)


def check_configuration(spec: dict[str, Any]) -> None:
    """The members CreateFunction and UpdateFunctionConfiguration share."""
    _, runtimes = _model()
    runtime = spec.get("Runtime")
    if runtime is not None and runtime not in runtimes:
        raise ValidationException(str(runtime), "runtime",
                                  f"Member must satisfy enum value set: [{', '.join(runtimes)}] or be a valid ARN")
    _in_range(spec, "MemorySize", "memorySize", *MEMORY_MB)
    _in_range(spec, "Timeout", "timeout", *TIMEOUT_SECONDS)


def _in_range(spec: dict[str, Any], member: str, field: str, low: int, high: int) -> None:
    value = spec.get(member)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestContentException(f"Could not parse request body into json: {member} must be a number")
    if value < low:
        raise ValidationException(str(value), field, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise ValidationException(str(value), field, f"Member must have value less than or equal to {high}")


def check_unzipped(code: bytes) -> None:
    """AWS's limit on a function's unpacked code, checked when the code arrives."""
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        return   # the caller says the file is no zip
    if total > UNZIPPED_LIMIT:
        raise InvalidParameterValueException(f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes")
