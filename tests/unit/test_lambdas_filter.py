"""filterInferences: the confidence threshold."""

from __future__ import annotations

import math

import pytest

from lambdas import errors
from lambdas.filter_inferences import DEFAULT_THRESHOLD, handler
from lambdas_support import event


@pytest.fixture(autouse=True)
def default_threshold(monkeypatch):
    monkeypatch.delenv("THRESHOLD", raising=False)


def with_confidence(confidence) -> dict:
    return event("filter_inferences") | {"confidence": confidence}


def test_the_default_threshold_is_the_original_projects():
    assert DEFAULT_THRESHOLD == 0.93


def test_a_confident_classification_passes_through_unchanged():
    request = event("filter_inferences")

    assert handler(request) == event("filter_inferences")


def test_exactly_the_threshold_passes():
    assert handler(with_confidence(0.93))["confidence"] == 0.93


@pytest.mark.parametrize("confidence", [0.9299, 0.5, 0.0])
def test_below_the_threshold_is_low_confidence(confidence):
    with pytest.raises(errors.LowConfidence, match="for 'bicycle' is below the threshold 0.93"):
        handler(with_confidence(confidence))


def test_threshold_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("THRESHOLD", "0.5")

    assert handler(with_confidence(0.6))["confidence"] == 0.6
    with pytest.raises(errors.LowConfidence, match="threshold 0.5"):
        handler(with_confidence(0.4))


@pytest.mark.parametrize("threshold, message", [("high", "not a number"), ("1.5", "[0, 1]")])
def test_a_bad_threshold_is_a_configuration_error(monkeypatch, threshold, message):
    monkeypatch.setenv("THRESHOLD", threshold)

    with pytest.raises(errors.ConfigurationError, match=message):
        handler(with_confidence(0.99))


@pytest.mark.parametrize(
    "request_event",
    [
        None,
        [0.99],
        {"label": "bicycle"},
        with_confidence("0.99"),
        with_confidence(True),
        with_confidence(None),
        with_confidence(1.01),
        with_confidence(-0.1),
        with_confidence(math.nan),
        with_confidence(math.inf),
        with_confidence(10**400),
    ],
)
def test_a_missing_or_impossible_confidence_is_invalid_input(request_event):
    with pytest.raises(errors.InvalidInput):
        handler(request_event)
