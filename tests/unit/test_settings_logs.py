"""Structured log lines: one ``key=value`` line per event, with the call's fields."""

from __future__ import annotations

import json
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


def test_values_with_quotes_or_newlines_stay_on_one_line_and_split_back(capsys):
    log = get_logger("test.escaped")
    values = {"cause": 'bad "input"\nsecond line', "path": "C:\\x", "empty": "", "ok": "a-b"}
    log.warning("odd values", extra={"fields": values})
    (line,) = capsys.readouterr().err.strip().splitlines()
    parsed = dict(split_pairs(line))
    assert {k: parsed[k] for k in values} == values
    assert parsed["msg"] == "odd values"


def split_pairs(line: str) -> list[tuple[str, str]]:
    """``key=value`` pairs of a log line, a quoted value read as the JSON string it is."""
    pairs, rest = [], line
    while rest:
        key, _, rest = rest.partition("=")
        if rest.startswith('"'):
            value, end = json.JSONDecoder().raw_decode(rest)
            rest = rest[end:]
        else:
            value, _, rest = rest.partition(" ")
            rest = " " + rest
        pairs.append((key.strip(), value))
        rest = rest.removeprefix(" ")
    return pairs


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
