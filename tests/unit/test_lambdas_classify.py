"""classifyImage: input checks, configuration, InferenceId, the endpoint answer's validation.

The endpoint call itself is tested against the local stack's real model server
(tests/functional/test_workflow_*.py): moto's in-process sagemaker-runtime decodes request
bodies as UTF-8 and so fails on every PNG or JPEG body.

The handler module creates its client at import, as Lambda's init phase does, so it is imported
by the fixtures (``cold_start``) inside the moto mock, never at collection time.
"""

from __future__ import annotations

import base64
import json
import re
import socket

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from lambdas import errors
from lambdas.events import MAX_IMAGE_BYTES, PNG_MAGIC
from lambdas_support import ENDPOINT, LABELS, cold_start, isolate_from_real_aws, png

ENVIRONMENT = {"ENDPOINT_NAME": ENDPOINT, "CLASS_LABELS": json.dumps(LABELS)}


@pytest.fixture(scope="module")
def classify():
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        isolate_from_real_aws(monkeypatch)
        yield cold_start("lambdas.classify_image", monkeypatch, **ENVIRONMENT)


@pytest.fixture
def handler(classify):
    return classify.handler


def image_event(image: bytes, key: str = "test/bicycle/bike.png", **extra) -> dict:
    return {
        "image_data": base64.b64encode(image).decode("ascii"),
        "s3_bucket": "scones-data",
        "s3_key": key,
        "inferences": [],
        **extra,
    }


def test_inference_ids_always_fit_sagemaker(classify):
    to_inference_id = classify.to_inference_id
    long_key = "test/bicycle/" + "very-long-name-" * 10 + ".png"
    odd_key = " test/bicycle/vélo №1.png"
    for text in (long_key, odd_key, "\t", "x" * 64):
        inference_id = to_inference_id(text)
        assert re.fullmatch(r"[!-~][ -~]{0,63}", inference_id), inference_id
        assert to_inference_id(text) == inference_id
    assert to_inference_id("x" * 64) == "x" * 64
    assert to_inference_id(long_key) != to_inference_id(long_key + "2")
    assert to_inference_id(long_key).startswith("test/bicycle/very-long-name")


@pytest.mark.parametrize(
    "body, message",
    [
        (b"body", "non-JSON"),
        (b"\x89PNG", "non-JSON"),
        (b"[" * 100_000, "non-JSON"),
        (b'{"bicycle": 0.9}', "not a list of 2"),
        (b"[1.0]", "not a list of 2"),
        (b"[0.2, 0.3, 0.5]", "not a list of 2"),
        (b'["0.9", "0.1"]', "non-numbers"),
        (b"[true, false]", "non-numbers"),
        (b"[null, 1]", "non-numbers"),
        (b"[NaN, 1.0]", "outside"),
        (b"[Infinity, 0]", "outside"),
        (b"[1.5, -0.5]", "outside"),
        (b"[1" + b"0" * 400 + b", 0]", "outside"),
        (b"[0.6, 0.6]", "sum to"),
        (b"[0.1, 0.1]", "sum to"),
    ],
)
def test_answers_that_are_not_probabilities_are_endpoint_errors(classify, body, message):
    with pytest.raises(errors.EndpointError, match=message):
        classify.parse_probabilities(body, len(LABELS))


def test_probabilities_may_carry_float32_rounding(classify):
    assert classify.parse_probabilities(b"[0.9999999, 1e-07]", 2) == [0.9999999, 1e-07]
    assert classify.parse_probabilities(b"[1, 0]", 2) == [1.0, 0.0]


@pytest.mark.parametrize(
    "request_event, error",
    [
        ({"s3_bucket": "b", "s3_key": "k"}, errors.InvalidInput),
        (image_event(png()) | {"image_data": "not base64!"}, errors.InvalidInput),
        (image_event(png()) | {"image_data": "iVBORw0KGgo"}, errors.InvalidInput),
        (image_event(png()) | {"image_data": "ümlaut"}, errors.InvalidInput),
        (image_event(png()) | {"image_data": 42}, errors.InvalidInput),
        (image_event(png()) | {"execution_name": ["run"]}, errors.InvalidInput),
        ({k: v for k, v in image_event(png()).items() if k != "s3_key"}, errors.InvalidInput),
        (image_event(b"GIF89a" + bytes(30)), errors.UnsupportedImageFormat),
        (image_event(b""), errors.InvalidInput),
        (image_event(PNG_MAGIC + bytes(MAX_IMAGE_BYTES)), errors.ImageTooLarge),
        ("image", errors.InvalidInput),
    ],
)
def test_bad_events_fail_before_calling_the_endpoint(handler, request_event, error):
    with pytest.raises(error):
        handler(request_event)


@pytest.mark.parametrize(
    "environment, message",
    [
        ({"ENDPOINT_NAME": ""}, "ENDPOINT_NAME"),
        ({"CLASS_LABELS": "bicycle,motorcycle"}, "not JSON"),
        ({"CLASS_LABELS": '["bicycle"]'}, "at least two"),
        ({"CLASS_LABELS": '{"0": "bicycle"}'}, "at least two"),
    ],
)
def test_a_misconfigured_function_says_what_is_wrong(classify, monkeypatch, environment, message):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(errors.ConfigurationError, match=message):
        classify.handler(image_event(png()))


def test_an_unreachable_endpoint_is_a_transient_error(classify, monkeypatch):
    """A real connection failure (a closed loopback port), not a simulated one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = boto3.client(
        "sagemaker-runtime",
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    monkeypatch.setattr(classify, "runtime", unreachable)

    with pytest.raises(errors.EndpointThrottled, match="unreachable"):
        classify.handler(image_event(png()))
