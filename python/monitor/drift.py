"""Input drift: are the captured images still like the training images?

Each image statistic (brightness, contrast, channel means; see ``monitor.image_stats``) of the
distinct captured inputs is binned by the training distribution's percentiles: below the 1st,
then the deciles, then above the 99th (12 bins; training shares 1 %, 9 %, 10 % x 8, 9 %, 1 %).
On those bins:

- PSI (population stability index) says how far the captured distribution moved;
- a chi-square test says whether chance explains it, for the number of captured records and of
  training images (the baseline is itself a sample).

Why these bins: drift in practice is often a *share* of odd inputs (an underexposed camera, a
dirty lens) rather than a shift of all of them; the two 1 % tail bins make such a share stand
out, where plain deciles hide it. Why the test: with a few hundred records PSI alone often
exceeds 0.1 on clean traffic. Why distinct inputs: an image sent again (a retry, a load test
drawing from a small pool) says nothing new about the inputs, yet would make the test take
chance differences between that pool and the training set for drift. Hence ``RULE``; the
report's verdict is the worst statistic's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from monitor.image_stats import STAT_NAMES

PSI_MODERATE = 0.1
PSI_DRIFT = 0.25
ALPHA = 0.001
MIN_RECORDS = 30
LEVELS = np.array([0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99])
PSI_FLOOR = 1e-4
NO_DATA, NO_DRIFT, MODERATE, DRIFT = "not enough data", "no drift", "moderate drift", "drift"
NO_BASELINE = "no baseline"  # nothing to compare with: the report says where it looked
SEVERITY = {NO_DATA: 0, NO_DRIFT: 1, MODERATE: 2, DRIFT: 3}
RULE = (
    "each statistic of the distinct input images (an image sent again counts once) is binned "
    "by the training percentiles (below 1 %, deciles, above 99 %); "
    f"PSI < {PSI_MODERATE}: no drift; {PSI_MODERATE} <= PSI < {PSI_DRIFT}: moderate drift; "
    f"PSI >= {PSI_DRIFT}: drift; a shift counts only when a chi-square test on the same bins "
    f"rules out chance (p < {ALPHA}), otherwise no drift; fewer than {MIN_RECORDS} records: "
    "not enough data. Overall verdict: the worst statistic."
)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    records: int  # distinct inputs compared
    psi: float | None
    p_value: float | None
    outside_share: float | None  # captured share below the 1st or above the 99th percentile
    verdict: str
    captured_mean: float | None
    baseline_mean: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def percentile_bins(stat: dict) -> tuple[np.ndarray, np.ndarray]:
    """Inner bin edges at ``LEVELS`` of the baseline and the training share of each bin.

    From the baseline's percentiles, or else from its histogram. Edges that coincide (a
    statistic with a point mass) are merged; each bin's share is the baseline's share of values
    in it (a point mass counts in full in the bin that ends at it). When the baseline's minimum
    is an edge (a point mass at the minimum, or a statistic with no variance), values below the
    minimum get a bin of their own, with no training share: a shift below a constant is drift.
    """
    values, levels = _quantile_function(stat)
    edges = np.unique(np.interp(LEVELS, levels, values))
    if edges[0] <= values[0]:
        edges = np.concatenate([[np.nextafter(values[0], -np.inf)], edges])
    cdf = _cdf(values, levels, edges)
    return edges, np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def _quantile_function(stat: dict) -> tuple[np.ndarray, np.ndarray]:
    """Baseline values and the share of the baseline at or below each (a sorted table)."""
    quantiles = stat.get("quantiles")
    if quantiles:
        values = np.asarray(quantiles, float)
        return values, np.linspace(0.0, 1.0, len(values))
    counts = np.asarray(stat["histogram"]["counts"], float)
    values = np.asarray(stat["histogram"]["bins"], float)
    return values, np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])


def _cdf(values: np.ndarray, levels: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Share of the baseline at or below each point: of equal values the highest level counts."""
    last_of_equal = np.r_[values[1:] > values[:-1], True]
    return np.interp(points, values[last_of_equal], levels[last_of_equal], left=0.0, right=1.0)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    p = np.maximum(np.asarray(expected, float), PSI_FLOOR)
    q = np.maximum(np.asarray(actual, float), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def chi2_p_value(statistic: float, dof: int) -> float:
    """Upper tail of the chi-square distribution (Wilson-Hilferty normal approximation)."""
    if statistic <= 0 or dof < 1:
        return 1.0
    spread = math.sqrt(2.0 / (9.0 * dof))
    z = ((statistic / dof) ** (1.0 / 3.0) - (1.0 - 2.0 / (9.0 * dof))) / spread
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def verdict(psi_value: float, p_value: float, records: int) -> str:
    if records < MIN_RECORDS:
        return NO_DATA
    if p_value >= ALPHA or psi_value < PSI_MODERATE:
        return NO_DRIFT
    return DRIFT if psi_value >= PSI_DRIFT else MODERATE


def feature_drift(feature: str, stat: dict, values: np.ndarray) -> FeatureDrift:
    """Drift of one statistic: ``stat`` from baseline.json, ``values`` of the captured images."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        return FeatureDrift(feature, 0, None, None, None, NO_DATA, None, stat.get("mean"))
    edges, expected = percentile_bins(stat)
    # bins (-inf, e0], (e0, e1], ..., (e_last, inf): the baseline CDF's own convention
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(expected))
    shares = counts / n
    training = sum(stat["histogram"]["counts"])
    effective = n * training / (n + training)  # both samples vary
    floor = np.maximum(expected, PSI_FLOOR)  # a bin training never reached
    statistic = effective * float(np.sum((shares - expected) ** 2 / floor))
    p_value = chi2_p_value(statistic, len(expected) - 1)
    psi_value = psi(expected, shares)
    return FeatureDrift(
        feature=feature,
        records=n,
        psi=psi_value,
        p_value=p_value,
        outside_share=_outside_share(stat, values),
        verdict=verdict(psi_value, p_value, n),
        captured_mean=float(values.mean()),
        baseline_mean=stat.get("mean"),
    )


def _outside_share(stat: dict, values: np.ndarray) -> float:
    """Share of ``values`` below the baseline's 1st or above its 99th percentile."""
    baseline_values, levels = _quantile_function(stat)
    low, high = np.interp(LEVELS[[0, -1]], levels, baseline_values)
    return float(np.mean((values < low) | (values > high)))


def distinct_inputs(captured: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The statistics of each distinct input once (identical images have identical statistics)."""
    names = [name for name in STAT_NAMES if name in captured]
    if not names:
        return {}
    rows = np.stack([np.asarray(captured[name], float) for name in names], axis=1)
    _, first = np.unique(rows, axis=0, return_index=True)
    keep = np.sort(first)
    return {name: rows[keep, i] for i, name in enumerate(names)}


def drift_report(
    baseline_stats: dict[str, dict], captured: dict[str, np.ndarray]
) -> list[FeatureDrift]:
    """One ``FeatureDrift`` per statistic present in both the baseline and the capture, over
    the distinct captured inputs."""
    distinct = distinct_inputs(captured)
    return [
        feature_drift(name, baseline_stats[name], distinct[name])
        for name in STAT_NAMES
        if name in baseline_stats and name in distinct
    ]


def overall_verdict(features: Sequence[FeatureDrift]) -> str:
    if not features:
        return NO_DATA
    return max((f.verdict for f in features), key=SEVERITY.__getitem__)
