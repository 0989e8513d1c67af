"""``python -m monitor.report`` (``make report``): the monitoring report of the deployed endpoint.

Closes the loop of "monitor the model": reads the endpoint's data capture from S3 (local stack or
AWS, plain boto3), one row per inference, and writes ``reports/<timestamp>/``:

- ``report.html``: one self-contained page (figures embedded), summary table at the top;
- ``overview.png``: the summary table and every figure in one picture (linked from the page);
- the figures as PNG; ``captures.parquet`` (one row per inference); ``summary.json`` (the numbers
  of the summary table, for scripts such as ``make demo``).

The last line printed is the path of ``report.html``. Zero records still give a report that says
so. Inputs, all overridable:

- capture location: serving outputs ``capture_s3_uri``/``endpoint_name`` (``--capture-uri``);
- training baseline (labels, class prior, image statistics): ``--baseline PATH``, else the
  ``baseline.json`` beside the deployed model (serving output ``model_data_url``, else the
  ``model_data_url`` of ``build/<TARGET>/model.tfvars.json`` that ``make deploy`` writes), else
  the newest ``models/*/baseline.json``; without one the report has no drift section;
- low-confidence threshold: serving output ``threshold``, default 0.93 (``--threshold``);
- time window: ``--since`` / ``--until`` (ISO 8601, UTC when no offset; end excluded);
- load test: the newest ``reports/loadtest-*.json``, when there is one.

Load-test results, as ``make loadtest`` writes them (read tolerantly: missing keys become notes)::

    reports/loadtest-<timestamp>.json
    {"run": {...free-form settings: mode, n, rate, drift, faults, started, finished...},
     "summary": {"submitted": int, "succeeded": int,
                 "by_status": {"SUCCEEDED": int, "LowConfidence": int, "<ErrorName>": int, ...},
                 "lost": int, "throughput": float (executions/s),
                 "latency_ms": {"p50": float, "p95": float, "p99": float}},
     "executions_csv": "reports/loadtest-<timestamp>.csv"}

    reports/loadtest-<timestamp>.csv, one row per execution, header:
    execution_arn,s3_key,status,error,start,stop,latency_ms
    (status = Step Functions status, error = error name or empty, start/stop = ISO 8601 times,
     latency_ms = stop - start in milliseconds; an optional drift_kind column names how an
     image was altered by a drift run, empty for an unaltered one)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import boto3
import pandas as pd

from monitor import figures
from monitor.baseline import Baseline, find_baseline
from monitor.capture import load_capture, split_s3_uri, to_frame
from monitor.drift import NO_BASELINE, RULE, FeatureDrift, drift_report, overall_verdict
from monitor.html_page import OVERVIEW, Chart, render
from monitor.image_stats import STAT_NAMES
from monitor.loadtest_results import LoadTestResults, latest_loadtest, read_loadtest
from monitor.overview import overview
from monitor.records import MALFORMED_REASONS, ParsedCapture, Window
from settings import CliError, MissingOutputs, get_logger, outputs, repo_root, run_cli
from settings.outputs import outputs_dir

log = get_logger("monitor.report")

REPORTS_DIR = repo_root() / "reports"
MODELS_DIR = repo_root() / "models"
DEFAULT_THRESHOLD = 0.93


class BadWindow(CliError):
    """``--since``/``--until`` is not an ISO 8601 time, or the window is empty."""


class BadThreshold(CliError):
    """The low-confidence threshold is not a number in (0, 1]."""


class OutputNotWritable(CliError):
    """The report's folder cannot be created where ``--out`` (or ``reports/``) points."""


class OutputExists(CliError):
    """The output folder exists already: a report is never written over another one."""


@dataclass
class ReportOptions:
    capture_uri: str
    window: Window = field(default_factory=Window)
    threshold: float = DEFAULT_THRESHOLD
    baseline_path: Path | None = None
    model_data_url: str | None = None
    out: Path | None = None
    reports_dir: Path = field(default_factory=lambda: REPORTS_DIR)
    models_dir: Path = field(default_factory=lambda: MODELS_DIR)


@dataclass
class ReportResult:
    html: Path
    summary: dict


def parse_time(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise BadWindow(f"{option} {text!r} is not an ISO 8601 time") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _labels(baseline: Baseline | None, parsed: ParsedCapture) -> list[str]:
    if baseline is not None:
        return baseline.labels
    width = max((len(p) for p in parsed.probabilities), default=0)
    return [f"class {i}" for i in range(width)]


def _iso(moment: Any) -> str | None:
    return None if moment is None or pd.isna(moment) else moment.isoformat()


def summarize(
    options: ReportOptions,
    parsed: ParsedCapture,
    frame: pd.DataFrame,
    labels: list[str],
    baseline: Baseline | None,
    looked: list[str],
    features: list[FeatureDrift],
    loadtest: LoadTestResults | None,
) -> dict:
    """Every number of the report, JSON-serialisable (``summary.json``, the HTML's source)."""
    records = len(frame)
    low = frame["confidence"] < options.threshold
    counts = frame["predicted_class"].value_counts()
    prior = baseline.class_prior if baseline else {}
    classes = {
        label: {
            "count": int(counts.get(label, 0)),
            "share": float(counts.get(label, 0) / records) if records else None,
            "prior": prior.get(label),
            "mean_confidence": (
                float(frame.loc[frame["predicted_class"] == label, "confidence"].mean())
                if counts.get(label, 0)
                else None
            ),
            "low_confidence": int((low & (frame["predicted_class"] == label)).sum()),
        }
        for label in labels
    }
    if baseline is None:
        drift_note = "no baseline.json found (looked at: " + ", ".join(looked) + ")"
    elif not baseline.image_stats:
        drift_note = f"{baseline.source} has no image_stats"
    else:
        drift_note = None
    malformed = {reason: int(parsed.malformed.get(reason, 0)) for reason in MALFORMED_REASONS}
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "capture_uri": options.capture_uri,
        "window": {
            "since": _iso(options.window.since),
            "until": _iso(options.window.until),
            "asked": options.window.describe(),
            "first": _iso(frame["time"].min()) if records else None,
            "last": _iso(frame["time"].max()) if records else None,
        },
        "files": parsed.files,
        "bytes_read": parsed.bytes_read,
        "records": records,
        "malformed": malformed,
        "malformed_total": sum(malformed.values()),
        "outside_window": parsed.outside_window,
        "threshold": options.threshold,
        "low_confidence": {
            "count": int(low.sum()),
            "rate": float(low.mean()) if records else None,
        },
        "classes": classes,
        "drift": {
            "rule": RULE,
            "verdict": NO_BASELINE if drift_note else overall_verdict(features),
            "features": [f.as_dict() for f in features],
            "note": drift_note,
        },
        "baseline": {"source": baseline.source if baseline else None, "looked_at": looked},
        "loadtest": _loadtest_summary(loadtest) if loadtest else None,
        "message": "" if records else _no_records_message(options, malformed, parsed),
    }


def _no_records_message(options: ReportOptions, malformed: dict, parsed: ParsedCapture) -> str:
    """Why the report has no rows: no capture at all, or only lines it could not use (then
    sending more traffic is not the fix: a baseline with other labels, another model...)."""
    where = f"under {options.capture_uri} ({options.window.describe()})"
    skipped = []
    if sum(malformed.values()):
        reasons = ", ".join(f"{reason}: {count:,}" for reason, count in malformed.items() if count)
        skipped.append(f"malformed lines: {sum(malformed.values()):,} ({reasons})")
    if parsed.outside_window:
        skipped.append(f"records outside the window: {parsed.outside_window:,}")
    if not skipped:
        return (
            f"no capture records {where}: send traffic to the endpoint (`make predict`, "
            "`make loadtest`) and run `make report` again."
        )
    return f"no usable capture records {where}; skipped " + "; ".join(skipped) + "."


def _loadtest_summary(results: LoadTestResults) -> dict:
    return {
        "file": str(results.path.name),
        "run": results.run,
        "summary": results.summary,
        "outcomes": results.outcomes(),
        "altered_images": results.altered_images(),
        "latency_ms": results.latencies(),
        "executions": None if results.executions is None else len(results.executions),
        "notes": results.notes,
    }


def make_charts(
    frame: pd.DataFrame,
    summary: dict,
    labels: list[str],
    baseline: Baseline | None,
    features: list[FeatureDrift],
    loadtest: LoadTestResults | None,
) -> list[Chart]:
    """Every figure the data allows, rendered."""
    threshold = summary["threshold"]
    specs: list[tuple[str, str, str, Any]] = []
    if len(frame):
        specs += [
            (
                "confidence_by_class",
                "predictions",
                "Confidence per predicted class",
                "Histogram of the confidence of each inference, by predicted class. Mass left of "
                "the dashed threshold is rejected as LowConfidence; a class whose mass moves left "
                "has become harder for the model.",
                lambda: figures.confidence_by_class(frame, threshold, labels),
            ),
            (
                "predictions_over_time",
                "predictions",
                "Predictions per class over time",
                "Inferences per time bucket and predicted class. A class that disappears or "
                "suddenly dominates points at a change in the inputs.",
                lambda: figures.predictions_over_time(frame, labels),
            ),
            (
                "low_confidence_rate",
                "predictions",
                "Low-confidence rate over time",
                "Share of the inferences of each bucket below the threshold, and over the whole "
                "window (dotted). A rising rate means the model is less sure of what it sees.",
                lambda: figures.low_confidence_rate(frame, threshold),
            ),
            (
                "confidence_over_time",
                "predictions",
                "Confidence over time",
                "One dot per inference (colour: predicted class), the median per bucket (black) "
                "and the threshold (dashed).",
                lambda: figures.confidence_over_time(frame, threshold, labels),
            ),
            (
                "class_mix",
                "predictions",
                "Class mix against the training prior",
                "Share of each predicted class in the captured traffic next to its share among "
                "the training images. A large gap means the traffic (or the model) is skewed.",
                lambda: figures.class_mix(frame, baseline.class_prior if baseline else {}, labels),
            ),
            (
                "input_drift",
                "drift",
                "Input drift",
                "Grey: each image statistic over the training images; blue: over the captured "
                "inputs, on the same bins. Titles: PSI, chi-square p-value and the verdict of the "
                "rule above.",
                lambda: figures.input_drift(
                    frame, baseline.image_stats if baseline else {}, features
                ),
            ),
        ]
    if loadtest is not None:
        specs += [
            (
                "loadtest_latency",
                "loadtest",
                "Load test latency",
                "End-to-end latency of each execution (start to stop) by outcome; right, the "
                "cumulative share, with the reported percentiles dotted.",
                lambda: figures.loadtest_latency(loadtest),
            ),
            (
                "loadtest_outcomes",
                "loadtest",
                "Load test outcomes",
                "Executions per outcome: SUCCEEDED, or the error name of a failed execution; "
                "lost = submitted but never finished.",
                lambda: figures.loadtest_outcomes(loadtest),
            ),
        ]
    charts = []
    for name, section, title, caption, draw in specs:
        figure = draw()
        if figure is not None:
            charts.append(Chart(name, section, title, caption, figures.png(figure)))
    return charts


def _notes(summary: dict) -> list[str]:
    baseline = summary["baseline"]
    notes = [
        f"One row per captured inference, read from {summary['capture_uri']}: capture files are "
        "listed, filtered by the yyyy/mm/dd/hh of their key (with an hour of slack), then each "
        "record by its eventMetadata.inferenceTime. The endpoint writes capture files with a "
        "delay (SageMaker: minutes; the local stack: seconds), so the newest inferences may "
        "not be in this report yet.",
        "Malformed lines are capture lines that could not be used, counted under the first "
        "problem found, in this order: " + ", ".join(MALFORMED_REASONS) + ".",
        f"Low confidence: highest class probability below {summary['threshold']:g} (serving "
        "output `threshold`, or --threshold).",
        "Image statistics (pixels scaled to [0, 1]): brightness = mean of the grey image "
        "(0.299 R + 0.587 G + 0.114 B), contrast = its standard deviation, mean_r/g/b = channel "
        "means; computed by monitor.image_stats, as for the training baseline.",
        f"Drift rule: {RULE}",
        (
            f"Baseline: {baseline['source']}."
            if baseline["source"]
            else "No baseline found (looked at: " + ", ".join(baseline["looked_at"]) + "): labels "
            "are class indexes, and the drift and class-prior comparisons are left out."
        ),
    ]
    if summary["loadtest"] is None:
        notes.append("No load-test results in reports/: the load-test section is empty.")
    return notes


def _output_dir(options: ReportOptions) -> Path:
    """Where the report goes; its parent folder is made now, before any work is done."""
    if options.out is not None:
        if options.out.exists():
            raise OutputExists(f"{options.out} exists already: choose another --out")
        out = options.out
    else:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out, n = options.reports_dir / stamp, 1
        while out.exists():
            out, n = options.reports_dir / f"{stamp}-{n}", n + 1
    _make_folder(out.parent)
    return out


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputNotWritable(
            f"cannot create the folder {path} ({err.strerror or err}): choose another --out"
        ) from None


def write_report(
    out: Path, summary: dict, charts: list[Chart], overview_png: bytes, frame: pd.DataFrame
) -> Path:
    """Write everything into a temporary folder beside ``out``, then rename it to ``out``."""
    _make_folder(out.parent)
    partial = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    _make_folder(partial)
    try:
        for chart in charts:
            (partial / f"{chart.name}.png").write_bytes(chart.png)
        (partial / OVERVIEW).write_bytes(overview_png)
        frame.to_parquet(partial / "captures.parquet", index=False)
        (partial / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        (partial / "report.html").write_text(render(summary, charts), encoding="utf-8")
        try:
            os.rename(partial, out)
        except OSError as err:
            raise OutputExists(f"cannot create {out}: {err}") from err
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out / "report.html"


def build_report(options: ReportOptions, s3: Any = None) -> ReportResult:
    """Read the capture, compute, draw and write the report; returns where it is."""
    s3 = s3 or boto3.client("s3")
    out = _output_dir(options)
    baseline, looked = find_baseline(
        s3, options.baseline_path, options.model_data_url, options.models_dir
    )
    parsed = load_capture(
        s3, options.capture_uri, options.window, len(baseline.labels) if baseline else None
    )
    labels = _labels(baseline, parsed)
    frame = to_frame(parsed, labels)
    features = []
    if baseline is not None and baseline.image_stats and len(frame):
        captured = {name: frame[name].to_numpy() for name in STAT_NAMES}
        features = drift_report(baseline.image_stats, captured)
    loadtest_path = latest_loadtest(options.reports_dir)
    loadtest = read_loadtest(loadtest_path, repo_root()) if loadtest_path else None
    summary = summarize(options, parsed, frame, labels, baseline, looked, features, loadtest)
    charts = make_charts(frame, summary, labels, baseline, features, loadtest)
    summary["notes"] = _notes(summary)
    summary["files_written"] = ["report.html", OVERVIEW, "summary.json", "captures.parquet"] + [
        f"{c.name}.png" for c in charts
    ]
    overview_png = figures.png(overview(summary, charts))
    html = write_report(out, summary, charts, overview_png, frame)
    log.info("report written", extra={"fields": {"path": str(html), "records": len(frame)}})
    return ReportResult(html=html, summary=summary)


def endpoint_capture_uri(serving: dict) -> str:
    """Where the endpoint's capture is: ``<capture_s3_uri>/<endpoint_name>``.

    SageMaker writes under the destination URI, then a folder per endpoint.
    """
    destination = serving.get("capture_s3_uri")
    if not destination:
        raise MissingOutputs("the serving outputs have no capture_s3_uri: run `make deploy`")
    destination = destination.rstrip("/")
    endpoint = serving.get("endpoint_name")
    if not endpoint or destination.endswith(f"/{endpoint}"):
        return destination
    return f"{destination}/{endpoint}"


def deployed_model_data_url() -> str | None:
    """``model_data_url`` of the deployed model from ``model.tfvars.json``, which ``make deploy``
    writes beside the Terraform outputs (``train.registry latest-approved``)."""
    path = outputs_dir() / "model.tfvars.json"
    try:
        value = json.loads(path.read_text()).get("model_data_url")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise BadThreshold(f"{text!r} is not a number") from err
    if not 0 < value <= 1:
        raise BadThreshold(f"{value} is not in (0, 1]")
    return value


def options_from_args(argv: Sequence[str] | None = None) -> ReportOptions:
    parser = argparse.ArgumentParser(
        prog="python -m monitor.report",
        description="Monitoring report of the deployed endpoint from its data capture.",
    )
    parser.add_argument("--since", help="first inference time to include (ISO 8601; UTC default)")
    parser.add_argument("--until", help="inference time to stop at, excluded (ISO 8601)")
    parser.add_argument(
        "--capture-uri", help="s3://bucket/prefix/endpoint (default: serving output)"
    )
    parser.add_argument(
        "--baseline", type=Path, help="baseline.json (default: the deployed model's)"
    )
    parser.add_argument("--threshold", help="low-confidence threshold (default: serving output)")
    parser.add_argument("--out", type=Path, help="output folder (default: reports/<timestamp>/)")
    args = parser.parse_args(argv)
    window = Window(
        parse_time(args.since, "--since") if args.since else None,
        parse_time(args.until, "--until") if args.until else None,
    )
    if window.since and window.until and window.since >= window.until:
        raise BadWindow("--since must be before --until")
    threshold = _threshold(args.threshold) if args.threshold is not None else None
    try:
        serving = outputs("serving")
    except MissingOutputs:
        if not args.capture_uri:
            raise
        serving = {}
    capture_uri = args.capture_uri or endpoint_capture_uri(serving)
    split_s3_uri(capture_uri)
    if threshold is None:
        given = serving.get("threshold")
        threshold = _threshold(str(given)) if given is not None else DEFAULT_THRESHOLD
    return ReportOptions(
        capture_uri=capture_uri,
        window=window,
        threshold=threshold,
        baseline_path=args.baseline,
        model_data_url=serving.get("model_data_url") or deployed_model_data_url(),
        out=args.out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = options_from_args(argv)
    result = build_report(options)
    summary = result.summary
    if summary["records"]:
        low = summary["low_confidence"]
        print(
            f"records: {summary['records']:,}  malformed: {summary['malformed_total']:,}  "
            f"low confidence: {low['count']:,} ({low['rate'] * 100:.1f} %)  "
            f"drift: {summary['drift']['verdict']}"
        )
    else:
        print(summary["message"])
    print(result.html)
    return 0


if __name__ == "__main__":
    run_cli(main)
