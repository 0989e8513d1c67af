"""Read an endpoint's data capture from S3 into a DataFrame, streaming, one row per inference.

SageMaker writes ``s3://<bucket>/<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>
.jsonl`` (the record format and its parsing live in ``monitor.records``). Capture grows with
traffic (100k records is about 400 MB), hence:

- objects are listed first and filtered by the ``yyyy/mm/dd/hh`` of their key for the time window
  before anything is downloaded;
- a thread pool downloads the objects, streaming: each response is read in chunks of
  ``STREAM_CHUNK``, cut after their last line end and handed to the parser in blocks of whole
  lines of about ``BATCH_BYTES``, so a raw file is never held in memory, let alone twice;
- parsing (mostly image decoding) is CPU-bound, so large captures are parsed by a pool of worker
  processes, one per core, with at most two blocks per worker in flight; small ones are parsed
  by the download threads. Each process decodes an image sent again only once
  (``monitor.records.IMAGE_CACHE``), emptied when the load ends.
- the download threads share the cores with the workers, so their part is kept small: a block
  travels to a worker as one bytes object (the worker splits it into lines), and comes back as
  columns (about 140 bytes a record).
- the objects of the process (pandas, matplotlib, boto3: hundreds of thousands) are frozen out
  of the garbage collector while a capture loads (``gc.freeze``): the rows' lists would trigger
  full collections that traverse them all, in the parent and in each forked worker, where
  touching them also copies their memory pages.

Plain boto3: ``AWS_ENDPOINT_URL`` points it at the local stack, the default chain at AWS.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from monitor.image_stats import STAT_NAMES
from monitor.records import IMAGE_CACHE, ParsedCapture, Window, parse_block
from settings import CliError, get_logger

log = get_logger("monitor.capture")

DOWNLOAD_THREADS = 8
STREAM_CHUNK = 1 << 20
BATCH_BYTES = 2 << 20
POOL_MIN_BYTES = 32 << 20  # below this (about 8k records) worker processes cost more than they save
_KEY_HOUR = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")


class _Progress(tqdm):
    """A progress bar without tqdm's monitor thread, which outlives disabled bars and would
    make the process multi-threaded, hence unsafe to fork."""

    monitor_interval = 0


class BadCaptureUri(CliError):
    """The capture location is not an ``s3://bucket/prefix`` URI."""


class CaptureUnreadable(CliError):
    """S3 refused or failed to list or read the capture objects."""


class ParsingFailed(CliError):
    """A worker process parsing the capture died."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")`` (no trailing slash)."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", uri or "")
    if not match:
        raise BadCaptureUri(f"{uri!r} is not an s3://bucket/prefix URI")
    return match.group(1), match.group(2).strip("/")


def key_hour(key: str) -> datetime | None:
    """The hour of a capture key's ``yyyy/mm/dd/hh`` path, or ``None`` if it has none."""
    match = _KEY_HOUR.search(key)
    if not match:
        return None
    year, month, day, hour = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, tzinfo=timezone.utc)
    except ValueError:
        return None


def list_capture_objects(s3: Any, uri: str, window: Window) -> list[tuple[str, int]]:
    """``(key, size)`` of the ``.jsonl`` objects under ``uri`` that may hold window records.

    Keys without a ``yyyy/mm/dd/hh`` path are kept: their records are filtered one by one.
    """
    bucket, prefix = split_s3_uri(uri)
    found = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith(".jsonl"):
                    continue
                hour = key_hour(key)
                if hour is None or window.may_hold_hour(hour):
                    found.append((key, int(item.get("Size", 0))))
    except (ClientError, BotoCoreError) as err:
        raise CaptureUnreadable(f"cannot list {uri}: {err}") from err
    return sorted(found)


# Hands a block of whole lines of one file to a parser; returns how to get the parsed block.
Submit = Callable[[bytes, str], Callable[[], ParsedCapture]]


def _blocks(body: Any) -> Iterator[bytes]:
    """Blocks of whole lines of a streamed object, each of at least ``BATCH_BYTES`` but the
    last, read in large chunks (``StreamingBody.iter_lines`` copies each line twice and reads
    in small chunks). A chunk is cut after its last line end; the rest starts the next block."""
    parts: list[Any] = []
    size = 0
    for chunk in body.iter_chunks(STREAM_CHUNK):
        cut = chunk.rfind(b"\n") + 1
        if cut and size + cut >= BATCH_BYTES:
            parts.append(memoryview(chunk)[:cut])
            yield b"".join(parts)
            parts, size, chunk = [], 0, chunk[cut:]
        if chunk:
            parts.append(chunk)
            size += len(chunk)
    if parts:
        yield b"".join(parts)


def _read_object(s3: Any, bucket: str, key: str, submit: Submit) -> ParsedCapture:
    """Stream one object, hand its blocks to ``submit``, merge the parsed blocks."""
    pending: list[Callable[[], ParsedCapture]] = []
    size = 0
    try:
        for block in _blocks(s3.get_object(Bucket=bucket, Key=key)["Body"]):
            pending.append(submit(block, key))
            size += len(block)
    except (ClientError, BotoCoreError) as err:
        raise CaptureUnreadable(f"cannot read s3://{bucket}/{key}: {err}") from err
    parsed = ParsedCapture.concat(result() for result in pending)
    parsed.files, parsed.bytes_read = 1, size
    return parsed


def _parse_in_thread(window: Window, n_classes: int | None) -> Submit:
    def submit(block: bytes, key: str) -> Callable[[], ParsedCapture]:
        parsed = parse_block(block, window, n_classes, key)
        return lambda: parsed

    return submit


def _parse_in_processes(
    pool: ProcessPoolExecutor, slots: int, window: Window, n_classes: int | None
) -> Submit:
    in_flight = threading.BoundedSemaphore(slots)

    def submit(block: bytes, key: str) -> Callable[[], ParsedCapture]:
        in_flight.acquire()
        future = pool.submit(parse_block, block, window, n_classes, key)
        future.add_done_callback(lambda _: in_flight.release())
        return future.result

    return submit


def _process_pool(workers: int) -> ProcessPoolExecutor | None:
    """Forked worker processes, all started now; ``None`` where forking is not safe.

    Fork (not spawn or forkserver) because the workers then start at once with the parser
    imported, instead of re-importing the report's ``__main__`` (pandas, matplotlib) each.
    Forking is only safe while no other thread runs: with the fork method the executor starts
    every worker at its first task, which is run here, before the download threads exist.
    Linux only; elsewhere parsing stays in the download threads. Parsing in threads uses
    little more than one core, hence the warning that names the threads in the way.
    """
    if sys.platform != "linux":
        log.info("parsing in threads", extra={"fields": {"platform": sys.platform}})
        return None
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        log.warning(
            "parsing in threads: other threads are running, forking is unsafe",
            extra={"fields": {"threads": ",".join(others)}},
        )
        return None
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    pool.submit(int).result()
    return pool


def load_capture(
    s3: Any,
    uri: str,
    window: Window = Window(),
    n_classes: int | None = None,
    processes: int | None = None,
) -> ParsedCapture:
    """Every usable record under ``uri`` within ``window``, with the count of the others.

    ``processes``: parsing worker processes; ``None`` = one per core for captures of at least
    ``POOL_MIN_BYTES``, none (parse in the download threads) below.
    """
    bucket, _ = split_s3_uri(uri)
    objects = list_capture_objects(s3, uri, window)
    total = sum(size for _, size in objects)
    if processes is None:
        processes = (os.cpu_count() or 1) if total >= POOL_MIN_BYTES else 0
    log.info(
        "capture listed",
        extra={"fields": {"uri": uri, "objects": len(objects), "bytes": total, "procs": processes}},
    )
    parts: list[ParsedCapture] = []
    with ExitStack() as stack:
        IMAGE_CACHE.clear()  # before the workers fork: each starts empty, none inherits old text
        stack.callback(IMAGE_CACHE.clear)
        if gc.get_freeze_count() == 0:  # see the module's docstring; a caller's freeze stays
            gc.freeze()
            stack.callback(gc.unfreeze)
        pool = _process_pool(processes) if processes > 0 else None
        if pool is not None:
            stack.callback(pool.shutdown, cancel_futures=True)
            submit = _parse_in_processes(pool, 2 * processes, window, n_classes)
        else:
            submit = _parse_in_thread(window, n_classes)
        threads = stack.enter_context(ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS))
        progress = stack.enter_context(
            _Progress(total=total, unit="B", unit_scale=True, desc="capture", disable=None)
        )
        futures = [threads.submit(_read_object, s3, bucket, key, submit) for key, _ in objects]
        try:
            for future, (_, size) in zip(futures, objects):
                parts.append(future.result())
                progress.update(size)
        except BrokenProcessPool as err:
            raise ParsingFailed(f"a parsing worker process died ({err}): out of memory?") from err
    return ParsedCapture.concat(parts)


def to_frame(parsed: ParsedCapture, labels: list[str]) -> pd.DataFrame:
    """One row per inference, sorted by time; ``predicted_class`` is a categorical of ``labels``."""
    index = np.asarray(parsed.predicted_index, dtype=np.int64)
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(np.asarray(parsed.time_us, dtype=np.int64), unit="us", utc=True),
            "event_id": pd.array(parsed.event_id, dtype="string"),
            "inference_id": pd.array(parsed.inference_id, dtype="string"),
            "content_type": pd.array(parsed.content_type, dtype="string"),
            "input_bytes": np.asarray(parsed.input_bytes, dtype=np.int64),
            "width": np.asarray(parsed.width, dtype=np.int64),
            "height": np.asarray(parsed.height, dtype=np.int64),
            **{name: parsed.stats[name] for name in STAT_NAMES},
            "probabilities": pd.Series(parsed.probabilities, dtype=object),
            "predicted_index": index,
            "predicted_class": pd.Categorical.from_codes(index, categories=labels),
            "confidence": np.asarray(parsed.confidence, dtype=np.float64),
            "capture_file": pd.array(parsed.capture_file, dtype="string"),
        }
    )
    return frame.sort_values("time", kind="stable").reset_index(drop=True)
