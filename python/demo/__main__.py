"""Print the three-line summary of a ``make demo`` run, then the report's path (last line).

The Makefile runs the stages (data, train, deploy, predict, load test, report); this reads what
they wrote: the newest model run's ``evaluation.json``, the newest ``reports/loadtest-*.json``
and the newest report's ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from settings import CliError, repo_root, run_cli


class DemoIncomplete(CliError):
    """A stage of the demo left no result behind."""


def newest(pattern: str, base: Path) -> Path:
    found = sorted(base.glob(pattern), key=lambda path: path.stat().st_mtime)
    if not found:
        raise DemoIncomplete(f"nothing matches {base / pattern}: did that stage run?")
    return found[-1]


def main() -> int:
    root = repo_root()
    evaluation = json.loads(newest("models/*/evaluation.json", root).read_text())
    accuracy = evaluation["multiclass_classification_metrics"]["accuracy"]["value"]
    loadtest = json.loads(newest("reports/loadtest-*.json", root).read_text())["summary"]
    report = newest("reports/*/report.html", root)
    summary = json.loads((report.parent / "summary.json").read_text())
    by_status = ", ".join(
        f"{name} {count}" for name, count in sorted(loadtest["by_status"].items())
    )
    print(f"accuracy:   {accuracy:.3f} on the test split")
    p95 = loadtest["latency_ms"]["p95"]  # None when no execution ended
    print(
        f"executions: {loadtest['submitted']} submitted{f' ({by_status})' if by_status else ''}, "
        f"{loadtest['lost']} lost, "
        f"p95 {'-' if p95 is None else f'{p95:.0f} ms'}"
    )
    drifted = [
        f["feature"]
        for f in summary["drift"]["features"]
        if f["verdict"] in ("drift", "moderate drift")
    ]
    detail = f" ({', '.join(drifted)})" if drifted else ""
    print(f"drift:      {summary['drift']['verdict']}{detail} over {summary['records']} records")
    print(f"report:     {report}")
    return 0


if __name__ == "__main__":
    run_cli(main)
