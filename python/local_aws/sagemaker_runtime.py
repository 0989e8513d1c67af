"""SageMaker Runtime ``InvokeEndpoint`` served by real model servers, with data capture and faults.

moto stores models, endpoint configs and endpoints (and marks endpoints ``InService`` at once) but
answers ``InvokeEndpoint`` with canned data. Here every production variant of an endpoint gets
model server workers (``model_server.py``, a few processes like the workers of a SageMaker
serving container) that load the variant's model artifact: the model's
``PrimaryContainer.ModelDataUrl`` (or that of its ``ModelPackageName``'s first inference
container), a ``model.tar.gz`` read from the local S3 and extracted once. Loading starts when the
endpoint is created; invocations wait for it.

Errors follow SageMaker: a body over 6 MiB is refused with HTTP 413 and a plain-text message
before anything runs, as SageMaker's front end does; an unknown or not-InService endpoint, or an
``InferenceId`` outside the API's constraints, is a ``ValidationError`` (400); an exception in
``input_fn``/``predict_fn``/``output_fn`` is a ``ModelError`` (424) carrying the original status
and message; a model that cannot load marks the endpoint ``Failed`` with the
reason. Sampled invocations are captured per the endpoint config's ``DataCaptureConfig``
(``data_capture``). Fault injection (``POST /_local/faults``) makes a fraction of an endpoint's
calls fail or stall, so load tests can show retries.

``UpdateEndpoint`` (missing in moto, used by Terraform when the endpoint config changes) switches
the endpoint to the new config; the old config's workers stop.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import re
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, Iterable

from local_aws import child_process, model_server
from local_aws.data_capture import CaptureSettings, CaptureWriter
from local_aws.fast_path import Caller, caller_of
from settings import get_logger

log = get_logger("local_aws.sagemaker")

WORKERS_PER_VARIANT = 2
LOAD_TIMEOUT_S = 120.0
INVOCATION_TIMEOUT_S = 60.0  # SageMaker's limit for a real-time invocation
MAX_BODY_BYTES = 6291456  # InvokeEndpoint's Body: at most 6 MiB (the API reference, BodyBlob)
STALL_S = (0.2, 0.8)
FAULT_KINDS = ("model_error", "service_unavailable", "stall")

Response = tuple[int, dict[str, str], bytes]


class ModelLoadError(Exception):
    """The variant's model artifact could not be found, extracted or loaded."""


class WorkerGone(Exception):
    """A model server worker died while serving a request."""


class ModelWorker:
    """One ``model_server`` process and its pipes."""

    def __init__(self, model_dir: Path, stack_url: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        env.update(
            {
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
                "SM_MODEL_DIR": str(model_dir),
                "AWS_ENDPOINT_URL": stack_url,
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
            }
        )
        self.process, self.requests, self.responses = child_process.spawn(
            [sys.executable, "-m", "local_aws.model_server"], [str(model_dir)], env, model_dir
        )

    def wait_ready(self, timeout_s: float) -> None:
        try:
            if not self.responses.poll(timeout_s):
                raise ModelLoadError(f"the model did not load within {timeout_s:.0f} s")
            reply = json.loads(self.responses.recv_bytes())
        except (EOFError, OSError) as err:
            raise ModelLoadError(f"the model server exited while loading ({err!r})") from err
        if not reply["ok"]:
            raise ModelLoadError(f"{reply['error_type']}: {reply['message']}")

    def invoke(self, header: dict, body: bytes, timeout_s: float) -> tuple[dict, bytes] | None:
        """``(reply header, payload)``, or ``None`` when no answer came within ``timeout_s``."""
        try:
            self.requests.send_bytes(model_server.pack(header, body))
            if not self.responses.poll(timeout_s):
                return None
            return model_server.unpack(self.responses.recv_bytes())
        except (EOFError, OSError) as err:
            try:
                code = self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            raise WorkerGone(f"the model server exited (status {code})") from err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.requests.close()
        self.responses.close()


class VariantServer:
    """The model server workers of one production variant.

    The first worker starts when the endpoint is created; a second one starts the first time a
    request finds every worker busy (up to ``WORKERS_PER_VARIANT``), and a worker that died or
    timed out is replaced the same way, on demand.
    """

    def __init__(self, name: str, weight: float, locate: Any, stack_url: str):
        self.name = name
        self.weight = weight
        self._locate = locate
        self._stack_url = stack_url
        self._idle: list[ModelWorker] = []
        self._count = 0
        self._starting = False
        self._stopped = False
        self._cond = threading.Condition()
        self.ready = threading.Event()
        self.load_error: str | None = None
        self.model_dir: Path | None = None

    def load(self) -> None:
        """Extract the artifact and start the first worker (in a background thread)."""
        try:
            self.model_dir = self._locate()
            with self._cond:
                self._count += 1
                self._starting = True
            self._start_worker()
        except ModelLoadError as err:
            self.load_error = str(err)
            log.error(
                "model load failed", extra={"fields": {"variant": self.name, "error": str(err)}}
            )
        finally:
            self.ready.set()

    def _start_worker(self) -> None:
        """Start one worker (already counted); raises ``ModelLoadError`` when it cannot load."""
        assert self.model_dir is not None
        worker = ModelWorker(self.model_dir, self._stack_url)
        try:
            worker.wait_ready(LOAD_TIMEOUT_S)
        except ModelLoadError:
            worker.kill()
            with self._cond:
                self._count -= 1
                self._starting = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._starting = False
            if not self._stopped:
                self._idle.append(worker)
                self._cond.notify_all()
                return
            self._count -= 1
        worker.kill()

    def _start_in_background(self) -> None:
        try:
            self._start_worker()
        except ModelLoadError as err:
            self.load_error = str(err)
            log.error("model server start failed", extra={"fields": {"error": str(err)}})

    def acquire(self) -> ModelWorker:
        with self._cond:
            while not self._idle:
                if self._stopped:
                    raise ModelLoadError(f"variant {self.name} was stopped")
                if self._count == 0 and not self._starting and self.load_error is not None:
                    raise ModelLoadError(self.load_error)
                if not self._starting and self._count < WORKERS_PER_VARIANT:
                    self._count += 1
                    self._starting = True
                    threading.Thread(
                        target=self._start_in_background, name="model-server-start", daemon=True
                    ).start()
                self._cond.wait()
            return self._idle.pop()

    def release(self, worker: ModelWorker, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._stopped:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._count -= 1
            self._cond.notify_all()  # a waiting request starts the replacement
        worker.kill()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for worker in idle:
            worker.kill()


@dataclass
class EndpointRuntime:
    """The serving side of one endpoint under one endpoint config."""

    account_id: str
    region: str
    name: str
    config_name: str
    variants: list[VariantServer]
    capture: CaptureSettings | None

    def choose(self, target: str | None) -> VariantServer | None:
        if target:
            return next((v for v in self.variants if v.name == target), None)
        if len(self.variants) == 1:
            return self.variants[0]
        return random.choices(self.variants, weights=[v.weight for v in self.variants])[0]

    def stop(self) -> None:
        for variant in self.variants:
            variant.stop()


@dataclass(frozen=True)
class Fault:
    """One injected fault: its kind and, for a stall, how long the call is held first."""

    kind: str
    stall_s: float = 0.0


class FaultInjector:
    """Which calls of one endpoint fail or stall: a fraction ``rate``, drawn from its own generator.

    Each call makes its whole draw (fault or not, which kind, how long a stall) under a lock, so
    with a ``seed`` the n-th call of the endpoint always gets the same fault, whatever threads
    the calls arrive on; without one the generator is seeded from the OS.
    """

    def __init__(self, rate: float, seed: int | None = None) -> None:
        self.rate = rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> Fault | None:
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(FAULT_KINDS)
            return Fault(kind, self._random.uniform(*STALL_S) if kind == "stall" else 0.0)


class EndpointStats:
    """Counters of one endpoint, exact under concurrent calls (load tests reconcile with them).

    ``invocations`` = ``succeeded`` + ``model_errors`` + injected ``model_error`` and
    ``service_unavailable`` faults (a stalled call goes on and is counted by its outcome);
    ``captured`` counts the records handed to the capture writer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"invocations": 0, "succeeded": 0, "model_errors": 0, "captured": 0}
        self._faults = {kind: 0 for kind in FAULT_KINDS}

    def add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def add_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._counts, faults=dict(self._faults))


class SageMakerRuntime:
    """Endpoint runtimes, the ``InvokeEndpoint`` implementation, fault rates and counters."""

    def __init__(self, work_dir: Path, stack_url: str, capture: CaptureWriter) -> None:
        self._work_dir = work_dir
        self._stack_url = stack_url
        self._capture = capture
        self._lock = threading.Lock()
        self._endpoints: dict[tuple[str, str, str], EndpointRuntime] = {}
        self._artifacts: dict[tuple[str, str, str], Path] = {}
        self.faults: dict[str, FaultInjector] = {}
        self.stats: dict[str, EndpointStats] = {}

    # --- endpoint lifecycle -------------------------------------------------------------------

    def runtime_for(self, account_id: str, region: str, endpoint: Any) -> EndpointRuntime:
        """The runtime of the endpoint's current config; starts loading it when new."""
        key = (account_id, region, endpoint.endpoint_name)
        runtime = self._endpoints.get(key)
        if runtime is not None and runtime.config_name == endpoint.endpoint_config_name:
            return runtime
        with self._lock:
            runtime = self._endpoints.get(key)
            if runtime is not None and runtime.config_name == endpoint.endpoint_config_name:
                return runtime
            if runtime is not None:
                runtime.stop()
            runtime = self._endpoints[key] = self._build(account_id, region, endpoint)
        for variant in runtime.variants:
            threading.Thread(
                target=self._load_variant, args=(variant, endpoint), name="model-load", daemon=True
            ).start()
        return runtime

    def _load_variant(self, variant: VariantServer, endpoint: Any) -> None:
        variant.load()
        if variant.load_error is not None:
            endpoint.endpoint_status = "Failed"
            endpoint.failure_reason = f"variant {variant.name}: {variant.load_error}"

    def _build(self, account_id: str, region: str, endpoint: Any) -> EndpointRuntime:
        from moto.sagemaker.models import sagemaker_backends

        backend = sagemaker_backends[account_id][region]
        config = backend.endpoint_configs[endpoint.endpoint_config_name]
        variants = []
        for production_variant in config.production_variants:
            model_name = production_variant["ModelName"]
            variants.append(
                VariantServer(
                    name=production_variant["VariantName"],
                    weight=float(production_variant.get("InitialVariantWeight", 1.0)),
                    locate=lambda name=model_name: self._extract(
                        account_id, _model_data_url(backend, name)
                    ),
                    stack_url=self._stack_url,
                )
            )
        return EndpointRuntime(
            account_id=account_id,
            region=region,
            name=endpoint.endpoint_name,
            config_name=endpoint.endpoint_config_name,
            variants=variants,
            capture=CaptureSettings.from_config(config.data_capture_config),
        )

    def _extract(self, account_id: str, model_url: str) -> Path:
        """Extract ``model.tar.gz`` from the local S3, once per object version."""
        from moto.s3.models import s3_backends

        if not model_url.startswith("s3://"):
            raise ModelLoadError(f"ModelDataUrl {model_url!r} is not an s3:// URL")
        bucket, _, key = model_url[len("s3://") :].partition("/")
        try:
            obj = s3_backends[account_id]["aws"].get_object(bucket, key)
        except Exception as err:  # MissingBucket / MissingKey from moto
            raise ModelLoadError(f"cannot read {model_url}: {type(err).__name__}") from err
        if obj is None:
            raise ModelLoadError(f"cannot read {model_url}: no such key")
        cache_key = (bucket, key, obj.etag)
        with self._lock:
            directory = self._artifacts.get(cache_key)
            if directory is not None and directory.is_dir():
                return directory
            digest = hashlib.sha256(repr(cache_key).encode()).hexdigest()
            directory = self._work_dir / "models" / digest
            partial = directory.with_name(digest + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            try:
                with tarfile.open(fileobj=io.BytesIO(obj.value), mode="r:*") as archive:
                    archive.extractall(partial, filter="data")
            except (tarfile.TarError, OSError, EOFError) as err:
                shutil.rmtree(partial, ignore_errors=True)
                raise ModelLoadError(f"{model_url} is not a readable tar.gz: {err}") from err
            partial.rename(directory)
            self._artifacts[cache_key] = directory
            return directory

    def forget(self, account_id: str, region: str, endpoint_name: str) -> None:
        """The endpoint was deleted: stop its workers."""
        with self._lock:
            runtime = self._endpoints.pop((account_id, region, endpoint_name), None)
        if runtime is not None:
            runtime.stop()

    def stop(self) -> None:
        with self._lock:
            runtimes, self._endpoints = list(self._endpoints.values()), {}
        for runtime in runtimes:
            runtime.stop()

    # --- invocation ---------------------------------------------------------------------------

    def invoke(
        self,
        account_id: str,
        region: str,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str | None,
        inference_id: str | None,
        target_variant: str | None,
    ) -> Response:
        from moto.sagemaker.models import sagemaker_backends

        if inference_id is not None:
            problem = _inference_id_problem(inference_id)
            if problem is not None:
                return _validation_error(
                    f"1 validation error detected: Value '{inference_id}' at 'inferenceId' "
                    f"failed to satisfy constraint: Member must {problem}"
                )
        endpoint = sagemaker_backends[account_id][region].endpoints.get(endpoint_name)
        if endpoint is None:
            return _validation_error(f"Endpoint {endpoint_name} of account {account_id} not found.")
        runtime = self.runtime_for(account_id, region, endpoint)
        variant = runtime.choose(target_variant)
        if variant is None:
            return _validation_error(
                f"Variant {target_variant} not found for endpoint {endpoint_name}."
            )
        variant.ready.wait(LOAD_TIMEOUT_S)
        if endpoint.endpoint_status != "InService":
            reason = endpoint.failure_reason or endpoint.endpoint_status
            return _validation_error(f"Endpoint {endpoint_name} is not in service: {reason}")
        stats = self.stats.get(endpoint_name) or self.stats.setdefault(
            endpoint_name, EndpointStats()
        )
        stats.add("invocations")
        injector = self.faults.get(endpoint_name)
        fault = injector.draw() if injector is not None else None
        if fault is not None:
            stats.add_fault(fault.kind)
            if fault.kind == "stall":
                time.sleep(fault.stall_s)
            elif fault.kind == "service_unavailable":
                return _error(503, "ServiceUnavailable", "Injected fault: service unavailable.")
            else:
                return _model_error(runtime, variant, 500, "Injected fault: model error.")
        header = {"content_type": content_type, "accept": accept}
        try:
            worker = variant.acquire()
        except ModelLoadError as err:
            stats.add("model_errors")
            return _model_error(runtime, variant, 500, f"no model server is available: {err}")
        healthy = False
        try:
            result = worker.invoke(header, body, INVOCATION_TIMEOUT_S)
            healthy = result is not None
        except WorkerGone as err:
            log.error("model server died", extra={"fields": {"endpoint": endpoint_name}})
            stats.add("model_errors")
            return _model_error(runtime, variant, 500, str(err))
        finally:
            variant.release(worker, healthy)
        if result is None:
            stats.add("model_errors")
            message = "Your invocation timed out while waiting for a response from container"
            return _model_error(runtime, variant, 0, f"{message} {variant.name}.")
        reply, payload = result
        if not reply["ok"]:
            stats.add("model_errors")
            return _model_error(runtime, variant, reply["status"], reply["message"])
        stats.add("succeeded")
        response_type = reply["content_type"]
        capture = runtime.capture
        if capture is not None and capture.sampled():
            self._capture.record(
                account_id,
                capture,
                endpoint_name,
                variant.name,
                (content_type, body),
                (response_type, payload),
                inference_id,
            )
            stats.add("captured")
        headers = {"Content-Type": response_type, "x-Amzn-Invoked-Production-Variant": variant.name}
        return 200, headers, payload

    @property
    def fault_rates(self) -> dict[str, float]:
        return {name: injector.rate for name, injector in self.faults.items()}

    def set_fault_rate(self, endpoint_name: str, rate: float, seed: int | None = None) -> None:
        """Make ``rate`` of the endpoint's calls fail or stall (0: none), drawn afresh from
        ``seed`` (from the OS when None)."""
        if rate <= 0.0:
            self.faults.pop(endpoint_name, None)
        else:
            self.faults[endpoint_name] = FaultInjector(rate, seed)


def _model_data_url(backend: Any, model_name: str) -> str:
    model = backend._models.get(model_name)
    if model is None:
        raise ModelLoadError(f"model {model_name} does not exist")
    container = model.primary_container or (model.containers or [{}])[0]
    if container.get("ModelDataUrl"):
        return container["ModelDataUrl"]
    if container.get("ModelPackageName"):
        package = backend.describe_model_package(container["ModelPackageName"])
        containers = (package.inference_specification or {}).get("Containers", [])
        if containers and containers[0].get("ModelDataUrl"):
            return containers[0]["ModelDataUrl"]
    raise ModelLoadError(f"model {model_name} has neither ModelDataUrl nor ModelPackageName")


def _error(status: int, code: str, message: str, **fields: Any) -> Response:
    body = json.dumps(dict(fields, message=message)).encode()
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, body


# InvokeEndpoint's InferenceId (API reference): 1-64 characters, pattern \A\S[\p{Print}]*\z.
INFERENCE_ID_MAX = 64
INFERENCE_ID_PATTERN = re.compile(r"[^ \t\n\x0b\f\r][ -~]*")  # Java's \S, then printable ASCII


def _inference_id_problem(inference_id: str) -> str | None:
    """What the constraint check says of an ``InferenceId`` AWS refuses; ``None`` when valid."""
    if not inference_id:
        return "have length greater than or equal to 1"
    if len(inference_id) > INFERENCE_ID_MAX:
        return f"have length less than or equal to {INFERENCE_ID_MAX}"
    if not INFERENCE_ID_PATTERN.fullmatch(inference_id):
        return "satisfy regular expression pattern: \\A\\S[\\p{Print}]*\\z"
    return None


def _validation_error(message: str) -> Response:
    return _error(400, "ValidationError", message)


def _model_error(
    runtime: EndpointRuntime, variant: VariantServer, status: int, original: str
) -> Response:
    kind = "client" if 400 <= status < 500 else "server"
    log_group = f"/aws/sagemaker/Endpoints/{runtime.name}"
    message = (
        f'Received {kind} error ({status}) from {variant.name} with message "{original}". '
        f"See the model server log for more information."
    )
    return _error(
        424,
        "ModelError",
        message,
        OriginalStatusCode=status,
        OriginalMessage=original,
        LogStreamArn=f"arn:aws:logs:{runtime.region}:{runtime.account_id}:log-group:{log_group}",
    )


_runtime: SageMakerRuntime | None = None


def install(runtime: SageMakerRuntime) -> None:
    """Add ``UpdateEndpoint``; load models when endpoints are created, stop them on delete.

    ``InvokeEndpoint`` itself is routed to ``handle_invocation`` by the server, before moto.
    """
    global _runtime
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    _runtime = runtime
    SageMakerResponse.update_endpoint = _update_endpoint  # type: ignore[attr-defined]

    original_create = SageMakerModelBackend.create_endpoint
    original_delete = SageMakerModelBackend.delete_endpoint

    def create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
        endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
        runtime.runtime_for(self.account_id, self.region_name, endpoint)
        return endpoint

    def delete_endpoint(self: Any, endpoint_name: str) -> None:
        original_delete(self, endpoint_name)
        runtime.forget(self.account_id, self.region_name, endpoint_name)

    SageMakerModelBackend.create_endpoint = create_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.delete_endpoint = delete_endpoint  # type: ignore[method-assign]


INVOCATIONS_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")


@dataclass(frozen=True)
class Invocation:
    endpoint_name: str
    caller: Caller


def match_invocation(environ: dict) -> Invocation | None:
    """The endpoint and caller when the request is ``InvokeEndpoint`` (SigV4 service
    ``sagemaker``); ``None`` for every other request."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    match = INVOCATIONS_PATH.match(environ.get("PATH_INFO", ""))
    if match is None:
        return None
    caller = caller_of(environ)
    if caller is None or caller.service != "sagemaker":
        return None
    return Invocation(urllib.parse.unquote(match.group(1)), caller)


def handle_invocation(
    runtime: SageMakerRuntime, invocation: Invocation, environ: dict, start_response: Callable
) -> Iterable[bytes]:
    """WSGI handler of ``InvokeEndpoint``, in front of moto's dispatcher.

    moto's own handler is a canned-answer stub, and its request pipeline (Flask routing, request
    parsing) costs more than the model itself for a 32x32 image; everything this call needs is
    in the path and headers.
    """
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY_BYTES:
        # SageMaker's front end answers this itself, in plain text and without an error code
        # header (boto3: "An error occurred (413) ... HTTP content length exceeded N bytes.").
        message = f"HTTP content length exceeded {MAX_BODY_BYTES} bytes.".encode()
        headers = {"Content-Type": "text/plain", "x-amzn-RequestId": str(uuid.uuid4())}
        headers["Content-Length"] = str(len(message))
        start_response("413 Request Entity Too Large", list(headers.items()))
        return [message]
    body = environ["wsgi.input"].read(length) if length else b""
    status, headers, payload = runtime.invoke(
        account_id=invocation.caller.account,
        region=invocation.caller.region,
        endpoint_name=invocation.endpoint_name,
        body=body,
        content_type=environ.get("CONTENT_TYPE") or "application/octet-stream",
        accept=environ.get("HTTP_ACCEPT"),
        inference_id=environ.get("HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID"),
        target_variant=environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT"),
    )
    headers = dict(headers, **{"x-amzn-RequestId": str(uuid.uuid4())})
    headers["Content-Length"] = str(len(payload))
    start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
    return [payload]


def _update_endpoint(self: Any) -> tuple[str, dict[str, Any]]:
    """``UpdateEndpoint``: point the endpoint at another config (moto lacks it)."""
    from moto.core.utils import utcnow
    from moto.sagemaker.models import FakeEndpoint

    backend = self.sagemaker_backend
    endpoint_name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(endpoint_name, backend.account_id, backend.region_name)
        return _json_error(400, "ValidationError", f"Could not find endpoint '{arn}'.")
    config = backend.endpoint_configs.get(config_name)
    if config is None:
        return _json_error(
            400, "ValidationError", f"Could not find endpoint configuration '{config_name}'."
        )
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
    endpoint.data_capture_config = config.data_capture_config
    endpoint.endpoint_status = "InService"
    endpoint.failure_reason = None
    endpoint.last_modified_time = utcnow()
    assert _runtime is not None
    _runtime.runtime_for(backend.account_id, backend.region_name, endpoint)
    return (
        200,
        {"Content-Type": "application/x-amz-json-1.1"},
        json.dumps({"EndpointArn": endpoint.arn}),
    )


def _json_error(status: int, code: str, message: str) -> tuple[str, dict[str, Any]]:
    body = json.dumps({"__type": code, "message": message})
    return body, {"Content-Type": "application/x-amz-json-1.1", "status": status}
