"""Uploading a run directory to the model bucket (moto)."""

from __future__ import annotations

import pytest

from train import artifacts


def test_a_missing_bucket_is_a_named_upload_error(train_aws, tmp_path):
    run = artifacts.RunDir(run_id="scones-run", path=tmp_path / "scones-run")
    run.path.mkdir()
    for name in artifacts.RUN_FILES:
        (run.path / name).write_text("{}")
    with pytest.raises(artifacts.UploadFailed) as caught:
        artifacts.upload(run, "scones-no-such-bucket")
    message = str(caught.value)
    assert message.startswith("s3://scones-no-such-bucket/models/scones-run/model.tar.gz: ")
    assert "NoSuchBucket" in message and message.endswith(f"(the run stays in {run.path})")
    assert artifacts.upload(run, train_aws["model_bucket"]) == {
        name: f"s3://{train_aws['model_bucket']}/models/scones-run/{name}"
        for name in artifacts.RUN_FILES
    }
