"""Starting and waiting against moto's Step Functions, whose executions run until stopped.

That is exactly the case a load test must survive: executions that never end are lost (and
reported), a burst whose slots never free up stops starting, and every image still has one
outcome.
"""

import _thread
import json
import threading
import time

import boto3
import pytest
from moto import mock_aws
from tqdm import tqdm

from lambdas_support import event
from loadtest.accounting import summarize
from loadtest.images import Item
from loadtest.run import _single_records
from lambdas.summarize_batch import handler as summarize_batch
from loadtest.submit import (
    INTERRUPTED,
    LONGEST_LABEL,
    StartsInterrupted,
    Submission,
    batch,
    batch_payload,
    burst,
    execution_arn,
    largest_batch_state_bytes,
    start,
)
from loadtest.tracker import PROGRESS_POLL_S, Tracker, describe_all

DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


@pytest.fixture
def sfn():
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="us-east-1")
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="states", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        arn = client.create_state_machine(
            name="single", definition=json.dumps(DEFINITION), roleArn=role
        )["stateMachineArn"]
        yield client, arn


def test_a_repeated_start_with_the_same_name_tracks_the_first_execution(sfn):
    client, arn = sfn
    first = start(client, arn, Submission("run-000000", []), {"s3_key": "a"})
    # Same name, other input: Step Functions refuses; the execution of that name is ours.
    again = start(client, arn, Submission("run-000000", []), {"s3_key": "b"})
    assert first.execution_arn == again.execution_arn == execution_arn(arn, "run-000000")
    assert first.error == again.error == ""


def test_start_failure_is_recorded_not_raised(sfn):
    client, arn = sfn
    bad = start(client, arn + "-missing", Submission("run-000001", []), {})
    assert bad.execution_arn == "" and bad.error == "StartExecution.StateMachineDoesNotExist"


def test_executions_that_never_end_are_lost_and_the_burst_stops_starting(sfn):
    client, arn = sfn
    items = [Item(index=i, s3_key=f"test/bicycle/{i}.png") for i in range(5)]
    in_flight = threading.Semaphore(2)
    with (
        Tracker(client, arn, on_end=lambda *_: in_flight.release()) as tracker,
        tqdm(disable=True) as bar,
    ):
        submissions = burst(
            client, arn, "data", "run", items, 2, tracker, in_flight, bar, stall_timeout_s=0.5
        )
        left = tracker.wait(0.5)
        ended = describe_all(client, tracker.ended + sorted(left), deadline=time.monotonic())
    assert [s.error for s in submissions] == ["", ""] + ["NotStarted.Stalled"] * 3
    assert left == {s.execution_arn for s in submissions[:2]}
    records = _single_records(submissions, ended, {})
    summary = summarize(records)
    assert summary.lost == 2
    assert summary.by_status == {"NotStarted.Stalled": 3}
    assert sum(summary.by_status.values()) + summary.lost == summary.submitted == 5


def test_ctrl_c_in_a_burst_keeps_the_started_executions_and_marks_the_rest(sfn):
    # moto's executions never end, so with 2 in flight the burst waits for a free slot; Ctrl-C
    # there keeps the 2 started executions and marks the 3 other images never started.
    client, arn = sfn
    items = [Item(index=i, s3_key=f"test/bicycle/{i}.png") for i in range(5)]
    in_flight = threading.Semaphore(2)
    ctrl_c = threading.Timer(0.5, _thread.interrupt_main)
    with Tracker(client, arn) as tracker, tqdm(disable=True) as bar:
        ctrl_c.start()
        with pytest.raises(StartsInterrupted) as stopped:
            burst(client, arn, "data", "run", items, 2, tracker, in_flight, bar, 60.0)
    submissions = stopped.value.submissions
    assert [s.error for s in submissions] == ["", ""] + [INTERRUPTED] * 3
    assert tracker.pending == {s.execution_arn for s in submissions[:2]}
    names = {e["name"] for e in client.list_executions(stateMachineArn=arn)["executions"]}
    assert names == {s.name for s in submissions[:2]}


def test_a_batch_is_one_execution_whose_input_is_the_batch_workflow_event(sfn):
    client, arn = sfn
    expected = event("classify_batch")
    (bucket,) = {image["s3_bucket"] for image in expected["images"]}
    items = [Item(index=i, s3_key=image["s3_key"]) for i, image in enumerate(expected["images"])]
    tracker = Tracker(client, arn)
    submission = batch(client, arn, bucket, "run", items, tracker)
    assert (submission.name, submission.error, submission.items) == ("run-batch", "", items)
    assert tracker.pending == {submission.execution_arn}
    started = client.describe_execution(executionArn=submission.execution_arn)
    assert json.loads(started["input"]) == expected


def test_the_tracker_sees_an_execution_end(sfn):
    client, arn = sfn
    ends = []
    with Tracker(client, arn, on_end=ends.append) as tracker:
        submission = start(client, arn, Submission("run-000002", []), {})
        tracker.add(submission.execution_arn)
        assert tracker.wait(0.3) == {submission.execution_arn}
        assert describe_all(client, [submission.execution_arn], time.monotonic()) == {}
        client.stop_execution(executionArn=submission.execution_arn, error="Stopped")
        assert tracker.wait(10.0) == set()
    assert ends == tracker.ended == [submission.execution_arn]
    final = describe_all(client, ends, deadline=time.monotonic())
    description = final[submission.execution_arn]
    assert description["status"] == "ABORTED"
    assert description["stopDate"] >= description["startDate"]


def test_describe_all_waits_for_an_execution_the_list_missed(sfn):
    # ListExecutions is eventually consistent on AWS: an execution taken for ended may still run.
    client, arn = sfn
    submission = start(client, arn, Submission("run-000003", []), {})
    stopper = threading.Timer(
        0.5, lambda: client.stop_execution(executionArn=submission.execution_arn)
    )
    stopper.start()
    final = describe_all(client, [submission.execution_arn], time.monotonic() + 30, poll_s=0.1)
    stopper.join()
    assert final[submission.execution_arn]["status"] == "ABORTED"


def test_a_tracker_that_only_moves_a_progress_bar_polls_at_most_twice_a_second(sfn):
    client, arn = sfn
    assert Tracker(client, arn).poll_interval() == 0.1
    assert Tracker(client, arn, min_poll_s=PROGRESS_POLL_S).poll_interval() == 0.5


@pytest.mark.parametrize("failing_share", [0.0, 0.5, 1.0])
def test_the_batch_state_estimate_bounds_the_input_and_the_real_summary(failing_share):
    """The summary step's output, made by the real summarize Lambda from results of the shape
    the batch state machine's items end with, never outgrows the estimate."""
    keys = [f"loadtest/drift/lt-20261127T000000Z-abcdef/noise/{i:04d}.png" for i in range(1500)]
    items = [Item(i, key) for i, key in enumerate(keys)]
    failing = int(len(items) * failing_share)
    results = [
        (
            {"s3_key": key, "status": "States.DataLimitExceeded"}
            if i < failing
            else {"s3_key": key, "status": "ok", "label": LONGEST_LABEL, "confidence": 1 / 3}
        )
        for i, key in enumerate(keys)
    ]
    summary = summarize_batch({"items": results})
    estimate = largest_batch_state_bytes("scones-0123abcd-data", items)
    assert len(json.dumps(summary).encode()) <= estimate
    assert len(json.dumps(batch_payload("scones-0123abcd-data", items)).encode()) <= estimate
