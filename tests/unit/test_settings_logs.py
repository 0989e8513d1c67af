"""Structured log lines: one ``key=value`` line per event, with the call's fields."""

from __future__ import annotations

import logging

from settings import get_logger


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
