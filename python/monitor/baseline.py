"""The training baseline the report compares captured traffic with: labels, class prior, image stats.

Training writes ``baseline.json`` next to ``model.tar.gz`` (``s3://<model_bucket>/models/<run-id>/``
and locally ``models/<run-id>/``)::

    {"labels": ["bicycle", "motorcycle"], "class_prior": {"bicycle": 0.5, "motorcycle": 0.5},
     "image_stats": {"brightness": {"mean", "std", "quantiles": [...],
                                    "histogram": {"bins": [...], "counts": [...]}}, ...}}

The baseline of the *deployed* model is the one to compare with, so it is looked up in this
order: an explicit path, the sibling of the deployed ``model_data_url``, the newest local
``models/*/baseline.json``. A baseline that exists but is malformed is an error, not a silent
report without drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from monitor.image_stats import STAT_NAMES
from settings import CliError


class BaselineNotFound(CliError):
    """The baseline file given explicitly does not exist."""


class BadBaseline(CliError):
    """``baseline.json`` is not in the format training writes."""


@dataclass
class Baseline:
    labels: list[str]
    source: str
    class_prior: dict[str, float] = field(default_factory=dict)
    image_stats: dict[str, dict] = field(default_factory=dict)


def parse_baseline(data: Any, source: str) -> Baseline:
    """Validate the parts the report uses; unknown extra keys are allowed."""
    if not isinstance(data, dict):
        raise BadBaseline(f"{source}: expected a JSON object")
    labels = data.get("labels")
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(label, str) and label for label in labels)
        or len(set(labels)) != len(labels)
    ):
        raise BadBaseline(f"{source}: `labels` must be a non-empty list of distinct names")
    prior = data.get("class_prior", {})
    if not isinstance(prior, dict) or not all(_is_number(v) for v in prior.values()):
        raise BadBaseline(f"{source}: `class_prior` must map class names to numbers")
    stats = data.get("image_stats", {})
    if not isinstance(stats, dict):
        raise BadBaseline(f"{source}: `image_stats` must be an object")
    for name, stat in stats.items():
        if name in STAT_NAMES:
            _check_stat(stat, f"{source}: image_stats.{name}")
    return Baseline(
        labels=list(labels),
        source=source,
        class_prior={str(k): float(v) for k, v in prior.items()},
        image_stats={name: stats[name] for name in STAT_NAMES if name in stats},
    )


def _check_stat(stat: Any, where: str) -> None:
    if not isinstance(stat, dict):
        raise BadBaseline(f"{where} must be an object")
    histogram = stat.get("histogram")
    if not isinstance(histogram, dict):
        raise BadBaseline(f"{where}.histogram is missing")
    bins, counts = histogram.get("bins"), histogram.get("counts")
    if not (isinstance(bins, list) and isinstance(counts, list) and len(bins) == len(counts) + 1):
        raise BadBaseline(f"{where}.histogram needs `bins` (edges) and one fewer `counts`")
    if not all(_is_number(value) for value in bins + counts):
        raise BadBaseline(f"{where}.histogram holds a value that is not a number")
    if not counts or sum(counts) <= 0 or any(count < 0 for count in counts):
        raise BadBaseline(f"{where}.histogram.counts must be non-negative with a positive sum")
    if any(later <= earlier for earlier, later in zip(bins, bins[1:])):
        raise BadBaseline(f"{where}.histogram.bins must increase")
    quantiles = stat.get("quantiles")
    if quantiles is not None and (
        not isinstance(quantiles, list)
        or len(quantiles) < 2
        or not all(_is_number(value) for value in quantiles)
        or quantiles != sorted(quantiles)
    ):
        raise BadBaseline(f"{where}.quantiles must be a sorted list of at least 2 numbers")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sibling_uri(model_data_url: str) -> str:
    """``s3://b/models/run/model.tar.gz`` -> ``s3://b/models/run/baseline.json``."""
    return model_data_url.rsplit("/", 1)[0] + "/baseline.json"


def _read_s3_json(s3: Any, uri: str) -> Any | None:
    bucket, _, key = uri[len("s3://") :].partition("/")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
            return None
        raise BadBaseline(f"cannot read {uri}: {err}") from err
    except BotoCoreError as err:
        raise BadBaseline(f"cannot read {uri}: {err}") from err
    try:
        return json.loads(body)
    except ValueError as err:
        raise BadBaseline(f"{uri} is not JSON: {err}") from err


def _read_local_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise BadBaseline(f"{path} is not JSON: {err}") from err


def find_baseline(
    s3: Any, explicit: Path | None, model_data_url: str | None, models_dir: Path
) -> tuple[Baseline | None, list[str]]:
    """The baseline to compare with (or ``None``), and the places looked at, for the report."""
    if explicit is not None:
        if not explicit.is_file():
            raise BaselineNotFound(f"{explicit} does not exist")
        return parse_baseline(_read_local_json(explicit), str(explicit)), [str(explicit)]
    looked = []
    if model_data_url:
        uri = sibling_uri(model_data_url)
        looked.append(uri)
        data = _read_s3_json(s3, uri)
        if data is not None:
            return parse_baseline(data, uri), looked
    local = sorted(models_dir.glob("*/baseline.json"), key=lambda p: (p.stat().st_mtime, p.name))
    looked.append(str(models_dir / "*" / "baseline.json"))
    if local:
        return parse_baseline(_read_local_json(local[-1]), str(local[-1])), looked
    return None, looked
