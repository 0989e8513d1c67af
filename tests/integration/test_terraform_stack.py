"""terraform/base and terraform/serving applied to the local stack, checked through boto3.

One module-scoped deployment with its own name prefix (so it never meets other tests' resources
in a shared stack): base, then a tiny approved model package (the brightness model of
``deploy_helpers``), then serving. The tests read back what Terraform built (bucket security,
data capture, state machine definitions against the rendered ``asl/`` files, Lambda environment,
IAM scoping), run one execution through it, re-plan both roots to prove the plans are empty, and
last destroy everything and let ``python -m settings.leftovers`` prove nothing is left.
Timings of each Terraform command are printed (``-s`` shows them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from deploy_helpers import brightness_model_tar, png
from lambdas.package import build as build_lambda_zip
from monitor import definitions
from settings.outputs import terraform_outputs

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))
ROOTS = ("base", "serving")
# Each command takes 30-120 s on a busy 2-core machine; far more means it hangs on the stack.
COMMAND_TIMEOUT_S = 600
LABELS = ["bicycle", "motorcycle"]
IMAGE_URI = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"
# The region every root is applied in (role names end with it).
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
STATE_MACHINES = {
    "state_machine_arn": "classify_image.asl.json",
    "batch_state_machine_arn": "classify_batch.asl.json",
}

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.stack,
    pytest.mark.slow,
]


@dataclass
class Deployment:
    """One deployment of both roots with its own prefix, state and data directories."""

    endpoint: str
    prefix: str
    work: Path
    base: dict = field(default_factory=dict)
    serving: dict = field(default_factory=dict)
    serving_var_files: list[Path] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    destroyed: bool = False

    def terraform(self, root: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, TF_DATA_DIR=str(self.work / "data" / root), TF_IN_AUTOMATION="1")
        started = time.monotonic()
        try:
            result = subprocess.run(
                ["terraform", f"-chdir={REPO / 'terraform' / root}", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as err:
            raise AssertionError(
                f"terraform {root} {args[0]} ran over {COMMAND_TIMEOUT_S} s:\n{err.stdout}"
            ) from None
        self.timings[f"{root} {args[0]}"] = round(time.monotonic() - started, 1)
        if check and result.returncode != 0:
            raise AssertionError(
                f"terraform {root} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def variables(self, root: str) -> list[str]:
        args = [
            "-var",
            f"local_endpoint={self.endpoint}",
            "-var",
            f"name_prefix={self.prefix}",
            "-var",
            f"aws_region={REGION}",
        ]
        if root == "serving":
            args += [f"-var-file={path}" for path in self.serving_var_files]
        return args

    def init(self, root: str) -> None:
        args = ["init", "-input=false", f"-backend-config=path={self.work / root}.tfstate"]
        if PLUGIN_DIR.is_dir():
            args.append(f"-plugin-dir={PLUGIN_DIR}")
        self.terraform(root, *args)

    def apply(self, root: str) -> dict:
        self.terraform(root, "apply", "-input=false", "-auto-approve", *self.variables(root))
        path = self.work / f"{root}.outputs.json"
        path.write_text(self.terraform(root, "output", "-json").stdout)
        return dict(terraform_outputs(path))

    def plan_exit_code(self, root: str) -> tuple[int, str]:
        result = self.terraform(
            root, "plan", "-input=false", "-detailed-exitcode", *self.variables(root), check=False
        )
        return result.returncode, result.stdout + result.stderr

    def destroy(self, root: str) -> None:
        self.terraform(root, "destroy", "-input=false", "-auto-approve", *self.variables(root))


def _register_model(base: dict, work: Path) -> Path:
    """Upload a servable model.tar.gz and register it, Approved, in the base's package group."""
    key = "models/terraform-test/model.tar.gz"
    boto3.client("s3").put_object(Bucket=base["model_bucket"], Key=key, Body=brightness_model_tar())
    model_data_url = f"s3://{base['model_bucket']}/{key}"
    package_arn = boto3.client("sagemaker").create_model_package(
        ModelPackageGroupName=base["model_package_group_name"],
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE_URI, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    path = work / "model.tfvars.json"
    path.write_text(
        json.dumps(
            {
                "model_package_arn": package_arn,
                "model_data_url": model_data_url,
                "class_labels": LABELS,
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def deployment(local_stack, tmp_path_factory):
    work = tmp_path_factory.mktemp("terraform")
    dep = Deployment(endpoint=local_stack, prefix=f"tft{uuid.uuid4().hex[:6]}", work=work)
    for root in ROOTS:
        dep.init(root)
    dep.base = dep.apply("base")
    base_vars = work / "base.tfvars.json"
    base_vars.write_text(json.dumps(dep.base))
    zip_path = work / "lambdas.zip"
    build_lambda_zip(zip_path)
    lambda_vars = work / "lambda.tfvars.json"
    lambda_vars.write_text(json.dumps({"lambda_zip": str(zip_path)}))
    dep.serving_var_files = [base_vars, _register_model(dep.base, work), lambda_vars]
    dep.serving = dep.apply("serving")
    yield dep
    if not dep.destroyed:
        _destroy_all(dep)
    print(f"\nterraform timings (s) on the local stack: {dep.timings}")


def _destroy_all(dep: Deployment) -> None:
    dep.destroy("serving")
    purge = subprocess.run(
        [sys.executable, "-m", "settings.registry_purge"],
        env=dict(os.environ, OUTPUTS_DIR=str(dep.work)),
        capture_output=True,
        text=True,
    )
    assert purge.returncode == 0, purge.stderr
    assert "deleted 1 model package(s)" in purge.stdout
    dep.destroy("base")
    dep.destroyed = True


def test_project_buckets_are_encrypted_versioned_private_tls_only(deployment):
    s3 = boto3.client("s3")
    key_arn = deployment.base["kms_key_arn"]
    for output in ("data_bucket", "model_bucket", "capture_bucket"):
        bucket = deployment.base[output]
        assert bucket.startswith(f"{deployment.prefix}-")
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ][0]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        }
        assert rule["BucketKeyEnabled"] is True
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
        assert len(deny) == 1
        assert sorted(deny[0].pop("Resource")) == [
            f"arn:aws:s3:::{bucket}",
            f"arn:aws:s3:::{bucket}/*",
        ]
        assert deny[0] == {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        logging = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
        assert logging["TargetBucket"].startswith(f"{deployment.prefix}-access-logs-")
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert all(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1 for r in rules)
        assert any(r.get("NoncurrentVersionExpiration") for r in rules)


def test_capture_data_expires_and_stays_under_its_prefix(deployment):
    rules = boto3.client("s3").get_bucket_lifecycle_configuration(
        Bucket=deployment.base["capture_bucket"]
    )["Rules"]
    expiring = [r for r in rules if "Expiration" in r]
    assert len(expiring) == 1
    assert expiring[0]["Filter"]["Prefix"] == f"{deployment.base['capture_prefix']}/"
    assert expiring[0]["Expiration"]["Days"] == 30


def test_endpoint_config_captures_input_and_output_as_json(deployment):
    sagemaker = boto3.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=deployment.serving["endpoint_name"])
    assert endpoint["EndpointStatus"] == "InService"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert config["EndpointConfigName"] == deployment.serving["endpoint_config_name"]
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"] == deployment.serving["capture_s3_uri"]
    assert capture["DestinationS3Uri"] == (
        f"s3://{deployment.base['capture_bucket']}/{deployment.base['capture_prefix']}"
    )
    assert capture["CaptureOptions"] == [{"CaptureMode": "InputAndOutput"}]
    assert capture["CaptureContentTypeHeader"] == {"JsonContentTypes": ["application/json"]}
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.m5.large"
    assert variant["ModelName"] == deployment.serving["model_name"]
    model = sagemaker.describe_model(ModelName=deployment.serving["model_name"])
    package_arn = json.loads((deployment.work / "model.tfvars.json").read_text())
    assert model["PrimaryContainer"]["ModelPackageName"] == package_arn["model_package_arn"]


def test_endpoint_logs_have_retention_and_the_project_key(deployment):
    """The group SageMaker writes the endpoint's logs to is Terraform's, not created on first
    use (kept forever, without the project key, left behind by a destroy)."""
    name = f"/aws/sagemaker/Endpoints/{deployment.serving['endpoint_name']}"
    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(name, 365)]
    assert groups[0].get("kmsKeyId") == deployment.base["kms_key_arn"]


def test_endpoint_autoscales_on_invocations_per_instance(deployment):
    client = boto3.client("application-autoscaling")
    resource_id = f"endpoint/{deployment.serving['endpoint_name']}/variant/AllTraffic"
    targets = client.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id]
    )["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(1, 2)]
    policies = client.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource_id
    )["ScalingPolicies"]
    assert len(policies) == 1
    tracking = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )


def test_state_machines_are_the_rendered_asl_files(deployment):
    names = deployment.serving["lambda_function_names"]
    awslambda = boto3.client("lambda")
    arns = {
        key: awslambda.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        for key, name in names.items()
    }
    variables = {
        "serialize_function_arn": arns["serialize_image_data"],
        "classify_function_arn": arns["classify_image"],
        "filter_function_arn": arns["filter_inferences"],
        "summarize_function_arn": arns["summarize_batch"],
        "alert_topic_arn": deployment.base["alert_topic_arn"],
        "max_concurrency": 10,
    }
    sfn = boto3.client("stepfunctions")
    for output, file_name in STATE_MACHINES.items():
        described = sfn.describe_state_machine(stateMachineArn=deployment.serving[output])
        expected = definitions.render(definitions.ASL_DIR / file_name, variables)
        assert json.loads(described["definition"]) == expected  # Terraform's templatefile
        assert described["type"] == "STANDARD"
        assert described["loggingConfiguration"]["level"] == "ERROR"
        assert described["tracingConfiguration"] == {"enabled": True}


def test_lambdas_run_python312_with_the_workflow_environment(deployment):
    awslambda = boto3.client("lambda")
    for key, name in deployment.serving["lambda_function_names"].items():
        assert name.startswith(f"{deployment.prefix}-")
        config = awslambda.get_function_configuration(FunctionName=name)
        assert config["Runtime"] == "python3.12"
        assert config["Handler"] == f"lambdas.{key}.handler"
        environment = config["Environment"]["Variables"]
        assert json.loads(environment.pop("CLASS_LABELS")) == LABELS
        assert environment == {
            "ENDPOINT_NAME": deployment.serving["endpoint_name"],
            "THRESHOLD": "0.93",
        }
        assert config["TracingConfig"] == {"Mode": "Active"}
        retention = boto3.client("logs").describe_log_groups(
            logGroupNamePrefix=f"/aws/lambda/{name}"
        )["logGroups"]
        assert [g.get("retentionInDays") for g in retention] == [365]


def test_each_role_gets_only_what_it_uses(deployment):
    iam = boto3.client("iam")
    prefix = deployment.prefix

    def statements(role: str) -> dict[str, dict]:
        documents = [
            iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        assert not iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        return {s["Sid"]: s for d in documents for s in d["Statement"]}

    serialize = statements(f"{prefix}-serializeImageData-{REGION}")
    assert serialize["ReadImages"]["Action"] == "s3:GetObject"
    assert serialize["ReadImages"]["Resource"] == f"arn:aws:s3:::{deployment.base['data_bucket']}/*"
    classify = statements(f"{prefix}-classifyImage-{REGION}")
    endpoint_arn = boto3.client("sagemaker").describe_endpoint(
        EndpointName=deployment.serving["endpoint_name"]
    )["EndpointArn"]
    assert classify["InvokeEndpoint"]["Resource"] == endpoint_arn
    assert set(statements(f"{prefix}-filterInferences-{REGION}")) == {"WriteOwnLogs", "WriteTraces"}
    states = statements(f"{prefix}-states-{REGION}")
    assert states["PublishAlerts"]["Resource"] == deployment.base["alert_topic_arn"]
    invoked = set(states["InvokeWorkflowFunctions"]["Resource"])
    assert len(invoked) == 8
    assert all(f":function:{prefix}-" in arn for arn in invoked)
    for role_statements in (serialize, classify, states):
        for sid, statement in role_statements.items():
            if statement["Resource"] == "*":
                assert sid in ("WriteTraces", "DeliverExecutionLogs"), sid


def run_workflow(deployment, key: str) -> dict:
    """Run the deployed state machine on one image of the data bucket; its DescribeExecution."""
    sfn = boto3.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=deployment.serving["state_machine_arn"],
        input=json.dumps({"s3_bucket": deployment.base["data_bucket"], "s3_key": key}),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still running after 60 s"
        time.sleep(0.2)
    return described


def test_an_image_goes_through_the_deployed_workflow(deployment):
    bucket = deployment.base["data_bucket"]
    boto3.client("s3").put_object(Bucket=bucket, Key="test/bicycle/bright.png", Body=png(250))
    described = run_workflow(deployment, "test/bicycle/bright.png")
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"])["label"] == "bicycle"


def test_a_failed_execution_alerts_through_its_catch_path_and_the_eventbridge_rule(deployment):
    sqs = boto3.client("sqs")
    described = run_workflow(deployment, "test/bicycle/missing.png")
    execution = described["executionArn"]
    assert described["status"] == "FAILED"
    queue_url, alerts = deployment.base["alert_queue_url"], []
    deadline = time.monotonic() + 10
    while len(alerts) < 2 and time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            alerts.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    [caught] = [alert for alert in alerts if alert.get("execution_arn") == execution]
    [event] = [alert for alert in alerts if alert.get("source") == "aws.states"]
    assert caught["s3_key"] == "test/bicycle/missing.png"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert (event["detail"]["executionArn"], event["detail"]["status"]) == (execution, "FAILED")
    assert event["detail"]["error"] == described["error"]


def test_second_plan_of_each_root_is_empty(deployment):
    with ThreadPoolExecutor(max_workers=2) as pool:
        plans = dict(zip(ROOTS, pool.map(deployment.plan_exit_code, ROOTS)))
    for root, (code, text) in plans.items():
        assert code == 0, f"terraform/{root} plans changes after apply (exit {code}):\n{text}"


def test_destroy_leaves_nothing(deployment):
    _destroy_all(deployment)
    check = subprocess.run(
        [sys.executable, "-m", "settings.leftovers", "--prefix", deployment.prefix],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"nothing left: no resource named {deployment.prefix}-* exists" in check.stdout
