"""SageMaker on the local stack: real model servers, ModelError/ValidationError, data capture.

The model is a tiny torch network with its own ``inference.py``, packed by the test in
SageMaker's ``model.tar.gz`` layout; the capture files are compared with files a real endpoint
wrote (``tests/fixtures/capture/``).
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import tarfile
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config
from PIL import Image

from aws_constraints import shape_of
from local_aws import launcher
from loadtest.errors import LocalStackControlError
from loadtest.faults import endpoint_faults

pytestmark = pytest.mark.stack

GROUND_TRUTH = Path(__file__).resolve().parents[1] / "fixtures" / "capture"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-test"

INFERENCE_PY = """
import io
import json

import numpy as np
import torch
from PIL import Image


def model_fn(model_dir):
    model = torch.nn.Linear(3, 2)
    model.load_state_dict(torch.load(f"{model_dir}/model.pth", weights_only=True))
    return model.eval()


def input_fn(body, content_type):
    image = Image.open(io.BytesIO(body)).convert("RGB")
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(pixels.mean(axis=(0, 1))).unsqueeze(0)


def predict_fn(data, model):
    with torch.no_grad():
        return torch.softmax(model(data), dim=1)[0]


def output_fn(prediction, accept):
    return json.dumps(prediction.tolist())
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def png(seed: int) -> bytes:
    pixels = (np.random.default_rng(seed).random((32, 32, 3)) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[bytes, object]:
    """``(model.tar.gz bytes, inference module loaded here)`` to compute expected answers."""
    import torch

    work = tmp_path_factory.mktemp("model")
    (work / "code").mkdir()
    (work / "code" / "inference.py").write_text(INFERENCE_PY)
    torch.manual_seed(7)
    torch.save(torch.nn.Linear(3, 2).state_dict(), work / "model.pth")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        archive.add(work / "model.pth", arcname="model.pth")
        archive.add(work / "code" / "inference.py", arcname="code/inference.py")
    spec = importlib.util.spec_from_file_location("tiny_inference", work / "code" / "inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.loaded = module.model_fn(str(work))
    return out.getvalue(), module


def expected_output(module: object, body: bytes) -> list[float]:
    data = module.input_fn(body, "image/png")
    return json.loads(module.output_fn(module.predict_fn(data, module.loaded), "application/json"))


@pytest.fixture(scope="module")
def buckets(local_stack, model) -> dict[str, str]:
    s3 = boto3.client("s3")
    names = {"models": unique("models"), "capture": unique("capture")}
    for bucket in names.values():
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=names["models"], Key="run-1/model.tar.gz", Body=model[0])
    return names


def capture_config(bucket: str, percentage: int) -> dict:
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": percentage,
        "DestinationS3Uri": f"s3://{bucket}/datacapture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }


def create_endpoint(name: str, container: dict, data_capture: dict) -> str:
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        DataCaptureConfig=data_capture,
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    return name


@pytest.fixture(scope="module")
def endpoint(buckets) -> str:
    """An endpoint on ``ModelDataUrl`` capturing every invocation."""
    container = {
        "Image": "pytorch-inference:2.3-cpu-py311",
        "ModelDataUrl": f"s3://{buckets['models']}/run-1/model.tar.gz",
    }
    return create_endpoint(unique("tiny"), container, capture_config(buckets["capture"], 100))


def flush(url: str) -> None:
    request = urllib.request.Request(f"{url}/_local/flush", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def stats(url: str, endpoint_name: str) -> dict:
    with urllib.request.urlopen(f"{url}/_local/stats", timeout=10) as response:
        return json.loads(response.read())["endpoints"].get(endpoint_name, {})


def capture_objects(bucket: str, endpoint_name: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=f"datacapture/{endpoint_name}/"
    )
    return [item["Key"] for item in listed.get("Contents", [])]


def test_invoke_endpoint_answers_with_the_models_output(endpoint, model):
    runtime = boto3.client("sagemaker-runtime")
    for seed in range(3):
        body = png(seed)
        response = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="image/png", Body=body
        )
        assert response["ContentType"] == "application/json"
        assert response["InvokedProductionVariant"] == "AllTraffic"
        answer = json.loads(response["Body"].read())
        assert answer == pytest.approx(expected_output(model[1], body), abs=1e-6)


def test_accept_any_gets_the_default_type_and_is_captured_as_json(local_stack, endpoint, buckets):
    """The inference toolkit replaces ``Accept: */*`` (what curl and many HTTP clients send) by
    its default, application/json: that is the answer's type, and the capture's output type."""
    runtime = boto3.client("sagemaker-runtime")
    inference_id = unique("accept-any")
    response = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="image/png",
        Accept="*/*",
        Body=png(20),
        InferenceId=inference_id,
    )
    assert response["ContentType"] == "application/json"
    answer = response["Body"].read().decode()
    flush(local_stack)
    s3 = boto3.client("s3")
    records = [
        json.loads(line)
        for key in capture_objects(buckets["capture"], endpoint)
        for line in s3.get_object(Bucket=buckets["capture"], Key=key)["Body"].read().splitlines()
    ]
    mine = [r for r in records if r["eventMetadata"].get("inferenceId") == inference_id]
    assert len(mine) == 1
    assert mine[0]["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json",
        "mode": "OUTPUT",
        "data": answer,
        "encoding": "JSON",
    }


def test_an_error_in_inference_py_is_a_model_error_with_its_message(endpoint):
    runtime = boto3.client("sagemaker-runtime")
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=b"not a png")
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 500
    assert "cannot identify image file" in response["OriginalMessage"]
    assert "cannot identify image file" in response["Error"]["Message"]
    # The endpoint's log group, in the endpoint's region, as SageMaker names it.
    region = boto3.session.Session().region_name
    log_group = f"log-group:/aws/sagemaker/Endpoints/{endpoint}"
    assert response["LogStreamArn"] == f"arn:aws:logs:{region}:123456789012:{log_group}"


def test_an_unknown_endpoint_is_a_validation_error(local_stack):
    runtime = boto3.client("sagemaker-runtime")
    with pytest.raises(runtime.exceptions.ValidationError) as raised:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="image/png", Body=b"x")
    assert "no-such-endpoint" in raised.value.response["Error"]["Message"]


def test_a_body_over_6_mib_is_refused_with_413_before_the_model_runs(local_stack, endpoint):
    """InvokeEndpoint's Body is at most 6 MiB (its service model): SageMaker's front end answers
    a larger one with HTTP 413 and a plain-text message, no error code, and invokes nothing."""
    limit = shape_of("sagemaker-runtime", "InvokeEndpoint", "Body").metadata["max"]
    runtime = boto3.client("sagemaker-runtime")
    before = stats(local_stack, endpoint).get("invocations", 0)
    with pytest.raises(runtime.exceptions.ClientError) as raised:
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="image/png", Body=b"\0" * (limit + 1)
        )
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert response["Error"] == {
        "Code": "413",
        "Message": f"HTTP content length exceeded {limit} bytes.",
    }
    assert stats(local_stack, endpoint).get("invocations", 0) == before
    # A body of exactly the limit reaches the model (which cannot read it as an image).
    with pytest.raises(runtime.exceptions.ModelError):
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=b"\0" * limit)
    assert stats(local_stack, endpoint)["invocations"] == before + 1


def test_an_inference_id_outside_the_api_constraints_is_a_validation_error(
    local_stack, endpoint, buckets
):
    """InferenceId is 1-64 characters, pattern \\A\\S[\\p{Print}]*\\z (botocore checks neither
    the maximum nor the pattern; SageMaker refuses the call): nothing is invoked or captured.
    The classify Lambda shapes its ids to fit; locally too, an id that does not is refused."""
    runtime = boto3.client("sagemaker-runtime")
    before = stats(local_stack, endpoint)
    refused = {"x" * 65: "length less than or equal to 64", "tab\there": "regular expression"}
    for inference_id, constraint in refused.items():
        with pytest.raises(runtime.exceptions.ValidationError) as raised:
            runtime.invoke_endpoint(
                EndpointName=endpoint,
                ContentType="image/png",
                Body=png(30),
                InferenceId=inference_id,
            )
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        message = raised.value.response["Error"]["Message"]
        assert "at 'inferenceId' failed to satisfy constraint" in message
        assert constraint in message
    assert stats(local_stack, endpoint).get("invocations") == before.get("invocations")

    longest = "y" * 63 + uuid.uuid4().hex[0]  # 64 characters: accepted and captured as sent
    runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="image/png", Body=png(30), InferenceId=longest
    )
    flush(local_stack)
    s3 = boto3.client("s3")
    ids = [
        json.loads(line)["eventMetadata"].get("inferenceId")
        for key in capture_objects(buckets["capture"], endpoint)
        for line in s3.get_object(Bucket=buckets["capture"], Key=key)["Body"].read().splitlines()
    ]
    assert ids.count(longest) == 1
    assert not set(refused) & set(ids)


def test_capture_is_written_as_sagemaker_writes_it(local_stack, endpoint, buckets):
    runtime = boto3.client("sagemaker-runtime")
    sent = {}
    for seed, inference_id in ((10, "test/bicycle/img-10.png"), (11, None)):
        body = png(seed)
        options = {"InferenceId": inference_id} if inference_id else {}
        response = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="image/png", Body=body, **options
        )
        sent[base64.b64encode(body).decode()] = (inference_id, response["Body"].read().decode())
    flush(local_stack)

    keys = capture_objects(buckets["capture"], endpoint)
    assert keys, "no capture file after flush"
    pattern = rf"datacapture/{endpoint}/AllTraffic/\d{{4}}/\d\d/\d\d/\d\d/\d\d-\d\d-\d{{3}}-[0-9a-f-]{{36}}\.jsonl"
    for key in keys:
        assert re.fullmatch(pattern, key), key
    for truth in GROUND_TRUTH.glob("*.jsonl"):  # the names real files have, for comparison
        assert re.fullmatch(r"\d\d-\d\d-\d{3}-[0-9a-f-]{36}\.jsonl", truth.name)

    truth_line = next(GROUND_TRUTH.glob("*.jsonl")).read_text().splitlines()[0]
    truth = json.loads(truth_line)
    lines = []
    for key in keys:
        text = boto3.client("s3").get_object(Bucket=buckets["capture"], Key=key)["Body"].read()
        assert text.endswith(b"\n")
        lines += text.decode().splitlines()
    records = [json.loads(line) for line in lines]
    mine = [r for r in records if r["captureData"]["endpointInput"]["data"] in sent]
    assert len(mine) == len(sent) == 2  # each invocation captured exactly once
    for line, record in zip(lines, records):
        # Same layout as the real files: key order, compact separators, field names.
        assert json.dumps(record, separators=(",", ":")) == line
        assert list(record) == list(truth)
        assert list(record["captureData"]) == list(truth["captureData"])
        for part in ("endpointInput", "endpointOutput"):
            assert list(record["captureData"][part]) == list(truth["captureData"][part])
            assert record["captureData"][part]["mode"] == truth["captureData"][part]["mode"]
        assert record["eventVersion"] == truth["eventVersion"]
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["eventMetadata"]["inferenceTime"]
        )
    for record in mine:
        captured_in = record["captureData"]["endpointInput"]
        captured_out = record["captureData"]["endpointOutput"]
        inference_id, answer = sent[captured_in["data"]]
        assert (captured_in["observedContentType"], captured_in["encoding"]) == (
            "image/png",
            "BASE64",
        )
        assert (captured_out["observedContentType"], captured_out["encoding"]) == (
            truth["captureData"]["endpointOutput"]["observedContentType"],
            truth["captureData"]["endpointOutput"]["encoding"],
        )
        assert captured_out["data"] == answer
        metadata = record["eventMetadata"]
        if inference_id:
            assert list(metadata) == ["eventId", "inferenceId", "inferenceTime"]
            assert metadata["inferenceId"] == inference_id
        else:
            assert list(metadata) == list(truth["eventMetadata"]) == ["eventId", "inferenceTime"]
        uuid.UUID(metadata["eventId"])


def test_a_model_package_endpoint_with_zero_sampling_captures_nothing(local_stack, buckets, model):
    sagemaker = boto3.client("sagemaker")
    group = unique("group")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "pytorch-inference:2.3-cpu-py311",
                    "ModelDataUrl": f"s3://{buckets['models']}/run-1/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["image/png"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    name = create_endpoint(
        unique("packaged"), {"ModelPackageName": package}, capture_config(buckets["capture"], 0)
    )
    runtime = boto3.client("sagemaker-runtime")
    for seed in range(5):
        body = png(seed)
        response = runtime.invoke_endpoint(EndpointName=name, ContentType="image/png", Body=body)
        assert json.loads(response["Body"].read()) == pytest.approx(
            expected_output(model[1], body), abs=1e-6
        )
    flush(local_stack)
    assert capture_objects(buckets["capture"], name) == []
    seen = stats(local_stack, name)
    assert (seen["invocations"], seen["succeeded"], seen["captured"]) == (5, 5, 0)


def test_approving_a_package_by_hand_keeps_what_the_request_leaves_out(local_stack):
    """As on AWS, UpdateModelPackage changes only the fields it names: a package registered as
    PendingManualApproval and approved by hand keeps its labels, so ``make deploy`` can use it."""
    from train import registry

    group = unique("group")
    pending = registry.register(
        group=group,
        model_data_url="s3://models/run/model.tar.gz",
        evaluation_url="s3://models/run/evaluation.json",
        labels=["bicycle", "motorcycle"],
        accuracy=0.85,
        threshold=0.9,
    )
    assert pending.status == "PendingManualApproval"
    sagemaker = boto3.client("sagemaker")
    sagemaker.update_model_package(
        ModelPackageArn=pending.arn,
        ModelApprovalStatus="Approved",
        ApprovalDescription="checked by hand",
    )
    assert registry.latest_approved(group)["class_labels"] == ["bicycle", "motorcycle"]

    sagemaker.update_model_package(
        ModelPackageArn=pending.arn,
        CustomerMetadataProperties={"reviewer": "ops"},
        CustomerMetadataPropertiesToRemove=["test_accuracy"],
    )
    described = sagemaker.describe_model_package(ModelPackageName=pending.arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "checked by hand"
    assert described["CustomerMetadataProperties"] == {
        "labels": "bicycle motorcycle",
        "reviewer": "ops",
    }


def test_injected_faults_fail_or_stall_calls_until_switched_off(local_stack, endpoint):
    # No SDK retries: each call must draw exactly one fault.
    runtime = boto3.client("sagemaker-runtime", config=Config(retries={"total_max_attempts": 1}))
    control = f"{local_stack}/_local/faults"

    def set_rate(rate: float) -> None:
        body = json.dumps({"endpoint_name": endpoint, "rate": rate}).encode()
        urllib.request.urlopen(urllib.request.Request(control, data=body, method="POST"))

    before = stats(local_stack, endpoint)
    set_rate(1.0)
    outcomes = []
    try:
        for seed in range(6):
            started = time.monotonic()
            try:
                runtime.invoke_endpoint(
                    EndpointName=endpoint, ContentType="image/png", Body=png(seed)
                )
                outcomes.append(("stalled", time.monotonic() - started))
            except runtime.exceptions.ModelError as err:
                assert "Injected fault" in err.response["Error"]["Message"]
                outcomes.append(("model_error", 0.0))
            except runtime.exceptions.ServiceUnavailable:
                outcomes.append(("service_unavailable", 0.0))
    finally:
        set_rate(0.0)
    after = stats(local_stack, endpoint)
    # An endpoint that was never called has no counters yet.
    injected = {k: after["faults"][k] - before.get("faults", {}).get(k, 0) for k in after["faults"]}
    assert sum(injected.values()) == 6
    for kind in ("model_error", "service_unavailable"):
        assert injected[kind] == sum(1 for outcome, _ in outcomes if outcome == kind)
    assert injected["stall"] == sum(1 for outcome, _ in outcomes if outcome == "stalled")
    assert all(seconds >= 0.2 for outcome, seconds in outcomes if outcome == "stalled")
    response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=png(0))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_faults_switched_on_with_the_same_seed_are_the_same(local_stack, endpoint):
    """The load test's request (``loadtest.faults``) with a seed: the n-th call of the endpoint
    gets the same fault, or none, every time; another seed draws others."""
    runtime = boto3.client("sagemaker-runtime", config=Config(retries={"total_max_attempts": 1}))

    def injected(seed: int) -> list[str | None]:
        kinds = []
        with endpoint_faults(local_stack, endpoint, 0.5, seed):
            for n in range(10):
                before = stats(local_stack, endpoint).get("faults", {})
                try:
                    runtime.invoke_endpoint(
                        EndpointName=endpoint, ContentType="image/png", Body=png(n)
                    )
                except (runtime.exceptions.ModelError, runtime.exceptions.ServiceUnavailable):
                    pass
                after = stats(local_stack, endpoint)["faults"]
                changed = [kind for kind, count in after.items() if count != before.get(kind, 0)]
                assert len(changed) <= 1
                kinds.append(changed[0] if changed else None)
        return kinds

    first = injected(4)
    assert injected(4) == first
    assert set(first) == {None, "model_error", "service_unavailable", "stall"}
    assert injected(5) != first


def test_a_model_that_cannot_load_fails_the_endpoint_with_the_reason(local_stack, buckets):
    broken = io.BytesIO()
    with tarfile.open(fileobj=broken, mode="w:gz") as archive:
        code = b"def model_fn(model_dir):\n    raise RuntimeError('weights missing')\n\n"
        code += b"input_fn = predict_fn = output_fn = print\n"
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(code)
        archive.addfile(info, io.BytesIO(code))
    boto3.client("s3").put_object(
        Bucket=buckets["models"], Key="broken/model.tar.gz", Body=broken.getvalue()
    )
    container = {
        "Image": "pytorch-inference",
        "ModelDataUrl": f"s3://{buckets['models']}/broken/model.tar.gz",
    }
    name = create_endpoint(unique("broken"), container, capture_config(buckets["capture"], 0))
    runtime = boto3.client("sagemaker-runtime")
    with pytest.raises(runtime.exceptions.ValidationError) as raised:
        runtime.invoke_endpoint(EndpointName=name, ContentType="image/png", Body=png(0))
    assert "RuntimeError: weights missing" in raised.value.response["Error"]["Message"]
    described = boto3.client("sagemaker").describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Failed"
    assert "RuntimeError: weights missing" in described["FailureReason"]


def test_a_failed_switch_off_is_reported_and_never_hides_the_blocks_error(tmp_path):
    """Faults are switched on, then the stack goes away inside the block, so switching them off
    fails: that error is raised, or handed to ``on_switch_off_error`` (the load test keeps its
    records and names the phase); an error raised in the block itself is the one that escapes."""
    port = launcher.free_port()
    url = f"http://127.0.0.1:{port}"

    def stack_gone_inside(fail: bool = False, **options) -> None:
        process, _ = launcher.start(port, tmp_path / "stack.log", timeout_s=60.0)
        try:
            with endpoint_faults(url, "any-endpoint", 0.5, seed=1, **options):
                launcher.stop(process)
                if fail:
                    raise RuntimeError("the block failed")
        finally:
            if process.poll() is None:
                launcher.stop(process)

    with pytest.raises(LocalStackControlError, match=f"POST {url}/_local/faults failed"):
        stack_gone_inside()
    reported: list[LocalStackControlError] = []
    stack_gone_inside(on_switch_off_error=reported.append)
    assert len(reported) == 1 and f"{url}/_local/faults" in str(reported[0])
    with pytest.raises(RuntimeError, match="the block failed"):
        stack_gone_inside(on_switch_off_error=reported.append, fail=True)
    assert len(reported) == 1
