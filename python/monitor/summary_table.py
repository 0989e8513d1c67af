"""The report's summary table, worded once for every place that shows it.

The HTML page and the overview picture (``monitor.overview``) show the same rows, so the rows are
built here from the report's ``summary`` (the dict of ``summary.json``) as plain text segments,
each tagged with how it is set off: the page turns them into HTML (verdicts as coloured badges),
the picture into text (verdicts in brackets, the row in the verdict's colour).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Load-test summary figures shown in the summary table, when present.
LOADTEST_KEYS = (
    "submitted",
    "succeeded",
    "lost",
    "throughput",
    "error_rate",
    "endpoint_invocations",
    "capture_records",
    "capture_check",
)


@dataclass(frozen=True)
class Segment:
    """A piece of a cell: plain ``text``, ``strong`` text, ``code`` or a drift ``verdict``."""

    text: str
    kind: Literal["text", "strong", "code", "verdict"] = "text"


@dataclass(frozen=True)
class Row:
    label: str
    cell: tuple[Segment, ...]

    @property
    def verdict(self) -> str | None:
        """The row's first verdict (the overall one for the drift row), if any."""
        return next((s.text for s in self.cell if s.kind == "verdict"), None)


def number(value: object, digits: int = 3) -> str:
    """A number for a reader: thousands separated, ``digits`` decimals (significant when tiny)."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:,.{digits}f}"
    return str(value)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _text(*parts: str) -> Segment:
    return Segment("".join(parts))


def summary_rows(summary: dict) -> list[Row]:
    """The rows of the summary table, in the order shown."""
    malformed = summary["malformed"]
    malformed_text = (
        ", ".join(f"{reason}: {count:,}" for reason, count in malformed.items() if count) or "none"
    )
    records = summary["records"]
    files = summary["files"]
    window = summary["window"]
    low = summary["low_confidence"]
    classes = summary["classes"]
    drift = summary["drift"]
    outside = summary["outside_window"]
    rows = [
        Row(
            "Records (inferences)",
            (
                Segment(f"{records:,}", "strong"),
                _text(
                    f" from {files:,} capture file{'' if files == 1 else 's'} ",
                    f"({summary['bytes_read'] / 1e6:,.1f} MB)",
                ),
            ),
        ),
        Row(
            "Malformed lines (skipped)",
            (_text(f"{summary['malformed_total']:,} — {malformed_text}"),),
        ),
        Row("Time window asked", (_text(window["asked"]),)),
        Row(
            "Records' time range",
            (
                _text(
                    f"{window['first'] or '–'} → {window['last'] or '–'}",
                    f"; {outside:,} records outside the window not counted" if outside else "",
                ),
            ),
        ),
        Row(
            "Predicted classes",
            (
                _text(
                    ", ".join(
                        f"{name}: {c['count']:,} ({percent(c['share'])}"
                        + (f", prior {percent(c['prior'])}" if c["prior"] is not None else "")
                        + ")"
                        for name, c in classes.items()
                    )
                    or "–"
                ),
            ),
        ),
        Row(
            f"Low confidence (< {summary['threshold']:g})",
            (_text(f"{low['count']:,} ({percent(low['rate'])})" if records else "–"),),
        ),
        Row("Input drift", _drift_cell(drift)),
        _loadtest_row(summary.get("loadtest")),
        Row("Baseline", (_text(summary["baseline"]["source"] or "none found"),)),
    ]
    return rows


def _drift_cell(drift: dict) -> tuple[Segment, ...]:
    cell = [Segment(drift["verdict"], "verdict")]
    if not drift["features"]:
        return (*cell, _text(" ", drift["note"] or ""))
    cell.append(_text(" "))
    for index, feature in enumerate(drift["features"]):
        cell += [
            _text(", " if index else "", feature["feature"], " "),
            Segment(feature["verdict"], "verdict"),
        ]
    return tuple(cell)


def _loadtest_row(loadtest: dict | None) -> Row:
    if not loadtest:
        return Row(
            "Load test", (_text("no "), Segment("reports/loadtest-*.json", "code"), _text(" found"))
        )
    figures = loadtest["summary"]
    latency = loadtest["latency_ms"]
    text = (
        loadtest["file"]
        + ": "
        + ", ".join(
            f"{key.replace('_', ' ')} {number(figures.get(key))}"
            for key in LOADTEST_KEYS
            if key in figures
        )
        + (
            "; latency " + ", ".join(f"{k} {v:,.0f} ms" for k, v in latency.items())
            if latency
            else ""
        )
    )
    return Row("Load test", (_text(text),))
