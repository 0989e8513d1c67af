"""Capture files of known content for the monitoring-report tests (tests/*/test_monitor_*,
test_report_*): valid records in both output encodings and one malformed line of each kind."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from monitor import synthetic

REGION = "us-east-1"
BUCKET = "scones-capture-test"
PREFIX = "datacapture/scones-endpoint"
CAPTURE_URI = f"s3://{BUCKET}/{PREFIX}"
LABELS = ["bicycle", "motorcycle"]
PRIOR = {"bicycle": 0.5, "motorcycle": 0.5}
T0 = datetime(2024, 10, 15, 14, 5, 12, 250000, tzinfo=timezone.utc)
FIXTURES = Path(__file__).parent / "fixtures" / "capture"


def isolate_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no endpoint override: nothing can reach the local stack or AWS."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def record_key(moment: datetime, name: str = "00-00-000-test") -> str:
    return f"{PREFIX}/AllTraffic/{moment:%Y/%m/%d/%H}/{name}.jsonl"


def valid_lines(images: np.ndarray, start: datetime = T0, seed: int = 7) -> list[dict]:
    """One record per image, 2 s apart; odd ones BASE64-encoded output, every third without an
    inference id. Returns dicts with the line and the values the parser must find."""
    rng = np.random.default_rng(seed)
    out = []
    for i, image in enumerate(images):
        top = float(rng.uniform(0.5, 1.0))
        probabilities = [top, 1 - top] if i % 4 < 2 else [1 - top, top]
        moment = start + timedelta(seconds=2 * i)
        inference_id = None if i % 3 == 0 else f"inference-{i}"
        line = synthetic.capture_record(
            synthetic.png_bytes(image),
            probabilities,
            moment,
            event_id=f"event-{i}",
            inference_id=inference_id,
            output_encoding="BASE64" if i % 2 else "JSON",
        )
        out.append(
            {
                "line": line,
                "time": moment.replace(microsecond=moment.microsecond // 1000 * 1000),
                "event_id": f"event-{i}",
                "inference_id": inference_id,
                "confidence": max(probabilities),
                "predicted": LABELS[probabilities.index(max(probabilities))],
                "probabilities": probabilities,
            }
        )
    return out


def _mutate(line: str, change) -> str:
    record = json.loads(line)
    change(record)
    return json.dumps(record)


def malformed_lines(template: str) -> dict[str, list[str]]:
    """Broken variants of a valid ``template`` line, by the reason the parser must count."""

    def output(data, encoding="JSON"):
        def change(record):
            record["captureData"]["endpointOutput"].update(data=data, encoding=encoding)

        return change

    def input_data(data, encoding="BASE64"):
        def change(record):
            record["captureData"]["endpointInput"].update(data=data, encoding=encoding)

        return change

    not_png = base64.b64encode(b"this is not an image").decode()
    png = base64.b64decode(json.loads(template)["captureData"]["endpointInput"]["data"])
    truncated = base64.b64encode(png[: len(png) // 2]).decode()
    return {
        "bad_json": ['{"captureData": {', "not json at all", "[1, 2, 3]", '"a string"'],
        "missing_field": [
            _mutate(template, lambda r: r.pop("captureData")),
            _mutate(template, lambda r: r["eventMetadata"].pop("eventId")),
            _mutate(template, lambda r: r["captureData"]["endpointInput"].pop("data")),
            _mutate(template, lambda r: r["captureData"].update(endpointOutput="text")),
        ],
        "bad_time": [
            _mutate(template, lambda r: r["eventMetadata"].update(inferenceTime="yesterday")),
            _mutate(template, lambda r: r["eventMetadata"].update(inferenceTime=12)),
            _mutate(  # a zero time: valid ISO 8601, but beyond what a time axis can draw
                template, lambda r: r["eventMetadata"].update(inferenceTime="0001-01-01T00:00:00Z")
            ),
        ],
        "undecodable_output": [
            _mutate(template, output("[0.5, 0.5")),
            _mutate(template, output("not base64 !!", "BASE64")),
            _mutate(template, output("0.5,0.5", "CSV")),
        ],
        "bad_probabilities": [
            _mutate(template, output('{"probabilities": [0.5, 0.5]}')),
            _mutate(template, output('["0.5", "0.5"]')),
            _mutate(template, output("[0.2, 0.3, 0.5]")),
            _mutate(template, output("[]")),
            _mutate(template, output("[NaN, 0.5]")),
            _mutate(template, output("[" + "9" * 400 + ", 0]")),
            _mutate(template, output("[2.5, -1.5]")),  # logits, not probabilities
        ],
        "undecodable_input": [
            _mutate(template, input_data("%%% not base64 %%%")),
            _mutate(template, input_data(not_png)),
            _mutate(template, input_data(truncated)),
            _mutate(template, input_data("aGVsbG8=", "JSON")),
            _mutate(template, input_data(base64.b64encode(png_bomb()).decode())),
        ],
    }


def png_bomb(side: int = 100_000) -> bytes:
    """A valid little PNG that claims ``side`` x ``side`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(data, zlib.crc32(kind))
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def baseline_document(seed: int = 0, n: int = 600) -> dict:
    return synthetic.baseline(synthetic.synthetic_images(n, seed), LABELS, PRIOR)


def write_outputs(directory: Path, root: str, values: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    document = {k: {"value": v, "type": "string", "sensitive": False} for k, v in values.items()}
    (directory / f"{root}.outputs.json").write_text(json.dumps(document))


def write_loadtest(reports: Path, stamp: str = "20241015T140000Z", rows: int = 40) -> Path:
    """A load-test result in the format ``make loadtest`` writes (JSON + CSV)."""
    reports.mkdir(parents=True, exist_ok=True)
    csv_path = reports / f"loadtest-{stamp}.csv"
    lines = ["execution_arn,s3_key,status,error,start,stop,latency_ms,drift_kind"]
    for i in range(rows):
        status, error = ("FAILED", "LowConfidence") if i % 5 == 0 else ("SUCCEEDED", "")
        start = T0 + timedelta(seconds=i)
        stop = start + timedelta(milliseconds=100 + 10 * i)
        lines.append(
            f"arn:aws:states:{REGION}:123456789012:execution:sm:run-{i},test/bicycle/{i}.png,"
            f"{status},{error},{start.isoformat()},{stop.isoformat()},{100 + 10 * i:.1f},"
            + ("dark" if i % 4 == 0 else "")
        )
    csv_path.write_text("\n".join(lines) + "\n")
    document = {
        "run": {"run_id": "run-test", "mode": "burst", "n": rows},
        "summary": {
            "submitted": rows,
            "succeeded": rows - rows // 5,
            "by_status": {"succeeded": rows - rows // 5, "LowConfidence": rows // 5},
            "lost": 0,
            "throughput": 12.5,
            "latency_ms": {"p50": 295.0, "p95": 485.0, "p99": 495.0},
            "endpoint_invocations": rows,
            "capture_records": rows,
        },
        "executions_csv": f"reports/loadtest-{stamp}.csv",
    }
    path = reports / f"loadtest-{stamp}.json"
    path.write_text(json.dumps(document))
    return path
