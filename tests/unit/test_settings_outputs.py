"""Terraform outputs files: a missing, unreadable or partial one is a named one-line error."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import train.__main__ as train_cli
from etl import cli as etl_cli
from monitor import alerts
from settings import MissingOutputs, outputs, repo_root
from settings import registry_purge
from settings.outputs import outputs_dir as default_outputs_dir
from train import predict, registry
from train_support import BASE_OUTPUTS, write_outputs


@pytest.fixture
def outputs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"data_bucket": {"val', "base.outputs.json is not readable JSON"),
        ("[1, 2]", "base.outputs.json does not hold a JSON object"),
        ('{"data_bucket": "d"}', "base.outputs.json: data_bucket not in the form of"),
    ],
)
def test_a_damaged_file_names_itself_and_the_target_that_writes_it(outputs_dir, content, message):
    (outputs_dir / "base.outputs.json").write_text(content)
    with pytest.raises(MissingOutputs, match=message) as caught:
        outputs("base")
    assert str(caught.value).endswith("run `make infra` again")


def test_a_missing_name_names_the_file_and_the_target(outputs_dir):
    write_outputs(outputs_dir, "serving", {"endpoint_name": "e"})
    values = outputs("serving")
    assert values["endpoint_name"] == "e" and values.get("state_machine_arn") is None
    with pytest.raises(MissingOutputs) as caught:
        values["state_machine_arn"]
    path = outputs_dir / "serving.outputs.json"
    assert str(caught.value) == f"{path} has no 'state_machine_arn': run `make deploy` again"


@pytest.mark.parametrize(
    "command, name",
    [
        (lambda: etl_cli.main([]), "data_bucket"),
        (lambda: train_cli.main([]), "model_bucket"),
        (lambda: registry.main(["latest-approved", "--tfvars", "x.json"]), "model_package"),
        (lambda: alerts.main([]), "alert_queue_url"),
    ],
)
def test_commands_name_the_output_they_lack(outputs_dir, command, name):
    write_outputs(outputs_dir, "base", {"unrelated": "x"})
    with pytest.raises(MissingOutputs, match=f"base.outputs.json has no '{name}"):
        command()


def test_the_model_variables_must_be_an_object_with_labels(outputs_dir, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    write_outputs(outputs_dir, "serving", {"endpoint_name": "e"})
    (outputs_dir / "model.tfvars.json").write_text("[]")
    with pytest.raises(MissingOutputs, match="model.tfvars.json does not hold a JSON object"):
        predict.main([str(image)])
    (outputs_dir / "model.tfvars.json").write_text("{}")
    with pytest.raises(MissingOutputs, match="model.tfvars.json has no 'class_labels'"):
        predict.main([str(image)])


def test_purge_without_a_group_says_why(outputs_dir, capsys):
    write_outputs(outputs_dir, "base", {"data_bucket": BASE_OUTPUTS["data_bucket"]})
    assert registry_purge.main([]) == 0
    out = capsys.readouterr().out
    assert "registry: no model package group to empty" in out
    assert "has no 'model_package_group_name'" in out


def _settings(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_outputs_command_fails_in_one_line(outputs_dir):
    (outputs_dir / "base.outputs.json").write_text('{"data_bucket": {"val')
    damaged = _settings("settings")
    assert damaged.returncode == 2
    assert damaged.stderr.startswith("error: MissingOutputs: ")
    assert damaged.stderr.endswith(
        "is not readable JSON (Unterminated string starting at: line 1 column 18 (char 17)): run `make infra` again\n"
    )
    write_outputs(outputs_dir, "base", {"data_bucket": "d"})
    lacking = _settings("settings", "base", "data_bucket", "nope")
    assert lacking.returncode == 2 and lacking.stdout == "data_bucket: d\n"
    assert lacking.stderr == (
        f"error: MissingOutputs: {outputs_dir / 'base.outputs.json'} has no 'nope':"
        " run `make infra` again\n"
    )


def test_make_outputs_leaves_out_a_root_not_applied_but_not_a_damaged_one(outputs_dir):
    write_outputs(outputs_dir, "serving", {"endpoint_name": "e"})
    applied = _settings("settings", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout) == {"endpoint_name": "e"}  # base not applied (yet)
    (outputs_dir / "base.outputs.json").write_text('{"data_bucket": {"val')
    damaged = _settings("settings", "--json")
    assert damaged.returncode == 2 and damaged.stdout == ""
    assert damaged.stderr.startswith("error: MissingOutputs: ")
    assert "base.outputs.json is not readable JSON" in damaged.stderr


def _tfvars(*args: str) -> subprocess.CompletedProcess:
    return _settings("settings.tfvars", *args)


def test_tfvars_prints_the_values(outputs_dir):
    write_outputs(outputs_dir, "base", {"data_bucket": "d", "model_bucket": "m"})
    result = _tfvars(str(outputs_dir / "base.outputs.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"data_bucket": "d", "model_bucket": "m"}


def test_tfvars_errors_are_one_line(outputs_dir):
    usage = _tfvars()
    assert usage.returncode == 2 and "the following arguments are required" in usage.stderr
    missing = _tfvars(str(outputs_dir / "base.outputs.json"))
    assert missing.returncode == 2
    assert missing.stderr == (
        f"error: MissingOutputs: {outputs_dir / 'base.outputs.json'} does not exist:"
        " run `make infra` first\n"
    )
    (outputs_dir / "base.outputs.json").write_text(json.dumps({"data_bucket": 1}))
    malformed = _tfvars(str(outputs_dir / "base.outputs.json"))
    assert malformed.returncode == 2
    assert malformed.stderr.startswith("error: MissingOutputs: ")
    assert "data_bucket not in the form of `terraform output -json`" in malformed.stderr
    assert "Traceback" not in usage.stderr + malformed.stderr


def test_aws_outputs_are_kept_per_region(monkeypatch):
    monkeypatch.delenv("OUTPUTS_DIR", raising=False)
    monkeypatch.setenv("TARGET", "aws")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert default_outputs_dir() == repo_root() / "build" / "aws" / "eu-west-1"

    monkeypatch.setenv("TARGET", "local")
    assert default_outputs_dir() == repo_root() / "build" / "local"
