"""Altered copies of test images, so that a load test can feed the monitor a measurable drift.

Each transform moves one of the statistics the monitor compares with the training baseline
(brightness = mean of the grey image, contrast = its standard deviation, channel means):
``dark`` lowers brightness and channel means, ``blur`` lowers contrast, ``noise`` raises it.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

DRIFT_FRACTION = 0.3
"""Share of a run's images replaced by altered ones when ``--drift 1``."""


def darken(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Scale every pixel by 0.35: an underexposed camera."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) * 0.35
    return Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8), "RGB")


def blur(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Gaussian blur of radius 1.5 px (on 32x32 images): an out-of-focus lens."""
    return image.convert("RGB").filter(ImageFilter.GaussianBlur(radius=1.5))


def noise(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Add Gaussian noise of standard deviation 50/255 per pixel and channel: a noisy sensor."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    pixels = pixels + rng.normal(0.0, 50.0, size=pixels.shape)
    return Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8), "RGB")


TRANSFORMS: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "dark": darken,
    "blur": blur,
    "noise": noise,
}


def altered_png(png: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """The PNG bytes of ``png`` altered by the transform named ``kind``."""
    with Image.open(io.BytesIO(png)) as image:
        altered = TRANSFORMS[kind](image, rng)
    out = io.BytesIO()
    altered.save(out, format="PNG")
    return out.getvalue()
