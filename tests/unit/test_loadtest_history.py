"""Reading Step Functions histories recorded from real runs (tests/fixtures/loadtest/)."""

import csv
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

from loadtest.accounting import ExecutionRecord
from loadtest.history import parse_history
from loadtest.run import batch_count_problems, batch_items, endpoint_invocations

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "loadtest"
# Recorded executions and the endpoint calls that returned an answer in each.
FIXTURE_NAMES = {
    "history_succeeded": 1,
    "history_retried": 1,
    "history_low_confidence": 1,
    "history_endpoint_error": 0,
    "history_batch": 6,
}


def load(name: str) -> tuple[dict, list[dict]]:
    document = json.loads((FIXTURES / f"{name}.json").read_text())
    for event in document["events"]:
        event["timestamp"] = datetime.fromisoformat(event["timestamp"])
    return document["execution"], document["events"]


def by_function(facts, suffix: str):
    return [a for a in facts.attempts if a.function.endswith(suffix)]


def test_a_succeeded_execution_made_three_lambda_calls_and_one_endpoint_call():
    execution, events = load("history_succeeded")
    facts = parse_history(events)
    assert [a.function.rsplit("-", 1)[1] for a in facts.attempts] == [
        "serializeImageData",
        "classifyImage",
        "filterInferences",
    ]
    assert all(a.outcome == "succeeded" and a.resource_type == "lambda" for a in facts.attempts)
    (classify,) = by_function(facts, "classifyImage")
    assert classify.inference_id == execution["name"]  # the classify Lambda's InferenceId
    assert all(a.started is not None and a.started <= a.ended for a in facts.attempts)
    assert facts.retries == 0
    assert facts.transitions == facts.states_entered == 3
    assert facts.execution_error == ""


def test_a_low_confidence_execution_was_classified_then_alerted():
    execution, events = load("history_low_confidence")
    facts = parse_history(events)
    (classify,) = by_function(facts, "classifyImage")
    (verdict,) = by_function(facts, "filterInferences")
    assert classify.outcome == "succeeded" and classify.inference_id == execution["name"]
    assert (verdict.outcome, verdict.error) == ("failed", "LowConfidence")
    alerts = [a for a in facts.attempts if a.resource_type == "sns"]
    assert [(a.function, a.outcome) for a in alerts] == [("sns:publish", "succeeded")]
    assert facts.execution_error == execution["error"] == "LowConfidence"


def test_an_endpoint_failure_made_no_endpoint_invocation_that_counts():
    execution, events = load("history_endpoint_error")
    facts = parse_history(events)
    (classify,) = by_function(facts, "classifyImage")
    assert (classify.outcome, classify.error) == ("failed", "EndpointError")
    assert classify.inference_id == ""
    assert "ModelError" in classify.cause
    assert facts.execution_error == execution["error"] == "EndpointError"


def test_a_batch_history_has_one_map_iteration_and_one_classify_call_per_image():
    execution, events = load("history_batch")
    facts = parse_history(events)
    images = json.loads(execution["input"])["images"]
    items = batch_items(json.loads(execution["output"]))
    assert [item["s3_key"] for item in items] == [image["s3_key"] for image in images]
    assert sorted(facts.map_iterations) == list(range(len(images)))
    for start, stop in facts.map_iterations.values():
        assert start is not None and stop is not None and start <= stop
    classify = by_function(facts, "classifyImage")
    assert len(classify) == len(images) and all(a.outcome == "succeeded" for a in classify)
    # In a batch each item's InferenceId is <execution name>-<item index>.
    names = {f"{execution['name']}-{index}" for index in range(len(images))}
    assert {a.inference_id for a in classify} == names
    not_ok = [item for item in items if item["status"] != "ok"]
    assert len(not_ok) == 2 and {item["status"] for item in not_ok} == {"LowConfidence"}
    alerts = [a for a in facts.attempts if a.resource_type == "sns"]
    assert len(alerts) == 1  # one summary alert per batch
    assert facts.retries == 0


def test_a_retried_endpoint_call_is_one_failed_attempt_and_one_retry_in_the_history():
    execution, events = load("history_retried")
    facts = parse_history(events)
    classify = by_function(facts, "classifyImage")
    assert [(a.outcome, a.error) for a in classify] == [
        ("failed", "EndpointThrottled"),
        ("succeeded", ""),
    ]
    assert "ServiceUnavailable" in classify[0].cause
    assert classify[1].inference_id == execution["name"]  # the retry sends the same id
    assert facts.retries == 1
    assert facts.transitions == facts.states_entered + 1 == 4
    assert execution["status"] == "SUCCEEDED" and facts.execution_error == ""


def test_endpoint_invocations_count_the_classify_calls_that_returned_an_answer():
    histories = {name: parse_history(load(name)[1]) for name in FIXTURE_NAMES}
    classify = next(
        a.function for a in histories["history_succeeded"].attempts if "classify" in a.function
    )
    for name, expected in FIXTURE_NAMES.items():
        count, ids = endpoint_invocations({name: histories[name]}, classify)
        assert count == expected
        assert sum(ids.values()) == expected and set(ids.values()) <= {1}  # one id per call
    total, ids = endpoint_invocations(histories, classify)
    assert total == sum(FIXTURE_NAMES.values())
    assert endpoint_invocations(histories, "another-function") == (0, Counter())


def test_batch_counts_agree_with_the_items_of_the_recorded_batch():
    execution, _ = load("history_batch")
    with (FIXTURES / "loadtest-20261126T220659Z.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    records = [
        ExecutionRecord(r["execution_arn"], r["s3_key"], r["status"], r["error"], None, None)
        for r in rows
    ]
    assert batch_count_problems({execution["executionArn"]: execution}, records) == []
    records[0].status, records[0].error = "FAILED", "ImageNotFound"
    (problem,) = batch_count_problems({execution["executionArn"]: execution}, records)
    assert "ImageNotFound" in problem
