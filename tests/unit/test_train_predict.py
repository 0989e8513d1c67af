"""``python -m train.predict``: what it sends, and its errors before any endpoint is called."""

from __future__ import annotations

import json

import numpy as np
import pytest
from moto import mock_aws

from aws_constraints import shape_of
from settings import MissingOutputs
from train import predict
from train_support import class_image, png_bytes, write_outputs


def test_content_type_comes_from_the_magic_bytes(tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(png_bytes(class_image(0, np.random.default_rng(0))))
    assert predict.read_image(png)[1] == "image/png"
    jpeg = tmp_path / "photo.bin"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 16)
    assert predict.read_image(jpeg)[1] == "image/jpeg"


def test_missing_file_directory_and_non_image(tmp_path):
    with pytest.raises(predict.ImageNotFound, match="does not exist"):
        predict.read_image(tmp_path / "nope.png")
    with pytest.raises(predict.ImageNotFound, match="is a directory"):
        predict.read_image(tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(predict.NotAnImage, match="notes.png: the file is not a PNG or JPEG"):
        predict.read_image(text)


def test_errors_come_before_the_endpoint_is_looked_up(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))  # no serving outputs at all
    with pytest.raises(predict.ImageNotFound):
        predict.main([str(tmp_path / "nope.png")])
    with pytest.raises(predict.ImageNotFound, match="make predict IMAGE="):
        predict.main([""])


def test_labels_come_from_the_deployed_model_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))
    with pytest.raises(MissingOutputs, match="model.tfvars.json does not exist: run `make deploy`"):
        predict.deployed_labels()
    write_outputs(tmp_path, "serving", {"endpoint_name": "scones-endpoint"})
    (tmp_path / "model.tfvars.json").write_text(
        json.dumps({"model_package_arn": "arn", "model_data_url": "s3://m", "class_labels": ["a"]})
    )
    assert predict.deployed_labels() == ["a"]


def test_an_image_larger_than_an_endpoint_takes_is_refused_before_the_call(
    tmp_path, monkeypatch, aws_requests
):
    """InvokeEndpoint's Body is at most 6 MiB (its service model; moto takes more, SageMaker and
    the local stack answer HTTP 413): a larger file is the caller's named error, and no request
    is sent."""
    limit = shape_of("sagemaker-runtime", "InvokeEndpoint", "Body").metadata["max"]
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))
    write_outputs(tmp_path, "serving", {"endpoint_name": "scones-endpoint"})
    (tmp_path / "model.tfvars.json").write_text(
        json.dumps(
            {"model_package_arn": "arn", "model_data_url": "s3://m", "class_labels": ["a", "b"]}
        )
    )
    signature = b"\x89PNG\r\n\x1a\n"
    image = tmp_path / "large.png"
    image.write_bytes(signature + b"\0" * (limit + 1 - len(signature)))
    with mock_aws(), pytest.raises(predict.ImageTooLarge, match=f"at most {limit} "):
        predict.main([str(image)])
    assert aws_requests.violations() == []
    assert aws_requests.operations() == []
    image.write_bytes(signature + b"\0" * (limit - len(signature)))
    assert predict.read_image(image)[1] == "image/png"  # the largest body an endpoint takes
