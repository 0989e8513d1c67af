"""One way for every command-line entry point to fail: a named error, one line, non-zero exit."""

from __future__ import annotations

import sys
from typing import Callable


class CliError(Exception):
    """An error the user can act on. Its class name is printed, then the message; no traceback."""

    exit_code = 2


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
