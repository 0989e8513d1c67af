import hashlib
import json
import socket

import boto3
import pytest
from moto import mock_aws

from etl.errors import BucketUnreachable
from etl.load import INDEX_KEY, check_bucket, s3_client, sync, unchanged

BUCKET = "scones-data-test"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = s3_client()
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def tree(tmp_path):
    files = {
        "train/bicycle/bike_s_000001.png": b"\x89PNG one",
        "train/motorcycle/bike_s_000002.png": b"\x89PNG two",
        "test/bicycle/cycle_s_000003.png": b"\x89PNG three",
        "train.lst": b"0\t0\ttrain/bicycle/bike_s_000001.png\n",
        "test.lst": b"0\t0\ttest/bicycle/cycle_s_000003.png\n",
        "labels.json": b'["bicycle", "motorcycle"]',
    }
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(content)
    return tmp_path, {rel: hashlib.md5(content).hexdigest() for rel, content in files.items()}


def _versions(client) -> int:
    return len(client.list_object_versions(Bucket=BUCKET).get("Versions", []))


def test_uploads_the_tree_with_the_same_keys(s3, tree):
    root, files = tree
    result = sync(s3, root, files, BUCKET)
    assert (result.uploaded, result.skipped, result.deleted) == (6, 0, 0)
    for rel in files:
        obj = s3.get_object(Bucket=BUCKET, Key=rel)
        assert obj["Body"].read() == (root / rel).read_bytes()
    png = s3.head_object(Bucket=BUCKET, Key="train/bicycle/bike_s_000001.png")
    assert png["ContentType"] == "image/png"
    index = json.loads(s3.get_object(Bucket=BUCKET, Key=INDEX_KEY)["Body"].read())
    assert index["labels.json"]["md5"] == files["labels.json"]


def test_identical_objects_are_not_uploaded_again(s3, tree):
    root, files = tree
    sync(s3, root, files, BUCKET)
    versions = _versions(s3)
    result = sync(s3, root, files, BUCKET)
    assert (result.uploaded, result.skipped, result.deleted) == (0, 6, 0)
    assert _versions(s3) == versions  # not one PUT, the index included


def test_only_changed_files_are_uploaded(s3, tree):
    root, files = tree
    sync(s3, root, files, BUCKET)
    (root / "labels.json").write_bytes(b'["motorcycle", "bicycle"]')
    files["labels.json"] = hashlib.md5(b'["motorcycle", "bicycle"]').hexdigest()
    result = sync(s3, root, files, BUCKET)
    assert (result.uploaded, result.skipped) == (1, 5)
    body = s3.get_object(Bucket=BUCKET, Key="labels.json")["Body"].read()
    assert body == b'["motorcycle", "bicycle"]'


def test_objects_no_longer_in_the_dataset_are_deleted_others_kept(s3, tree):
    root, files = tree
    s3.put_object(Bucket=BUCKET, Key="train/bus/bus_s_000009.png", Body=b"old class")
    s3.put_object(Bucket=BUCKET, Key="batch/input.png", Body=b"not the dataset's")
    s3.put_object(Bucket=BUCKET, Key="notes.txt", Body=b"not the dataset's")
    result = sync(s3, root, files, BUCKET)
    assert result.deleted == 1
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == set(files) | {INDEX_KEY, "batch/input.png", "notes.txt"}


def test_an_object_changed_in_the_bucket_is_uploaded_again(s3, tree):
    root, files = tree
    sync(s3, root, files, BUCKET)
    s3.put_object(Bucket=BUCKET, Key="train.lst", Body=b"tampered")
    result = sync(s3, root, files, BUCKET)
    assert result.uploaded == 1
    assert (
        s3.get_object(Bucket=BUCKET, Key="train.lst")["Body"].read()
        == (root / "train.lst").read_bytes()
    )


def test_missing_bucket(s3, tree):
    root, files = tree
    with pytest.raises(BucketUnreachable, match="'nope' does not exist.*make infra"):
        sync(s3, root, files, "nope")


def test_unreachable_endpoint(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(BucketUnreachable, match=f"cannot reach S3 at http://127.0.0.1:{port}"):
        check_bucket(s3_client(), BUCKET)


def test_etags_that_are_not_md5s_are_matched_through_the_index():
    md5 = "0" * 32
    kms_etag = "9f1c" * 8  # SSE-KMS: the ETag is not the md5 of the content
    assert unchanged("a.png", md5, {"a.png": md5}, {})
    assert not unchanged("a.png", md5, {}, {})
    assert not unchanged("a.png", md5, {"a.png": kms_etag}, {})
    assert unchanged("a.png", md5, {"a.png": kms_etag}, {"a.png": {"md5": md5, "etag": kms_etag}})
    # the object was replaced since the recorded upload, or the file changed since
    assert not unchanged(
        "a.png", md5, {"a.png": "1" * 32}, {"a.png": {"md5": md5, "etag": kms_etag}}
    )
    assert not unchanged(
        "a.png", "2" * 32, {"a.png": kms_etag}, {"a.png": {"md5": md5, "etag": kms_etag}}
    )
