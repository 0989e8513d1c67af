"""The roots' variable validations refuse, at plan time, values that make AWS refuse a resource.

Each test plans a root with ``terraform test`` and a mocked AWS provider: no AWS, no local stack
(moto would accept most of these values). A run with ``expect_failures`` passes only when the
variable's validation refuses the value; the others plan cleanly. The roots are copied, with
``asl/`` and ``modules/``, into a temporary directory and the test file is written there, so
nothing lands in the repository; the provider comes from TF_PLUGIN_DIR when it is there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))
COMMAND_TIMEOUT_S = 300
# The longest region name in botocore's endpoints.json: bucket names end with the region.
LONGEST_REGION = "us-isof-south-1"

# Data sources answer these values; every policy document is a valid (empty) policy, as the
# provider's own validation of policy arguments still runs under the mock.
MOCK_PROVIDER = f"""
mock_provider "aws" {{
  mock_data "aws_caller_identity" {{
    defaults = {{ account_id = "123456789012" }}
  }}
  mock_data "aws_region" {{
    defaults = {{ name = "{LONGEST_REGION}" }}
  }}
  mock_data "aws_partition" {{
    defaults = {{ partition = "aws" }}
  }}
  mock_data "aws_iam_policy_document" {{
    defaults = {{ json = "{{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[]}}" }}
  }}
}}
"""

pytestmark = [
    pytest.mark.terraform,
]


def terraform_test(tmp_path: Path, root: str, runs: str) -> subprocess.CompletedProcess:
    """``terraform test`` of a copy of ``root`` with ``runs`` (HCL ``run`` and ``variables``)."""
    work = tmp_path / "repo"
    ignore = shutil.ignore_patterns(
        ".terraform", "*.tfstate*", ".terraform.lock.hcl", "*_override.tf"
    )
    shutil.copytree(REPO / "terraform", work / "terraform", ignore=ignore)
    shutil.copytree(REPO / "asl", work / "asl")
    tests = work / "terraform" / root / "tests"
    tests.mkdir()
    (tests / "variables.tftest.hcl").write_text(MOCK_PROVIDER + runs)
    env = dict(os.environ, TF_DATA_DIR=str(tmp_path / "data"), TF_IN_AUTOMATION="1")

    def terraform(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["terraform", f"-chdir={work / 'terraform' / root}", *args, "-no-color"],
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )

    init = ["init", "-input=false", "-backend=false"]
    if PLUGIN_DIR.is_dir():
        init.append(f"-plugin-dir={PLUGIN_DIR}")
    initialised = terraform(*init)
    assert initialised.returncode == 0, initialised.stdout + initialised.stderr
    return terraform("test")


def run_block(name: str, variables: dict[str, str], refused: str | None = None) -> str:
    """A plan-only ``run`` block; with ``refused``, that variable's validation must fail."""
    assignments = "\n".join(f"    {key} = {value}" for key, value in variables.items())
    expect = f"  expect_failures = [var.{refused}]\n" if refused else ""
    return f'\nrun "{name}" {{\n  command = plan\n  variables {{\n{assignments}\n  }}\n{expect}}}\n'


def assert_passed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0 and "0 failed" in result.stdout, result.stdout + result.stderr


# --- terraform/base: name_prefix --------------------------------------------------------------

# Bucket names "<name_prefix>-<purpose>-<account>-<region>" that S3 refuses (bucket naming rules:
# no name starts with xn--, sthree- or amzn-s3-demo-), from prefixes of the allowed shape.
RESERVED_PREFIXES = [
    "xn--scones",
    "sthree",
    "sthree-configurator",
    "amzn-s3-demo",
    "amzn-s3-demo-x",
]


def test_a_name_prefix_that_starts_bucket_names_with_a_reserved_prefix_is_refused(tmp_path):
    runs = "".join(
        run_block(f"reserved_{n}", {"name_prefix": f'"{prefix}"'}, refused="name_prefix")
        for n, prefix in enumerate(RESERVED_PREFIXES)
    )
    # The longest prefix allowed, and names that merely resemble the reserved ones, still plan.
    for n, prefix in enumerate(["a-prefix-of-20-chars", "xn-scones", "sthreex", "amzn-s3-demox"]):
        runs += run_block(f"allowed_{n}", {"name_prefix": f'"{prefix}"'})
    assert_passed(terraform_test(tmp_path, "base", runs))


def test_the_refusal_names_the_reserved_prefixes(tmp_path):
    result = terraform_test(tmp_path, "base", run_block("xn", {"name_prefix": '"xn--scones"'}))
    assert result.returncode != 0
    assert "S3 reserves these prefixes of bucket names" in " ".join(result.stderr.split())


# --- terraform/base: alert_email --------------------------------------------------------------


def test_an_alert_email_that_is_no_address_is_refused(tmp_path):
    """SNS refuses it (InvalidParameter) at the subscription, after the rest of base was made."""
    refused = ['""', '"ops"', '"ops@example"', '"ops@example.com,dev@example.com"', '" @x.y"']
    runs = "".join(
        run_block(f"refused_{n}", {"alert_email": value}, refused="alert_email")
        for n, value in enumerate(refused)
    )
    runs += run_block("address", {"alert_email": '"ops+alerts@example.co.uk"'})
    runs += run_block("none", {"alert_email": "null"})
    assert_passed(terraform_test(tmp_path, "base", runs))


# --- terraform/serving: max_concurrency -------------------------------------------------------


def serving_variables(tmp_path: Path) -> str:
    """A file-level ``variables`` block: base outputs and a model, as ``make deploy`` passes them."""
    lambda_zip = tmp_path / "lambdas.zip"
    with zipfile.ZipFile(lambda_zip, "w") as archive:
        archive.writestr("lambdas/__init__.py", "")
    account = "arn:aws:{}:us-east-1:123456789012"
    values = {
        "data_bucket": "scones-data-123456789012-us-east-1",
        "model_bucket": "scones-models-123456789012-us-east-1",
        "capture_bucket": "scones-capture-123456789012-us-east-1",
        "capture_prefix": "datacapture",
        "sagemaker_role_arn": "arn:aws:iam::123456789012:role/scones-sagemaker",
        "model_package_group_name": "scones-models",
        "alert_topic_arn": account.format("sns") + ":scones-alerts",
        "alert_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/scones-alerts",
        "kms_key_arn": account.format("kms") + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "model_package_arn": account.format("sagemaker") + ":model-package/scones-models/1",
        "lambda_zip": str(lambda_zip),
    }
    lines = [f'  {name} = "{value}"' for name, value in values.items()]
    lines.append('  class_labels = ["bicycle", "motorcycle"]')
    return "\nvariables {\n" + "\n".join(lines) + "\n}\n"


def test_a_max_concurrency_that_is_no_whole_number_is_refused(tmp_path):
    """It becomes the MaxConcurrency of the batch definition's Map state, an integer (the
    MaxConcurrency shape of Step Functions' service model; moto's ASL parser, which answers
    ValidateStateMachineDefinition on the local stack and runs its executions, reads only an
    integer there). 2.5 passed the plan, to be refused with the state machine, after the
    Lambdas and roles were made."""
    runs = serving_variables(tmp_path)
    runs += run_block("fraction", {"max_concurrency": "2.5"}, refused="max_concurrency")
    runs += run_block("negative", {"max_concurrency": "-1"}, refused="max_concurrency")
    runs += run_block("no_limit", {"max_concurrency": "0"})
    runs += run_block("forty", {"max_concurrency": "40"})
    assert_passed(terraform_test(tmp_path, "serving", runs))


def test_class_labels_that_are_empty_or_repeated_are_refused(tmp_path):
    """An empty name made every classify call fail with ConfigurationError after the deploy; a
    repeated one made two classes the same in the results."""
    runs = serving_variables(tmp_path)
    refused = ['["bicycle", ""]', '["bicycle", " "]', '["bicycle", "bicycle"]', '["bicycle"]']
    runs += "".join(
        run_block(f"refused_{n}", {"class_labels": value}, refused="class_labels")
        for n, value in enumerate(refused)
    )
    runs += run_block("vehicles", {"class_labels": '["bicycle", "motorcycle", "bus"]'})
    assert_passed(terraform_test(tmp_path, "serving", runs))


# --- IAM role names: one set per region -------------------------------------------------------


def assert_role_name(tmp_path: Path, root: str, variables: str, role: str, name: str) -> None:
    runs = variables + (
        f'\nrun "role_name" {{\n  command = plan\n  assert {{\n'
        f'    condition     = {role}.name == "{name}"\n'
        f'    error_message = "role name: ${{{role}.name}}"\n  }}\n}}\n'
    )
    assert_passed(terraform_test(tmp_path, root, runs))


# IAM role names are global to the account, everything else of a deployment is regional (bucket
# names end with the region): a second region's `make infra` / `make deploy`, with the state kept
# per region, would be refused with EntityAlreadyExists on the first region's role names.


def test_the_sagemaker_role_is_named_per_region(tmp_path):
    name = f"scones-sagemaker-{LONGEST_REGION}"
    assert_role_name(tmp_path, "base", "", "aws_iam_role.sagemaker", name)


def test_the_state_machine_role_is_named_per_region(tmp_path):
    name = f"scones-states-{LONGEST_REGION}"
    assert_role_name(tmp_path, "serving", serving_variables(tmp_path), "aws_iam_role.states", name)


def test_a_lambda_role_is_named_per_region_within_the_iam_limit(tmp_path):
    """The longest function name of the serving root (20-character prefix) in the longest region
    stays within the 64 characters of a role name (the provider's validation runs in the plan)."""
    lambda_zip = tmp_path / "lambdas.zip"
    with zipfile.ZipFile(lambda_zip, "w") as archive:
        archive.writestr("lambdas/__init__.py", "")
    function = "a-prefix-of-20-chars-serializeImageData"
    variables = (
        f'\nvariables {{\n  function_name = "{function}"\n  description = "d"\n'
        f'  handler = "lambdas.h"\n  zip_path = "{lambda_zip}"\n'
        '  kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"\n'
        "  log_retention_days = 7\n}\n"
    )
    name = f"{function}-{LONGEST_REGION}"
    assert len(name) <= 64
    assert_role_name(tmp_path, "modules/lambda_function", variables, "aws_iam_role.this", name)
