"""Deploy the real workflow to the local stack with plain boto3, as ``make deploy`` would.

What is real: the ASL files of ``asl/`` (rendered by ``monitor.definitions``, as Terraform's
``templatefile`` renders them), the Lambda zip built by ``lambdas.package``, Lambda/Step
Functions/SNS/SQS/S3/SageMaker resources created through the stack's AWS APIs, and the
endpoint's data capture. What is small: the model, a ``model.tar.gz`` whose
``code/inference.py`` scores an image by its brightness (bright -> first label, dark -> second
label, grey -> low confidence), so that tests choose the outcome of each image by its pixels
and need no training.

``deploy_workflow`` returns the serving outputs (the names ``terraform/serving`` outputs) and
``write_outputs`` stores them where ``settings.outputs`` reads them.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
from PIL import Image

from lambdas.package import build as build_lambda_zip
from monitor import definitions

LABELS = ["bicycle", "motorcycle"]
ACCOUNT = "123456789012"
REGION = "us-east-1"
INSTANCE_TYPE = "ml.m5.large"
LAMBDA_MEMORY_MB = 256

INFERENCE_PY = '''\
"""Brightness model: p(first label) = mean grey level of the image (0..1)."""
import io
import json
from pathlib import Path

from PIL import Image


def model_fn(model_dir):
    return json.loads((Path(model_dir) / "labels.json").read_text())


def input_fn(body, content_type):
    if content_type not in ("application/x-image", "image/png", "image/jpeg"):
        raise ValueError(f"unsupported content type {content_type}")
    return Image.open(io.BytesIO(body)).convert("L")


def predict_fn(image, labels):
    pixels = list(image.getdata())
    bright = sum(pixels) / (255.0 * len(pixels))
    rest = (1.0 - bright) / (len(labels) - 1)
    return [bright] + [rest] * (len(labels) - 1)


def output_fn(prediction, accept):
    return json.dumps(prediction)
'''


def png(grey: int, size: int = 32) -> bytes:
    """A uniform grey PNG: 250 -> first label (0.98), 5 -> second label, 128 -> low confidence."""
    out = io.BytesIO()
    Image.new("RGB", (size, size), (grey, grey, grey)).save(out, format="PNG")
    return out.getvalue()


def brightness_model_tar(labels: list[str] = LABELS) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, text in (
            ("labels.json", json.dumps(labels)),
            ("code/inference.py", INFERENCE_PY),
        ):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass
class Deployed:
    """The serving outputs plus what tests need beyond them (alert queue, test image keys)."""

    outputs: dict
    alert_queue_url: str
    test_keys: list[str]


def _role(iam, name: str, service: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def deploy_workflow(
    work_dir: Path,
    test_images: dict[str, bytes],
    threshold: float = 0.93,
    max_concurrency: int = 10,
    model_tar: bytes | None = None,
) -> Deployed:
    """Create buckets, data, model, endpoint (capture 100 %), Lambdas, alerts, state machines.

    ``test_images`` maps ``test/<class>/<name>.png`` keys to PNG bytes; they are uploaded with a
    ``test.lst`` listing them (label = index of the class folder in ``LABELS``). ``model_tar``
    replaces the brightness model (a ``model.tar.gz`` from training, say). Every name gets a
    fresh suffix, so several deployments can share one stack.
    """
    suffix = uuid.uuid4().hex[:8]
    prefix = f"scones-{suffix}"
    s3 = boto3.client("s3")
    iam = boto3.client("iam")
    awslambda = boto3.client("lambda")
    sfn = boto3.client("stepfunctions")
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    sagemaker = boto3.client("sagemaker")

    data_bucket, model_bucket, capture_bucket = (
        f"{prefix}-data",
        f"{prefix}-models",
        f"{prefix}-capture",
    )
    for bucket in (data_bucket, model_bucket, capture_bucket):
        s3.create_bucket(Bucket=bucket)
    lines = []
    for index, (key, body) in enumerate(sorted(test_images.items())):
        s3.put_object(Bucket=data_bucket, Key=key, Body=body, ContentType="image/png")
        lines.append(f"{index}\t{LABELS.index(key.split('/')[1])}\t{key}")
    s3.put_object(Bucket=data_bucket, Key="test.lst", Body="\n".join(lines) + "\n")
    s3.put_object(Bucket=data_bucket, Key="labels.json", Body=json.dumps(LABELS))

    # Alerts: SNS topic -> SQS queue, as terraform/base sets them up.
    topic_arn = sns.create_topic(Name=f"{prefix}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{prefix}-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )

    # The endpoint, with data capture of every call.
    s3.put_object(Bucket=model_bucket, Key="model.tar.gz", Body=model_tar or brightness_model_tar())
    sagemaker_role = _role(iam, f"{prefix}-sagemaker", "sagemaker.amazonaws.com")
    model_name, config_name, endpoint_name = (
        f"{prefix}-model",
        f"{prefix}-config",
        f"{prefix}-endpoint",
    )
    sagemaker.create_model(
        ModelName=model_name,
        ExecutionRoleArn=sagemaker_role,
        PrimaryContainer={
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
            "ModelDataUrl": f"s3://{model_bucket}/model.tar.gz",
        },
    )
    capture_s3_uri = f"s3://{capture_bucket}/datacapture"
    sagemaker.create_endpoint_config(
        EndpointConfigName=config_name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InitialInstanceCount": 1,
                "InstanceType": INSTANCE_TYPE,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": capture_s3_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    )
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)

    # The Lambdas, from the real zip, with the environment Terraform gives them.
    zip_path = work_dir / "lambdas.zip"
    build_lambda_zip(zip_path)
    lambda_role = _role(iam, f"{prefix}-lambda", "lambda.amazonaws.com")
    environment = {
        "ENDPOINT_NAME": endpoint_name,
        "THRESHOLD": str(threshold),
        "CLASS_LABELS": json.dumps(LABELS),
    }
    handlers = {
        "serialize": ("serializeImageData", "lambdas.serialize_image_data.handler", 15),
        "classify": ("classifyImage", "lambdas.classify_image.handler", 30),
        "filter": ("filterInferences", "lambdas.filter_inferences.handler", 10),
        "summarize": ("summarizeBatch", "lambdas.summarize_batch.handler", 10),
    }
    arns, names = {}, {}
    for key, (function, handler, timeout) in handlers.items():
        name = f"{prefix}-{function}"
        arns[key] = awslambda.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=lambda_role,
            Handler=handler,
            Code={"ZipFile": zip_path.read_bytes()},
            Timeout=timeout,
            MemorySize=LAMBDA_MEMORY_MB,
            Environment={"Variables": environment},
        )["FunctionArn"]
        names[key] = name

    # The state machines from asl/.
    states_role = _role(iam, f"{prefix}-states", "states.amazonaws.com")
    variables = {
        "serialize_function_arn": arns["serialize"],
        "classify_function_arn": arns["classify"],
        "filter_function_arn": arns["filter"],
        "summarize_function_arn": arns["summarize"],
        "alert_topic_arn": topic_arn,
        "max_concurrency": max_concurrency,
    }
    machines = {}
    for key, file_name in (("single", "classify_image"), ("batch", "classify_batch")):
        machines[key] = sfn.create_state_machine(
            name=f"{prefix}-{file_name.replace('_', '-')}",
            definition=json.dumps(
                definitions.render(definitions.ASL_DIR / f"{file_name}.asl.json", variables)
            ),
            roleArn=states_role,
            type="STANDARD",
        )["stateMachineArn"]

    outputs = {
        "endpoint_name": endpoint_name,
        "endpoint_config_name": config_name,
        "model_name": model_name,
        "state_machine_arn": machines["single"],
        "batch_state_machine_arn": machines["batch"],
        "alert_topic_arn": topic_arn,
        "data_bucket": data_bucket,
        "capture_s3_uri": capture_s3_uri,
        "lambda_function_names": {
            "serialize_image_data": names["serialize"],
            "classify_image": names["classify"],
            "filter_inferences": names["filter"],
            "summarize_batch": names["summarize"],
        },
    }
    return Deployed(outputs=outputs, alert_queue_url=queue_url, test_keys=sorted(test_images))


def write_outputs(outputs_dir: Path, root: str, values: dict) -> Path:
    """``<outputs_dir>/<root>.outputs.json`` in ``terraform output -json`` form."""
    outputs_dir.mkdir(parents=True, exist_ok=True)
    document = {
        name: {"value": value, "type": "string", "sensitive": False}
        for name, value in values.items()
    }
    path = outputs_dir / f"{root}.outputs.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def drain_queue(queue_url: str) -> list[dict]:
    """Every message now in the alert queue (parsed JSON bodies), removed from it."""
    sqs = boto3.client("sqs")
    messages = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
