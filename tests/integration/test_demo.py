"""End to end: ``make demo`` on a copy of the repository, as a user's fresh clone would run it.

A tiny CIFAR-100 tarball, a tiny network and a short load test keep it to a few minutes. The
copy holds the files git would clone (tracked and untracked-not-ignored) and shares this
checkout's ``.venv``; ``PYTHONPATH`` makes the copy's packages the ones imported.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from local_aws import launcher
from repo_copy import copy_repository

DEMO_N = 20

pytestmark = [pytest.mark.slow, pytest.mark.terraform]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, tiny_cifar_tarball):
    clone = copy_repository(tmp_path_factory.mktemp("clone"))
    port = launcher.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PYTHONPATH=str(clone / "python"), TF_IN_AUTOMATION="1")
    command = [
        "make",
        "demo",
        f"CIFAR_TARBALL={tiny_cifar_tarball}",
        "CLASSES=bicycle,motorcycle",
        f"LOCAL_PORT={port}",
        "HYPERPARAMETERS=epochs=2 width=4 batch-size=16",
        "DEMO_APPROVAL_THRESHOLD=0",
        f"DEMO_N={DEMO_N}",
        "MAX_ERROR_RATE=1",
    ]
    try:
        result = subprocess.run(
            command, cwd=clone, env=env, capture_output=True, text=True, timeout=900
        )
    finally:
        subprocess.run(
            ["make", "down", f"LOCAL_PORT={port}"], cwd=clone, env=env, capture_output=True
        )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return clone, result.stdout.strip().splitlines()


def test_demo_ends_with_summary_and_report_path(demo_run):
    clone, lines = demo_run
    assert lines[-4].startswith("accuracy:")
    assert lines[-3].startswith(f"executions: {DEMO_N} submitted")
    assert ", 0 lost" in lines[-3]
    assert lines[-2].startswith("drift:")
    report = Path(lines[-1].removeprefix("report:").strip())
    assert report.is_file() and report.is_relative_to(clone / "reports")


def test_demo_report_counts_match_the_load_test(demo_run):
    clone, lines = demo_run
    report = Path(lines[-1].removeprefix("report:").strip())
    summary = json.loads((report.parent / "summary.json").read_text())
    loadtest_file = sorted((clone / "reports").glob("loadtest-*.json"))[-1]
    loadtest = json.loads(loadtest_file.read_text())["summary"]
    assert loadtest["lost"] == 0
    assert loadtest["capture_records"] == loadtest["endpoint_invocations"]
    # The report sees the load test's invocations plus the one `make predict` made.
    assert summary["records"] == loadtest["capture_records"] + 1
    assert summary["malformed_total"] == 0
    html = report.read_text()
    assert "<img" in html and 'src="data:image/png;base64,' in html
