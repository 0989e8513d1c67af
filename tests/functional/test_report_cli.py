"""``python -m monitor.report``: the whole report from a capture in S3 (moto), end to end.

Three reports are built once each: one with everything (valid records in both encodings,
malformed lines, the two real SageMaker files, a load test), one of drifted inputs, one with
nothing to report.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws
from PIL import Image

from local_aws.launcher import free_port
import monitor.report as report
from monitor import synthetic
from monitor.capture import BadCaptureUri
from monitor.overview import WIDTH as OVERVIEW_WIDTH
from monitor.records import MALFORMED_REASONS
from settings import MissingOutputs
from monitor_support import (
    BUCKET,
    CAPTURE_URI,
    FIXTURES,
    PREFIX,
    REGION,
    T0,
    baseline_document,
    isolate_aws,
    malformed_lines,
    record_key,
    valid_lines,
    write_loadtest,
    write_outputs,
)

MODEL_BUCKET = "scones-models-test"
MODEL_DATA_URL = f"s3://{MODEL_BUCKET}/models/run-1/model.tar.gz"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CAPTURE_FIGURES = {
    "confidence_by_class",
    "predictions_over_time",
    "low_confidence_rate",
    "confidence_over_time",
    "class_mix",
    "input_drift",
}
LOADTEST_FIGURES = {"loadtest_latency", "loadtest_outcomes"}


@dataclass
class Report:
    html: Path
    summary: dict
    printed: list[str]

    @property
    def folder(self) -> Path:
        return self.html.parent


@contextlib.contextmanager
def workspace(root: Path, *, loadtest: bool = False):
    """moto S3 with the capture and model buckets, serving outputs, reports/ and models/.

    One at a time: moto's backends are shared by nested mocks.
    """
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        isolate_aws(patch)
        patch.setattr(report, "REPORTS_DIR", root / "reports")
        patch.setattr(report, "MODELS_DIR", root / "models")
        patch.setenv("OUTPUTS_DIR", str(root / "outputs"))
        destination, endpoint = CAPTURE_URI.rsplit("/", 1)
        write_outputs(
            root / "outputs",
            "serving",
            {"capture_s3_uri": destination, "endpoint_name": endpoint, "threshold": "0.9"},
        )
        (root / "outputs" / "model.tfvars.json").write_text(
            json.dumps({"model_package_arn": "arn:pkg/1", "model_data_url": MODEL_DATA_URL})
        )
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=MODEL_BUCKET)
        baseline = json.dumps(baseline_document(seed=0, n=600))
        s3.put_object(Bucket=MODEL_BUCKET, Key="models/run-1/baseline.json", Body=baseline)
        if loadtest:
            write_loadtest(root / "reports", rows=40)
        yield s3


def put(s3, key: str, lines: list[str]) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())


def run_report(*args: str) -> Report:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert report.main(list(args)) == 0
    printed = out.getvalue().strip().splitlines()
    html = Path(printed[-1])
    return Report(html, json.loads((html.parent / "summary.json").read_text()), printed)


@pytest.fixture(scope="module")
def images():
    return synthetic.synthetic_images(120, seed=1)


@pytest.fixture(scope="module")
def full(tmp_path_factory, images):
    expected = valid_lines(images)
    broken = malformed_lines(expected[0]["line"])
    with workspace(tmp_path_factory.mktemp("full"), loadtest=True) as s3:
        put(s3, record_key(T0, "05-12-000-a"), [e["line"] for e in expected[:60]])
        later = [e["line"] for e in expected[60:]] + sum(broken.values(), [])
        put(s3, record_key(T0 + timedelta(minutes=2), "07-12-000-b"), later)
        for path in sorted(FIXTURES.glob("*.jsonl")):
            key = f"{PREFIX}/AllTraffic/2024/10/16/09/{path.name}"
            s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        result = run_report()
    return result, expected, broken


@pytest.fixture(scope="module")
def drifted(tmp_path_factory, images):
    dark = synthetic.shift_images(images, "dark")
    with workspace(tmp_path_factory.mktemp("drifted")) as s3:
        put(s3, record_key(T0), [e["line"] for e in valid_lines(dark)])
        return run_report()


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    with workspace(tmp_path_factory.mktemp("empty")):
        return run_report()


def test_the_last_line_printed_is_the_report(full):
    result, _, _ = full
    assert result.html.name == "report.html" and result.html.is_file()
    assert re.fullmatch(r"\d{8}T\d{6}Z", result.folder.name)
    assert result.printed[0].startswith("records: 124 ")


def test_exact_counts(full):
    result, expected, broken = full
    summary = result.summary

    assert summary["records"] == len(expected) + 4  # + the four real SageMaker records
    assert summary["files"] == 4
    assert summary["malformed"] == {k: len(broken[k]) for k in MALFORMED_REASONS}
    assert summary["malformed_total"] == sum(len(v) for v in broken.values())
    assert summary["threshold"] == 0.9
    confidences = [e["confidence"] for e in expected] + [
        0.9388836622238159,
        0.7674675583839417,
        0.9923672080039978,
        0.7920417785644531,
    ]
    assert summary["low_confidence"]["count"] == sum(c < 0.9 for c in confidences)
    predicted = [e["predicted"] for e in expected] + ["bicycle"] + ["motorcycle"] * 3
    assert {k: v["count"] for k, v in summary["classes"].items()} == {
        "bicycle": predicted.count("bicycle"),
        "motorcycle": predicted.count("motorcycle"),
    }
    assert summary["window"]["first"] == "2024-10-15T14:05:12+00:00"  # a real record
    assert summary["window"]["last"] == "2024-10-16T09:26:03+00:00"
    assert summary["baseline"]["source"] == f"s3://{MODEL_BUCKET}/models/run-1/baseline.json"


def test_the_table_of_inferences_is_saved(full):
    result, expected, _ = full
    frame = pd.read_parquet(result.folder / "captures.parquet")

    assert len(frame) == result.summary["records"]
    synthetic_rows = frame[frame["event_id"].str.startswith("event-")]
    assert synthetic_rows["event_id"].tolist() == [e["event_id"] for e in expected]
    assert synthetic_rows["confidence"].tolist() == [e["confidence"] for e in expected]
    assert synthetic_rows["predicted_class"].astype(str).tolist() == [
        e["predicted"] for e in expected
    ]
    assert [list(p) for p in synthetic_rows["probabilities"]] == [
        e["probabilities"] for e in expected
    ]
    real = frame[frame["event_id"] == "695344c2-3858-45e5-a14d-33deaf4310c7"].iloc[0]
    assert real["predicted_class"] == "bicycle" and real["confidence"] == 0.9388836622238159


def test_every_figure_is_produced(full):
    result, _, _ = full
    names = {p.stem for p in result.folder.glob("*.png")}

    assert names == CAPTURE_FIGURES | LOADTEST_FIGURES | {"overview"}
    for path in result.folder.glob("*.png"):
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000, path.name


def picture(path: Path) -> Image.Image:
    """A PNG checked whole (every chunk and its CRC), then opened for its pixels."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    image = Image.open(path)
    image.load()
    return image


def test_the_overview_shows_the_summary_above_every_figure(full):
    result, _, _ = full
    overview = picture(result.folder / "overview.png")
    figures = [picture(result.folder / f"{name}.png") for name in CAPTURE_FIGURES]
    figures += [picture(result.folder / f"{name}.png") for name in LOADTEST_FIGURES]

    assert overview.width == OVERVIEW_WIDTH
    # the figures, at their own size, two side by side at most, below the summary table
    assert sum(f.height for f in figures) / 2 + 300 < overview.height
    assert overview.height < sum(f.height for f in figures) + 1_000
    pixels = np.asarray(overview.convert("RGB"))
    for figure in figures:
        top = top_of(np.asarray(figure.convert("RGB")), pixels)
        assert top is not None and top > 300, figure.filename  # whole, and below the table


def top_of(small: np.ndarray, big: np.ndarray) -> int | None:
    """The row where ``small`` appears pixel for pixel inside ``big``, or ``None``."""
    height, width, _ = small.shape
    middle = small[height // 2].tobytes()
    for y in range(height // 2, big.shape[0] - (height - height // 2) + 1):
        row = big[y].tobytes()
        start = row.find(middle)
        while start != -1:
            x, top = start // 3, y - height // 2
            if start % 3 == 0 and np.array_equal(big[top : top + height, x : x + width], small):
                return top
            start = row.find(middle, start + 1)
    return None


def test_the_page_is_self_contained_and_references_no_missing_file(full):
    result, _, _ = full
    page = result.html.read_text()

    sources = re.findall(r'<img[^>]*\bsrc="([^"]+)"', page)
    assert len(sources) == len(CAPTURE_FIGURES | LOADTEST_FIGURES)
    for source in sources:
        assert source.startswith("data:image/png;base64,") or (result.folder / source).is_file()
    links = re.findall(r'\b(?:href|src)="([^"#]+)"', page)
    assert 'href="overview.png"' in page
    assert all(link.startswith("data:") or (result.folder / link).is_file() for link in links)
    for listed in result.summary["files_written"]:
        assert (result.folder / listed).is_file()
    assert {p.name for p in result.folder.iterdir()} == set(result.summary["files_written"])


def test_the_page_states_the_numbers_and_the_rule(full):
    result, _, broken = full
    page = result.html.read_text()

    assert "<b>124</b> from 4 capture files" in page
    assert f"bad_probabilities: {len(broken['bad_probabilities'])}," in page
    assert "PSI &lt; 0.1: no drift" in page and "chi-square" in page
    assert "loadtest-20241015T140000Z.json" in page
    assert "LowConfidence" in page and "p95 485 ms" in page
    assert "Altered (drift) images sent" in page


def test_clean_inputs_show_no_drift(full):
    result, _, _ = full
    drift = result.summary["drift"]
    assert drift["verdict"] == "no drift"
    assert [f["verdict"] for f in drift["features"]] == ["no drift"] * 5


def test_drifted_inputs_show_drift(drifted):
    drift = drifted.summary["drift"]
    assert drift["verdict"] == "drift"
    by_feature = {f["feature"]: f for f in drift["features"]}
    assert by_feature["brightness"]["verdict"] == "drift"
    assert by_feature["brightness"]["captured_mean"] < by_feature["brightness"]["baseline_mean"]
    assert drifted.printed[-2].endswith("drift: drift")


def test_zero_records_give_a_clear_message_and_an_empty_report(empty):
    assert empty.printed[0].startswith(f"no capture records under {CAPTURE_URI} (all records)")
    assert empty.summary["records"] == 0
    assert empty.summary["drift"]["verdict"] == "not enough data"
    page = empty.html.read_text()
    assert "No data." in page and "<img" not in page
    assert [p.name for p in empty.folder.glob("*.png")] == ["overview.png"]
    overview = picture(empty.folder / "overview.png")
    assert overview.width == OVERVIEW_WIDTH and 300 < overview.height < 600  # the table alone
    assert 'href="overview.png"' in page
    assert len(pd.read_parquet(empty.folder / "captures.parquet")) == 0


def test_a_capture_of_unusable_lines_says_what_was_skipped(tmp_path, images):
    lines = [e["line"] for e in valid_lines(images[:4])]
    for index in (1, 2, 3):  # a model of three classes against the baseline's two labels
        record = json.loads(lines[index])
        record["captureData"]["endpointOutput"].update(data="[0.2, 0.3, 0.5]", encoding="JSON")
        lines[index] = json.dumps(record)
    with workspace(tmp_path) as s3:
        put(s3, record_key(T0), lines)
        since = (T0 + timedelta(seconds=1)).isoformat()
        result = run_report("--since", since)

    assert result.summary["records"] == 0
    assert result.printed[0] == (
        f"no usable capture records under {CAPTURE_URI} (from {since} to the last record "
        "(end excluded)); skipped malformed lines: 3 (bad_probabilities: 3); records outside "
        "the window: 1."
    )
    assert "send traffic" not in result.html.read_text()


def test_time_window_and_out_options(tmp_path, images):
    expected = valid_lines(images[:10])
    with workspace(tmp_path) as s3:
        put(s3, record_key(T0), [e["line"] for e in expected])
        since = (T0 + timedelta(seconds=4)).isoformat()
        until = (T0 + timedelta(seconds=10)).isoformat()
        result = run_report("--since", since, "--until", until, "--out", str(tmp_path / "mine"))

        assert result.html == tmp_path / "mine" / "report.html"
        assert result.summary["records"] == 3
        assert result.summary["outside_window"] == 7
        with pytest.raises(report.OutputExists):
            run_report("--out", str(tmp_path / "mine"))
        (tmp_path / "a-file").write_text("")
        with pytest.raises(report.OutputNotWritable, match="cannot create the folder"):
            run_report("--out", str(tmp_path / "a-file" / "report"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine")]


def test_dollar_signs_in_names_are_drawn_as_text(tmp_path, images):
    """A `$...$` in an S3 prefix, a class label or an error name is text, not a mathtext
    formula that fails to render (here `\\foo`, an unknown symbol) and takes the report down."""
    prefix = "capture$\\foo$/scones-endpoint"
    baseline = baseline_document(seed=0, n=600)
    baseline["labels"] = ["bi$\\cycle$", "motorcycle"]
    baseline["class_prior"] = dict(zip(baseline["labels"], [0.5, 0.5]))
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    with workspace(tmp_path, loadtest=True) as s3:
        for path in (tmp_path / "reports").glob("loadtest-*"):  # the JSON and the CSV
            path.write_text(path.read_text().replace("LowConfidence", "Low$\\\\Confidence$"))
        key = f"{prefix}/AllTraffic/{T0:%Y/%m/%d/%H}/00-00-000-a.jsonl"
        s3.put_object(Bucket=BUCKET, Key=key, Body=valid_lines(images[:8])[0]["line"].encode())
        uri = f"s3://{BUCKET}/{prefix}"
        result = run_report("--capture-uri", uri, "--baseline", str(tmp_path / "baseline.json"))

    assert result.summary["records"] == 1 and result.summary["capture_uri"] == uri
    assert "bi$\\cycle$" in result.summary["classes"]
    assert "Low$\\Confidence$" in result.summary["loadtest"]["outcomes"]
    assert (result.folder / "overview.png").is_file()
    assert (result.folder / "class_mix.png").is_file()


@pytest.mark.parametrize(
    "args, error",
    [
        (["--since", "yesterday"], report.BadWindow),
        (["--since", "2024-10-16", "--until", "2024-10-15"], report.BadWindow),
        (["--threshold", "2"], report.BadThreshold),
        (["--threshold", "high"], report.BadThreshold),
        ([], MissingOutputs),
        (["--capture-uri", "http://not-s3"], BadCaptureUri),
    ],
)
def test_bad_options_are_named_errors(tmp_path, monkeypatch, args, error):
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))

    with pytest.raises(error):
        report.options_from_args(args)


@pytest.mark.parametrize(
    "serving, uri",
    [
        ({"capture_s3_uri": "s3://b/datacapture", "endpoint_name": "ep"}, "s3://b/datacapture/ep"),
        (
            {"capture_s3_uri": "s3://b/datacapture/ep/", "endpoint_name": "ep"},
            "s3://b/datacapture/ep",
        ),
        ({"capture_s3_uri": "s3://b/datacapture"}, "s3://b/datacapture"),
    ],
)
def test_capture_location_from_the_serving_outputs(tmp_path, monkeypatch, serving, uri):
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))
    write_outputs(
        tmp_path, "serving", {**serving, "model_data_url": "s3://m/models/r/model.tar.gz"}
    )

    options = report.options_from_args([])

    assert options.capture_uri == uri
    assert options.model_data_url == "s3://m/models/r/model.tar.gz"
    assert options.threshold == report.DEFAULT_THRESHOLD


def test_the_command_prints_a_named_error_without_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(OUTPUTS_DIR=str(tmp_path), AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")

    result = subprocess.run(
        [sys.executable, "-m", "monitor.report", "--since", "2024-10-16"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("error: MissingOutputs: ")
    assert "make deploy" in result.stderr and "Traceback" not in result.stderr
