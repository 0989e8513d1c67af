"""The SageMaker Model Registry: register a trained run, find the newest approved package.

``register`` creates the model package group of the base outputs when it is missing and adds a
model package with the PyTorch inference image of the region, the artifact, the test metrics
(``evaluation.json``) and the labels; it is ``Approved`` when the test accuracy reaches the
threshold, else ``PendingManualApproval`` (a person can approve it in the console or with
``aws sagemaker update-model-package``).

``python -m train.registry latest-approved --tfvars FILE`` writes the variables of the serving
Terraform root for the newest approved package: ``{"model_package_arn", "model_data_url",
"class_labels"}``. Only boto3 calls: the same code runs against the local stack and AWS.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from settings import CliError, get_logger, outputs, run_cli
from train.sagemaker_job import FRAMEWORK_VERSION, PY_VERSION, quiet_sdk

log = get_logger("train.registry")

APPROVED = "Approved"
PENDING = "PendingManualApproval"
# The endpoint's default instance type (terraform/serving): the CPU flavour of the image.
SERVING_INSTANCE_TYPE = "ml.m5.large"
CONTENT_TYPES = ["application/x-image", "image/png", "image/jpeg"]
RESPONSE_TYPES = ["application/json"]
# CustomerMetadataProperties values: 1-256 characters among letters, digits, spaces and
# "_.:/=+-@" (no comma). The labels are stored space-separated under "labels", continued under
# "labels-2", "labels-3", ... when they are longer than one value may be.
LABELS_KEY = "labels"
MAX_METADATA_VALUE = 256
METADATA_PUNCTUATION = set("_.:/=+-@")


class NoApprovedModel(CliError):
    """The model package group holds no approved package (train one above the threshold)."""


class RegistryError(CliError):
    """The SageMaker API refused a registry call."""


class UnsupportedRegion(RegistryError):
    """The pinned SageMaker SDK knows no PyTorch inference image of ``FRAMEWORK_VERSION`` in the
    region: no model package (and no training job) can be made there."""


@dataclass(frozen=True)
class Registered:
    arn: str
    status: str


def approval_status(accuracy: float, threshold: float) -> str:
    return APPROVED if accuracy >= threshold else PENDING


def inference_image(region: str) -> str:
    """The PyTorch inference container URI for ``region`` (from the SDK's bundled table)."""
    quiet_sdk()
    from sagemaker import image_uris

    try:
        return image_uris.retrieve(
            "pytorch",
            region=region,
            version=FRAMEWORK_VERSION,
            py_version=PY_VERSION,
            instance_type=SERVING_INSTANCE_TYPE,
            image_scope="inference",
        )
    except ValueError as err:  # the SDK's "Unsupported region: ..."
        raise UnsupportedRegion(
            f"no PyTorch {FRAMEWORK_VERSION} inference image in region {region!r} ({err});"
            " use another AWS_REGION"
        ) from None


def serving_image() -> str:
    """The inference image of the region boto3 calls (``make train`` checks it before training)."""
    return inference_image(boto3.client("sagemaker").meta.region_name)


def ensure_group(client, group: str) -> None:
    try:
        client.describe_model_package_group(ModelPackageGroupName=group)
        return
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise RegistryError(f"describe_model_package_group {group}: {err}") from None
    log.info("creating model package group", extra={"fields": {"group": group}})
    client.create_model_package_group(
        ModelPackageGroupName=group,
        ModelPackageGroupDescription="Scones Unlimited image classifier",
    )


def register(
    group: str,
    model_data_url: str,
    evaluation_url: str,
    labels: Sequence[str],
    accuracy: float,
    threshold: float,
) -> Registered:
    """Add a model package for one trained run to ``group`` (created if missing)."""
    client = boto3.client("sagemaker")
    status = approval_status(accuracy, threshold)
    image = inference_image(client.meta.region_name)
    try:
        ensure_group(client, group)
        response = client.create_model_package(
            ModelPackageGroupName=group,
            ModelPackageDescription=f"test accuracy {accuracy:.4f}",
            InferenceSpecification={
                "Containers": [{"Image": image, "ModelDataUrl": model_data_url}],
                "SupportedContentTypes": CONTENT_TYPES,
                "SupportedResponseMIMETypes": RESPONSE_TYPES,
            },
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": evaluation_url}
                }
            },
            CustomerMetadataProperties={
                **labels_metadata(labels),
                "test_accuracy": f"{accuracy:.4f}",
            },
            ModelApprovalStatus=status,
        )
    except (BotoCoreError, ClientError) as err:
        raise RegistryError(f"registering in {group}: {err}") from None
    return Registered(arn=response["ModelPackageArn"], status=status)


def latest_approved(group: str) -> dict:
    """``{"model_package_arn", "model_data_url", "class_labels"}`` of the newest approved package."""
    client = boto3.client("sagemaker")
    try:
        summaries = [
            summary
            for page in client.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=group, ModelApprovalStatus=APPROVED
            )
            for summary in page["ModelPackageSummaryList"]
        ]
    except (BotoCoreError, ClientError) as err:
        raise RegistryError(f"listing model packages of {group}: {err}") from None
    if not summaries:
        raise NoApprovedModel(
            f"model package group {group} has no Approved package: run `make train` (approval"
            " needs test accuracy >= APPROVAL_THRESHOLD) or approve a package"
        )
    newest = max(summaries, key=lambda s: (s["CreationTime"], s.get("ModelPackageVersion", 0)))
    package = client.describe_model_package(ModelPackageName=newest["ModelPackageArn"])
    return {
        "model_package_arn": package["ModelPackageArn"],
        "model_data_url": package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
        "class_labels": labels_from_metadata(package.get("CustomerMetadataProperties", {})),
    }


def labels_metadata(labels: Sequence[str]) -> dict[str, str]:
    """The class labels as CustomerMetadataProperties entries (see ``LABELS_KEY``)."""
    for label in labels:
        if not label or not all(c.isalnum() or c in METADATA_PUNCTUATION for c in label):
            raise RegistryError(
                f"class label {label!r} cannot be stored in the model registry: use letters,"
                " digits and _.:/=+-@ only"
            )
    chunks: list[str] = []
    for label in labels:
        if chunks and len(chunks[-1]) + 1 + len(label) <= MAX_METADATA_VALUE:
            chunks[-1] += " " + label
        else:
            chunks.append(label)
    return {_labels_key(n): chunk for n, chunk in enumerate(chunks, start=1)}


def labels_from_metadata(metadata: dict[str, str]) -> list[str]:
    labels: list[str] = []
    n = 1
    while _labels_key(n) in metadata:
        labels += metadata[_labels_key(n)].split()
        n += 1
    return labels


def _labels_key(n: int) -> str:
    return LABELS_KEY if n == 1 else f"{LABELS_KEY}-{n}"


def approve(group: str, arn: str) -> str:
    """Approve the model package ``arn`` of ``group`` by hand (after a person looked at its
    evaluation); returns its status before. Only the status and its description change.

    DescribeModelPackage also takes a package's name (``<group>/<version>``), UpdateModelPackage
    only its ARN: the update names the package by the ARN the description gives."""
    client = boto3.client("sagemaker")
    try:
        package = client.describe_model_package(ModelPackageName=arn)
        if package.get("ModelPackageGroupName") != group:
            raise RegistryError(f"{arn} is not a model package of the project's group {group}")
        before = package["ModelApprovalStatus"]
        if before != APPROVED:
            client.update_model_package(
                ModelPackageArn=package["ModelPackageArn"],
                ModelApprovalStatus=APPROVED,
                ApprovalDescription="approved by hand (make approve)",
            )
    except (BotoCoreError, ClientError) as err:
        raise RegistryError(f"approving {arn}: {err}") from None
    return before


def write_json_atomically(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    partial.rename(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train.registry", description="Query the SageMaker Model Registry."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    latest = commands.add_parser(
        "latest-approved", help="the newest Approved model package of the project's group"
    )
    latest.add_argument("--tfvars", type=Path, required=True, help="write it as a -var-file")
    approval = commands.add_parser("approve", help="approve a model package of the group by hand")
    approval.add_argument("arn", help="the model package's ARN (printed by make train)")
    args = parser.parse_args(argv)
    group = outputs("base")["model_package_group_name"]
    if args.command == "approve":
        if not args.arn:
            raise RegistryError("no model package ARN given: make approve PACKAGE=arn")
        before = approve(group, args.arn)
        print(f"{args.arn}: {before} -> {APPROVED}")
        return 0
    values = latest_approved(group)
    write_json_atomically(args.tfvars, values)
    print(f"{values['model_package_arn']} -> {args.tfvars}")
    return 0


if __name__ == "__main__":
    run_cli(main)
