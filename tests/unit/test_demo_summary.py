"""``python -m demo``: the summary ``make demo`` ends with, read from what the stages wrote."""

from __future__ import annotations

import json

import demo.__main__ as demo


def write_results(root, p95):
    run = root / "models" / "scones-1"
    run.mkdir(parents=True)
    metrics = {"multiclass_classification_metrics": {"accuracy": {"value": 0.955}}}
    (run / "evaluation.json").write_text(json.dumps(metrics))
    reports = root / "reports"
    (reports / "20261127T000000Z").mkdir(parents=True)
    summary = {
        "submitted": 3,
        "lost": 3 if p95 is None else 0,
        "by_status": {} if p95 is None else {"succeeded": 3},
        "latency_ms": {"p50": p95, "p95": p95},
    }
    (reports / "loadtest-20261127T000000Z.json").write_text(json.dumps({"summary": summary}))
    (reports / "20261127T000000Z" / "report.html").write_text("<html></html>")
    drift = {"verdict": "no drift", "features": [{"feature": "brightness", "verdict": "no drift"}]}
    (reports / "20261127T000000Z" / "summary.json").write_text(
        json.dumps({"records": 3, "drift": drift})
    )


def test_the_summary_names_accuracy_executions_drift_and_the_report(tmp_path, monkeypatch, capsys):
    write_results(tmp_path, p95=812.4)
    monkeypatch.setattr(demo, "repo_root", lambda: tmp_path)

    assert demo.main() == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "accuracy:   0.955 on the test split",
        "executions: 3 submitted (succeeded 3), 0 lost, p95 812 ms",
        "drift:      no drift over 3 records",
        f"report:     {tmp_path / 'reports' / '20261127T000000Z' / 'report.html'}",
    ]


def test_a_load_test_where_no_execution_ended_has_no_p95(tmp_path, monkeypatch, capsys):
    write_results(tmp_path, p95=None)
    monkeypatch.setattr(demo, "repo_root", lambda: tmp_path)

    assert demo.main() == 0

    assert "executions: 3 submitted, 3 lost, p95 -\n" in capsys.readouterr().out
