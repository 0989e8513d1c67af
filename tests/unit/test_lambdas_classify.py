"""classifyImage: input checks, configuration, InferenceId, the endpoint answer's validation.

The endpoint call itself is tested against the local stack's real model server
(tests/functional/test_workflow_*.py): moto's in-process sagemaker-runtime decodes request
bodies as UTF-8 and so fails on every PNG or JPEG body.

The handler module creates its client at import, as Lambda's init phase does, so it is imported
by the fixtures (``cold_start``) inside the moto mock, never at collection time. How the client
behaves when the endpoint fails (one attempt, timeouts, the InferenceId it sends) is checked
against a real TCP listener that reads each request and then drops or holds the connection.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from lambdas import errors
from lambdas.events import MAX_IMAGE_BYTES, PNG_MAGIC
from lambdas_support import (
    ENDPOINT,
    LABELS,
    cold_start,
    event,
    function_timeout_s,
    isolate_from_real_aws,
)

ENVIRONMENT = {"ENDPOINT_NAME": ENDPOINT, "CLASS_LABELS": json.dumps(LABELS)}


@pytest.fixture(scope="module")
def classify():
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        isolate_from_real_aws(monkeypatch)
        yield cold_start("lambdas.classify_image", monkeypatch, **ENVIRONMENT)


@pytest.fixture
def handler(classify):
    return classify.handler


def image_event(image: bytes | None = None, **fields) -> dict:
    """The shared classifyImage event, with other image bytes or other ``fields`` when given."""
    request = event("classify_image") | fields
    if image is not None:
        request["image_data"] = base64.b64encode(image).decode("ascii")
    return request


def test_inference_ids_always_fit_sagemaker(classify):
    to_inference_id = classify.to_inference_id
    long_key = "test/bicycle/" + "very-long-name-" * 10 + ".png"
    odd_key = " test/bicycle/vélo №1.png"
    for text in (long_key, odd_key, "\t", "x" * 64):
        inference_id = to_inference_id(text)
        assert re.fullmatch(r"[!-~][ -~]{0,63}", inference_id), inference_id
        assert to_inference_id(text) == inference_id
    assert to_inference_id("x" * 64) == "x" * 64
    assert to_inference_id(long_key) != to_inference_id(long_key + "2")
    assert to_inference_id(long_key).startswith("test/bicycle/very-long-name")


@pytest.mark.parametrize(
    "body, message",
    [
        (b"body", "non-JSON"),
        (b"\x89PNG", "non-JSON"),
        (b"[" * 100_000, "non-JSON"),
        (b'{"bicycle": 0.9}', "not a list of 2"),
        (b"[1.0]", "not a list of 2"),
        (b"[0.2, 0.3, 0.5]", "not a list of 2"),
        (b'["0.9", "0.1"]', "non-numbers"),
        (b"[true, false]", "non-numbers"),
        (b"[null, 1]", "non-numbers"),
        (b"[NaN, 1.0]", "outside"),
        (b"[Infinity, 0]", "outside"),
        (b"[1.5, -0.5]", "outside"),
        (b"[1" + b"0" * 400 + b", 0]", "outside"),
        (b"[0.6, 0.6]", "sum to"),
        (b"[0.1, 0.1]", "sum to"),
    ],
)
def test_answers_that_are_not_probabilities_are_endpoint_errors(classify, body, message):
    with pytest.raises(errors.EndpointError, match=message):
        classify.parse_probabilities(body, len(LABELS))


def test_probabilities_may_carry_float32_rounding(classify):
    assert classify.parse_probabilities(b"[0.9999999, 1e-07]", 2) == [0.9999999, 1e-07]
    assert classify.parse_probabilities(b"[1, 0]", 2) == [1.0, 0.0]


def test_the_monitoring_report_reads_probabilities_by_the_same_rule(classify):
    from monitor import records

    assert records.SUM_TOLERANCE == classify.SUM_TOLERANCE


@pytest.mark.parametrize(
    "request_event, error",
    [
        ({"s3_bucket": "b", "s3_key": "k"}, errors.InvalidInput),
        (image_event(image_data="not base64!"), errors.InvalidInput),
        (image_event(image_data="iVBORw0KGgo"), errors.InvalidInput),
        (image_event(image_data="ümlaut"), errors.InvalidInput),
        (image_event(image_data=42), errors.InvalidInput),
        (image_event(inference_id=["run"]), errors.InvalidInput),
        (image_event(inference_id=""), errors.InvalidInput),
        ({k: v for k, v in image_event().items() if k != "s3_key"}, errors.InvalidInput),
        (image_event(b"GIF89a" + bytes(30)), errors.UnsupportedImageFormat),
        (image_event(b""), errors.InvalidInput),
        (image_event(PNG_MAGIC + bytes(MAX_IMAGE_BYTES)), errors.ImageTooLarge),
        ("image", errors.InvalidInput),
    ],
)
def test_bad_events_fail_before_calling_the_endpoint(handler, request_event, error):
    with pytest.raises(error):
        handler(request_event)


@pytest.mark.parametrize(
    "environment, message",
    [
        ({"ENDPOINT_NAME": ""}, "ENDPOINT_NAME"),
        ({"CLASS_LABELS": "bicycle,motorcycle"}, "not JSON"),
        ({"CLASS_LABELS": '["bicycle"]'}, "at least two"),
        ({"CLASS_LABELS": '{"0": "bicycle"}'}, "at least two"),
    ],
)
def test_a_misconfigured_function_says_what_is_wrong(classify, monkeypatch, environment, message):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(errors.ConfigurationError, match=message):
        classify.handler(image_event())


class DroppingEndpoint:
    """A TCP listener in the endpoint's place: it reads each request, then closes the connection
    unanswered (``hold=False``) or keeps it open without a word (``hold=True``)."""

    def __init__(self, hold: bool) -> None:
        self.hold = hold
        self.requests: list[bytes] = []
        self.held: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            connection.settimeout(10)
            request = b""
            try:
                while b"\r\n\r\n" not in request and (chunk := connection.recv(65536)):
                    request += chunk
            except OSError:
                pass
            self.requests.append(request)
            if self.hold:
                self.held.append(connection)
            else:
                connection.close()

    def header(self, index: int, name: str) -> str | None:
        head = self.requests[index].split(b"\r\n\r\n", 1)[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def endpoint_at(classify, monkeypatch):
    """Point the function's client, with the function's own client settings, at a listener."""
    listeners = []

    def point(hold: bool = False, **settings) -> DroppingEndpoint:
        listener = DroppingEndpoint(hold)
        listeners.append(listener)
        client = boto3.client(
            "sagemaker-runtime",
            endpoint_url=listener.url,
            config=classify.ENDPOINT_CONFIG.merge(Config(**settings)),
        )
        monkeypatch.setattr(classify, "runtime", client)
        return listener

    yield point
    for listener in listeners:
        listener.close()


def test_a_dropped_call_is_tried_once_and_left_to_the_state_machine(handler, endpoint_at):
    """No retry inside the function: each failed call is one failed task attempt in the history."""
    endpoint = endpoint_at()

    with pytest.raises(errors.EndpointThrottled, match="unreachable"):
        handler(image_event())
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0].startswith(b"POST /endpoints/scones-endpoint/invocations ")


def test_an_unanswered_call_times_out_once_as_a_transient_error(handler, endpoint_at):
    endpoint = endpoint_at(hold=True, read_timeout=0.3)

    with pytest.raises(errors.EndpointThrottled, match="unreachable"):
        handler(image_event())
    assert len(endpoint.requests) == 1


def test_the_inference_id_is_the_one_asked_for_else_the_key(classify, endpoint_at):
    endpoint = endpoint_at()
    long_id = "run/" + "x" * 80
    cases = [
        (image_event(inference_id="lt-run-batch-7"), "lt-run-batch-7"),
        (image_event(s3_key="test/bicycle/other.png"), "test/bicycle/other.png"),
        (image_event(inference_id=long_id), classify.to_inference_id(long_id)),
    ]
    for index, (request, expected) in enumerate(cases):
        with pytest.raises(errors.EndpointThrottled):
            classify.handler(request)
        assert endpoint.header(index, "X-Amzn-SageMaker-Inference-Id") == expected


def test_a_stalled_call_ends_before_the_function_times_out(classify):
    """The client's own limits leave the function time to report EndpointThrottled itself."""
    config = classify.ENDPOINT_CONFIG

    assert config.retries["total_max_attempts"] == 1
    assert config.connect_timeout + config.read_timeout < function_timeout_s("classify_image")


@pytest.mark.parametrize(
    "code, status, transient",
    [
        ("ServiceUnavailable", 503, True),
        ("ThrottlingException", 400, True),
        ("InternalFailure", 500, True),
        ("ModelNotReadyException", 429, True),
        ("InternalDependencyException", 530, True),
        ("502", 502, True),
        ("504", 504, True),
        ("ModelError", 424, False),
        ("ValidationError", 400, False),
        ("AccessDeniedException", 403, False),
        ("", None, False),
    ],
)
def test_only_try_again_later_errors_are_transient(classify, code, status, transient):
    assert classify.is_transient(code, status) is transient


def test_an_unreachable_endpoint_is_a_transient_error(classify, monkeypatch):
    """A real connection failure (a closed loopback port), not a simulated one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = boto3.client(
        "sagemaker-runtime",
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        config=classify.ENDPOINT_CONFIG,
    )
    monkeypatch.setattr(classify, "runtime", unreachable)

    with pytest.raises(errors.EndpointThrottled, match="unreachable"):
        classify.handler(image_event())
