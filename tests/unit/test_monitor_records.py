"""``monitor.records``: capture lines -> columns, exact values, every malformed kind counted."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from monitor import records, synthetic
from monitor.image_stats import image_stats
from monitor.records import (
    MALFORMED_REASONS,
    ImageDecodeError,
    Window,
    decode_batch,
    decode_rgb,
    parse_block,
    parse_lines,
    read_image,
)
from monitor_support import FIXTURES, LABELS, T0, malformed_lines, valid_lines
from transparency_cases import cases as transparency_cases

US = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return synthetic.synthetic_images(12, seed=3)


def test_valid_records_give_exact_rows_in_both_output_encodings(images):
    expected = valid_lines(images)
    parsed = parse_lines([e["line"] for e in expected], n_classes=2)

    assert len(parsed) == 12
    assert sum(parsed.malformed.values()) == 0
    for row, want in enumerate(expected):
        assert EPOCH + parsed.time_us[row] * US == want["time"]
        assert parsed.event_id[row] == want["event_id"]
        assert parsed.inference_id[row] == want["inference_id"]
        assert parsed.confidence[row] == want["confidence"]
        assert LABELS[parsed.predicted_index[row]] == want["predicted"]
        assert parsed.probabilities[row] == want["probabilities"]
        assert parsed.content_type[row] == "image/png"
        assert (parsed.width[row], parsed.height[row]) == (32, 32)
        assert parsed.input_bytes[row] == len(synthetic.png_bytes(images[row]))
        stats = image_stats(images[row])
        for name, value in stats.items():
            assert parsed.stats[name][row] == pytest.approx(value, abs=1e-12)


def test_each_malformed_kind_is_counted_and_skipped(images):
    valid = valid_lines(images)
    broken = malformed_lines(valid[0]["line"])
    lines = [v["line"] for v in valid]
    for kind_lines in broken.values():
        lines.extend(kind_lines)
    lines.insert(3, "")  # blank lines are not records
    lines.insert(5, "   \n")

    parsed = parse_lines(lines, n_classes=2)

    assert len(parsed) == len(valid)
    assert dict(parsed.malformed) == {kind: len(kind_lines) for kind, kind_lines in broken.items()}
    assert set(broken) == set(MALFORMED_REASONS)
    assert parsed.event_id == [v["event_id"] for v in valid]


def test_a_block_of_lines_parses_as_its_lines(images):
    lines = [v["line"] for v in valid_lines(images)]
    lines += [line for kind in malformed_lines(lines[0]).values() for line in kind]
    block = ("\r\n".join(lines[:5]) + "\n\n" + "\n".join(lines[5:])).encode()

    from_block, from_lines = parse_block(block, n_classes=2), parse_lines(lines, n_classes=2)

    assert len(from_block) == len(images)
    assert from_block.malformed == from_lines.malformed
    for name in records.ROW_COLUMNS:
        assert getattr(from_block, name) == getattr(from_lines, name), name
    for name, values in from_lines.stats.items():
        assert np.array_equal(from_block.stats[name], values), name


def _probabilities_as_json_reads_them(text: str) -> list[float] | None:
    """What the parser must make of an output: ``json.loads``, then floats in [0, 1] whose sum
    is 1 (within the classify Lambda's tolerance)."""
    try:
        values = [float(v) for v in json.loads(text)]
    except OverflowError:
        return None
    in_range = all(0.0 <= v <= 1.0 for v in values)
    return values if in_range and abs(sum(values) - 1.0) <= records.SUM_TOLERANCE else None


@pytest.mark.parametrize(
    "output",
    [
        "[0.1, 0.9]",
        "[1, 0]",
        "[123456789012345678901234567890, 1]",  # beyond 64 bits: a float, as float(int) gives
        "[" + "9" * 309 + ", 0]",  # beyond the float range
        "[1e400, 0]",  # infinite
        "[-1e999, 0]",
        "[Infinity, 0.5]",
        "[4.9e-324, 1]",
        "[0.30000000000000004, 0.7]",
        "[1.0000000000000000000000001, 0]",
        " [0.5 , 0.5] ",
        "[0.2, 0.2]",  # in range, but no distribution over the classes
        "[1, 1]",
        "[0.9995, 0]",  # within the tolerance
        "[0.998, 0]",
    ],
)
@pytest.mark.parametrize("encoding", ["JSON", "BASE64"])
def test_outputs_are_read_as_json_reads_them(images, output, encoding):
    record = json.loads(valid_lines(images[:1])[0]["line"])
    data = base64.b64encode(output.encode()).decode() if encoding == "BASE64" else output
    record["captureData"]["endpointOutput"].update(data=data, encoding=encoding)

    parsed = parse_lines([json.dumps(record)], n_classes=2)

    expected = _probabilities_as_json_reads_them(output)
    if expected is None:
        assert dict(parsed.malformed) == {"bad_probabilities": 1}
    else:
        assert parsed.probabilities == [expected] and sum(parsed.malformed.values()) == 0
        assert all(type(p) is float for p in parsed.probabilities[0])


@pytest.mark.parametrize(
    "output",
    ["[2.5, -1.5]", "[1.5, 0]", "[-0.25, 1.25]", "[0.5, NaN]", "[1e300, 1e308]", "[0, -0.0, 2]"],
)
def test_outputs_that_are_not_probabilities_are_counted_not_read(images, output):
    lines = [v["line"] for v in valid_lines(images[:2])]
    record = json.loads(lines[0])
    record["captureData"]["endpointOutput"].update(data=output, encoding="JSON")

    parsed = parse_lines([json.dumps(record), lines[1]])

    assert dict(parsed.malformed) == {"bad_probabilities": 1}
    assert parsed.event_id == ["event-1"] and parsed.confidence[0] <= 1.0


@pytest.mark.parametrize("encoding", ["JSON", "BASE64"])
def test_json_nested_too_deeply_is_counted_not_raised(images, encoding):
    deep = "[" * 100_000 + "]" * 100_000  # beyond orjson's 1024 levels and json's recursion
    lines = [v["line"] for v in valid_lines(images[:2])]
    record = json.loads(lines[0])
    data = base64.b64encode(deep.encode()).decode() if encoding == "BASE64" else deep
    record["captureData"]["endpointOutput"].update(data=data, encoding=encoding)

    parsed = parse_lines([json.dumps(record), lines[1], deep], n_classes=2)

    assert len(parsed) == 1
    assert dict(parsed.malformed) == {"undecodable_output": 1, "bad_json": 1}


def test_input_data_that_is_not_ascii_is_undecodable_input(images):
    lines = [v["line"] for v in valid_lines(images[:2])]
    record = json.loads(lines[0])
    record["captureData"]["endpointInput"]["data"] = "iVBORw0KGgo\u00e9"

    parsed = parse_lines([json.dumps(record), lines[1]], n_classes=2)

    assert len(parsed) == 1 and dict(parsed.malformed) == {"undecodable_input": 1}


def test_wrong_number_of_probabilities_only_counts_when_the_labels_are_known(images):
    line = valid_lines(images[:1])[0]["line"]
    three = json.loads(line)
    three["captureData"]["endpointOutput"].update(data="[0.2, 0.3, 0.5]", encoding="JSON")

    assert dict(parse_lines([json.dumps(three)], n_classes=2).malformed) == {"bad_probabilities": 1}
    unknown = parse_lines([json.dumps(three)], n_classes=None)
    assert len(unknown) == 1 and unknown.predicted_index == [2]


def test_window_keeps_records_in_since_until_and_counts_the_others(images):
    expected = valid_lines(images)  # 2 s apart from T0
    window = Window(T0 + timedelta(seconds=4), T0 + timedelta(seconds=10))

    parsed = parse_lines([e["line"] for e in expected], window, n_classes=2)

    assert parsed.event_id == ["event-2", "event-3", "event-4"]  # 10 s is excluded
    assert parsed.outside_window == 9
    assert sum(parsed.malformed.values()) == 0


@pytest.mark.parametrize(
    "when, usable",
    [
        ("0001-01-01T00:00:00Z", False),
        ("9999-12-31T23:59:59Z", False),
        ("1677-09-21T00:12:43.145224Z", False),
        ("1677-09-21T00:12:43.145225Z", True),
        ("2262-04-11T23:47:16.854775Z", True),
        ("2262-04-11T23:47:16.854776Z", False),
        ("2262-04-11T23:47:16.854775-00:01", False),
    ],
)
def test_times_beyond_pandas_timestamps_are_bad_time(images, when, usable):
    record = json.loads(valid_lines(images[:1])[0]["line"])
    record["eventMetadata"]["inferenceTime"] = when

    parsed = parse_lines([json.dumps(record)], n_classes=2)

    if usable:
        assert len(parsed) == 1 and not parsed.malformed
        assert pd.Timestamp(parsed.time_us[0], unit="us", tz="UTC") == pd.Timestamp(when)
    else:
        assert len(parsed) == 0 and dict(parsed.malformed) == {"bad_time": 1}


def test_real_sagemaker_capture_files_parse():
    lines = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        lines.extend(path.read_bytes().splitlines())

    parsed = parse_lines(lines, n_classes=2)

    assert len(parsed) == 4
    assert sum(parsed.malformed.values()) == 0
    assert parsed.event_id[0] == "695344c2-3858-45e5-a14d-33deaf4310c7"
    assert EPOCH + parsed.time_us[0] * US == datetime(2024, 10, 15, 14, 5, 12, tzinfo=timezone.utc)
    assert parsed.probabilities[0] == [0.9388836622238159, 0.061116307973861694]
    assert parsed.confidence == [
        0.9388836622238159,
        0.7674675583839417,
        0.9923672080039978,
        0.7920417785644531,
    ]
    assert parsed.predicted_index == [0, 1, 1, 1]
    assert parsed.inference_id == [None] * 4
    assert parsed.width == [32] * 4 and parsed.height == [32] * 4
    assert all(0 < b < 1 for b in parsed.stats["brightness"])


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "mode, fmt, options",
    [
        ("RGB", "PNG", {}),  # the direct path
        ("RGB", "PNG", {"optimize": True}),
        ("RGBA", "PNG", {}),  # every other image goes through Image.open
        ("L", "PNG", {}),
        ("P", "PNG", {}),
        ("RGB", "JPEG", {"quality": 95}),
    ],
)
def test_decoded_pixels_equal_pillows(images, mode, fmt, options):
    original = Image.fromarray(images[0]).convert(mode)
    data = _encode(original, fmt, **options)

    width, height, rgb = decode_rgb(data)

    assert (width, height) == (32, 32)
    assert rgb == Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def test_sixteen_bit_grey_is_scaled_to_eight_bits_as_the_endpoint_scales_it(images):
    """The endpoint (inference.input_fn) classifies a 16-bit grey PNG scaled to 8 bits; its
    statistics must be those of that image, not of Pillow's convert("RGB"), which clips every
    value above 255 to white."""
    grey = images[0, :, :, 0]
    data = _encode(Image.fromarray(grey.astype(np.uint16) * 257), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")

    width, height, rgb = decode_rgb(data)

    assert (width, height) == (32, 32)
    assert rgb == np.repeat(grey[:, :, None], 3, axis=2).tobytes()
    line = synthetic.capture_record(data, [0.9, 0.1], T0, event_id="event-16-bit")
    parsed = parse_lines([line])
    assert parsed.stats["brightness"][0] == pytest.approx(grey.mean() / 255)


@pytest.mark.parametrize("case", sorted(transparency_cases()))
def test_transparent_parts_are_measured_as_the_endpoint_classifies_them(case):
    """Shown over white (tests/functional/test_train_inference.py checks the endpoint against
    the same pixels); an RGB PNG with a transparent colour leaves the plain-PNG path."""
    data, expected = transparency_cases()[case]

    width, height, rgb = decode_rgb(data)

    pixels = np.frombuffer(rgb, dtype=np.uint8).reshape(height, width, 3)
    np.testing.assert_array_equal(pixels, expected)


def png_with_filters(image: np.ndarray, filters: list[int]) -> bytes:
    """An 8-bit RGB PNG whose row ``y`` uses PNG filter type ``filters[y]`` (0 to 4)."""
    height, width, _ = image.shape
    rows = image.reshape(height, width * 3).astype(np.int64)
    out = bytearray()
    for y, kind in enumerate(filters):
        row, up = rows[y], rows[y - 1] if y else np.zeros(width * 3, np.int64)
        left = np.r_[np.zeros(3, np.int64), row[:-3]]
        up_left = np.r_[np.zeros(3, np.int64), up[:-3]]
        if kind == 4:
            p = left + up - up_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
            predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
        else:
            predictor = [0 * row, left, up, (left + up) // 2][kind]
        out += bytes([kind]) + bytes(((row - predictor) % 256).astype(np.uint8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(out)))
        + chunk(b"IEND", b"")
    )


def test_a_batch_of_pngs_with_every_filter_type_decodes_like_pillow(images):
    rng = np.random.default_rng(0)
    encoded = [
        png_with_filters(image, list(rng.integers(0, 5, image.shape[0]))) for image in images
    ]
    encoded.append(png_with_filters(images[0], [3] * 32))  # Average on every row

    batch = decode_batch([read_image(data) for data in encoded])

    assert batch.shape == (len(encoded), 32, 32, 3)
    for data, pixels in zip(encoded, batch):
        assert pixels.tobytes() == Image.open(io.BytesIO(data)).convert("RGB").tobytes()
    assert np.array_equal(batch[:-1], images)


def test_an_unknown_filter_type_is_refused_like_pillow_does(images):
    data = png_with_filters(images[0], [0] * 32)
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    scanlines = bytearray(zlib.decompress(data[start : start + length]))
    scanlines[97 * 5] = 9  # row 5: filter type 9 does not exist
    idat = zlib.compress(bytes(scanlines))
    broken = (
        data[: start - 8]
        + struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
        + data[start + length + 4 :]
    )

    with pytest.raises(ImageDecodeError, match="filter"):
        read_image(broken)
    with pytest.raises(OSError):
        Image.open(io.BytesIO(broken)).load()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(type, data)`` of each chunk of a PNG."""
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunks.append((kind, data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in chunks
    )


def test_image_data_split_over_several_chunks_decodes_like_pillow(images):
    """Encoders may split the image data into several IDAT chunks, among other chunks."""
    header, idat, end = _chunks(_encode(Image.fromarray(images[1]), "PNG"))
    assert (header[0], idat[0], end[0]) == (b"IHDR", b"IDAT", b"IEND")
    data = idat[1]
    cuts = [0, 7, len(data) // 2, len(data)]
    pieces = [(b"IDAT", data[a:b]) for a, b in zip(cuts, cuts[1:])]
    split = _png([header, (b"tEXt", b"Comment\x00split"), *pieces, end])

    image = read_image(split)

    assert image.kind == "png"
    assert decode_batch([image])[0].tobytes() == Image.open(io.BytesIO(split)).tobytes()
    assert np.array_equal(decode_batch([image])[0], images[1])


def test_a_bad_crc_in_any_chunk_is_refused_like_pillow_does(images):
    header, idat, end = _chunks(_encode(Image.fromarray(images[2]), "PNG"))
    good = _png([header, (b"tEXt", b"Comment\x00crc"), idat, end])
    text_crc = good.index(b"crc") + 3  # the CRC of the tEXt chunk follows its data

    broken = bytearray(good)
    broken[text_crc] ^= 0x01

    with pytest.raises(ImageDecodeError, match="CRC in PNG chunk b'tEXt'"):
        read_image(bytes(broken))
    with pytest.raises(OSError):  # UnidentifiedImageError
        Image.open(io.BytesIO(bytes(broken))).load()
    assert read_image(good).kind == "png"


def test_a_corrupted_png_chunk_is_refused(images):
    data = bytearray(_encode(Image.fromarray(images[0]), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # payload changed, CRC no longer matches

    with pytest.raises(ImageDecodeError, match="CRC"):
        decode_rgb(bytes(data))


def test_an_image_sent_again_is_decoded_once_with_the_same_values(images, monkeypatch):
    repeated = np.concatenate([images[:3]] * 4)  # 3 distinct images, 12 records
    lines = [e["line"] for e in valid_lines(repeated)]
    broken = malformed_lines(lines[0])["undecodable_input"][1]  # not an image: never cached
    decoded = []
    monkeypatch.setattr(records, "read_image", lambda raw: decoded.append(raw) or read_image(raw))
    records.IMAGE_CACHE.clear()

    first = parse_lines(lines + [broken, broken], n_classes=2)
    again = parse_lines(lines + [broken], n_classes=2)  # later batches: found in the cache

    assert len(decoded) == 3 + 2 + 1
    assert dict(first.malformed) == {"undecodable_input": 2}
    for parsed in (first, again):
        assert len(parsed) == 12
        assert parsed.input_bytes == [len(synthetic.png_bytes(i)) for i in repeated]
        assert parsed.width == parsed.height == [32] * 12
        for name, values in image_stats(repeated[0]).items():
            assert parsed.stats[name][[0, 3, 6, 9]].tolist() == [parsed.stats[name][0]] * 4
            assert parsed.stats[name][0] == pytest.approx(values, abs=1e-12)
    for name in first.stats:
        assert np.array_equal(first.stats[name], again.stats[name]), name


def test_the_image_cache_is_emptied_when_full():
    cache = records.ImageCache(max_chars=10)
    facts = records.ImageFacts(32, 32, 100, (0.5,) * 5)

    cache.put("abcdef", facts)
    cache.put("abcdef", facts)  # already there: not counted twice
    assert len(cache) == 1 and cache.get("abcdef") == facts
    cache.put("ghijkl", facts)  # 12 characters > 10: the old ones go

    assert len(cache) == 1 and cache.get("abcdef") is None and cache.get("ghijkl") == facts
