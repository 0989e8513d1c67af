"""What the Lambda unit tests share: moto-backed AWS, cold-started handler modules, images."""

from __future__ import annotations

import importlib
import io
import json
import os
import re
from pathlib import Path
from types import ModuleType

import requests
from PIL import Image

EVENTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "events"
SERVING_MAIN_TF = Path(__file__).resolve().parents[2] / "terraform" / "serving" / "main.tf"
REGION = "us-east-1"
BUCKET = "scones-data"
ENDPOINT = "scones-endpoint"
LABELS = ["bicycle", "motorcycle"]
# moto's documented way to choose what sagemaker-runtime InvokeEndpoint answers.
ENDPOINT_RESULTS_API = "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results"


def event(name: str) -> dict:
    """A shared event fixture, ``tests/fixtures/events/<name>.json``."""
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


def isolate_from_real_aws(monkeypatch) -> None:
    """No endpoint override, no profile: every call goes to moto, never anywhere else."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def cold_start(module_name: str, monkeypatch, **environment: str) -> ModuleType:
    """Import the handler module afresh with ``environment``, as a new Lambda container would.

    Module-level boto3 clients are created here, inside the active moto mock.
    """
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(importlib.import_module(module_name))


def function_timeout_s(module: str) -> int:
    """The ``timeout`` of one Lambda module block in ``terraform/serving/main.tf``."""
    block = re.search(rf'module "{module}" \{{(.*?)\n\}}', SERVING_MAIN_TF.read_text(), re.S)
    assert block is not None, module
    return int(re.search(r"\n\s*timeout\s*=\s*(\d+)", block.group(1)).group(1))


def png(colour: tuple[int, int, int] = (180, 40, 40), size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(colour: tuple[int, int, int] = (40, 40, 180), size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def queue_endpoint_results(*bodies: str) -> None:
    """The next InvokeEndpoint calls (one per distinct request) answer these bodies, in order."""
    results = [{"Body": body, "ContentType": "application/json"} for body in bodies]
    response = requests.post(ENDPOINT_RESULTS_API, json={"region": REGION, "results": results})
    response.raise_for_status()
