"""Match the endpoint's data-capture records to the endpoint invocations of one run.

SageMaker writes capture files under ``<capture_s3_uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/``,
one JSON record per captured invocation, with the caller's ``InferenceId`` in
``eventMetadata.inferenceId``. The state machines send an id unique to each classified image (the
execution name, or ``<execution name>-<item index>`` in a batch), so the records are counted per
id: a record belongs to the run when its id is one the run's classify calls sent (read from their
outputs) and its ``inferenceTime`` lies within the run; the check passes when every id has
exactly as many records as calls. On AWS the files appear minutes after the calls, so the count
is polled until every call has its record or a deadline passes; the local stack writes them on
``POST /_local/flush``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Container
from datetime import datetime, timedelta, timezone

from tqdm import tqdm

# inferenceTime has whole seconds; allow for that and for clock rounding at both ends.
_TIME_SLACK = timedelta(seconds=2)


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def _hours(start: datetime, end: datetime) -> list[str]:
    hour = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    out = []
    while hour <= end:
        out.append(hour.strftime("%Y/%m/%d/%H"))
        hour += timedelta(hours=1)
    return out


def count_records(
    s3,
    capture_s3_uri: str,
    endpoint_name: str,
    inference_ids: Container[str],
    started: datetime,
    finished: datetime,
) -> Counter[str]:
    """Records per id of ``endpoint_name``, for the ids in ``inference_ids``, timed within the run."""
    bucket, prefix = split_s3_uri(capture_s3_uri)
    base = f"{prefix}/{endpoint_name}/" if prefix else f"{endpoint_name}/"
    variants = [
        common["Prefix"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=base, Delimiter="/"
        )
        for common in page.get("CommonPrefixes", [])
    ]
    low, high = started - _TIME_SLACK, finished + _TIME_SLACK
    count: Counter[str] = Counter()
    # Files are named by the hour of their first record, which may be written a little later.
    for variant in variants:
        for hour in _hours(low - timedelta(hours=1), datetime.now(timezone.utc)):
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{variant}{hour}/"
            ):
                for obj in page.get("Contents", []):
                    if obj["LastModified"] < low:
                        continue
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    count.update(_ids_in_file(body, inference_ids, low, high))
    return count


def _ids_in_file(body: bytes, ids: Container[str], low: datetime, high: datetime) -> list[str]:
    found = []
    for line in body.splitlines():
        try:
            meta = json.loads(line).get("eventMetadata", {})
            # SageMaker writes whole seconds with "Z"; fractions and offsets are accepted too.
            when = datetime.fromisoformat(meta["inferenceTime"])
        except (ValueError, RecursionError, KeyError, AttributeError, TypeError):
            continue  # not a record of ours: the monitor reports malformed lines, not this check
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        if meta.get("inferenceId") in ids and low <= when <= high:
            found.append(meta["inferenceId"])
    return found


def differences(expected: Counter[str], found: Counter[str]) -> list[str]:
    """What keeps the records from matching the calls one to one (empty when they do)."""
    missing = sum((expected - found).values())
    extra = sum((found - expected).values())
    out = []
    if missing:
        out.append(f"{missing} endpoint invocations without a capture record")
    if extra:
        out.append(f"{extra} capture records beyond one per invocation")
    return out


def wait_for_records(
    s3,
    capture_s3_uri: str,
    endpoint_name: str,
    expected: Counter[str],
    started: datetime,
    finished: datetime,
    timeout_s: float,
    poll_s: float,
) -> Counter[str]:
    """Poll ``count_records`` until every id has its ``expected`` records or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    total = sum(expected.values())
    with tqdm(total=total, desc="capture records", unit="rec", disable=None) as bar:
        while True:
            found = count_records(s3, capture_s3_uri, endpoint_name, expected, started, finished)
            bar.n = sum(found.values())
            bar.refresh()
            if not expected - found or time.monotonic() + poll_s > deadline:
                return found
            time.sleep(poll_s)
