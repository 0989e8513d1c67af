"""``python -m train`` (``make train``): train, evaluate on the test split, register the model.

``TARGET=local`` trains in this process (``local_job``); ``TARGET=aws`` runs the same entry
point as a SageMaker training job (``sagemaker_job``). Either way the run ends as
``models/<run-id>/`` (``model.tar.gz``, ``evaluation.json``, ``baseline.json``), is uploaded to
``s3://<model bucket>/models/<run-id>/`` and registered as a model package, ``Approved`` when
the test accuracy reaches ``--approval-threshold``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import time
from pathlib import Path
from typing import Sequence

from settings import CliError, outputs, repo_root, run_cli
from train import artifacts, entry, local_job, metrics, registry, sagemaker_job

TARGETS = ("local", "aws")


class InvalidHyperparameter(CliError):
    """A ``--hyperparameter`` is not ``name=value`` of a known name and valid value."""


class UnknownTarget(CliError):
    """``TARGET`` is neither ``local`` nor ``aws``."""


def new_run_id() -> str:
    """``scones-YYYYmmdd-HHMMSS-xxxxxx`` (UTC, 6 random hex digits): the run directory and the
    SageMaker job name. The suffix keeps two runs started in the same second apart: each would
    otherwise stage into, and clear, the other's ``models/.<run-id>.tmp``."""
    return time.strftime("scones-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(3)


def parse_hyperparameters(pairs: Sequence[str]) -> dict[str, int | float]:
    """``["epochs=5", "batch-size=64"]`` -> ``{"epochs": 5, "batch-size": 64}``, checked and
    typed by the entry point's own parser (``_`` may stand for ``-`` in names, which must be
    whole: the entry point gets them as given, and argparse's abbreviations are no names)."""
    parser = entry.build_parser()
    known = sorted(dest.replace("_", "-") for dest in vars(parser.parse_args([])))
    argv: list[str] = []
    names: list[str] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().replace("_", "-")
        if not sep or not name:
            raise InvalidHyperparameter(f"{pair!r} is not name=value")
        if name not in known:
            raise InvalidHyperparameter(
                f"unknown hyperparameter {name!r}; valid names: {', '.join(known)}"
            )
        names.append(name)
        argv += [f"--{name}", value]
    messages = io.StringIO()
    with contextlib.redirect_stderr(messages):
        try:
            parsed = vars(parser.parse_args(argv))
        except SystemExit:
            detail = messages.getvalue().strip().splitlines()[-1:] or ["invalid"]
            raise InvalidHyperparameter(detail[0].split("error: ", 1)[-1]) from None
    return {name: parsed[name.replace("-", "_")] for name in names}


def to_argv(hyperparameters: dict) -> list[str]:
    return [part for name, value in hyperparameters.items() for part in (f"--{name}", str(value))]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train (in-process for TARGET=local, SageMaker for TARGET=aws), evaluate on"
        " the test split, upload the artifact and register it in the model registry.",
    )
    parser.add_argument("--approval-threshold", type=float, default=0.9)
    parser.add_argument("--instance-type", default="ml.p3.2xlarge", help="TARGET=aws only")
    parser.add_argument("--spot", action="store_true", help="TARGET=aws: managed spot training")
    parser.add_argument(
        "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
        help="training hyperparameter (see python/train/entry.py), repeatable",
    )  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=repo_root() / "data" / "processed")
    parser.add_argument("--models-dir", type=Path, default=repo_root() / "models")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.approval_threshold <= 1.0:
        raise InvalidHyperparameter(f"approval threshold {args.approval_threshold} not in [0, 1]")
    target = os.environ.get("TARGET", "local")
    if target not in TARGETS:
        raise UnknownTarget(f"TARGET={target!r}; use local or aws")
    hyperparameters = parse_hyperparameters(args.hyperparameter)
    base = outputs("base")
    model_bucket = base["model_bucket"]  # before the training, not after it
    group = base["model_package_group_name"]
    registry.serving_image()  # a region without the serving image fails here, not after training
    run_id = new_run_id()
    args.models_dir.mkdir(parents=True, exist_ok=True)
    if target == "aws":
        run = sagemaker_job.train_on_sagemaker(
            base, hyperparameters, args.instance_type, args.spot, args.models_dir, run_id
        )
    else:
        run, _ = local_job.train_local(
            args.data_dir, args.models_dir, run_id, to_argv(hyperparameters)
        )
    evaluation = json.loads(run.evaluation.read_text())
    print(metrics.format_table(evaluation))
    uris = artifacts.upload(run, model_bucket)
    labels = json.loads(run.baseline.read_text())["labels"]
    accuracy = metrics.accuracy_of(evaluation)
    package = registry.register(
        group=group,
        model_data_url=uris[artifacts.MODEL_ARCHIVE],
        evaluation_url=uris[artifacts.EVALUATION],
        labels=labels,
        accuracy=accuracy,
        threshold=args.approval_threshold,
    )
    print(f"run: {run.path}")
    print(f"model package: {package.arn}")
    print(
        f"approval: {package.status} (test accuracy {accuracy:.4f},"
        f" threshold {args.approval_threshold})"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
