"""``python -m train.predict IMAGE`` (``make predict``): classify one image with the endpoint.

Sends the file to the deployed endpoint (``endpoint_name`` of the serving outputs) through
SageMaker Runtime with its content type (``image/png`` or ``image/jpeg``, from the file's magic
bytes) and prints the predicted class and every class probability. Class names come from
``model.tfvars.json``, the variables ``make deploy`` deployed the model with.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from settings import CliError, outputs, run_cli
from settings.outputs import outputs_dir, read_json_object

MODEL_TFVARS = "model.tfvars.json"
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
# InvokeEndpoint takes a request body of at most 6 MiB (its Body member, BodyBlob: max 6291456).
MAX_BODY_BYTES = 6 * 1024 * 1024


class ImageNotFound(CliError):
    """The image file does not exist or cannot be read."""


class NotAnImage(CliError):
    """The file is not a PNG or JPEG image."""


class ImageTooLarge(CliError):
    """The file is larger than the request body an endpoint takes (``MAX_BODY_BYTES``)."""


class EndpointError(CliError):
    """The endpoint failed or answered something that is not a probability list."""


def content_type_of(data: bytes) -> str:
    for signature, content_type in SIGNATURES.items():
        if data.startswith(signature):
            return content_type
    raise NotAnImage("the file is not a PNG or JPEG image (by its first bytes)")


def read_image(path: Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageNotFound(f"{path} does not exist") from None
    except IsADirectoryError:
        raise ImageNotFound(f"{path} is a directory") from None
    except OSError as err:
        raise ImageNotFound(f"{path}: {err.strerror}") from None
    if len(data) > MAX_BODY_BYTES:
        raise ImageTooLarge(
            f"{path} is {len(data)} bytes; an endpoint takes at most {MAX_BODY_BYTES} (6 MiB)"
        )
    try:
        return data, content_type_of(data)
    except NotAnImage as err:
        raise NotAnImage(f"{path}: {err}") from None


def deployed_labels() -> list[str]:
    return list(read_json_object(outputs_dir() / MODEL_TFVARS, "make deploy")["class_labels"])


def invoke(endpoint: str, data: bytes, content_type: str, labels: list[str]) -> list[float]:
    runtime = boto3.client("sagemaker-runtime")
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType=content_type, Accept="application/json", Body=data
        )
        body = response["Body"].read()
    except (BotoCoreError, ClientError) as err:
        raise EndpointError(f"{endpoint}: {err}") from None
    try:
        probabilities = json.loads(body)
    except ValueError:
        raise EndpointError(f"{endpoint} answered non-JSON: {body[:200]!r}") from None
    if (
        not isinstance(probabilities, list)
        or len(probabilities) != len(labels)
        or not all(isinstance(p, (int, float)) for p in probabilities)
    ):
        raise EndpointError(
            f"{endpoint} answered {body[:200]!r}, not {len(labels)} class probabilities"
        )
    return [float(p) for p in probabilities]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train.predict", description="Classify an image with the endpoint."
    )
    parser.add_argument("image", help="PNG or JPEG file")
    args = parser.parse_args(argv)
    if not args.image:
        raise ImageNotFound("no image given: make predict IMAGE=path/to/image.png")
    data, content_type = read_image(Path(args.image))
    endpoint = outputs("serving")["endpoint_name"]
    labels = deployed_labels()
    probabilities = invoke(endpoint, data, content_type, labels)
    best = max(range(len(labels)), key=probabilities.__getitem__)
    print(f"{args.image}: {labels[best]} ({probabilities[best]:.4f})")
    width = max(len(label) for label in labels)
    for label, probability in zip(labels, probabilities):
        print(f"  {label:<{width}}  {probability:.4f}")
    return 0


if __name__ == "__main__":
    run_cli(main)
