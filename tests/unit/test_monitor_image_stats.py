"""``monitor.image_stats``: the statistics shared by the training baseline and the monitor."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from monitor.image_stats import (
    HISTOGRAM_BINS,
    QUANTILE_LEVELS,
    STAT_NAMES,
    batch_image_stats,
    image_stats,
    summarize,
    summarize_image_stats,
)


def test_constant_image():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 255, 51, 0

    stats = image_stats(image)

    assert stats["brightness"] == pytest.approx(0.299 + 0.587 * 0.2)
    assert stats["contrast"] == pytest.approx(0.0, abs=1e-12)
    assert (stats["mean_r"], stats["mean_g"], stats["mean_b"]) == pytest.approx((1.0, 0.2, 0.0))


def test_half_black_half_white_has_contrast_one_half():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[:2] = 255

    stats = image_stats(image)

    assert stats["brightness"] == pytest.approx(0.5)
    assert stats["contrast"] == pytest.approx(0.5)


def test_batch_pil_uint8_and_float_inputs_agree():
    images = np.random.default_rng(0).integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)

    batch = batch_image_stats(images)
    floats = batch_image_stats(images / 255.0)

    for i, image in enumerate(images):
        one = image_stats(Image.fromarray(image))
        grey = (image / 255.0) @ np.array([0.299, 0.587, 0.114])
        assert one["brightness"] == pytest.approx(grey.mean(), abs=1e-12)
        assert one["contrast"] == pytest.approx(grey.std(), abs=1e-12)
        for name in STAT_NAMES:
            assert batch[name][i] == pytest.approx(one[name], abs=1e-12)
            assert floats[name][i] == pytest.approx(one[name], abs=1e-12)


def test_summary_has_the_baseline_layout():
    values = np.random.default_rng(1).uniform(0.2, 0.6, 1000)

    summary = summarize(values, (0.0, 1.0))

    assert summary["mean"] == pytest.approx(values.mean())
    assert summary["std"] == pytest.approx(values.std())
    assert len(summary["quantiles"]) == len(QUANTILE_LEVELS) == 101
    assert summary["quantiles"][0] == values.min() and summary["quantiles"][-1] == values.max()
    assert len(summary["histogram"]["bins"]) == HISTOGRAM_BINS + 1
    assert sum(summary["histogram"]["counts"]) == 1000
    with pytest.raises(ValueError):
        summarize([], (0.0, 1.0))


def test_summarize_image_stats_covers_every_statistic():
    images = np.random.default_rng(2).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)

    stats = summarize_image_stats(images)

    assert list(stats) == list(STAT_NAMES)
    assert all(sum(s["histogram"]["counts"]) == 20 for s in stats.values())
