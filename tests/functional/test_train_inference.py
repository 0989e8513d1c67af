"""code/inference.py of a trained artifact, loaded the way the serving containers load it.

The archive is extracted and ``code/inference.py`` imported as the top-level module
``inference`` with ``code/`` first on ``sys.path`` (no package ``train``), then
``model_fn`` -> ``input_fn`` -> ``predict_fn`` -> ``output_fn`` run for every accepted content
type, and every kind of bad input raises its named ``ValueError`` subclass.
"""

from __future__ import annotations

import importlib
import io
import json
import re
import sys
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from train import network
from train_support import class_image, png_bytes
from transparency_cases import cases as transparency_cases


@pytest.fixture(scope="module")
def served(trained_run, tmp_path_factory):
    """``(inference module, model)`` as a serving container would hold them."""
    run, _ = trained_run
    model_dir = tmp_path_factory.mktemp("model")
    with tarfile.open(run.model_archive) as tar:
        tar.extractall(model_dir, filter="data")
    code = str(model_dir / "code")
    threads = torch.get_num_threads()
    sys.path.insert(0, code)
    try:
        module = importlib.import_module("inference")
        assert module.__file__.startswith(code)
        assert module.network.__file__.startswith(code)  # the artifact's copy, not train.network
        model = module.model_fn(str(model_dir))
        yield module, model
    finally:
        sys.path.remove(code)
        for name in ("inference", "network"):
            sys.modules.pop(name, None)
        torch.set_num_threads(threads)


def round_trip(served, body, content_type, accept="application/json"):
    """The response body; its content type is always application/json."""
    module, model = served
    prediction = module.predict_fn(module.input_fn(body, content_type), model)
    body, response_type = module.output_fn(prediction, accept)
    assert response_type == "application/json"
    return body


def jpeg_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("content_type", ["application/x-image", "image/png", "image/jpeg"])
@pytest.mark.parametrize("encode", [png_bytes, jpeg_bytes])
def test_every_content_type_returns_a_probability_list(served, content_type, encode):
    body = encode(class_image(0, np.random.default_rng(1)))
    probabilities = json.loads(round_trip(served, body, content_type))
    assert isinstance(probabilities, list) and len(probabilities) == 2
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-6)


def test_prediction_equals_the_evaluation_rule(served, trained_run, tmp_path):
    """The endpoint answers what the test evaluation computed: same members, same TTA, same
    temperatures (the served copy has its batch norms folded into the convolutions, its weights
    channels-last)."""
    module, model = served
    run, _ = trained_run
    with tarfile.open(run.model_archive) as tar:
        tar.extractall(tmp_path, filter="data")
    evaluated_model, config = network.load_model(tmp_path)
    image = class_image(1, np.random.default_rng(2))
    served_probs = json.loads(round_trip(served, png_bytes(image), "image/png"))
    pixels = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    evaluated = network.predict_proba(evaluated_model, pixels, tta=config["tta"])[0].tolist()
    assert served_probs == pytest.approx(evaluated, abs=1e-5)
    assert model["tta"] is True and model["labels"] == ["bicycle", "motorcycle"]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model["network"].modules())
    convolutions = [m for m in model["network"].modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convolutions)


def test_model_fn_uses_one_thread(served):
    assert torch.get_num_threads() == 1


def test_large_and_odd_images_are_resized_to_32x32(served):
    module, _ = served
    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, (600, 900, 3), dtype=np.uint8)
    assert module.input_fn(png_bytes(big), "image/png").shape == (1, 3, 32, 32)
    grey = Image.fromarray(big[:, :, 0], mode="L")
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    data = module.input_fn(buffer.getvalue(), "image/png; charset=binary")
    assert data.shape == (1, 3, 32, 32)
    rgba = Image.fromarray(np.dstack([big, big[:, :, :1]]), mode="RGBA")
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    assert len(json.loads(round_trip(served, buffer.getvalue(), "application/x-image"))) == 2
    assert module.input_fn(bytearray(png_bytes(big)), "image/png").shape == (1, 3, 32, 32)


def test_bad_inputs_raise_named_value_errors(served):
    module, _ = served
    png = png_bytes(class_image(0, np.random.default_rng(4)))
    cases = [
        (b"", "image/png", module.EmptyBody, "empty"),
        (b"GIF89a not what we take", "image/png", module.NotAnImage, "not a readable PNG"),
        (png[:40], "image/png", module.NotAnImage, "not a readable PNG"),
        ("text body", "image/png", module.NotAnImage, "text"),
        (png, "application/json", module.UnsupportedContentType, "application/json"),
        (png, "", module.UnsupportedContentType, "not supported"),
        (b"\0" * (module.MAX_BODY_BYTES + 1), "image/png", module.ImageTooLarge, "bytes"),
    ]
    for body, content_type, error, message in cases:
        with pytest.raises(error, match=message) as caught:
            module.input_fn(body, content_type)
        assert isinstance(caught.value, ValueError) and isinstance(
            caught.value, module.InvalidInput
        )


def test_images_over_the_side_limit_are_refused_before_decoding(served):
    module, _ = served
    wide = Image.new("RGB", (module.MAX_SIDE + 1, 8))
    buffer = io.BytesIO()
    wide.save(buffer, format="PNG")
    with pytest.raises(module.ImageTooLarge, match=r"4097x8 pixels; the limit is 4096x4096"):
        module.input_fn(buffer.getvalue(), "image/png")


def test_accept_lists_are_read_and_unsupported_types_refused(served):
    module, model = served
    prediction = module.predict_fn(
        module.input_fn(png_bytes(class_image(0, np.random.default_rng(5))), "image/png"), model
    )
    for accept in ("*/*", "application/*", "text/csv, application/json;q=0.5", "Application/JSON"):
        assert module.output_fn(prediction, accept) == module.output_fn(
            prediction, "application/json"
        )
    for accept in (
        "text/csv",
        "text/csv, application/json;q=0",
        "application/json; q=0.0",
        "image/*",
    ):
        with pytest.raises(module.UnsupportedAccept, match=re.escape(repr(accept))):
            module.output_fn(prediction, accept)


def png_header_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels (the data is a 1x1 image)."""
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_decompression_bombs_are_image_too_large(served, side):
    # 100 and 400 million pixels: past Pillow's bomb warning and its bomb error respectively.
    module, _ = served
    with pytest.raises(module.ImageTooLarge, match="too many pixels"):
        module.input_fn(png_header_claiming(side, side), "image/png")


def test_sixteen_bit_grey_png_keeps_its_brightness(served):
    module, _ = served
    grey = Image.new("I;16", (32, 32), 32896)  # 128 * 257: mid grey in 16 bits
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == "I;16"
    pixels = module.input_fn(buffer.getvalue(), "image/png")
    assert torch.allclose(pixels, torch.full((1, 3, 32, 32), 128 / 255))


@pytest.mark.parametrize("case", sorted(transparency_cases()))
def test_transparent_parts_are_classified_as_shown_over_white(served, case):
    # Not as the colour values stored under them (black here), which convert("RGB") keeps.
    module, _ = served
    data, expected = transparency_cases()[case]
    pixels = module.input_fn(data, "image/png")
    served_pixels = (pixels[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(served_pixels, expected)


@pytest.mark.parametrize("broken_tag", [False, True])
def test_exif_rotated_jpeg_is_upright(served, broken_tag):
    # A camera stores a portrait photo landscape with orientation 6 (rotate 90 degrees
    # clockwise to view): the served pixels must be the upright ones. Also when another tag of
    # the EXIF block is broken: here Make (0x010F, text) renumbered TileWidth (0x0142, a number),
    # which Pillow reads but cannot write back.
    module, _ = served
    upright = np.zeros((32, 32, 3), dtype=np.uint8)
    upright[:16] = 255  # white top half, black bottom half
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "camera"
    block = exif.tobytes()
    if broken_tag:
        make = b"\x01\x0f\x00\x02"  # big-endian ("MM") tag 0x010F, type 2 (ASCII)
        assert block.count(make) == 1
        block = block.replace(make, b"\x01\x42\x00\x02")
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=block)
    pixels = module.input_fn(buffer.getvalue(), "image/jpeg")
    assert pixels[0, :, :14].mean() > 0.9 and pixels[0, :, 18:].mean() < 0.1
