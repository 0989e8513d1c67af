"""``TARGET=aws``: the same entry point as a SageMaker training job (SDK v2 PyTorch estimator).

The estimator uploads ``python/train`` (the entry point and its sibling job modules) plus
``python/monitor`` (``image_stats``, for the drift baseline) as the job's source, runs
``entry.py`` in the PyTorch framework container on ``--instance-type`` (optionally managed spot),
streams the job's CloudWatch logs here, and fails with ``TrainingJobFailed`` and SageMaker's
``FailureReason`` when the job does not complete (Ctrl-C while it runs: ``JobDetached``, which
names the job and how to stop it). Channels (S3 prefixes of the data bucket):
``train`` = ``s3://<data>/train`` (``train.lst`` + ``train/...``), ``test`` = ``s3://<data>/test``,
``labels`` = ``s3://<data>/labels.json``. Everything the job writes goes under
``s3://<model bucket>/models/<job name>/`` (source, ``output/model.tar.gz``,
``output/output.tar.gz`` with ``evaluation.json`` and ``baseline.json``).

The SDK session is built with an explicit configuration: SDK defaults files are not read and
its telemetry is opted out, so the SDK makes no call but the AWS API calls of the job itself
(which go wherever boto3 goes: ``AWS_ENDPOINT_URL`` for the local stack, AWS otherwise).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import boto3
from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from settings import CliError, get_logger, repo_root
from settings.logs import log_level
from train import artifacts, entry

log = get_logger("train.sagemaker_job")

FRAMEWORK_VERSION = "2.6"
PY_VERSION = "py312"
MAX_RUN_S = 3600
MAX_WAIT_S = 2 * MAX_RUN_S  # spot: time allowed for waiting for capacity, run included
SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
SOURCE_DIR = "python/train"
DEPENDENCIES = ("python/monitor",)
ENTRY_POINT = "entry.py"
MODEL_FILES = ("model.pth", "labels.json", "code/inference.py", "code/network.py")


class TrainingJobFailed(CliError):
    """The SageMaker training job ended Failed or Stopped; the message is its FailureReason."""


class JobRequestFailed(CliError):
    """SageMaker (or S3) refused to start the training job."""


class JobDetached(CliError):
    """Ctrl-C while the job's logs streamed: this command stops, the job goes on (and is billed)
    until it ends; the message says how to stop it. Exit code 130, as for any interrupted
    command."""

    exit_code = 130


def quiet_sdk() -> None:
    """Before importing the SDK: no v2 deprecation banner, and its INFO chatter (defaults files
    looked for, image URIs, job names) only when LOG_LEVEL asks for it."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    for name in ("sagemaker", "sagemaker.config"):
        logging.getLogger(name).setLevel(log_level())


def sagemaker_session():  # -> sagemaker.Session (imported lazily: the SDK takes seconds)
    """A session that reads no SDK defaults file and sends no telemetry."""
    quiet_sdk()
    import sagemaker

    return sagemaker.Session(boto_session=boto3.Session(), sagemaker_config=SDK_CONFIG)


def build_estimator(
    base: dict,
    hyperparameters: dict,
    instance_type: str,
    spot: bool,
    session=None,
):  # -> sagemaker.pytorch.PyTorch
    """The estimator of one training job; ``base`` = the base Terraform outputs."""
    session = session or sagemaker_session()
    from sagemaker.pytorch import PyTorch

    root = repo_root()
    model_bucket = base["model_bucket"]
    return PyTorch(
        entry_point=ENTRY_POINT,
        source_dir=str(root / SOURCE_DIR),
        dependencies=[str(root / path) for path in DEPENDENCIES],
        framework_version=FRAMEWORK_VERSION,
        py_version=PY_VERSION,
        role=base["sagemaker_role_arn"],
        instance_count=1,
        instance_type=instance_type,
        hyperparameters=hyperparameters,
        metric_definitions=entry.METRIC_DEFINITIONS,
        output_path=f"s3://{model_bucket}/models/",
        code_location=f"s3://{model_bucket}/models",
        use_spot_instances=spot,
        max_run=MAX_RUN_S,
        max_wait=MAX_WAIT_S if spot else None,
        debugger_hook_config=False,
        disable_profiler=True,
        sagemaker_session=session,
    )


def channels(data_bucket: str) -> dict:  # -> {name: sagemaker.inputs.TrainingInput}
    from sagemaker.inputs import TrainingInput

    return {
        "train": TrainingInput(f"s3://{data_bucket}/train", s3_data_type="S3Prefix"),
        "test": TrainingInput(f"s3://{data_bucket}/test", s3_data_type="S3Prefix"),
        "labels": TrainingInput(f"s3://{data_bucket}/labels.json", s3_data_type="S3Prefix"),
    }


def start_job(estimator, data_bucket: str, job_name: str) -> None:
    """Upload the source and create the training job (returns once SageMaker accepted it)."""
    try:
        estimator.fit(inputs=channels(data_bucket), job_name=job_name, wait=False)
    # Boto3Error: S3UploadFailedError, how the upload of the source reports a refusal.
    except (BotoCoreError, ClientError, Boto3Error) as err:
        raise JobRequestFailed(f"training job {job_name}: {err}") from None
    print(f"training job {job_name} started ({estimator.instance_type})", flush=True)


def wait_for_job(estimator) -> dict:
    """Stream the job's logs until it ends; its description, or ``TrainingJobFailed``."""
    from sagemaker.exceptions import UnexpectedStatusException

    job = estimator.latest_training_job
    try:
        job.wait(logs="All")
    except UnexpectedStatusException:
        pass  # the status check below raises TrainingJobFailed with SageMaker's reason
    except KeyboardInterrupt:
        raise JobDetached(
            f"interrupted: training job {job.name} still runs on SageMaker and is billed until"
            f" it ends; stop it with `aws sagemaker stop-training-job --training-job-name"
            f" {job.name}`. Nothing was downloaded or registered."
        ) from None
    description = job.sagemaker_session.sagemaker_client.describe_training_job(
        TrainingJobName=job.name
    )
    if description["TrainingJobStatus"] != "Completed":
        reason = description.get("FailureReason", "no reason given")
        raise TrainingJobFailed(f"{job.name} ended {description['TrainingJobStatus']}: {reason}")
    return description


def collect(description: dict, models_dir: Path, run_id: str) -> artifacts.RunDir:
    """Download the job's ``model.tar.gz`` and ``output.tar.gz`` into ``models/<run-id>/``."""
    model_uri = description["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, _, model_key = model_uri.removeprefix("s3://").partition("/")
    output_key = model_key.rsplit("/", 1)[0] + "/output.tar.gz"
    staging = artifacts.staging_dir(models_dir, run_id)
    try:
        s3 = boto3.client("s3")
        downloads = staging / "downloads"
        downloads.mkdir()
        for key in (model_key, output_key):
            try:
                s3.download_file(bucket, key, str(downloads / key.rsplit("/", 1)[1]))
            except (BotoCoreError, ClientError) as err:
                raise artifacts.IncompleteArtifact(f"s3://{bucket}/{key}: {err}") from None
        model_archive = downloads / artifacts.MODEL_ARCHIVE
        check_model_archive(model_archive)
        model_archive.rename(staging / artifacts.MODEL_ARCHIVE)
        for name in (artifacts.EVALUATION, artifacts.BASELINE):
            artifacts.extract_member(downloads / "output.tar.gz", name, staging / name)
        shutil.rmtree(downloads)
        return artifacts.finish(staging, models_dir, run_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_model_archive(path: Path) -> None:
    with artifacts.open_archive(path) as tar:
        names = {member.name.removeprefix("./") for member in tar.getmembers() if member.isfile()}
    missing = [name for name in MODEL_FILES if name not in names]
    if missing:
        raise artifacts.IncompleteArtifact(f"{path.name} lacks {', '.join(missing)}")


def train_on_sagemaker(
    base: dict,
    hyperparameters: dict,
    instance_type: str,
    spot: bool,
    models_dir: Path,
    run_id: str,
) -> artifacts.RunDir:
    """Run the training job ``run_id`` and download its artifacts to ``models/<run-id>/``."""
    estimator = build_estimator(base, hyperparameters, instance_type, spot)
    start_job(estimator, base["data_bucket"], run_id)
    description = wait_for_job(estimator)
    return collect(description, models_dir, run_id)
