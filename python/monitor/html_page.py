"""The report as one self-contained HTML page: inline CSS, figures embedded as base64 PNG.

One file that can be mailed, attached to a ticket or opened from a bucket, readable by someone
who has never seen the code: every number says what it counts, every figure says how to read it.
The page is rendered from the report's ``summary`` (the same dict as ``summary.json``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from html import escape
from typing import Any, Iterable

from monitor.drift import DRIFT, MODERATE, NO_BASELINE, NO_DATA
from monitor.summary_table import Segment, number, percent, summary_rows

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1c2833;
background:#f4f6f7}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{margin:0 0 4px;font-size:26px}h2{margin-top:40px;border-bottom:2px solid #d5dbdb;
padding-bottom:4px}
.meta{color:#566573;font-size:14px;margin-bottom:18px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}
th,td{border:1px solid #d5dbdb;padding:5px 10px;text-align:left;vertical-align:top}
th{background:#eaeded}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.summary th{width:210px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;color:#fff;
background:#1e8449}
.badge.moderate{background:#d68910}.badge.drift{background:#c0392b}.badge.nodata{background:#7f8c8d}
.notice{background:#fef5e7;border-left:4px solid #d68910;padding:12px 16px;margin:16px 0}
figure{margin:18px 0}figure img{max-width:100%;border:1px solid #eaeded}
figcaption{color:#566573;font-size:14px;margin-top:4px}
code{background:#f2f3f4;padding:1px 4px;border-radius:3px}
"""


OVERVIEW = "overview.png"  # the whole report in one picture, beside the page (monitor.overview)


@dataclass(frozen=True)
class Chart:
    """One figure of the report: ``name`` is the PNG's file stem."""

    name: str
    section: str
    title: str
    caption: str
    png: bytes


def badge(verdict: str) -> str:
    css = {DRIFT: "drift", MODERATE: "moderate", NO_DATA: "nodata", NO_BASELINE: "nodata"}
    css = css.get(verdict, "")
    return f'<span class="badge {css}">{escape(verdict)}</span>'


def _number(value: Any, digits: int = 3) -> str:
    return escape(number(value, digits))


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(html: str, numeric: bool = False) -> str:
    return f'<td class="num">{html}</td>' if numeric else f"<td>{html}</td>"


def _cell(segments: Iterable[Segment]) -> str:
    """A summary-table cell as HTML: verdicts as badges."""
    html = {
        "text": escape,
        "strong": lambda text: f"<b>{escape(text)}</b>",
        "code": lambda text: f"<code>{escape(text)}</code>",
        "verdict": badge,
    }
    return "".join(html[segment.kind](segment.text) for segment in segments)


def _figures(charts: list[Chart], section: str) -> str:
    parts = []
    for chart in charts:
        if chart.section != section:
            continue
        data = base64.b64encode(chart.png).decode("ascii")
        parts.append(
            f'<figure id="{escape(chart.name)}"><img src="data:image/png;base64,{data}" '
            f'alt="{escape(chart.title)}"><figcaption><b>{escape(chart.title)}.</b> '
            f"{escape(chart.caption)}</figcaption></figure>"
        )
    return "".join(parts)


def _class_table(summary: dict) -> str:
    rows = [
        [
            _td(escape(name)),
            _td(f"{c['count']:,}", True),
            _td(percent(c["share"]), True),
            _td(percent(c["prior"]), True),
            _td(_number(c["mean_confidence"]), True),
            _td(f"{c['low_confidence']:,}", True),
        ]
        for name, c in summary["classes"].items()
    ]
    header = [
        "predicted class",
        "inferences",
        "share",
        "training prior",
        "mean confidence",
        f"below {summary['threshold']:g}",
    ]
    return _table(header, rows)


def _drift_table(summary: dict) -> str:
    rows = [
        [
            _td(escape(f["feature"])),
            _td(_number(f["records"]), True),
            _td(_number(f["baseline_mean"]), True),
            _td(_number(f["captured_mean"]), True),
            _td(percent(f["outside_share"]), True),
            _td(_number(f["psi"]), True),
            _td(_number(f["p_value"]), True),
            _td(badge(f["verdict"])),
        ]
        for f in summary["drift"]["features"]
    ]
    header = [
        "statistic",
        "distinct inputs",
        "training mean",
        "captured mean",
        "outside training 1–99 % (2 % expected)",
        "PSI",
        "chi-square p",
        "verdict",
    ]
    return _table(header, rows)


def _loadtest_section(summary: dict, charts: list[Chart]) -> str:
    loadtest = summary.get("loadtest")
    if not loadtest:
        return (
            "<p>No load-test results: <code>make loadtest</code> writes "
            "<code>reports/loadtest-&lt;timestamp&gt;.json</code>, shown here when present.</p>"
        )
    run = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
        for k, v in loadtest["run"].items()
    )
    outcomes = "".join(
        f"<tr><th>{escape(k)}</th><td class='num'>{v:,}</td></tr>"
        for k, v in loadtest["outcomes"].items()
    )
    altered = "".join(
        f"<tr><th>{escape(k)}</th><td class='num'>{v:,}</td></tr>"
        for k, v in loadtest["altered_images"].items()
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in loadtest["notes"])
    return (
        f"<p>From <code>{escape(loadtest['file'])}</code>.</p>"
        + (f"<h3>Run</h3><table>{run}</table>" if run else "")
        + (f"<h3>Outcomes</h3><table>{outcomes}</table>" if outcomes else "")
        + (f"<h3>Altered (drift) images sent</h3><table>{altered}</table>" if altered else "")
        + (f"<ul>{notes}</ul>" if notes else "")
        + _figures(charts, "loadtest")
    )


def render(summary: dict, charts: list[Chart]) -> str:
    """The whole page."""
    records = summary["records"]
    summary_table = "".join(
        f"<tr><th>{escape(row.label, quote=False)}</th><td>{_cell(row.cell)}</td></tr>"
        for row in summary_rows(summary)
    )
    if records:
        predictions = _class_table(
            summary
        ) + "<p>Confidence is the highest class probability the endpoint returned; the " "workflow rejects inferences below the threshold as <code>LowConfidence</code>.</p>" + _figures(
            charts, "predictions"
        )
        drift = summary["drift"]
        drift_html = (
            f"<p>Verdict: {badge(drift['verdict'])}. Rule: {escape(drift['rule'])}</p>"
            + (
                _drift_table(summary)
                if drift["features"]
                else f"<p>{escape(drift['note'] or '')}</p>"
            )
            + _figures(charts, "drift")
        )
    else:
        predictions = drift_html = ""
    empty = (
        "" if records else f'<div class="notice"><b>No data.</b> {escape(summary["message"])}</div>'
    )
    files = "".join(f"<li><code>{escape(name)}</code></li>" for name in summary["files_written"])
    notes = "".join(f"<li>{escape(note)}</li>" for note in summary["notes"])
    overview = (
        f' · <a href="{OVERVIEW}">{OVERVIEW}</a>: the summary and the figures in one picture'
        if OVERVIEW in summary["files_written"]
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model monitoring report – {escape(summary["generated_at"])}</title>
<style>{_CSS}</style></head>
<body><main>
<h1>Model monitoring report</h1>
<div class="meta">Endpoint data capture <code>{escape(summary["capture_uri"])}</code> ·
generated {escape(summary["generated_at"])}{overview}</div>
{empty}
<h2>Summary</h2>
<table class="summary">{summary_table}</table>
{"<h2>Predictions</h2>" + predictions if records else ""}
{"<h2>Input drift</h2>" + drift_html if records else ""}
<h2>Load test</h2>
{_loadtest_section(summary, charts)}
<h2>About this report</h2>
<ul>{notes}</ul>
<p>Files beside this page:</p><ul>{files}</ul>
</main></body></html>
"""
