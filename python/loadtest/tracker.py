"""Wait for many executions cheaply, then read their final state once.

While the run goes on, the only call is one ``ListExecutions(statusFilter=RUNNING)`` per poll:
an execution added here that is no longer listed has ended, which frees its burst slot and moves
the progress bar. Nothing is described during the run, so the load generator spends its CPU (and
the system under test spends its own) on starting executions, not on watching them.

After the run, ``describe_all`` describes every execution once (in parallel): that is the
authority. ListExecutions is eventually consistent on AWS, so an execution it missed may still be
running; those are described again until they end or the deadline passes (then they are lost).
The poll interval adapts to a quarter of the median time executions took to disappear from the
list (within bounds), so short executions are noticed quickly without hammering the API. That
matters only where an ending frees a slot for the next start (burst mode); elsewhere the
tracker only moves the progress bar and polls at most twice a second (a 50/s stream had it
polling 20 times a second, each poll a list of a few dozen running executions for the system
under test to answer and the load generator to parse).
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from settings import get_logger

log = get_logger("loadtest.tracker")

MIN_POLL_S = 0.05
PROGRESS_POLL_S = 0.5  # the least interval when nothing waits for endings but the progress bar
MAX_POLL_S = 1.0


class Tracker:
    """Notices when executions added to it leave the RUNNING list."""

    def __init__(
        self,
        sfn,
        state_machine_arn: str,
        on_end: Callable[[str], None] = lambda arn: None,
        min_poll_s: float = MIN_POLL_S,
    ) -> None:
        self._sfn = sfn
        self._min_poll_s = min_poll_s
        self._state_machine_arn = state_machine_arn
        self._on_end = on_end
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}  # arn -> monotonic time it was added
        self._durations: list[float] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tracker", daemon=True)
        self.ended: list[str] = []

    def __enter__(self) -> "Tracker":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def add(self, execution_arn: str) -> None:
        with self._lock:
            self._pending[execution_arn] = time.monotonic()

    @property
    def pending(self) -> set[str]:
        with self._lock:
            return set(self._pending)

    def wait(self, timeout_s: float) -> set[str]:
        """Block until nothing is pending or ``timeout_s`` passed; returns what is still pending."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.pending

    def poll_interval(self) -> float:
        with self._lock:
            recent = self._durations[-200:]
        if not recent:
            return max(0.1, self._min_poll_s)
        return min(MAX_POLL_S, max(self._min_poll_s, statistics.median(recent) / 4.0))

    def _loop(self) -> None:
        while not self._stopped.wait(self.poll_interval()):
            try:
                self.poll_once()
            except (ClientError, BotoCoreError) as err:  # throttled or unreachable: poll again
                log.warning("poll failed", extra={"fields": {"error": str(err)}})

    def poll_once(self) -> None:
        candidates = self.pending
        if not candidates:
            return
        running: set[str] = set()
        for page in self._sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self._state_machine_arn, statusFilter="RUNNING"
        ):
            running.update(e["executionArn"] for e in page["executions"])
        now = time.monotonic()
        with self._lock:
            # Only what was pending before the list call: a newer one may not be listed yet.
            gone = [arn for arn in candidates - running if arn in self._pending]
            for arn in gone:
                self._durations.append(now - self._pending.pop(arn))
                self.ended.append(arn)
        for arn in gone:
            self._on_end(arn)


def describe_all(
    sfn, arns: list[str], deadline: float, threads: int = 8, poll_s: float = 1.0
) -> dict[str, dict]:
    """The final ``describe_execution`` of each ARN; those still RUNNING at ``deadline`` are
    left out (the caller counts them as lost)."""
    final: dict[str, dict] = {}
    todo = list(arns)

    def describe(arn: str) -> dict | None:
        try:
            return sfn.describe_execution(executionArn=arn)
        except (ClientError, BotoCoreError) as err:
            log.warning("describe failed", extra={"fields": {"arn": arn, "error": str(err)}})
            return None

    with (
        ThreadPoolExecutor(threads, thread_name_prefix="describe") as pool,
        tqdm(total=len(todo), desc="describe", unit="exe", disable=None) as bar,
    ):
        while todo:
            still = []
            for arn, description in zip(todo, pool.map(describe, todo)):
                if description is None or description["status"] == "RUNNING":
                    still.append(arn)
                else:
                    final[arn] = description
                    bar.update()
            todo = still
            if todo:
                if time.monotonic() + poll_s > deadline:
                    break
                time.sleep(poll_s)
    return final
