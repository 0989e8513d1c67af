"""``monitor.overview``: the report in one picture, figures placed whole at their own size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from monitor import figures
from monitor.drift import DRIFT, NO_DRIFT
from monitor.html_page import Chart
from monitor.overview import GAP, MARGIN, WIDTH, overview
from monitor.summary_table import summary_rows

RED, GREEN, BLUE, YELLOW, MAGENTA, CYAN = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (255, 0, 255),
    (0, 255, 255),
)


def summary(records: int = 120) -> dict:
    """A report summary with every key the summary table reads."""
    features = [
        {"feature": "brightness", "verdict": DRIFT},
        {"feature": "contrast", "verdict": NO_DRIFT},
    ]
    return {
        "capture_uri": "s3://capture/datacapture/endpoint",
        "generated_at": "2024-10-15T14:10:00+00:00",
        "window": {"asked": "all records", "first": None, "last": None},
        "files": 2,
        "bytes_read": 480_000,
        "records": records,
        "malformed": {"bad_json": 1},
        "malformed_total": 1,
        "outside_window": 0,
        "threshold": 0.9,
        "low_confidence": {"count": 12, "rate": 0.1},
        "classes": {"bicycle": {"count": 70, "share": 0.58, "prior": 0.5}},
        "drift": {"verdict": DRIFT, "features": features, "note": None},
        "baseline": {"source": "models/run/baseline.json"},
        "loadtest": None,
        "message": "" if records else "no capture records: send traffic",
    }


def chart(name: str, width: int, height: int, colour: tuple[int, int, int]) -> Chart:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (*colour, 255)).save(buffer, format="PNG")
    return Chart(name, "predictions", name, "", buffer.getvalue())


def render(document: dict, charts: list[Chart]) -> np.ndarray:
    data = figures.png(overview(document, charts))
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def box(pixels: np.ndarray, colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """``(left, top, width, height)`` of the pixels of exactly ``colour``, checked solid."""
    ys, xs = np.nonzero(np.all(pixels == colour, axis=2))
    left, top, right, bottom = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    assert len(xs) == (right - left) * (bottom - top), f"{colour} is not one solid block"
    return int(left), int(top), int(right - left), int(bottom - top)


@pytest.fixture(scope="module")
def packed() -> dict[tuple[int, int, int], tuple[int, int, int, int]]:
    charts = [
        chart("a", 800, 400, RED),
        chart("b", 800, 360, GREEN),
        chart("c", 500, 360, BLUE),
        chart("d", 1200, 640, YELLOW),
        chart("e", 560, 360, MAGENTA),
    ]
    pixels = render(summary(), charts)
    assert pixels.shape[1] == WIDTH
    return {colour: box(pixels, colour) for colour in (RED, GREEN, BLUE, YELLOW, MAGENTA)}


def test_figures_keep_their_size(packed):
    sizes = {colour: (width, height) for colour, (_, _, width, height) in packed.items()}

    assert sizes == {
        RED: (800, 400),
        GREEN: (800, 360),
        BLUE: (500, 360),
        YELLOW: (1200, 640),
        MAGENTA: (560, 360),
    }


def test_figures_fill_rows_first_fit_in_order(packed):
    red, green, blue, yellow, magenta = (packed[c] for c in (RED, GREEN, BLUE, YELLOW, MAGENTA))

    assert red[1] == green[1] and green[0] == red[0] + 800 + GAP  # side by side
    assert blue[1] == magenta[1] == red[1] + 400 + GAP  # the next row: the narrow ones
    assert yellow[1] == blue[1] + 360 + GAP  # too wide to join them: a row of its own
    assert yellow[0] == (WIDTH - 1200) // 2  # centred
    assert all(
        MARGIN <= left and left + width <= WIDTH - MARGIN for left, _, width, _ in packed.values()
    )


def test_the_table_comes_first(packed):
    table_rows = len(summary_rows(summary()))
    assert min(top for _, top, _, _ in packed.values()) > MARGIN + table_rows * 30


def test_a_figure_wider_than_the_page_is_shrunk_to_fit():
    pixels = render(summary(), [chart("wide", 2 * WIDTH, 300, CYAN)])

    left, _, width, height = box(pixels[:, :, :], CYAN)
    assert (left, width) == (MARGIN, WIDTH - 2 * MARGIN)
    assert abs(height - 300 * (WIDTH - 2 * MARGIN) / (2 * WIDTH)) <= 1


def test_without_records_the_picture_is_the_table_and_the_message():
    pixels = render(summary(records=0), [])

    assert pixels.shape[1] == WIDTH and pixels.shape[0] < 600
    assert (pixels < 128).any()  # text was drawn


def test_the_table_rows_are_the_pages():
    rows = summary_rows(summary())
    drift = next(row for row in rows if row.label == "Input drift")

    assert [row.label for row in rows][:2] == ["Records (inferences)", "Malformed lines (skipped)"]
    assert drift.verdict == DRIFT
    assert "".join(s.text for s in drift.cell) == "drift brightness drift, contrast no drift"
