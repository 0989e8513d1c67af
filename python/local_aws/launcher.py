"""Start ``python -m local_aws serve`` as a child process and wait until it answers.

The one way the stack is started: by ``make up`` (detached, ``__main__.up``), by the test
fixture and by the benchmarks (attached, stopped when they are done).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from settings import CliError, repo_root

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class StackNotStarted(CliError):
    """The stack process exited or did not become healthy."""


class PortTaken(StackNotStarted):
    """The stack could not bind its port: another program took it first."""


# What werkzeug prints before it exits when the port cannot be bound.
_PORT_TAKEN_MESSAGE = "Address already in use"
START_ATTEMPTS = 3


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(port: int, timeout_s: float = 1.0) -> dict | None:
    """The stack's health document, or ``None`` when no stack answers on the port."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/_local/health", timeout=timeout_s
        ) as response:
            document = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return document if isinstance(document, dict) and document.get("status") == "ok" else None


def _own_health(port: int, pid: int) -> dict | None:
    """The health document of the stack process ``pid``, ``None`` until it answers."""
    document = health(port, timeout_s=0.5)
    return document if document is not None and document.get("pid") == pid else None


def start(
    port: int, log_path: Path, detached: bool = False, timeout_s: float = START_TIMEOUT_S
) -> tuple[subprocess.Popen, dict]:
    """Start the stack on ``port``, its output appended to ``log_path``; returns the process and
    its health document once it answers.

    ``detached`` gives it its own session, so that it outlives the caller (``make up``).
    Only this process's own answer counts: another stack that took the port in the meantime is
    never mistaken for it. Raises ``PortTaken`` when the port cannot be bound, and
    ``StackNotStarted`` with the end of the log when the process exits otherwise or does not
    answer within ``timeout_s``; the process is stopped then, and when the wait is interrupted.
    """
    with open(log_path, "ab") as log:
        log_start = log.tell()
        process = subprocess.Popen(
            [sys.executable, "-m", "local_aws", "serve", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detached,
            cwd=repo_root(),
        )
    deadline = time.monotonic() + timeout_s
    try:
        while (document := _own_health(port, process.pid)) is None:
            if process.poll() is not None:
                tail = _log_tail(log_path, start=log_start)
                if _PORT_TAKEN_MESSAGE in tail:
                    raise PortTaken(f"127.0.0.1:{port} is taken: {tail}")
                raise StackNotStarted(f"the stack exited with {process.returncode}: {tail}")
            if time.monotonic() > deadline:
                tail = _log_tail(log_path, start=log_start)
                raise StackNotStarted(f"not healthy after {timeout_s:.0f} s: {tail}")
            time.sleep(0.02)
    except BaseException:
        stop(process)
        raise
    return process, document


def start_on_free_port(
    log_path: Path, timeout_s: float = START_TIMEOUT_S
) -> tuple[subprocess.Popen, dict, int]:
    """``start`` on a free port; returns the process, its health document and the port.

    A free port is free only until someone binds it: when another program takes it between
    ``free_port`` and the stack's bind, the stack starts again on a new one (``START_ATTEMPTS``
    tries in all).
    """
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        try:
            process, document = start(port, log_path, timeout_s=timeout_s)
        except PortTaken:
            if attempt == START_ATTEMPTS:
                raise
            continue
        return process, document, port
    raise AssertionError("unreachable")


def stop(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM (the stack flushes its data capture and stops its workers), then SIGKILL after
    ``timeout_s``; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _log_tail(path: Path, lines: int = 15, start: int = 0) -> str:
    """The last ``lines`` lines the log got from byte ``start`` on."""
    try:
        with open(path, "rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return "\n" + "\n".join(text)
