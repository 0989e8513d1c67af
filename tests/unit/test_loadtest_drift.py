"""Drift images move the monitor's statistics the expected way; the plan and upload are exact."""

import io
from collections import Counter

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from PIL import Image

from loadtest.drift import DRIFT_FRACTION, TRANSFORMS, altered_png
from loadtest.errors import DataBucketNotFound, NoTestImages
from loadtest.images import DRIFT_PREFIX, drift_key, plan_items, read_test_keys, upload_drift
from monitor.image_stats import image_stats


def textured_png(seed: int) -> bytes:
    """A 32x32 image with edges and mid-range colours, like a CIFAR photo (no clipping)."""
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(60, 190, size=(8, 8, 3))
    pixels = np.kron(blocks, np.ones((4, 4, 1)))
    pixels += np.linspace(-20, 20, 32)[None, :, None]
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def stats_of(pngs: list[bytes]) -> dict[str, float]:
    values = [image_stats(Image.open(io.BytesIO(png))) for png in pngs]
    return {name: float(np.mean([v[name] for v in values])) for name in values[0]}


@pytest.fixture(scope="module")
def originals() -> list[bytes]:
    return [textured_png(seed) for seed in range(20)]


def altered(originals: list[bytes], kind: str) -> list[bytes]:
    rng = np.random.default_rng(0)
    return [altered_png(png, kind, rng) for png in originals]


def test_dark_lowers_brightness_and_every_channel_mean(originals):
    before, after = stats_of(originals), stats_of(altered(originals, "dark"))
    assert after["brightness"] < 0.5 * before["brightness"]
    for channel in ("mean_r", "mean_g", "mean_b"):
        assert after[channel] < 0.5 * before[channel]


def test_blur_lowers_contrast_and_keeps_brightness(originals):
    before, after = stats_of(originals), stats_of(altered(originals, "blur"))
    assert after["contrast"] < 0.8 * before["contrast"]
    assert abs(after["brightness"] - before["brightness"]) < 0.02


def test_noise_raises_contrast_and_keeps_brightness(originals):
    before, after = stats_of(originals), stats_of(altered(originals, "noise"))
    assert after["contrast"] > 1.3 * before["contrast"]
    assert abs(after["brightness"] - before["brightness"]) < 0.02


def test_altered_images_are_32x32_rgb_pngs(originals):
    for kind in TRANSFORMS:
        with Image.open(io.BytesIO(altered(originals[:1], kind)[0])) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (32, 32))


KEYS = [f"test/{label}/{i:03d}.png" for label in ("bicycle", "motorcycle") for i in range(10)]


def test_plan_draws_without_replacement_while_there_are_enough_keys():
    items = plan_items(KEYS, 20, drift=False, seed=1)
    assert sorted(it.s3_key for it in items) == sorted(KEYS)
    assert [it.index for it in items] == list(range(20))
    assert not any(it.drift_kind for it in items)


def test_plan_draws_with_replacement_beyond_the_keys():
    items = plan_items(KEYS, 100, drift=False, seed=1)
    assert len(items) == 100 and set(it.s3_key for it in items) <= set(KEYS)
    assert max(Counter(it.s3_key for it in items).values()) > 1


def test_plan_drifts_the_fixed_fraction_with_every_kind_and_is_seeded():
    items = plan_items(KEYS, 1000, drift=True, seed=2)
    drifted = [it for it in items if it.drift_kind]
    assert len(drifted) == round(DRIFT_FRACTION * 1000)
    assert set(it.drift_kind for it in drifted) == set(TRANSFORMS)
    assert items == plan_items(KEYS, 1000, drift=True, seed=2)
    assert items != plan_items(KEYS, 1000, drift=True, seed=3)


@pytest.fixture
def bucket():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        lines = [f"{i}\t{i % 2}\t{key}" for i, key in enumerate(KEYS)]
        s3.put_object(Bucket="data", Key="test.lst", Body="\n".join(lines) + "\n")
        for seed, key in enumerate(KEYS):
            s3.put_object(Bucket="data", Key=key, Body=textured_png(seed))
        yield s3


def test_read_test_keys_lists_test_lst(bucket):
    assert read_test_keys(bucket, "data") == KEYS


def test_read_test_keys_without_test_lst_is_a_named_error(bucket):
    bucket.delete_object(Bucket="data", Key="test.lst")
    with pytest.raises(NoTestImages, match="make data"):
        read_test_keys(bucket, "data")


def test_a_missing_data_bucket_is_a_named_error(bucket):
    with pytest.raises(DataBucketNotFound, match="no-such-bucket does not exist"):
        read_test_keys(bucket, "no-such-bucket")


def test_read_test_keys_rejects_a_malformed_line(bucket):
    bucket.put_object(Bucket="data", Key="test.lst", Body="0\t0\ttrain/bicycle/x.png\n")
    with pytest.raises(NoTestImages, match="line 1"):
        read_test_keys(bucket, "data")


def test_upload_drift_writes_altered_copies_under_the_run_prefix_only(bucket):
    before = {o["Key"]: o["ETag"] for o in bucket.list_objects_v2(Bucket="data")["Contents"]}
    items = upload_drift(bucket, "data", "run-1", plan_items(KEYS, 40, drift=True, seed=4), 4)
    after = {o["Key"]: o["ETag"] for o in bucket.list_objects_v2(Bucket="data")["Contents"]}
    new = set(after) - set(before)
    assert all(key.startswith(f"{DRIFT_PREFIX}/run-1/") for key in new)
    assert all(after[key] == etag for key, etag in before.items())  # the dataset is untouched
    drifted = [it for it in items if it.drift_kind]
    assert len(drifted) == 12
    assert {it.s3_key for it in drifted} == new
    for it in drifted:
        assert it.s3_key.startswith(f"{DRIFT_PREFIX}/run-1/{it.drift_kind}/")
        obj = bucket.get_object(Bucket="data", Key=it.s3_key)
        assert obj["Metadata"] == {"source-key": it.source_key}
        png = obj["Body"].read()
        original = bucket.get_object(Bucket="data", Key=it.source_key)["Body"].read()
        assert png != original
    assert all(it.s3_key == it.source_key for it in items if not it.drift_kind)
    # One object per distinct (source, kind); keys fit SageMaker's 64-character InferenceId.
    assert len(new) == len({(it.source_key, it.drift_kind) for it in drifted})
    assert len(drift_key("lt-20250101T000000Z-abcdef", "noise", 9999)) <= 64


def test_a_source_that_is_not_an_image_is_sent_unaltered(bucket):
    bucket.put_object(Bucket="data", Key=KEYS[0], Body=b"not an image")
    planned = plan_items(KEYS, 20, drift=True, seed=6)
    items = upload_drift(bucket, "data", "run-2", planned, 6)
    for before, after in zip(planned, items):
        if before.source_key == KEYS[0]:
            assert (after.s3_key, after.drift_kind) == (KEYS[0], "")
        else:
            assert after.drift_kind == before.drift_kind
    assert any(p.drift_kind and p.source_key == KEYS[0] for p in planned)


def test_a_missing_source_is_sent_unaltered(bucket):
    bucket.delete_object(Bucket="data", Key=KEYS[0])
    planned = plan_items(KEYS, 20, drift=True, seed=6)
    items = upload_drift(bucket, "data", "run-3", planned, 6)
    assert any(p.drift_kind and p.source_key == KEYS[0] for p in planned)
    for before, after in zip(planned, items):
        if before.source_key == KEYS[0]:
            assert (after.s3_key, after.drift_kind) == (KEYS[0], "")
        else:
            assert after.drift_kind == before.drift_kind


def test_an_aborted_upload_leaves_no_altered_image_behind(bucket):
    planned = plan_items(KEYS, 40, drift=True, seed=4)
    # The last source read (one thread, sources in key order) is archived: S3 refuses to read it
    # (InvalidObjectState), after the altered copies of the other sources were uploaded.
    last = max(it.source_key for it in planned if it.drift_kind)
    bucket.put_object(Bucket="data", Key=last, Body=textured_png(0), StorageClass="GLACIER")
    with pytest.raises(ClientError, match="InvalidObjectState"):
        upload_drift(bucket, "data", "run-4", planned, 4, threads=1)
    assert bucket.list_objects_v2(Bucket="data", Prefix=f"{DRIFT_PREFIX}/").get("Contents") is None
