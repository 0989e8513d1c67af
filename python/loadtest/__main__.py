"""``python -m loadtest``: drive the deployed workflow and account for every image.

Run through ``make loadtest`` (which starts the local stack and passes MODE, N, RATE, DURATION,
CONCURRENCY, DRIFT, FAULTS, MAX_ERROR_RATE, MAX_EXECUTIONS and YES). Exit status: 0 when nothing
was lost and the error rate is within ``--max-error-rate``; 1 when the run finished but failed
those checks (or the capture check), or when a phase after the executions failed (the files are
written all the same, ``failed_phases`` in their summary says what is missing); 2 for a usage or
deployment error, or an AWS call that failed before anything was started; 130 when interrupted
(Ctrl-C, SIGTERM): once executions were being started, the files are written first, with every
image (``Interrupted``).
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from loadtest.errors import AwsCallFailed, AwsNotConfigured, AwsUnreachable, RunFailed
from loadtest.results import display_path, table
from loadtest.run import (
    MODES,
    Clients,
    Deployment,
    Options,
    check_options,
    finite_positive,
    run_loadtest,
    target_from_env,
)
from settings import repo_root, run_cli


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0 (``inf`` and ``nan`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not finite_positive(value):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text}")
    return value


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest", description="Load test of the deployed classification workflow."
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        required=True,
        help="burst: N executions, CONCURRENCY in flight; stream: Poisson "
        "arrivals at RATE/s for DURATION s; batch: one fan-out execution of N images",
    )
    parser.add_argument("--n", type=int, default=200, help="images (burst, batch)")
    parser.add_argument(
        "--rate", type=positive_number, default=20.0, help="executions per second (stream)"
    )
    parser.add_argument("--duration", type=positive_number, default=60.0, help="seconds (stream)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="burst: executions in flight; stream: parallel StartExecution calls",
    )
    parser.add_argument(
        "--drift",
        type=int,
        default=0,
        choices=(0, 1),
        help="1 = 30%% of the images are altered (dark, blur, noise)",
    )
    parser.add_argument(
        "--faults",
        type=float,
        default=0.0,
        help="local stack only: fraction of endpoint calls that fail or stall",
    )
    parser.add_argument(
        "--max-error-rate",
        type=float,
        default=0.2,
        help="exit 1 above this share of images ending in an error other than " "LowConfidence",
    )
    parser.add_argument(
        "--max-executions",
        type=int,
        default=5000,
        help="refuse a run that sends more images than this through the workflow",
    )
    parser.add_argument(
        "--yes", action="store_true", help="TARGET=aws: skip the confirmation of a run above $1"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of image choice, drift and arrivals (default: random, recorded)",
    )
    parser.add_argument(
        "--wait-timeout",
        type=positive_number,
        default=600.0,
        help="seconds to wait after the last start before counting executions lost",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=repo_root() / "reports",
        help="where loadtest-<time>.json and .csv are written",
    )
    args = parser.parse_args(argv)
    return Options(
        mode=args.mode,
        n=args.n,
        rate=args.rate,
        duration=args.duration,
        concurrency=args.concurrency,
        drift=args.drift,
        faults=args.faults,
        max_error_rate=args.max_error_rate,
        max_executions=args.max_executions,
        yes=args.yes,
        seed=args.seed,
        wait_timeout=args.wait_timeout,
        reports_dir=args.reports_dir,
    )


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C: the fault injection is switched off on the way out."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    options = parse_args(argv)
    target, local_url = target_from_env()
    check_options(options, target)  # before reading outputs: a wrong command says so first
    try:
        outcome = run_loadtest(
            options,
            Deployment.from_outputs(),
            Clients.create(options.concurrency),
            target,
            local_url,
        )
    except EndpointConnectionError as err:
        hint = " (is the local stack running? `make up`)" if target == "local" else ""
        raise AwsUnreachable(f"{err}{hint}") from None
    except (NoRegionError, NoCredentialsError, PartialCredentialsError) as err:
        raise AwsNotConfigured(f"{err} (set AWS_REGION / credentials, or use make)") from None
    except (ClientError, BotoCoreError) as err:
        raise AwsCallFailed(str(err)) from None
    print(table(outcome.run, outcome.summary))
    print(f"results: {display_path(outcome.json_path, repo_root())}")
    if outcome.problems:
        raise RunFailed("; ".join(outcome.problems))
    return 0


if __name__ == "__main__":
    run_cli(main)
