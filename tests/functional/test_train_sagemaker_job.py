"""TARGET=aws: the SageMaker training job request, its failure, and the whole flow, on moto.

moto records the CreateTrainingJob request and reports the job ``Completed`` at once (it runs
no container), so what is checked is what the pinned SDK sends and what the project does with
SageMaker's answers. ``no_network`` proves that the SDK calls nothing but (mocked) AWS APIs:
no telemetry, no defaults lookup, no image registry.
"""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest

import train.__main__ as cli
from train import entry, sagemaker_job

JOB = "scones-20250101-000000"


def describe(name: str = JOB) -> dict:
    return boto3.client("sagemaker").describe_training_job(TrainingJobName=name)


def test_training_job_request(train_aws, no_network):
    estimator = sagemaker_job.build_estimator(
        train_aws, {"epochs": 60, "width": 48, "lr": 0.1}, "ml.g4dn.xlarge", spot=True
    )
    sagemaker_job.start_job(estimator, train_aws["data_bucket"], JOB)
    job = describe()
    assert job["RoleArn"] == train_aws["sagemaker_role_arn"]
    assert job["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert job["ResourceConfig"]["InstanceCount"] == 1
    assert job["AlgorithmSpecification"]["TrainingImage"] == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6-gpu-py312"
    )
    assert job["OutputDataConfig"]["S3OutputPath"] == "s3://scones-test-models/models/"
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in job["InputDataConfig"]}
    assert {name: source["S3Uri"] for name, source in channels.items()} == {
        "train": "s3://scones-test-data/train",
        "test": "s3://scones-test-data/test",
        "labels": "s3://scones-test-data/labels.json",
    }
    assert {source["S3DataType"] for source in channels.values()} == {"S3Prefix"}
    hyperparameters = job["HyperParameters"]
    assert {k: hyperparameters[k] for k in ("epochs", "width", "lr")} == {
        "epochs": "60",
        "width": "48",
        "lr": "0.1",
    }
    assert json.loads(hyperparameters["sagemaker_program"]) == "entry.py"
    source = json.loads(hyperparameters["sagemaker_submit_directory"])
    assert source == f"s3://scones-test-models/models/{JOB}/source/sourcedir.tar.gz"
    # moto replaces MetricDefinitions in its answer: the estimator holds what was sent
    assert estimator.metric_definitions == entry.METRIC_DEFINITIONS
    body = (
        boto3.client("s3")
        .get_object(Bucket="scones-test-models", Key=f"models/{JOB}/source/sourcedir.tar.gz")[
            "Body"
        ]
        .read()
    )
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        names = set(tar.getnames())
    job_modules = ("entry.py", "network.py", "imagedata.py", "augment.py", "metrics.py")
    assert {*job_modules, "inference.py", "monitor/image_stats.py"} <= names
    assert no_network == []


def test_a_failed_job_raises_its_failure_reason(train_aws):
    from moto.sagemaker.models import sagemaker_backends

    estimator = sagemaker_job.build_estimator(train_aws, {}, "ml.p3.2xlarge", spot=False)
    sagemaker_job.start_job(estimator, train_aws["data_bucket"], JOB)
    job = sagemaker_backends["123456789012"]["us-east-1"].training_jobs[JOB]
    job.training_job_status = "Failed"
    job.failure_reason = "AlgorithmError: DatasetError: labels.json does not exist"
    with pytest.raises(sagemaker_job.TrainingJobFailed, match="ended Failed: AlgorithmError"):
        sagemaker_job.wait_for_job(estimator)
    assert describe()["EnableManagedSpotTraining"] is False
    assert "MaxWaitTimeInSeconds" not in describe()["StoppingCondition"]


def test_ctrl_c_while_the_job_runs_names_the_job_and_how_to_stop_it(
    train_aws, tmp_path, monkeypatch
):
    """Ctrl-C stops the log stream, not the job: the message says the job still runs and gives
    the command that stops it; nothing is downloaded or registered."""
    from sagemaker.estimator import _TrainingJob

    def interrupted(self, logs="All"):
        raise KeyboardInterrupt

    monkeypatch.setattr(_TrainingJob, "wait", interrupted)
    monkeypatch.setenv("TARGET", "aws")
    monkeypatch.setattr(cli, "new_run_id", lambda: JOB)
    with pytest.raises(sagemaker_job.JobDetached) as raised:
        cli.main(["--models-dir", str(tmp_path / "models")])
    assert raised.value.exit_code == 130
    assert f"training job {JOB} still runs" in str(raised.value)
    assert f"aws sagemaker stop-training-job --training-job-name {JOB}" in str(raised.value)
    assert describe()["TrainingJobName"] == JOB
    assert list((tmp_path / "models").iterdir()) == []
    packages = boto3.client("sagemaker").list_model_packages(
        ModelPackageGroupName="scones-test-classifier"
    )["ModelPackageSummaryList"]
    assert packages == []


def test_a_refused_source_upload_is_a_named_error_and_starts_no_job(train_aws):
    """The SDK uploads the source with boto3's transfer manager, whose refusals (no bucket,
    AccessDenied, a key the caller may not use) are S3UploadFailedError, not ClientError."""
    base = dict(train_aws, model_bucket="scones-test-deleted")
    estimator = sagemaker_job.build_estimator(base, {}, "ml.p3.2xlarge", spot=False)
    with pytest.raises(sagemaker_job.JobRequestFailed, match=f"{JOB}: .*scones-test-deleted"):
        sagemaker_job.start_job(estimator, train_aws["data_bucket"], JOB)
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def put_job_outputs(trained_run, run_id: str) -> None:
    """What SageMaker writes when the job ends: model.tar.gz (SM_MODEL_DIR) and output.tar.gz
    (SM_OUTPUT_DATA_DIR) under <output path>/<job>/output/. moto runs no container, so the
    artifacts of a real (local) run of the same entry point stand in for the job's."""
    run, _ = trained_run
    s3 = boto3.client("s3")
    prefix = f"models/{run_id}/output/"
    s3.upload_file(str(run.model_archive), "scones-test-models", prefix + "model.tar.gz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(run.evaluation, arcname="evaluation.json")
        tar.add(run.baseline, arcname="baseline.json")
    s3.put_object(Bucket="scones-test-models", Key=prefix + "output.tar.gz", Body=buffer.getvalue())


def test_target_aws_trains_collects_uploads_and_registers(
    train_aws, trained_run, tmp_path, monkeypatch, capsys, no_network
):
    monkeypatch.setenv("TARGET", "aws")
    monkeypatch.setattr(cli, "new_run_id", lambda: JOB)
    put_job_outputs(trained_run, JOB)
    code = cli.main(
        [
            "--approval-threshold", "0.0", "--instance-type", "ml.p3.2xlarge", "--spot",
            "--hyperparameter", "epochs=3", "--models-dir", str(tmp_path / "models"),
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "confusion matrix" in out and "approval: Approved" in out
    run_dir = tmp_path / "models" / JOB
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "baseline.json",
        "evaluation.json",
        "model.tar.gz",
    ]
    assert describe()["HyperParameters"]["epochs"] == "3"
    keys = {
        o["Key"]
        for o in boto3.client("s3").list_objects_v2(
            Bucket="scones-test-models", Prefix=f"models/{JOB}/"
        )["Contents"]
    }
    assert {f"models/{JOB}/{name}" for name in ("model.tar.gz", "evaluation.json")} <= keys
    package = boto3.client("sagemaker").list_model_packages(
        ModelPackageGroupName="scones-test-classifier"
    )["ModelPackageSummaryList"]
    assert len(package) == 1 and package[0]["ModelApprovalStatus"] == "Approved"
    assert no_network == []


def test_a_job_without_output_is_an_incomplete_artifact(train_aws, tmp_path, monkeypatch):
    monkeypatch.setenv("TARGET", "aws")
    monkeypatch.setattr(cli, "new_run_id", lambda: JOB)
    with pytest.raises(cli.artifacts.IncompleteArtifact, match="model.tar.gz"):
        cli.main(["--models-dir", str(tmp_path / "models")])
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize("archive", ["model.tar.gz", "output.tar.gz"])
@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_a_corrupt_job_archive_is_named_and_leaves_no_run(
    train_aws, trained_run, tmp_path, monkeypatch, archive, damage
):
    monkeypatch.setenv("TARGET", "aws")
    monkeypatch.setattr(cli, "new_run_id", lambda: JOB)
    put_job_outputs(trained_run, JOB)
    s3 = boto3.client("s3")
    key = f"models/{JOB}/output/{archive}"
    body = s3.get_object(Bucket="scones-test-models", Key=key)["Body"].read()
    damaged = body[: len(body) // 2] if damage == "truncated" else b"<Error>AccessDenied</Error>"
    s3.put_object(Bucket="scones-test-models", Key=key, Body=damaged)
    with pytest.raises(cli.artifacts.CorruptArtifact, match=f"{archive} is not a readable"):
        cli.main(["--models-dir", str(tmp_path / "models")])
    assert list((tmp_path / "models").iterdir()) == []
