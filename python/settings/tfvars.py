"""Turn ``terraform output -json`` of one root into a ``-var-file`` for the next root.

``python -m settings.tfvars build/local/base.outputs.json`` prints ``{"name": value, ...}``: the
serving root declares a variable for each base output it uses (and ignores none silently:
Terraform warns about undeclared ones, so the two roots stay in step).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from settings.cli import run_cli
from settings.outputs import terraform_outputs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settings.tfvars", description=__doc__.splitlines()[0]
    )
    parser.add_argument("outputs_json", type=Path, help="a `terraform output -json` file")
    args = parser.parse_args(argv)
    print(json.dumps(terraform_outputs(args.outputs_json), indent=2))
    return 0


if __name__ == "__main__":
    run_cli(main)
