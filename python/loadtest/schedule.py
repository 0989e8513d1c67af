"""Arrival times of a Poisson stream: exponential gaps, seeded, computed before the run starts.

Computing the whole schedule up front lets the cost estimate and the ``--max-executions`` cap
know the exact number of executions before the first one starts, and makes a run repeatable.
"""

from __future__ import annotations

import numpy as np


def poisson_arrivals(rate: float, duration: float, seed: int) -> list[float]:
    """Offsets in seconds (ascending, all < ``duration``) of a Poisson process of ``rate``/s."""
    if rate <= 0 or duration <= 0:
        return []
    rng = np.random.default_rng(seed)
    times: list[float] = []
    now = 0.0
    # Draw in chunks a little larger than the expected count, so one draw is almost always enough.
    chunk = max(16, int(rate * duration * 1.2) + 16)
    while True:
        gaps = rng.exponential(1.0 / rate, size=chunk)
        for gap in gaps:
            now += float(gap)
            if now >= duration:
                return times
            times.append(now)
