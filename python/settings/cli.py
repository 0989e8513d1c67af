"""One way for every command-line entry point to fail: a named error, one line, non-zero exit."""

from __future__ import annotations

import sys
from typing import Callable


class CliError(Exception):
    """An error the user can act on. Its class name is printed, then the message; no traceback."""

    exit_code = 2


def answered_yes(prompt: str) -> bool:
    """Ask ``prompt`` on the terminal: ``y`` or ``yes`` is yes; any other answer, or the end of
    the input (Ctrl-D), is no."""
    try:
        answer = input(prompt)
    except EOFError:
        print()  # end the prompt's line
        return False
    return answer.strip().lower() in ("y", "yes")


def run_cli(main: Callable[[], int | None]) -> None:
    """Run ``main`` and turn ``CliError`` (and Ctrl-C) into a one-line message and exit code."""
    try:
        code = main()
    except CliError as err:
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
