"""PNG images with transparent pixels, and the RGB pixels the endpoint must classify (and the
report must measure) for them: transparent parts shown over white, as an image viewer shows
them, whatever colour values are stored under them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

SIDE = 32  # the training size: the endpoint does not resize these
WHITE, RED, BLUE = (255, 255, 255), (255, 0, 0), (0, 0, 255)


def _png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _halves(top, bottom, dtype=np.uint8) -> np.ndarray:
    """A SIDE x SIDE array: the pixel value ``top`` in the upper half, ``bottom`` in the lower."""
    half = (SIDE // 2, SIDE, *np.shape(top))
    return np.concatenate([np.full(half, top, dtype), np.full(half, bottom, dtype)])


def cases() -> dict[str, tuple[bytes, np.ndarray]]:
    """``name -> (PNG bytes, expected (SIDE, SIDE, 3) uint8 pixels)``; each image's upper half
    is transparent with black stored under it (except the opaque one's)."""
    rgba = _halves((0, 0, 0, 0), (*RED, 255))
    half = _halves((0, 0, 0, 0), (0, 0, 0, 128))
    opaque = _halves((0, 0, 0, 255), (*RED, 255))
    grey_alpha = _halves((0, 0), (200, 255))
    palette = Image.fromarray(_halves(0, 1), mode="P")
    palette.putpalette([0, 0, 0, *BLUE])
    rgb = _halves((0, 0, 0), BLUE)
    grey16 = _halves(5, 128 * 257, np.uint16)
    return {
        "alpha channel": (_png(Image.fromarray(rgba, mode="RGBA")), _halves(WHITE, RED)),
        # black at alpha 128/255 over white: 255 * (1 - 128 / 255) = 127
        "half transparent": (
            _png(Image.fromarray(half, mode="RGBA")),
            _halves(WHITE, (127,) * 3),
        ),
        "grey with alpha": (
            _png(Image.fromarray(grey_alpha, mode="LA")),
            _halves(WHITE, (200,) * 3),
        ),
        "palette, transparent index": (_png(palette, transparency=0), _halves(WHITE, BLUE)),
        "RGB, transparent colour": (
            _png(Image.fromarray(rgb), transparency=(0, 0, 0)),
            _halves(WHITE, BLUE),
        ),
        "16-bit grey, transparent value": (
            _png(Image.fromarray(grey16), transparency=5),
            _halves(WHITE, (128,) * 3),
        ),
        "opaque alpha channel": (
            _png(Image.fromarray(opaque, mode="RGBA")),
            _halves((0, 0, 0), RED),
        ),
    }
