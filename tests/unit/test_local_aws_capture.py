"""Data capture records and files, against S3 in moto (in-process) and the real files' layout."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from local_aws.data_capture import CaptureSettings, CaptureWriter

GROUND_TRUTH = Path(__file__).resolve().parents[1] / "fixtures" / "capture"
CONFIG = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 100,
    "DestinationS3Uri": "s3://capture-bucket/data/capture",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {
        "CsvContentTypes": ["text/csv"],
        "JsonContentTypes": ["application/json"],
    },
}


@pytest.fixture()
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="capture-bucket")
        yield client


def read_capture(s3) -> tuple[list[str], list[str]]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="capture-bucket").get("Contents", [])]
    lines = []
    for key in keys:
        lines += (
            s3.get_object(Bucket="capture-bucket", Key=key)["Body"].read().decode().splitlines()
        )
    return keys, lines


def test_settings_follow_the_endpoint_config():
    settings = CaptureSettings.from_config(CONFIG)
    assert (settings.bucket, settings.prefix) == ("capture-bucket", "data/capture")
    assert settings.capture_input and settings.capture_output
    assert CaptureSettings.from_config(dict(CONFIG, EnableCapture=False)) is None
    assert CaptureSettings.from_config({}) is None
    only_input = CaptureSettings.from_config(
        dict(CONFIG, CaptureOptions=[{"CaptureMode": "Input"}])
    )
    assert only_input.capture_input and not only_input.capture_output


def test_a_config_without_enable_capture_captures(s3):
    """``EnableCapture`` is optional and defaults to enabled (API reference, DataCaptureConfig):
    an endpoint config that leaves it out, as moto stores it, captures its invocations."""
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    without_flag = {k: v for k, v in CONFIG.items() if k != "EnableCapture"}
    sagemaker.create_model(
        ModelName="m",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "pytorch-inference", "ModelDataUrl": "s3://models/model.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="no-flag",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}
        ],
        DataCaptureConfig=without_flag,
    )
    stored = sagemaker.describe_endpoint_config(EndpointConfigName="no-flag")["DataCaptureConfig"]
    settings = CaptureSettings.from_config(stored)
    assert settings is not None
    assert (settings.bucket, settings.sampling_percentage) == ("capture-bucket", 100.0)


def test_input_and_output_mode_captures_both():
    combined = CaptureSettings.from_config(
        dict(CONFIG, CaptureOptions=[{"CaptureMode": "InputAndOutput"}])
    )
    assert combined.capture_input and combined.capture_output


def test_encodings_follow_the_capture_content_type_header():
    settings = CaptureSettings.from_config(CONFIG)
    assert settings.encode("application/json", b"[0.1, 0.9]") == ("[0.1, 0.9]", "JSON")
    assert settings.encode("text/csv", b"1,2") == ("1,2", "CSV")
    assert settings.encode("image/png", b"\x89PNG") == (
        base64.b64encode(b"\x89PNG").decode(),
        "BASE64",
    )
    # Without a CaptureContentTypeHeader SageMaker base64-encodes everything.
    plain = CaptureSettings.from_config(
        {k: v for k, v in CONFIG.items() if k != "CaptureContentTypeHeader"}
    )
    assert plain.encode("application/json", b"[1]") == ("WzFd", "BASE64")


def test_sampling_zero_and_hundred_percent():
    always = CaptureSettings.from_config(CONFIG)
    never = CaptureSettings.from_config(dict(CONFIG, InitialSamplingPercentage=0))
    assert all(always.sampled() for _ in range(200))
    assert not any(never.sampled() for _ in range(200))


def test_records_are_written_in_sagemakers_layout(s3):
    truth_file = sorted(GROUND_TRUTH.glob("*.jsonl"))[0]
    truth = json.loads(truth_file.read_text().splitlines()[0])
    writer = CaptureWriter()
    settings = CaptureSettings.from_config(CONFIG)
    for n in range(3):
        writer.record(
            DEFAULT_ACCOUNT_ID,
            settings,
            "my-endpoint",
            "AllTraffic",
            ("image/png", b"\x89PNG-%d" % n),
            ("application/json", b"[0.25, 0.75]"),
            f"test/img-{n}.png" if n else None,
        )
    assert writer.pending() == 3
    assert writer.flush() == 3
    assert writer.pending() == 0

    keys, lines = read_capture(s3)
    assert len(keys) == 1  # one batch, one file
    key_pattern = r"data/capture/my-endpoint/AllTraffic/\d{4}/\d\d/\d\d/\d\d/\d\d-\d\d-\d{3}-[0-9a-f-]{36}\.jsonl"
    assert re.fullmatch(key_pattern, keys[0])
    assert re.fullmatch(r"\d\d-\d\d-\d{3}-[0-9a-f-]{36}\.jsonl", truth_file.name)
    records = [json.loads(line) for line in lines]
    assert len(records) == 3
    for n, (line, record) in enumerate(zip(lines, records)):
        assert json.dumps(record, separators=(",", ":")) == line
        assert list(record) == list(truth)
        for part in ("endpointInput", "endpointOutput"):
            assert list(record["captureData"][part]) == list(truth["captureData"][part])
        assert base64.b64decode(record["captureData"]["endpointInput"]["data"]) == b"\x89PNG-%d" % n
        assert record["captureData"]["endpointOutput"] == {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": "[0.25, 0.75]",
            "encoding": "JSON",
        }
        expected_metadata = (
            ["eventId", "inferenceTime"] if n == 0 else ["eventId", "inferenceId", "inferenceTime"]
        )
        assert list(record["eventMetadata"]) == expected_metadata
    assert list(truth["eventMetadata"]) == ["eventId", "inferenceTime"]
    assert records[1]["eventMetadata"]["inferenceId"] == "test/img-1.png"


def test_output_only_capture_has_no_input(s3):
    writer = CaptureWriter()
    settings = CaptureSettings.from_config(dict(CONFIG, CaptureOptions=[{"CaptureMode": "Output"}]))
    writer.record(
        DEFAULT_ACCOUNT_ID,
        settings,
        "e",
        "v",
        ("image/png", b"x"),
        ("application/json", b"[1]"),
        None,
    )
    writer.flush()
    _, lines = read_capture(s3)
    assert list(json.loads(lines[0])["captureData"]) == ["endpointOutput"]


def test_a_missing_bucket_is_counted_not_silently_dropped(s3):
    writer = CaptureWriter()
    settings = CaptureSettings.from_config(dict(CONFIG, DestinationS3Uri="s3://no-such-bucket/x"))
    writer.record(
        DEFAULT_ACCOUNT_ID,
        settings,
        "e",
        "v",
        ("image/png", b"x"),
        ("application/json", b"[1]"),
        None,
    )
    assert writer.flush() == 0
    assert writer.records_failed == 1
