"""``python -m local_aws up|down|status|serve --port P``: manage the local AWS stack.

- ``up`` starts the stack detached (own session; log ``build/local/stack.log``, pid
  ``build/local/stack.pid``) and waits until it is healthy. A stack that already answers on the
  port is left alone. A fresh stack is an empty AWS, so ``up`` then deletes the local Terraform
  state and the outputs derived from it (``build/local/*.tfstate*``, ``*.outputs.json``,
  ``*.tfvars.json``); provider caches under ``build/local/terraform/`` stay.
- ``down`` stops it (the stack flushes its data capture first) and removes the pid file.
- ``status`` says whether it runs and lists what is deployed.
- ``serve`` runs the stack in the foreground (what ``up`` starts; handy for debugging).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from local_aws import launcher
from settings import CliError, repo_root, run_cli


class PortInUse(CliError):
    """Something that is not the local stack listens on the port."""


class StackNotStopped(CliError):
    """The stack process did not exit after SIGTERM."""


def local_dir() -> Path:
    """``build/local`` (state, outputs, pid and log); ``OUTPUTS_DIR`` moves it, as for outputs."""
    explicit = os.environ.get("OUTPUTS_DIR")
    return Path(explicit) if explicit else repo_root() / "build" / "local"


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _reset_local_state(directory: Path) -> list[Path]:
    """A fresh stack holds no resources: Terraform state and outputs from before are void."""
    removed = []
    for pattern in ("*.tfstate*", "*.outputs.json", "*.tfvars.json"):
        for path in directory.glob(pattern):
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def _started_elsewhere(running: dict, directory: Path) -> str | None:
    """A warning when the running stack is not the one ``up`` started with this state
    directory (its pid file names another process, or none): Terraform state kept here does not
    describe what that stack holds, and applies fail on names that already exist."""
    try:
        recorded = (directory / "stack.pid").read_text().strip()
    except OSError:
        recorded = ""
    if recorded == str(running["pid"]):
        return None
    return (
        f"warning: the local AWS stack on 127.0.0.1:{running['port']} (pid {running['pid']}) "
        f"was not started by `make up` with the state in {directory}: the Terraform state there "
        "may not match what it holds (another checkout's stack? `make down` here, then any "
        "target, starts a fresh one)"
    )


def up(port: int, quiet: bool) -> int:
    running = launcher.health(port)
    if running is not None:
        if not quiet:
            print(
                f"local AWS stack already running at http://127.0.0.1:{port} "
                f"(boot id {running['boot_id']})"
            )
        warning = _started_elsewhere(running, local_dir())
        if warning:
            print(warning, file=sys.stderr)
        return 0
    if _port_open(port):
        raise PortInUse(f"127.0.0.1:{port} is taken by another program: set LOCAL_PORT")
    directory = local_dir()
    directory.mkdir(parents=True, exist_ok=True)
    removed = _reset_local_state(directory)
    log_path = directory / "stack.log"
    started = time.monotonic()
    process, document = launcher.start(port, log_path, detached=True)
    (directory / "stack.pid").write_text(f"{process.pid}\n")
    elapsed = time.monotonic() - started
    print(
        f"local AWS stack ready at http://127.0.0.1:{port} in {elapsed:.1f} s "
        f"(boot id {document['boot_id']}, log {log_path})"
    )
    if removed:
        print(f"fresh stack: removed {len(removed)} stale local Terraform state/output files")
    return 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def down(port: int) -> int:
    pid_path = local_dir() / "stack.pid"
    document = launcher.health(port)
    if document is None:
        pid_path.unlink(missing_ok=True)
        print(f"local AWS stack not running on port {port}")
        return 0
    pid = int(document["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + launcher.STOP_TIMEOUT_S
    while _pid_alive(pid) and launcher.health(port, timeout_s=0.2) is not None:
        if time.monotonic() > deadline:
            timeout = launcher.STOP_TIMEOUT_S
            raise StackNotStopped(f"process {pid} still runs {timeout:.0f} s after SIGTERM")
        time.sleep(0.05)
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_path.is_file() and pid_path.read_text().strip() == str(pid):
        pid_path.unlink()
    print(f"local AWS stack on port {port} stopped (data capture flushed)")
    return 0


def status(port: int) -> int:
    document = launcher.health(port)
    url = f"http://127.0.0.1:{port}"
    if document is None:
        print(f"local AWS stack: not running on {url} (start it with `make up`)")
        return 0
    print(
        f"local AWS stack: running at {url} (boot id {document['boot_id']}, pid {document['pid']})"
    )
    for line in _deployed(url):
        print(line)
    return 0


def _deployed(url: str) -> list[str]:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )

    def client(service: str):  # type: ignore[no-untyped-def]
        return session.client(service, endpoint_url=url)

    buckets = [b["Name"] for b in client("s3").list_buckets().get("Buckets", [])]
    functions = [f["FunctionName"] for f in client("lambda").list_functions().get("Functions", [])]
    machines = [m["name"] for m in client("stepfunctions").list_state_machines()["stateMachines"]]
    endpoints = [
        f"{e['EndpointName']} ({e['EndpointStatus']})"
        for e in client("sagemaker").list_endpoints().get("Endpoints", [])
    ]
    rows = [
        ("buckets", buckets),
        ("lambda functions", functions),
        ("state machines", machines),
        ("endpoints", endpoints),
    ]
    return [f"  {label}: {', '.join(sorted(items)) if items else '-'}" for label, items in rows]


def port_number(text: str) -> int:
    """A TCP port, 1-65535 (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_aws", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command", choices=("up", "down", "status", "serve"))
    parser.add_argument(
        "--port", type=port_number, default=4566, help="port on 127.0.0.1 (default 4566)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="up: print only when it starts a stack"
    )
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.port, args.quiet)
    if args.command == "down":
        return down(args.port)
    if args.command == "status":
        return status(args.port)
    from local_aws.server import serve

    serve(args.port)
    return 0


if __name__ == "__main__":
    run_cli(main)
