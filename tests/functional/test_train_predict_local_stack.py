"""A trained artifact served by the local stack's SageMaker endpoint, and ``make predict``.

The endpoint loads ``model.tar.gz`` the way the SageMaker PyTorch container does (``code/`` on
``sys.path``, the four handler functions), so this checks that the artifact is servable as is,
that bad requests come back as errors without taking the model server down, and that
``python -m train.predict`` prints the class and the probabilities.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from train import predict
from train_support import class_image, png_bytes, write_outputs

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def endpoint(local_stack, trained_run):
    """An InService endpoint of the tiny trained model; yields its name."""
    run, _ = trained_run
    prefix = f"scones-predict-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    sagemaker = boto3.client("sagemaker")
    s3.create_bucket(Bucket=f"{prefix}-models")
    s3.upload_file(str(run.model_archive), f"{prefix}-models", "models/run/model.tar.gz")
    role = boto3.client("iam").create_role(
        RoleName=prefix,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    sagemaker.create_model(
        ModelName=prefix,
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312",
            "ModelDataUrl": f"s3://{prefix}-models/models/run/model.tar.gz",
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=prefix,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": prefix,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=prefix, EndpointConfigName=prefix)
    deadline = time.monotonic() + 60
    while sagemaker.describe_endpoint(EndpointName=prefix)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, "endpoint not InService after 60 s"
        time.sleep(0.5)
    return prefix


def invoke(endpoint: str, body: bytes, content_type: str) -> bytes:
    return (
        boto3.client("sagemaker-runtime")
        .invoke_endpoint(EndpointName=endpoint, ContentType=content_type, Body=body)["Body"]
        .read()
    )


def test_predict_prints_the_class_and_probabilities(endpoint, tmp_path, monkeypatch, capsys):
    outputs = tmp_path / "outputs"
    write_outputs(outputs, "serving", {"endpoint_name": endpoint})
    (outputs / "model.tfvars.json").write_text(
        json.dumps({"class_labels": ["bicycle", "motorcycle"]})
    )
    monkeypatch.setenv("OUTPUTS_DIR", str(outputs))
    image = tmp_path / "bike.png"
    image.write_bytes(png_bytes(class_image(0, np.random.default_rng(0))))
    assert predict.main([str(image)]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = re.fullmatch(rf"{re.escape(str(image))}: (\w+) \((\d\.\d{{4}})\)", lines[0])
    assert head is not None, lines[0]
    label, confidence = head.group(1), float(head.group(2))
    printed = {line.split()[0]: float(line.split()[1]) for line in lines[1:]}
    assert list(printed) == ["bicycle", "motorcycle"]
    # The label is the most probable class, shown with its own probability.
    assert confidence == printed[label] == max(printed.values())
    # The printed probabilities are the endpoint's answer for the same bytes (to 4 decimals).
    answer = json.loads(invoke(endpoint, image.read_bytes(), "image/png"))
    assert list(printed.values()) == pytest.approx(answer, abs=5e-5)


def test_bad_requests_are_model_errors_and_the_server_keeps_serving(endpoint):
    good = png_bytes(class_image(1, np.random.default_rng(1)))
    for body, content_type, message in [
        (b"", "image/png", "empty"),
        (b"GIF89a", "image/png", "not a readable PNG or JPEG"),
        (good, "text/csv", "not supported"),
    ]:
        with pytest.raises(ClientError) as error:
            invoke(endpoint, body, content_type)
        assert message in str(error.value)
    probabilities = json.loads(invoke(endpoint, good, "application/x-image"))
    assert len(probabilities) == 2


@pytest.mark.parametrize("accept", ["*/*", "application/*", "text/csv, application/json;q=0.5"])
def test_the_answer_is_json_whatever_accept_list_takes_it(endpoint, accept):
    response = boto3.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint,
        ContentType="image/png",
        Accept=accept,
        Body=png_bytes(class_image(0, np.random.default_rng(2))),
    )
    assert response["ContentType"] == "application/json"
    assert len(json.loads(response["Body"].read())) == 2
