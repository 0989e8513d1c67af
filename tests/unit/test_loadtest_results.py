"""The results files: exactly the agreed JSON/CSV format, written atomically, and the table."""

import csv
import json
from datetime import datetime, timedelta, timezone

import pytest

from loadtest import results
from loadtest.accounting import ExecutionRecord
from loadtest.results import CSV_COLUMNS, report_paths, table, write_results

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
RUN = {
    "run_id": "lt-x",
    "mode": "burst",
    "target": "local",
    "started": "2025-01-01T12:00:00.000+00:00",
    "finished": "2025-01-01T12:00:05.000+00:00",
    "n": 2,
    "rate": None,
    "duration": None,
    "concurrency": 4,
    "drift": 1,
    "faults": 0.0,
    "state_machine_arn": "arn:sm",
    "seed": 1,
}
SUMMARY = {
    "submitted": 3,
    "succeeded": 1,
    "by_status": {"succeeded": 1, "LowConfidence": 1, "EndpointError": 1},
    "lost": 0,
    "throughput": 2.5,
    "latency_ms": {"p50": 120.0, "p95": 300.5, "p99": 300.5},
    "capture_records": 3,
    "endpoint_invocations": 3,
    "estimated_cost_usd": 0.0012,
    "error_rate": 0.3333,
    "retries": 2,
    "alerts_published": 2,
    "wall_s": 1.2,
    "max_start_lag_ms": 3.0,
    "capture_check": "ok",
    "cost_breakdown_usd": {
        "step_functions": 0.0004,
        "lambda": 0.0,
        "sagemaker_endpoint": 0.0008,
        "total": 0.0012,
    },
    "prices_as_of": "2025-01, us-east-1, on-demand",
}
RECORDS = [
    ExecutionRecord("arn:1", "test/a.png", "SUCCEEDED", "", T0, T0 + timedelta(milliseconds=120)),
    ExecutionRecord(
        "arn:2", "loadtest/drift/x/dark/test/b.png", "FAILED", "LowConfidence", T0, T0, "dark"
    ),
    ExecutionRecord("arn:3", "test/c.png", "RUNNING", "", None, None),
]


def test_json_and_csv_have_the_agreed_format(tmp_path):
    json_path, csv_path = report_paths(tmp_path, "20250101T120000Z")
    write_results(json_path, csv_path, "reports/x.csv", RUN, SUMMARY, RECORDS)
    document = json.loads(json_path.read_text())
    assert set(document) == {"run", "summary", "executions_csv"}
    assert document["executions_csv"] == "reports/x.csv"
    for key in ("run_id", "mode", "target", "started", "finished", "n", "rate", "duration"):
        assert key in document["run"]
    for key in ("concurrency", "drift", "faults", "state_machine_arn"):
        assert key in document["run"]
    for key in ("submitted", "succeeded", "by_status", "lost", "throughput", "latency_ms"):
        assert key in document["summary"]
    for key in ("capture_records", "endpoint_invocations", "estimated_cost_usd"):
        assert key in document["summary"]
    assert set(document["summary"]["latency_ms"]) == {"p50", "p95", "p99"}
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:7] == [
        "execution_arn",
        "s3_key",
        "status",
        "error",
        "start",
        "stop",
        "latency_ms",
    ]
    assert rows[0]["latency_ms"] == "120.0" and rows[0]["error"] == ""
    assert rows[0]["start"] == "2025-01-01T12:00:00.000+00:00"
    assert rows[1]["error"] == "LowConfidence" and rows[1]["drift_kind"] == "dark"
    assert rows[2]["status"] == "RUNNING" and rows[2]["latency_ms"] == ""
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_report_paths_never_overwrite(tmp_path):
    first = report_paths(tmp_path, "20250101T120000Z")
    write_results(*first, "x.csv", RUN, SUMMARY, RECORDS)
    second = report_paths(tmp_path, "20250101T120000Z")
    assert second[0].name == "loadtest-20250101T120000Z-2.json"
    assert second[1].name == "loadtest-20250101T120000Z-2.csv"


def test_report_paths_reserve_the_names_they_give(tmp_path):
    """Two runs ending in the same second: the second gets other names although the first has
    not written its files yet."""
    first = report_paths(tmp_path, "20250101T120000Z")
    second = report_paths(tmp_path, "20250101T120000Z")
    assert [p.name for p in first] == [
        "loadtest-20250101T120000Z.json",
        "loadtest-20250101T120000Z.csv",
    ]
    assert [p.name for p in second] == [
        "loadtest-20250101T120000Z-2.json",
        "loadtest-20250101T120000Z-2.csv",
    ]
    write_results(*second, "x.csv", RUN, SUMMARY, RECORDS)
    write_results(*first, "x.csv", RUN, SUMMARY, RECORDS)
    assert json.loads(second[0].read_text())["run"] == RUN


def test_a_csv_that_cannot_be_written_leaves_no_reserved_file(tmp_path, monkeypatch):
    json_path, csv_path = report_paths(tmp_path, "20250101T120000Z")

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "atomic_write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_results(json_path, csv_path, "x.csv", RUN, SUMMARY, RECORDS)
    assert list(tmp_path.iterdir()) == []


def test_table_lists_every_outcome_and_figure():
    text = table(RUN, SUMMARY)
    for needle in (
        "submitted",
        "succeeded",
        "LowConfidence",
        "EndpointError",
        "lost",
        "retries",
        "p50 / p95 / p99",
        "120.00 / 300.50 / 300.50",
        "capture records / invocations  3 / 3",
        "estimated AWS cost (USD)",
        "2025-01, us-east-1",
    ):
        assert needle in text
