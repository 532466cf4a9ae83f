"""The runtime inside a function's worker process: it imports the handler once,
then answers invocation requests from the cloud, one JSON line each way over
the pipe it was started with. Standard library only, no workshop imports: it
runs with the function's own environment, as AWS's Python runtime does.

Usage (by the function runner only): python -u -P bootstrap.py LOG_FILE
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback

# The pipe to the cloud; everything the function prints goes to the log file.
_proto_in = os.fdopen(os.dup(0), "rb")
_proto_out = os.fdopen(os.dup(1), "wb")


def _redirect_output(log_path: str) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # O_APPEND, so that truncating the file at each invocation keeps writes at its end.
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def _reply(message: dict) -> None:
    _proto_out.write(json.dumps(message).encode("utf-8") + b"\n")
    _proto_out.flush()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a handler may have replaced or closed them
            pass


# -- AWS's error payloads (as awslambdaric builds them) ----------------------------
def _error(message: str, error_type: str, stack: list[str] | None = None, request_id: str = "") -> dict:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id,
            "stackTrace": stack or []}


def _user_frames(tb) -> list[str]:
    frames = traceback.extract_tb(tb)
    own = os.path.abspath(__file__)
    frames = [f for f in frames if os.path.abspath(f.filename) != own]
    return traceback.format_list(frames)


def _log_error(payload: dict) -> None:
    text = f"[ERROR] {payload['errorType']}: {payload['errorMessage']}"
    if payload["stackTrace"]:
        text += "\nTraceback (most recent call last):\n" + "".join(payload["stackTrace"]).rstrip("\n")
    print(text, flush=True)


class _FaultError(Exception):
    def __init__(self, payload: dict):
        super().__init__(payload["errorMessage"])
        self.payload = payload


def _load_handler(handler: str):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise _FaultError(_error(f"Bad handler '{handler}': {exc}", "Runtime.MalformedHandlerName"))
    if modname.split(".")[0] in sys.builtin_module_names:
        raise _FaultError(_error(f"Cannot use built-in module {modname} as a handler module",
                                 "Runtime.BuiltInModuleConflict"))
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise _FaultError(_error(f"Unable to import module '{modname}': {exc}", "Runtime.ImportModuleError"))
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise _FaultError(_error(f"Syntax error in module '{modname}': {exc}", "Runtime.UserCodeSyntaxError",
                                 trace))
    except Exception as exc:  # the module's own code failed while loading
        raise _FaultError(_error(str(exc), type(exc).__name__, _user_frames(exc.__traceback__)))
    try:
        return getattr(module, fname)
    except AttributeError:
        raise _FaultError(_error(f"Handler '{fname}' missing on module '{modname}'", "Runtime.HandlerNotFound"))


# -- the context object ---------------------------------------------------------
class _Namespace:
    def __init__(self, **values):
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__!r})"


class Client(_Namespace):
    pass


class ClientContext(_Namespace):
    pass


class LambdaContext:
    def __init__(self, request_id: str, invoked_arn: str, deadline_ms: int, client_context: dict | None):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        if client_context:
            client = client_context.get("client")
            self.client_context = ClientContext(
                client=Client(**client) if isinstance(client, dict) else None,
                custom=client_context.get("custom"), env=client_context.get("env"))
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self) -> str:
        return (f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
                f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
                f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
                f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
                f"identity={self.identity}])")


# -- logging as AWS's Python runtime sets it up (root logger level left at WARNING) -----------
_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                                  "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


def _json_default(value):
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _max_memory_mb() -> int:
    # The peak of this process's own memory (ru_maxrss would count the cloud's, from before exec).
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _invoke(handler, message: dict) -> dict:
    global _request_id
    _request_id = message["request_id"]
    os.environ["_X_AMZN_TRACE_ID"] = message.get("trace_id", "")
    # The cloud reads the log file after each reply: start this invocation's output afresh.
    _flush()
    os.ftruncate(1, 0)
    context = LambdaContext(message["request_id"], message["invoked_arn"], message["deadline_ms"],
                            message.get("client_context"))
    started = time.perf_counter()
    try:
        event = json.loads(message["event"]) if message["event"] else {}
        result = handler(event, context)
        try:
            payload = json.dumps(result, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise _FaultError(_error(f"Unable to marshal response: {exc}", "Runtime.MarshalError",
                                     request_id=_request_id))
        reply = {"ok": True, "payload": payload}
    except _FaultError as fault:
        reply = {"ok": False, "error": fault.payload}
    except Exception as exc:
        reply = {"ok": False, "error": _error(str(exc), type(exc).__name__, _user_frames(exc.__traceback__),
                                              _request_id)}
    reply["duration_ms"] = (time.perf_counter() - started) * 1000.0
    if not reply["ok"]:
        _log_error(reply["error"])
    _flush()
    reply["max_memory_mb"] = _max_memory_mb()
    return reply


def main() -> None:
    log_path = sys.argv[1]
    _redirect_output(log_path)
    sys.argv = [os.path.abspath(__file__)]
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    _setup_logging()
    _reply({"ok": True, "op": "started"})   # the runtime is up: the init timeout runs from here
    handler = None
    for line in _proto_in:
        message = json.loads(line)
        op = message.get("op")
        if op == "init":
            started = time.perf_counter()
            try:
                handler = _load_handler(os.environ["_HANDLER"])
                reply = {"ok": True}
            except _FaultError as fault:
                _log_error(fault.payload)
                reply = {"ok": False, "error": fault.payload}
            _flush()
            reply["init_ms"] = (time.perf_counter() - started) * 1000.0
            _reply(reply)
        elif op == "invoke" and handler is not None:
            _reply(_invoke(handler, message))
        else:
            _reply({"ok": False, "error": _error(f"unexpected request {op!r}", "Runtime.Unknown")})


if __name__ == "__main__":
    main()
