"""Fault injection on the local stack's endpoint, switched off again whatever happens.

Only the local stack can make an endpoint fail on purpose (``POST /_local/faults``); the load
test refuses ``--faults`` on AWS before anything starts.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Callable, Iterator

from loadtest.errors import LocalStackControlError
from settings import get_logger

log = get_logger("loadtest.faults")


def control(base_url: str, path: str, body: dict | None = None, timeout: float = 60.0) -> dict:
    """POST ``body`` (or GET when there is none) to ``{base_url}/_local/{path}``; the JSON answer."""
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/_local/{path}",
        data=None if body is None else json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError) as err:
        raise LocalStackControlError(f"{request.method} {request.full_url} failed: {err}") from None
    try:
        return json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        raise LocalStackControlError(
            f"{request.method} {request.full_url} answered non-JSON: {text[:80]!r}"
        ) from None


def endpoint_counters(base_url: str, endpoint_name: str) -> dict:
    """The local stack's counters of one endpoint (calls, answers, faults by kind, captured)."""
    stats = control(base_url, "stats").get("endpoints", {}).get(endpoint_name) or {}
    return {
        "calls": int(stats.get("invocations", 0)),
        "answered": int(stats.get("succeeded", 0)),
        "model_errors": int(stats.get("model_errors", 0)),
        "injected_faults": {k: int(v) for k, v in (stats.get("faults") or {}).items()},
        "captured": int(stats.get("captured", 0)),
    }


def counters_delta(before: dict, after: dict) -> dict:
    """What happened between two ``endpoint_counters`` readings."""
    faults = {
        kind: after["injected_faults"].get(kind, 0) - before["injected_faults"].get(kind, 0)
        for kind in sorted(set(before["injected_faults"]) | set(after["injected_faults"]))
    }
    delta = {key: after[key] - before[key] for key in ("calls", "answered", "model_errors")}
    delta["captured"] = after["captured"] - before["captured"]
    delta["injected_faults"] = faults
    return delta


@contextmanager
def endpoint_faults(
    base_url: str,
    endpoint_name: str,
    rate: float,
    seed: int | None = None,
    on_switch_off_error: Callable[[LocalStackControlError], None] | None = None,
) -> Iterator[None]:
    """Make ``rate`` of the endpoint's calls fail or stall inside the block; 0 again after it.

    With a ``seed`` the stack draws the faults from it: the endpoint's n-th call gets the same
    fault in every run with that seed (without one, the stack seeds from the OS).

    When switching off fails, the error is raised, or, with ``on_switch_off_error``, handed to
    it, so that a caller with results to keep can report it instead of losing them. An error
    raised inside the block is never replaced by the switch-off's: that one is then logged.
    """
    if rate <= 0:
        yield
        return
    control(base_url, "faults", {"endpoint_name": endpoint_name, "rate": rate, "seed": seed})
    block_failed = True
    try:
        yield
        block_failed = False
    finally:
        try:
            control(base_url, "faults", {"endpoint_name": endpoint_name, "rate": 0.0})
        except LocalStackControlError as err:
            if block_failed:
                log.warning("faults not switched off", extra={"fields": {"error": str(err)}})
            elif on_switch_off_error is None:
                raise
            else:
                on_switch_off_error(err)
