"""The stack's own HTTP API under ``/_local/`` (local only: nothing like it exists on AWS).

- ``GET  /_local/health``  -> ``{"status": "ok", "boot_id", "pid", "port"}``; a new ``boot_id``
  per start tells callers that the stack (and all its state) is new.
- ``POST /_local/flush``   -> writes the buffered data capture records now: ``{"written": n}``.
- ``POST /_local/faults``  with ``{"endpoint_name": str, "rate": float}`` makes that fraction of
  the endpoint's ``InvokeEndpoint`` calls fail (``ModelError`` or ``ServiceUnavailable``) or stall;
  rate 0 switches it off. An optional ``"seed": int`` makes the draws reproducible: the same seed
  gives the endpoint's n-th call the same fault (``sagemaker_runtime.FaultInjector``).
- ``GET  /_local/stats``   -> ``{"endpoints": {name: {"invocations", "succeeded", "model_errors",
  "captured", "faults": {"model_error", "service_unavailable", "stall"}}}, "fault_rates": {...},
  "direct_answers": {"s3:GetObject": n, "states:StartExecution": n, ...}, "capture": {"pending",
  "written", "failed"}}`` (see ``sagemaker_runtime.EndpointStats``). Load tests check their
  accounting against what the endpoint saw; ``direct_answers`` counts the requests the stack's
  fast paths answered instead of moto (``s3_objects``, ``stepfunctions``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from local_aws.server import LocalStack

PREFIX = "/_local/"
MAX_BODY = 64 * 1024


def handle(stack: LocalStack, environ: dict, start_response: Callable) -> Iterable[bytes]:
    """WSGI handler for every path under ``/_local/``."""
    route = environ.get("PATH_INFO", "")[len(PREFIX) :].strip("/")
    method = environ.get("REQUEST_METHOD", "GET")
    routes: dict[str, tuple[str, Callable[[LocalStack, Any], tuple[int, dict]]]] = {
        "health": ("GET", _health),
        "flush": ("POST", _flush),
        "faults": ("POST", _faults),
        "stats": ("GET", _stats),
    }
    if route not in routes:
        status, body = 404, _problem("NotFound", f"no such control route: {PREFIX}{route}")
    elif routes[route][0] != method:
        status, body = 405, _problem("MethodNotAllowed", f"use {routes[route][0]} {PREFIX}{route}")
    else:
        try:
            payload = _read_json(environ) if method == "POST" else None
            status, body = routes[route][1](stack, payload)
        except _BadRequest as err:
            status, body = 400, _problem(err.name, str(err))
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start_response(f"{status} {reason}", headers)
    return [data]


class _BadRequest(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _problem(name: str, message: str) -> dict:
    return {"error": name, "message": message}


def _read_json(environ: dict) -> Any:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        raise _BadRequest("RequestTooLarge", f"control requests are limited to {MAX_BODY} bytes")
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as err:
        raise _BadRequest("InvalidJson", f"request body is not JSON: {err}") from err


def _health(stack: LocalStack, _: Any) -> tuple[int, dict]:
    return 200, {"status": "ok", "boot_id": stack.boot_id, "pid": stack.pid, "port": stack.port}


def _flush(stack: LocalStack, _: Any) -> tuple[int, dict]:
    return 200, {"written": stack.capture.flush()}


def _faults(stack: LocalStack, payload: Any) -> tuple[int, dict]:
    if not isinstance(payload, dict):
        raise _BadRequest(
            "InvalidFaultRequest", 'expected {"endpoint_name": str, "rate": float, "seed"?: int}'
        )
    name, rate, seed = payload.get("endpoint_name"), payload.get("rate"), payload.get("seed")
    if not isinstance(name, str) or not name:
        raise _BadRequest("InvalidFaultRequest", "endpoint_name must be a non-empty string")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise _BadRequest("InvalidFaultRequest", "rate must be a number between 0 and 1")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _BadRequest("InvalidFaultRequest", "seed must be an integer")
    stack.sagemaker.set_fault_rate(name, float(rate), seed)
    return 200, {"endpoint_name": name, "rate": float(rate), "seed": seed}


def _stats(stack: LocalStack, _: Any) -> tuple[int, dict]:
    capture = stack.capture
    return 200, {
        "endpoints": {name: stats.snapshot() for name, stats in stack.sagemaker.stats.items()},
        "fault_rates": dict(stack.sagemaker.fault_rates),
        "direct_answers": dict(stack.direct_answers),
        "capture": {
            "pending": capture.pending(),
            "written": capture.records_written,
            "failed": capture.records_failed,
        },
    }
