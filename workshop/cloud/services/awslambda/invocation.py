"""What a Lambda invocation is, for the models and the runner alike: the
function version a worker runs (``FunctionSpec``), the request (``Invocation``),
its result (``Outcome``), and the runner's refusals (``CodeError``, ``Throttled``)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from workshop.cloud.clock import get_clock

# Every Python runtime runs on the cloud's own interpreter (the handler's code
# must suit that version); the others are refused with a clear error.
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
# Every Node.js runtime runs on the machine's own `node` (CDK's custom resource handlers
# are Node.js functions), with the AWS SDK for JavaScript v3 where npm installed it.
NODE_RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
LOG_TAIL_BYTES = 4096                # what LogType=Tail returns

# Keys AWS sets itself; a function's own variables may not override them.
RESERVED_ENV = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})


class CodeError(Exception):
    """The function's code cannot be unpacked (not a zip, too large, empty)."""


class Throttled(Exception):
    """Every execution environment of the version stayed busy too long."""


@dataclass(frozen=True)
class FunctionSpec:
    """What a worker runs: a snapshot of one function version's code and configuration."""

    account_id: str
    region: str
    function_name: str
    version: str                      # "$LATEST" or a published version number
    runtime: str
    handler: str
    code_sha256: str
    environment: tuple[tuple[str, str], ...]
    memory_size: int
    timeout: float
    function_arn: str                 # unqualified
    code: bytes = field(compare=False, repr=False)
    tracing_mode: str = field(default="PassThrough", compare=False)   # TracingConfig's Mode

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.account_id, self.region, self.function_name, self.version)

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    invoked_arn: str
    executed_version: str
    resource: str | None = None       # the Resource dimension: name:alias or name:version
    via_alias: bool = False
    client_context: dict | None = None
    trace_header: str | None = None   # the caller's X-Amzn-Trace-Id (Root=...;Parent=...;Sampled=...)
    # When the request arrived (wall clock): AWS stamps an invocation's metrics so.
    received: float = field(default_factory=lambda: get_clock().timestamp())


@dataclass
class Outcome:
    request_id: str
    payload: bytes
    function_error: str | None        # "Unhandled" when the function failed
    executed_version: str
    log_text: str                     # this invocation's log lines, START to REPORT
    duration_ms: float

    @property
    def log_tail_b64(self) -> str:
        return base64.b64encode(self.log_text.encode("utf-8")[-LOG_TAIL_BYTES:]).decode("ascii")
