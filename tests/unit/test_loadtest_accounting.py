"""Accounting rules: one outcome per image, counts that add up, nearest-rank percentiles."""

import csv
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from loadtest.accounting import ExecutionRecord, failures, percentile, summarize

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def record(status: str, error: str = "", start_s: float = 0.0, ms: float = 100.0):
    start = T0 + timedelta(seconds=start_s)
    ended = status not in ("RUNNING", "MISSING", "NOT_STARTED")
    return ExecutionRecord(
        execution_arn=f"arn:{status}:{start_s}",
        s3_key="test/bicycle/1.png",
        status=status,
        error=error,
        start=start if ended else None,
        stop=start + timedelta(milliseconds=ms) if ended else None,
    )


def test_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([], 50) is None


def test_every_record_has_one_outcome_and_the_counts_add_up():
    records = [
        record("SUCCEEDED"),
        record("SUCCEEDED"),
        record("FAILED", "LowConfidence"),
        record("FAILED", "ImageNotFound"),
        record("TIMED_OUT"),
        record("NOT_STARTED", "StartExecution.ThrottlingException"),
        record("RUNNING"),
        record("MISSING"),
    ]
    summary = summarize(records)
    assert summary.submitted == 8
    assert summary.succeeded == 2
    assert summary.by_status == {
        "ImageNotFound": 1,
        "LowConfidence": 1,
        "StartExecution.ThrottlingException": 1,
        "TIMED_OUT": 1,
        "succeeded": 2,
    }
    assert summary.lost == 2
    assert sum(summary.by_status.values()) + summary.lost == summary.submitted


def test_error_rate_leaves_out_low_confidence_and_lost():
    records = [record("SUCCEEDED")] * 5 + [record("FAILED", "LowConfidence")] * 3
    records += [record("FAILED", "EndpointError")] * 2 + [record("RUNNING")]
    summary = summarize(records)
    assert summary.error_rate == pytest.approx(2 / 11)
    assert failures(summary, max_error_rate=0.5) == ["1 of 11 images lost"]
    assert len(failures(summary, max_error_rate=0.1)) == 2


def test_a_clean_run_passes():
    summary = summarize([record("SUCCEEDED", start_s=i) for i in range(10)])
    assert failures(summary, max_error_rate=0.0) == []


def test_latency_and_throughput_come_from_step_functions_timestamps():
    records = [record("SUCCEEDED", start_s=i * 0.5, ms=100.0 + i) for i in range(10)]
    records.append(record("RUNNING"))
    summary = summarize(records)
    assert summary.latency_ms == {"p50": 104.0, "p95": 109.0, "p99": 109.0}
    # First start at 0 s, last stop at 4.5 s + 109 ms: 10 ended images.
    assert summary.wall_s == pytest.approx(4.609)
    assert summary.throughput == pytest.approx(10 / 4.609)


def test_lost_records_have_no_latency():
    assert record("RUNNING").latency_ms is None
    assert record("SUCCEEDED", ms=250).latency_ms == pytest.approx(250.0)


# --- over the records of real runs (tests/fixtures/loadtest/) -------------------------------


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "loadtest"


def recorded_run(stamp: str) -> tuple[dict, list[dict], list[ExecutionRecord]]:
    document = json.loads((FIXTURES / f"loadtest-{stamp}.json").read_text())
    with (FIXTURES / f"loadtest-{stamp}.csv").open() as handle:
        rows = list(csv.DictReader(handle))

    def when(text: str):
        return datetime.fromisoformat(text) if text else None

    records = [
        ExecutionRecord(
            r["execution_arn"],
            r["s3_key"],
            r["status"],
            r["error"],
            when(r["start"]),
            when(r["stop"]),
            r["drift_kind"],
        )
        for r in rows
    ]
    return document, rows, records


@pytest.mark.parametrize("stamp", ["20261126T220639Z", "20261126T220659Z"])
def test_recorded_runs_account_for_every_image(stamp):
    document, rows, records = recorded_run(stamp)
    summary = summarize(records)
    expected = Counter("succeeded" if r["status"] == "SUCCEEDED" else r["error"] for r in rows)
    assert summary.by_status == dict(expected)
    assert summary.submitted == len(rows) == document["run"]["n"]
    assert sum(summary.by_status.values()) + summary.lost == summary.submitted
    assert summary.by_status == document["summary"]["by_status"]
    assert summary.lost == document["summary"]["lost"] == 0


@pytest.mark.parametrize("stamp", ["20261126T220639Z", "20261126T220659Z"])
def test_recorded_runs_percentiles_are_nearest_rank(stamp):
    document, rows, records = recorded_run(stamp)
    latencies = np.array([float(r["latency_ms"]) for r in rows])
    summary = summarize(records)
    for p in (50, 95, 99):
        # numpy's "inverted_cdf" is the nearest-rank definition.
        expected = float(np.percentile(latencies, p, method="inverted_cdf"))
        assert summary.latency_ms[f"p{p}"] == pytest.approx(expected)
        assert document["summary"]["latency_ms"][f"p{p}"] == pytest.approx(expected)
    starts = [datetime.fromisoformat(r["start"]) for r in rows]
    stops = [datetime.fromisoformat(r["stop"]) for r in rows]
    wall = (max(stops) - min(starts)).total_seconds()
    assert summary.throughput == pytest.approx(len(rows) / wall)


def test_recorded_fault_run_error_rate_leaves_out_low_confidence():
    document, rows, records = recorded_run("20261126T220639Z")
    summary = summarize(records)
    errors = sum(1 for r in rows if r["status"] != "SUCCEEDED" and r["error"] != "LowConfidence")
    assert errors > 0 and summary.by_status["LowConfidence"] > 0
    assert summary.error_rate == pytest.approx(errors / len(rows))
