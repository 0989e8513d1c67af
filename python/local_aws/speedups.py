"""moto request-handling costs this stack removes, each one found by profiling the stack process.

Measured with py-spy while 16 clients ran the 3-Lambda benchmark state machine (bench_stack.py);
shares are of the stack process's GIL time:

- ``moto.backends.list_of_moto_modules()`` lists and stats moto's ~180 package directories, twice
  per request (about 5 ms per request on the 2-core VM). The installed modules cannot change while
  the process runs: computed once.
- ``BackendDict.__getitem__`` (every backend lookup by account, several per request) takes moto's
  global backend lock and compares the dict with each of the ~180 registered backend dicts
  (``self not in BackendDict._instances``), even when the account's backend exists: 22% of the
  stack's samples at concurrency 16, most of them threads queuing on that lock. An existing
  account's backend is returned directly (``reset`` clears both the dicts and the list, so an
  account present in a dict is always registered).
- SQS ``SendMessage`` (also every SNS delivery to a subscribed queue, e.g. each alert of a load
  test) asks the queue for its ``ContentBasedDeduplication`` attribute by computing all of its
  attributes, ``ApproximateNumberOfMessages`` included: a scan of every message in the queue,
  reading the clock twice per message. With a few thousand unread alerts that was a tenth of the
  stack's time. While a message is being sent the queue answers that one attribute directly.
- HTTP header parsing: ``http.server`` (and ``http.client``) parse every header block with the
  ``email`` package's feed parser, 9% of the stack's GIL time in a load test (each execution is
  several requests). ``fast_parse_headers`` builds the same ``HTTPMessage`` from plain
  ``Name: value`` lines directly and leaves anything else (folded lines, a line without a colon)
  to the ``email`` parser; a unit test compares both on such blocks.
- ``method_names_from_class`` runs ``inspect.getmembers`` over the response class on every
  request to find the action's method (6%): cached per class, after the stack's own methods
  (``UpdateEndpoint``, ...) are added.
- moto's Step Functions interpreter builds a new JSONPath parser (PLY yacc tables included) for
  every ``InputPath``/``OutputPath``/``ResultPath`` it evaluates (7%): parsed paths are cached
  (they are immutable expression trees).
- ``DescribeExecution`` and ``StartExecution`` scan the state machine's list of every execution it
  ever ran (6% after a thousand executions, growing): executions are indexed by ARN and name.
  ``ListExecutions(statusFilter=RUNNING)``, which a load test's tracker polls a few times a
  second, scanned them too (10% after 10k executions): the running ones are kept apart.
- Threads: moto's interpreter starts a new thread for every execution, again for its program,
  for every Task state (to enforce its timeout) and for every Map iteration, about six per
  execution; starting and ending them was 9% of the stack's GIL time in a load test. They run
  on reused threads instead (``ReusedThread``): the same call, the same ``start``/``join``/
  ``is_alive``, unbounded as before (a new thread starts when none is idle), and an idle thread
  ends after a while.
- Garbage collection: with moto's ~300k long-lived objects, full collections paused the process for
  up to 0.65 s during the 16-client run (3.5 ms per execution on average). Objects that exist once
  the stack is ready are frozen out of the collector (``gc.freeze``) and the young generation is
  collected less often (each execution allocates thousands of short-lived objects).
- GIL hand-over: an execution is a chain of short steps on many threads (HTTP handlers, the
  interpreter, its task threads), each waiting for the GIL after I/O. A 1 ms switch interval
  instead of 5 ms gave about 15-20% more executions/s at concurrency 16.
"""

from __future__ import annotations

import email.parser
import email.policy
import functools
import gc
import http.client
import queue
import re
import sys
import threading
import traceback
import types
from typing import Any, Callable

_PATH_CACHE_SIZE = 4096
_GC_THRESHOLDS = (20_000, 20, 20)
_SWITCH_INTERVAL_S = 0.001
# A header line the email parser reads as one field: a name of printable ASCII but ':', a colon,
# and no continuation (folded) lines, which start with a space or a tab.
_PLAIN_HEADER = re.compile(r"[\041-\071\073-\176]+:")


def install() -> None:
    """Before any request is served (the caches assume the classes are complete)."""
    from moto import backends
    from moto.core import responses, utils
    from moto.core.base_backend import BackendDict

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    cached_method_names = functools.cache(utils.method_names_from_class)
    responses.method_names_from_class = cached_method_names  # type: ignore[attr-defined]
    _lock_free_account_lookup(BackendDict)
    _cheap_send_message()
    http.client.parse_headers = fast_parse_headers
    gc.set_threshold(*_GC_THRESHOLDS)
    sys.setswitchinterval(_SWITCH_INTERVAL_S)


def _lock_free_account_lookup(backend_dict_class: Any) -> None:
    original_getitem = backend_dict_class.__getitem__
    existing = dict.get

    def getitem(self: Any, account_id: str) -> Any:
        backend = existing(self, account_id)
        return backend if backend is not None else original_getitem(self, account_id)

    backend_dict_class.__getitem__ = getitem


def fast_parse_headers(fp: Any, _class: type = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers`` without the ``email`` feed parser for plain header lines."""
    texts = [line.decode("iso-8859-1") for line in http.client._read_headers(fp)]
    fields = texts[:-1] if texts and texts[-1] in ("\r\n", "\n", "") else texts
    message = _class()
    if message.policy is not email.policy.compat32 or not all(map(_PLAIN_HEADER.match, fields)):
        return email.parser.Parser(_class=_class).parsestr("".join(texts))
    for text in fields:  # compat32's header_source_parse of a one-line header
        name, value = text.split(":", 1)
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    message.set_payload("")
    return message


def _cheap_send_message() -> None:
    """``SendMessage`` reads only ``ContentBasedDeduplication`` of the queue's attributes."""
    from moto.sqs.models import Queue, SQSBackend

    sending = threading.local()
    all_attributes = Queue.attributes.fget

    def attributes(queue: Any) -> dict[str, Any]:
        if not getattr(sending, "active", False):
            return all_attributes(queue)
        if not queue.fifo_queue:  # a FIFO-only attribute: absent, as in the full dict
            return {}
        value = queue.content_based_deduplication
        return {
            "ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value
        }

    original_send = SQSBackend.send_message

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            sending.active = False

    Queue.attributes = property(attributes)
    SQSBackend.send_message = send_message


def freeze_long_lived_objects() -> None:
    """Keep what is loaded so far (modules, moto's backends and models) out of every collection."""
    gc.collect()
    gc.freeze()


def install_stepfunctions() -> None:
    """The interpreter's share; called once moto's interpreter modules are imported."""
    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.models import StateMachine, StepFunctionBackend
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.program import program
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component,
    )
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend import execution_worker

    json_path.parse = functools.lru_cache(maxsize=_PATH_CACHE_SIZE)(jsonpath_ng.ext.parse)
    result_path.parse = functools.lru_cache(maxsize=_PATH_CACHE_SIZE)(jsonpath_ng.parse)
    _index_executions(StepFunctionBackend, StateMachine)
    # Each of these modules only creates threads, starts, joins and asks them is_alive.
    execute_state.Thread = ReusedThread
    execution_worker.Thread = ReusedThread
    with_reuse = types.SimpleNamespace(**vars(threading))
    with_reuse.Thread = ReusedThread
    program.threading = with_reuse
    inline_iteration_component.threading = with_reuse


class ReusedThread:
    """``threading.Thread(target=..., args=..., daemon=True)`` run on a reused thread."""

    def __init__(
        self,
        group: None = None,
        target: Callable[..., Any] | None = None,
        name: str | None = None,
        args: tuple = (),
        kwargs: dict | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        self._call: tuple | None = (target, args, kwargs or {})
        self._done = threading.Event()
        self._started = False

    def start(self) -> None:
        if self._started:
            raise RuntimeError("threads can only be started once")
        self._started = True
        _THREADS.run(self)

    def run(self) -> None:
        target, args, kwargs = self._call or (None, (), {})
        self._call = None  # what the call referenced is garbage once it returns
        try:
            if target is not None:
                target(*args, **kwargs)
        except BaseException:  # as an uncaught exception in a thread: reported, not raised
            traceback.print_exc()
        finally:
            self._done.set()

    def is_alive(self) -> bool:
        return self._started and not self._done.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)


class _ThreadPool:
    """Threads that run one job after another; as many as there are jobs at once."""

    IDLE_S = 30.0  # an idle thread ends after this long

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []

    def run(self, job: ReusedThread) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is not None:
            inbox.put(job)
        else:
            threading.Thread(
                target=self._work, args=(queue.SimpleQueue(), job), name="sfn", daemon=True
            ).start()

    def _work(self, inbox: queue.SimpleQueue, job: ReusedThread | None) -> None:
        while job is not None:
            job.run()
            with self._lock:
                self._idle.append(inbox)
            try:
                job = inbox.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # still idle: leave; else a job is on its way
                        self._idle.remove(inbox)
                        return
                job = inbox.get()


_THREADS = _ThreadPool()


def _index_executions(backend_class: Any, state_machine_class: Any) -> None:
    """Look executions up by ARN and by name instead of scanning every execution ever run.

    moto finds an execution by scanning its state machine's list of executions, on every
    ``DescribeExecution``/``GetExecutionHistory`` and, for the name check, on every
    ``StartExecution``. Each state machine gets two dicts over that list instead, brought up to
    date from the list itself (executions are only ever appended to it), so they cannot drift.
    """
    original_describe = backend_class.describe_execution

    def describe_execution(self: Any, execution_arn: str) -> Any:
        try:
            machine = self._get_state_machine_for_execution(execution_arn)
        except Exception:  # moto raises the error AWS gives (invalid ARN, no such execution)
            return original_describe(self, execution_arn)
        execution = _indexes(machine)[0].get(execution_arn)
        return execution if execution is not None else original_describe(self, execution_arn)

    def handle_name_input_idempotency(self: Any, name: str, execution_input: str) -> Any:
        from moto.stepfunctions.exceptions import ExecutionAlreadyExists

        execution = _indexes(self)[1].get(name)
        if execution is None:
            return None
        if execution_input == execution.execution_input and execution.status == "RUNNING":
            return execution  # the same name and input while running: idempotent, as on AWS
        raise ExecutionAlreadyExists(f"Execution Already Exists: '{execution.execution_arn}'")

    backend_class.describe_execution = describe_execution
    state_machine_class._handle_name_input_idempotency = handle_name_input_idempotency


class _ExecutionIndexes:
    """(by ARN, by name) over one state machine's executions; not copied with the machine.

    moto deep-copies the state machine for every execution (without its executions): the copy
    starts without indexes and builds its own if it is ever asked.
    """

    def __init__(self, executions: list) -> None:
        self.executions = executions
        self.indexed = 0
        self.by_arn: dict[str, Any] = {}
        self.by_name: dict[str, Any] = {}
        self.position: dict[str, int] = {}  # ARN -> index in the list (start order)
        self.running: dict[str, Any] = {}  # those not yet seen ended, in start order

    def __deepcopy__(self, memo: dict) -> None:
        return None


# Updates of the indexes (and the pruning of ``running``) happen under this lock: HTTP threads
# list running executions while others start new ones, and iterating a dict that another thread
# extends fails. Lookups of existing keys need no lock.
_INDEX_LOCK = threading.Lock()


def _updated(machine: Any) -> _ExecutionIndexes:
    """The indexes over ``machine.executions``, extended with what was appended since."""
    with _INDEX_LOCK:
        return _update_locked(machine)


def _update_locked(machine: Any) -> _ExecutionIndexes:
    indexes = machine.__dict__.get("_local_indexes")
    if indexes is None or indexes.executions is not machine.executions:
        indexes = machine.__dict__["_local_indexes"] = _ExecutionIndexes(machine.executions)
    for position in range(indexes.indexed, len(indexes.executions)):
        execution = indexes.executions[position]
        arn = execution.execution_arn
        indexes.by_arn[arn] = indexes.by_name[execution.name] = indexes.running[arn] = execution
        indexes.position[arn] = position
    indexes.indexed = len(indexes.executions)
    return indexes


def _indexes(machine: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(by ARN, by name) over ``machine.executions``."""
    indexes = _updated(machine)
    return indexes.by_arn, indexes.by_name


def running_executions(machine: Any) -> list:
    """The machine's RUNNING executions in start order, without scanning every execution ever
    run (``ListExecutions(statusFilter=RUNNING)``, a load test's tracker, polls this). An
    execution never runs again once it has ended (moto has no redrive)."""
    with _INDEX_LOCK:
        indexes = _update_locked(machine)
        ended = [arn for arn, e in indexes.running.items() if e.status != "RUNNING"]
        for arn in ended:
            del indexes.running[arn]
        return list(indexes.running.values())


def execution_positions(machine: Any) -> dict[str, int]:
    """ARN -> index in ``machine.executions`` (start order), for lookups only."""
    return _updated(machine).position


def execution_by_arn(machine: Any, execution_arn: str) -> Any | None:
    return _updated(machine).by_arn.get(execution_arn)
