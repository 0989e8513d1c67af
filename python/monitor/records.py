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
- The same image is sent again and again (load tests cycle through the test set, clients retry),
  and its size and statistics depend on its bytes alone: each distinct input is decoded once per
  process, then found by its base64 text (``IMAGE_CACHE``, bounded, cleared when full). Inputs
  sent again thus cost a dictionary lookup instead of base64 decoding, inflating and statistics.
- What is left per record is mostly C: base64 decoding, inflating, the chunks' CRCs, Pillow's
  unfiltering and the statistics of the batch, JSON. The Python around it is kept lean (named
  tuples, not dataclasses, for what is made per image; orjson for the output too).
- This module imports only the standard library, numpy, Pillow and orjson: ``parse_block`` runs
  in worker processes, which start faster without pandas.
"""

from __future__ import annotations

import binascii
import io
import itertools
import json
import math
import struct
import threading
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np
import orjson
from PIL import Image

from monitor.image_stats import STAT_NAMES, batch_image_stats, rgb_image

# In the order they are checked: a line is counted under the first problem found.
MALFORMED_REASONS: tuple[str, ...] = (
    "bad_json",  # not JSON, or not a JSON object
    "missing_field",  # a required field is absent or of the wrong type
    "bad_time",  # eventMetadata.inferenceTime is not an ISO 8601 time (within 1677-2262)
    "undecodable_output",  # output encoding unknown, or data not base64 / JSON
    "bad_probabilities",  # output: not a list of numbers in [0, 1] summing to 1, one per label
    "undecodable_input",  # input encoding is not BASE64, bad base64, or not a readable image
)
# How far probabilities may sum away from 1: the classify Lambda's rule (same constant there).
SUM_TOLERANCE = 1e-3
STATS_BATCH = 1024  # images per decoding and statistics batch...
STATS_PIXELS = 1 << 22  # ...or fewer, for large images (memory: 100 MB per batch)
IMAGE_CACHE_CHARS = 32 << 20  # base64 text held by the image cache (about 8k 32x32 PNGs)
# SageMaker names a capture file after the hour it was opened in; its records may run past it.
HOUR_SLACK = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
# The times pandas' nanosecond timestamps hold (1677-09-21 to 2262-04-11), in microseconds since
# the epoch. A time beyond, such as the zero time 0001-01-01 of a broken clock or writer, cannot
# be drawn on a time axis (the report's figures would fail).
_TIME_US_RANGE = range(-((2**63 - 1) // 1000), (2**63 - 1) // 1000 + 1)
_NUMBER_TYPES = frozenset((int, float))
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_HEADER = struct.Struct(">IIBBBBB")  # IHDR: width, height, depth, colour, ..., interlace
_PNG_CHUNK = struct.Struct(">I4s")  # length, type
_PNG_CRC = struct.Struct(">I")
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
        try:
            start, end = hour - HOUR_SLACK, hour + timedelta(hours=1) + HOUR_SLACK
        except OverflowError:  # a key of year 1 or 9999: read it, filter its records one by one
            return True
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


class ImageFacts(NamedTuple):
    """What a row needs from its input image: size, encoded length, statistics (``STAT_NAMES``
    order). A named tuple: one is made per distinct image, in less than half the time of a
    frozen dataclass."""

    width: int
    height: int
    input_bytes: int
    stats: tuple[float, ...]


class ImageCache:
    """Facts of the images decoded so far, by their base64 text; at most ``max_chars`` of text
    held, all dropped when full (captures of distinct images gain nothing from keeping more).

    Shared by the parsing threads of a process: lookups are single dictionary reads, additions
    take a lock.
    """

    def __init__(self, max_chars: int = IMAGE_CACHE_CHARS) -> None:
        self.max_chars = max_chars
        self._facts: dict[str, ImageFacts] = {}
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, data: str) -> ImageFacts | None:
        return self._facts.get(data)

    def put(self, data: str, facts: ImageFacts) -> None:
        with self._lock:
            if self._chars + len(data) > self.max_chars:
                self._facts, self._chars = {}, 0
            if data not in self._facts:
                self._facts[data] = facts
                self._chars += len(data)

    def clear(self) -> None:
        with self._lock:
            self._facts, self._chars = {}, 0

    def __len__(self) -> int:
        return len(self._facts)


IMAGE_CACHE = ImageCache()


class ImageDecodeError(ValueError):
    """The input is not an image this module can read."""


class EncodedImage(NamedTuple):
    """An input image, checked to be decodable, awaiting decoding in a batch of its kind.

    ``kind`` ``"png"``: the filtered scanlines of a plain PNG (``data``, inflated, not yet
    unfiltered); ``"rgb"``: RGB pixels decoded by ``Image.open``. A named tuple, like
    ``ImageFacts``: one is made per distinct image.
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
            rgb = rgb_image(image)
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
    """The inflated scanlines of an 8-bit RGB non-interlaced PNG without a transparent colour,
    or ``None`` for any other image (which ``Image.open`` then reads). Checks what Pillow checks: every chunk's CRC, the
    zlib stream, enough image data, valid filter types; inflates no more than the image needs.

    Run once per distinct image, so kept lean: one CRC call per chunk (over its type and data,
    contiguous in the file), no copy of the image data when it is in one IDAT chunk (usual).
    """
    if not raw.startswith(_PNG_SIGNATURE) or raw[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = _PNG_HEADER.unpack_from(raw, 16)
    if depth != 8 or colour != 2 or interlace != 0 or width * height > Image.MAX_IMAGE_PIXELS:
        return None  # Image.open applies its decompression-bomb check to huge ones
    if width == 0 or height == 0:
        raise ImageDecodeError("empty PNG")
    view = memoryview(raw)
    position, idat = 8, []
    while True:
        length, kind = _PNG_CHUNK.unpack_from(raw, position)
        end = position + 8 + length
        if end + 4 > len(raw):
            raise ImageDecodeError("truncated PNG chunk")
        if zlib.crc32(view[position + 4 : end]) != _PNG_CRC.unpack_from(raw, end)[0]:
            raise ImageDecodeError(f"bad CRC in PNG chunk {kind!r}")
        if kind == b"IDAT":
            idat.append(view[position + 8 : end])
        elif kind == b"tRNS":  # a transparent colour: rgb_image shows it over the background
            return None
        elif kind == b"IEND":
            break
        position = end + 4
    stride = 1 + 3 * width
    stream = idat[0] if len(idat) == 1 else b"".join(idat)
    scanlines = zlib.decompressobj().decompress(stream, stride * height)
    if len(scanlines) < stride * height:
        raise ImageDecodeError("truncated PNG image data")
    if max(scanlines[::stride]) > 4:
        raise ImageDecodeError("unknown PNG filter type")
    return EncodedImage("png", width, height, scanlines)


def _load_json(line: bytes | str) -> Any:
    """``json.loads``, sped up: orjson parses a capture line in half the time, and where it
    refuses one (``NaN``, ``Infinity``, lone surrogates, a BOM, UTF-16: all accepted by ``json``)
    ``json`` decides, so the same lines are accepted, with the same strings, objects and lists.
    Numbers: floats are the same (both round correctly); integers beyond 64 bits come as floats
    from orjson (as ``float()`` of the integer: what ``_probabilities`` makes of them anyway) or
    are refused (beyond the float range) and then read by ``json``. Nesting deeper than orjson
    allows (1024 levels) is refused by both: ``json`` runs out of recursion, raised here as the
    ``ValueError`` of any other line that cannot be read.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            return json.loads(line)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def _parse_time_us(text: Any) -> int:
    if not isinstance(text, str):
        raise ValueError("inferenceTime is not a string")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    time_us = (moment - _EPOCH) // _US
    if time_us not in _TIME_US_RANGE:
        raise ValueError(f"inferenceTime {text!r} is out of range")
    return time_us


def _decode_output(output: dict) -> Any:
    """The endpoint's response, decoded as ``json`` does (``_load_json``: orjson parses floats
    exactly as ``json``, and hands ``json`` whatever it refuses)."""
    encoding, data = output.get("encoding"), output["data"]
    if encoding == "JSON":
        return _load_json(data)
    if encoding == "BASE64":
        return _load_json(binascii.a2b_base64(data, strict_mode=True))
    raise ValueError(f"unknown output encoding {encoding!r}")


def _probabilities(values: Any, n_classes: int | None) -> list[float] | None:
    """The output as floats, or ``None`` unless it is a non-empty list of numbers in [0, 1] that
    sum to 1 within ``SUM_TOLERANCE`` (of ``n_classes`` entries when known), as the classify
    Lambda requires; anything else (logits, huge values, scores of independent classes) would
    make a confidence that is no probability. Run for every record: ``map`` over builtins checks
    a pair of numbers in half the time of generator expressions."""
    if not isinstance(values, list) or not values:
        return None
    if n_classes is not None and len(values) != n_classes:
        return None
    if not _NUMBER_TYPES.issuperset(map(type, values)):  # JSON numbers; not bool
        return None
    try:
        floats = list(map(float, values))
    except OverflowError:  # an integer beyond float range
        return None
    if not all(map(math.isfinite, floats)):  # NaN would slip through min and max
        return None
    if not (0.0 <= min(floats) and max(floats) <= 1.0):
        return None
    return floats if abs(math.fsum(floats) - 1.0) <= SUM_TOLERANCE else None


class CaptureParser:
    """Turns capture lines into ``ParsedCapture`` columns; one parser per file (not thread-safe)."""

    def __init__(self, window: Window, n_classes: int | None, source: str = "") -> None:
        self.n_classes = n_classes
        self.source = source
        self.out = ParsedCapture()
        self._since_us = _to_us(window.since)
        self._until_us = _to_us(window.until)
        # (kind, height, width) -> (base64 texts, images) awaiting decoding and statistics
        self._pending: dict[tuple[str, int, int], tuple[list[str], list[EncodedImage]]] = {}
        # base64 text of a pending image -> (width, height, bytes, rows showing it)
        self._waiting: dict[str, tuple[int, int, int, list[int]]] = {}
        # rows whose statistics are known, and those statistics (``STAT_NAMES`` order)
        self._stat_rows: list[int] = []
        self._stat_values: list[tuple[float, ...]] = []

    def feed(self, line: bytes | str) -> None:
        """Parse one line: append a row, or count why it was skipped."""
        if not line.strip():
            return
        reason = self._parse(line)
        if reason is not None:
            self.out.malformed[reason] += 1

    def _parse(self, line: bytes | str) -> str | None:
        try:
            record = _load_json(line)
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
        out = self.out
        row = len(out.time_us)
        known = IMAGE_CACHE.get(input_data)
        if known is not None:
            width, height, input_bytes = known.width, known.height, known.input_bytes
            self._stat_rows.append(row)
            self._stat_values.append(known.stats)
        elif input_data in self._waiting:
            width, height, input_bytes, rows = self._waiting[input_data]
            rows.append(row)
        else:
            try:
                raw = binascii.a2b_base64(input_data, strict_mode=True)
                image = read_image(raw)
            except ValueError:  # binascii.Error, non-ASCII text, ImageDecodeError
                return "undecodable_input"
            width, height, input_bytes = image.width, image.height, len(raw)
            self._wait_for(input_data, image, input_bytes, row)
        confidence = max(probabilities)
        out.time_us.append(time_us)
        out.event_id.append(event_id)
        out.inference_id.append(inference_id if isinstance(inference_id, str) else None)
        out.content_type.append(content_type if isinstance(content_type, str) else None)
        out.input_bytes.append(input_bytes)
        out.width.append(width)
        out.height.append(height)
        out.probabilities.append(probabilities)
        out.predicted_index.append(probabilities.index(confidence))
        out.confidence.append(confidence)
        out.capture_file.append(self.source)
        return None

    def _wait_for(self, data: str, image: EncodedImage, input_bytes: int, row: int) -> None:
        """Queue a newly seen image for decoding and statistics with others of its kind."""
        self._waiting[data] = (image.width, image.height, input_bytes, [row])
        batch = (image.kind, image.height, image.width)
        texts, images = self._pending.setdefault(batch, ([], []))
        texts.append(data)
        images.append(image)
        if len(texts) >= STATS_BATCH or len(texts) * image.width * image.height >= STATS_PIXELS:
            self._flush(batch)

    def _flush(self, batch: tuple[str, int, int]) -> None:
        texts, images = self._pending.pop(batch)
        stats = batch_image_stats(decode_batch(images))
        columns = np.column_stack([stats[name] for name in STAT_NAMES]).tolist()
        for data, values in zip(texts, columns):
            width, height, input_bytes, rows = self._waiting.pop(data)
            facts = ImageFacts(width, height, input_bytes, tuple(values))
            IMAGE_CACHE.put(data, facts)
            self._stat_rows.extend(rows)
            self._stat_values.extend([facts.stats] * len(rows))

    def finish(self) -> ParsedCapture:
        """The parsed columns, with the image statistics of every row filled in."""
        for batch in list(self._pending):
            self._flush(batch)
        n = len(self.out)
        stats = {name: np.full(n, np.nan) for name in STAT_NAMES}
        if self._stat_rows:
            rows = np.asarray(self._stat_rows, dtype=np.int64)
            flat = itertools.chain.from_iterable(self._stat_values)  # fast, unlike nested lists
            values = np.fromiter(flat, np.float64, len(rows) * len(STAT_NAMES))
            values = values.reshape(len(rows), len(STAT_NAMES))
            for column, name in enumerate(STAT_NAMES):
                stats[name][rows] = values[:, column]
        self._stat_rows, self._stat_values = [], []
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
    """Parse capture lines; ``source`` (the capture file) is recorded with each row."""
    parser = CaptureParser(window, n_classes, source)
    for line in lines:
        parser.feed(line)
    return parser.finish()


def parse_block(
    block: bytes,
    window: Window = Window(),
    n_classes: int | None = None,
    source: str = "",
) -> ParsedCapture:
    """``parse_lines`` of the lines of ``block``: whole lines, each ended by ``\\n`` (but
    perhaps the last).

    A module-level function of picklable arguments, run by the worker processes: one bytes
    object is pickled, sent and unpickled as a single copy, where a list of lines costs the
    sending process an object per line.
    """
    return parse_lines(block.split(b"\n"), window, n_classes, source)
