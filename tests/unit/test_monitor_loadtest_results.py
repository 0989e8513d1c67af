"""``monitor.loadtest_results``: the load test's JSON + CSV, read tolerantly."""

from __future__ import annotations

import json

import pytest

from loadtest.results import report_paths
from monitor.loadtest_results import latest_loadtest, read_loadtest
from monitor_support import write_loadtest


def test_full_results_are_read(tmp_path):
    path = write_loadtest(tmp_path / "reports", rows=40)

    results = read_loadtest(path, repo_root=tmp_path)

    assert results.notes == []
    assert results.run["mode"] == "burst"
    assert len(results.executions) == 40
    assert results.outcomes() == {"succeeded": 32, "LowConfidence": 8}
    assert results.latencies() == {"p50": 295.0, "p95": 485.0, "p99": 495.0}
    assert results.executions["outcome"].value_counts().to_dict() == {
        "SUCCEEDED": 32,
        "LowConfidence": 8,
    }
    assert results.executions["latency_ms"].iloc[3] == pytest.approx(130.0)
    assert results.altered_images() == {"dark": 10}


def test_newest_file_is_picked(tmp_path):
    write_loadtest(tmp_path, "20241015T140000Z")
    newest = write_loadtest(tmp_path, "20241016T080000Z")

    assert latest_loadtest(tmp_path) == newest
    assert latest_loadtest(tmp_path / "absent") is None


def test_of_runs_with_the_same_stamp_the_last_one_written_is_picked(tmp_path):
    written = []
    for _ in range(11):  # loadtest-<stamp>.json, then -2 ... -11, as make loadtest names them
        json_path, _ = report_paths(tmp_path, "20241015T140000Z")
        written.append(write_loadtest(tmp_path, json_path.stem.removeprefix("loadtest-")))

        assert latest_loadtest(tmp_path) == written[-1]
    assert written[-1].name == "loadtest-20241015T140000Z-11.json"
    assert latest_loadtest(tmp_path) != write_loadtest(tmp_path, "20241015T135959Z")


def test_missing_summary_parts_fall_back_to_the_csv(tmp_path):
    path = write_loadtest(tmp_path / "reports", rows=10)
    document = json.loads(path.read_text())
    document["summary"] = {"submitted": 10, "lost": 1}
    path.write_text(json.dumps(document))

    results = read_loadtest(path, repo_root=tmp_path)

    assert results.outcomes() == {"SUCCEEDED": 8, "LowConfidence": 2, "lost": 1}
    assert results.latencies()["p50"] == pytest.approx(145.0)


def test_counts_and_latencies_that_are_not_finite_numbers_are_left_out(tmp_path):
    path = write_loadtest(tmp_path / "reports", rows=10)
    document = json.loads(path.read_text())
    document["summary"]["by_status"] = {"succeeded": float("nan"), "LowConfidence": 2}
    document["summary"]["lost"] = float("inf")
    document["summary"]["latency_ms"] = {"p50": float("nan"), "p95": 200.0}
    path.write_text(json.dumps(document))  # NaN and Infinity, as Python's JSON writes them

    results = read_loadtest(path, repo_root=tmp_path)

    assert results.outcomes() == {"LowConfidence": 2}
    assert results.latencies() == {"p95": 200.0}


def test_latency_is_computed_from_start_and_stop_when_absent(tmp_path):
    path = write_loadtest(tmp_path / "reports", rows=5)
    csv_path = tmp_path / "reports" / path.with_suffix(".csv").name
    lines = csv_path.read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("latency_ms")
    rows = [line.split(",") for line in lines[1:]]
    for row in rows:
        row[column] = ""
    csv_path.write_text("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n")

    results = read_loadtest(path, repo_root=tmp_path)

    assert results.executions["latency_ms"].tolist() == [100.0, 110.0, 120.0, 130.0, 140.0]


@pytest.mark.parametrize(
    "content, note",
    [
        ("{not json", "could not be read"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"run": {}, "executions_csv": "reports/absent.csv"}), "not found"),
    ],
)
def test_unreadable_results_become_notes(tmp_path, content, note):
    path = tmp_path / "loadtest-20241015T140000Z.json"
    path.write_text(content)

    results = read_loadtest(path, repo_root=tmp_path)

    assert any(note in n for n in results.notes)
    assert results.executions is None
    assert results.outcomes() == {}


def test_a_csv_without_some_columns_is_still_used(tmp_path):
    path = write_loadtest(tmp_path / "reports", rows=4)
    csv_path = path.with_suffix(".csv")
    csv_path.write_text("execution_arn,status\narn:1,SUCCEEDED\narn:2,FAILED\n")

    results = read_loadtest(path, repo_root=tmp_path)

    assert any("lacks the columns" in n for n in results.notes)
    assert results.executions["outcome"].tolist() == ["SUCCEEDED", "FAILED"]
