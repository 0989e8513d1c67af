"""``tests/aws_constraints.py``: the service-model check finds what AWS refuses and moto passes."""

from __future__ import annotations

import io

import boto3
import botocore.session
import pytest
from moto import mock_aws

from aws_constraints import compiled, shape_of, violations

# Every service the project's Python code or Terraform roots call.
SERVICES = (
    "application-autoscaling",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sagemaker",
    "sagemaker-runtime",
    "sns",
    "sqs",
    "stepfunctions",
)


@pytest.mark.parametrize("service", SERVICES)
def test_every_input_pattern_of_the_services_compiles(service):
    model = botocore.session.get_session().get_service_model(service)
    patterns = {
        shape.metadata["pattern"]
        for name in model.shape_names
        for shape in [model.shape_for(name)]
        if "pattern" in shape.metadata
    }
    for pattern in patterns:
        compiled(pattern)


def test_max_pattern_enum_and_map_size_are_checked():
    params = {
        "ModelPackageGroupName": "scones-models",
        "ModelApprovalStatus": "Maybe",
        "CustomerMetadataProperties": {f"k{n}": "a,b" for n in range(51)},
    }
    found = violations("sagemaker", "CreateModelPackage", params)
    assert any("ModelApprovalStatus = 'Maybe' is none of" in problem for problem in found)
    assert any("CustomerMetadataProperties: 51 entries outside [1, 50]" in p for p in found)
    assert any("CustomerMetadataProperties['k0'] = 'a,b' does not match" in p for p in found)
    assert violations("sagemaker", "CreateModelPackage", {"ModelPackageGroupName": "g"}) == []


def test_blob_sizes_are_checked_for_bytes_and_files():
    limit = shape_of("sagemaker-runtime", "InvokeEndpoint", "Body").metadata["max"]
    assert limit == 6 * 1024 * 1024
    for body in (b"x" * (limit + 1), io.BytesIO(b"x" * (limit + 1))):
        found = violations(
            "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "e", "Body": body}
        )
        assert found == [
            f"sagemaker-runtime.InvokeEndpoint.Body: {limit + 1} bytes outside [None, {limit}]"
        ]


def test_the_fixture_records_what_clients_send(aws_requests, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sfn = boto3.client("stepfunctions")
        arn = "arn:aws:states:us-east-1:123456789012:execution:x:" + "y" * 300
        with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):  # moto checks no length
            sfn.describe_execution(executionArn=arn)
    assert aws_requests.operations() == ["stepfunctions.DescribeExecution"]
    assert aws_requests.violations() == [
        f"stepfunctions.DescribeExecution.executionArn: {len(arn)} characters outside [1, 256]"
    ]
