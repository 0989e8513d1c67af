"""``make bench-train``'s script on the tests' tiny tarball: one block of figures per seed, then
the spread of the test accuracies."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = ["--hyperparameter", "epochs=1", "--hyperparameter", "width=4"]


def bench_train(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    return subprocess.run(
        [sys.executable, "bench/bench_train.py", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_each_seed_is_trained_and_the_spread_is_printed(tiny_cifar_tarball):
    result = bench_train("--tarball", str(tiny_cifar_tarball), "--seeds", "3,5", *TINY)

    assert result.returncode == 0, result.stderr
    recipes = re.findall(r"^recipe +(.*) \(python/train/entry.py\)$", result.stdout, re.M)
    assert recipes == ["--epochs 1 --width 4 --seed 3", "--epochs 1 --width 4 --seed 5"]
    accuracies = [float(a) for a in re.findall(r"^test accuracy +([0-9.]+)$", result.stdout, re.M)]
    assert len(accuracies) == 2
    four = r"(?:[0-9.]+, ){3}[0-9.]+"  # one figure per member of the default ensemble
    members = re.findall(
        rf"^validation +accuracy {four} after the last of 1 epochs", result.stdout, re.M
    )
    temperatures = re.findall(rf"^calibration +softmax temperatures {four} \(", result.stdout, re.M)
    assert (len(members), len(temperatures)) == (2, 2), result.stdout
    spread = re.search(
        r"^seeds +3, 5: test accuracy mean ([0-9.]+), min ([0-9.]+), max ([0-9.]+)$",
        result.stdout,
        re.M,
    )
    assert spread, result.stdout
    assert float(spread[1]) == round(statistics.fmean(accuracies), 4)
    assert (float(spread[2]), float(spread[3])) == (min(accuracies), max(accuracies))


def test_a_seed_given_twice_is_refused_before_any_training(tiny_cifar_tarball):
    both = bench_train(
        "--tarball", str(tiny_cifar_tarball), "--seeds", "1", "--hyperparameter", "seed=2"
    )
    twice = bench_train("--tarball", str(tiny_cifar_tarball), "--seeds", "1,1")

    assert both.returncode == 2 and "either as --seeds or as --hyperparameter seed=N" in both.stderr
    assert twice.returncode == 2 and "names a seed twice" in twice.stderr
    assert "test accuracy" not in both.stdout + twice.stdout
