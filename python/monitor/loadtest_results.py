"""Tolerant reader of the load test's results, for the report's load-test section.

``make loadtest`` writes ``reports/loadtest-<timestamp>.json``::

    {"run": {...free-form: mode, n, rate, drift, faults, started, finished...},
     "summary": {"submitted": 200, "succeeded": 180, "by_status": {"SUCCEEDED": 180,
                 "LowConfidence": 15, "ModelError": 5}, "lost": 0, "throughput": 12.5,
                 "latency_ms": {"p50": 140.0, "p95": 320.0, "p99": 410.0}},
     "executions_csv": "reports/loadtest-<timestamp>.csv"}

and the CSV of executions with the columns
``execution_arn,s3_key,status,error,start,stop,latency_ms`` (``status`` = the Step Functions
status, ``error`` = the error name of a failed execution, ``start``/``stop`` = ISO times), and
optionally ``drift_kind`` (how the image was altered for a drift run; empty = unaltered).

Tolerant because the report must not fail for a load test written by another version: a
missing key or an unreadable CSV becomes a note in the report, never an error. The CSV path is
resolved against the repository root, then against the JSON's folder.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

CSV_COLUMNS = ("execution_arn", "s3_key", "status", "error", "start", "stop", "latency_ms")


@dataclass
class LoadTestResults:
    path: Path
    run: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    executions: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def outcomes(self) -> dict[str, int]:
        """Count per outcome: ``summary.by_status``, else counted from the CSV."""
        by_status = self.summary.get("by_status")
        if isinstance(by_status, dict) and by_status:
            counts = {str(k): int(v) for k, v in by_status.items() if _is_number(v)}
        elif self.executions is not None and "outcome" in self.executions:
            counts = self.executions["outcome"].value_counts().astype(int).to_dict()
        else:
            counts = {}
        lost = self.summary.get("lost")
        if _is_number(lost) and lost and "lost" not in counts:
            counts["lost"] = int(lost)
        return counts

    def altered_images(self) -> dict[str, int]:
        """Executions per kind of altered (drift) image, from the CSV's optional ``drift_kind``."""
        if self.executions is None or "drift_kind" not in self.executions:
            return {}
        kinds = self.executions["drift_kind"].fillna("")
        return kinds[kinds != ""].value_counts().astype(int).to_dict()

    def latencies(self) -> dict[str, float]:
        """p50/p95/p99 in ms: the summary's, else computed from the CSV."""
        given = self.summary.get("latency_ms")
        if isinstance(given, dict):
            found = {k: float(v) for k, v in given.items() if _is_number(v)}
            if found:
                return found
        if self.executions is not None and self.executions["latency_ms"].notna().any():
            latency = self.executions["latency_ms"].dropna()
            return {f"p{q}": float(latency.quantile(q / 100)) for q in (50, 95, 99)}
        return {}


def _is_number(value: Any) -> bool:
    """A finite JSON number (Python's JSON reader also takes NaN and Infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def latest_loadtest(reports_dir: Path) -> Path | None:
    """The newest ``loadtest-*.json``: the latest timestamp in the name (it sorts in time
    order), and of the runs that share it, the highest ``-k`` that ``make loadtest`` adds."""
    found = sorted(reports_dir.glob("loadtest-*.json"), key=_stamp_and_number)
    return found[-1] if found else None


def _stamp_and_number(path: Path) -> tuple[str, int]:
    """``loadtest-<stamp>.json`` -> ``(stamp, 1)``, ``loadtest-<stamp>-<k>.json`` -> ``(stamp,
    k)``: sorted as names, ``-2`` would come before ``.json`` and ``-10`` before ``-2``."""
    name = path.stem[len("loadtest-") :]
    stamp, _, number = name.rpartition("-")
    return (stamp, int(number)) if stamp and number.isdigit() else (name, 1)


def read_loadtest(path: Path, repo_root: Path) -> LoadTestResults:
    """Whatever can be read of one load-test result; problems end up in ``notes``."""
    results = LoadTestResults(path=path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        results.notes.append(f"{path.name} could not be read: {err}")
        return results
    if not isinstance(data, dict):
        results.notes.append(f"{path.name} is not a JSON object")
        return results
    results.run = data.get("run") if isinstance(data.get("run"), dict) else {}
    results.summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
    if not results.summary:
        results.notes.append(f"{path.name} has no `summary`")
    csv_name = data.get("executions_csv") or path.with_suffix(".csv").name
    candidates = [repo_root / str(csv_name), path.parent / Path(str(csv_name)).name]
    csv_path = next((c for c in candidates if c.is_file()), None)
    if csv_path is None:
        results.notes.append(f"executions CSV {csv_name} not found")
        return results
    results.executions = _read_executions(csv_path, results.notes)
    return results


def _read_executions(path: Path, notes: list[str]) -> pd.DataFrame | None:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        notes.append(f"{path.name} could not be read: {err}")
        return None
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        notes.append(f"{path.name} lacks the columns {', '.join(missing)}")
    for column in CSV_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    frame["latency_ms"] = pd.to_numeric(frame["latency_ms"], errors="coerce")
    start = pd.to_datetime(frame["start"], errors="coerce", utc=True, format="ISO8601")
    stop = pd.to_datetime(frame["stop"], errors="coerce", utc=True, format="ISO8601")
    computed = (stop - start).dt.total_seconds() * 1000.0
    frame["latency_ms"] = frame["latency_ms"].fillna(computed)
    frame["outcome"] = frame["error"].where(frame["error"] != "", frame["status"])
    frame.loc[frame["outcome"] == "", "outcome"] = "unknown"
    return frame
