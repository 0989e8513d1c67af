"""Reading the processed dataset, the validation hold-out and the batch augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from train.augment import OPERATIONS, augment, trivial_augment
from train.imagedata import DatasetError, read_labels, read_split, stratified_split
from train_support import write_dataset


@pytest.fixture()
def dataset(tmp_path):
    return write_dataset(tmp_path / "processed", per_class={"train": 5, "test": 2})


def test_read_split_returns_pixels_and_labels_of_the_lst(dataset):
    images, labels = read_split(dataset, "train", num_classes=2, size=32)
    assert images.shape == (10, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 1] * 5
    first = dataset / (dataset / "train.lst").read_text().splitlines()[0].split("\t")[2]
    expected = torch.from_numpy(np.array(Image.open(first))).permute(2, 0, 1)
    assert torch.equal(images[0], expected)
    assert read_labels(dataset) == ["bicycle", "motorcycle"]


@pytest.mark.parametrize(
    "line, message",
    [
        ("0\t1", "expected index<TAB>label<TAB>path"),
        ("0\tx\ttrain/bicycle/bicycle_s_000000.png", "is not a number"),
        ("0\tinf\ttrain/bicycle/bicycle_s_000000.png", "is not a whole number"),
        ("0\tnan\ttrain/bicycle/bicycle_s_000000.png", "is not a whole number"),
        ("0\t0.5\ttrain/bicycle/bicycle_s_000000.png", "is not a whole number"),
        ("0\t7\ttrain/bicycle/bicycle_s_000000.png", "label 7 outside 0..1"),
        ("0\t0\t../outside.png", "leaves"),
        ("0\t0\ttrain/bicycle/missing.png", "does not exist"),
    ],
)
def test_bad_lst_lines_are_named_with_file_and_line(dataset, line, message):
    (dataset / "train.lst").write_text(line + "\n")
    with pytest.raises(DatasetError, match=message) as error:
        read_split(dataset, "train", num_classes=2, size=32)
    assert "train.lst:1" in str(error.value)


def test_float_labels_of_whole_numbers_are_read(dataset):
    (dataset / "train.lst").write_text("0\t1.000000\ttrain/bicycle/bicycle_s_000000.png\n")
    assert read_split(dataset, "train", num_classes=2, size=32)[1].tolist() == [1]


def test_an_lst_that_is_not_utf8_is_a_dataset_error(dataset):
    (dataset / "train.lst").write_bytes(b"0\t0\ttrain/\xff.png\n")
    with pytest.raises(DatasetError, match=r"train\.lst is not UTF-8 text"):
        read_split(dataset, "train", num_classes=2, size=32)


def test_wrong_image_size_and_non_images_are_rejected(dataset):
    rel = "train/bicycle/bicycle_s_000000.png"
    (dataset / "train.lst").write_text(f"0\t0\t{rel}\n")
    Image.new("RGB", (16, 16)).save(dataset / rel)
    with pytest.raises(DatasetError, match="is 16x16, not 32x32"):
        read_split(dataset, "train", num_classes=2, size=32)
    (dataset / rel).write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="not a readable image"):
        read_split(dataset, "train", num_classes=2, size=32)


def test_missing_files_and_bad_labels_json(tmp_path, dataset):
    with pytest.raises(DatasetError, match="does not exist"):
        read_labels(tmp_path)
    with pytest.raises(DatasetError, match=r"test\.lst does not exist"):
        read_split(tmp_path, "test", num_classes=2, size=32)
    (dataset / "labels.json").write_text(json.dumps(["bicycle", "bicycle"]))
    with pytest.raises(DatasetError, match="distinct class names"):
        read_labels(dataset)
    (dataset / "labels.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not readable JSON"):
        read_labels(dataset)


def test_stratified_split_is_seeded_disjoint_and_per_class():
    labels = torch.tensor([0] * 40 + [1] * 10 + [2] * 2)
    fit, validation = stratified_split(labels, 0.2, seed=3)
    assert sorted(fit.tolist() + validation.tolist()) == list(range(52))
    assert torch.bincount(labels[validation]).tolist() == [8, 2, 1]
    again_fit, again_validation = stratified_split(labels, 0.2, seed=3)
    assert torch.equal(fit, again_fit) and torch.equal(validation, again_validation)
    _, other = stratified_split(labels, 0.2, seed=4)
    assert not torch.equal(validation, other)


def test_augment_is_reproducible_and_keeps_shape():
    images = torch.rand(8, 3, 32, 32)
    first = augment(images, torch.Generator().manual_seed(1), pad=4, cutout=8)
    second = augment(images, torch.Generator().manual_seed(1), pad=4, cutout=8)
    assert first.shape == images.shape
    assert torch.equal(first, second)
    assert not torch.equal(first, images)


def test_augment_parts():
    images = torch.rand(64, 3, 32, 32) + 1.0  # no zero pixel before cutout
    flipped_or_not = augment(images, torch.Generator().manual_seed(0), pad=0, cutout=0)
    for original, result in zip(images, flipped_or_not):
        assert torch.equal(result, original) or torch.equal(result, original.flip(2))
    cut = augment(images, torch.Generator().manual_seed(0), pad=0, cutout=8)
    zeroed = (cut == 0).all(dim=1).sum(dim=(1, 2))
    assert zeroed.max().item() == 64 and zeroed.min().item() >= 16  # squares, clipped at edges
    shifted = augment(images, torch.Generator().manual_seed(0), pad=4, cutout=0)
    assert shifted.shape == images.shape
    assert ((shifted >= 1.0) & (shifted <= 2.0)).all()  # reflection padding: only image pixels


def test_trivial_augment_is_reproducible_and_stays_an_image():
    images = torch.rand(64, 3, 32, 32)
    first = trivial_augment(images, torch.Generator().manual_seed(3), strength=1.0)
    second = trivial_augment(images, torch.Generator().manual_seed(3), strength=1.0)
    assert torch.equal(first, second)
    assert first.shape == images.shape and first.dtype == images.dtype
    assert first.min() >= 0 and first.max() <= 1
    changed = (first != images).flatten(1).any(dim=1)
    assert 0 < changed.sum() < len(images)  # the identity operation leaves some alone
    assert torch.equal(trivial_augment(images, torch.Generator(), strength=0.0), images)


@pytest.mark.parametrize("name", [name for name, op in OPERATIONS.items() if op is not None])
def test_each_operation_keeps_shape_and_range_and_changes_the_image(name):
    images = torch.rand(4, 3, 32, 32) * 0.8 + 0.1
    result = OPERATIONS[name](images, torch.tensor([1.0, -1.0, 0.5, -0.5]))
    assert result.shape == images.shape
    assert result.min() >= 0 and result.max() <= 1
    assert not torch.allclose(result, images, atol=1e-3)


def test_operations_do_what_their_names_say():
    images = torch.rand(2, 3, 32, 32) * 0.8 + 0.1
    full = torch.ones(2)
    darker = OPERATIONS["brightness"](images, -full)
    assert (darker.mean(dim=(1, 2, 3)) < images.mean(dim=(1, 2, 3))).all()
    assert torch.allclose(OPERATIONS["solarize"](images, full), 1 - images)
    grey = OPERATIONS["color"](images, -full / 0.9)  # factor 0: no colour left
    assert torch.allclose(grey[:, 0], grey[:, 1], atol=1e-6)
    stretched = OPERATIONS["autocontrast"](images, full)
    assert torch.allclose(stretched.amin(dim=(2, 3)), torch.zeros(2, 3), atol=1e-6)
    assert torch.allclose(stretched.amax(dim=(2, 3)), torch.ones(2, 3), atol=1e-6)
    flat = OPERATIONS["equalize"](images, full).flatten(1)
    assert abs(flat.mean().item() - 0.5) < 0.05  # levels spread over the whole range
    moved = OPERATIONS["translate_x"](images, full * 0.625)  # 0.625 * 30 % of 32 = 6 pixels
    assert torch.allclose(moved[..., :26], images[..., 6:], atol=1e-5)
    assert torch.allclose(moved[..., 26:], torch.full_like(moved[..., 26:], 0.5))  # grey fill
