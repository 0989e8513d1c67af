"""Model registry against moto: the package, the approval rule, latest-approved."""

from __future__ import annotations

import json

import boto3
import pytest

from etl.classes import CIFAR100_FINE_LABELS, VEHICLES
from settings import run_cli
from train import registry

MODEL_URL = "s3://scones-test-models/models/run/model.tar.gz"
EVALUATION_URL = "s3://scones-test-models/models/run/evaluation.json"


def register(group, accuracy, threshold=0.9, run="run"):
    return registry.register(
        group=group,
        model_data_url=MODEL_URL.replace("/run/", f"/{run}/"),
        evaluation_url=EVALUATION_URL.replace("/run/", f"/{run}/"),
        labels=["bicycle", "motorcycle"],
        accuracy=accuracy,
        threshold=threshold,
    )


def test_register_creates_the_group_and_a_complete_package(train_aws, no_network):
    group = train_aws["model_package_group_name"]
    client = boto3.client("sagemaker")
    with pytest.raises(client.exceptions.ClientError):
        client.describe_model_package_group(ModelPackageGroupName=group)
    package = register(group, 0.95)
    assert package.status == "Approved"
    client.describe_model_package_group(ModelPackageGroupName=group)
    described = client.describe_model_package(ModelPackageName=package.arn)
    assert described["ModelPackageGroupName"] == group
    assert described["ModelApprovalStatus"] == "Approved"
    spec = described["InferenceSpecification"]
    assert spec["Containers"] == [
        {
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312",
            "ModelDataUrl": MODEL_URL,
        }
    ]
    assert spec["SupportedContentTypes"] == ["application/x-image", "image/png", "image/jpeg"]
    assert spec["SupportedResponseMIMETypes"] == ["application/json"]
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": EVALUATION_URL,
    }
    assert described["CustomerMetadataProperties"] == {
        "labels": "bicycle motorcycle",
        "test_accuracy": "0.9500",
    }
    assert no_network == []  # the image URI comes from the SDK's bundled table


@pytest.mark.parametrize("labels", [VEHICLES, CIFAR100_FINE_LABELS])
def test_labels_fit_the_metadata_rules_and_come_back_in_order(train_aws, aws_requests, labels):
    group = train_aws["model_package_group_name"]
    registry.register(group, MODEL_URL, EVALUATION_URL, labels, 0.95, 0.9)
    # CreateModelPackage's CustomerMetadataProperties: at most 50 entries, values of 1-256
    # letters, digits, spaces and _.:/=+-@ (AWS enforces it, moto does not)
    assert "sagemaker.CreateModelPackage" in aws_requests.operations()
    assert aws_requests.violations() == []
    assert registry.latest_approved(group)["class_labels"] == list(labels)


@pytest.mark.parametrize("label", ["", "pickup truck", "a,b"])
def test_a_label_the_registry_cannot_hold_is_named(train_aws, label):
    with pytest.raises(registry.RegistryError, match="cannot be stored in the model registry"):
        registry.register(
            train_aws["model_package_group_name"],
            MODEL_URL,
            EVALUATION_URL,
            ["bicycle", label],
            0.95,
            0.9,
        )


@pytest.mark.parametrize(
    "accuracy, threshold, status",
    [
        (0.95, 0.9, "Approved"),
        (0.9, 0.9, "Approved"),
        (0.8999, 0.9, "PendingManualApproval"),
        (0.5, 0.0, "Approved"),
        (0.99, 1.0, "PendingManualApproval"),
    ],
)
def test_approval_rule(train_aws, accuracy, threshold, status):
    group = train_aws["model_package_group_name"]
    package = register(group, accuracy, threshold)
    assert package.status == status
    described = boto3.client("sagemaker").describe_model_package(ModelPackageName=package.arn)
    assert described["ModelApprovalStatus"] == status


def test_latest_approved_is_the_newest_approved_package(train_aws):
    group = train_aws["model_package_group_name"]
    register(group, 0.95, run="first")
    newest = register(group, 0.96, run="second")
    register(group, 0.5, run="third")  # pending: not deployable
    assert registry.latest_approved(group) == {
        "model_package_arn": newest.arn,
        "model_data_url": "s3://scones-test-models/models/second/model.tar.gz",
        "class_labels": ["bicycle", "motorcycle"],
    }


def test_no_approved_package_is_a_named_error(train_aws):
    group = train_aws["model_package_group_name"]
    with pytest.raises(registry.NoApprovedModel, match=group):
        registry.latest_approved(group)
    register(group, 0.5)
    with pytest.raises(registry.NoApprovedModel):
        registry.latest_approved(group)


def test_cli_writes_the_tfvars_file(train_aws, tmp_path, capsys):
    group = train_aws["model_package_group_name"]
    package = register(group, 0.97)
    target = tmp_path / "build" / "model.tfvars.json"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: registry.main(["latest-approved", "--tfvars", str(target)]))
    assert exit_info.value.code == 0
    assert json.loads(target.read_text())["model_package_arn"] == package.arn
    assert package.arn in capsys.readouterr().out


def test_cli_without_approved_package_fails_in_one_line(train_aws, tmp_path, capsys):
    target = tmp_path / "model.tfvars.json"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: registry.main(["latest-approved", "--tfvars", str(target)]))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: NoApprovedModel: model package group scones-test-classifier")
    assert not target.exists()


def test_a_pending_package_approved_by_hand_becomes_deployable(train_aws, capsys):
    group = train_aws["model_package_group_name"]
    pending = register(group, 0.5)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: registry.main(["approve", pending.arn]))
    assert exit_info.value.code == 0
    assert f"{pending.arn}: PendingManualApproval -> Approved" in capsys.readouterr().out
    described = boto3.client("sagemaker").describe_model_package(ModelPackageName=pending.arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "approved by hand (make approve)"
    assert registry.latest_approved(group)["model_package_arn"] == pending.arn


def test_a_package_named_rather_than_given_by_arn_is_approved_by_its_arn(
    train_aws, aws_requests, capsys
):
    """DescribeModelPackage takes a name as well as an ARN (AWS: ``<group>/<version>``; moto
    resolves the group's name to its newest package); UpdateModelPackage's ModelPackageArn must
    be an ARN (its pattern, which moto does not check)."""
    group = train_aws["model_package_group_name"]
    pending = register(group, 0.5)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: registry.main(["approve", group]))
    assert exit_info.value.code == 0
    assert f"{group}: PendingManualApproval -> Approved" in capsys.readouterr().out
    assert "sagemaker.UpdateModelPackage" in aws_requests.operations()
    assert aws_requests.violations() == []
    assert registry.latest_approved(group)["model_package_arn"] == pending.arn


def test_only_a_package_of_the_projects_group_is_approved(train_aws, capsys):
    other = register(train_aws["model_package_group_name"] + "-other", 0.5)
    for argv, message in [
        (["approve", other.arn], "is not a model package of the project's group"),
        (["approve", ""], "no model package ARN given: make approve PACKAGE=arn"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            run_cli(lambda: registry.main(argv))
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    described = boto3.client("sagemaker").describe_model_package(ModelPackageName=other.arn)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
