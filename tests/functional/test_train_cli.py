"""``python -m train`` with TARGET=local (moto for S3 and the registry) and its error messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import boto3
import pytest
import torch

import train.__main__ as cli
from settings import MissingOutputs, repo_root
from train import entry
from train_support import TINY_HYPERPARAMETERS


def tiny_hyperparameter_options() -> list[str]:
    pairs = zip(TINY_HYPERPARAMETERS[::2], TINY_HYPERPARAMETERS[1::2])
    return [part for name, value in pairs for part in ("--hyperparameter", f"{name[2:]}={value}")]


def test_target_local_trains_uploads_and_registers(
    train_aws, train_dataset, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("TARGET", "local")
    models = tmp_path / "models"
    code = cli.main(
        [
            "--approval-threshold",
            "0.0",
            "--data-dir",
            str(train_dataset),
            "--models-dir",
            str(models),
        ]
        + tiny_hyperparameter_options()
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "confusion matrix (rows: actual, columns: predicted)" in out
    assert "approval: Approved" in out
    (run_dir,) = models.iterdir()
    assert run_dir.name.startswith("scones-")
    s3 = boto3.client("s3")
    keys = sorted(
        o["Key"]
        for o in s3.list_objects_v2(Bucket="scones-test-models", Prefix="models/")["Contents"]
    )
    assert keys == [f"models/{run_dir.name}/{name}" for name in cli.artifacts.RUN_FILES[::-1]]
    evaluation = s3.get_object(
        Bucket="scones-test-models", Key=f"models/{run_dir.name}/evaluation.json"
    )
    assert evaluation["ContentType"] == "application/json"
    assert json.loads(evaluation["Body"].read()) == json.loads(
        (run_dir / "evaluation.json").read_text()
    )
    sagemaker = boto3.client("sagemaker")
    (summary,) = sagemaker.list_model_packages(ModelPackageGroupName="scones-test-classifier")[
        "ModelPackageSummaryList"
    ]
    assert summary["ModelPackageArn"] in out
    package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    container = package["InferenceSpecification"]["Containers"][0]
    assert (
        container["ModelDataUrl"] == f"s3://scones-test-models/models/{run_dir.name}/model.tar.gz"
    )
    assert package["CustomerMetadataProperties"]["labels"] == "bicycle motorcycle"


@pytest.mark.parametrize("target", ["local", "aws"])
def test_a_region_without_the_serving_image_fails_before_training(
    train_aws, train_dataset, tmp_path, monkeypatch, target
):
    """The pinned SDK has no PyTorch inference image in us-iso-east-1: the package could never
    be registered, so neither the local run nor the training job starts."""
    monkeypatch.setenv("TARGET", target)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-iso-east-1")
    models = tmp_path / "models"
    args = ["--data-dir", str(train_dataset), "--models-dir", str(models)]
    with pytest.raises(cli.registry.UnsupportedRegion, match="'us-iso-east-1'.*another AWS_REGION"):
        cli.main(args + tiny_hyperparameter_options())
    assert not models.exists() or list(models.iterdir()) == []
    assert (
        boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="scones-test-models")[
            "KeyCount"
        ]
        == 0
    )


def test_run_ids_started_together_differ_and_are_training_job_names():
    ids = {cli.new_run_id() for _ in range(20)}  # well within one second
    assert len(ids) == 20
    # CreateTrainingJob's TrainingJobName constraint
    assert all(re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", run_id) for run_id in ids)


@pytest.mark.parametrize(
    "pair, message",
    [
        ("epochs", "'epochs' is not name=value"),
        ("=3", "is not name=value"),
        ("depth=3", "unknown hyperparameter 'depth'; valid names: batch-size, crop-padding,"),
        ("ep=5", "unknown hyperparameter 'ep'; valid names: .*, epochs, .*, width$"),
        ("help=1", "unknown hyperparameter 'help'"),
        ("epochs=many", "argument --epochs: invalid int value: 'many'"),
        ("tta=2", "argument --tta: invalid choice: 2"),
        ("epochs=0", "argument --epochs: 0 is outside"),
        ("width=0", "argument --width: 0 is outside"),
        ("weight-decay=inf", "argument --weight-decay: inf is outside"),
        ("weight-decay=nan", "argument --weight-decay: nan is outside"),
        ("seed=18446744073709551616", "argument --seed: 18446744073709551616 is outside"),
        ("seed=-9223372036854775809", "argument --seed: -9223372036854775809 is outside"),
    ],
)
def test_invalid_hyperparameters_are_named(pair, message):
    with pytest.raises(cli.InvalidHyperparameter, match=message):
        cli.parse_hyperparameters([pair])


def test_hyperparameters_are_typed_by_the_entry_point():
    assert cli.parse_hyperparameters(["epochs=5", "batch_size=32", "lr=0.1"]) == {
        "epochs": 5,
        "batch-size": 32,
        "lr": 0.1,
    }
    assert cli.to_argv({"epochs": 5, "lr": 0.1}) == ["--epochs", "5", "--lr", "0.1"]
    seeds = ["seed=-9223372036854775808", "seed=18446744073709551615"]  # torch's seed range
    assert [cli.parse_hyperparameters([pair])["seed"] for pair in seeds] == [-(2**63), 2**64 - 1]


@pytest.mark.parametrize("seed", [-(2**63), -1, 0, 2**64 - 1])
def test_every_member_seed_of_an_accepted_seed_is_one_torch_takes(seed):
    for members in (1, 4):
        for index in range(members):
            member = entry.member_seed(seed, index, members)
            assert 0 <= member < 2**64
            torch.manual_seed(member)


def test_unknown_target_and_missing_infrastructure(monkeypatch, tmp_path):
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))
    monkeypatch.setenv("TARGET", "gcp")
    with pytest.raises(cli.UnknownTarget, match="gcp"):
        cli.main([])
    monkeypatch.setenv("TARGET", "local")
    with pytest.raises(MissingOutputs, match="make infra"):
        cli.main([])


def test_the_command_fails_in_one_line(tmp_path):
    environ = dict(os.environ, OUTPUTS_DIR=str(tmp_path), TARGET="local")
    result = subprocess.run(
        [sys.executable, "-m", "train", "--hyperparameter", "width=wide"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=repo_root(),
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: InvalidHyperparameter: argument --width: invalid int value: 'wide'\n"
    )
