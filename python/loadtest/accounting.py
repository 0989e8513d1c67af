"""Outcomes, counts and figures of a run, computed from per-image execution records.

Rules (the README states them too):

- Every image submitted ends in exactly one outcome: ``succeeded``, the error name of its
  execution (``LowConfidence``, ``ImageNotFound``, ``States.Timeout``...; for a batch, the item's
  status; ``StartExecution.<code>`` when Step Functions refused to start it;
  ``NotStarted.Stalled`` when a burst stopped starting because earlier executions never ended;
  ``NotStarted.Interrupted`` when Ctrl-C stopped the run before it was started), or ``lost``
  when its execution was still running at the deadline (or at Ctrl-C).
  ``sum(by_status) + lost == submitted`` always holds.
- Error rate = images that ended in an error other than ``LowConfidence`` / submitted.
  ``LowConfidence`` is the workflow doing its job (a human looks at the image), not a failure of
  the system; lost images are counted apart (any loss fails the run on its own).
- Latency = Step Functions' ``stopDate - startDate`` (per Map iteration for a batch).
  Percentiles are nearest-rank: the smallest latency with at least p % of the values at or below.
- Throughput = ended images / (last stop - first start), from Step Functions' timestamps.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

SUCCEEDED = "succeeded"
LOST = "lost"
LOW_CONFIDENCE = "LowConfidence"
ENDED_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass
class ExecutionRecord:
    """What happened to one image: the execution that carried it and how it ended."""

    execution_arn: str
    s3_key: str
    status: str  # Step Functions status; RUNNING = lost; NOT_STARTED = never started
    error: str
    start: datetime | None
    stop: datetime | None
    drift_kind: str = ""

    @property
    def outcome(self) -> str:
        if self.status == "SUCCEEDED":
            return SUCCEEDED
        if self.status in ENDED_STATUSES or self.status == "NOT_STARTED":
            return self.error or self.status
        return LOST

    @property
    def latency_ms(self) -> float | None:
        if self.outcome == LOST or self.start is None or self.stop is None:
            return None
        return (self.stop - self.start).total_seconds() * 1000.0


@dataclass(frozen=True)
class Summary:
    submitted: int
    succeeded: int
    by_status: dict[str, int]
    lost: int
    error_rate: float
    throughput: float
    wall_s: float
    latency_ms: dict[str, float | None]


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def summarize(records: list[ExecutionRecord]) -> Summary:
    """Counts per outcome, lost, error rate, throughput and latency percentiles."""
    outcomes = Counter(record.outcome for record in records)
    lost = outcomes.pop(LOST, 0)
    submitted = len(records)
    errors = sum(n for name, n in outcomes.items() if name not in (SUCCEEDED, LOW_CONFIDENCE))
    latencies = [ms for ms in (r.latency_ms for r in records) if ms is not None]
    starts = [r.start for r in records if r.start is not None and r.outcome != LOST]
    stops = [r.stop for r in records if r.stop is not None and r.outcome != LOST]
    wall_s = (max(stops) - min(starts)).total_seconds() if starts and stops else 0.0
    ended = submitted - lost
    return Summary(
        submitted=submitted,
        succeeded=outcomes.get(SUCCEEDED, 0),
        by_status=dict(sorted(outcomes.items())),
        lost=lost,
        error_rate=errors / submitted if submitted else 0.0,
        throughput=ended / wall_s if wall_s > 0 else 0.0,
        wall_s=wall_s,
        latency_ms={f"p{p}": percentile(latencies, p) for p in (50, 95, 99)},
    )


def failures(summary: Summary, max_error_rate: float) -> list[str]:
    """Why the run failed (empty when it passed): anything lost, or too many errors."""
    problems = []
    if summary.lost:
        problems.append(f"{summary.lost} of {summary.submitted} images lost")
    if summary.error_rate > max_error_rate:
        problems.append(
            f"error rate {summary.error_rate:.3f} above --max-error-rate {max_error_rate}"
        )
    return problems
