"""``python -m lambdas.package build/lambdas.zip``: the deployment zip of the handlers.

The zip holds the ``lambdas`` package's modules (this build script excepted), sorted, stored
uncompressed (no dependence on the zlib version), with fixed timestamps and permissions: its
bytes, and so Terraform's ``source_code_hash``, change only when the code does, and an unchanged
tree deploys nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import zipfile
from pathlib import Path

from settings import CliError, get_logger, run_cli

log = get_logger("lambdas.package")

PACKAGE_DIR = Path(__file__).resolve().parent
# The earliest timestamp a zip can hold: no trace of when or where the zip was built.
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_BUILD_ONLY = {"package.py"}


class InvalidSource(CliError):
    """A handler module does not compile: it would fail at Lambda's cold start instead."""


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.glob("*.py") if p.name not in _BUILD_ONLY)


def build(destination: Path) -> list[str]:
    """Write the zip atomically (temporary file, then rename); return the archived names."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    names = []
    fd, tmp_name = tempfile.mkstemp(prefix=".lambdas-", suffix=".zip", dir=destination.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in sources():
                source = path.read_bytes()
                try:
                    compile(source, str(path), "exec")
                except SyntaxError as err:
                    raise InvalidSource(f"{path}: {err}") from None
                name = f"{PACKAGE_DIR.name}/{path.name}"
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
                info.external_attr = 0o100644 << 16
                archive.writestr(info, source)
                names.append(name)
        os.replace(tmp_name, destination)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    log.info("packaged", extra={"fields": {"zip": destination, "files": len(names)}})
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("destination", type=Path, help="path of the zip to write")
    args = parser.parse_args()
    names = build(args.destination)
    print(f"{args.destination}: {len(names)} modules")
    return 0


if __name__ == "__main__":
    run_cli(main)
