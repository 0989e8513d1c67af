"""Tiny datasets and settings for the training tests (no CIFAR tarball needed).

``write_dataset`` writes the layout of ``make data`` (``train/<class>/*.png``, ``test/...``,
``train.lst``, ``test.lst``, ``labels.json``) with images a small network separates in one or two
epochs: each class is a distinct colour pattern plus noise. ``TINY_HYPERPARAMETERS`` keeps the
network and the run tiny (seconds on a CPU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

TINY_HYPERPARAMETERS = ["--epochs", "2", "--width", "4", "--batch-size", "16"]
BASE_OUTPUTS = {
    "data_bucket": "scones-test-data",
    "model_bucket": "scones-test-models",
    "capture_bucket": "scones-test-capture",
    "sagemaker_role_arn": "arn:aws:iam::123456789012:role/scones-test-sagemaker",
    "model_package_group_name": "scones-test-classifier",
    "alert_topic_arn": "arn:aws:sns:us-east-1:123456789012:scones-test-alerts",
    "alert_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/scones-test-alerts",
}


def class_image(label: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A ``size`` x ``size`` RGB image of class ``label``: its own colour and stripe pattern."""
    colours = np.array([[200, 60, 40], [40, 90, 200], [60, 180, 70], [220, 200, 50]])
    base = colours[label % len(colours)] * (1 - 0.1 * (label // len(colours)))
    image = np.tile(base, (size, size, 1)).astype(np.float64)
    if label % 2:
        image[:, ::4] *= 0.5
    else:
        image[::4, :] *= 0.5
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_dataset(
    root: Path,
    labels: Sequence[str] = ("bicycle", "motorcycle"),
    per_class: dict[str, int] | None = None,
    seed: int = 0,
) -> Path:
    """The processed dataset under ``root`` (``per_class`` images per split and class)."""
    counts = per_class or {"train": 20, "test": 6}
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in counts.items():
        lines = []
        for i in range(n):
            for label, name in enumerate(labels):
                rel = f"{split}/{name}/{name}_s_{i:06d}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(class_image(label, rng)).save(root / rel)
                lines.append(f"{len(lines)}\t{label}\t{rel}")
        (root / f"{split}.lst").write_text("\n".join(lines) + "\n")
    (root / "labels.json").write_text(json.dumps(list(labels)))
    return root


def write_outputs(directory: Path, root: str, values: dict) -> None:
    """``<root>.outputs.json`` in the ``terraform output -json`` format."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        name: {"value": value, "type": "string", "sensitive": False}
        for name, value in values.items()
    }
    (directory / f"{root}.outputs.json").write_text(json.dumps(document))


def png_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
