"""One load-test run, from options to the results files.

Order of work: check the options (nothing starts when they are wrong), look at what is deployed
(state machine, Lambda sizes, endpoint instance type and capture sampling), estimate the cost
(and ask on AWS), pick the images (and upload the altered ones), switch faults on (local stack
only), start and wait for the executions, switch faults off, read every history, build one record
per image, check the data capture, write the files. Once the executions have run, nothing they
did is lost to a failing call: a phase that fails (the histories, the capture check, the local
stack's counters) is named in the summary's ``failed_phases``, its figures are ``null``, the files
are written with every record, and then the run ends with ``ResultsIncomplete``. Ctrl-C (or
SIGTERM) once executions are being started does not lose them either: starting and waiting stop,
the phases not yet done are skipped (one in progress is named ``interrupted`` in
``failed_phases``), the files are written with every image (``NotStarted.Interrupted`` for those
never started, lost for executions still running, which are left running), the summary says
``"interrupted": true`` and the run ends with ``Interrupted``.

Endpoint invocations (what the capture check compares with): the classify Task attempts that
ended ``TaskSucceeded`` in the run's histories, retries included. The classify Lambda makes one
InvokeEndpoint call per attempt (its SDK does not retry: the state machine's Retry does, and
each retry is a task attempt in the history), so each counted attempt is exactly one call that
returned the model's answer, and SageMaker captures exactly the calls that return an answer; a
call that failed (an injected fault, a throttle, a timeout) returned none and is not captured.
The ``InferenceId`` of each counted call is read from the same event's output; it is unique per
image (execution name, or ``<execution name>-<item index>`` in a batch), so the capture records
are matched to the calls id by id (and by time, within the run's first start and last stop).

This module is the only place where the target matters: faults and the capture flush exist on
the local stack only; the cost confirmation is for AWS only.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from loadtest import capture, cost, submit
from loadtest.accounting import ExecutionRecord, failures, summarize
from loadtest.errors import (
    BatchTooLarge,
    ConfirmationRequired,
    Declined,
    FaultsNotSupported,
    Interrupted,
    InvalidArguments,
    LocalStackControlError,
    ResultsIncomplete,
    TooManyExecutions,
    WorkflowNotDeployed,
)
from loadtest.faults import control, counters_delta, endpoint_counters, endpoint_faults
from loadtest.history import HistoryFacts, fetch_history, function_name, parse_history
from loadtest.images import Item, plan_items, read_test_keys, upload_drift, with_drift_keys
from loadtest.results import display_path, report_paths, write_results
from loadtest.schedule import poisson_arrivals
from loadtest.tracker import MIN_POLL_S, PROGRESS_POLL_S, Tracker, describe_all
from settings import CliError, answered_yes, get_logger, outputs, repo_root

log = get_logger("loadtest")

MODES = ("burst", "stream", "batch")
CONFIRM_ABOVE_USD = 1.0
# Step Functions' limit on the data of a state (an execution's input, a state's output), in
# bytes of UTF-8.
MAX_STATE_BYTES = 256 * 1024
# Capture on the local stack is written on flush; on AWS it appears within minutes.
CAPTURE_WAIT_S = {"local": (30.0, 0.5), "aws": (900.0, 30.0)}
HISTORY_THREADS = 8
INTERRUPTED_PHASE = "interrupted"  # a phase of failed_phases that Ctrl-C stopped
# The longest sleep or lock wait the platform allows (about 292 years): longer ones overflow.
MAX_WAIT_S = threading.TIMEOUT_MAX
T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    mode: str
    n: int = 200
    rate: float = 20.0
    duration: float = 60.0
    concurrency: int = 16
    drift: int = 0
    faults: float = 0.0
    max_error_rate: float = 0.2
    max_executions: int = 5000
    yes: bool = False
    seed: int | None = None
    wait_timeout: float = 600.0
    reports_dir: Path = field(default_factory=lambda: repo_root() / "reports")


@dataclass(frozen=True)
class Deployment:
    """The names ``make deploy`` wrote to the serving outputs."""

    state_machine_arn: str
    batch_state_machine_arn: str
    endpoint_name: str
    data_bucket: str
    capture_s3_uri: str
    classify_function: str

    @classmethod
    def from_outputs(cls) -> "Deployment":
        values = outputs("serving")
        names = ("state_machine_arn", "batch_state_machine_arn", "endpoint_name", "data_bucket")
        missing = [name for name in names + ("capture_s3_uri",) if not values.get(name)]
        classify = (values.get("lambda_function_names") or {}).get("classify_image")
        if not classify:
            missing.append("lambda_function_names.classify_image")
        if missing:
            raise WorkflowNotDeployed(
                f"the serving outputs lack {', '.join(missing)}: run `make deploy`"
            )
        return cls(
            state_machine_arn=values["state_machine_arn"],
            batch_state_machine_arn=values["batch_state_machine_arn"],
            endpoint_name=values["endpoint_name"],
            data_bucket=values["data_bucket"],
            capture_s3_uri=values["capture_s3_uri"],
            classify_function=classify,
        )


@dataclass(frozen=True)
class Clients:
    """One client per service, shared by all threads (boto3 clients are thread-safe)."""

    sfn: object
    s3: object
    awslambda: object
    sagemaker: object

    @classmethod
    def create(cls, concurrency: int) -> "Clients":
        config = Config(
            max_pool_connections=max(32, 2 * concurrency + HISTORY_THREADS),
            retries={"mode": "standard", "max_attempts": 8},
            connect_timeout=10,
            read_timeout=60,
        )
        session = boto3.session.Session()
        return cls(
            sfn=session.client("stepfunctions", config=config),
            s3=session.client("s3", config=config),
            awslambda=session.client("lambda", config=config),
            sagemaker=session.client("sagemaker", config=config),
        )


@dataclass(frozen=True)
class Workflow:
    """What is deployed, as far as the cost and the capture check need to know."""

    lambda_memory_mb: dict[str, int]
    instance_type: str
    instance_count: int
    capture_sampling: float | None  # None: data capture is off


@dataclass
class Outcome:
    """Everything a run produced (also what the tests and the benchmark read)."""

    run: dict
    summary: dict
    records: list[ExecutionRecord]
    problems: list[str]
    json_path: Path
    csv_path: Path


def check_options(options: Options, target: str) -> None:
    """Refuse bad arguments before anything is created or started."""
    if options.mode not in MODES:
        raise InvalidArguments(f"--mode must be one of {', '.join(MODES)}, not {options.mode!r}")
    if options.mode in ("burst", "batch") and options.n < 1:
        raise InvalidArguments(f"--n must be at least 1, not {options.n}")
    if options.mode == "stream" and not (
        finite_positive(options.rate) and finite_positive(options.duration)
    ):
        raise InvalidArguments("--rate and --duration must be finite and positive in stream mode")
    if options.concurrency < 1:
        raise InvalidArguments(f"--concurrency must be at least 1, not {options.concurrency}")
    if options.drift not in (0, 1):
        raise InvalidArguments(f"--drift must be 0 or 1, not {options.drift}")
    if not 0.0 <= options.faults < 1.0:
        raise InvalidArguments(f"--faults must lie in [0, 1), not {options.faults}")
    if not 0.0 <= options.max_error_rate <= 1.0:
        raise InvalidArguments(f"--max-error-rate must lie in [0, 1], not {options.max_error_rate}")
    if options.max_executions < 1:
        raise InvalidArguments(f"--max-executions must be at least 1, not {options.max_executions}")
    if not finite_positive(options.wait_timeout):
        raise InvalidArguments(
            f"--wait-timeout must be finite and positive, not {options.wait_timeout}"
        )
    # The run sleeps and waits for these spans: the platform's timers refuse longer ones.
    spans = [("--wait-timeout", options.wait_timeout)]
    if options.mode == "stream":
        spans.append(("--duration", options.duration))
    for name, seconds in spans:
        if seconds > MAX_WAIT_S:
            raise InvalidArguments(f"{name} must be at most {MAX_WAIT_S:.0f} s, not {seconds:g}")
    if options.seed is not None and options.seed < 0:
        raise InvalidArguments(f"--seed must be 0 or above, not {options.seed}")
    if options.faults > 0 and target != "local":
        raise FaultsNotSupported(
            f"--faults works on the local stack only (TARGET=local), not TARGET={target}: "
            "a real endpoint cannot be made to fail on purpose"
        )


def finite_positive(value: float) -> bool:
    """Above 0 and finite (``inf`` and ``nan`` are not)."""
    return math.isfinite(value) and value > 0


def lambda_functions(definition: dict) -> set[str]:
    """Names of the Lambda functions the Task states of an ASL definition invoke."""
    names: set[str] = set()
    stack = [definition]
    while stack:
        node = stack.pop()
        for state in (node.get("States") or {}).values():
            resource = state.get("Resource", "")
            params = state.get("Parameters") or state.get("Arguments") or {}
            if resource.startswith("arn:aws:states:::lambda:invoke"):
                if isinstance(params.get("FunctionName"), str):
                    names.add(function_name(params["FunctionName"]))
            elif ":lambda:" in resource and ":function:" in resource:
                names.add(function_name(resource))
            for key in ("Iterator", "ItemProcessor"):
                if isinstance(state.get(key), dict):
                    stack.append(state[key])
            stack.extend(branch for branch in state.get("Branches", []) if isinstance(branch, dict))
    return names


def discover(clients: Clients, deployment: Deployment, state_machine_arn: str) -> Workflow:
    """Read the deployed state machine, its Lambdas and the endpoint (nothing is changed)."""
    try:
        definition = json.loads(
            clients.sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"]
        )
        memory = {
            name: clients.awslambda.get_function_configuration(FunctionName=name)["MemorySize"]
            for name in sorted(lambda_functions(definition))
        }
        endpoint = clients.sagemaker.describe_endpoint(EndpointName=deployment.endpoint_name)
        config = clients.sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
    except ClientError as err:
        raise WorkflowNotDeployed(f"{err}: run `make deploy`") from None
    variant = config["ProductionVariants"][0]
    live = (endpoint.get("ProductionVariants") or [{}])[0]
    capture_config = config.get("DataCaptureConfig") or {}
    # EnableCapture is optional in a DataCaptureConfig and defaults to enabled.
    enabled = bool(capture_config) and capture_config.get("EnableCapture", True)
    return Workflow(
        lambda_memory_mb=memory,
        instance_type=variant.get("InstanceType", "serverless"),
        instance_count=int(
            live.get("CurrentInstanceCount") or variant.get("InitialInstanceCount", 1)
        ),
        capture_sampling=(
            float(capture_config.get("InitialSamplingPercentage", 0)) if enabled else None
        ),
    )


def planned_wall_s(options: Options, count: int) -> float:
    """A rough duration for the cost estimate made before the run."""
    if options.mode == "stream":
        return options.duration + 10.0
    if options.mode == "burst":
        return count * 0.5 / options.concurrency + 10.0
    return count * 0.05 + 10.0


def confirm(estimate_usd: float, options: Options, target: str) -> None:
    """On AWS, above ``CONFIRM_ABOVE_USD``: ``--yes``, or a "yes" typed on a terminal."""
    if target != "aws" or estimate_usd <= CONFIRM_ABOVE_USD or options.yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRequired(
            f"the run is estimated at ${estimate_usd:.2f} (above ${CONFIRM_ABOVE_USD:.2f}) and "
            "there is no terminal to confirm it: pass --yes (make loadtest YES=1)"
        )
    if not answered_yes(f"Estimated AWS cost ${estimate_usd:.2f}. Start the run? [y/N] "):
        raise Declined("run not started")


def run_loadtest(
    options: Options,
    deployment: Deployment,
    clients: Clients,
    target: str,
    local_url: str = "",
) -> Outcome:
    """Run the load test described by ``options`` and write its results."""
    check_options(options, target)
    seed = options.seed if options.seed is not None else secrets.randbits(32)
    started = datetime.now(timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    run_id = f"lt-{stamp}-{secrets.token_hex(3)}"
    offsets: list[float] = []
    count = options.n
    if options.mode == "stream":
        expected = options.rate * options.duration
        if expected > options.max_executions:  # refused before drawing as many arrivals
            raise TooManyExecutions(
                f"a stream of {options.rate:g}/s for {options.duration:g} s would send about "
                f"{expected:.0f} images through the workflow, above --max-executions "
                f"{options.max_executions} (make loadtest MAX_EXECUTIONS=...)"
            )
        offsets = poisson_arrivals(options.rate, options.duration, seed)
        count = len(offsets)
    if count == 0:
        raise InvalidArguments(
            f"a stream of {options.rate}/s for {options.duration} s drew no arrival"
        )
    if count > options.max_executions:
        raise TooManyExecutions(
            f"the run would send {count} images through the workflow, above --max-executions "
            f"{options.max_executions} (make loadtest MAX_EXECUTIONS=...)"
        )
    batch = options.mode == "batch"
    state_machine_arn = (
        deployment.batch_state_machine_arn if batch else deployment.state_machine_arn
    )
    workflow = discover(clients, deployment, state_machine_arn)
    memory_mb = max(workflow.lambda_memory_mb.values(), default=128)
    planned = cost.estimate(
        cost.planned_usage(
            images=count,
            executions=1 if batch else count,
            lambda_memory_mb=memory_mb,
            instance_type=workflow.instance_type,
            instances=workflow.instance_count,
            wall_s=planned_wall_s(options, count),
        )
    )
    print(
        f"{run_id}: {options.mode}, {count} images, estimated AWS cost "
        f"${planned['total']:.4f} ({cost.PRICES_AS_OF})",
        file=sys.stderr,
    )
    confirm(planned["total"], options, target)

    keys = read_test_keys(clients.s3, deployment.data_bucket)
    items = plan_items(keys, count, bool(options.drift), seed)
    if batch:
        planned = with_drift_keys(run_id, items)
        size = submit.largest_batch_state_bytes(deployment.data_bucket, planned)
        if size > MAX_STATE_BYTES:
            raise BatchTooLarge(
                f"{count} images make up to {size} bytes of state data (the batch's input or its"
                f" output, one result per image), Step Functions allows {MAX_STATE_BYTES}: use a"
                " smaller N"
            )
    items = upload_drift(clients.s3, deployment.data_bucket, run_id, items, seed)

    local = target == "local"
    counters_before = endpoint_counters(local_url, deployment.endpoint_name) if local else None
    # From here on, a phase whose calls fail once the executions have started leaves its figures
    # unknown (None), is named in the summary's `failed_phases`, and the records are written all
    # the same.
    failed: dict[str, str] = {}
    submissions, ended, interrupted = _drive(
        options,
        deployment,
        clients,
        state_machine_arn,
        run_id,
        items,
        offsets,
        local_url,
        seed,
        on_faults_off_error=lambda err: failed.update({"switching faults off": str(err)}),
    )
    endpoint_seen = None
    if local:
        endpoint_seen = _attempt(
            failed,
            "endpoint counters",
            lambda: counters_delta(
                counters_before, endpoint_counters(local_url, deployment.endpoint_name)
            ),
        )
    histories = None  # after Ctrl-C, the histories and the capture wait are not begun
    if not interrupted:
        histories = _attempt(failed, "histories", lambda: _histories(clients, list(ended)))
    parsed = {} if histories is None else histories
    records = (_batch_records if batch else _single_records)(submissions, ended, parsed)
    finished = datetime.now(timezone.utc)

    invocations, inference_ids = endpoint_invocations(parsed, deployment.classify_function)
    checked = None
    if histories is not None:  # without them there are no invocations to compare with
        checked = _attempt(
            failed,
            "capture check",
            lambda: _check_capture(
                clients,
                deployment,
                workflow,
                target,
                local_url,
                records,
                inference_ids,
                invocations,
            ),
        )
    capture_records, capture_check, capture_problems = checked or (None, "not checked", [])
    interrupted = interrupted or INTERRUPTED_PHASE in failed.values()
    core = summarize(records)
    known = histories is not None
    breakdown = cost.estimate(_usage(parsed, workflow, core.wall_s)) if known else None
    summary = {
        "submitted": core.submitted,
        "succeeded": core.succeeded,
        "by_status": core.by_status,
        "lost": core.lost,
        "throughput": round(core.throughput, 2),
        "latency_ms": {k: None if v is None else round(v, 1) for k, v in core.latency_ms.items()},
        "capture_records": capture_records,
        "endpoint_invocations": invocations if known else None,
        "estimated_cost_usd": breakdown["total"] if breakdown else None,
        "error_rate": round(core.error_rate, 4),
        "retries": sum(facts.retries for facts in parsed.values()) if known else None,
        "alerts_published": (
            sum(
                1
                for facts in parsed.values()
                for a in facts.attempts
                if a.resource_type == "sns" and a.outcome == "succeeded"
            )
            if known
            else None
        ),
        "wall_s": round(core.wall_s, 3),
        "max_start_lag_ms": (
            round(max((s.lag_s for s in submissions), default=0.0) * 1000, 1)
            if options.mode == "stream"
            else None
        ),
        "capture_check": capture_check,
        "local_stack_endpoint": endpoint_seen,
        "cost_breakdown_usd": breakdown,
        "prices_as_of": cost.PRICES_AS_OF,
        "failed_phases": failed,
        "interrupted": interrupted,
    }
    run = {
        "run_id": run_id,
        "mode": options.mode,
        "target": target,
        "started": started.isoformat(timespec="milliseconds"),
        "finished": finished.isoformat(timespec="milliseconds"),
        "n": count,
        "rate": options.rate if options.mode == "stream" else None,
        "duration": options.duration if options.mode == "stream" else None,
        "concurrency": None if batch else options.concurrency,
        "drift": options.drift,
        "faults": options.faults,
        "state_machine_arn": state_machine_arn,
        "seed": seed,
    }
    json_path, csv_path = report_paths(options.reports_dir, stamp)
    write_results(json_path, csv_path, display_path(csv_path, repo_root()), run, summary, records)
    if interrupted:
        not_started = sum(1 for r in records if r.error == submit.INTERRUPTED)
        phases = [phase for phase, error in failed.items() if error == INTERRUPTED_PHASE]
        raise Interrupted(
            f"{not_started} of {len(records)} images never started, {core.lost} still running "
            "(their executions were left running; counted as lost)"
            + (f", {' and '.join(phases)} not finished" if phases else "")
            + f"; the records are in {display_path(json_path, repo_root())}"
        )
    if failed:
        raise ResultsIncomplete(
            "; ".join(f"{phase} failed: {error}" for phase, error in failed.items())
            + f"; the {len(records)} records gathered are in "
            + display_path(json_path, repo_root())
        )
    problems = failures(core, options.max_error_rate)
    if capture_check == "mismatch":
        problems.append(
            f"{capture_records} capture records for {invocations} endpoint invocations: "
            + ", ".join(capture_problems)
        )
    if batch:
        problems += batch_count_problems(ended, records)
    return Outcome(run, summary, records, problems, json_path, csv_path)


def _attempt(failed: dict[str, str], phase: str, call: Callable[[], T]) -> T | None:
    """``call()``, or ``None`` when an AWS or local-stack call in it fails or Ctrl-C stops it
    (noted in ``failed``: the error, or ``INTERRUPTED_PHASE``)."""
    try:
        return call()
    except (ClientError, BotoCoreError, LocalStackControlError) as err:
        log.warning("phase failed", extra={"fields": {"phase": phase, "error": str(err)}})
        failed[phase] = str(err)
    except KeyboardInterrupt:
        failed[phase] = INTERRUPTED_PHASE
    return None


def _drive(
    options: Options,
    deployment: Deployment,
    clients: Clients,
    state_machine_arn: str,
    run_id: str,
    items: list[Item],
    offsets: list[float],
    local_url: str,
    seed: int,
    on_faults_off_error: Callable[[LocalStackControlError], None],
) -> tuple[list[submit.Submission], dict[str, dict], bool]:
    """Start the executions (faults on, if asked, drawn from the run's ``seed``) and wait for
    all of them, or the deadline. Failing to switch the faults off again does not lose the
    executions: the error goes to ``on_faults_off_error``. Ctrl-C (SIGTERM) once executions
    are being started stops starting and waiting: the started ones are described once, the
    items never started are ``NotStarted.Interrupted``, and the third value is ``True``."""
    executions = 1 if options.mode == "batch" else len(items)
    in_flight = threading.Semaphore(options.concurrency)
    with (
        endpoint_faults(
            local_url, deployment.endpoint_name, options.faults, seed, on_faults_off_error
        ),
        tqdm(
            total=len(items), desc="submitted", unit="img", position=0, disable=None
        ) as submitted_bar,
        tqdm(
            total=executions, desc="finished", unit="exe", position=1, disable=None
        ) as finished_bar,
    ):

        def ended(arn: str) -> None:
            in_flight.release()
            finished_bar.update()

        # Only a burst starts the next execution when one ends: it needs endings noticed soon.
        min_poll_s = MIN_POLL_S if options.mode == "burst" else PROGRESS_POLL_S
        with Tracker(
            clients.sfn, state_machine_arn, on_end=ended, min_poll_s=min_poll_s
        ) as tracker:
            submissions: list[submit.Submission] | None = None
            interrupted = False
            try:
                if options.mode == "burst":
                    submissions = submit.burst(
                        clients.sfn,
                        state_machine_arn,
                        deployment.data_bucket,
                        run_id,
                        items,
                        options.concurrency,
                        tracker,
                        in_flight,
                        submitted_bar,
                        options.wait_timeout,
                    )
                elif options.mode == "stream":
                    submissions = submit.stream(
                        clients.sfn,
                        state_machine_arn,
                        deployment.data_bucket,
                        run_id,
                        items,
                        offsets,
                        options.concurrency,
                        tracker,
                        submitted_bar,
                    )
                else:
                    submissions = [
                        submit.batch(
                            clients.sfn,
                            state_machine_arn,
                            deployment.data_bucket,
                            run_id,
                            items,
                            tracker,
                        )
                    ]
                    submitted_bar.update(len(items))
                deadline = time.monotonic() + options.wait_timeout
                left = tracker.wait(options.wait_timeout)
            except submit.StartsInterrupted as stop:
                submissions, interrupted = stop.submissions, True
            except KeyboardInterrupt:
                if submissions is None:  # inside the batch's StartExecution: unknown, not written
                    raise
                interrupted = True  # while waiting: every start has been made
            if interrupted:
                # Ctrl-C: no more waiting; what started is described once and written.
                deadline, left = time.monotonic(), tracker.pending
            started = tracker.ended + sorted(left)
    ended = describe_all(clients.sfn, started, deadline)
    if len(ended) < len(started):
        log.warning(
            "executions still running at the deadline",
            extra={"fields": {"n": len(started) - len(ended), "interrupted": interrupted}},
        )
    return submissions, ended, interrupted


def endpoint_invocations(
    histories: dict[str, HistoryFacts], classify_function: str
) -> tuple[int, Counter[str]]:
    """Endpoint calls that returned an answer, and how many of them sent each InferenceId."""
    calls = [
        attempt
        for facts in histories.values()
        for attempt in facts.attempts
        if attempt.function == classify_function and attempt.outcome == "succeeded"
    ]
    return len(calls), Counter(a.inference_id for a in calls if a.inference_id)


def batch_count_problems(ended: dict[str, dict], records: list[ExecutionRecord]) -> list[str]:
    """The batch's own ``counts`` must agree with its items (a check of the workflow's output)."""
    problems = []
    for description in ended.values():
        output = json.loads(description.get("output") or "null")
        counts = output.get("counts") if isinstance(output, dict) else None
        if description["status"] != "SUCCEEDED" or not isinstance(counts, dict):
            continue
        items = Counter("ok" if r.status == "SUCCEEDED" else r.error or r.status for r in records)
        if dict(items) != counts:
            problems.append(f"the batch output counts {counts}, its items {dict(items)}")
    return problems


def _histories(clients: Clients, arns: list[str]) -> dict[str, HistoryFacts]:
    """The parsed history of every ended execution (read in parallel, after the run)."""

    def one(arn: str) -> tuple[str, HistoryFacts]:
        return arn, parse_history(fetch_history(clients.sfn, arn))

    facts: dict[str, HistoryFacts] = {}
    with (
        ThreadPoolExecutor(HISTORY_THREADS) as pool,
        tqdm(total=len(arns), desc="histories", unit="exe", disable=None) as bar,
    ):
        try:
            for arn, parsed in pool.map(one, arns):
                facts[arn] = parsed
                bar.update()
        except KeyboardInterrupt:  # Ctrl-C: the histories not yet read are not read at all
            pool.shutdown(cancel_futures=True)
            raise
    return facts


def _error_of(description: dict, facts: HistoryFacts | None) -> str:
    if description["status"] == "SUCCEEDED":
        return ""
    return description.get("error") or (facts.execution_error if facts else "") or ""


def _single_records(
    submissions: list[submit.Submission],
    ended: dict[str, dict],
    histories: dict[str, HistoryFacts],
) -> list[ExecutionRecord]:
    """One record per image of a burst or stream: its execution's status, error and times."""
    records = []
    for sub in submissions:
        item = sub.items[0]
        description = ended.get(sub.execution_arn)
        if sub.error:
            record = ExecutionRecord("", item.s3_key, "NOT_STARTED", sub.error, None, None)
        elif description is None:
            record = ExecutionRecord(sub.execution_arn, item.s3_key, "RUNNING", "", None, None)
        else:
            record = ExecutionRecord(
                sub.execution_arn,
                item.s3_key,
                description["status"],
                _error_of(description, histories.get(sub.execution_arn)),
                description["startDate"],
                description["stopDate"],
            )
        record.drift_kind = item.drift_kind
        records.append(record)
    return records


def batch_items(output: object) -> list[dict] | None:
    """The per-item results list of a batch execution's output (``{"items": [...], ...}``)."""
    if isinstance(output, dict):
        if isinstance(output.get("items"), list):
            return output["items"]
        for value in output.values():
            found = batch_items(value) if isinstance(value, dict) else None
            if found is not None:
                return found
    return None


def _batch_records(
    submissions: list[submit.Submission],
    ended: dict[str, dict],
    histories: dict[str, HistoryFacts],
) -> list[ExecutionRecord]:
    """One record per image of the batch, from the item results (in input order).

    An item's times are those of its Map iteration when the history has them. When the batch
    execution as a whole failed, every image ends with the execution's error; an item missing
    from the output (or naming another key than the one sent in its place) counts as lost.
    """
    (sub,) = submissions
    arn = sub.execution_arn
    description = ended.get(arn)
    facts = histories.get(arn)
    records = []
    if sub.error or description is None:
        status, error = ("NOT_STARTED", sub.error) if sub.error else ("RUNNING", "")
        for item in sub.items:
            records.append(
                ExecutionRecord(arn, item.s3_key, status, error, None, None, item.drift_kind)
            )
        return records
    results = None
    if description["status"] == "SUCCEEDED":
        results = batch_items(json.loads(description.get("output") or "null")) or []
    iterations = facts.map_iterations if facts else {}
    for index, item in enumerate(sub.items):
        start, stop = iterations.get(index, (None, None))
        if start is None or stop is None:
            start, stop = description["startDate"], description["stopDate"]
        if results is None:
            status, error = description["status"], _error_of(description, facts)
        elif index < len(results) and results[index].get("s3_key") == item.s3_key:
            item_status = str(results[index].get("status", ""))
            status, error = ("SUCCEEDED", "") if item_status == "ok" else ("FAILED", item_status)
        else:
            status, error, start, stop = "MISSING", "", None, None
        records.append(
            ExecutionRecord(arn, item.s3_key, status, error, start, stop, item.drift_kind)
        )
    return records


def _check_capture(
    clients: Clients,
    deployment: Deployment,
    workflow: Workflow,
    target: str,
    local_url: str,
    records: list[ExecutionRecord],
    inference_ids: Counter[str],
    invocations: int,
) -> tuple[int | None, str, list[str]]:
    """The run's capture records, ``ok`` when they match the invocations one to one, and why not."""
    if workflow.capture_sampling is None:
        return None, "capture off", []
    unnamed = invocations - sum(inference_ids.values())
    problems = [f"{unnamed} endpoint invocations sent no InferenceId"] if unnamed else []
    starts = [r.start for r in records if r.start is not None]
    stops = [r.stop for r in records if r.stop is not None]
    if not starts or not stops:
        problems += capture.differences(inference_ids, Counter())
        return 0, "mismatch" if problems else "ok", problems
    if target == "local":
        control(local_url, "flush", {})
    timeout_s, poll_s = CAPTURE_WAIT_S[target]
    full = workflow.capture_sampling >= 100.0
    found = capture.wait_for_records(
        clients.s3,
        deployment.capture_s3_uri,
        deployment.endpoint_name,
        inference_ids,
        min(starts),
        max(stops),
        timeout_s=timeout_s if full else 0.0,
        poll_s=poll_s,
    )
    count = sum(found.values())
    if not full:
        return count, f"sampling {workflow.capture_sampling:g}%: not compared", []
    problems += capture.differences(inference_ids, found)
    return count, "mismatch" if problems else "ok", problems


def _usage(histories: dict[str, HistoryFacts], workflow: Workflow, wall_s: float) -> cost.Usage:
    """What the run consumed, measured from the histories."""
    lambda_attempts = [
        a for facts in histories.values() for a in facts.attempts if a.resource_type == "lambda"
    ]
    gb_seconds = 0.0
    for attempt in lambda_attempts:
        if attempt.started is not None:
            seconds = max(0.001, (attempt.ended - attempt.started).total_seconds())
            memory = workflow.lambda_memory_mb.get(attempt.function, 128)
            gb_seconds += seconds * memory / 1024.0
    return cost.Usage(
        transitions=sum(facts.transitions for facts in histories.values()),
        lambda_requests=len(lambda_attempts),
        lambda_gb_seconds=gb_seconds,
        endpoint_instance_type=workflow.instance_type,
        endpoint_instances=workflow.instance_count,
        wall_s=wall_s,
    )


def target_from_env() -> tuple[str, str]:
    """``(TARGET, local stack URL)``; the URL is empty for AWS."""
    target = os.environ.get("TARGET", "local")
    if target not in CAPTURE_WAIT_S:
        raise CliError(f"TARGET must be local or aws, not {target!r}")
    if target == "aws":
        return target, ""
    url = os.environ.get("AWS_ENDPOINT_URL", "")
    if not url:
        raise LocalStackControlError(
            "TARGET=local needs AWS_ENDPOINT_URL, the local stack's URL (`make loadtest` sets it)"
        )
    return target, url
