"""A tiny local training run: artifact layout, evaluation/baseline files, determinism, metrics."""

from __future__ import annotations

import json
import math
import re
import tarfile
from pathlib import Path

import pytest
import torch

from monitor.image_stats import QUANTILE_LEVELS, STAT_NAMES
from train import entry, imagedata, local_job, network
from train_support import TINY_HYPERPARAMETERS, write_dataset


def test_run_directory_holds_exactly_the_three_files(trained_run):
    run, summary = trained_run
    assert run.run_id == "scones-test-run"
    assert sorted(p.name for p in run.path.iterdir()) == [
        "baseline.json",
        "evaluation.json",
        "model.tar.gz",
    ]
    assert not any(p.name.startswith(".") for p in run.path.parent.iterdir())  # no staging left
    assert summary["epochs"] == 2


def test_model_archive_has_the_sagemaker_layout(trained_run):
    run, _ = trained_run
    with tarfile.open(run.model_archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == [
            "code/inference.py",
            "code/network.py",
            "labels.json",
            "model.pth",
        ]
        assert all(m.isfile() for m in members.values())
        assert json.load(tar.extractfile("labels.json")) == ["bicycle", "motorcycle"]
        shipped = tar.extractfile("code/inference.py").read()
    assert shipped == Path(entry.__file__).with_name("inference.py").read_bytes()


def test_evaluation_json_matches_the_test_split(trained_run, train_dataset):
    run, summary = trained_run
    evaluation = json.loads(run.evaluation.read_text())
    metrics = evaluation["multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] == summary["test_accuracy"]
    assert metrics["accuracy"]["standard_deviation"] == "NaN"
    test_images = len((train_dataset / "test.lst").read_text().splitlines())
    assert evaluation["test_samples"] == test_images
    matrix = metrics["confusion_matrix"]
    assert set(matrix) == {"bicycle", "motorcycle"}
    assert sum(sum(row.values()) for row in matrix.values()) == test_images
    assert set(evaluation["per_class"]["bicycle"]) == {"precision", "recall", "f1", "support"}


def test_baseline_json_has_prior_and_image_statistics(trained_run):
    run, _ = trained_run
    baseline = json.loads(run.baseline.read_text())
    assert baseline["labels"] == ["bicycle", "motorcycle"]
    assert baseline["class_prior"] == {"bicycle": 0.5, "motorcycle": 0.5}
    assert set(baseline["image_stats"]) == set(STAT_NAMES)
    for summary in baseline["image_stats"].values():
        assert set(summary) == {"mean", "std", "quantiles", "histogram"}
        assert len(summary["quantiles"]) == len(QUANTILE_LEVELS)
        histogram = summary["histogram"]
        assert len(histogram["bins"]) == len(histogram["counts"]) + 1
        assert sum(histogram["counts"]) == 40  # every training image, validation included
    # class 0 of the synthetic data is red: its mean red channel is well above its blue one
    stats = baseline["image_stats"]
    assert stats["mean_r"]["mean"] > stats["mean_b"]["mean"]


def test_weights_load_weights_only_and_predict_probabilities(trained_run, tmp_path):
    run, _ = trained_run
    with tarfile.open(run.model_archive) as tar:
        tar.extractall(tmp_path, filter="data")
    model, config = network.load_model(tmp_path)
    assert config == {"num_classes": 2, "width": 4, "members": 4, "tta": True}  # the default
    assert len(model.members) == 4
    # each fitted on its member's validation split
    assert all(t in network.TEMPERATURES for t in model.temperatures.tolist())
    probs = network.predict_proba(model, torch.rand(3, 3, 32, 32), tta=True)
    assert probs.shape == (3, 2)
    assert torch.allclose(probs.sum(dim=1), torch.ones(3))


def test_a_rerun_gives_the_same_metrics(trained_run, train_dataset, tmp_path):
    _, first = trained_run
    _, second = local_job.train_local(
        train_dataset, tmp_path, "again", TINY_HYPERPARAMETERS, progress=False
    )
    for key in ("val_accuracies", "temperatures", "test_accuracy"):
        assert second[key] == first[key]


def test_training_leaves_subnormal_floats_alone_afterwards(trained_run):
    """Training flushes subnormals to zero for speed; the process gets IEEE floats back."""
    assert trained_run is not None
    tiny = torch.tensor([1e-40], dtype=torch.float32)
    assert (tiny * 1.0).item() > 0.0


def test_ten_classes_give_a_ten_way_output_layer(tmp_path):
    labels = [f"class{i}" for i in range(10)]
    data = write_dataset(tmp_path / "data", labels=labels, per_class={"train": 3, "test": 1})
    run, summary = local_job.train_local(
        data, tmp_path / "models", "ten", ["--epochs", "1", "--width", "2"], progress=False
    )
    evaluation = json.loads(run.evaluation.read_text())
    assert list(evaluation["per_class"]) == labels
    with tarfile.open(run.model_archive) as tar:
        tar.extractall(tmp_path / "model", filter="data")
    model, config = network.load_model(tmp_path / "model")
    assert config["num_classes"] == 10
    assert [member.classifier.out_features for member in model.members] == [10] * 4


def test_metric_lines_match_the_estimator_metric_definitions(train_dataset, tmp_path, capsys):
    environ = local_job.sm_environ(train_dataset, tmp_path)
    entry.run(["--epochs", "1", "--width", "2", "--ensemble", "2"], environ=environ)
    out = capsys.readouterr().out
    found = {
        definition["Name"]: re.findall(definition["Regex"], out)
        for definition in entry.METRIC_DEFINITIONS
    }
    assert {name: len(values) for name, values in found.items()} == {
        "train:loss": 2,  # one epoch of each member
        "validation:loss": 2,
        "validation:accuracy": 2,
        "test:accuracy": 1,
    }
    for values in found.values():
        float(values[0])
    for member in (1, 2):
        line = rf"^member={member} epoch=1 train_loss=\S+ val_loss=\S+ val_accuracy=\S+$"
        assert re.search(line, out, re.M)


def test_missing_dataset_is_a_named_error(tmp_path):
    with pytest.raises(local_job.InvalidDataset, match="labels.json does not exist"):
        local_job.train_local(tmp_path / "none", tmp_path / "models", "x", [], progress=False)
    assert list((tmp_path / "models").iterdir()) == []


def test_each_member_keeps_its_last_epoch_and_its_own_calibration(train_dataset, tmp_path):
    """No epoch is chosen on the validation split: each member's saved weights are its last
    epoch's (they give the validation loss reported for it), each member has its own seed and
    validation split, and its temperature is the one fitted on that split."""
    epochs: list[dict] = []
    summary = entry.run(
        [*TINY_HYPERPARAMETERS, "--epochs", "15", "--ensemble", "2", "--seed", "3"],
        environ=local_job.sm_environ(train_dataset, tmp_path),
        on_epoch=epochs.append,
    )
    assert [(e["member"], e["epoch"]) for e in epochs] == [
        (member, epoch) for member in (1, 2) for epoch in range(1, 15 + 1)
    ]
    lasts = [epochs[14], epochs[-1]]
    assert summary["val_accuracies"] == [last["val_accuracy"] for last in lasts]
    model, config = network.load_model(tmp_path / "model")
    assert summary["temperatures"] == pytest.approx(model.temperatures.tolist())
    images, targets = imagedata.read_split(train_dataset, "train", 2, network.IMAGE_SIZE)
    splits = []
    for index, (member, last) in enumerate(zip(model.members, lasts)):
        seed = entry.member_seed(3, index, 2)
        assert seed == 6 + index  # seed 3's members: 6 and 7
        _, val_idx = imagedata.stratified_split(targets, 0.2, seed=seed)
        splits.append(val_idx.tolist())
        pixels = images[val_idx].float() / 255
        probs = network.predict_proba(member, pixels, tta=config["tta"])  # uncalibrated
        assert network.log_loss(probs, targets[val_idx]) == pytest.approx(last["val_loss"])
        logits = network.view_logits(member, pixels, tta=config["tta"])
        fitted = network.fit_temperature(logits, targets[val_idx])
        assert model.temperatures[index].item() == pytest.approx(fitted)
    assert splits[0] != splits[1]


def test_one_member_reproduces_the_first_member_of_seed_0(train_dataset, tmp_path):
    """Member seeds: seed 0 of a four-member ensemble trains seeds 0-3, and a one-member run of
    seed 0 trains the same first member (the README's single-network figures stay comparable)."""
    one = entry.run(
        [*TINY_HYPERPARAMETERS, "--ensemble", "1"],
        environ=local_job.sm_environ(train_dataset, tmp_path / "one"),
        on_epoch=lambda values: None,
    )
    four = entry.run(
        [*TINY_HYPERPARAMETERS, "--ensemble", "4"],
        environ=local_job.sm_environ(train_dataset, tmp_path / "four"),
        on_epoch=lambda values: None,
    )
    assert one["val_accuracies"] == four["val_accuracies"][:1]
    single, _ = network.load_model(tmp_path / "one" / "model")
    ensemble, _ = network.load_model(tmp_path / "four" / "model")
    first = ensemble.members[0].state_dict()
    assert all(torch.equal(t, first[k]) for k, t in single.members[0].state_dict().items())


@pytest.mark.parametrize(
    "keep, message",
    [
        (lambda label, i: label == "0", r"train\.lst has no image of class motorcycle"),
        (lambda label, i: i < 2, r"train\.lst has a single image of each class"),
    ],
)
def test_a_train_split_without_a_class_or_a_validation_image_is_a_named_error(
    tmp_path, keep, message
):
    data = write_dataset(tmp_path / "data", per_class={"train": 4, "test": 1})
    lines = (data / "train.lst").read_text().splitlines()
    kept = [line for i, line in enumerate(lines) if keep(line.split("\t")[1], i)]
    (data / "train.lst").write_text("\n".join(kept) + "\n")
    with pytest.raises(local_job.InvalidDataset, match=message):
        local_job.train_local(data, tmp_path / "models", "x", TINY_HYPERPARAMETERS, progress=False)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_diverged_training_is_a_named_error_and_keeps_nothing(train_dataset, tmp_path):
    """A learning rate far too high makes the weights NaN or infinite: no model is made of them
    (it would answer NaN for every image)."""
    epochs: list[dict] = []
    environ = local_job.sm_environ(train_dataset, tmp_path / "staging")
    with pytest.raises(entry.TrainingDiverged, match=r"loss is (nan|inf).*lower --lr 10000"):
        entry.run([*TINY_HYPERPARAMETERS, "--lr", "1e4"], environ=environ, on_epoch=epochs.append)
    assert all(math.isfinite(epoch["val_loss"]) for epoch in epochs)  # reported before it
    assert not (tmp_path / "staging" / "model").exists()
    with pytest.raises(local_job.TrainingDiverged, match="the training diverged"):
        local_job.train_local(
            train_dataset, tmp_path / "models", "x", [*TINY_HYPERPARAMETERS, "--lr", "1e4"],
            progress=False,
        )  # fmt: skip
    assert list((tmp_path / "models").iterdir()) == []
