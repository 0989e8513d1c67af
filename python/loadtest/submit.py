"""Starting executions: a closed-loop burst, an open-loop Poisson stream, or one batch.

Every execution gets a unique name, ``<run-id>-<index>``, so that a retried StartExecution can
never start an image twice (Step Functions refuses a second execution of the same name, and the
first one's ARN follows from the name) and every execution maps back to exactly one image.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NoReturn, Sequence

from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from etl.classes import CIFAR100_FINE_LABELS
from lambdas.summarize_batch import MAX_LISTED
from loadtest.images import Item
from loadtest.tracker import Tracker

# The workflow names CIFAR-100 fine labels; results are sized with the longest.
LONGEST_LABEL = max(CIFAR100_FINE_LABELS, key=len)
SUMMARY_SLACK_BYTES = 1024  # the summary's counts, for several error names
INTERRUPTED = "NotStarted.Interrupted"  # the outcome of an image Ctrl-C kept from starting


class StartsInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) while executions were being started. Every call already handed to
    a thread has finished; ``submissions`` is the whole list, the items never started marked
    ``NotStarted.Interrupted``."""

    def __init__(self, submissions: list["Submission"]) -> None:
        super().__init__()
        self.submissions = submissions


@dataclass
class Submission:
    """One StartExecution: what it carried and how the call went."""

    name: str
    items: list[Item]
    execution_arn: str = ""
    error: str = ""  # "StartExecution.<code>" when the execution could not be started
    lag_s: float = 0.0  # how late the call was against its planned time (stream mode)


def execution_name(run_id: str, index: int) -> str:
    return f"{run_id}-{index:06d}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution ``name`` of a standard state machine."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def start(sfn, state_machine_arn: str, submission: Submission, payload: dict) -> Submission:
    """Start one execution; a failure is recorded on the submission, never raised."""
    try:
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=submission.name, input=json.dumps(payload)
        )
        submission.execution_arn = response["executionArn"]
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "ClientError")
        if code == "ExecutionAlreadyExists":
            # An SDK retry of a call that had in fact succeeded: the execution is ours.
            submission.execution_arn = execution_arn(state_machine_arn, submission.name)
        else:
            submission.error = f"StartExecution.{code}"
    except BotoCoreError as err:
        submission.error = f"StartExecution.{type(err).__name__}"
    return submission


def single_payload(bucket: str, item: Item) -> dict:
    return {"s3_bucket": bucket, "s3_key": item.s3_key}


def batch_payload(bucket: str, items: Sequence[Item]) -> dict:
    return {"images": [single_payload(bucket, it) for it in items]}


def largest_batch_state_bytes(bucket: str, items: Sequence[Item]) -> int:
    """Bytes of the largest state data a batch of ``items`` makes in the batch state machine:
    its input, or the summary step's output, which holds a result per item and lists up to
    ``MAX_LISTED`` of them again under ``not_ok``. Results are counted at their largest: an ok
    one, with the longest class label and a confidence of 17 significant digits."""
    input_bytes = len(json.dumps(batch_payload(bucket, items)).encode())
    results = [
        {
            "s3_key": it.s3_key,
            "status": "ok",
            "label": LONGEST_LABEL,
            "confidence": 0.01234567890123456,
        }
        for it in items
    ]
    summary = {
        "total": len(items),
        "counts": {"ok": len(items)},
        "items": results,
        "not_ok": results[:MAX_LISTED],
    }
    return max(input_bytes, len(json.dumps(summary).encode()) + SUMMARY_SLACK_BYTES)


def burst(
    sfn,
    state_machine_arn: str,
    bucket: str,
    run_id: str,
    items: list[Item],
    concurrency: int,
    tracker: Tracker,
    in_flight: threading.Semaphore,
    bar: tqdm,
    stall_timeout_s: float,
) -> list[Submission]:
    """Start every item as fast as allowed, never more than ``concurrency`` in flight.

    ``in_flight`` is released by the tracker when an execution ends (and here when a start
    fails), so a new execution starts as soon as one of the previous ones has finished. When no
    slot frees up for ``stall_timeout_s`` (executions that never end), the items left are not
    started: they end as ``NotStarted.Stalled``, and the run's waiting reports the stuck ones.
    """
    submissions = [Submission(execution_name(run_id, it.index), [it]) for it in items]

    def one(submission: Submission) -> None:
        start(sfn, state_machine_arn, submission, single_payload(bucket, submission.items[0]))
        if submission.execution_arn:
            tracker.add(submission.execution_arn)
        else:
            in_flight.release()
        bar.update()

    stalled = False
    try:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="start") as pool:
            for submission in submissions:
                stalled = stalled or not in_flight.acquire(timeout=stall_timeout_s)
                if stalled:
                    submission.error = "NotStarted.Stalled"
                    bar.update()
                else:
                    pool.submit(one, submission)
    except KeyboardInterrupt:
        _interrupted(submissions)
    return submissions


def stream(
    sfn,
    state_machine_arn: str,
    bucket: str,
    run_id: str,
    items: list[Item],
    offsets: list[float],
    threads: int,
    tracker: Tracker,
    bar: tqdm,
) -> list[Submission]:
    """Start item i at ``offsets[i]`` seconds from now, whatever is still running (open loop).

    ``threads`` StartExecution calls may be in progress at once, so that a slow call does not
    delay the next arrivals; the lag of each call against its planned time is recorded.
    """
    submissions = [Submission(execution_name(run_id, it.index), [it]) for it in items]
    origin = time.monotonic()

    def one(submission: Submission, offset: float) -> None:
        submission.lag_s = max(0.0, time.monotonic() - origin - offset)
        start(sfn, state_machine_arn, submission, single_payload(bucket, submission.items[0]))
        if submission.execution_arn:
            tracker.add(submission.execution_arn)
        bar.update()

    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="start") as pool:
            for submission, offset in zip(submissions, offsets):
                delay = origin + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(one, submission, offset)
    except KeyboardInterrupt:
        _interrupted(submissions)
    return submissions


def _interrupted(submissions: list[Submission]) -> NoReturn:
    """Mark the submissions no thread was given and raise ``StartsInterrupted``. The pool has
    run every call it was handed to its end, so those have an execution ARN or an error."""
    for submission in submissions:
        if not submission.execution_arn and not submission.error:
            submission.error = INTERRUPTED
    raise StartsInterrupted(submissions)


def batch(
    sfn, state_machine_arn: str, bucket: str, run_id: str, items: list[Item], tracker: Tracker
) -> Submission:
    """One execution of the fan-out state machine over all items, in order."""
    submission = Submission(f"{run_id}-batch", list(items))
    payload = batch_payload(bucket, items)
    start(sfn, state_machine_arn, submission, payload)
    if submission.execution_arn:
        tracker.add(submission.execution_arn)
    return submission
