"""Terraform outputs of the current target, as written by the Makefile after each apply.

Later stages read names from here (``outputs("base")["data_bucket"]``), never guess them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from settings.cli import CliError


class MissingOutputs(CliError):
    """The Terraform root has not been applied for this target yet."""


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def outputs_dir() -> Path:
    """``build/<TARGET>/`` unless ``OUTPUTS_DIR`` says otherwise (tests point it elsewhere)."""
    explicit = os.environ.get("OUTPUTS_DIR")
    if explicit:
        return Path(explicit)
    return repo_root() / "build" / os.environ.get("TARGET", "local")


def outputs(root: str) -> dict:
    """The values of ``terraform output -json`` for the root ``terraform/<root>``."""
    path = outputs_dir() / f"{root}.outputs.json"
    if not path.is_file():
        hint = "make infra" if root == "base" else "make deploy"
        raise MissingOutputs(f"{path} does not exist: run `{hint}` first")
    raw = json.loads(path.read_text())
    return {
        name: entry["value"] if isinstance(entry, dict) and "value" in entry else entry
        for name, entry in raw.items()
    }
