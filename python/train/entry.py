"""Training entry point: the same file runs as a SageMaker training job and on the laptop.

SageMaker (script mode, PyTorch framework container) copies ``python/train`` to
``/opt/ml/code`` and runs ``python entry.py --epochs 120 ...``; hyperparameters arrive as
command-line options (parsed here, with the defaults below in both places) and the directories
as ``SM_*`` environment variables: ``SM_CHANNEL_TRAIN``, ``SM_CHANNEL_TEST``,
``SM_CHANNEL_LABELS`` (input), ``SM_MODEL_DIR`` (becomes ``model.tar.gz``) and
``SM_OUTPUT_DATA_DIR`` (becomes ``output.tar.gz``). ``python -m train`` calls ``run`` in-process
with the same variables pointed at ``data/processed`` and ``models/<run-id>/``.

What a run does:

1. read labels and the train split;
2. train the ensemble's members one after the other, each with its own seed and its own
   stratified validation split (``member_seed``); for each (seeded and deterministic on CPU;
   CUDA with mixed precision when present) keep the weights of the last epoch, where the
   one-cycle learning rate has annealed to zero (the validation split is watched every epoch
   but chooses no epoch: on a few hundred images the last epochs differ by a few images, and
   choosing among them by validation accuracy cost 0.5-2 points on the test split); then
   calibrate it: the softmax temperature with the lowest loss on its validation split
   (``network.fit_temperature``) is saved with its weights. Every prediction after that
   averages the members' calibrated logits;
3. write the model directory: ``model.pth``, ``labels.json`` and ``code/`` (``inference.py``
   and ``network.py``, the serving code);
4. touch the test split once: ``evaluation.json`` (model-quality metrics), and compute
   ``baseline.json`` (class prior and image statistics of the training images, for the drift
   report), both in the output directory.

Every epoch prints one line that the estimator's ``METRIC_DEFINITIONS`` scrape, e.g.
``member=1 epoch=3 train_loss=0.4100 val_loss=0.3012 val_accuracy=0.9125``.

The default recipe (``build_parser``) is sized for a 2-core CPU and a few hundred images per
class: an ensemble of four ResNet-9 layouts at width 16 (0.41 M parameters each), each trained
for 120 epochs of SGD with Nesterov momentum, a one-cycle learning rate peaking at 0.1, weight
decay 5e-3, label smoothing 0.1, one TrivialAugment operation per image (strength 1), then
random crops (4 px reflection padding), horizontal flips and 8x8 cutout, and flip test-time
augmentation. On a GPU, wider and longer (``width=32 epochs=200``) is affordable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from monitor.image_stats import STAT_NAMES, STAT_RANGES, batch_image_stats, summarize

if __package__:
    from train import augment, imagedata, metrics, network
else:
    import augment
    import imagedata
    import metrics
    import network

SERVING_FILES = ("inference.py", "network.py")
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"},
    {"Name": "validation:loss", "Regex": r"val_loss=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
    {"Name": "test:accuracy", "Regex": r"test_accuracy=([0-9.]+)"},
]
EpochCallback = Callable[[dict], None]


class TrainingDiverged(ValueError):
    """The validation loss became NaN or infinite: the weights are no longer numbers, and a
    model made of them would answer NaN for every image."""


def _checked(kind: type, low: float, high: float = math.inf, closed: bool = True):
    """An argparse type: ``kind`` within [low, high] (``closed``) or (low, high); never
    infinite or NaN, whatever the bounds (``inf`` weight decay makes every weight NaN)."""

    def convert(text: str):
        value = kind(text)
        inside = low <= value <= high if closed else low < value < high
        if isinstance(value, float) and not math.isfinite(value):
            inside = False
        if not inside:
            bounds = f"[{low}, {high}]" if closed else f"({low}, {high})"
            raise argparse.ArgumentTypeError(f"{value} is outside {bounds}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


def build_parser() -> argparse.ArgumentParser:
    """Hyperparameters and their defaults: the default recipe (see the README's figures)."""
    parser = argparse.ArgumentParser(
        description="Train the image classifier (SageMaker entry).", allow_abbrev=False
    )
    add = parser.add_argument
    count = _checked(int, 1)
    add("--epochs", type=count, default=120, help="training epochs")
    add("--batch-size", type=count, default=64, help="images per step")
    add("--lr", type=_checked(float, 0, closed=False), default=0.1, help="peak learning rate")
    add("--momentum", type=_checked(float, 0, 1), default=0.9, help="SGD Nesterov momentum")
    add("--weight-decay", type=_checked(float, 0), default=5e-3, help="L2 weight decay")
    add("--label-smoothing", type=_checked(float, 0, 1), default=0.1, help="of cross-entropy")
    add("--width", type=count, default=16, help="channels of the first layer (network size)")
    add(
        "--ensemble",
        type=count,
        default=4,
        help="networks trained, each with its own seed and validation split, whose calibrated"
        " logits are averaged (training and inference cost grow with it)",
    )
    add("--crop-padding", type=_checked(int, 0, 16), default=4, help="random-crop shift, pixels")
    add("--cutout", type=_checked(int, 0, 32), default=8, help="side of the cutout square")
    add(
        "--trivial-augment",
        type=_checked(float, 0, 2),
        default=1.0,
        help="strength of the one random operation per image (TrivialAugment); 0 = off",
    )
    add("--tta", type=int, choices=(0, 1), default=1, help="1 = average with the mirror image")
    add(
        "--validation-fraction",
        type=_checked(float, 0, 1, closed=False),
        default=0.2,
        help="share of each class of the train split held out for calibration and monitoring",
    )
    # torch.manual_seed takes a 64-bit seed, signed or unsigned
    seed = _checked(int, -(2**63), 2**64 - 1)
    add("--seed", type=seed, default=0, help="seed of every random choice")
    return parser


@dataclass(frozen=True)
class JobPaths:
    train: Path
    test: Path
    labels: Path
    model_dir: Path
    output_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> JobPaths:
        names = {
            "train": "SM_CHANNEL_TRAIN",
            "test": "SM_CHANNEL_TEST",
            "labels": "SM_CHANNEL_LABELS",
            "model_dir": "SM_MODEL_DIR",
            "output_dir": "SM_OUTPUT_DATA_DIR",
        }
        missing = [var for var in names.values() if not environ.get(var)]
        if missing:
            raise imagedata.DatasetError(f"environment variables not set: {', '.join(missing)}")
        return cls(**{field: Path(environ[var]) for field, var in names.items()})


def metrics_line(values: Mapping[str, float | int]) -> str:
    """``key=value`` pairs, the form the metric definitions' regexes read."""
    return " ".join(
        f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
        for key, value in values.items()
    )


def print_metrics(values: dict) -> None:
    print(metrics_line(values), flush=True)


def run(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] = os.environ,
    on_epoch: EpochCallback = print_metrics,
) -> dict:
    """Train, save, evaluate; return a summary (accuracies, temperatures, seconds)."""
    args = build_parser().parse_args(argv)
    paths = JobPaths.from_env(environ)
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    with _flush_denormals(device.type == "cpu"):
        summary = _train_and_evaluate(args, paths, device, on_epoch)
    summary["seconds"] = time.perf_counter() - started
    print_metrics({"test_accuracy": summary["test_accuracy"]})
    return summary


def _train_and_evaluate(
    args: argparse.Namespace, paths: JobPaths, device: torch.device, on_epoch: EpochCallback
) -> dict:
    labels = imagedata.read_labels(paths.labels)
    images, targets = imagedata.read_split(paths.train, "train", len(labels), network.IMAGE_SIZE)
    lst = paths.train / "train.lst"
    counts = torch.bincount(targets, minlength=len(labels)).tolist()
    absent = [label for label, count in zip(labels, counts) if count == 0]
    if absent:
        raise imagedata.DatasetError(f"{lst} has no image of class {', '.join(absent)}")
    if max(counts) < 2:  # stratified_split keeps a class's only image in the fit part
        raise imagedata.DatasetError(
            f"{lst} has a single image of each class: none is left to hold out for validation"
        )
    members = [
        train_member(images, targets, len(labels), index, args, device, on_epoch)
        for index in range(args.ensemble)
    ]
    model = network.Ensemble([m.network for m in members], [m.temperature for m in members])
    config = {
        "num_classes": len(labels),
        "width": args.width,
        "members": args.ensemble,
        "tta": bool(args.tta),
    }

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    network.save_model(model, config, paths.model_dir)
    (paths.model_dir / imagedata.LABELS_FILE).write_text(json.dumps(labels))
    code = paths.model_dir / "code"
    code.mkdir(exist_ok=True)
    for name in SERVING_FILES:
        shutil.copyfile(Path(__file__).with_name(name), code / name)

    test_images, test_targets = imagedata.read_split(
        paths.test, "test", len(labels), network.IMAGE_SIZE
    )
    probs = network.predict_proba(model, test_images.float() / 255, tta=config["tta"])
    evaluation = metrics.evaluation_json(
        test_targets.tolist(), probs.argmax(dim=1).tolist(), labels
    )
    summary = {
        "epochs": args.epochs,
        "ensemble": args.ensemble,
        "val_accuracies": [m.val_accuracy for m in members],
        "temperatures": [m.temperature for m in members],
        "test_accuracy": metrics.accuracy_of(evaluation),
    }
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    (paths.output_dir / "evaluation.json").write_text(json.dumps(evaluation, indent=2))
    baseline = training_baseline(images, targets, labels)
    (paths.output_dir / "baseline.json").write_text(json.dumps(baseline, indent=2))
    return summary


@dataclass(frozen=True)
class Member:
    network: network.SconesNet
    temperature: float
    val_accuracy: float


def train_member(
    images: Tensor,
    targets: Tensor,
    num_classes: int,
    index: int,
    args: argparse.Namespace,
    device: torch.device,
    on_epoch: EpochCallback,
) -> Member:
    """Member ``index`` of the ensemble: its own seed and validation split, trained, then
    calibrated on that split (on the CPU, where it is served)."""
    seed = member_seed(args.seed, index, args.ensemble)
    fit_idx, val_idx = imagedata.stratified_split(targets, args.validation_fraction, seed)
    torch.manual_seed(seed)  # the member's initial weights
    member = network.SconesNet(num_classes=num_classes, width=args.width)
    fit_images = images[fit_idx].float() / 255
    member.set_normalization(fit_images.mean(dim=(0, 2, 3)), fit_images.std(dim=(0, 2, 3)))

    def on_member_epoch(values: dict) -> None:
        on_epoch({"member": index + 1, **values})

    last = fit(member, images, targets, fit_idx, val_idx, seed, args, device, on_member_epoch)
    member.to("cpu")
    val_logits = network.view_logits(member, images[val_idx].float() / 255, tta=bool(args.tta))
    temperature = network.fit_temperature(val_logits, targets[val_idx])
    return Member(member, temperature, last["val_accuracy"])


def member_seed(seed: int, index: int, members: int) -> int:
    """The seed of member ``index`` of ``members``: the runs of seeds 0, 1, ... use disjoint
    member seeds (seed 0: 0-3, seed 1: 4-7 with four members), and a one-member run uses the
    run's seed itself. Within the 64-bit range ``torch.manual_seed`` takes."""
    return (seed * members + index) % 2**64


@contextlib.contextmanager
def _flush_denormals(enabled: bool) -> Iterator[None]:
    """Treat subnormal floats as zero while training on CPU, then restore PyTorch's default.

    Weights decaying towards zero become subnormal, and x86 CPUs compute on those many times
    slower. The setting is process-wide and PyTorch has no getter for it: it is switched back
    off (the default) afterwards, so that code running later in the same process (``make
    train`` registers the model in-process; tests) computes with ordinary IEEE floats.
    """
    if not enabled:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def fit(
    model: network.SconesNet,
    images: Tensor,
    targets: Tensor,
    fit_idx: Tensor,
    val_idx: Tensor,
    seed: int,
    args: argparse.Namespace,
    device: torch.device,
    on_epoch: EpochCallback,
) -> dict:
    """SGD (Nesterov), one-cycle learning rate; trains ``model`` in place and returns the last
    epoch's metrics."""
    cuda = device.type == "cuda"
    memory_format = torch.channels_last
    model.to(device=device, memory_format=memory_format)
    x_fit = images[fit_idx].to(device)
    y_fit = targets[fit_idx].to(device)
    x_val = (images[val_idx].float() / 255).to(memory_format=memory_format)
    y_val = targets[val_idx]
    steps_per_epoch = math.ceil(len(fit_idx) / args.batch_size)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=args.lr,
        momentum=args.momentum,
        nesterov=True,
        weight_decay=args.weight_decay,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, one_cycle(args.epochs * steps_per_epoch, warmup_fraction=0.25)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    generator = torch.Generator().manual_seed(seed)
    last: dict = {}
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(fit_idx), generator=generator).to(device)
        total_loss = torch.zeros((), device=device)
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            x = augment.trivial_augment(x_fit[batch].float() / 255, generator, args.trivial_augment)
            x = augment.augment(x, generator, args.crop_padding, args.cutout)
            x = x.contiguous(memory_format=memory_format)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=cuda):
                loss = F.cross_entropy(model(x), y_fit[batch], label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            total_loss += loss.detach() * len(batch)
        probs = network.predict_proba(model, x_val, tta=bool(args.tta))
        val_loss = network.log_loss(probs, y_val)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(
                f"epoch {epoch}: the validation loss is {val_loss}: the training diverged"
                f" (lower --lr {args.lr} or --weight-decay {args.weight_decay})"
            )
        val_accuracy = (probs.argmax(dim=1) == y_val).float().mean().item()
        last = {
            "epoch": epoch,
            "train_loss": total_loss.item() / len(fit_idx),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
        on_epoch(last)
    return last


def one_cycle(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    """Learning-rate factor per step: linear from 0 to 1 during warm-up, then linear to 0."""
    warmup = max(1, round(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor


def training_baseline(images: Tensor, targets: Tensor, labels: list[str]) -> dict:
    """``baseline.json``: class prior and image statistics of the training images."""
    counts = torch.bincount(targets, minlength=len(labels)).tolist()
    stats = batch_image_stats(images.permute(0, 2, 3, 1).numpy())
    return {
        "labels": labels,
        "class_prior": {label: counts[i] / len(targets) for i, label in enumerate(labels)},
        "image_stats": {name: summarize(stats[name], STAT_RANGES[name]) for name in STAT_NAMES},
    }


if __name__ == "__main__":
    try:
        run(sys.argv[1:])
    except (imagedata.DatasetError, TrainingDiverged) as err:
        # Written to /opt/ml/output/failure: SageMaker shows it as the job's FailureReason.
        failure = Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")) / "failure"
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(f"{type(err).__name__}: {err}")
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(2)
