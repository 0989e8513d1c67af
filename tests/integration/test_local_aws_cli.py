"""``python -m local_aws up|status|down`` as ``make up``/``make status``/``make down`` run them.

``OUTPUTS_DIR`` points the stack's state directory (``build/local`` by default) at a temporary
directory, so the developer's own Terraform state is never touched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from local_aws import launcher

pytestmark = pytest.mark.stack


def cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OUTPUTS_DIR=str(state_dir))
    return subprocess.run(
        [sys.executable, "-m", "local_aws", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_local/health", timeout=5) as response:
        return json.loads(response.read())


def test_up_status_down(tmp_path):
    port = launcher.free_port()
    stale = [tmp_path / name for name in ("base.tfstate", "base.tfstate.backup")]
    stale += [tmp_path / "serving.outputs.json", tmp_path / "base.tfvars.json"]
    for path in stale:
        path.write_text("{}")
    providers = tmp_path / "terraform" / "base"
    providers.mkdir(parents=True)
    try:
        started = cli("up", "--port", str(port), state_dir=tmp_path)
        assert started.returncode == 0, started.stderr
        assert f"ready at http://127.0.0.1:{port}" in started.stdout
        pid = int((tmp_path / "stack.pid").read_text())
        assert health(port)["pid"] == pid
        # A fresh stack is an empty AWS: the old local state and outputs are gone, providers stay.
        assert not any(path.exists() for path in stale)
        assert providers.is_dir()

        (tmp_path / "base.tfstate").write_text("{}")
        again = cli("up", "--port", str(port), "--quiet", state_dir=tmp_path)
        assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
        assert (tmp_path / "base.tfstate").exists()  # same stack: its state is still valid
        assert "already running" in cli("up", "--port", str(port), state_dir=tmp_path).stdout

        status = cli("status", "--port", str(port), state_dir=tmp_path)
        assert status.returncode == 0
        assert f"running at http://127.0.0.1:{port}" in status.stdout
        assert "endpoints: -" in status.stdout
    finally:
        stopped = cli("down", "--port", str(port), state_dir=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    assert not (tmp_path / "stack.pid").exists()
    assert "local AWS stack stopped" in (tmp_path / "stack.log").read_text()
    assert "not running" in cli("status", "--port", str(port), state_dir=tmp_path).stdout


def test_up_warns_when_the_running_stack_was_started_elsewhere(local_stack, tmp_path):
    """A stack this state directory did not start (another checkout's, the test session's) may
    hold resources its Terraform state does not know: ``up`` leaves it running, and says so."""
    port = local_stack.rsplit(":", 1)[1]
    (tmp_path / "base.tfstate").write_text("{}")

    result = cli("up", "--port", port, "--quiet", state_dir=tmp_path)

    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr.startswith(f"warning: the local AWS stack on 127.0.0.1:{port} (pid ")
    assert f"was not started by `make up` with the state in {tmp_path}" in result.stderr
    assert (tmp_path / "base.tfstate").exists()  # nothing of this checkout's is touched
    assert health(int(port))["status"] == "ok"


def test_up_refuses_a_port_taken_by_something_else(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("up", "--port", str(port), state_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: PortInUse:")


@pytest.mark.parametrize("command", ["up", "down", "status", "serve"])
def test_a_port_outside_1_to_65535_is_refused_by_every_command(tmp_path, command):
    for port, message in (("70000", "70000 is not a port number (1-65535)"), ("0", "0 is not")):
        result = cli(command, "--port", port, state_dir=tmp_path)
        assert result.returncode == 2 and result.stdout == ""
        assert f"error: argument --port: {message}" in result.stderr
        assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_stack_that_cannot_bind_never_passes_for_the_one_on_its_port(local_stack, tmp_path):
    """Another stack answering on the port is not this one: its health says another pid."""
    port = int(local_stack.rsplit(":", 1)[1])
    running = health(port)

    with pytest.raises(launcher.PortTaken, match=f"127.0.0.1:{port} is taken"):
        launcher.start(port, tmp_path / "stack.log", timeout_s=60)
    assert health(port) == running


def test_start_on_free_port_tries_a_new_port_when_its_port_was_taken(
    local_stack, tmp_path, monkeypatch
):
    """The port ``free_port`` found can be taken before the stack binds it (here by the session's
    stack): the next attempt gets a new one."""
    taken = int(local_stack.rsplit(":", 1)[1])
    ports = iter([taken])
    real_free_port = launcher.free_port
    monkeypatch.setattr(launcher, "free_port", lambda: next(ports, None) or real_free_port())

    process, document, port = launcher.start_on_free_port(tmp_path / "stack.log", timeout_s=60)
    try:
        assert port != taken
        assert document["pid"] == process.pid == health(port)["pid"]
    finally:
        launcher.stop(process)
    assert health(taken)["status"] == "ok"
