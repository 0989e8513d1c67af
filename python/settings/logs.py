"""Structured, quiet-by-default logging: one ``key=value`` line per event on stderr.

``LOG_LEVEL`` (default ``WARNING``) raises the verbosity; user-facing progress goes through
progress bars and the commands' own summaries, not through logs. A ``LOG_LEVEL`` that is not a
level name logs one warning and counts as ``WARNING``: logging is set up at import time, before
any command line is parsed, so failing there would break every command, ``--help`` included.
"""

from __future__ import annotations

import json
import logging
import os
import sys

_CONFIGURED = False
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update(getattr(record, "fields", {}))
        return " ".join(f"{k}={_quote(v)}" for k, v in fields.items())


def _quote(value: object) -> str:
    """The value as is, or, when it is empty or holds a space, ``=``, ``"``, ``\\`` or a
    character that is not printable (a newline), as a JSON string: every event stays one line
    that splits back into the same keys and values."""
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' ="\\'):
        return text
    return json.dumps(text, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the event (redirected or not)."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class _FieldsAdapter(logging.LoggerAdapter):
    """Passes each call's ``extra`` through (the stock adapter replaces it with its own)."""

    def process(self, msg: object, kwargs: dict) -> tuple[object, dict]:
        return msg, kwargs


def log_level() -> str:
    """``LOG_LEVEL`` in upper case when it names a level, else ``WARNING``."""
    level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    return level if level in LEVELS else "WARNING"


def get_logger(name: str) -> logging.LoggerAdapter:
    """A logger whose ``extra={"fields": {...}}`` values are appended as ``key=value`` pairs."""
    global _CONFIGURED
    if not _CONFIGURED:
        handler = _StderrHandler()
        handler.setFormatter(_KeyValueFormatter())
        root = logging.getLogger("scones")
        root.addHandler(handler)
        root.setLevel(log_level())
        root.propagate = False
        _CONFIGURED = True
        given = os.environ.get("LOG_LEVEL", "WARNING")
        if given.upper() != log_level():
            root.warning(
                "unknown LOG_LEVEL, using WARNING",
                extra={"fields": {"LOG_LEVEL": given, "valid": ",".join(LEVELS)}},
            )
    return _FieldsAdapter(logging.getLogger(f"scones.{name}"), {})
