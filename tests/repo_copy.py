"""A copy of this checkout as ``git clone`` would give it, for tests that run ``make`` in it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def copy_repository(destination: Path) -> Path:
    """The files git would clone (tracked and untracked-not-ignored) under ``destination``,
    sharing this checkout's ``.venv``; set ``PYTHONPATH`` to ``destination/python`` so that the
    copy's packages are the ones imported."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (destination / ".venv").symlink_to(REPO / ".venv")
    return destination
