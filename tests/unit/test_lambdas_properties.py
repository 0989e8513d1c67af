"""Property-based: random events at every handler give a result or a named error, nothing else.

No ``KeyError``/``TypeError``/``binascii.Error``/botocore validation error may escape: whatever a
caller sends, the state machine sees one of the workflow's error names.
"""

from __future__ import annotations

import base64
import json
import socket

import boto3
import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from lambdas import errors, filter_inferences, summarize_batch
from lambdas.events import JPEG_MAGIC, MAX_IMAGE_BYTES, PNG_MAGIC
from lambdas_support import BUCKET, LABELS, REGION, cold_start, isolate_from_real_aws, png

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
random_images = st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(lambda tail: PNG_MAGIC + tail),
    st.binary(max_size=200).map(lambda tail: JPEG_MAGIC + tail),
    st.just(PNG_MAGIC + bytes(MAX_IMAGE_BYTES)),
    st.just(png()),
)
nasty_strings = st.one_of(
    st.text(),
    st.sampled_from(["", " ", "\x00", "\ud800", "é" * 600, "x" * 300_000, "../../etc/passwd"]),
    st.binary(max_size=64).map(lambda raw: base64.b64encode(raw).decode("ascii")),
    random_images.map(lambda raw: base64.b64encode(raw).decode("ascii")),
    st.text(alphabet="ABCD=+/\n ", max_size=30),
)
field_values = json_values | nasty_strings


def mostly(good: st.SearchStrategy) -> st.SearchStrategy:
    """``good`` three times in four, any other value otherwise, so both paths get exercised."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda pick_good: good if pick_good else field_values
    )


def events(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Any JSON; objects with some of ``fields``; objects with all of them (values still random)."""
    extra = st.dictionaries(st.text(max_size=8), json_values, max_size=3)

    def merge(known: dict, more: dict) -> dict:
        return {**more, **known}

    some = st.builds(merge, st.fixed_dictionaries({}, optional=fields), extra)
    every = st.builds(merge, st.fixed_dictionaries(fields), extra)
    return json_values | some | every


images_b64 = random_images.map(lambda raw: base64.b64encode(raw).decode("ascii"))


def outcome(handler, event, allowed: set[str]) -> None:
    try:
        result = handler(event)
    except errors.WorkflowError as err:
        assert type(err).__name__ in allowed, repr(err)
        assert str(err)
        hypothesis.event(f"raised {type(err).__name__}")
    else:
        assert isinstance(result, dict)
        hypothesis.event("returned a result")


@pytest.fixture(scope="module")
def aws():
    """moto S3 with the test bucket, and the two handlers that call AWS, cold-started in it."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        isolate_from_real_aws(monkeypatch)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        serialize = cold_start("lambdas.serialize_image_data", monkeypatch)
        classify = cold_start(
            "lambdas.classify_image", monkeypatch, ENDPOINT_NAME="scones", CLASS_LABELS='["a", "b"]'
        )
        # A closed loopback port: every endpoint call that passes the checks really fails to
        # connect (moto's in-process sagemaker-runtime cannot take binary image bodies).
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            unreachable = f"http://127.0.0.1:{sock.getsockname()[1]}"
        monkeypatch.setattr(
            classify,
            "runtime",
            boto3.client(
                "sagemaker-runtime",
                endpoint_url=unreachable,
                config=classify.ENDPOINT_CONFIG,
            ),
        )
        yield s3, serialize, classify


@PROPERTY_SETTINGS
@given(data=st.data())
def test_serialize_image_data(aws, data):
    s3, serialize, _ = aws
    key = data.draw(st.text(min_size=1, max_size=60), label="stored key")
    s3.put_object(Bucket=BUCKET, Key=key, Body=data.draw(random_images, label="stored bytes"))
    event = data.draw(
        events(
            {
                "s3_bucket": mostly(st.sampled_from([BUCKET, BUCKET, "no-such-bucket"])),
                "s3_key": mostly(st.just(key)),
                "image_data": field_values,
            }
        )
    )
    outcome(
        serialize.handler,
        event,
        {"InvalidInput", "ImageNotFound", "ImageTooLarge", "UnsupportedImageFormat"},
    )


@PROPERTY_SETTINGS
@given(
    event=events(
        {
            "image_data": mostly(images_b64),
            "s3_bucket": mostly(st.just(BUCKET)),
            "s3_key": mostly(st.text(min_size=1, max_size=80)),
            "inference_id": mostly(st.text(min_size=1, max_size=80)),
            "inferences": field_values,
        }
    )
)
def test_classify_image(aws, event):
    _, _, classify = aws
    outcome(
        classify.handler,
        event,
        {"InvalidInput", "ImageTooLarge", "UnsupportedImageFormat", "EndpointThrottled"},
    )


@PROPERTY_SETTINGS
@given(
    body=st.one_of(
        st.binary(max_size=100),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.floats(0, 1, allow_subnormal=False).map(lambda p: json.dumps([p, 1 - p]).encode()),
    )
)
def test_classify_image_endpoint_answers(aws, body):
    _, _, classify = aws
    try:
        probabilities = classify.parse_probabilities(body, len(LABELS))
    except errors.EndpointError:
        hypothesis.event("raised EndpointError")
        return
    assert len(probabilities) == len(LABELS)
    assert abs(sum(probabilities) - 1) <= classify.SUM_TOLERANCE
    hypothesis.event("returned probabilities")


@PROPERTY_SETTINGS
@given(
    event=events(
        {
            "confidence": mostly(
                st.floats(0, 1, allow_subnormal=False) | st.floats(0.93, 1, allow_subnormal=False)
            ),
            "label": mostly(st.sampled_from(LABELS)),
            "inferences": field_values,
        }
    )
)
def test_filter_inferences(event):
    outcome(filter_inferences.handler, event, {"InvalidInput", "LowConfidence"})


batch_items = st.fixed_dictionaries(
    {"status": st.sampled_from(["ok", "LowConfidence", "ImageNotFound"])},
    optional={"s3_key": field_values, "label": field_values},
)


@PROPERTY_SETTINGS
@given(event=events({"items": mostly(st.lists(mostly(batch_items), max_size=5))}))
def test_summarize_batch(event):
    outcome(summarize_batch.handler, event, {"InvalidInput"})
