"""Turn ``terraform output -json`` of one root into a ``-var-file`` for the next root.

``python -m settings.tfvars build/local/base.outputs.json`` prints ``{"name": value, ...}``: the
serving root declares a variable for each base output it uses (and ignores none silently:
Terraform warns about undeclared ones, so the two roots stay in step).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def to_tfvars(outputs_json: dict) -> dict:
    return {name: entry["value"] for name, entry in outputs_json.items()}


if __name__ == "__main__":
    print(json.dumps(to_tfvars(json.loads(Path(sys.argv[1]).read_text())), indent=2))
