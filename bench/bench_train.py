"""Benchmark of the default training recipe (``make bench-train``): accuracy and time.

Builds the processed dataset from a CIFAR-100 tarball with the ETL package (into a temporary
directory: ``data/`` is not touched), trains in-process exactly as ``make train`` does with
``TARGET=local`` (same entry point, same defaults unless ``--hyperparameter`` says otherwise),
then prints test accuracy, per-class F1, wall and CPU time, validation accuracy, the machine, and
the latency of the artifact's ``inference.py`` for one image (as the model server runs it).

Wall time depends on what else runs on the machine: the load average before and after is
printed, and CPU seconds / torch threads estimate the wall time of an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import platform
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from etl.archive import read_archive
from etl.classes import parse_classes
from etl.extract import local_tarball
from etl.transform import build
from settings import repo_root, run_cli
from train import local_job
from train.__main__ import parse_hyperparameters, to_argv

DEFAULT_TARBALL = "../shared/data/cifar-100-python-dev.tar.gz"  # relative to the repo root
LATENCY_REQUESTS = 300


def prepare_dataset(tarball: Path, classes: str, directory: Path) -> Path:
    source = local_tarball(tarball)
    processed = directory / "processed"
    build(read_archive(source.path), parse_classes(classes), source.md5, processed)
    return processed


def inference_latency(model_archive: Path, directory: Path) -> dict[str, float]:
    """Milliseconds per request (input_fn -> output_fn of one 32x32 PNG), as a model server
    runs them: code/ on sys.path, model_fn once."""
    model_dir = directory / "served"
    with tarfile.open(model_archive) as tar:
        tar.extractall(model_dir, filter="data")
    sys.path.insert(0, str(model_dir / "code"))
    threads = torch.get_num_threads()
    try:
        module = importlib.import_module("inference")
        model = module.model_fn(str(model_dir))
        rng = np.random.default_rng(0)
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
        body = buffer.getvalue()
        timings = []
        for _ in range(LATENCY_REQUESTS):
            started = time.perf_counter()
            data = module.input_fn(body, "image/png")
            module.output_fn(module.predict_fn(data, model), "application/json")
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        sys.path.pop(0)
        torch.set_num_threads(threads)
    timings = timings[20:]  # warm-up
    return {
        "p50": statistics.median(timings),
        "p95": float(np.percentile(timings, 95)),
        "mean": statistics.fmean(timings),
    }


def seed_list(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (argparse type)."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r} names a seed twice")
    return seeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tarball", type=Path, default=repo_root() / DEFAULT_TARBALL, help="CIFAR-100 tarball"
    )
    parser.add_argument("--classes", default="bicycle,motorcycle", help="as CLASSES of make data")
    parser.add_argument(
        "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
        help="override a recipe default (python/train/entry.py)",
    )  # fmt: skip
    parser.add_argument(
        "--seeds", type=seed_list, default=None, metavar="S1,S2,...",
        help="train once per seed (the recipe's seed otherwise), then print the accuracies' spread",
    )  # fmt: skip
    args = parser.parse_args()
    hyperparameters = parse_hyperparameters(args.hyperparameter)
    if args.seeds is not None and "seed" in hyperparameters:
        parser.error("give the seed either as --seeds or as --hyperparameter seed=N, not both")
    seeds = args.seeds or [None]
    accuracies = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        directory = Path(tmp)
        processed = prepare_dataset(args.tarball, args.classes, directory)
        counts = {
            split: len((processed / f"{split}.lst").read_text().splitlines())
            for split in ("train", "test")
        }
        for seed in seeds:
            chosen = hyperparameters if seed is None else {**hyperparameters, "seed": seed}
            accuracies.append(
                bench_one(args, to_argv(chosen), processed, directory / f"seed-{seed}", counts)
            )
    if len(accuracies) > 1:
        print()
        print(
            f"seeds          {', '.join(map(str, seeds))}: test accuracy mean"
            f" {statistics.fmean(accuracies):.4f}, min {min(accuracies):.4f},"
            f" max {max(accuracies):.4f}"
        )
    return 0


def bench_one(
    args: argparse.Namespace, argv: list[str], processed: Path, directory: Path, counts: dict
) -> float:
    """Train once with ``argv``, print the figures; the test accuracy."""
    load_before = os.getloadavg()
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    run, summary = local_job.train_local(processed, directory / "models", "bench", argv)
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    load_after = os.getloadavg()
    evaluation = json.loads(run.evaluation.read_text())
    latency = inference_latency(run.model_archive, directory)
    threads = torch.get_num_threads()
    print()
    print(f"dataset        {args.tarball.name}: {args.classes}, {counts['train']} train images"
          f" (validation held out of them), {counts['test']} test images")  # fmt: skip
    print(f"recipe         {' '.join(argv) or 'defaults'} (python/train/entry.py)")
    print(f"test accuracy  {summary['test_accuracy']:.4f}")
    for label, row in evaluation["per_class"].items():
        print(f"  F1 {label:<18} {row['f1']:.4f}")
    members = summary["ensemble"]
    print(f"validation     accuracy {_joined(summary['val_accuracies'], 4)} after the last of"
          f" {summary['epochs']} epochs ({members} member{'s' * (members > 1)}, each on its own"
          " split)")  # fmt: skip
    print(f"calibration    softmax temperature{'s' * (members > 1)}"
          f" {_joined(summary['temperatures'], 3)} (fitted on validation)")  # fmt: skip
    print(f"train wall     {wall:.1f} s (load average {load_before[0]:.2f} before,"
          f" {load_after[0]:.2f} after)")  # fmt: skip
    print(f"train CPU      {cpu:.1f} s = {cpu / threads:.1f} s on {threads} idle threads")
    print(f"inference      p50 {latency['p50']:.2f} ms, p95 {latency['p95']:.2f} ms per 32x32"
          f" PNG (one thread, input_fn..output_fn)")  # fmt: skip
    print(
        f"machine        {os.cpu_count()} cores ({platform.processor() or platform.machine()}),"
        f" torch {torch.__version__} with {threads} threads,"
        f" {'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}"
    )
    return float(summary["test_accuracy"])


def _joined(values: list[float], digits: int) -> str:
    return ", ".join(f"{value:.{digits}f}" for value in values)


if __name__ == "__main__":
    run_cli(main)
