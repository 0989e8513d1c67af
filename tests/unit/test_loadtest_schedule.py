"""The Poisson schedule of stream mode: seeded, ordered, bounded, and at the asked rate."""

import numpy as np

from loadtest.schedule import poisson_arrivals


def test_same_seed_same_schedule_other_seed_other_schedule():
    first = poisson_arrivals(20.0, 30.0, seed=7)
    assert first == poisson_arrivals(20.0, 30.0, seed=7)
    assert first != poisson_arrivals(20.0, 30.0, seed=8)


def test_arrivals_are_ascending_and_inside_the_duration():
    times = poisson_arrivals(50.0, 10.0, seed=1)
    assert times == sorted(times)
    assert all(0.0 < t < 10.0 for t in times)


def test_mean_rate_over_a_long_schedule_is_the_asked_rate():
    rate, duration = 50.0, 2000.0
    times = poisson_arrivals(rate, duration, seed=3)
    # 100 000 expected arrivals: the count's standard deviation is sqrt(1e5) ~ 316 (0.3 %).
    assert abs(len(times) / duration - rate) / rate < 0.01


def test_gaps_are_exponential():
    times = np.array(poisson_arrivals(10.0, 5000.0, seed=5))
    gaps = np.diff(times)
    # Exponential gaps: mean 1/rate, standard deviation equal to the mean, P(gap > mean) = 1/e.
    assert abs(gaps.mean() - 0.1) < 0.002
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.02
    assert abs((gaps > gaps.mean()).mean() - np.exp(-1)) < 0.01


def test_no_rate_or_no_duration_means_no_arrival():
    assert poisson_arrivals(0.0, 10.0, seed=1) == []
    assert poisson_arrivals(10.0, 0.0, seed=1) == []
