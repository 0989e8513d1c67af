"""Safety first: bad options, faults on AWS, runs above the cap or the cost threshold are refused
before anything is created or started."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.errors import (
    ConfirmationRequired,
    Declined,
    FaultsNotSupported,
    InvalidArguments,
    TooManyExecutions,
    WorkflowNotDeployed,
)
from loadtest.__main__ import parse_args
from loadtest.run import Deployment, Options, check_options, confirm, run_loadtest
from settings import MissingOutputs

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = Deployment(
    state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:single",
    batch_state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:batch",
    endpoint_name="endpoint",
    data_bucket="data",
    capture_s3_uri="s3://capture/datacapture",
    classify_function="classify",
)


@pytest.mark.parametrize(
    "options, message",
    [
        (Options(mode="trickle"), "--mode"),
        (Options(mode="burst", n=0), "--n"),
        (Options(mode="stream", rate=0), "--rate"),
        (Options(mode="stream", rate=float("inf")), "--rate"),
        (Options(mode="stream", duration=float("nan")), "--duration"),
        (Options(mode="burst", wait_timeout=float("inf")), "--wait-timeout"),
        (Options(mode="burst", concurrency=0), "--concurrency"),
        (Options(mode="burst", drift=2), "--drift"),
        (Options(mode="burst", faults=1.0), "--faults"),
        (Options(mode="burst", max_error_rate=1.5), "--max-error-rate"),
        (Options(mode="burst", max_executions=0), "--max-executions"),
        # Beyond what a sleep or a lock wait accepts (OverflowError once the run had started).
        (Options(mode="burst", wait_timeout=1e10), "--wait-timeout must be at most"),
        (Options(mode="stream", rate=1e-9, duration=1e11), "--duration must be at most"),
        # numpy refuses a negative seed (ValueError) when it draws the images or arrivals.
        (Options(mode="burst", seed=-1), "--seed must be 0 or above"),
    ],
)
def test_bad_options_are_named_errors(options, message):
    with pytest.raises(InvalidArguments, match=message):
        check_options(options, "local")


def test_faults_are_refused_on_aws():
    with pytest.raises(FaultsNotSupported, match="local stack only"):
        check_options(Options(mode="burst", faults=0.1), "aws")
    check_options(Options(mode="burst", faults=0.1), "local")


@pytest.mark.parametrize(
    "options",
    [
        Options(mode="burst", n=501, max_executions=500),
        Options(mode="batch", n=501, max_executions=500),
        Options(mode="stream", rate=50, duration=20, max_executions=500, seed=1),
    ],
)
def test_runs_above_the_cap_are_refused_before_anything_starts(options):
    # No clients: the refusal must come before any AWS call.
    with pytest.raises(TooManyExecutions, match="above --max-executions 500"):
        run_loadtest(options, DEPLOYMENT, clients=None, target="aws")


@pytest.mark.parametrize(
    "options",
    [
        Options(mode="stream", rate=1e12, duration=60, max_executions=500),  # 6e13 arrivals
        Options(mode="burst", n=501, duration=float("inf"), max_executions=500),  # not a stream
    ],
)
def test_no_arrivals_are_drawn_beyond_the_cap_or_outside_stream_mode(options):
    with pytest.raises(TooManyExecutions, match="above --max-executions 500"):
        run_loadtest(options, DEPLOYMENT, clients=None, target="aws")


@pytest.mark.parametrize("option", ["--rate", "--duration", "--wait-timeout"])
@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1", "fast"])
def test_the_cli_wants_finite_positive_rates_and_durations(capsys, option, value):
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--mode", "burst", option, value])
    assert stopped.value.code == 2
    assert f"argument {option}: " in capsys.readouterr().err


def test_expensive_aws_run_without_terminal_or_yes_is_refused(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(ConfirmationRequired, match="--yes"):
        confirm(5.0, Options(mode="burst"), "aws")
    confirm(5.0, Options(mode="burst", yes=True), "aws")
    confirm(0.5, Options(mode="burst"), "aws")  # below the threshold
    confirm(5.0, Options(mode="burst"), "local")  # nothing to pay


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "answer, accepted", [("y\n", True), ("yes\n", True), ("\n", False), ("", False)]
)
def test_expensive_aws_run_asks_on_a_terminal(monkeypatch, capsys, answer, accepted):
    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    if accepted:
        confirm(5.0, Options(mode="burst"), "aws")
    else:
        with pytest.raises(Declined):
            confirm(5.0, Options(mode="burst"), "aws")
    assert "$5.00" in capsys.readouterr().out


def test_cli_refuses_faults_on_aws_with_a_one_line_error(tmp_path):
    env = {**os.environ, "TARGET": "aws", "OUTPUTS_DIR": str(tmp_path)}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "loadtest", "--mode", "burst", "--n", "5", "--faults", "0.1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: FaultsNotSupported: ")
    assert "Traceback" not in result.stderr


def test_deployment_names_come_from_the_serving_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))
    with pytest.raises(MissingOutputs, match="make deploy"):
        Deployment.from_outputs()
    values = {
        "state_machine_arn": DEPLOYMENT.state_machine_arn,
        "batch_state_machine_arn": DEPLOYMENT.batch_state_machine_arn,
        "endpoint_name": "endpoint",
        "data_bucket": "data",
        "capture_s3_uri": "s3://capture/datacapture",
    }
    document = {name: {"value": value, "type": "string"} for name, value in values.items()}
    (tmp_path / "serving.outputs.json").write_text(json.dumps(document))
    with pytest.raises(WorkflowNotDeployed, match="lambda_function_names"):
        Deployment.from_outputs()
    document["lambda_function_names"] = {"value": {"classify_image": "classify"}, "type": "map"}
    (tmp_path / "serving.outputs.json").write_text(json.dumps(document))
    assert Deployment.from_outputs() == DEPLOYMENT
