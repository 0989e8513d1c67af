"""``monitor.drift``: clean traffic passes, altered traffic is flagged; the statistics themselves."""

from __future__ import annotations

import numpy as np
import pytest

from monitor import synthetic
from monitor.drift import (
    ALPHA,
    DRIFT,
    MIN_RECORDS,
    MODERATE,
    NO_DATA,
    NO_DRIFT,
    chi2_p_value,
    distinct_inputs,
    drift_report,
    feature_drift,
    overall_verdict,
    percentile_bins,
    psi,
    verdict,
)
from monitor.image_stats import STAT_NAMES, STAT_RANGES, batch_image_stats, summarize


@pytest.fixture(scope="module")
def baseline_stats() -> dict:
    return synthetic.baseline(synthetic.synthetic_images(800, seed=0), ["a", "b"], {})[
        "image_stats"
    ]


def captured(images: np.ndarray) -> dict[str, np.ndarray]:
    return batch_image_stats(images)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_traffic_from_the_training_distribution_shows_no_drift(baseline_stats, seed):
    report = drift_report(baseline_stats, captured(synthetic.synthetic_images(300, seed)))

    assert [f.feature for f in report] == list(STAT_NAMES)
    assert {f.feature: f.verdict for f in report} == dict.fromkeys(STAT_NAMES, NO_DRIFT)
    assert overall_verdict(report) == NO_DRIFT


@pytest.mark.parametrize(
    "shift, flagged", [("dark", "brightness"), ("blur", "contrast"), ("noise", "contrast")]
)
def test_altered_traffic_is_flagged(baseline_stats, shift, flagged):
    images = synthetic.shift_images(synthetic.synthetic_images(300, seed=1), shift)

    report = {f.feature: f for f in drift_report(baseline_stats, captured(images))}

    assert report[flagged].verdict == DRIFT
    assert report[flagged].psi >= 0.25 and report[flagged].p_value < ALPHA
    assert overall_verdict(list(report.values())) == DRIFT


def test_a_tenth_of_darkened_traffic_is_flagged(baseline_stats):
    clean = synthetic.synthetic_images(180, seed=1)
    dark = synthetic.shift_images(synthetic.synthetic_images(20, seed=2), "dark")

    report = {f.feature: f for f in drift_report(baseline_stats, captured(np.r_[clean, dark]))}

    assert report["brightness"].verdict in (MODERATE, DRIFT)
    assert report["brightness"].outside_share > 0.05  # 2 % expected


def test_a_resent_image_counts_once(baseline_stats):
    pool = synthetic.synthetic_images(60, seed=4)
    drawn = np.random.default_rng(0).integers(0, 60, 600)

    report = drift_report(baseline_stats, captured(pool[drawn]))

    assert {f.records for f in report} == {len(set(drawn.tolist()))}
    assert overall_verdict(report) == NO_DRIFT
    stats = captured(pool[[0, 1, 0, 2, 1]])
    assert distinct_inputs(stats)["brightness"].tolist() == stats["brightness"][:2].tolist() + [
        stats["brightness"][3]
    ]


def test_few_records_are_not_enough_data(baseline_stats):
    images = synthetic.shift_images(synthetic.synthetic_images(MIN_RECORDS - 1, seed=1), "dark")

    report = drift_report(baseline_stats, captured(images))

    assert {f.verdict for f in report} == {NO_DATA}
    assert overall_verdict(report) == NO_DATA


def test_verdict_rule():
    assert verdict(0.05, 1e-9, 500) == NO_DRIFT
    assert verdict(0.15, 1e-9, 500) == MODERATE
    assert verdict(0.30, 1e-9, 500) == DRIFT
    assert verdict(0.30, 0.01, 500) == NO_DRIFT  # a large PSI that chance explains
    assert verdict(0.30, 1e-9, MIN_RECORDS - 1) == NO_DATA


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    base = np.array([0.1, 0.2, 0.3, 0.4])
    assert psi(base, base) == pytest.approx(0.0)
    assert 0 < psi(base, [0.12, 0.2, 0.3, 0.38]) < psi(base, [0.3, 0.3, 0.2, 0.2])


def test_chi2_p_value_matches_known_quantiles():
    assert chi2_p_value(19.675, 11) == pytest.approx(0.05, abs=0.002)
    assert chi2_p_value(31.264, 11) == pytest.approx(0.001, abs=0.0002)
    assert chi2_p_value(0.0, 11) == 1.0


def test_percentile_bins_from_percentiles_or_histogram():
    values = np.random.default_rng(0).uniform(0, 1, 20000)
    stat = summarize(values, (0, 1))

    edges, shares = percentile_bins(stat)
    assert edges == pytest.approx(
        [0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99], abs=0.01
    )
    assert shares.sum() == pytest.approx(1.0) and shares[0] == pytest.approx(0.01)

    del stat["quantiles"]
    from_histogram, _ = percentile_bins(stat)
    assert from_histogram == pytest.approx(edges, abs=0.01)


def test_coinciding_percentiles_merge_their_bins():
    stat = {"quantiles": [0.5] * 41 + list(np.linspace(0.5, 0.9, 61)[1:])}

    edges, shares = percentile_bins(stat)

    # below the minimum: no training share; at the minimum: the whole 40 % point mass
    assert edges[0] < 0.5 and edges[1] == 0.5 and len(edges) == len(set(edges.tolist()))
    assert shares[0] == 0.0 and shares[1] == pytest.approx(0.4)
    assert shares.sum() == pytest.approx(1.0)


def test_a_point_mass_in_the_baseline_is_not_taken_for_drift():
    """30 % of the training images share one value (black images); traffic with the same mix
    must not look shifted because the point mass was split over the bins by percentile level."""
    rng = np.random.default_rng(1)
    stat = summarize(np.r_[np.zeros(1800), rng.uniform(0, 1, 4200)], (0, 1))

    same_mix = feature_drift("brightness", stat, np.r_[np.zeros(300), rng.uniform(0, 1, 700)])

    assert same_mix.psi < 0.1 and same_mix.verdict == NO_DRIFT


@pytest.mark.parametrize("captured_value", [0.1, 0.9])
def test_a_statistic_without_variance_in_training_flags_any_shift(captured_value):
    stat = summarize(np.full(600, 0.5), (0, 1))

    same = feature_drift("brightness", stat, np.full(200, 0.5))
    shifted = feature_drift("brightness", stat, np.full(200, captured_value))

    assert (same.psi, same.verdict, same.outside_share) == (0.0, NO_DRIFT, 0.0)
    assert shifted.verdict == DRIFT and shifted.outside_share == 1.0


def test_a_baseline_without_percentiles_uses_its_histogram():
    rng = np.random.default_rng(1)
    stat = summarize(rng.normal(0.5, 0.1, 2000).clip(0, 1), STAT_RANGES["brightness"])
    del stat["quantiles"]

    clean = feature_drift("brightness", stat, rng.normal(0.5, 0.1, 300))
    shifted = feature_drift("brightness", stat, rng.normal(0.3, 0.1, 300))

    assert clean.verdict == NO_DRIFT
    assert shifted.verdict == DRIFT
