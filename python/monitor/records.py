"""Parse SageMaker data-capture lines into columns: one row per inference, problems counted.

A capture record (one JSON object per line, as SageMaker writes it)::

    {"captureData": {"endpointInput": {"observedContentType": "image/png", "mode": "INPUT",
                                       "data": "<base64 PNG>", "encoding": "BASE64"},
                     "endpointOutput": {"observedContentType": "application/json",
                                        "mode": "OUTPUT", "data": "[0.93, 0.07]",
                                        "encoding": "JSON"}},          # or BASE64 of the body
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "...Z"},
     "eventVersion": "0"}

Why it is built this way:

- A line that cannot be used is counted under the first problem found (``MALFORMED_REASONS``,
  in the order they are checked) and skipped; it never stops the report. Blank lines are not
  records and are ignored. Records outside the time window are counted apart, unexamined.
- Decoding the images is most of the cost of a report, and Pillow's per-image overhead (file
  parsing, ``Image`` objects) is most of that for 32x32 images. So PNGs in the plain layout the
  endpoint receives (8-bit RGB, not interlaced) are checked and inflated one by one, then
  unfiltered a batch at a time by Pillow's PNG decoder (``decode_batch``); any other image goes
  through ``Image.open``. Image statistics are computed per batch too, vectorised.
- This module imports only the standard library, numpy and Pillow: ``parse_batch`` runs in
  worker processes, which start faster without pandas.
"""

from __future__ import annotations

import binascii
import io
import json
import math
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image

from monitor.image_stats import STAT_NAMES, batch_image_stats

# In the order they are checked: a line is counted under the first problem found.
MALFORMED_REASONS: tuple[str, ...] = (
    "bad_json",  # not JSON, or not a JSON object
    "missing_field",  # a required field is absent or of the wrong type
    "bad_time",  # eventMetadata.inferenceTime is not an ISO 8601 time
    "undecodable_output",  # output encoding unknown, or data not base64 / JSON
    "bad_probabilities",  # output is not a non-empty list of finite numbers (of the labels' length)
    "undecodable_input",  # input encoding is not BASE64, bad base64, or not a readable image
)
STATS_BATCH = 1024  # images per decoding and statistics batch...
STATS_PIXELS = 1 << 22  # ...or fewer, for large images (memory: 100 MB per batch)
# SageMaker names a capture file after the hour it was opened in; its records may run past it.
HOUR_SLACK = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow raises all of these for broken or unsupported image data.
_IMAGE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[since, until)``; ``None`` leaves that side open."""

    since: datetime | None = None
    until: datetime | None = None

    def may_hold_hour(self, hour: datetime) -> bool:
        """Whether a file under the key path of ``hour`` may hold records of the window."""
        start, end = hour - HOUR_SLACK, hour + timedelta(hours=1) + HOUR_SLACK
        return (self.since is None or end > self.since) and (
            self.until is None or start < self.until
        )

    def describe(self) -> str:
        if self.since is None and self.until is None:
            return "all records"
        since = self.since.isoformat() if self.since else "the first record"
        until = self.until.isoformat() if self.until else "the last record"
        return f"from {since} to {until} (end excluded)"


# The per-row list columns of ``ParsedCapture`` (the image statistics are arrays beside them).
ROW_COLUMNS = (
    "time_us",
    "event_id",
    "inference_id",
    "content_type",
    "input_bytes",
    "width",
    "height",
    "probabilities",
    "predicted_index",
    "confidence",
    "capture_file",
)


@dataclass
class ParsedCapture:
    """Columns of the usable records, plus the accounting of everything else."""

    time_us: list[int] = field(default_factory=list)
    event_id: list[str] = field(default_factory=list)
    inference_id: list[str | None] = field(default_factory=list)
    content_type: list[str | None] = field(default_factory=list)
    input_bytes: list[int] = field(default_factory=list)
    width: list[int] = field(default_factory=list)
    height: list[int] = field(default_factory=list)
    probabilities: list[list[float]] = field(default_factory=list)
    predicted_index: list[int] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    capture_file: list[str] = field(default_factory=list)
    stats: dict[str, np.ndarray] = field(
        default_factory=lambda: {name: np.empty(0) for name in STAT_NAMES}
    )
    malformed: Counter = field(default_factory=Counter)
    outside_window: int = 0
    files: int = 0
    bytes_read: int = 0

    def __len__(self) -> int:
        return len(self.time_us)

    @classmethod
    def concat(cls, parts: Iterable["ParsedCapture"]) -> "ParsedCapture":
        merged = cls()
        stats: dict[str, list[np.ndarray]] = {name: [] for name in STAT_NAMES}
        for part in parts:
            for name in ROW_COLUMNS:
                getattr(merged, name).extend(getattr(part, name))
            for name in STAT_NAMES:
                stats[name].append(part.stats[name])
            merged.malformed.update(part.malformed)
            merged.outside_window += part.outside_window
            merged.files += part.files
            merged.bytes_read += part.bytes_read
        merged.stats = {
            name: np.concatenate(arrays or [np.empty(0)]) for name, arrays in stats.items()
        }
        return merged


class ImageDecodeError(ValueError):
    """The input is not an image this module can read."""


@dataclass(frozen=True)
class EncodedImage:
    """An input image, checked to be decodable, awaiting decoding in a batch of its kind.

    ``kind`` ``"png"``: the filtered scanlines of a plain PNG (``data``, inflated, not yet
    unfiltered); ``"rgb"``: RGB pixels decoded by ``Image.open``.
    """

    kind: str
    width: int
    height: int
    data: bytes


def read_image(raw: bytes) -> EncodedImage:
    """Check and prepare an encoded image; ``ImageDecodeError`` if it cannot be decoded."""
    try:
        plain = _plain_png(raw)
        if plain is not None:
            return plain
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            return EncodedImage("rgb", rgb.width, rgb.height, rgb.tobytes())
    except _IMAGE_ERRORS as err:
        raise ImageDecodeError(str(err) or type(err).__name__) from err


def decode_batch(images: Sequence[EncodedImage]) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 pixels of images of one kind and size.

    Plain PNGs are unfiltered all at once: their scanlines are stacked into one tall PNG
    stream with an all-zero row between images (so that each image's first row sees a zero
    row above it, as in its own file) and decoded by a single call of Pillow's PNG decoder,
    instead of one ``Image`` object per 32x32 image.
    """
    first = images[0]
    height, width = first.height, first.width
    if first.kind == "rgb":
        pixels = np.frombuffer(b"".join(i.data for i in images), dtype=np.uint8)
        return pixels.reshape(len(images), height, width, 3)
    separator = bytes(1 + 3 * width)  # filter type 0, black pixels
    tall_height = len(images) * (height + 1) - 1
    stream = zlib.compress(separator.join(i.data for i in images), 0)
    tall = Image.frombytes("RGB", (width, tall_height), stream, "zip", "RGB")
    pixels = np.frombuffer(tall.tobytes() + separator[1:], dtype=np.uint8)
    return pixels.reshape(len(images), height + 1, width, 3)[:, :height]


def decode_rgb(raw: bytes) -> tuple[int, int, bytes]:
    """``(width, height, RGB bytes)`` of one encoded image; ``ImageDecodeError`` if unreadable."""
    image = read_image(raw)
    return image.width, image.height, decode_batch([image]).tobytes()


def _plain_png(raw: bytes) -> EncodedImage | None:
    """The inflated scanlines of an 8-bit RGB non-interlaced PNG, or ``None`` for any other
    image (which ``Image.open`` then reads). Checks what Pillow checks: every chunk's CRC, the
    zlib stream, enough image data, valid filter types; inflates no more than the image needs.
    """
    if not raw.startswith(_PNG_SIGNATURE) or raw[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack_from(">IIBBBBB", raw, 16)
    if depth != 8 or colour != 2 or interlace != 0 or width * height > Image.MAX_IMAGE_PIXELS:
        return None  # Image.open applies its decompression-bomb check to huge ones
    if width == 0 or height == 0:
        raise ImageDecodeError("empty PNG")
    view = memoryview(raw)
    position, idat = 8, []
    while True:
        length, kind = struct.unpack_from(">I4s", raw, position)
        start, end = position + 8, position + 8 + length
        if end + 4 > len(raw):
            raise ImageDecodeError("truncated PNG chunk")
        (crc,) = struct.unpack_from(">I", raw, end)
        if zlib.crc32(view[start:end], zlib.crc32(kind)) != crc:
            raise ImageDecodeError(f"bad CRC in PNG chunk {kind!r}")
        if kind == b"IDAT":
            idat.append(view[start:end])
        elif kind == b"IEND":
            break
        position = end + 4
    stride = 1 + 3 * width
    scanlines = zlib.decompressobj().decompress(b"".join(idat), stride * height)
    if len(scanlines) < stride * height:
        raise ImageDecodeError("truncated PNG image data")
    if max(scanlines[::stride]) > 4:
        raise ImageDecodeError("unknown PNG filter type")
    return EncodedImage("png", width, height, scanlines)


def _parse_time_us(text: Any) -> int:
    if not isinstance(text, str):
        raise ValueError("inferenceTime is not a string")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _decode_output(output: dict) -> Any:
    encoding, data = output.get("encoding"), output["data"]
    if encoding == "JSON":
        return json.loads(data)
    if encoding == "BASE64":
        return json.loads(binascii.a2b_base64(data, strict_mode=True))
    raise ValueError(f"unknown output encoding {encoding!r}")


def _probabilities(values: Any, n_classes: int | None) -> list[float] | None:
    """The output as floats, or ``None`` unless it is a non-empty list of finite numbers (of
    ``n_classes`` entries when known)."""
    if not isinstance(values, list) or not values:
        return None
    if n_classes is not None and len(values) != n_classes:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    try:
        floats = [float(v) for v in values]
    except OverflowError:  # an integer beyond float range
        return None
    return floats if all(math.isfinite(v) for v in floats) else None


class CaptureParser:
    """Turns capture lines into ``ParsedCapture`` columns; one parser per file (not thread-safe)."""

    def __init__(self, window: Window, n_classes: int | None, source: str = "") -> None:
        self.n_classes = n_classes
        self.source = source
        self.out = ParsedCapture()
        self._since_us = _to_us(window.since)
        self._until_us = _to_us(window.until)
        # (kind, height, width) -> (row indices, images) awaiting decoding and statistics
        self._pending: dict[tuple[str, int, int], tuple[list[int], list[EncodedImage]]] = {}
        self._stat_chunks: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []

    def feed(self, line: bytes | str) -> None:
        """Parse one line: append a row, or count why it was skipped."""
        if not line.strip():
            return
        reason = self._parse(line)
        if reason is not None:
            self.out.malformed[reason] += 1

    def _parse(self, line: bytes | str) -> str | None:
        try:
            record = json.loads(line)
        except ValueError:
            return "bad_json"
        if not isinstance(record, dict):
            return "bad_json"
        try:
            capture = record["captureData"]
            source_input, output = capture["endpointInput"], capture["endpointOutput"]
            metadata = record["eventMetadata"]
            event_id, when = metadata["eventId"], metadata["inferenceTime"]
            inference_id = metadata.get("inferenceId")
            input_data, output_data = source_input["data"], output["data"]
            content_type = source_input.get("observedContentType")
        except (KeyError, TypeError, AttributeError):
            return "missing_field"
        if not (isinstance(event_id, str) and isinstance(input_data, str)):
            return "missing_field"
        if not isinstance(output_data, str):
            return "missing_field"
        try:
            time_us = _parse_time_us(when)
        except ValueError:
            return "bad_time"
        if (self._since_us is not None and time_us < self._since_us) or (
            self._until_us is not None and time_us >= self._until_us
        ):
            self.out.outside_window += 1
            return None
        try:
            decoded = _decode_output(output)
        except ValueError:  # json.JSONDecodeError, binascii.Error, UnicodeDecodeError
            return "undecodable_output"
        probabilities = _probabilities(decoded, self.n_classes)
        if probabilities is None:
            return "bad_probabilities"
        if source_input.get("encoding") != "BASE64":
            return "undecodable_input"
        try:
            raw = binascii.a2b_base64(input_data, strict_mode=True)
            image = read_image(raw)
        except (binascii.Error, ImageDecodeError):
            return "undecodable_input"
        out = self.out
        row = len(out.time_us)
        confidence = max(probabilities)
        out.time_us.append(time_us)
        out.event_id.append(event_id)
        out.inference_id.append(inference_id if isinstance(inference_id, str) else None)
        out.content_type.append(content_type if isinstance(content_type, str) else None)
        out.input_bytes.append(len(raw))
        out.width.append(image.width)
        out.height.append(image.height)
        out.probabilities.append(probabilities)
        out.predicted_index.append(probabilities.index(confidence))
        out.confidence.append(confidence)
        out.capture_file.append(self.source)
        batch = (image.kind, image.height, image.width)
        rows, images = self._pending.setdefault(batch, ([], []))
        rows.append(row)
        images.append(image)
        if len(rows) >= STATS_BATCH or len(rows) * image.width * image.height >= STATS_PIXELS:
            self._flush(batch)
        return None

    def _flush(self, batch: tuple[str, int, int]) -> None:
        rows, images = self._pending.pop(batch)
        stats = batch_image_stats(decode_batch(images))
        self._stat_chunks.append((np.asarray(rows, dtype=np.int64), stats))

    def finish(self) -> ParsedCapture:
        """The parsed columns, with the image statistics of every row filled in."""
        for batch in list(self._pending):
            self._flush(batch)
        n = len(self.out)
        stats = {name: np.full(n, np.nan) for name in STAT_NAMES}
        for rows, values in self._stat_chunks:
            for name in STAT_NAMES:
                stats[name][rows] = values[name]
        self._stat_chunks = []
        self.out.stats = stats
        return self.out


def _to_us(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - _EPOCH) // timedelta(microseconds=1)


def parse_lines(
    lines: Iterable[bytes | str],
    window: Window = Window(),
    n_classes: int | None = None,
    source: str = "",
) -> ParsedCapture:
    """Parse capture lines; ``source`` (the capture file) is recorded with each row.

    A module-level function of picklable arguments: worker processes run it on batches.
    """
    parser = CaptureParser(window, n_classes, source)
    for line in lines:
        parser.feed(line)
    return parser.finish()
