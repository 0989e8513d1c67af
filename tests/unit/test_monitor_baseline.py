"""``monitor.baseline``: which baseline.json the report compares with, and its validation."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from moto import mock_aws

from monitor.baseline import BadBaseline, BaselineNotFound, find_baseline, parse_baseline
from monitor_support import LABELS, REGION, baseline_document, isolate_aws

MODEL_BUCKET = "scones-models-test"
MODEL_DATA_URL = f"s3://{MODEL_BUCKET}/models/run-2/model.tar.gz"


@pytest.fixture(scope="module")
def document() -> dict:
    return baseline_document(n=50)


@pytest.fixture
def s3(monkeypatch):
    isolate_aws(monkeypatch)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=MODEL_BUCKET)
        yield client


def write_local(models, run: str, document: dict, mtime: int) -> None:
    path = models / run / "baseline.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    os.utime(path, (mtime, mtime))


def test_the_deployed_models_baseline_comes_first(s3, tmp_path, document):
    deployed = dict(document, labels=["motorcycle", "bicycle"])
    s3.put_object(Bucket=MODEL_BUCKET, Key="models/run-2/baseline.json", Body=json.dumps(deployed))
    write_local(tmp_path, "run-9", document, 2_000_000_000)

    baseline, looked = find_baseline(s3, None, MODEL_DATA_URL, tmp_path)

    assert baseline.labels == ["motorcycle", "bicycle"]
    assert baseline.source == f"s3://{MODEL_BUCKET}/models/run-2/baseline.json"
    assert looked == [baseline.source]


def test_newest_local_baseline_when_the_deployed_one_is_missing(s3, tmp_path, document):
    write_local(tmp_path, "run-old", dict(document, labels=["x", "y"]), 1_000_000_000)
    write_local(tmp_path, "run-new", document, 1_500_000_000)

    baseline, looked = find_baseline(s3, None, MODEL_DATA_URL, tmp_path)

    assert baseline.labels == LABELS
    assert baseline.source == str(tmp_path / "run-new" / "baseline.json")
    assert len(looked) == 2
    assert baseline.class_prior == {"bicycle": 0.5, "motorcycle": 0.5}
    assert set(baseline.image_stats) == {"brightness", "contrast", "mean_r", "mean_g", "mean_b"}


def test_explicit_path_wins_and_must_exist(s3, tmp_path, document):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(dict(document, labels=["a", "b"])))

    assert find_baseline(s3, path, MODEL_DATA_URL, tmp_path)[0].labels == ["a", "b"]
    with pytest.raises(BaselineNotFound):
        find_baseline(s3, tmp_path / "absent.json", MODEL_DATA_URL, tmp_path)


def test_no_baseline_anywhere_is_none_with_the_places_looked_at(s3, tmp_path):
    baseline, looked = find_baseline(s3, None, None, tmp_path)

    assert baseline is None
    assert looked == [str(tmp_path / "*" / "baseline.json")]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("labels"), "labels"),
        (lambda d: d.update(labels=["a", "a"]), "labels"),
        (lambda d: d.update(class_prior=["a"]), "class_prior"),
        (lambda d: d["image_stats"]["brightness"]["histogram"]["counts"].pop(), "one fewer"),
        (lambda d: d["image_stats"]["contrast"]["histogram"].update(counts=[0] * 50), "positive"),
        (lambda d: d["image_stats"]["mean_r"]["histogram"]["bins"].reverse(), "increase"),
        (lambda d: d["image_stats"]["mean_g"].update(quantiles=[0.5, 0.1]), "quantiles"),
        (lambda d: d["image_stats"].update(mean_b="x"), "mean_b"),
    ],
)
def test_malformed_baselines_are_named_errors(document, change, message):
    broken = json.loads(json.dumps(document))
    change(broken)

    with pytest.raises(BadBaseline, match=message):
        parse_baseline(broken, "baseline.json")


def test_a_baseline_that_is_not_json_is_a_named_error(s3, tmp_path):
    s3.put_object(Bucket=MODEL_BUCKET, Key="models/run-2/baseline.json", Body=b"{oops")

    with pytest.raises(BadBaseline, match="not JSON"):
        find_baseline(s3, None, MODEL_DATA_URL, tmp_path)
