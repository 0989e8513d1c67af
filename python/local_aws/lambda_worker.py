"""One Lambda execution environment: imports a function's handler and runs its invocations.

Started by ``lambda_runtime`` as ``python -I -S lambda_worker.py READ_FD WRITE_FD HANDLER PATH...``
with the function's environment variables: isolated mode and no site-packages, so the handler sees
only the standard library, its own zip (extracted, first on ``sys.path`` like ``/var/task``) and
the runtime's boto3, as in the AWS Python runtime. Standard library only: this file must import
nothing from the project.

Protocol (pipes, one message each way per invocation): the parent sends a JSON header with the
request id, deadline and event; the worker answers ``{"ok": true, "payload": "<json>"}`` or
``{"ok": false, "error": {"errorMessage", "errorType", "requestId", "stackTrace"}}``, the error
shape the Lambda Python runtime returns. The worker first sends ``{"ready": true}`` once the
handler module is imported (the init phase), or the init error, which every later invocation
then reports, as Lambda does.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any, Callable


class LambdaContext:
    """The attributes and method of the context object handlers receive on AWS."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(error_type: str, message: str, tb: Any = None) -> dict:
    stack = traceback.format_list(traceback.extract_tb(tb)) if tb is not None else []
    return {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": stack}


def _load_handler(handler: str) -> Callable[[Any, LambdaContext], Any]:
    module_name, _, function_name = handler.replace("/", ".").rpartition(".")
    if not module_name:
        raise _InitError(
            "Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {err}"
        ) from err
    except SyntaxError as err:
        raise _InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {err}"
        ) from err
    function = getattr(module, function_name, None)
    if function is None:
        raise _InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return function


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def serve(requests: Connection, responses: Connection, handler: str) -> None:
    init_error = None
    try:
        function = _load_handler(handler)
    except _InitError as err:
        init_error = _error(err.error_type, str(err))
    except Exception as err:  # an exception raised while the module initialises
        traceback.print_exc()
        init_error = _error(type(err).__name__, str(err), err.__traceback__)
    responses.send_bytes(json.dumps({"ready": init_error is None, "error": init_error}).encode())
    while True:
        try:
            request = json.loads(requests.recv_bytes())
        except EOFError:
            return
        if init_error is not None:
            reply = {"ok": False, "error": dict(init_error, requestId=request["request_id"])}
        else:
            reply = _invoke(function, request)
        sys.stdout.flush()
        responses.send_bytes(json.dumps(reply).encode())


def _invoke(function: Callable[[Any, LambdaContext], Any], request: dict) -> dict:
    context = LambdaContext(request["request_id"], request["deadline_ms"], request["invoked_arn"])
    try:
        event = json.loads(request["payload"])
        result = function(event, context)
    except Exception as err:
        traceback.print_exc()
        # The first frame is this function; the Lambda runtime reports the handler's frames only.
        tb = err.__traceback__.tb_next if err.__traceback__ is not None else None
        error = _error(type(err).__name__, str(err), tb)
        error["requestId"] = request["request_id"]
        return {"ok": False, "error": error}
    try:
        payload = json.dumps(result, default=_decimal_number)
    except Exception as err:  # as the runtime: any failure to encode is a marshal error
        error = _error("Runtime.MarshalError", f"Unable to marshal response: {err}")
        error["requestId"] = request["request_id"]
        return {"ok": False, "error": error}
    return {"ok": True, "payload": payload}


def _decimal_number(value: Any) -> float:
    """The Lambda Python runtime writes a ``Decimal`` (what boto3's DynamoDB resources return) as
    a JSON number (here through a float: digits past a double's precision are not kept);
    anything else json cannot write stays a ``TypeError``."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def main() -> None:
    read_fd, write_fd, handler, *paths = sys.argv[1:]
    sys.path[:0] = paths
    requests = Connection(int(read_fd), writable=False)
    responses = Connection(int(write_fd), readable=False)
    serve(requests, responses, handler)


if __name__ == "__main__":
    main()
