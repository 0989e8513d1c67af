"""The state machine definitions of ``asl/``, rendered the way Terraform's ``templatefile`` does.

Terraform substitutes ``${name}`` with the values of ``terraform/serving``; tests and
``monitor.graph`` render the very same files with this module. The files use no other template
syntax (no ``%{`` directives, no ``$${`` escapes), so a plain substitution gives what Terraform
gives: strings are inserted as they are (the placeholders sit inside JSON strings), numbers as
JSON numbers (``MaxConcurrency``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from settings import CliError, repo_root

ASL_DIR = repo_root() / "asl"
# State machine key (the Terraform `state_machines` key) -> file under asl/.
DEFINITIONS = {
    "classify-image": "classify_image.asl.json",
    "classify-batch": "classify_batch.asl.json",
}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class InvalidTemplate(CliError):
    """An asl/ file uses template syntax this renderer (and the project) does not allow."""


class MissingTemplateVariable(CliError):
    """An asl/ file names a variable that was not given a value."""


def variables(path: Path) -> set[str]:
    """The ``${name}`` variables that ``path`` uses."""
    return set(_PLACEHOLDER.findall(path.read_text()))


def render(path: Path, values: dict[str, str | int]) -> dict:
    """The definition in ``path`` with ``values`` substituted, parsed as JSON."""
    text = path.read_text()
    for forbidden in ("%{", "$${"):
        if forbidden in text:
            raise InvalidTemplate(
                f"{path} contains {forbidden!r}: keep template syntax to ${{name}}"
            )
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise MissingTemplateVariable(f"{path} needs values for: {', '.join(missing)}")
    rendered = _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)
    try:
        return json.loads(rendered)
    except ValueError as err:
        raise InvalidTemplate(f"{path} does not render to JSON: {err}") from None


def render_placeholders(path: Path) -> dict:
    """The definition with each variable shown by name, for drawing it without a deployment."""
    values: dict[str, str | int] = {name: f"<{name}>" for name in variables(path)}
    if "max_concurrency" in values:  # unquoted in the file: a JSON string here, not a number
        values["max_concurrency"] = '"<max_concurrency>"'
    return render(path, values)
