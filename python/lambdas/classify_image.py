"""classifyImage: send the image to the SageMaker endpoint, name the most likely class.

Event: the output of serializeImageData, optionally with ``inference_id``. That is the request's
``InferenceId`` (made to fit SageMaker's rules by ``to_inference_id``), so each data-capture
record can be joined to the invocation that made it: the state machines send a value unique to
the call (the execution name for one image, ``<execution name>-<item index>`` in a batch, which
may hold the same key twice). A caller that sends none gets the S3 key. Returns the event plus
``inferences`` (probabilities in label order), ``label``, ``confidence`` and the
``inference_id`` that was sent.

Environment: ``ENDPOINT_NAME``, ``CLASS_LABELS`` (JSON list of class names in label order).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from lambdas.errors import (
    TRANSIENT_STATUSES,
    ConfigurationError,
    EndpointError,
    EndpointThrottled,
)
from lambdas.events import decode_image, require_object, require_str

# The state machines' Retry on EndpointThrottled (backoff with jitter) is the one retry layer of
# endpoint calls: the SDK makes a single attempt, so every failed call is a failed task attempt
# in the execution history, where retries are seen and counted, not repeated unseen inside one
# invocation. The model answers a 32x32 image in milliseconds, so a call unanswered after
# 2 + 10 s counts as transient (EndpointThrottled); that is well under the function's 30 s
# timeout, so the function reports it before Lambda would stop it.
ENDPOINT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=2,
    read_timeout=10,
)

# Created once per container, reused by every invocation it serves.
runtime = boto3.client("sagemaker-runtime", config=ENDPOINT_CONFIG)

# InvokeEndpoint errors that say "try again later" rather than "this request is wrong": by error
# code, or by HTTP status (``TRANSIENT_STATUSES``). ModelError (424: the model failed) is final.
_TRANSIENT_CODES = {
    "ThrottlingException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalDependencyException",
    "ModelNotReadyException",
}
# How far the probabilities may sum away from 1 (float32 softmax rounding stays far below).
SUM_TOLERANCE = 1e-3
# SageMaker's InferenceId: 1-64 printable characters, the first not a space.
_INFERENCE_ID_RE = re.compile(r"[!-~][ -~]{0,63}")


def handler(event: Any, context: Any = None) -> dict:
    event = require_object(event)
    image = decode_image(event)
    require_str(event, "s3_bucket")
    key = require_str(event, "s3_key")
    requested = require_str(event, "inference_id") if "inference_id" in event else key
    labels = class_labels()
    inference_id = to_inference_id(requested)
    probabilities = parse_probabilities(invoke(image, inference_id), len(labels))
    best = max(range(len(labels)), key=probabilities.__getitem__)
    return {
        **event,
        "inferences": probabilities,
        "label": labels[best],
        "confidence": probabilities[best],
        "inference_id": inference_id,
    }


def class_labels() -> list[str]:
    raw = os.environ.get("CLASS_LABELS", "")
    try:
        labels = json.loads(raw)
    except ValueError:
        raise ConfigurationError(f"CLASS_LABELS is not JSON: {raw[:80]!r}") from None
    if (
        not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(label, str) and label for label in labels)
    ):
        raise ConfigurationError("CLASS_LABELS must be a JSON list of at least two class names")
    return labels


def endpoint_name() -> str:
    name = os.environ.get("ENDPOINT_NAME", "")
    if not name:
        raise ConfigurationError("ENDPOINT_NAME is not set")
    return name


def to_inference_id(text: str) -> str:
    """``text`` itself when SageMaker accepts it, else a readable prefix plus a hash of it."""
    if _INFERENCE_ID_RE.fullmatch(text):
        return text
    printable = re.sub(r"[^ -~]", "_", text).lstrip() or "_"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{printable[:47]}~{digest}"


def invoke(image: bytes, inference_id: str) -> bytes:
    name = endpoint_name()
    try:
        response = runtime.invoke_endpoint(
            EndpointName=name,
            ContentType="application/x-image",
            Accept="application/json",
            Body=image,
            InferenceId=inference_id,
        )
        return response["Body"].read()
    except ClientError as err:
        error = err.response.get("Error", {})
        code = error.get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = f"endpoint {name}: {code}: {error.get('Message', '')}"
        if is_transient(code, status):
            raise EndpointThrottled(message) from None
        raise EndpointError(message) from None
    except (ConnectionError, HTTPClientError) as err:
        raise EndpointThrottled(f"endpoint {name} unreachable: {err}") from None
    except BotoCoreError as err:
        raise EndpointError(f"endpoint {name}: {err}") from None


def is_transient(code: str, status: int | None) -> bool:
    """Whether an InvokeEndpoint error answer is worth a retry by the state machine."""
    return code in _TRANSIENT_CODES or status in TRANSIENT_STATUSES


def parse_probabilities(body: bytes, n_labels: int) -> list[float]:
    """The endpoint's answer as probabilities, or ``EndpointError`` saying what is wrong."""
    try:
        values = json.loads(body)
    except (ValueError, RecursionError):
        raise EndpointError(f"the endpoint answered non-JSON: {body[:80]!r}") from None
    if not isinstance(values, list) or len(values) != n_labels:
        raise EndpointError(
            f"the endpoint answered {str(values)[:80]}, not a list of {n_labels} probabilities"
        )
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise EndpointError(f"the endpoint answered non-numbers: {str(values)[:80]}")
    if not all(0.0 <= v <= 1.0 for v in values):  # also false for NaN and infinities
        raise EndpointError(f"the endpoint answered values outside [0, 1]: {str(values)[:80]}")
    if abs(sum(values) - 1.0) > SUM_TOLERANCE:
        raise EndpointError(f"the endpoint's probabilities sum to {sum(values)}, not 1")
    return [float(v) for v in values]
