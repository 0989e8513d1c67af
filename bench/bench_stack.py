"""Benchmark of the local AWS stack (``make bench-stack``): startup, InvokeEndpoint, executions.

Starts its own stack on a free port (the same ``python -m local_aws serve`` that ``make up``
starts), so it never touches a stack on 4566 or the local Terraform state, and prints:

- startup: seconds from process start to a healthy ``/_local/health`` (median of 3 starts);
- InvokeEndpoint of a 32x32 PNG with a small CNN (model.tar.gz built here, data capture on at
  100%): p50/p95 of one client calling in a loop, then p50/p95 and requests/s of 8 concurrent
  clients;
- a 3-Lambda state machine (read the image from S3 -> call the endpoint -> threshold; handlers
  zipped here): p50/p95 of single executions (start to stop, as Step Functions records them),
  then executions/s sustained by 16 concurrent clients (each starts an execution and waits for it:
  a first DescribeExecution when a typical execution has ended, then polls with back-off);
- for both concurrent phases, the CPU time per call of the stack (its process and all workers)
  and of this client: on a shared machine latency depends on the neighbours, CPU time much less.

Targets (2-core VM): startup <= 5 s; InvokeEndpoint p50 <= 5 ms and >= 300 req/s with 8 clients;
execution p50 <= 150 ms and >= 50 executions/s at concurrency 16. (The p50 targets are those
of one client: with 8 clients in flight, 300 requests/s means 27 ms per request by Little's law.)
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Callable

import boto3
import numpy as np
import psutil
from botocore.config import Config
from PIL import Image
from tqdm import tqdm

from local_aws import launcher

REPO = Path(__file__).resolve().parents[1]
# Waiting for an execution: the first DescribeExecution goes out when a typical execution of the
# phase has ended (the median of the latest ones), then polls back off from POLL_S to MAX_POLL_S.
# Each poll costs the client and the stack CPU that the executions need on two shared cores: a
# fixed schedule would either poll a loaded stack several times per execution or add idle time.
POLL_S = 0.02
MAX_POLL_S = 0.25
RECENT = 50  # latencies behind the "typical execution" estimate
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}

INFERENCE_PY = """
import io
import json

import numpy as np
import psutil
import torch
from PIL import Image
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(32 * 8 * 8, 2)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def model_fn(model_dir):
    torch.set_num_threads(1)  # as the project's inference.py: one request is too small to split
    model = Net()
    model.load_state_dict(torch.load(f"{model_dir}/model.pth", weights_only=True))
    return model.eval()


def input_fn(body, content_type):
    image = Image.open(io.BytesIO(body)).convert("RGB")
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def predict_fn(data, model):
    with torch.inference_mode():
        return torch.softmax(model(data), dim=1)[0]


def output_fn(prediction, accept):
    return json.dumps(prediction.tolist())
"""

HANDLERS_PY = """
import base64
import json
import os

import boto3

s3 = boto3.client("s3")
runtime = boto3.client("sagemaker-runtime")


def serialize(event, context):
    body = s3.get_object(Bucket=event["s3_bucket"], Key=event["s3_key"])["Body"].read()
    return {"image_data": base64.b64encode(body).decode(), "s3_key": event["s3_key"]}


def classify(event, context):
    response = runtime.invoke_endpoint(
        EndpointName=os.environ["ENDPOINT_NAME"],
        ContentType="image/png",
        Body=base64.b64decode(event["image_data"]),
        InferenceId=event["s3_key"],
    )
    return {"s3_key": event["s3_key"], "inferences": json.loads(response["Body"].read())}


class LowConfidence(Exception):
    pass


def filter(event, context):
    if max(event["inferences"]) < float(os.environ["THRESHOLD"]):
        raise LowConfidence(str(event["inferences"]))
    return event
"""


def start_stack(log_path: Path) -> tuple[subprocess.Popen, int, float]:
    """Start the stack as ``make up`` does, on a free port; the port and seconds until it
    answers."""
    started = time.monotonic()
    process, _, port = launcher.start_on_free_port(log_path, timeout_s=60)
    return process, port, time.monotonic() - started


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def model_tarball(work: Path) -> bytes:
    import torch

    code = work / "code"
    code.mkdir()
    (code / "inference.py").write_text(INFERENCE_PY)
    sys.path.insert(0, str(code))
    from inference import Net  # noqa: E402  (the module written just above)

    torch.manual_seed(0)
    torch.save(Net().state_dict(), work / "model.pth")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(work / "model.pth", arcname="model.pth")
        archive.add(code / "inference.py", arcname="code/inference.py")
    return buffer.getvalue()


def png_bytes(seed: int) -> bytes:
    pixels = (np.random.default_rng(seed).random((32, 32, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class CpuMeter:
    """CPU seconds used by the stack's process, its Lambda workers, its model servers and this client.

    On a shared machine the latency figures depend on what else runs; CPU time per call does
    much less, and bounds what two idle cores could do. The split says where to look: the stack
    process runs moto and the Step Functions interpreter under one GIL, so its share bounds the
    rate on its own.
    """

    PARTS = ("stack process", "Lambda workers", "model servers", "client")

    def __init__(self, stack_pid: int) -> None:
        self._stack = psutil.Process(stack_pid)
        self._client = psutil.Process()

    @staticmethod
    def _seconds(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def read(self) -> dict[str, float]:
        seconds = dict.fromkeys(self.PARTS, 0.0)
        seconds["stack process"] = self._seconds(self._stack)
        seconds["client"] = self._seconds(self._client)
        for child in self._stack.children(recursive=True):
            try:
                command = " ".join(child.cmdline())
                used = self._seconds(child)
            except psutil.NoSuchProcess:
                continue
            part = "Lambda workers" if "lambda_worker" in command else "model servers"
            seconds[part] += used
        return seconds

    def report(self, before: dict[str, float], calls: int, what: str) -> None:
        now = self.read()
        used = {part: max(0.0, now[part] - before[part]) / calls for part in self.PARTS}
        split = ", ".join(f"{part} {used[part] * 1000:.2f} ms" for part in self.PARTS)
        print(
            f"  CPU per {what}: {split} (at this machine's load); two cores at that cost: "
            f"{2 / sum(used.values()):.0f}/s"
        )


def run_concurrently(clients: int, duration_s: float, call: Callable[[], float]) -> list[float]:
    """``clients`` threads calling ``call`` (which returns its latency) for ``duration_s``."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s

    def loop() -> None:
        mine = []
        while time.monotonic() < deadline:
            mine.append(call())
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    with tqdm(total=int(duration_s), desc=f"{clients} clients", unit="s", leave=False) as bar:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            time.sleep(1)
            bar.update(1)
    for thread in threads:
        thread.join()
    return latencies


def deploy(session: boto3.session.Session, url: str, work: Path) -> tuple[str, bytes]:
    """Buckets, model, endpoint (capture on), three Lambdas and the state machine."""
    s3 = session.client("s3", endpoint_url=url)
    for bucket in ("bench-data", "bench-models", "bench-capture"):
        s3.create_bucket(Bucket=bucket)
    image = png_bytes(0)
    s3.put_object(Bucket="bench-data", Key="test/image.png", Body=image)
    s3.put_object(Bucket="bench-models", Key="model.tar.gz", Body=model_tarball(work))
    role = session.client("iam", endpoint_url=url).create_role(
        RoleName="bench", AssumeRolePolicyDocument=json.dumps(ROLE_POLICY)
    )["Role"]["Arn"]
    sagemaker = session.client("sagemaker", endpoint_url=url)
    sagemaker.create_model(
        ModelName="bench",
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": "pytorch-inference",
            "ModelDataUrl": "s3://bench-models/model.tar.gz",
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="bench",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "bench",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://bench-capture/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    )
    sagemaker.create_endpoint(EndpointName="bench", EndpointConfigName="bench")

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handlers.py", HANDLERS_PY)
    lambdas = session.client("lambda", endpoint_url=url)
    arns = {}
    for name in ("serialize", "classify", "filter"):
        arns[name] = lambdas.create_function(
            FunctionName=f"bench-{name}",
            Runtime="python3.11",
            Role=role,
            Handler=f"handlers.{name}",
            Code={"ZipFile": archive.getvalue()},
            Timeout=10,
            Environment={"Variables": {"ENDPOINT_NAME": "bench", "THRESHOLD": "0.0"}},
        )["FunctionArn"]
    definition = {
        "StartAt": "Serialize",
        "States": {
            "Serialize": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arns["serialize"], "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Next": "Classify",
            },
            "Classify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arns["classify"], "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Next": "Filter",
            },
            "Filter": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arns["filter"], "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "End": True,
            },
        },
    }
    machine = session.client("stepfunctions", endpoint_url=url).create_state_machine(
        name="bench", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    return machine, image


def bench_endpoint(
    session: boto3.session.Session, url: str, image: bytes, seconds: float, meter: CpuMeter
) -> None:
    config = Config(max_pool_connections=16, retries={"mode": "standard", "max_attempts": 1})
    runtime = session.client("sagemaker-runtime", endpoint_url=url, config=config)

    def call() -> float:
        started = time.perf_counter()
        response = runtime.invoke_endpoint(
            EndpointName="bench", ContentType="image/png", Body=image
        )
        response["Body"].read()
        return time.perf_counter() - started

    deadline = time.monotonic() + 300
    while True:  # the model loads in the background after CreateEndpoint
        try:
            call()
            break
        except runtime.exceptions.ValidationError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    for _ in range(100):
        call()
    sequential = [call() for _ in range(500)]
    p50, p95 = percentiles(sequential)
    print(f"InvokeEndpoint, 1 client:   p50 {p50 * 1000:.2f} ms  p95 {p95 * 1000:.2f} ms")
    started, cpu_before = time.monotonic(), meter.read()
    latencies = run_concurrently(8, seconds, call)
    rate = len(latencies) / (time.monotonic() - started)
    p50, p95 = percentiles(latencies)
    print(
        f"InvokeEndpoint, 8 clients:  p50 {p50 * 1000:.2f} ms  p95 {p95 * 1000:.2f} ms  "
        f"{rate:.0f} requests/s"
    )
    meter.report(cpu_before, len(latencies), "InvokeEndpoint")


def bench_executions(
    session: boto3.session.Session,
    url: str,
    machine: str,
    seconds: float,
    meter: CpuMeter,
) -> None:
    config = Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 1})
    sfn = session.client("stepfunctions", endpoint_url=url, config=config)
    event = json.dumps({"s3_bucket": "bench-data", "s3_key": "test/image.png"})
    failures: list[str] = []
    recent: collections.deque[float] = collections.deque([POLL_S], maxlen=RECENT)

    def run() -> float:
        arn = sfn.start_execution(stateMachineArn=machine, input=event)["executionArn"]
        wait, backoff = max(POLL_S, statistics.median(recent)), POLL_S
        while True:
            time.sleep(wait)
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                break
            wait, backoff = backoff, min(MAX_POLL_S, backoff * 1.5)
        if described["status"] != "SUCCEEDED":
            failures.append(f"{described['status']}: {described.get('error')}")
        latency = (described["stopDate"] - described["startDate"]).total_seconds()
        recent.append(latency)
        return latency

    for _ in range(20):
        run()
    single = [run() for _ in range(100)]
    p50, p95 = percentiles(single)
    print(f"Execution, 1 at a time:     p50 {p50 * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms")
    # Warm-up at full concurrency: the Lambda worker pools grow to what 16 clients need (cold
    # starts, as on AWS), then the sustained rate is measured.
    run_concurrently(16, min(5.0, seconds), run)
    started, cpu_before = time.monotonic(), meter.read()
    latencies = run_concurrently(16, seconds, run)
    rate = len(latencies) / (time.monotonic() - started)
    p50, p95 = percentiles(latencies)
    print(
        f"Execution, concurrency 16:  p50 {p50 * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms  "
        f"{rate:.1f} executions/s"
    )
    meter.report(cpu_before, len(latencies), "execution")
    if failures:
        raise SystemExit(f"{len(failures)} executions failed, first: {failures[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of concurrent phases")
    parser.add_argument("--starts", type=int, default=3, help="stack starts timed for startup")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    session = boto3.session.Session(region_name="us-east-1")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        work = Path(tmp)
        log_path = work / "stack.log"
        startups = []
        for _ in range(args.starts):
            process, _, seconds = start_stack(log_path)
            launcher.stop(process)
            startups.append(seconds)
        print(
            f"startup to healthy:         median {statistics.median(startups):.2f} s "
            f"(runs: {', '.join(f'{s:.2f}' for s in startups)})"
        )
        process, port, _ = start_stack(log_path)
        url = f"http://127.0.0.1:{port}"
        try:
            machine, image = deploy(session, url, work)
            meter = CpuMeter(process.pid)
            bench_endpoint(session, url, image, args.seconds, meter)
            bench_executions(session, url, machine, args.seconds, meter)
        finally:
            launcher.stop(process)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
