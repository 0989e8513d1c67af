"""The load test against the real workflow on the local stack: every mode, drift and faults.

The workflow (asl/, the Lambda zip, an endpoint with data capture) is deployed once for the
module by ``tests/deploy_helpers.py``. Its model scores images by brightness, so the outcome of
each image is known from its key: ``bright`` and ``dark`` images are classified, ``grey`` ends
``LowConfidence`` and ``broken`` (not an image) ends ``UnsupportedImageFormat``. Each test checks
the run's accounting image by image against that, and the capture records against the endpoint
invocations.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest

from deploy_helpers import Deployed, deploy_workflow, drain_queue, png, write_outputs
from loadtest.faults import control
from loadtest.images import DRIFT_PREFIX, plan_items
from loadtest.results import CSV_COLUMNS, table
from loadtest.run import Clients, Deployment, Options, Outcome, run_loadtest
from loadtest.schedule import poisson_arrivals

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]
IMAGES = {
    **{f"test/bicycle/bright{i}.png": png(250 - i) for i in range(5)},
    **{f"test/motorcycle/dark{i}.png": png(5 + i) for i in range(5)},
    "test/bicycle/grey.png": png(128),
    "test/motorcycle/broken.png": b"this is not an image",
}


def expected_outcome(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if name.startswith("grey"):
        return "LowConfidence"
    if name.startswith("broken"):
        return "UnsupportedImageFormat"
    return "succeeded"


@pytest.fixture(scope="module")
def deployed(local_stack, tmp_path_factory) -> Deployed:
    work = tmp_path_factory.mktemp("loadtest")
    deployment = deploy_workflow(work, IMAGES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTPUTS_DIR", str(work / "outputs"))
        write_outputs(work / "outputs", "serving", deployment.outputs)
        yield deployment


def run(local_stack: str, tmp_path: Path, **options) -> Outcome:
    options.setdefault("seed", 11)
    options.setdefault("max_error_rate", 1.0)
    return run_loadtest(
        Options(reports_dir=tmp_path / "reports", **options),
        Deployment.from_outputs(),
        Clients.create(options.get("concurrency", 16)),
        "local",
        local_stack,
    )


def check_exact_accounting(outcome: Outcome, images: int, with_faults: bool = False) -> None:
    """Every image has one outcome, the expected one; capture records == invocations."""
    summary, records = outcome.summary, outcome.records
    assert summary["submitted"] == len(records) == images == outcome.run["n"]
    assert summary["lost"] == 0
    assert sum(summary["by_status"].values()) == images
    assert summary["by_status"] == dict(Counter(r.outcome for r in records))
    for record in records:
        wanted = expected_outcome(record.s3_key) if not record.drift_kind else None
        if wanted is not None and not (with_faults and record.outcome == "EndpointError"):
            assert record.outcome == wanted, record
        assert record.latency_ms is not None and record.latency_ms > 0
    # One capture record per endpoint call that returned an answer, and nothing else.
    seen = summary["local_stack_endpoint"]
    assert summary["capture_check"] == "ok"
    assert summary["capture_records"] == summary["endpoint_invocations"] == seen["answered"]
    assert seen["captured"] == seen["answered"]
    answered = sum(1 for r in records if r.outcome in ("succeeded", "LowConfidence"))
    assert summary["endpoint_invocations"] == answered
    check_files(outcome)


def check_files(outcome: Outcome) -> None:
    document = json.loads(outcome.json_path.read_text())
    assert document["run"] == outcome.run and document["summary"] == outcome.summary
    assert Path(document["executions_csv"]).name == outcome.csv_path.name
    for key in ("run_id", "mode", "target", "started", "finished", "n", "rate", "duration"):
        assert key in document["run"]
    for key in ("concurrency", "drift", "faults", "state_machine_arn"):
        assert key in document["run"]
    with outcome.csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS
    assert len(rows) == outcome.summary["submitted"]
    assert [r["s3_key"] for r in rows] == [r.s3_key for r in outcome.records]


def test_burst_of_10(deployed, local_stack, tmp_path):
    outcome = run(local_stack, tmp_path, mode="burst", n=10, concurrency=4)
    check_exact_accounting(outcome, 10)
    run_id = outcome.run["run_id"]
    names = [r.execution_arn.rsplit(":", 1)[1] for r in outcome.records]
    assert names == [f"{run_id}-{i:06d}" for i in range(10)]
    assert outcome.summary["throughput"] > 0
    assert outcome.summary["estimated_cost_usd"] > 0


def test_stream_for_3_seconds(deployed, local_stack, tmp_path):
    outcome = run(local_stack, tmp_path, mode="stream", rate=4.0, duration=3.0, seed=5)
    offsets = poisson_arrivals(4.0, 3.0, 5)
    check_exact_accounting(outcome, len(offsets))
    # Open loop: execution i is started at its planned offset from the run's start, never
    # before it (a burst would start them all at once). A lower bound only: a loaded machine
    # makes starts later, never earlier. The stack's startDate has millisecond precision.
    started = datetime.fromisoformat(outcome.run["started"])
    for record in outcome.records:
        index = int(record.execution_arn.rsplit("-", 1)[1])
        planned = started + timedelta(seconds=offsets[index])
        assert record.start >= planned - timedelta(milliseconds=1), (index, record.start)
    assert outcome.run["rate"] == 4.0 and outcome.run["duration"] == 3.0


def test_batch_of_20_with_drift(deployed, local_stack, tmp_path):
    s3 = boto3.client("s3")
    bucket = deployed.outputs["data_bucket"]

    def dataset() -> dict[str, str]:
        listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: o["ETag"] for o in listing if not o["Key"].startswith("loadtest/")}

    before = dataset()
    outcome = run(local_stack, tmp_path, mode="batch", n=20, drift=1)
    check_exact_accounting(outcome, 20)
    assert dataset() == before  # the dataset is only read
    run_id = outcome.run["run_id"]
    drifted = [r for r in outcome.records if r.drift_kind]
    # 30 % of 20 are altered, except those whose source is `broken` (it cannot be altered).
    planned = plan_items(deployed.test_keys, 20, drift=True, seed=outcome.run["seed"])
    assert sum(1 for p in planned if p.drift_kind) == 6
    assert len(drifted) == sum(1 for p in planned if p.drift_kind and "broken" not in p.s3_key)
    assert len(drifted) >= 4
    assert all(r.s3_key.startswith(f"{DRIFT_PREFIX}/{run_id}/{r.drift_kind}/") for r in drifted)
    assert len({r.execution_arn for r in outcome.records}) == 1
    assert outcome.run["concurrency"] is None
    # 20 images from 12 keys: some key is classified twice in the batch, and still every call
    # has exactly one capture record (checked by id, one id per item, in the accounting above).
    assert len({r.s3_key for r in outcome.records}) < 20


def test_faults_are_retried_or_alerted_and_accounting_stays_exact(deployed, local_stack, tmp_path):
    drain_queue(deployed.alert_queue_url)
    # 60 executions: at least one injected 503 among their 60+ endpoint calls all but surely.
    outcome = run(local_stack, tmp_path, mode="burst", n=60, concurrency=8, faults=0.3)
    check_exact_accounting(outcome, 60, with_faults=True)
    seen = outcome.summary["local_stack_endpoint"]
    faults = seen["injected_faults"]
    # The failed calls (503s, model errors) returned nothing, so nothing was captured for them.
    assert seen["calls"] == seen["answered"] + seen["model_errors"] + (
        faults["model_error"] + faults["service_unavailable"]
    )
    failed = Counter(r.outcome for r in outcome.records if r.outcome != "succeeded")
    # Transient faults (503s, stalls) were all retried away; each model error ended its
    # execution as EndpointError (not retried: the model, not the service, failed).
    assert faults["service_unavailable"] + faults["stall"] > 0
    assert "EndpointThrottled" not in failed
    # Step Functions is the one retry layer: each 503 was one failed classify attempt in a
    # history and one retry there (the function's SDK does not retry), shown in the table.
    assert faults["service_unavailable"] > 0
    assert outcome.summary["retries"] == faults["service_unavailable"]
    assert re.search(
        rf"^retries \(in histories\) +{outcome.summary['retries']}$",
        table(outcome.run, outcome.summary),
        re.M,
    )
    assert failed["EndpointError"] == faults["model_error"] and seen["model_errors"] == 0
    # Whatever still failed was alerted, once per execution, with its error name.
    names = {r.execution_arn.rsplit(":", 1)[1] for r in outcome.records}
    alerts = [m for m in drain_queue(deployed.alert_queue_url) if m.get("execution") in names]
    assert Counter(m["error"] for m in alerts) == failed
    assert outcome.summary["alerts_published"] == sum(failed.values())
    # Faults are off again after the run.
    assert control(local_stack, "stats")["fault_rates"] == {}


def test_cli_exits_1_when_the_error_rate_is_above_the_limit(deployed, local_stack, tmp_path):
    env = {**os.environ, "TARGET": "local"}
    command = [sys.executable, "-m", "loadtest", "--mode", "burst", "--n", str(len(IMAGES))]
    command += ["--seed", "1", "--reports-dir", str(tmp_path), "--max-error-rate", "0.05"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    # All 12 images once: `broken` fails, so the error rate is 1/12 > 0.05.
    assert result.returncode == 1, result.stderr
    assert "error: RunFailed: error rate 0.083 above --max-error-rate 0.05" in result.stderr
    assert "UnsupportedImageFormat" in result.stdout and "lost" in result.stdout
    (written,) = tmp_path.glob("loadtest-*.json")
    summary = json.loads(written.read_text())["summary"]
    assert summary["by_status"] == {
        "LowConfidence": 1,
        "UnsupportedImageFormat": 1,
        "succeeded": 10,
    }


def run_cli(tmp_path: Path, outputs: dict, *arguments: str) -> subprocess.CompletedProcess:
    """``python -m loadtest`` on the local stack, with these serving outputs."""
    write_outputs(tmp_path / "outputs", "serving", outputs)
    env = {**os.environ, "TARGET": "local", "OUTPUTS_DIR": str(tmp_path / "outputs")}
    command = [sys.executable, "-m", "loadtest", "--reports-dir", str(tmp_path / "reports")]
    return subprocess.run(
        [*command, *arguments], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_phase_failing_after_the_executions_keeps_every_record(deployed, tmp_path):
    # The capture check reads a bucket that does not exist: S3 answers NoSuchBucket once the
    # executions have run. Their records are written all the same, and the summary says why the
    # capture figures are missing.
    outputs = {**deployed.outputs, "capture_s3_uri": "s3://no-such-capture-bucket/datacapture"}
    result = run_cli(tmp_path, outputs, "--mode", "burst", "--n", "4", "--seed", "1")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ResultsIncomplete: capture check failed: "), last
    assert "NoSuchBucket" in last and "the 4 records gathered are in " in last
    (written,) = (tmp_path / "reports").glob("loadtest-*.json")
    summary = json.loads(written.read_text())["summary"]
    assert list(summary["failed_phases"]) == ["capture check"]
    assert (summary["capture_check"], summary["capture_records"]) == ("not checked", None)
    assert summary["submitted"] == 4 and summary["lost"] == 0
    assert summary["endpoint_invocations"] == summary["local_stack_endpoint"]["answered"]
    with written.with_suffix(".csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and all(row["execution_arn"] and row["stop"] for row in rows)
    assert not list((tmp_path / "reports").glob(".*.tmp"))


def test_an_aws_error_before_the_run_is_one_line_and_leaves_no_altered_image(deployed, tmp_path):
    # A data set of its own, one source of which S3 refuses to read (archived: InvalidObjectState).
    s3 = boto3.client("s3")
    bucket = f"loadtest-archived-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    keys = [f"test/bicycle/bright{i}.png" for i in range(5)] + ["test/motorcycle/archived.png"]
    lines = [f"{i}\t0\t{key}" for i, key in enumerate(keys)]
    s3.put_object(Bucket=bucket, Key="test.lst", Body="\n".join(lines) + "\n")
    for key in keys[:-1]:
        s3.put_object(Bucket=bucket, Key=key, Body=png(250))
    s3.put_object(Bucket=bucket, Key=keys[-1], Body=png(5), StorageClass="GLACIER")
    seed = next(
        seed
        for seed in range(100)
        if any(
            it.drift_kind and it.source_key == keys[-1] for it in plan_items(keys, 20, True, seed)
        )
    )
    outputs = {**deployed.outputs, "data_bucket": bucket}
    arguments = ["--mode", "batch", "--n", "20", "--drift", "1", "--seed", str(seed)]
    result = run_cli(tmp_path, outputs, *arguments)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: AwsCallFailed: ")
    assert "InvalidObjectState" in result.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"{DRIFT_PREFIX}/")
    assert not (tmp_path / "reports").exists()  # nothing was started


def test_a_batch_whose_output_would_pass_the_state_limit_is_refused_before_it_starts(
    deployed, tmp_path
):
    # 2,200 images: the input (about 200 KiB, drift keys included) fits Step Functions' 256 KiB,
    # the output (a result per image: label and confidence) would not (about 285 KiB).
    s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
    bucket, machine = deployed.outputs["data_bucket"], deployed.outputs["batch_state_machine_arn"]

    def state() -> tuple[list, list]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{DRIFT_PREFIX}/").get("Contents", [])
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        return sorted(o["Key"] for o in listed), sorted(e["name"] for e in executions)

    before = state()
    arguments = ["--mode", "batch", "--n", "2200", "--drift", "1", "--seed", "3"]
    result = run_cli(tmp_path, deployed.outputs, *arguments)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: BatchTooLarge: 2200 images make up to "), last
    assert "use a smaller N" in last
    assert state() == before  # no drift image uploaded, no execution started
    assert not (tmp_path / "reports").exists()


def test_ctrl_c_writes_every_image_and_every_started_execution(deployed, local_stack, tmp_path):
    # A 2/s stream for 2 minutes, interrupted once a few executions have started: the started
    # ones are in the files (ended or lost), the rest are `NotStarted.Interrupted`.
    sfn = boto3.client("stepfunctions")
    machine = deployed.outputs["state_machine_arn"]

    def names() -> set[str]:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
        return {e["name"] for page in pages for e in page["executions"]}

    before = names()
    write_outputs(tmp_path / "outputs", "serving", deployed.outputs)
    env = {**os.environ, "TARGET": "local", "OUTPUTS_DIR": str(tmp_path / "outputs")}
    arguments = ["--mode", "stream", "--rate", "2", "--duration", "120", "--seed", "4"]
    arguments += ["--faults", "0.2", "--reports-dir", str(tmp_path / "reports")]
    with (tmp_path / "stderr").open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "loadtest", *arguments],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            while len(names() - before) < 3 and process.poll() is None:
                time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
        finally:
            process.kill()
    last = (tmp_path / "stderr").read_text().strip().splitlines()[-1]
    assert code == 130, last
    assert last.startswith("error: Interrupted: "), last
    started = names() - before
    (written,) = (tmp_path / "reports").glob("loadtest-*.json")
    document = json.loads(written.read_text())
    summary = document["summary"]
    with written.with_suffix(".csv").open() as handle:
        rows = list(csv.DictReader(handle))
    planned = len(poisson_arrivals(2.0, 120.0, 4))
    assert summary["interrupted"] is True
    assert summary["submitted"] == len(rows) == document["run"]["n"] == planned
    assert sum(summary["by_status"].values()) + summary["lost"] == planned
    assert {row["execution_arn"].rsplit(":", 1)[-1] for row in rows if row["execution_arn"]} == (
        started
    )
    not_started = [row for row in rows if not row["execution_arn"]]
    assert not_started and {row["error"] for row in not_started} == {"NotStarted.Interrupted"}
    assert summary["by_status"]["NotStarted.Interrupted"] == len(not_started)
    assert not list((tmp_path / "reports").glob(".*.tmp"))
    assert control(local_stack, "stats")["fault_rates"] == {}  # switched off on the way out
