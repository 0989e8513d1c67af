"""Load: mirror ``data/processed`` into the data bucket, uploading only what changed.

The bucket is listed once (``train/``, ``test/``, the top level and ``_etl/``); an object
whose ETag equals the local file's md5 is already there. Buckets encrypted with SSE-KMS return
ETags that are not md5s, so the ETag S3 returned for each upload is also recorded, next to the
file's md5, in ``_etl/index.json``: a listed ETag equal to the recorded one means the object has
not changed since that upload. Objects under ``train/`` and ``test/`` that are no longer part of
the dataset (e.g. after changing CLASSES) are deleted, so the prefixes hold exactly the dataset.
Plain boto3: ``AWS_ENDPOINT_URL`` (set by the Makefile for the local stack) picks the endpoint.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from etl.errors import BucketUnreachable, UploadFailed
from settings import get_logger

log = get_logger("etl.load")

INDEX_KEY = "_etl/index.json"
MIRRORED_PREFIXES = ("train/", "test/")
WORKERS = 16
_CONTENT_TYPES = {".png": "image/png", ".json": "application/json", ".lst": "text/plain"}


@dataclass(frozen=True)
class SyncResult:
    uploaded: int
    skipped: int
    deleted: int


def s3_client(workers: int = WORKERS):  # -> botocore S3 client (its type is generated)
    """One client shared by the upload threads (botocore clients are thread-safe)."""
    config = Config(
        max_pool_connections=workers,
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client("s3", config=config)


def check_bucket(s3, bucket: str) -> None:
    """Fail early and clearly when the bucket is missing, forbidden or S3 cannot be reached."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            why = "does not exist (run `make infra` to create it)"
        elif code in ("403", "AccessDenied"):
            why = "is not accessible with the current credentials"
        else:
            why = f"cannot be used ({code or err})"
        raise BucketUnreachable(f"bucket {bucket!r} {why}") from err
    except BotoCoreError as err:
        raise BucketUnreachable(
            f"cannot reach S3 at {s3.meta.endpoint_url} for bucket {bucket!r}: {err}"
        ) from err


def sync(s3, root: Path, files: Mapping[str, str], bucket: str) -> SyncResult:
    """Upload each ``files`` entry (path relative to ``root`` -> md5) unless already there."""
    check_bucket(s3, bucket)
    try:
        remote = _list(s3, bucket)
        index = _read_index(s3, bucket) if INDEX_KEY in remote else {}
    except (ClientError, BotoCoreError) as err:
        raise BucketUnreachable(f"cannot list bucket {bucket!r}: {err}") from err
    todo = sorted(key for key, md5 in files.items() if not unchanged(key, md5, remote, index))
    new_index = {key: {"md5": md5, "etag": remote.get(key)} for key, md5 in files.items()}
    stale = sorted(key for key in remote if key.startswith(MIRRORED_PREFIXES) and key not in files)
    if todo:
        _upload(s3, bucket, root, {key: files[key] for key in todo}, new_index)
    if stale:
        _delete(s3, bucket, stale)
    if new_index != index:
        body = json.dumps(new_index, sort_keys=True).encode()
        _guarded(
            f"s3://{bucket}/{INDEX_KEY}",
            lambda: s3.put_object(
                Bucket=bucket, Key=INDEX_KEY, Body=body, ContentType="application/json"
            ),
        )
    log.info(
        "synced",
        extra={"fields": {"bucket": bucket, "uploaded": len(todo), "deleted": len(stale)}},
    )
    return SyncResult(uploaded=len(todo), skipped=len(files) - len(todo), deleted=len(stale))


def _upload(
    s3, bucket: str, root: Path, todo: Mapping[str, str], index: dict[str, dict[str, str]]
) -> None:
    """Upload in parallel, recording each new ETag; on the first failure (or Ctrl-C) the
    uploads not yet started are cancelled instead of waited for."""
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        with tqdm(total=len(todo), desc=f"upload s3://{bucket}", unit="obj", leave=False) as bar:
            futures = {
                pool.submit(_put, s3, bucket, root, key, md5): key for key, md5 in todo.items()
            }
            for future in as_completed(futures):
                index[futures[future]]["etag"] = future.result()
                bar.update()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def unchanged(
    key: str, md5: str, remote: Mapping[str, str], index: Mapping[str, Mapping[str, str]]
) -> bool:
    """Whether the listed object ``key`` holds the content whose md5 is ``md5``."""
    etag = remote.get(key)
    if etag is None:
        return False
    if etag == md5:  # single-part upload without SSE-KMS: the ETag is the md5
        return True
    recorded = index.get(key, {})
    return recorded.get("md5") == md5 and recorded.get("etag") == etag


def _list(s3, bucket: str) -> dict[str, str]:
    """key -> ETag (without quotes) under ``train/``, ``test/``, ``_etl/`` and at the top level."""
    listed: dict[str, str] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for prefix, delimiter in (("train/", ""), ("test/", ""), ("", "/"), ("_etl/", "")):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter=delimiter):
            for item in page.get("Contents", []):
                listed[item["Key"]] = item["ETag"].strip('"')
    return listed


def _read_index(s3, bucket: str) -> dict[str, dict[str, str]]:
    body = s3.get_object(Bucket=bucket, Key=INDEX_KEY)["Body"].read()
    try:
        index = json.loads(body)
    except ValueError:
        return {}  # unreadable: every object whose ETag is not an md5 is uploaded again
    return index if isinstance(index, dict) else {}


def _put(s3, bucket: str, root: Path, key: str, md5: str) -> str:
    body = (root / key).read_bytes()
    response = _guarded(
        f"s3://{bucket}/{key}",
        lambda: s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode(),  # S3 verifies it
            ContentType=_CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream"),
        ),
    )
    return response["ETag"].strip('"')


def _delete(s3, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = {"Objects": [{"Key": key} for key in keys[start : start + 1000]]}
        response = _guarded(
            f"s3://{bucket}/{keys[start]}", lambda: s3.delete_objects(Bucket=bucket, Delete=batch)
        )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise UploadFailed(f"could not delete s3://{bucket}/{first['Key']}: {first['Message']}")


def _guarded(target: str, call: Callable[[], dict]) -> dict:
    try:
        return call()
    except (ClientError, BotoCoreError) as err:
        raise UploadFailed(f"{target}: {err}") from err
