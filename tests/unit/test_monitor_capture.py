"""``monitor.capture``: listing and streaming the capture from S3 (moto), time-window filtering."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from monitor import synthetic
from monitor.capture import (
    BadCaptureUri,
    CaptureUnreadable,
    key_hour,
    list_capture_objects,
    load_capture,
    split_s3_uri,
    to_frame,
)
from monitor.records import Window
from monitor_support import (
    BUCKET,
    CAPTURE_URI,
    FIXTURES,
    LABELS,
    PREFIX,
    REGION,
    T0,
    isolate_aws,
    malformed_lines,
    record_key,
    valid_lines,
)


@pytest.fixture
def s3(monkeypatch):
    isolate_aws(monkeypatch)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client


def put_lines(s3, key: str, lines: list[str]) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())


def test_split_s3_uri():
    assert split_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    assert split_s3_uri("s3://bucket") == ("bucket", "")
    with pytest.raises(BadCaptureUri):
        split_s3_uri("https://bucket/a")


def test_key_hour_reads_the_sagemaker_key_path():
    key = f"{PREFIX}/AllTraffic/2024/10/16/09/25-04-144-d1c957a6.jsonl"
    assert key_hour(key) == datetime(2024, 10, 16, 9, tzinfo=timezone.utc)
    assert key_hour(f"{PREFIX}/loose.jsonl") is None
    assert key_hour(f"{PREFIX}/AllTraffic/2024/13/01/00/x.jsonl") is None


def test_many_files_with_malformed_lines_give_exact_counts(s3):
    images = synthetic.synthetic_images(30, seed=4)
    expected = valid_lines(images)
    broken = malformed_lines(expected[0]["line"])
    chunks = [expected[:10], expected[10:25], expected[25:]]
    for i, chunk in enumerate(chunks):
        lines = [e["line"] for e in chunk] + broken[list(broken)[i]]
        put_lines(s3, record_key(T0, f"0{i}-00-000-file{i}"), lines)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/AllTraffic/notes.txt", Body=b"not capture")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}-other/AllTraffic/x.jsonl", Body=b"other endpoint")

    parsed = load_capture(s3, CAPTURE_URI, n_classes=2)
    frame = to_frame(parsed, LABELS)

    assert (len(parsed), parsed.files) == (30, 3)
    assert dict(parsed.malformed) == {k: len(broken[k]) for k in list(broken)[:3]}
    assert parsed.bytes_read == sum(
        s3.head_object(Bucket=BUCKET, Key=record_key(T0, f"0{i}-00-000-file{i}"))["ContentLength"]
        for i in range(3)
    )
    assert frame["event_id"].tolist() == [e["event_id"] for e in expected]
    assert frame["confidence"].tolist() == [e["confidence"] for e in expected]
    assert frame["predicted_class"].tolist() == [e["predicted"] for e in expected]
    assert frame["inference_id"].tolist() == [e["inference_id"] or pd.NA for e in expected]
    assert frame["time"].tolist() == [e["time"] for e in expected]
    assert frame["time"].is_monotonic_increasing


def test_lines_straddling_read_chunks_and_batches_are_whole(s3, monkeypatch):
    import monitor.capture as capture

    monkeypatch.setattr(capture, "STREAM_CHUNK", 1000)  # a record is about 4 kB
    monkeypatch.setattr(capture, "BATCH_BYTES", 10_000)
    expected = valid_lines(synthetic.synthetic_images(12, seed=9))
    lines = [e["line"] for e in expected]
    body = "\r\n".join(lines[:6]) + "\n\n" + "\n".join(lines[6:])  # no final newline
    s3.put_object(Bucket=BUCKET, Key=record_key(T0), Body=body.encode())

    parsed = load_capture(s3, CAPTURE_URI, n_classes=2)

    assert parsed.event_id == [e["event_id"] for e in expected]
    assert sum(parsed.malformed.values()) == 0


@pytest.mark.parametrize("chunk", [7, 999, 4096, 50_000])
@pytest.mark.parametrize("ending", ["\n", ""])
def test_blocks_are_whole_lines_of_at_least_the_batch_size(s3, monkeypatch, chunk, ending):
    import monitor.capture as capture

    monkeypatch.setattr(capture, "STREAM_CHUNK", chunk)
    monkeypatch.setattr(capture, "BATCH_BYTES", 10_000)
    lines = [f"line {i} ".encode() * (i % 7 * 400 + 1) for i in range(40)]  # up to 20 kB
    body = b"\n".join(lines) + ending.encode()
    s3.put_object(Bucket=BUCKET, Key=record_key(T0), Body=body)

    blocks = list(capture._blocks(s3.get_object(Bucket=BUCKET, Key=record_key(T0))["Body"]))

    assert b"".join(blocks) == body
    assert all(block.endswith(b"\n") for block in blocks[:-1])
    assert all(len(block) >= 10_000 for block in blocks[:-1])
    assert [line for block in blocks for line in block.split(b"\n") if line] == lines


def test_bytes_read_is_the_size_of_the_objects(s3):
    lines = [e["line"] for e in valid_lines(synthetic.synthetic_images(3, seed=2))]
    s3.put_object(Bucket=BUCKET, Key=record_key(T0), Body="\n".join(lines).encode())

    parsed = load_capture(s3, CAPTURE_URI, n_classes=2)

    assert len(parsed) == 3
    assert parsed.bytes_read == len("\n".join(lines).encode())  # no final line end


def test_parsing_falls_back_to_threads_with_a_warning_while_other_threads_run(s3, capsys):
    expected = valid_lines(synthetic.synthetic_images(6, seed=3))
    put_lines(s3, record_key(T0), [e["line"] for e in expected])
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="still-running")
    other.start()
    try:
        parsed = load_capture(s3, CAPTURE_URI, n_classes=2, processes=2)
    finally:
        release.set()
        other.join()

    assert parsed.event_id == [e["event_id"] for e in expected]
    warning = capsys.readouterr().err
    assert "level=warning" in warning and "parsing in threads" in warning
    assert "still-running" in warning


def test_the_process_objects_are_frozen_out_of_the_collector_only_while_loading(s3, monkeypatch):
    import monitor.capture as capture

    put_lines(
        s3, record_key(T0), [e["line"] for e in valid_lines(synthetic.synthetic_images(2, 1))]
    )
    frozen_while_parsing = []
    parse = capture.parse_block
    monkeypatch.setattr(
        capture,
        "parse_block",
        lambda *args: frozen_while_parsing.append(gc.get_freeze_count()) or parse(*args),
    )

    parsed = load_capture(s3, CAPTURE_URI, n_classes=2)

    assert len(parsed) == 2
    assert frozen_while_parsing and frozen_while_parsing[0] > 1000
    assert gc.get_freeze_count() == 0


def test_a_freeze_of_the_caller_is_left_alone(s3):
    put_lines(
        s3, record_key(T0), [e["line"] for e in valid_lines(synthetic.synthetic_images(2, 1))]
    )
    marker = ["frozen by the caller"]
    gc.freeze()
    try:
        assert len(load_capture(s3, CAPTURE_URI, n_classes=2)) == 2
        assert all(o is not marker for o in gc.get_objects())  # still frozen: not listed
    finally:
        gc.unfreeze()
    assert any(o is marker for o in gc.get_objects())


def test_time_window_skips_files_of_far_hours_before_downloading(s3):
    images = synthetic.synthetic_images(3, seed=5)
    hours = [T0 - timedelta(hours=5), T0, T0 + timedelta(hours=5)]
    for hour in hours:
        put_lines(s3, record_key(hour), [e["line"] for e in valid_lines(images, start=hour)])
    window = Window(T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))

    listed = list_capture_objects(s3, CAPTURE_URI, window)
    parsed = load_capture(s3, CAPTURE_URI, window, n_classes=2)

    assert [key for key, _ in listed] == [record_key(T0)]
    assert len(parsed) == 3 and parsed.outside_window == 0


def test_a_file_under_the_previous_hour_is_still_read(s3):
    """SageMaker names a file after the hour it was opened in; it may hold later records."""
    images = synthetic.synthetic_images(2, seed=6)
    late = datetime(2024, 10, 15, 14, 59, 59, tzinfo=timezone.utc)
    put_lines(s3, record_key(late), [e["line"] for e in valid_lines(images, start=late)])

    window = Window(datetime(2024, 10, 15, 15, tzinfo=timezone.utc), None)
    parsed = load_capture(s3, CAPTURE_URI, window, n_classes=2)

    assert parsed.event_id == ["event-1"]  # 15:00:01
    assert parsed.outside_window == 1


@pytest.mark.parametrize("path", ["0001/01/01/00", "9999/12/31/23"])
def test_a_key_of_the_first_or_last_representable_hour_is_read_not_raised(s3, path):
    """No slack can be added to these hours: the file is read and its records filtered one by
    one, as for a key without a yyyy/mm/dd/hh path."""
    images = synthetic.synthetic_images(3, seed=8)
    key = f"{PREFIX}/AllTraffic/{path}/00-00-000-odd.jsonl"
    put_lines(s3, key, [e["line"] for e in valid_lines(images, start=T0)])
    window = Window(T0 - timedelta(minutes=1), T0 + timedelta(seconds=3))

    parsed = load_capture(s3, CAPTURE_URI, window, n_classes=2)

    assert [key for key, _ in list_capture_objects(s3, CAPTURE_URI, window)] == [key]
    assert parsed.event_id == ["event-0", "event-1"] and parsed.outside_window == 1


def test_real_capture_files_from_s3(s3):
    for path in sorted(FIXTURES.glob("*.jsonl")):
        s3.put_object(
            Bucket=BUCKET,
            Key=f"{PREFIX}/AllTraffic/2024/10/16/09/{path.name}",
            Body=path.read_bytes(),
        )

    frame = to_frame(load_capture(s3, CAPTURE_URI, n_classes=2), LABELS)

    assert len(frame) == 4
    assert frame["predicted_class"].tolist() == [
        "bicycle",
        "motorcycle",
        "motorcycle",
        "motorcycle",
    ]


def test_empty_prefix_gives_no_rows_and_a_frame_with_every_column(s3):
    parsed = load_capture(s3, CAPTURE_URI, n_classes=2)
    frame = to_frame(parsed, LABELS)

    assert len(parsed) == 0 and parsed.files == 0
    assert len(frame) == 0 and "brightness" in frame and "predicted_class" in frame


def test_missing_bucket_is_a_named_error(s3):
    with pytest.raises(CaptureUnreadable, match="no-such-bucket"):
        load_capture(s3, "s3://no-such-bucket/datacapture/x")


WORKERS_SCRIPT = """
import boto3, numpy as np
from moto import mock_aws
import monitor.capture as capture
from monitor import synthetic
from monitor_support import BUCKET, CAPTURE_URI, REGION, T0, record_key, valid_lines

capture.BATCH_BYTES = 8_000  # several batches per file
pools = []
fork_pool = capture._process_pool
capture._process_pool = lambda n: pools.append(fork_pool(n)) or pools[-1]
with mock_aws():
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    expected = valid_lines(synthetic.synthetic_images(40, seed=8))
    for i in range(4):
        lines = [e["line"] for e in expected[i * 10 : i * 10 + 10]]
        s3.put_object(Bucket=BUCKET, Key=record_key(T0, f"0{i}-x"), Body="\\n".join(lines))
    in_processes = capture.load_capture(s3, CAPTURE_URI, n_classes=2, processes=2)
    in_threads = capture.load_capture(s3, CAPTURE_URI, n_classes=2, processes=0)
assert len(pools) == 1 and pools[0] is not None, "no worker processes were started"
assert in_processes.event_id == in_threads.event_id == [e["event_id"] for e in expected]
assert in_processes.confidence == in_threads.confidence
for name in in_threads.stats:
    assert np.array_equal(in_processes.stats[name], in_threads.stats[name]), name
print("ok", len(in_processes))
"""


def test_worker_processes_give_the_same_rows_as_threads(monkeypatch):
    """In a fresh process: worker processes are only forked from a single-threaded one."""
    isolate_aws(monkeypatch)
    tests_dir = Path(__file__).resolve().parents[1]
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tests_dir), os.environ.get("PYTHONPATH", "")])
    )

    result = subprocess.run(
        [sys.executable, "-c", WORKERS_SCRIPT], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "40"]
