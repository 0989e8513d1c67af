"""What a run would cost on AWS, from one small price table.

Prices: on-demand list prices, region us-east-1, as published in January 2025 (Step Functions
Standard transitions, Lambda x86 GB-seconds and requests, SageMaker real-time inference instance
hours). They are an estimate for planning, not a bill: S3 requests, SNS messages, CloudWatch and
data transfer are left out (each well under a cent for runs of this size).
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.errors import UnknownInstancePrice

PRICES_AS_OF = "2025-01, us-east-1, on-demand"
SFN_PER_TRANSITION = 0.025 / 1000
LAMBDA_PER_GB_SECOND = 0.0000166667
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
ENDPOINT_PER_HOUR = {
    "ml.t2.medium": 0.056,
    "ml.t3.medium": 0.05,
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.c5.large": 0.102,
    "ml.c5.xlarge": 0.204,
    "ml.g4dn.xlarge": 0.736,
}
# Planning assumptions for the estimate made before a run (the figures after it are measured).
PLANNED_TRANSITIONS_PER_IMAGE = 5
PLANNED_LAMBDA_CALLS_PER_IMAGE = 3
PLANNED_LAMBDA_SECONDS = 0.5


@dataclass(frozen=True)
class Usage:
    """What a run consumed (or is expected to consume) of each priced resource."""

    transitions: int
    lambda_requests: int
    lambda_gb_seconds: float
    endpoint_instance_type: str
    endpoint_instances: int
    wall_s: float


def hourly_price(instance_type: str) -> float:
    try:
        return ENDPOINT_PER_HOUR[instance_type]
    except KeyError:
        known = ", ".join(sorted(ENDPOINT_PER_HOUR))
        raise UnknownInstancePrice(
            f"no price for {instance_type!r} in loadtest/cost.py (known: {known})"
        ) from None


def estimate(usage: Usage) -> dict[str, float]:
    """Dollars per service and in total, rounded to a hundredth of a cent."""
    parts = {
        "step_functions": usage.transitions * SFN_PER_TRANSITION,
        "lambda": usage.lambda_requests * LAMBDA_PER_REQUEST
        + usage.lambda_gb_seconds * LAMBDA_PER_GB_SECOND,
        "sagemaker_endpoint": hourly_price(usage.endpoint_instance_type)
        * usage.endpoint_instances
        * usage.wall_s
        / 3600.0,
    }
    parts["total"] = sum(parts.values())
    return {name: round(value, 4) for name, value in parts.items()}


def planned_usage(
    images: int,
    executions: int,
    lambda_memory_mb: int,
    instance_type: str,
    instances: int,
    wall_s: float,
) -> Usage:
    """The usage a run of ``images`` images in ``executions`` executions should have."""
    calls = images * PLANNED_LAMBDA_CALLS_PER_IMAGE
    return Usage(
        transitions=images * PLANNED_TRANSITIONS_PER_IMAGE + 2 * executions,
        lambda_requests=calls,
        lambda_gb_seconds=calls * PLANNED_LAMBDA_SECONDS * lambda_memory_mb / 1024.0,
        endpoint_instance_type=instance_type,
        endpoint_instances=instances,
        wall_s=wall_s,
    )
