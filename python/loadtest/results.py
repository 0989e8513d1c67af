"""The run's results: a plain-text table for people, JSON + CSV files for the monitoring report.

File format (read by ``monitor.report``):
``reports/loadtest-<ts>.json`` = ``{"run": {...}, "summary": {...}, "executions_csv": path}`` and
``reports/loadtest-<ts>.csv`` with one row per image:
``execution_arn,s3_key,status,error,start,stop,latency_ms,drift_kind``. Both are written to a
temporary file and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from loadtest.accounting import ExecutionRecord

CSV_COLUMNS = [
    "execution_arn",
    "s3_key",
    "status",
    "error",
    "start",
    "stop",
    "latency_ms",
    "drift_kind",
]


def iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="milliseconds") if moment else ""


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for every reader
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(records: list[ExecutionRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        latency = record.latency_ms
        writer.writerow(
            [
                record.execution_arn,
                record.s3_key,
                record.status,
                record.error,
                iso(record.start),
                iso(record.stop),
                "" if latency is None else f"{latency:.1f}",
                record.drift_kind,
            ]
        )
    return out.getvalue()


def report_paths(reports_dir: Path, stamp: str) -> tuple[Path, Path]:
    """Free ``loadtest-<stamp>[-k].json|csv`` names in ``reports_dir``, reserved: the CSV is
    created empty, exclusively, so that two runs that end in the same second never pick the
    same names (``write_results`` replaces it; the report reads a CSV only through its JSON)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    k = 1
    while True:
        json_path = reports_dir / f"loadtest-{stamp}{'' if k == 1 else f'-{k}'}.json"
        csv_path = json_path.with_suffix(".csv")
        if not json_path.exists():
            try:
                csv_path.open("x").close()
                return json_path, csv_path
            except FileExistsError:
                pass
        k += 1


def display_path(path: Path, root: Path) -> str:
    """``reports/...`` relative to the repository when inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def write_results(
    json_path: Path,
    csv_path: Path,
    csv_display: str,
    run: dict,
    summary: dict,
    records: list[ExecutionRecord],
) -> None:
    """CSV first, then the JSON that points at it: a JSON file always has its CSV. The empty
    CSV that ``report_paths`` reserved goes if the CSV cannot be written."""
    try:
        atomic_write(csv_path, csv_text(records))
    except BaseException:
        if csv_path.exists() and csv_path.stat().st_size == 0:
            csv_path.unlink()
        raise
    document = {"run": run, "summary": summary, "executions_csv": csv_display}
    atomic_write(json_path, json.dumps(document, indent=2) + "\n")


def _fmt(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _endpoint_calls(seen: dict | None) -> str | None:
    """``46: 34 answered, 12 failed (injected: model_error 6, ...)``: the local stack's view."""
    if seen is None:
        return None
    text = (
        f"{seen['calls']}: {seen['answered']} answered, {seen['calls'] - seen['answered']} failed"
    )
    faults = ", ".join(f"{kind} {n}" for kind, n in seen["injected_faults"].items() if n)
    return f"{text} (injected: {faults})" if faults else text


def table(run: dict, summary: dict) -> str:
    """The end-of-run table: outcomes first, then speed, capture check and cost."""
    rows: list[tuple[str, object]] = [
        ("run", run["run_id"]),
        ("mode", run["mode"]),
        ("target", run["target"]),
        ("submitted", summary["submitted"]),
        ("succeeded", summary["succeeded"]),
        ("LowConfidence", summary["by_status"].get("LowConfidence", 0)),
    ]
    for name, count in summary["by_status"].items():
        if name not in ("succeeded", "LowConfidence"):
            rows.append((name, count))
    latency = summary["latency_ms"]
    rows += [
        ("lost", summary["lost"]),
        ("error rate", f"{summary['error_rate']:.3f}"),
        ("retries (in histories)", summary["retries"]),
        ("alerts published", summary["alerts_published"]),
        ("throughput (images/s)", summary["throughput"]),
        (
            "latency p50 / p95 / p99 (ms)",
            " / ".join(_fmt(latency[p]) for p in ("p50", "p95", "p99")),
        ),
        ("max start lag (ms, stream)", summary["max_start_lag_ms"]),
        ("endpoint calls (local stack)", _endpoint_calls(summary.get("local_stack_endpoint"))),
        (
            "capture records / invocations",
            f"{_fmt(summary['capture_records'])} / {summary['endpoint_invocations']}",
        ),
        ("estimated AWS cost (USD)", f"{summary['estimated_cost_usd']:.4f}"),
    ]
    for name, dollars in summary["cost_breakdown_usd"].items():
        if name != "total":
            rows.append((f"  {name}", f"{dollars:.4f}"))
    rows.append(("  prices", summary["prices_as_of"]))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {_fmt(value)}" for name, value in rows)
