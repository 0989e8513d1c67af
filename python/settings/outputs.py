"""Terraform outputs of the current target, as written by the Makefile after each apply.

Later stages read names from here (``outputs("base")["data_bucket"]``), never guess them. A file
that is missing, unreadable or not what ``terraform output -json`` writes, and a name it lacks,
are all ``MissingOutputs`` naming the file and the make target that writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NoReturn

from settings.cli import CliError


class MissingOutputs(CliError):
    """The Terraform outputs (or a file derived from them) are missing, unreadable or lack a
    name: the make target that writes them has not run for this target, or not to the end."""


class Outputs(dict):
    """Values by name; looking up a name the file lacks raises ``MissingOutputs``."""

    def __init__(self, values: dict, path: Path, written_by: str) -> None:
        super().__init__(values)
        self.path = path
        self.written_by = written_by

    def __missing__(self, name: str) -> NoReturn:
        raise MissingOutputs(f"{self.path} has no {name!r}: run `{self.written_by}` again")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def outputs_dir() -> Path:
    """Where the Makefile keeps them: ``build/local/``, or ``build/aws/<AWS_REGION>/`` (state
    per region); ``OUTPUTS_DIR`` overrides it (tests point it elsewhere)."""
    explicit = os.environ.get("OUTPUTS_DIR")
    if explicit:
        return Path(explicit)
    target = os.environ.get("TARGET", "local")
    if target == "aws":
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise MissingOutputs("TARGET=aws needs AWS_REGION: its outputs are kept per region")
        return repo_root() / "build" / "aws" / region
    return repo_root() / "build" / target


def read_json_object(path: Path, written_by: str) -> Outputs:
    """The JSON object in ``path``, a file the make target ``written_by`` writes."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingOutputs(f"{path} does not exist: run `{written_by}` first") from None
    except (OSError, ValueError) as err:
        raise MissingOutputs(
            f"{path} is not readable JSON ({err}): run `{written_by}` again"
        ) from None
    if not isinstance(document, dict):
        raise MissingOutputs(f"{path} does not hold a JSON object: run `{written_by}` again")
    return Outputs(document, path, written_by)


def terraform_outputs(path: Path) -> Outputs:
    """``{name: value}`` of a ``terraform output -json`` file ``build/<TARGET>/<root>.outputs.json``."""
    written_by = "make infra" if path.name == "base.outputs.json" else "make deploy"
    document = read_json_object(path, written_by)
    malformed = [
        name
        for name, entry in document.items()
        if not (isinstance(entry, dict) and "value" in entry)
    ]
    if malformed:
        raise MissingOutputs(
            f"{path}: {', '.join(malformed)} not in the form of `terraform output -json`"
            f' ({{"value": ...}}): run `{written_by}` again'
        )
    return Outputs({name: entry["value"] for name, entry in document.items()}, path, written_by)


def outputs(root: str) -> Outputs:
    """The values of ``terraform output -json`` for the root ``terraform/<root>``."""
    return terraform_outputs(outputs_dir() / f"{root}.outputs.json")
