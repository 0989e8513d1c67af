"""``TARGET=local``: run the training entry point in this process, as SageMaker would run it.

The ``SM_*`` variables that SageMaker sets in its container are pointed at local directories
(``data/processed`` for every input channel, a staging directory under ``models/`` for the
model and output directories) and handed to ``entry.run``: the same function, the same
hyperparameter defaults. A progress bar shows the epochs of all members, the member, loss and
validation accuracy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from settings import CliError
from train import artifacts, entry, imagedata


class InvalidDataset(CliError):
    """The processed dataset is missing or inconsistent (run `make data`)."""


class TrainingDiverged(CliError):
    """The training's loss became NaN or infinite (``entry.TrainingDiverged``); nothing is kept."""


def sm_environ(data_dir: Path, staging: Path) -> dict[str, str]:
    """The SageMaker training-container variables the entry point reads, pointed at local dirs."""
    return {
        "SM_CHANNEL_TRAIN": str(data_dir),
        "SM_CHANNEL_TEST": str(data_dir),
        "SM_CHANNEL_LABELS": str(data_dir),
        "SM_MODEL_DIR": str(staging / "model"),
        "SM_OUTPUT_DATA_DIR": str(staging / "output"),
    }


def train_local(
    data_dir: Path, models_dir: Path, run_id: str, argv: Sequence[str], progress: bool = True
) -> tuple[artifacts.RunDir, dict]:
    """Train with hyperparameter options ``argv``; returns the run directory and the summary."""
    options = entry.build_parser().parse_args(argv)
    staging = artifacts.staging_dir(models_dir, run_id)
    total = options.epochs * options.ensemble
    try:
        with tqdm(total=total, desc="train", unit="epoch", disable=not progress) as bar:

            def on_epoch(values: dict) -> None:
                bar.set_postfix(  # a dict keeps its order (keywords would be sorted)
                    {
                        "member": f"{values['member']}/{options.ensemble}",
                        "loss": f"{values['train_loss']:.3f}",
                        "val_acc": f"{values['val_accuracy']:.3f}",
                    }
                )
                bar.update(1)

            summary = entry.run(argv, environ=sm_environ(data_dir, staging), on_epoch=on_epoch)
        artifacts.pack_model(staging / "model", staging / artifacts.MODEL_ARCHIVE)
        for name in (artifacts.EVALUATION, artifacts.BASELINE):
            (staging / "output" / name).rename(staging / name)
        shutil.rmtree(staging / "model")
        shutil.rmtree(staging / "output")
        return artifacts.finish(staging, models_dir, run_id), summary
    except imagedata.DatasetError as err:
        raise InvalidDataset(str(err)) from None
    except entry.TrainingDiverged as err:
        raise TrainingDiverged(str(err)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
