"""Synthetic images and capture records, with drift on demand, to exercise the report.

The benchmark (``bench/bench_report.py``) and the tests need captures of known content without
an endpoint: records in exactly the SageMaker format (see ``monitor.records``), images from one
seeded generator, so that a clean set (another seed) must show no drift and an altered set must.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timezone
from typing import Sequence

import numpy as np
from PIL import Image, ImageFilter

from monitor.image_stats import summarize_image_stats

SHIFTS = ("dark", "blur", "noise")


def synthetic_images(n: int, seed: int, size: int = 32) -> np.ndarray:
    """``(n, size, size, 3)`` uint8 images: a random colour, a gradient and pixel noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(-1.0, 1.0, size)
    gradient = ramp[None, :, None] * rng.uniform(-60, 60, (n, 1, 1))
    gradient = gradient + ramp[None, None, :] * rng.uniform(-60, 60, (n, 1, 1))
    base = rng.uniform(40, 215, (n, 1, 1, 3)) + gradient[..., None]
    noise = rng.normal(0, rng.uniform(5, 40, (n, 1, 1, 1)), (n, size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def shift_images(images: np.ndarray, shift: str, seed: int = 0) -> np.ndarray:
    """Drifted copies: ``dark`` (half the light), ``blur`` (Gaussian) or ``noise`` (strong)."""
    if shift == "dark":
        return (images.astype(np.float64) * 0.5).astype(np.uint8)
    if shift == "blur":
        return np.stack(
            [np.asarray(Image.fromarray(i).filter(ImageFilter.GaussianBlur(2))) for i in images]
        )
    if shift == "noise":
        rng = np.random.default_rng(seed)
        return np.clip(images + rng.normal(0, 70, images.shape), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown shift {shift!r}: one of {', '.join(SHIFTS)}")


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def capture_record(
    png: bytes,
    probabilities: Sequence[float],
    time: datetime,
    event_id: str,
    inference_id: str | None = None,
    output_encoding: str = "JSON",
) -> str:
    """One capture line as SageMaker writes it; ``output_encoding`` JSON or BASE64."""
    body = json.dumps([float(p) for p in probabilities])
    if output_encoding == "BASE64":
        body = base64.b64encode(body.encode()).decode("ascii")
    stamp = time.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    metadata = {"eventId": event_id, "inferenceTime": stamp.replace("+00:00", "Z")}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    record = {
        "captureData": {
            "endpointInput": {
                "observedContentType": "image/png",
                "mode": "INPUT",
                "data": base64.b64encode(png).decode("ascii"),
                "encoding": "BASE64",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": body,
                "encoding": output_encoding,
            },
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":"))


def baseline(images: np.ndarray, labels: Sequence[str], prior: dict[str, float]) -> dict:
    """A ``baseline.json`` document for ``images``, as training writes one."""
    return {
        "labels": list(labels),
        "class_prior": dict(prior),
        "image_stats": summarize_image_stats(images),
    }
