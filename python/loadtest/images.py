"""Which images a run sends: random test-split keys, and altered copies for drift runs.

The dataset is only read (``test.lst`` and the images it lists). Altered images are written under
``loadtest/drift/<run-id>/`` in the data bucket, a prefix of their own, never under ``train/`` or
``test/``, so a load test can neither pollute training data nor be confused with it. Their keys
are ``loadtest/drift/<run-id>/<kind>/<nnnn>.png``; the original's key is kept in the object's
metadata (``source-key``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from PIL import UnidentifiedImageError
from tqdm import tqdm

from loadtest.drift import DRIFT_FRACTION, TRANSFORMS, altered_png
from loadtest.errors import DataBucketNotFound, NoTestImages
from settings import get_logger

log = get_logger("loadtest.images")

DRIFT_PREFIX = "loadtest/drift"


@dataclass(frozen=True)
class Item:
    """One image of the run: its position, the key the workflow reads and how it was altered."""

    index: int
    s3_key: str
    drift_kind: str = ""
    source_key: str = ""


def read_test_keys(s3, bucket: str) -> list[str]:
    """Keys of the test split listed in ``s3://bucket/test.lst`` (index, label, path; tabs)."""
    try:
        body = s3.get_object(Bucket=bucket, Key="test.lst")["Body"].read().decode("utf-8")
    except s3.exceptions.NoSuchKey:
        raise NoTestImages(f"s3://{bucket}/test.lst does not exist: run `make data`") from None
    except s3.exceptions.NoSuchBucket:
        raise DataBucketNotFound(
            f"the data bucket {bucket} does not exist: run `make infra` (or check TARGET)"
        ) from None
    keys = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[2].startswith("test/"):
            raise NoTestImages(
                f"s3://{bucket}/test.lst line {number} is not `index<TAB>label<TAB>test/...`"
            )
        keys.append(fields[2])
    if not keys:
        raise NoTestImages(f"s3://{bucket}/test.lst lists no image: run `make data`")
    return keys


def plan_items(keys: list[str], count: int, drift: bool, seed: int) -> list[Item]:
    """``count`` items drawn from ``keys`` (without replacement while there are enough).

    With ``drift``, ``round(DRIFT_FRACTION * count)`` of them, chosen at random, get a transform
    kind; their ``s3_key`` is set once the altered image is uploaded (``upload_drift``).
    """
    rng = np.random.default_rng(seed)
    replace_draw = count > len(keys)
    picks = rng.choice(len(keys), size=count, replace=replace_draw)
    items = [Item(index=i, s3_key=keys[k], source_key=keys[k]) for i, k in enumerate(picks)]
    if drift and count:
        kinds = sorted(TRANSFORMS)
        drifted = rng.choice(count, size=round(DRIFT_FRACTION * count), replace=False)
        for position in drifted:
            kind = kinds[int(rng.integers(len(kinds)))]
            items[position] = replace(items[position], drift_kind=kind)
    return items


def drift_key(run_id: str, kind: str, number: int) -> str:
    return f"{DRIFT_PREFIX}/{run_id}/{kind}/{number:04d}.png"


def drift_keys(run_id: str, items: list[Item]) -> dict[tuple[str, str], str]:
    """The key of the altered image of each (source, kind) of ``items``, numbered in order."""
    variants = sorted({(it.source_key, it.drift_kind) for it in items if it.drift_kind})
    return {variant: drift_key(run_id, variant[1], n) for n, variant in enumerate(variants)}


def with_drift_keys(run_id: str, items: list[Item]) -> list[Item]:
    """``items`` as ``upload_drift`` will send them when every source can be altered: what sizes
    a batch's state data before anything is uploaded."""
    keys = drift_keys(run_id, items)
    return [
        replace(it, s3_key=keys[(it.source_key, it.drift_kind)]) if it.drift_kind else it
        for it in items
    ]


def upload_drift(
    s3, bucket: str, run_id: str, items: list[Item], seed: int, threads: int = 8
) -> list[Item]:
    """Upload one altered image per distinct (source, kind) and point drifted items at it.

    A source that is missing or not a readable image cannot be altered: its items are sent
    unaltered (and not marked as drift), so the workflow reports what is wrong with it, as for
    any other image. Any other failure (or Ctrl-C) ends the upload: the altered images already
    uploaded for the run are deleted, then the error goes on.
    """
    keys = drift_keys(run_id, items)
    if not keys:
        return items
    variants = list(keys)

    def make(numbered: tuple[int, tuple[str, str]]) -> tuple[str, str] | None:
        number, (source, kind) = numbered
        try:
            png = s3.get_object(Bucket=bucket, Key=source)["Body"].read()
        except s3.exceptions.NoSuchKey:
            log.warning("source image missing", extra={"fields": {"key": source}})
            return source, kind
        # A per-variant seed keeps the noise reproducible whatever order the threads run in.
        rng = np.random.default_rng([seed, number])
        try:
            body = altered_png(png, kind, rng)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            log.warning("not an image", extra={"fields": {"key": source, "error": str(err)}})
            return source, kind
        s3.put_object(
            Bucket=bucket,
            Key=keys[(source, kind)],
            Body=body,
            ContentType="image/png",
            Metadata={"source-key": source},
        )
        return None

    try:
        with (
            ThreadPoolExecutor(threads) as pool,
            tqdm(total=len(variants), desc="drift images", unit="img", disable=None) as bar,
        ):
            for failed in pool.map(make, enumerate(variants)):
                if failed is not None:
                    del keys[failed]
                bar.update()
    except BaseException:
        _delete_run_uploads(s3, bucket, run_id)  # the pool has stopped: nothing more is written
        raise
    out = []
    for it in items:
        variant = (it.source_key, it.drift_kind)
        if not it.drift_kind:
            out.append(it)
        elif variant in keys:
            out.append(replace(it, s3_key=keys[variant]))
        else:
            out.append(replace(it, drift_kind=""))
    return out


def _delete_run_uploads(s3, bucket: str, run_id: str) -> None:
    """Delete the altered images of an aborted upload (best effort: the upload's error matters)."""
    prefix = f"{DRIFT_PREFIX}/{run_id}/"
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    except (ClientError, BotoCoreError) as err:
        log.warning(
            "altered images may be left behind",
            extra={"fields": {"prefix": f"s3://{bucket}/{prefix}", "error": str(err)}},
        )
