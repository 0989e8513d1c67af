"""The workflow on the local stack: the real asl/ definitions, the real Lambda zip, a real endpoint.

Deployed with plain boto3 by ``deploy_helpers.deploy_workflow`` (as ``make deploy`` would), with
a model whose probabilities follow the image's brightness: bright -> bicycle, dark -> motorcycle,
grey -> low confidence. Every outcome is chosen by the pixels of the image, nothing is faked.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import boto3
import pytest

from deploy_helpers import Deployed, deploy_workflow, png, write_outputs
from lambdas.events import MAX_IMAGE_BYTES, PNG_MAGIC
from loadtest.history import parse_history
from monitor import alerts, definitions, graph

pytestmark = pytest.mark.stack

BRIGHT, DARK, GREY = "test/bicycle/bright.png", "test/motorcycle/dark.png", "test/bicycle/grey.png"
NOT_AN_IMAGE, TOO_LARGE = "test/bicycle/notes.png", "test/bicycle/huge.png"
GOOD_BATCH = [f"test/bicycle/b{i:02d}.png" for i in range(20)] + [
    f"test/motorcycle/m{i:02d}.png" for i in range(20)
]
GREY_BATCH = [f"test/bicycle/g{i}.png" for i in range(4)]
EXECUTION_TIMEOUT_S = 120
NO_ALERT_SETTLE_S = 2.0


@dataclass
class Workflow:
    deployed: Deployed
    stack_url: str
    work_dir: object
    alerts_seen: list[dict] = field(default_factory=list)

    @property
    def outputs(self) -> dict:
        return self.deployed.outputs

    @property
    def bucket(self) -> str:
        return self.outputs["data_bucket"]

    def image(self, key) -> dict:
        return {"s3_bucket": self.bucket, "s3_key": key}

    def alerts_for(self, execution_name: str, expected: int = 1) -> list[dict]:
        """The alerts of one ended execution: waits up to 10 s for ``expected`` of them.

        With ``expected=0`` it keeps receiving for ``NO_ALERT_SETTLE_S`` (or until an alert of
        the execution shows up) and returns what arrived. That window is enough: the local
        stack's SNS delivers to a subscribed SQS queue synchronously inside ``Publish``, and an
        execution's alert task ends only when ``Publish`` has returned, so its alerts are in the
        queue before the execution has ended; the window drains what else is queued (10 messages
        per receive) and leaves a margin should delivery ever be deferred.
        """
        sqs = boto3.client("sqs")
        deadline = time.monotonic() + (NO_ALERT_SETTLE_S if expected == 0 else 10)
        while True:
            for message in sqs.receive_message(
                QueueUrl=self.deployed.alert_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", []):
                self.alerts_seen.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.deployed.alert_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            found = [a for a in self.alerts_seen if a.get("execution") == execution_name]
            if (found and len(found) >= expected) or time.monotonic() > deadline:
                return found


@pytest.fixture(scope="module")
def workflow(local_stack, tmp_path_factory) -> Workflow:
    images = {BRIGHT: png(250), DARK: png(5), GREY: png(128)}
    images |= {key: png(240 if "/bicycle/" in key else 12) for key in GOOD_BATCH}
    images |= {key: png(120 + i) for i, key in enumerate(GREY_BATCH)}
    work_dir = tmp_path_factory.mktemp("workflow")
    deployed = deploy_workflow(work_dir, images)
    s3 = boto3.client("s3")
    s3.put_object(Bucket=deployed.outputs["data_bucket"], Key=NOT_AN_IMAGE, Body=b"GIF89a....")
    s3.put_object(
        Bucket=deployed.outputs["data_bucket"],
        Key=TOO_LARGE,
        Body=PNG_MAGIC + bytes(MAX_IMAGE_BYTES),
    )
    return Workflow(deployed, local_stack, work_dir)


def execute(machine_arn: str, payload, name: str | None = None) -> dict:
    """Start an execution, wait for its end, return ``describe_execution``."""
    sfn = boto3.client("stepfunctions")
    name = name or f"t-{uuid.uuid4().hex[:12]}"
    arn = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(payload))[
        "executionArn"
    ]
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while True:
        description = sfn.describe_execution(executionArn=arn)
        if description["status"] != "RUNNING":
            return description
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.1)


def history(execution_arn: str) -> list[dict]:
    sfn = boto3.client("stepfunctions")
    events = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def task_outcomes(execution_arn: str, state: str) -> list[str]:
    """``succeeded`` / the error name of each attempt of ``state``'s task, in order."""
    events = history(execution_arn)
    visit_of, outcomes = {}, []
    for event in events:
        details = event.get("stateEnteredEventDetails")
        if details:
            visit_of[event["id"]] = details["name"]
            continue
        name = visit_of.get(event.get("previousEventId"))
        if name is None or event["type"].endswith("StateExited"):
            continue
        visit_of[event["id"]] = name
        if name != state:
            continue
        if event["type"] == "TaskSucceeded":
            outcomes.append("succeeded")
        elif event["type"] == "TaskFailed":
            outcomes.append(event["taskFailedEventDetails"]["error"])
    return outcomes


def drawn_summaries(svg_text: str) -> dict[str, str]:
    """State name -> the second line drawn in its shape (what the execution did there)."""
    namespace = "{http://www.w3.org/2000/svg}"
    groups = ET.fromstring(svg_text).iter(f"{namespace}g")
    return {g.get("data-state"): [t.text for t in g.iter(f"{namespace}text")][1] for g in groups}


def test_a_bright_image_is_a_confident_bicycle(workflow):
    result = execute(workflow.outputs["state_machine_arn"], workflow.image(BRIGHT))

    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert set(output) == {
        "s3_bucket",
        "s3_key",
        "inference_id",
        "inferences",
        "label",
        "confidence",
    }
    assert output["label"] == "bicycle" and output["confidence"] == pytest.approx(250 / 255)
    assert output["s3_key"] == BRIGHT
    assert output["inference_id"] == result["name"]
    assert workflow.alerts_for(result["name"], expected=0) == []


def test_a_dark_image_is_a_confident_motorcycle(workflow):
    result = execute(workflow.outputs["state_machine_arn"], workflow.image(DARK))

    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["label"] == "motorcycle"
    assert output["inferences"] == pytest.approx([5 / 255, 250 / 255])


def captured(workflow: Workflow) -> list[dict]:
    """Every data-capture record of the endpoint so far (flushed first)."""
    request = urllib.request.Request(
        f"{workflow.stack_url}/_local/flush", data=b"{}", method="POST"
    )
    urllib.request.urlopen(request, timeout=10).read()
    bucket, prefix = workflow.outputs["capture_s3_uri"].removeprefix("s3://").split("/", 1)
    s3 = boto3.client("s3")
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            records += [json.loads(line) for line in body.splitlines() if line]
    return records


def classify_outputs(execution_arn: str) -> list[dict]:
    """The classify Lambda's results in an execution's history, in the order they ended."""
    outputs = []
    for event in history(execution_arn):
        output = (event.get("taskSucceededEventDetails") or {}).get("output", "")
        payload = json.loads(output or "{}").get("Payload")
        if isinstance(payload, dict) and "inference_id" in payload:
            outputs.append(payload)
    return outputs


def test_the_capture_record_carries_the_execution_name(workflow):
    name = f"capture-{uuid.uuid4().hex[:8]}"
    assert execute(workflow.outputs["state_machine_arn"], workflow.image(DARK), name)["status"] == (
        "SUCCEEDED"
    )

    records = [r for r in captured(workflow) if r["eventMetadata"].get("inferenceId") == name]
    assert len(records) == 1


def test_a_grey_image_ends_low_confidence_and_alerts(workflow):
    result = execute(workflow.outputs["state_machine_arn"], workflow.image(GREY))

    assert result["status"] == "FAILED"
    assert result["error"] == "LowConfidence"
    [alert] = workflow.alerts_for(result["name"])
    assert alert["error"] == "LowConfidence"
    assert alert["s3_key"] == GREY
    assert alert["execution_arn"] == result["executionArn"]
    assert "below the threshold 0.93" in json.loads(alert["cause"])["errorMessage"]


DATA = "<the data bucket>"


@pytest.mark.parametrize(
    "payload, error, alerted_key",
    [
        (
            {"s3_bucket": DATA, "s3_key": "test/bicycle/missing.png"},
            "ImageNotFound",
            "test/bicycle/missing.png",
        ),
        ({"s3_bucket": DATA, "s3_key": NOT_AN_IMAGE}, "UnsupportedImageFormat", NOT_AN_IMAGE),
        ({"s3_bucket": DATA, "s3_key": TOO_LARGE}, "ImageTooLarge", TOO_LARGE),
        ({"s3_bucket": DATA, "s3_key": None}, "InvalidInput", None),
        ({"s3_bucket": DATA, "s3_key": 42}, "InvalidInput", 42),
        ({"s3_bucket": DATA}, "InvalidInput", None),
        ({}, "InvalidInput", None),
        ({"s3_bucket": "Not A Bucket", "s3_key": BRIGHT}, "InvalidInput", BRIGHT),
    ],
)
def test_each_bad_input_ends_with_its_error_name_and_alerts(workflow, payload, error, alerted_key):
    request = {name: workflow.bucket if value == DATA else value for name, value in payload.items()}

    result = execute(workflow.outputs["state_machine_arn"], request)

    assert (result["status"], result["error"]) == ("FAILED", error)
    [alert] = workflow.alerts_for(result["name"])
    assert (alert["error"], alert["s3_key"]) == (error, alerted_key)
    assert task_outcomes(result["executionArn"], "SerializeImageData") == [error]


def test_an_input_that_is_not_an_object_is_invalid_and_alerts(workflow):
    result = execute(workflow.outputs["state_machine_arn"], ["not", "an", "object"])

    assert (result["status"], result["error"]) == ("FAILED", "InvalidInput")
    [alert] = workflow.alerts_for(result["name"])
    assert alert["s3_key"] is None


def _extra_machine(workflow: Workflow, label: str, classify_environment: dict) -> str:
    """The single-image definition with a classify function of another environment."""
    awslambda, names = boto3.client("lambda"), workflow.outputs["lambda_function_names"]
    base = awslambda.get_function_configuration(FunctionName=names["classify_image"])
    name = f"{names['classify_image']}-{label}"
    classify_arn = awslambda.create_function(
        FunctionName=name,
        Runtime=base["Runtime"],
        Role=base["Role"],
        Handler=base["Handler"],
        Code={"ZipFile": (workflow.work_dir / "lambdas.zip").read_bytes()},
        Timeout=base["Timeout"],
        Environment={"Variables": base["Environment"]["Variables"] | classify_environment},
    )["FunctionArn"]
    arn = lambda key: awslambda.get_function_configuration(FunctionName=names[key])["FunctionArn"]
    definition = definitions.render(
        definitions.ASL_DIR / "classify_image.asl.json",
        {
            "serialize_function_arn": arn("serialize_image_data"),
            "classify_function_arn": classify_arn,
            "filter_function_arn": arn("filter_inferences"),
            "alert_topic_arn": workflow.outputs["alert_topic_arn"],
        },
    )
    sfn = boto3.client("stepfunctions")
    role = sfn.describe_state_machine(stateMachineArn=workflow.outputs["state_machine_arn"])
    return sfn.create_state_machine(
        name=f"{name}-machine", definition=json.dumps(definition), roleArn=role["roleArn"]
    )["stateMachineArn"]


def test_an_endpoint_error_is_not_retried_and_alerts(workflow):
    machine = _extra_machine(workflow, "missing", {"ENDPOINT_NAME": "no-such-endpoint"})

    result = execute(machine, workflow.image(BRIGHT))

    assert (result["status"], result["error"]) == ("FAILED", "EndpointError")
    assert task_outcomes(result["executionArn"], "ClassifyImage") == ["EndpointError"]
    [alert] = workflow.alerts_for(result["name"])
    assert "no-such-endpoint" in json.loads(alert["cause"])["errorMessage"]


class FlakyProxy:
    """A TCP proxy to the stack that drops its first ``failures`` connections unanswered.

    The classify function reaches SageMaker Runtime through it, so its first calls really fail
    to get an answer (the SDK sees the connection closed) and the later ones go through.
    """

    def __init__(self, target_port: int, failures: int) -> None:
        self.target_port = target_port
        self.failures = failures
        self.dropped = 0
        self.forwarded = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.dropped < self.failures:
                self.dropped += 1
                client.close()
                continue
            self.forwarded += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


def test_a_transient_endpoint_failure_is_retried_by_the_state_machine(workflow, tmp_path):
    stack_port = int(workflow.stack_url.rsplit(":", 1)[1])
    # The function's SDK makes one attempt per invocation, so each dropped connection is one
    # failed task attempt (EndpointThrottled) that the state machine's Retry repeats.
    proxy = FlakyProxy(stack_port, failures=2)
    try:
        machine = _extra_machine(
            workflow,
            "flaky",
            {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": f"http://127.0.0.1:{proxy.port}"},
        )
        result = execute(machine, workflow.image(BRIGHT))
    finally:
        proxy.close()

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["label"] == "bicycle"
    assert (proxy.dropped, proxy.forwarded) == (2, 1)
    assert task_outcomes(result["executionArn"], "ClassifyImage") == [
        "EndpointThrottled",
        "EndpointThrottled",
        "succeeded",
    ]
    failures = [e for e in history(result["executionArn"]) if e["type"] == "TaskFailed"]
    assert len(failures) == 2
    for failure in failures:
        cause = json.loads(failure["taskFailedEventDetails"]["cause"])
        assert "unreachable" in cause["errorMessage"]
    # What the load test counts from the same history.
    facts = parse_history(history(result["executionArn"]))
    assert facts.retries == 2
    assert facts.transitions == facts.states_entered + 2
    assert workflow.alerts_for(result["name"], expected=0) == []
    # The graph of this execution shows the state as one visit that succeeded after retries.
    path = graph.draw_execution(result["executionArn"], tmp_path)
    drawn = drawn_summaries(path.read_text())
    assert drawn["ClassifyImage"] == "retried 1"
    assert drawn["SerializeImageData"] == drawn["FilterInferences"] == "succeeded 1"


def test_a_batch_of_50_counts_every_status_exactly(workflow, tmp_path):
    bucket = workflow.bucket
    items = [workflow.image(key) for key in GOOD_BATCH]
    items += [workflow.image(key) for key in GREY_BATCH]
    items += [workflow.image(f"test/bicycle/gone{i}.png") for i in range(3)]
    items += [workflow.image(NOT_AN_IMAGE), workflow.image(NOT_AN_IMAGE)]
    items += [{"s3_bucket": bucket}]
    assert len(items) == 50

    result = execute(workflow.outputs["batch_state_machine_arn"], {"images": items})

    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["total"] == 50
    assert output["counts"] == {
        "ImageNotFound": 3,
        "InvalidInput": 1,
        "LowConfidence": 4,
        "UnsupportedImageFormat": 2,
        "ok": 40,
    }
    assert [item["s3_key"] for item in output["items"]] == [i.get("s3_key") for i in items]
    for item, key in zip(output["items"], GOOD_BATCH):
        expected = "bicycle" if "/bicycle/" in key else "motorcycle"
        assert (item["status"], item["label"]) == ("ok", expected)
    assert "not_ok" not in output
    [alert] = workflow.alerts_for(result["name"])
    assert alert["total"] == 50 and alert["counts"] == output["counts"]
    assert len(alert["not_ok"]) == 10
    assert {item["status"] for item in alert["not_ok"]} == {
        "ImageNotFound",
        "InvalidInput",
        "LowConfidence",
        "UnsupportedImageFormat",
    }
    # The graph adds up the 50 iterations per state of the item processor.
    drawn = drawn_summaries(graph.draw_execution(result["executionArn"], tmp_path).read_text())
    assert drawn["ClassifyImages"] == "succeeded 1"
    assert drawn["SerializeImageData"] == "succeeded 44, caught 6"
    assert drawn["ClassifyImage"] == "succeeded 44"
    assert drawn["FilterInferences"] == "succeeded 40, caught 4"
    assert drawn["ItemFailedWithKey"] == "succeeded 9"
    assert drawn["BatchFailed"] == "Fail"  # not reached: its type is shown instead


def test_each_batch_item_has_its_own_inference_id_even_for_the_same_key(workflow):
    items = [workflow.image(BRIGHT), workflow.image(DARK), workflow.image(BRIGHT)]

    result = execute(workflow.outputs["batch_state_machine_arn"], {"images": items})

    assert result["status"] == "SUCCEEDED"
    name = result["name"]
    by_id = {output["inference_id"]: output for output in classify_outputs(result["executionArn"])}
    assert sorted(by_id) == [f"{name}-0", f"{name}-1", f"{name}-2"]
    assert [by_id[f"{name}-{i}"]["s3_key"] for i in range(3)] == [BRIGHT, DARK, BRIGHT]
    # One capture record per item, joined to it by the id: the two BRIGHT calls stay apart.
    records = {}
    for record in captured(workflow):
        inference_id = record["eventMetadata"].get("inferenceId")
        if inference_id in by_id:
            records.setdefault(inference_id, []).append(record)
    assert sorted(records) == sorted(by_id) and all(len(r) == 1 for r in records.values())
    for inference_id, [record] in records.items():
        answer = json.loads(record["captureData"]["endpointOutput"]["data"])
        assert answer == pytest.approx(by_id[inference_id]["inferences"])


def test_a_batch_of_good_images_does_not_alert(workflow):
    items = [workflow.image(key) for key in GOOD_BATCH[:3]]

    result = execute(workflow.outputs["batch_state_machine_arn"], {"images": items})

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["counts"] == {"ok": 3}
    assert workflow.alerts_for(result["name"], expected=0) == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"images": "x"},
        {"images": None},
        [1, 2],
        # An object is no array for the Map (States.Runtime, which no Catch catches).
        {"images": {"a": 1}},
        {"images": {"0": {"s3_bucket": "b", "s3_key": "k"}}},
        {"images": []},
    ],
)
def test_a_batch_input_of_the_wrong_shape_is_invalid_and_alerts(workflow, payload):
    result = execute(workflow.outputs["batch_state_machine_arn"], payload)

    assert (result["status"], result["error"]) == ("FAILED", "InvalidInput")
    assert "at least one image" in result["cause"]
    [alert] = workflow.alerts_for(result["name"])
    assert alert["error"] == "InvalidInput"


def test_make_alerts_prints_what_the_workflow_published(workflow, tmp_path, monkeypatch, capsys):
    """``monitor.alerts`` on a queue subscribed as terraform/base does it (SNS envelope)."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"alerts-cli-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=workflow.outputs["alert_topic_arn"], Protocol="sqs", Endpoint=queue_arn)
    write_outputs(tmp_path, "base", {"alert_queue_url": queue_url})
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))
    result = execute(workflow.outputs["state_machine_arn"], workflow.image(GREY))

    deadline = time.monotonic() + 10
    while True:
        alerts.main([])
        printed = capsys.readouterr().out
        if result["name"] in printed or time.monotonic() > deadline:
            break
    assert "Scones Unlimited: image classification failed" in printed
    assert "error          LowConfidence" in printed
    assert f"s3_key         {GREY}" in printed
    alerts.main(["--ack"])
    assert "1 alert(s) shown and deleted" in capsys.readouterr().out
