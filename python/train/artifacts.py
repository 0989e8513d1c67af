"""The run directory ``models/<run-id>/`` and its copy in ``s3://<model bucket>/models/<run-id>/``.

A run directory holds exactly ``model.tar.gz`` (SageMaker layout: ``model.pth``,
``labels.json``, ``code/inference.py``, ``code/network.py`` at the archive's root),
``evaluation.json`` and ``baseline.json``. It is assembled in ``models/.<run-id>.tmp`` and
renamed into place only when complete, so a failed run leaves no directory that looks finished.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from settings import CliError, get_logger

log = get_logger("train.artifacts")

MODEL_ARCHIVE = "model.tar.gz"
EVALUATION = "evaluation.json"
BASELINE = "baseline.json"
RUN_FILES = (MODEL_ARCHIVE, EVALUATION, BASELINE)
CONTENT_TYPES = {
    MODEL_ARCHIVE: "application/x-gzip",
    EVALUATION: "application/json",
    BASELINE: "application/json",
}


class IncompleteArtifact(CliError):
    """A training job finished without one of the files a run needs."""


class CorruptArtifact(CliError):
    """An archive a training job wrote is not a readable gzipped tar (truncated, not gzip)."""


class UploadFailed(CliError):
    """The model bucket did not take the run's files."""


@dataclass(frozen=True)
class RunDir:
    run_id: str
    path: Path

    @property
    def model_archive(self) -> Path:
        return self.path / MODEL_ARCHIVE

    @property
    def evaluation(self) -> Path:
        return self.path / EVALUATION

    @property
    def baseline(self) -> Path:
        return self.path / BASELINE


def staging_dir(models_dir: Path, run_id: str) -> Path:
    """An empty ``models/.<run-id>.tmp`` (a leftover of an interrupted run is removed)."""
    staging = models_dir / f".{run_id}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def pack_model(model_dir: Path, archive: Path) -> None:
    """``model_dir``'s files at the root of a gzipped tar (SageMaker's ``model.tar.gz``)."""
    partial = archive.with_name(archive.name + ".part")
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    partial.rename(archive)


@contextlib.contextmanager
def open_archive(archive: Path) -> Iterator[tarfile.TarFile]:
    """``tarfile.open(archive)``; an archive that cannot be read, at the start or while its
    members are read in the block, is ``CorruptArtifact``."""
    try:
        with tarfile.open(archive) as tar:
            yield tar
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise CorruptArtifact(
            f"{archive.name} is not a readable gzipped tar archive ({err or type(err).__name__})"
        ) from None


def extract_member(archive: Path, name: str, target: Path) -> None:
    """Copy the regular file ``name`` (also ``./name``) of a tar archive to ``target``."""
    with open_archive(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.removeprefix("./") == name:
                source = tar.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
                return
    raise IncompleteArtifact(f"{archive.name} has no {name}")


def finish(staging: Path, models_dir: Path, run_id: str) -> RunDir:
    """Check that ``staging`` holds exactly the run files, then rename it to ``models/<run-id>``."""
    present = sorted(p.name for p in staging.iterdir())
    if present != sorted(RUN_FILES):
        raise IncompleteArtifact(f"run {run_id} has {present}, expected {sorted(RUN_FILES)}")
    final = models_dir / run_id
    staging.rename(final)
    return RunDir(run_id=run_id, path=final)


def s3_prefix(model_bucket: str, run_id: str) -> str:
    return f"s3://{model_bucket}/models/{run_id}/"


def upload(run: RunDir, model_bucket: str) -> dict[str, str]:
    """Upload the run files; returns ``{file name: s3 uri}``."""
    s3 = boto3.client("s3")
    uris = {}
    for name in RUN_FILES:
        key = f"models/{run.run_id}/{name}"
        try:
            s3.upload_file(
                str(run.path / name),
                model_bucket,
                key,
                ExtraArgs={"ContentType": CONTENT_TYPES[name]},
            )
        except (BotoCoreError, ClientError, S3UploadFailedError) as err:
            raise UploadFailed(
                f"s3://{model_bucket}/{key}: {err} (the run stays in {run.path})"
            ) from None
        uris[name] = f"s3://{model_bucket}/{key}"
        log.info("uploaded", extra={"fields": {"uri": uris[name]}})
    return uris
