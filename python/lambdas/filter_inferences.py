"""filterInferences: let confident classifications through, stop the others.

Event: the output of classifyImage. Returns it unchanged when ``confidence >= THRESHOLD``,
otherwise raises ``LowConfidence`` so the state machine alerts and a person can look at the image.

Environment: ``THRESHOLD`` (default 0.93, the original project's value).
"""

from __future__ import annotations

import os
from typing import Any

from lambdas.errors import ConfigurationError, LowConfidence
from lambdas.events import require_object, require_probability

DEFAULT_THRESHOLD = 0.93


def handler(event: Any, context: Any = None) -> dict:
    event = require_object(event)
    confidence = require_probability(event, "confidence")
    limit = threshold()
    if confidence < limit:
        label = event.get("label")
        what = f" for {label[:80]!r}" if isinstance(label, str) else ""
        raise LowConfidence(f"confidence {confidence:.4f}{what} is below the threshold {limit}")
    return event


def threshold() -> float:
    raw = os.environ.get("THRESHOLD", "")
    if not raw:
        return DEFAULT_THRESHOLD
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"THRESHOLD is not a number: {raw[:80]!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"THRESHOLD must lie in [0, 1], not {value}")
    return value
