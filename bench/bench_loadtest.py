"""Load-test benchmark: a 60 s Poisson stream at 50 executions/s and a 1000-image batch.

Runs against the deployment of the current TARGET (``make deploy`` first; on the local stack the
targets are p95 end-to-end latency <= 500 ms with 0 lost for the stream, and <= 30 s for the
batch) and prints the figures. Each run also writes its ``reports/loadtest-*.json|csv``.

The measured stream follows a warm-up stream at the same rate (20 s, printed, not judged):
Lambda functions scale out on demand, and each new worker (a cold start, as on AWS) costs the
local stack about 0.75 s of CPU, the work of a few dozen executions on a 2-core machine. The
figures then describe the sustained state that capacity planning needs; the warm-up's own
figures show the cold start.

    .venv/bin/python bench/bench_loadtest.py [--rate 50] [--duration 60] [--warmup 20]
                                             [--batch 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from loadtest.run import Clients, Deployment, Options, Outcome, run_loadtest, target_from_env
from settings import run_cli

STREAM_P95_MS = 500.0
BATCH_S = 30.0


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}"


def show(title: str, outcome: Outcome, wall_s: float) -> None:
    s = outcome.summary
    latency = s["latency_ms"]
    print(f"\n{title}")
    print(f"  submitted {s['submitted']}, lost {s['lost']}, by outcome {s['by_status']}")
    print(
        f"  latency p50/p95/p99 {latency['p50']}/{latency['p95']}/{latency['p99']} ms, "
        f"throughput {s['throughput']:.1f} images/s, max start lag {s['max_start_lag_ms']} ms"
    )
    print(
        f"  capture records {s['capture_records']} / invocations {s['endpoint_invocations']}, "
        f"client wall time {wall_s:.1f} s (including drift, histories and capture check)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="stream executions per second")
    parser.add_argument("--duration", type=float, default=60.0, help="stream seconds")
    parser.add_argument("--batch", type=int, default=1000, help="images of the batch run")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel StartExecution calls")
    parser.add_argument(
        "--warmup", type=float, default=20.0, help="seconds of stream before the measured one"
    )
    args = parser.parse_args()
    target, local_url = target_from_env()
    deployment = Deployment.from_outputs()
    print(f"load-test benchmark, TARGET={target}, machine: {machine()}")

    def run_stream(duration: float, seed: int) -> tuple[Outcome, float]:
        started = time.monotonic()
        options = Options(
            mode="stream",
            rate=args.rate,
            duration=duration,
            concurrency=args.concurrency,
            seed=seed,
            max_error_rate=1.0,
        )
        outcome = run_loadtest(
            options, deployment, Clients.create(args.concurrency), target, local_url
        )
        return outcome, time.monotonic() - started

    if args.warmup > 0:
        warmup, wall_s = run_stream(args.warmup, seed=0)
        show(f"warm-up (not judged): {args.rate:g}/s for {args.warmup:g} s", warmup, wall_s)
    stream, wall_s = run_stream(args.duration, seed=1)
    show(f"stream: {args.rate:g}/s for {args.duration:g} s", stream, wall_s)

    started = time.monotonic()
    batch = run_loadtest(
        Options(mode="batch", n=args.batch, seed=2, max_error_rate=1.0),
        deployment,
        Clients.create(args.concurrency),
        target,
        local_url,
    )
    show(f"batch: {args.batch} images", batch, time.monotonic() - started)
    batch_s = batch.summary["wall_s"]

    p95 = stream.summary["latency_ms"]["p95"]
    stream_ok = p95 is not None and p95 <= STREAM_P95_MS and stream.summary["lost"] == 0
    batch_ok = batch_s <= BATCH_S and batch.summary["lost"] == 0
    default_stream = (args.rate, args.duration) == (50.0, 60.0)
    print("\nsummary")
    print(
        f"  stream p95 {p95} ms, lost {stream.summary['lost']} "
        f"(target for 50/s x 60 s: <= {STREAM_P95_MS:g} ms, 0 lost): "
        + (("met" if stream_ok else "MISSED") if default_stream else "not the target's size")
    )
    print(
        f"  batch of {args.batch}: {batch_s:.1f} s from start to stop, lost "
        f"{batch.summary['lost']} (target for 1000 images: <= {BATCH_S:g} s, 0 lost): "
        + (("met" if batch_ok else "MISSED") if args.batch == 1000 else "not the target's size")
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
