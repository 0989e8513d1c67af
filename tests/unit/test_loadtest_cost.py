"""Cost estimate: the price table applied to the usage, and a named error for unknown prices."""

import pytest

from loadtest import cost
from loadtest.errors import UnknownInstancePrice


def test_estimate_applies_the_price_table():
    usage = cost.Usage(
        transitions=4000,
        lambda_requests=3000,
        lambda_gb_seconds=150.0,
        endpoint_instance_type="ml.m5.large",
        endpoint_instances=2,
        wall_s=1800.0,
    )
    parts = cost.estimate(usage)
    assert parts["step_functions"] == pytest.approx(0.1)
    assert parts["lambda"] == pytest.approx(round(3000 * 0.2e-6 + 150 * 0.0000166667, 4))
    assert parts["sagemaker_endpoint"] == pytest.approx(0.115)
    assert parts["total"] == pytest.approx(
        parts["step_functions"] + parts["lambda"] + parts["sagemaker_endpoint"], abs=1e-4
    )


def test_planned_usage_scales_with_images():
    small = cost.planned_usage(100, 100, 128, "ml.m5.large", 1, 60.0)
    large = cost.planned_usage(1000, 1000, 128, "ml.m5.large", 1, 60.0)
    assert large.transitions == 10 * small.transitions
    assert large.lambda_gb_seconds == pytest.approx(10 * small.lambda_gb_seconds)


def test_unknown_instance_type_is_a_named_error():
    with pytest.raises(UnknownInstancePrice, match="ml.x9.huge"):
        cost.hourly_price("ml.x9.huge")
