"""Start a worker process that talks to the stack over two pipes (Lambda workers, model servers).

The child gets the read end of the request pipe and the write end of the response pipe as its
first two arguments after ``command``; the stack keeps the other ends as ``multiprocessing``
connections (length-prefixed messages).
"""

from __future__ import annotations

import os
import subprocess
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Mapping, Sequence


def spawn(
    command: Sequence[str], arguments: Sequence[str], env: Mapping[str, str], cwd: Path
) -> tuple[subprocess.Popen, Connection, Connection]:
    """``command READ_FD WRITE_FD arguments...``; returns (process, requests, responses)."""
    parent_read, child_write = os.pipe()
    child_read, parent_write = os.pipe()
    try:
        process = subprocess.Popen(
            [*command, str(child_read), str(child_write), *arguments],
            pass_fds=(child_read, child_write),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    except BaseException:
        os.close(parent_read)
        os.close(parent_write)
        raise
    finally:
        os.close(child_read)
        os.close(child_write)
    return (
        process,
        Connection(parent_write, readable=False),
        Connection(parent_read, writable=False),
    )
