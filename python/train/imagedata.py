"""Read the dataset of ``make data`` from a channel directory, and hold out the validation split.

A channel directory holds ``labels.json`` (class names, index = label), ``<split>.lst``
(``index<TAB>label<TAB>path`` per line, the SageMaker image-classification format) and the
PNGs at the paths the ``.lst`` names, relative to the directory. On SageMaker the ``train``
channel ``s3://<data bucket>/train`` arrives as ``train.lst`` + ``train/...`` (keys relative to
the prefix's folder), ``labels.json`` comes in its own channel; locally all of them are
``data/processed``.

Images are decoded once into one uint8 tensor: the datasets are small (CIFAR-100 classes of
500 + 100 images) and a tensor is what the GPU and the augmentation want.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

LABELS_FILE = "labels.json"


class DatasetError(ValueError):
    """The channel's files are missing or inconsistent; the message names the file and line."""


def read_labels(directory: Path) -> list[str]:
    path = directory / LABELS_FILE
    try:
        labels = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist (run `make data`)") from None
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path} is not readable JSON: {err}") from None
    if (
        not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(name, str) and name for name in labels)
        or len(set(labels)) != len(labels)
    ):
        raise DatasetError(f"{path} must be a JSON list of at least two distinct class names")
    return labels


def read_split(directory: Path, split: str, num_classes: int, size: int) -> tuple[Tensor, Tensor]:
    """Images ``(N, 3, size, size)`` uint8 and labels ``(N,)`` int64 of ``<split>.lst``."""
    lst = directory / f"{split}.lst"
    if not lst.is_file():
        raise DatasetError(f"{lst} does not exist (run `make data`)")
    try:
        text = lst.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{lst} is not UTF-8 text: {err}") from None
    root = directory.resolve()
    images: list[np.ndarray] = []
    labels: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"{lst}:{number}"
        if len(fields) != 3:
            raise DatasetError(f"{where}: expected index<TAB>label<TAB>path, got {line!r}")
        label = _label(fields[1], where)
        if not 0 <= label < num_classes:
            raise DatasetError(f"{where}: label {label} outside 0..{num_classes - 1}")
        path = (root / fields[2]).resolve()
        if not path.is_relative_to(root):
            raise DatasetError(f"{where}: path {fields[2]!r} leaves {directory}")
        images.append(_read_image(path, size, where))
        labels.append(label)
    if not labels:
        raise DatasetError(f"{lst} lists no images")
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return pixels, torch.tensor(labels, dtype=torch.int64)


def _label(text: str, where: str) -> int:
    """A ``.lst`` label: a whole number, written as an integer or as a float (``1.000000``, as
    MXNet's im2rec writes them); ``1.5``, ``nan`` or ``inf`` name no class."""
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}: label {text!r} is not a number") from None
    if not value.is_integer():
        raise DatasetError(f"{where}: label {text!r} is not a whole number")
    return int(value)


def _read_image(path: Path, size: int, where: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except FileNotFoundError:
        raise DatasetError(f"{where}: {path} does not exist") from None
    except (OSError, ValueError) as err:
        raise DatasetError(f"{where}: {path} is not a readable image: {err}") from None
    if rgb.size != (size, size):
        raise DatasetError(f"{where}: {path} is {rgb.size[0]}x{rgb.size[1]}, not {size}x{size}")
    return np.asarray(rgb)


def stratified_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices ``(fit, validation)``: ``fraction`` of each class, at least one image per class
    in both parts, drawn with ``seed``. Classes with a single image stay in the fit part."""
    generator = torch.Generator().manual_seed(seed)
    fit: list[Tensor] = []
    validation: list[Tensor] = []
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        held = min(max(1, round(len(members) * fraction)), len(members) - 1)
        validation.append(members[:held])
        fit.append(members[held:])
    return torch.cat(fit).sort().values, torch.cat(validation).sort().values
