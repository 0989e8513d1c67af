"""The load test reads the deployed workflow: the Lambdas of the real state machines in asl/ (for
their memory sizes) and the endpoint's capture sampling."""

import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from loadtest.run import Clients, Deployment, discover, lambda_functions

ASL = Path(__file__).resolve().parents[2] / "asl"


def render(path: Path) -> dict:
    """Fill the templatefile variables the way Terraform does (ARNs named after the variable)."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "max_concurrency":
            return "10"
        if name.endswith("_function_arn"):
            return f"arn:aws:lambda:us-east-1:123456789012:function:{name[: -len('_function_arn')]}"
        return f"arn:aws:sns:us-east-1:123456789012:{name}"

    return json.loads(re.sub(r"\$\{(\w+)\}", value, path.read_text()))


@pytest.mark.parametrize("name", ["classify_image.asl.json", "classify_batch.asl.json"])
def test_every_lambda_task_is_found_including_inside_the_map(name):
    definition = render(ASL / name)
    found = lambda_functions(definition)
    expected = {
        m.group(1)[: -len("_function_arn")]
        for m in re.finditer(r"\$\{(\w+_function_arn)\}", (ASL / name).read_text())
    }
    assert found == expected
    assert {"serialize", "classify", "filter"} <= found


@pytest.mark.parametrize(
    "capture, sampling",
    [
        (None, None),
        ({"InitialSamplingPercentage": 40}, 40.0),  # EnableCapture left out: on, as on AWS
        ({"EnableCapture": False, "InitialSamplingPercentage": 40}, None),
    ],
)
def test_the_sampling_read_from_the_endpoint_config(capture, sampling):
    """``discover`` against moto: a DataCaptureConfig without ``EnableCapture`` captures."""
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        role = "arn:aws:iam::123456789012:role/scones-test"
        sagemaker.create_model(
            ModelName="m",
            ExecutionRoleArn=role,
            PrimaryContainer={"Image": "image", "ModelDataUrl": "s3://models/model.tar.gz"},
        )
        config = {
            "EndpointConfigName": "c",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "m",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        }
        if capture is not None:
            options = [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
            config["DataCaptureConfig"] = {
                **capture,
                "DestinationS3Uri": "s3://capture/datacapture",
                "CaptureOptions": options,
            }
        sagemaker.create_endpoint_config(**config)
        sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c")
        machine = sfn.create_state_machine(
            name="w",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=role,
        )["stateMachineArn"]
        clients = Clients(sfn=sfn, s3=None, awslambda=None, sagemaker=sagemaker)
        deployment = Deployment(machine, machine, "e", "data", "s3://capture/datacapture", "f")

        workflow = discover(clients, deployment, machine)

    assert workflow.capture_sampling == sampling
    assert (workflow.instance_type, workflow.lambda_memory_mb) == ("ml.m5.large", {})
