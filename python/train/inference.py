"""Serving functions of the model artifact (``code/inference.py`` in ``model.tar.gz``).

The SageMaker PyTorch inference container and the local stack's model server import this file
with ``code/`` on ``sys.path`` and call ``model_fn`` once, then ``input_fn`` -> ``predict_fn``
-> ``output_fn`` per request. It needs only torch and Pillow (no ``code/requirements.txt``).

- Request: one PNG or JPEG image, content type ``application/x-image``, ``image/png`` or
  ``image/jpeg``; any size up to ``MAX_SIDE`` x ``MAX_SIDE`` pixels and ``MAX_BODY_BYTES``
  bytes, turned upright by its EXIF orientation, converted to RGB (16-bit grey scaled to 8 bits;
  transparent parts shown over white, as an image viewer shows them) and resized to 32x32 (the
  training size).
- Response: ``application/json``, the list of class probabilities in label-index order (the
  shape of SageMaker's built-in image-classification algorithm), e.g. ``[0.97, 0.03]``.
- Bad input raises a subclass of ``InvalidInput`` (a ``ValueError``) whose message says what
  was wrong; the serving container turns it into an error response and keeps serving.

Predictions go through ``network.predict_proba``, the function the test evaluation used, with
the same ensemble members, test-time augmentation and calibration temperatures (saved in
``model.pth``).
"""

from __future__ import annotations

import io
import json
import struct
import warnings
from pathlib import Path

import torch
from PIL import Image, ImageMath

if __package__:
    from train import network
else:
    import network

CONTENT_TYPES = ("application/x-image", "image/png", "image/jpeg")
JSON = "application/json"
ACCEPT_TYPES = (JSON, "application/*", "*/*")
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_SIDE = 4096
IMAGE_FORMATS = ("PNG", "JPEG")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
# What transparent pixels are classified as: the white an image viewer shows them over. The
# colour values stored under them are arbitrary (often black, the default of drawing tools).
TRANSPARENT_BACKGROUND = (255, 255, 255)
EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transposition that makes the image upright (as ImageOps.exif_transpose)
ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class InvalidInput(ValueError):
    """The request cannot be classified; the message says why."""


class EmptyBody(InvalidInput):
    pass


class UnsupportedContentType(InvalidInput):
    pass


class NotAnImage(InvalidInput):
    pass


class ImageTooLarge(InvalidInput):
    pass


class UnsupportedAccept(InvalidInput):
    pass


def model_fn(model_dir: str) -> dict:
    """Load the network, its prediction settings and the class labels from the artifact."""
    # One request is one 32x32 image: a single thread is fastest and leaves the other cores
    # to the server's other workers.
    torch.set_num_threads(1)
    directory = Path(model_dir)
    model, config = network.load_model(directory)
    labels = json.loads((directory / "labels.json").read_text())
    return {
        "network": network.fuse_for_inference(model),
        "tta": bool(config["tta"]),
        "labels": labels,
    }


def input_fn(request_body: bytes | bytearray, content_type: str) -> torch.Tensor:
    """Decode one image into a ``(1, 3, 32, 32)`` float tensor in [0, 1]."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in CONTENT_TYPES:
        raise UnsupportedContentType(
            f"content type {content_type!r} is not supported; use one of {', '.join(CONTENT_TYPES)}"
        )
    if isinstance(request_body, str):
        raise NotAnImage("the request body is text, not PNG or JPEG image bytes")
    body = bytes(request_body or b"")
    if not body:
        raise EmptyBody("the request body is empty; send the PNG or JPEG image bytes")
    if len(body) > MAX_BODY_BYTES:
        raise ImageTooLarge(
            f"the request body has {len(body)} bytes; the limit is {MAX_BODY_BYTES}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body), formats=IMAGE_FORMATS)
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise ImageTooLarge(
                    f"the image is {width}x{height} pixels; the limit is {MAX_SIDE}x{MAX_SIDE}"
                )
            rgb = _opaque_rgb(_upright(image))
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageTooLarge(f"the image has too many pixels to decode ({err})") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as err:
        raise NotAnImage(f"the request body is not a readable PNG or JPEG image ({err})") from None
    size = network.IMAGE_SIZE
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    pixels = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
    return pixels.view(1, size, size, 3).permute(0, 3, 1, 2).float() / 255


def _upright(image: Image.Image) -> Image.Image:
    """A camera JPEG's pixels are stored sideways with an EXIF orientation: turn them upright.

    Only the orientation tag is read. ``ImageOps.exif_transpose`` also writes the whole EXIF
    block back, and a broken tag elsewhere in it (a text value under a number tag) then raises
    ``struct.error`` or ``TypeError`` for an image that decodes and displays fine."""
    method = ORIENTATIONS.get(image.getexif().get(EXIF_ORIENTATION))
    return image if method is None else image.transpose(method)


def _opaque_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB, as ``monitor.image_stats.rgb_image`` computes it for the report's statistics.

    - 16-bit grey is scaled to 8 bits (``convert("RGB")`` clips every value above 255);
    - transparent parts (an alpha channel, or a PNG's transparent colour or grey value) are
      composited over ``TRANSPARENT_BACKGROUND``: ``convert("RGB")`` drops the alpha channel
      and keeps the colour values stored under it.
    """
    if image.mode in SIXTEEN_BIT_MODES:
        values = image.convert("I")
        transparent = image.info.get("transparency")
        image = values.point(lambda value: value / 257).convert("L")
        image.info.pop("transparency", None)  # a 16-bit value: not one of the 8-bit ones
        if isinstance(transparent, int):
            opaque = ImageMath.lambda_eval(lambda e: e["notequal"](e["v"], transparent), v=values)
            image.putalpha(opaque.point(lambda value: value * 255).convert("L"))
    if not image.has_transparency_data:
        return image.convert("RGB")
    background = Image.new("RGBA", image.size, TRANSPARENT_BACKGROUND)
    background.alpha_composite(image.convert("RGBA"))
    return background.convert("RGB")


def predict_fn(input_data: torch.Tensor, model: dict) -> torch.Tensor:
    """Class probabilities ``(1, classes)``."""
    return network.predict_proba(model["network"], input_data, tta=model["tta"])


def output_fn(prediction: torch.Tensor, accept: str) -> tuple[str, str]:
    """The JSON list of probabilities of the (single) image, in label-index order, and its
    content type: the inference toolkit answers with the type ``output_fn`` names, and otherwise
    with the Accept value as sent (``application/*``, a list)."""
    if accept and not _accepts_json(accept):
        raise UnsupportedAccept(f"accept type {accept!r} is not supported; use application/json")
    return json.dumps([float(p) for p in prediction[0].tolist()]), JSON


def _accepts_json(accept: str) -> bool:
    """Whether an HTTP Accept value (a list such as ``text/csv, application/json;q=0.5``) takes
    JSON: one of its media ranges covers application/json with a quality above 0."""
    for media_range in accept.split(","):
        media_type, *params = (part.strip().lower() for part in media_range.split(";"))
        quality = next((p.partition("=")[2] for p in params if p.startswith("q=")), "1")
        try:
            wanted = float(quality) > 0
        except ValueError:  # a malformed weight: read as the default, 1
            wanted = True
        if media_type in ACCEPT_TYPES and wanted:
            return True
    return False
