"""``overview.png``: the whole report in one picture, for a README, a ticket or a chat message.

What the page shows at a glance: its title, the summary table (``monitor.summary_table``, the
same rows as the page) and every figure of the report below it. The figures are the report's
own PNGs placed pixel for pixel (``Figure.figimage``, no resampling), not drawn again: the
picture cannot disagree with the page, and costs one PNG encoding. Figures are packed into rows
of the page width in the report's order, each figure going to the first row with room left.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402

from monitor.drift import NO_BASELINE, NO_DATA  # noqa: E402
from monitor.figures import VERDICT_COLOURS  # noqa: E402
from monitor.html_page import Chart  # noqa: E402
from monitor.summary_table import Row, summary_rows  # noqa: E402

DPI = 100  # the report's figures are rendered at this resolution too (``figures.png``)
WIDTH = 1680  # pixels: two 8-inch figures side by side
MARGIN = 20
GAP = 20
LABEL_WIDTH = 250
FONT_SIZE = 11  # points
LINE_HEIGHT = 20  # pixels per line of table text
CHAR_WIDTH = 8.2  # average pixels per character of FONT_SIZE text, for wrapping
TEXT_COLOUR = "#1c2833"
MUTED_COLOUR = "#566573"
OK_COLOUR = "#1e8449"
NO_VERDICT_COLOURS = {NO_DATA: "#7f8c8d", NO_BASELINE: "#7f8c8d"}


@dataclass
class _Placed:
    pixels: np.ndarray  # (height, width, channels) uint8
    x: int = 0
    y: int = 0  # from the top of the picture


def overview(summary: dict, charts: list[Chart]) -> Figure:
    """The overview figure of a report: header, summary table, then the charts in a grid."""
    content = WIDTH - 2 * MARGIN
    header = _header_lines(summary)
    table = [(row, _wrap(_plain(row), content - LABEL_WIDTH - 20)) for row in summary_rows(summary)]
    table_height = sum(len(lines) * LINE_HEIGHT + 10 for _, lines in table)
    top = MARGIN + sum(_line_height(size) for _, size, _, _ in header) + 10
    grid_top = top + table_height + GAP
    placed, grid_height = _pack([_pixels(chart, content) for chart in charts], grid_top)
    height = grid_top + grid_height + MARGIN

    figure = Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI, facecolor="white")
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(height, 0)  # pixels, from the top
    ax.axis("off")
    y = MARGIN
    for text, size, weight, colour in header:
        ax.text(
            MARGIN,
            y,
            text,
            va="top",
            fontsize=size,
            weight=weight,
            color=colour,
            parse_math=False,
        )
        y += _line_height(size)
    y = top
    for row, lines in table:
        row_height = len(lines) * LINE_HEIGHT + 10
        ax.add_patch(Rectangle((MARGIN, y), LABEL_WIDTH, row_height, color="#eaeded", lw=0))
        ax.add_patch(
            Rectangle((MARGIN, y), content, row_height, fill=False, edgecolor="#d5dbdb", lw=1)
        )
        ax.text(
            MARGIN + 8,
            y + 5,
            row.label,
            va="top",
            fontsize=FONT_SIZE,
            weight="bold",
            parse_math=False,
        )
        colour, weight = _style(row)
        for index, line in enumerate(lines):
            ax.text(
                MARGIN + LABEL_WIDTH + 10,
                y + 5 + index * LINE_HEIGHT,
                line,
                va="top",
                fontsize=FONT_SIZE,
                color=colour,
                weight=weight,
                parse_math=False,
            )
        y += row_height
    for item in placed:
        rows, _, _ = item.pixels.shape
        figure.figimage(item.pixels, xo=item.x, yo=height - item.y - rows, origin="upper")
    return figure


def _header_lines(summary: dict) -> list[tuple[str, int, str, str]]:
    """(text, font size, weight, colour) of the lines above the table."""
    lines = [
        ("Model monitoring report", 20, "bold", TEXT_COLOUR),
        (
            f"Endpoint data capture {summary['capture_uri']} · generated "
            f"{summary['generated_at']} · details: report.html",
            11,
            "normal",
            MUTED_COLOUR,
        ),
    ]
    if not summary["records"]:
        lines.append((f"No data. {summary['message']}", 11, "bold", "#d68910"))
    return lines


def _line_height(points: int) -> int:
    return round(points * DPI / 72 * 1.5)


def _plain(row: Row) -> str:
    """A cell as text: verdicts in brackets, as the table has no badges."""
    return "".join(f"[{s.text}]" if s.kind == "verdict" else s.text for s in row.cell)


def _wrap(text: str, width_px: int) -> list[str]:
    return textwrap.wrap(text, int(width_px / CHAR_WIDTH), break_on_hyphens=False) or [""]


def _style(row: Row) -> tuple[str, str]:
    """Colour and weight of a cell: the drift row in the colour of its verdict."""
    verdict = row.verdict
    if verdict is None:
        return TEXT_COLOUR, "normal"
    colour = VERDICT_COLOURS.get(verdict) or NO_VERDICT_COLOURS.get(verdict, OK_COLOUR)
    return colour, "bold"


def _pixels(chart: Chart, max_width: int) -> np.ndarray:
    """A chart's PNG as pixels, shrunk to ``max_width`` if wider (none is, at the report's
    sizes)."""
    with Image.open(io.BytesIO(chart.png)) as image:
        rgba = image.convert("RGBA")
    if rgba.width > max_width:
        height = round(rgba.height * max_width / rgba.width)
        rgba = rgba.resize((max_width, height), Image.Resampling.LANCZOS)
    return np.asarray(rgba)


def _pack(images: list[np.ndarray], top: int) -> tuple[list[_Placed], int]:
    """Rows of images, first fit in order, each row centred; returns them and their height."""
    content = WIDTH - 2 * MARGIN
    rows: list[list[np.ndarray]] = []
    for pixels in images:
        width = pixels.shape[1]
        for row in rows:
            if sum(p.shape[1] + GAP for p in row) + width <= content:
                row.append(pixels)
                break
        else:
            rows.append([pixels])
    placed, y = [], top
    for row in rows:
        used = sum(p.shape[1] for p in row) + GAP * (len(row) - 1)
        x = MARGIN + (content - used) // 2
        for pixels in row:
            placed.append(_Placed(pixels, x, y))
            x += pixels.shape[1] + GAP
        y += max(p.shape[0] for p in row) + GAP
    return placed, (y - top - GAP if rows else 0)
