"""``python -m settings``: print the Terraform outputs of the current TARGET (``make outputs``)."""

from __future__ import annotations

import json

from settings.cli import run_cli
from settings.outputs import outputs, outputs_dir

ROOTS = ("base", "serving")


def _main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Print Terraform outputs of the current TARGET.")
    parser.add_argument("root", nargs="?", choices=ROOTS, help="one root (default: all applied)")
    parser.add_argument(
        "names", nargs="*", help="print only these outputs, one `name: value` a line"
    )
    parser.add_argument("--json", action="store_true", help="print all outputs as one JSON object")
    args = parser.parse_args()
    if args.json:
        merged: dict = {}
        for root in [args.root] if args.root else ROOTS:
            # A root not applied yet has no file and is left out; a damaged file is an error.
            if args.root or (outputs_dir() / f"{root}.outputs.json").exists():
                merged.update(outputs(root))
        print(json.dumps(merged, indent=2, sort_keys=True))
        return 0
    values = outputs(args.root or "base")
    for name in args.names or sorted(values):
        print(f"{name}: {values[name]}")
    return 0


if __name__ == "__main__":
    run_cli(_main)
