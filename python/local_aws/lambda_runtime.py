"""Lambda ``Invoke`` without Docker: the function's handler runs in a pool of worker processes.

moto keeps the function (configuration, zip bytes) but can only run code through Docker. Here
each function gets warm worker processes (``lambda_worker.py``) that import the handler from the
zip once, extracted once per code SHA-256, and then serve invocations over pipes, like Lambda's
warm execution environments. A worker runs with the function's environment variables plus what
the Lambda runtime sets (region, function name, ...) and ``AWS_ENDPOINT_URL`` pointing back at
this stack with dummy credentials, so handlers call the local S3/SageMaker with plain boto3.

A request payload over Invoke's limits (6 MB, 1 MB for ``Event``) or not JSON is refused with
Lambda's error before any handler runs. The function's ``Timeout`` is enforced by killing the
worker; a crash (``os._exit``, a segfault) kills only that worker. Either way the caller gets what Lambda returns: HTTP 200 with
``X-Amz-Function-Error: Unhandled`` and ``{"errorMessage", "errorType", ...}``, so Step Functions
``Retry``/``Catch`` see the same error names (``Sandbox.Timedout``, ``Runtime.ExitError``, the
handler's exception class name) as on AWS.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_aws import child_process
from settings import get_logger

log = get_logger("local_aws.lambda")

WORKER_SCRIPT = Path(__file__).with_name("lambda_worker.py")
MAX_WORKERS_PER_FUNCTION = 8  # concurrent invocations per function; more wait for a worker
GROW_AFTER_S = 0.05  # how long a call waits for a busy worker before another one starts
INIT_TIMEOUT_S = 30.0  # AWS allows 10 s; a busy laptop needs more to import boto3
# Invoke's request payload limits (API reference): 6 MB synchronous, 1 MB asynchronous (Event).
MAX_SYNC_PAYLOAD = 6291456
MAX_EVENT_PAYLOAD = 1048576
# What the Lambda Python runtime offers besides the standard library: boto3 and its dependencies.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


class WorkerGone(Exception):
    """The worker process exited (or was killed) before it answered."""


@dataclass(frozen=True)
class FunctionSpec:
    """Everything that decides how a function's workers are started; a change means new workers."""

    arn: str
    name: str
    version: str
    handler: str
    code_sha: str
    timeout_s: float
    memory_mb: int
    region: str
    env: tuple[tuple[str, str], ...]


class Worker:
    """One worker process and its two pipes."""

    def __init__(self, spec: FunctionSpec, task_root: Path, layer_dir: Path, stack_url: str):
        self.process, self.requests, self.responses = child_process.spawn(
            [sys.executable, "-I", "-S", str(WORKER_SCRIPT)],
            [spec.handler, str(task_root), str(layer_dir)],
            _environment(spec, task_root, stack_url),
            task_root,
        )
        try:
            ready = self._receive(INIT_TIMEOUT_S)
        except WorkerGone:
            self.kill()
            raise
        if ready is None:
            self.kill()
            raise WorkerGone(f"init of {spec.name} took more than {INIT_TIMEOUT_S:.0f} s")
        self.init_error = ready.get("error")

    def _receive(self, timeout_s: float) -> dict | None:
        """The next message, ``None`` on timeout; ``WorkerGone`` when the process died."""
        try:
            if not self.responses.poll(timeout_s):
                return None
            return json.loads(self.responses.recv_bytes())
        except (EOFError, OSError) as err:
            raise WorkerGone(self._exit_description()) from err

    def _exit_description(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.wait()
        if code < 0:
            return f"signal: {_signal_name(-code)}"
        return f"exit status {code}"

    def invoke(self, request: dict, timeout_s: float) -> dict | None:
        """The worker's reply, or ``None`` when it did not answer within ``timeout_s``."""
        try:
            self.requests.send_bytes(json.dumps(request).encode())
        except OSError as err:
            raise WorkerGone(self._exit_description()) from err
        return self._receive(timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for connection in (self.requests, self.responses):
            connection.close()


class FunctionPool:
    """Warm workers of one function version; more are started while all are busy, up to a cap."""

    def __init__(self, spec: FunctionSpec, task_root: Path, layer_dir: Path, stack_url: str):
        self.spec = spec
        self._start_args = (spec, task_root, layer_dir, stack_url)
        self._idle: list[Worker] = []
        self._count = 0
        self._starting = False
        self._retired = False
        self._cond = threading.Condition()

    def files_present(self) -> bool:
        _, task_root, layer_dir, _ = self._start_args
        return task_root.is_dir() and layer_dir.is_dir()

    def acquire(self) -> Worker:
        """An idle worker, else a new one. One start at a time, and only for a call that found
        every worker busy for ``GROW_AFTER_S``: a start costs ~0.75 s of CPU (Python, boto3 and
        its service models), the work of a few dozen invocations on a small machine, so a
        moment's queueing (one busy instant of a Poisson stream) must not grow the pool while a
        worker is about to be free. The first worker starts at once."""
        with self._cond:
            grow_at = None
            while not self._idle:
                if self._starting or self._count >= MAX_WORKERS_PER_FUNCTION:
                    self._cond.wait()
                    continue
                if self._count == 0:
                    break
                now = time.monotonic()
                grow_at = grow_at or now + GROW_AFTER_S
                if now >= grow_at:
                    break
                self._cond.wait(grow_at - now)
            if self._idle:
                return self._idle.pop()
            self._count += 1
            self._starting = True
        try:
            return Worker(*self._start_args)
        except BaseException:
            with self._cond:
                self._count -= 1
            raise
        finally:
            with self._cond:
                self._starting = False
                self._cond.notify_all()

    def release(self, worker: Worker, healthy: bool) -> None:
        with self._cond:
            keep = healthy and not self._retired
            if keep:
                self._idle.append(worker)
            else:
                self._count -= 1
            self._cond.notify()
        if not keep:
            worker.kill()

    def retire(self) -> None:
        """Stop idle workers now; busy ones stop when they finish."""
        with self._cond:
            self._retired = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for worker in idle:
            worker.kill()


class LambdaRuntime:
    """Worker pools per function, extracted code per SHA-256, and the ``Invoke`` implementation."""

    def __init__(self, work_dir: Path, stack_url: str) -> None:
        self._work_dir = work_dir
        self._stack_url = stack_url
        self._lock = threading.Lock()
        self._pools: dict[str, FunctionPool] = {}
        self._code_dirs: dict[str, Path] = {}
        self._layer_dir = self._build_runtime_layer()

    def _build_runtime_layer(self) -> Path:
        """A directory holding only boto3 and its dependencies (links into this environment)."""
        layer = self._work_dir / "lambda-runtime"
        layer.mkdir(parents=True, exist_ok=True)
        for name in RUNTIME_PACKAGES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise RuntimeError(f"the Lambda runtime needs {name}, which is not installed")
            origin = Path(spec.origin)
            source = origin.parent if origin.name == "__init__.py" else origin
            link = layer / source.name
            if not link.exists():
                link.symlink_to(source)
        return layer

    def _code_dir(self, code_sha: str, code: bytes) -> Path:
        with self._lock:
            directory = self._code_dirs.get(code_sha)
            if directory is not None and directory.is_dir():
                return directory
            directory = self._work_dir / "lambda-code" / hashlib.sha256(code).hexdigest()
            partial = directory.with_name(directory.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(partial)
            partial.rename(directory)
            self._code_dirs[code_sha] = directory
            return directory

    def _pool(self, function: Any) -> FunctionPool:
        """The function's pool; a new one when its code or configuration changed, or when a
        temporary-files cleaner removed the extracted code while the stack ran."""
        spec = _spec_of(function)
        with self._lock:
            pool = self._pools.get(spec.arn)
            if pool is not None and pool.spec == spec and pool.files_present():
                return pool
        task_root = self._code_dir(spec.code_sha, function.code_bytes)
        if not self._layer_dir.is_dir():
            self._layer_dir = self._build_runtime_layer()
        with self._lock:
            pool = self._pools.get(spec.arn)
            if pool is not None and pool.spec == spec and pool.files_present():
                return pool
            if pool is not None:
                pool.retire()
            pool = self._pools[spec.arn] = FunctionPool(
                spec, task_root, self._layer_dir, self._stack_url
            )
            return pool

    def invoke(self, function: Any, payload: bytes) -> tuple[bytes, bool]:
        """Run one invocation; returns ``(response payload, is_function_error)``."""
        pool = self._pool(function)
        request_id = str(uuid.uuid4())
        timeout_s = pool.spec.timeout_s
        try:
            worker = pool.acquire()
        except WorkerGone as err:
            return _runtime_error("Runtime.ExitError", request_id, str(err)), True
        healthy = False
        try:
            if worker.init_error is None:
                started = time.time()
                request = {
                    "request_id": request_id,
                    "deadline_ms": int((started + timeout_s) * 1000),
                    "invoked_arn": pool.spec.arn,
                    "payload": payload.decode("utf-8") if payload else "{}",
                }
                reply = worker.invoke(request, timeout_s)
            else:
                reply = {"ok": False, "error": dict(worker.init_error, requestId=request_id)}
            if reply is None:
                log.warning("lambda timed out", extra={"fields": {"function": pool.spec.name}})
                message = f"Task timed out after {timeout_s:.2f} seconds"
                return _runtime_error("Sandbox.Timedout", request_id, message), True
            healthy = True
        except WorkerGone as err:
            log.warning("lambda worker died", extra={"fields": {"function": pool.spec.name}})
            message = f"Runtime exited with error: {err}"
            return _runtime_error("Runtime.ExitError", request_id, message), True
        finally:
            pool.release(worker, healthy)
        if reply["ok"]:
            return reply["payload"].encode("utf-8"), False
        return json.dumps(reply["error"]).encode("utf-8"), True

    def stop(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.retire()


def _spec_of(function: Any) -> FunctionSpec:
    variables = function.environment_vars or {}
    return FunctionSpec(
        arn=function.function_arn,
        name=function.function_name,
        version=str(function.version),
        handler=function.handler or "",
        code_sha=function.code_sha_256,
        timeout_s=float(function.timeout or 3),
        memory_mb=int(function.memory_size or 128),
        region=function.region,
        env=tuple(sorted((str(k), str(v)) for k, v in variables.items())),
    )


def _environment(spec: FunctionSpec, task_root: Path, stack_url: str) -> dict[str, str]:
    """The function's variables, then the runtime's reserved ones (which functions cannot set)."""
    env = dict(spec.env)
    env.update(
        {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(task_root),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": (
                "$LATEST" if spec.version in ("0", "1") else spec.version
            ),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
            "AWS_ENDPOINT_URL": stack_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
    )
    return env


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name.removeprefix("SIG").lower()
    except ValueError:
        return str(number)


def _runtime_error(error_type: str, request_id: str, message: str) -> bytes:
    body = {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"}
    return json.dumps(body).encode("utf-8")


_runtime: LambdaRuntime | None = None


def install(runtime: LambdaRuntime) -> None:
    """Route moto's ``LambdaFunction.invoke`` (Invoke, InvokeAsync) to ``runtime``."""
    global _runtime
    from moto.awslambda.models import LambdaFunction

    _runtime = runtime
    LambdaFunction.invoke = _invoke  # type: ignore[method-assign]


def _payload_too_large(size: int, invocation_type: str) -> str | None:
    """Lambda's message for a request payload over its invocation type's limit; ``None`` if not."""
    if invocation_type == "Event":
        if size > MAX_EVENT_PAYLOAD:
            return (
                f"{size} byte payload is too large for the Event invocation type "
                f"(limit {MAX_EVENT_PAYLOAD} bytes)"
            )
    elif size > MAX_SYNC_PAYLOAD:
        operation = "the InvokeFunction operation"
        return f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for {operation}"
    return None


def _invoke(function: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    """Replacement of moto's ``LambdaFunction.invoke`` (same signature and contract)."""
    assert _runtime is not None, "local_aws.lambda_runtime.install() was not called"
    runtime = _runtime
    from moto.awslambda.exceptions import LambdaClientError

    payload = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
    invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
    too_large = _payload_too_large(len(payload), invocation_type)
    if too_large is not None:  # refused by the API (413), before any handler runs
        error = LambdaClientError("RequestEntityTooLargeException", too_large)
        error.code = 413
        raise error
    try:
        json.loads(payload or b"{}")
    except ValueError as err:  # refused by the API, as Lambda does, before any handler runs
        message = f"Could not parse request body into json: {err}"
        raise LambdaClientError("InvalidRequestContentException", message) from err
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        thread = threading.Thread(
            target=runtime.invoke, args=(function, payload), name="lambda-event", daemon=True
        )
        thread.start()
        return b""
    result, failed = runtime.invoke(function, payload)
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = "$LATEST"
    return result
