"""Structured log lines: one ``key=value`` line per event, with the call's fields."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from settings import get_logger, repo_root
from settings.logs import log_level


def test_a_warning_carries_its_fields(capsys):
    log = get_logger("test.fields")
    log.warning("poll failed", extra={"fields": {"error": "read timeout", "attempt": 2}})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "level=warning logger=scones.test.fields" in line
    assert 'msg="poll failed" error="read timeout" attempt=2' in line


def test_info_is_quiet_by_default(capsys):
    log = get_logger("test.quiet")
    assert logging.getLogger("scones").level == logging.WARNING
    log.info("progress", extra={"fields": {"n": 1}})
    assert capsys.readouterr().err == ""


def test_an_unknown_log_level_warns_once_and_counts_as_warning(monkeypatch):
    environ = dict(os.environ, LOG_LEVEL="verbose")
    result = subprocess.run(
        [sys.executable, "-m", "etl", "--help"],
        env=environ,
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: python -m etl" in result.stdout
    (line,) = result.stderr.splitlines()
    assert 'level=warning logger=scones msg="unknown LOG_LEVEL, using WARNING"' in line
    assert "LOG_LEVEL=verbose valid=DEBUG,INFO,WARNING,ERROR,CRITICAL" in line
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    assert log_level() == "WARNING"
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert log_level() == "DEBUG"
