"""Benchmark of ``make report`` on a large capture: load (list, download, parse) and full report.

Starts a moto S3 server on a free port in a child process (like the local stack: S3 over HTTP on
127.0.0.1), writes ``--records`` synthetic capture records (32x32 PNG inputs, ``--distinct`` of
them different, JSON and BASE64 outputs alternating) into ``--files`` objects under the SageMaker
key layout, then times:

1. loading the capture with the parsing in the download threads only;
2. loading it with the default settings (worker processes for captures this large);
3. the whole report (load, drift, figures, HTML, Parquet) into a temporary folder.

Prints the figures, with the CPU time per record (steadier than wall time on a shared machine;
the moto server's own CPU is not counted); nothing is asserted (speed targets live here, not
in tests).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import numpy as np
from tqdm import tqdm

from local_aws import launcher
from monitor import synthetic
from monitor.capture import load_capture
from monitor.report import ReportOptions, build_report

BUCKET = "bench-capture"
PREFIX = "datacapture/bench-endpoint"
LABELS = ["bicycle", "motorcycle"]
IMAGES_PER_SEED = 1000


class _Progress(tqdm):
    """A progress bar without tqdm's monitor thread: that thread outlives the bar, and the
    loads below only fork their parsing workers from a single-threaded process."""

    monitor_interval = 0


def start_moto(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("moto server did not start within 30 s")


def distinct_pngs(count: int) -> list[bytes]:
    """``count`` different 32x32 PNGs, generated a thousand at a time (bounded memory)."""
    pngs: list[bytes] = []
    for seed, start in enumerate(range(0, count, IMAGES_PER_SEED), start=1):
        images = synthetic.synthetic_images(min(IMAGES_PER_SEED, count - start), seed=seed)
        pngs += [synthetic.png_bytes(image) for image in images]
    return pngs


def write_capture(s3, records: int, files: int, distinct: int) -> int:
    """Upload the synthetic capture, record ``i`` showing image ``i % distinct``; returns its
    size in bytes."""
    pngs = distinct_pngs(distinct)
    start = datetime(2024, 10, 15, 14, 0, tzinfo=timezone.utc)
    per_file = -(-records // files)

    def one_file(index: int) -> int:
        first = index * per_file
        rng = np.random.default_rng(index)
        lines = []
        for i in range(first, min(first + per_file, records)):
            top = float(rng.uniform(0.5, 1.0))
            moment = start + timedelta(milliseconds=50 * i)
            lines.append(
                synthetic.capture_record(
                    pngs[i % distinct],
                    [top, 1 - top] if i % 3 else [1 - top, top],
                    moment,
                    event_id=f"event-{i}",
                    inference_id=f"inference-{i}",
                    output_encoding="BASE64" if i % 2 else "JSON",
                )
            )
        body = ("\n".join(lines) + "\n").encode()
        key = f"{PREFIX}/AllTraffic/{start + timedelta(milliseconds=50 * first):%Y/%m/%d/%H}/"
        s3.put_object(Bucket=BUCKET, Key=f"{key}{index:05d}-bench.jsonl", Body=body)
        return len(body)

    with ThreadPoolExecutor(max_workers=4) as pool:
        sizes = list(_Progress(pool.map(one_file, range(files)), total=files, desc="upload"))
    return sum(sizes)


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of its reaped children (the parsing workers)."""
    times = []
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        times.append(usage.ru_utime + usage.ru_stime)
    return times[0], times[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument(
        "--distinct",
        type=int,
        default=1000,
        help="different images among the records (as a load test cycling through a test set); "
        "--distinct equal to --records: every input is new, nothing is decoded only once",
    )
    args = parser.parse_args()

    port = launcher.free_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.pop("AWS_PROFILE", None)
    server = start_moto(port)
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        started = time.perf_counter()
        size = write_capture(s3, args.records, args.files, args.distinct)
        print(
            f"capture: {args.records:,} records ({args.distinct:,} distinct images) in "
            f"{args.files} objects, {size / 1e6:,.1f} MB "
            f"(written in {time.perf_counter() - started:.1f} s)"
        )
        uri = f"s3://{BUCKET}/{PREFIX}"
        rss_before = peak_rss_mb()
        for label, processes in (("threads only", 0), ("default", None)):
            own_before, workers_before = cpu_seconds()
            started = time.perf_counter()
            parsed = load_capture(s3, uri, n_classes=len(LABELS), processes=processes)
            seconds = time.perf_counter() - started
            own, workers = cpu_seconds()
            own_us = (own - own_before) / len(parsed) * 1e6
            workers_us = (workers - workers_before) / len(parsed) * 1e6
            print(
                f"load ({label}, {processes if processes is not None else os.cpu_count()} "
                f"processes): {len(parsed):,} records in {seconds:.1f} s = "
                f"{len(parsed) / seconds:,.0f} records/s, {size / 1e6 / seconds:,.0f} MB/s; "
                f"{own_us + workers_us:.0f} us CPU per record ({own_us:.0f} in this process, "
                f"{workers_us:.0f} in its workers)"
            )
            del parsed
        print(
            f"peak RSS of this process: {rss_before:,.0f} MB before loading, "
            f"{peak_rss_mb():,.0f} MB after"
        )
        with tempfile.TemporaryDirectory() as workdir:
            work = Path(workdir)
            baseline = work / "baseline.json"
            document = synthetic.baseline(
                synthetic.synthetic_images(2000, seed=0),
                LABELS,
                {"bicycle": 0.5, "motorcycle": 0.5},
            )
            baseline.write_text(json.dumps(document))
            cpu_before = sum(cpu_seconds())
            started = time.perf_counter()
            result = build_report(
                ReportOptions(
                    capture_uri=uri, baseline_path=baseline, reports_dir=work / "reports"
                ),
                s3,
            )
            seconds = time.perf_counter() - started
            cpu = sum(cpu_seconds()) - cpu_before
            html_mb = result.html.stat().st_size / 1e6
            print(
                f"full report: {seconds:.1f} s ({cpu:.1f} s CPU) for "
                f"{result.summary['records']:,} records (report.html {html_mb:.1f} MB, "
                f"drift verdict: {result.summary['drift']['verdict']})"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
