"""Image statistics shared by training (the drift baseline) and monitoring (captured inputs).

Input drift is only meaningful when the training images and the captured images are measured
the same way, so both sides call this module (stdlib + numpy + Pillow only):

- pixel values are scaled to [0, 1] (``uint8 / 255``);
- the grey image is the ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` (the weights of
  Pillow's ``"L"`` conversion, without its rounding to integers);
- ``brightness`` = mean of the grey image, ``contrast`` = its standard deviation (population,
  ``ddof=0``), ``mean_r``/``mean_g``/``mean_b`` = mean of each channel.

``summarize_image_stats`` turns the statistics of a set of images into the ``image_stats``
section of ``baseline.json``: per statistic ``{"mean", "std", "quantiles", "histogram": {"bins",
"counts"}}`` where ``quantiles`` holds the 101 percentiles 0 %, 1 %, ..., 100 % (evenly spaced
levels, first = minimum, last = maximum) and ``histogram`` counts the values in fixed bins
(``bins`` = the edges; values outside the range are counted in the outermost bins).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageMath

STAT_NAMES: tuple[str, ...] = ("brightness", "contrast", "mean_r", "mean_g", "mean_b")
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)
HISTOGRAM_BINS = 50
# Range of each statistic: the standard deviation of values in [0, 1] is at most 0.5.
STAT_RANGES: dict[str, tuple[float, float]] = {
    "brightness": (0.0, 1.0),
    "contrast": (0.0, 0.5),
    "mean_r": (0.0, 1.0),
    "mean_g": (0.0, 1.0),
    "mean_b": (0.0, 1.0),
}


SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
TRANSPARENT_BACKGROUND = (255, 255, 255)  # as inference.TRANSPARENT_BACKGROUND


def rgb_image(image: Image.Image) -> Image.Image:
    """``image`` in RGB as the endpoint sees it (``inference._opaque_rgb`` converts the same
    way, in the model artifact's own code): 16-bit grey scaled to 8 bits, where
    ``convert("RGB")`` alone clips it at 255 (white); transparent parts composited over
    ``TRANSPARENT_BACKGROUND``, where ``convert("RGB")`` keeps the colours stored under them."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
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


def _rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` array (uint8, or floats in [0, 1]) from a PIL image or an array."""
    if isinstance(image, Image.Image):
        return np.asarray(rgb_image(image))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {array.shape}")
    return array[:, :, :3]


def batch_image_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of ``N`` images of one size, ``(N, H, W, 3)`` uint8 (or float in [0, 1]).

    Vectorised (the monitor computes thousands of captured images at once) over contiguous
    colour planes: reducing over the pixel axis of ``(N, H*W, 3)`` directly is strided and
    several times slower.
    """
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[3] != 3:
        raise ValueError(f"expected (N, H, W, 3) images, got shape {array.shape}")
    planes = array.reshape(array.shape[0], -1, 3).transpose(0, 2, 1).astype(np.float64, order="C")
    scale = 255.0 if array.dtype == np.uint8 else 1.0  # the statistics are linear in the pixels
    grey = GREY_WEIGHTS @ planes
    channel_means = planes.mean(axis=2) / scale
    return {
        "brightness": grey.mean(axis=1) / scale,
        "contrast": grey.std(axis=1) / scale,
        "mean_r": channel_means[:, 0],
        "mean_g": channel_means[:, 1],
        "mean_b": channel_means[:, 2],
    }


def image_stats(image: Image.Image | np.ndarray) -> dict[str, float]:
    """Statistics of one image (PIL image, or array in uint8 or [0, 1] floats)."""
    stats = batch_image_stats(_rgb_array(image)[None])
    return {name: float(values[0]) for name, values in stats.items()}


def summarize(values: Sequence[float] | np.ndarray, value_range: tuple[float, float]) -> dict:
    """Mean, std, 101 percentiles and a fixed-bin histogram of one statistic."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("cannot summarize an empty set of values")
    edges = np.linspace(value_range[0], value_range[1], HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(np.clip(data, edges[0], edges[-1]), bins=edges)
    return {
        "mean": float(data.mean()),
        "std": float(data.std()),
        "quantiles": [float(q) for q in np.quantile(data, QUANTILE_LEVELS)],
        "histogram": {"bins": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def summarize_image_stats(
    images: np.ndarray | Iterable[Image.Image | np.ndarray],
) -> dict[str, dict]:
    """The ``image_stats`` section of ``baseline.json`` for a set of (training) images.

    ``images``: an ``(N, H, W, 3)`` array (computed at once), or any iterable of images.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        columns = batch_image_stats(images)
    else:
        rows = [image_stats(image) for image in images]
        columns = {name: np.array([row[name] for row in rows]) for name in STAT_NAMES}
    return {name: summarize(columns[name], STAT_RANGES[name]) for name in STAT_NAMES}
