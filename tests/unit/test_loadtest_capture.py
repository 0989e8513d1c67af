"""Matching a run's data-capture records to its calls: per inference id, within the run's time."""

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from loadtest.capture import count_records, differences, split_s3_uri, wait_for_records


def capture_line(inference_id: str | None, when: datetime) -> str:
    metadata = {"eventId": "e"}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    data = {
        "endpointInput": {
            "observedContentType": "application/x-image",
            "mode": "INPUT",
            "data": "iVBORw0KGgo=",
            "encoding": "BASE64",
        },
        "endpointOutput": {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": "[0.1, 0.9]",
            "encoding": "JSON",
        },
    }
    return json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"})


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="capture")
        yield client


def put(s3, variant: str, when: datetime, lines: list[str]) -> None:
    key = f"datacapture/ep/{variant}/{when:%Y/%m/%d/%H}/{when:%M-%S}-000-x{len(lines)}.jsonl"
    s3.put_object(Bucket="capture", Key=key, Body="\n".join(lines) + "\n")


def test_counts_only_the_runs_ids_within_the_run(s3):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start, stop = now - timedelta(seconds=30), now
    ours = {"run-000001", "run-000002", "run-batch-0", "run-batch-1"}
    put(
        s3,
        "AllTraffic",
        now,
        [
            capture_line("run-000001", now - timedelta(seconds=20)),
            capture_line("run-000001", now - timedelta(seconds=10)),  # a second record, same id
            capture_line("run-000002", now),
            capture_line("other-run-000001", now),  # another run's id
            capture_line(None, now),  # no InferenceId sent
            capture_line("run-batch-0", now - timedelta(hours=3)),  # same id, long ago
            capture_line("run-batch-0", now),
            "{not json",
            "[" * 50_000 + "]" * 50_000,  # nested deeper than json can recurse
        ],
    )
    put(s3, "Canary", now, [capture_line("run-batch-1", now - timedelta(seconds=5))])
    # Another endpoint's records never count.
    s3.put_object(
        Bucket="capture",
        Key=f"datacapture/other-ep/AllTraffic/{now:%Y/%m/%d/%H}/x.jsonl",
        Body=capture_line("run-000001", now) + "\n",
    )
    assert count_records(s3, "s3://capture/datacapture", "ep", ours, start, stop) == Counter(
        {"run-000001": 2, "run-000002": 1, "run-batch-0": 1, "run-batch-1": 1}
    )


def test_records_match_calls_only_one_to_one():
    calls = Counter({"run-batch-0": 1, "run-batch-1": 1, "run-000001": 1})

    assert differences(calls, Counter(calls)) == []
    # The same total, but one call has two records and another none: not a match.
    assert differences(calls, Counter({"run-batch-0": 2, "run-000001": 1})) == [
        "1 endpoint invocations without a capture record",
        "1 capture records beyond one per invocation",
    ]
    assert differences(calls, Counter()) == ["3 endpoint invocations without a capture record"]


def test_wait_returns_as_soon_as_every_call_has_its_record(s3):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    put(s3, "AllTraffic", now, [capture_line("a", now), capture_line("b", now)])
    expected = Counter({"a": 1, "b": 1})
    found = wait_for_records(
        s3, "s3://capture/datacapture", "ep", expected, now, now, timeout_s=60, poll_s=30
    )
    assert found == expected


def test_wait_gives_up_at_the_deadline_with_what_it_found(s3):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    put(s3, "AllTraffic", now, [capture_line("a", now), capture_line("a", now)])
    found = wait_for_records(
        s3,
        "s3://capture/datacapture",
        "ep",
        Counter({"a": 1, "b": 1}),
        now,
        now,
        timeout_s=0.2,
        poll_s=0.1,
    )
    assert found == Counter({"a": 2})


def test_split_s3_uri():
    assert split_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    assert split_s3_uri("s3://bucket") == ("bucket", "")
