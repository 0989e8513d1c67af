"""serializeImageData against moto's S3."""

from __future__ import annotations

import base64
import socket
import sys

import boto3
import pytest
from moto import mock_aws

from lambdas import errors
from lambdas.events import MAX_IMAGE_BYTES, PNG_MAGIC
from lambdas_support import (
    BUCKET,
    REGION,
    cold_start,
    event,
    function_timeout_s,
    isolate_from_real_aws,
    jpeg,
    png,
)


@pytest.fixture(scope="module")
def s3_and_handler():
    """One moto S3 and one warm handler for the module; each test uses its own keys."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        isolate_from_real_aws(monkeypatch)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield s3, cold_start("lambdas.serialize_image_data", monkeypatch).handler


def test_fixture_event_returns_the_object_as_base64(s3_and_handler):
    s3, handler = s3_and_handler
    request = event("serialize_image_data")
    image = png()
    s3.put_object(Bucket=BUCKET, Key=request["s3_key"], Body=image)

    result = handler(request)

    assert result == {
        "image_data": base64.b64encode(image).decode("ascii"),
        "s3_bucket": BUCKET,
        "s3_key": request["s3_key"],
        "inferences": [],
    }


def test_image_data_in_the_event_is_ignored(s3_and_handler):
    s3, handler = s3_and_handler
    image = jpeg()
    s3.put_object(Bucket=BUCKET, Key="test/a.jpg", Body=image)

    result = handler({"s3_bucket": BUCKET, "s3_key": "test/a.jpg", "image_data": "bm90IHRoaXM="})

    assert base64.b64decode(result["image_data"]) == image


def test_an_image_of_exactly_the_limit_is_accepted(s3_and_handler):
    s3, handler = s3_and_handler
    image = PNG_MAGIC + bytes(MAX_IMAGE_BYTES - len(PNG_MAGIC))
    s3.put_object(Bucket=BUCKET, Key="big.png", Body=image)

    assert len(
        base64.b64decode(handler({"s3_bucket": BUCKET, "s3_key": "big.png"})["image_data"])
    ) == (MAX_IMAGE_BYTES)


def test_an_image_over_the_limit_is_too_large(s3_and_handler):
    s3, handler = s3_and_handler
    s3.put_object(Bucket=BUCKET, Key="huge.png", Body=PNG_MAGIC + bytes(MAX_IMAGE_BYTES))

    with pytest.raises(errors.ImageTooLarge, match="huge.png"):
        handler({"s3_bucket": BUCKET, "s3_key": "huge.png"})


@pytest.mark.parametrize(
    "body", [b"GIF89a" + bytes(20), b"", b"just some text", b"\x89PNG", b"\xff\xd8"]
)
def test_bytes_that_are_not_png_or_jpeg_are_unsupported(s3_and_handler, body):
    s3, handler = s3_and_handler
    key = f"test/unsupported-{body[:4].hex()}.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    with pytest.raises(errors.UnsupportedImageFormat):
        handler({"s3_bucket": BUCKET, "s3_key": key})


def test_a_missing_key_is_not_found(s3_and_handler):
    _, handler = s3_and_handler

    with pytest.raises(errors.ImageNotFound, match="s3://scones-data/test/missing.png"):
        handler({"s3_bucket": BUCKET, "s3_key": "test/missing.png"})


def test_a_missing_bucket_is_not_found(s3_and_handler):
    _, handler = s3_and_handler

    with pytest.raises(errors.ImageNotFound):
        handler({"s3_bucket": "no-such-bucket", "s3_key": "test/a.png"})


def test_an_archived_object_cannot_be_read(s3_and_handler):
    s3, handler = s3_and_handler
    s3.put_object(Bucket=BUCKET, Key="test/archived.png", Body=png(), StorageClass="GLACIER")

    with pytest.raises(
        errors.ImageNotFound, match="archived.png cannot be read: InvalidObjectState"
    ):
        handler({"s3_bucket": BUCKET, "s3_key": "test/archived.png"})


def test_an_unreachable_s3_is_unavailable_a_retried_error(s3_and_handler, monkeypatch):
    """A real connection failure (a closed loopback port), after the SDK's own attempts."""
    handler = s3_and_handler[1]
    module = sys.modules[handler.__module__]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{closed_port}", config=module.S3_CONFIG
    )
    monkeypatch.setattr(module, "s3", unreachable)

    with pytest.raises(errors.ImageUnavailable, match="s3://scones-data/test/a.png could not be"):
        handler({"s3_bucket": BUCKET, "s3_key": "test/a.png"})


@pytest.mark.parametrize(
    "request_event, message",
    [
        (None, "JSON object"),
        (["s3_bucket", "s3_key"], "JSON object"),
        ("s3://scones-data/a.png", "JSON object"),
        ({}, "'s3_bucket' is missing"),
        ({"s3_bucket": BUCKET}, "'s3_key' is missing"),
        ({"s3_bucket": 7, "s3_key": "a.png"}, "must be a string, not a number"),
        ({"s3_bucket": BUCKET, "s3_key": None}, "must be a string, not null"),
        ({"s3_bucket": BUCKET, "s3_key": ""}, "'s3_key' is empty"),
        ({"s3_bucket": "Not_A_Bucket", "s3_key": "a.png"}, "not a valid bucket name"),
        ({"s3_bucket": "two..dots", "s3_key": "a.png"}, "not a valid bucket name"),
        ({"s3_bucket": "192.168.5.4", "s3_key": "a.png"}, "not a valid bucket name"),
        ({"s3_bucket": "-leading-hyphen", "s3_key": "a.png"}, "not a valid bucket name"),
        ({"s3_bucket": BUCKET, "s3_key": "k" * 1025}, "1025 bytes"),
        ({"s3_bucket": BUCKET, "s3_key": "\ud800.png"}, "not valid Unicode"),
    ],
)
def test_malformed_events_are_invalid_input(s3_and_handler, request_event, message):
    _, handler = s3_and_handler

    with pytest.raises(errors.InvalidInput, match=message):
        handler(request_event)


def test_the_sdk_gives_up_before_the_function_times_out(s3_and_handler):
    """Every attempt timing out (connect, then read), with botocore's standard-mode backoff
    between attempts, still ends before Lambda stops the function, so the handler reports the
    error itself (ImageUnavailable, which the state machines retry; a timed-out function is
    Sandbox.Timedout, which they do not). The zip carries no botocore: on AWS the runtime's
    runs, and a botocore older than this environment's backs off up to 1 s * 2**i after a
    timeout, not 50 ms * 2**i, so the bound is taken with the longer backoff."""
    config = s3_and_handler[1].__globals__["S3_CONFIG"]
    attempts = config.retries["total_max_attempts"]
    backoff_s = sum(min(1.0 * 2**i, 20.0) for i in range(attempts - 1))
    worst_s = attempts * (config.connect_timeout + config.read_timeout) + backoff_s

    assert attempts > 1  # the SDK retries S3's transient errors before the state machine does
    assert worst_s < function_timeout_s("serialize_image_data")
