"""settings.leftovers against moto: it finds what carries the prefix, and only that."""

from __future__ import annotations

import json
import sys

import boto3
import pytest
from moto import mock_aws

from local_aws.launcher import free_port
from settings import leftovers

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def _create(prefix: str) -> None:
    """A few resources named like the Terraform roots name them."""
    boto3.client("s3").create_bucket(Bucket=f"{prefix}-data-123456789012-us-east-1")
    boto3.client("sqs").create_queue(QueueName=f"{prefix}-alerts")
    boto3.client("sns").create_topic(Name=f"{prefix}-alerts")
    role = boto3.client("iam").create_role(
        RoleName=f"{prefix}-states", AssumeRolePolicyDocument=TRUST
    )
    boto3.client("stepfunctions").create_state_machine(
        name=f"{prefix}-classify-image", definition=DEFINITION, roleArn=role["Role"]["Arn"]
    )
    boto3.client("logs").create_log_group(logGroupName=f"/aws/lambda/{prefix}-classifyImage")
    key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    boto3.client("kms").create_alias(AliasName=f"alias/{prefix}", TargetKeyId=key)
    boto3.client("events").put_rule(Name=f"{prefix}-execution-failed", EventPattern="{}")
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName=f"{prefix}-models")


def test_finds_every_kind_it_was_given_and_nothing_of_another_prefix(aws):
    _create("pfx")
    _create("pfxother")
    found = leftovers.find_leftovers("pfx")
    assert sorted((item.kind, item.name) for item in found) == [
        ("CloudWatch log group", "/aws/lambda/pfx-classifyImage"),
        ("EventBridge rule", "pfx-execution-failed"),
        ("IAM role", "pfx-states"),
        ("KMS alias", "alias/pfx"),
        ("S3 bucket", "pfx-data-123456789012-us-east-1"),
        ("SNS topic", "pfx-alerts"),
        ("SQS queue", "pfx-alerts"),
        ("SageMaker model package group", "pfx-models"),
        ("state machine", "pfx-classify-image"),
    ]


def test_another_regions_buckets_and_roles_are_no_leftovers(aws):
    """S3 and IAM list account-wide: after a destroy in us-east-1, the deployment of the same
    prefix in eu-west-1 (names ending with its region) is not left over from this one."""
    iam = boto3.client("iam")
    for region in ("us-east-1", "eu-west-1"):
        boto3.client("s3", region_name=region).create_bucket(
            Bucket=f"pfx-data-123456789012-{region}",
            **(
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            ),
        )
        iam.create_role(RoleName=f"pfx-states-{region}", AssumeRolePolicyDocument=TRUST)
    # A name that ends with no region (made by hand, or by an older root) still counts.
    iam.create_role(RoleName="pfx-sagemaker", AssumeRolePolicyDocument=TRUST)
    found = leftovers.find_leftovers("pfx")
    assert sorted((item.kind, item.name) for item in found) == [
        ("IAM role", "pfx-sagemaker"),
        ("IAM role", "pfx-states-us-east-1"),
        ("S3 bucket", "pfx-data-123456789012-us-east-1"),
    ]


def test_cli_lists_leftovers_and_fails_with_a_named_error(aws, monkeypatch, capsys):
    _create("pfx")
    monkeypatch.setattr(sys, "argv", ["leftovers", "--prefix", "pfx"])
    with pytest.raises(leftovers.LeftoversFound, match="9 resource"):
        leftovers.main()
    assert "left over: S3 bucket: pfx-data-123456789012-us-east-1" in capsys.readouterr().out


def test_cli_says_nothing_is_left(aws, monkeypatch, capsys):
    _create("pfxother")
    monkeypatch.setattr(sys, "argv", ["leftovers", "--prefix", "pfx"])
    assert leftovers.main() == 0
    assert capsys.readouterr().out == "nothing left: no resource named pfx-* exists any more\n"


def test_unreachable_aws_is_a_named_error(monkeypatch):
    # A loopback port nothing listens on (a fixed one, like 9, may be open on some machines).
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(leftovers.AwsUnreachable, match="could not list"):
        leftovers.find_leftovers("pfx")


@pytest.mark.parametrize("prefix", ["my_app", "two words", "a" * 64, ""])
def test_a_prefix_terraform_would_refuse_is_named_before_any_call(aws, aws_requests, prefix):
    """The prefix goes into SageMaker's NameContains filters ([a-zA-Z0-9-]+, at most 63) and
    CloudWatch Logs' logGroupNamePrefix; AWS refuses what breaks them (moto does not), which
    read as AwsUnreachable. A name_prefix of base (Terraform's rule) always fits them."""
    with pytest.raises(leftovers.InvalidPrefix, match="is not a name_prefix"):
        leftovers.find_leftovers(prefix)
    assert aws_requests.violations() == []


def test_the_longest_name_prefix_fits_every_list_call(aws, aws_requests):
    assert leftovers.find_leftovers("a-prefix-of-20-chars") == []
    assert "sagemaker.ListModelPackageGroups" in aws_requests.operations()
    assert aws_requests.violations() == []
