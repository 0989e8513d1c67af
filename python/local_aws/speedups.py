"""moto request-handling costs this stack removes, each one found by profiling the stack process.

Measured with py-spy while 16 clients ran the 3-Lambda benchmark state machine (bench_stack.py);
shares are of the stack process's GIL time:

- ``moto.backends.list_of_moto_modules()`` lists and stats moto's ~180 package directories, twice
  per request (about 5 ms per request on the 2-core VM). The installed modules cannot change while
  the process runs: computed once.
- ``method_names_from_class`` runs ``inspect.getmembers`` over the response class on every
  request to find the action's method (6%): cached per class, after the stack's own methods
  (``UpdateEndpoint``, ...) are added.
- moto's Step Functions interpreter builds a new JSONPath parser (PLY yacc tables included) for
  every ``InputPath``/``OutputPath``/``ResultPath`` it evaluates (7%): parsed paths are cached
  (they are immutable expression trees).
- ``DescribeExecution`` scans the state machine's list of every execution it ever ran (6% after a
  thousand executions, growing): executions are indexed by ARN.
- Garbage collection: with moto's ~300k long-lived objects, full collections paused the process for
  up to 0.65 s during the 16-client run (3.5 ms per execution on average). Objects that exist once
  the stack is ready are frozen out of the collector (``gc.freeze``) and the young generation is
  collected less often (each execution allocates thousands of short-lived objects).
- GIL hand-over: an execution is a chain of short steps on many threads (HTTP handlers, the
  interpreter, its task threads), each waiting for the GIL after I/O. A 1 ms switch interval
  instead of 5 ms gave about 15-20% more executions/s at concurrency 16.
"""

from __future__ import annotations

import functools
import gc
import sys
from typing import Any

_PATH_CACHE_SIZE = 4096
_GC_THRESHOLDS = (20_000, 20, 20)
_SWITCH_INTERVAL_S = 0.001


def install() -> None:
    """Before any request is served (the caches assume the classes are complete)."""
    from moto import backends
    from moto.core import responses, utils

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    cached_method_names = functools.cache(utils.method_names_from_class)
    responses.method_names_from_class = cached_method_names  # type: ignore[attr-defined]
    gc.set_threshold(*_GC_THRESHOLDS)
    sys.setswitchinterval(_SWITCH_INTERVAL_S)


def freeze_long_lived_objects() -> None:
    """Keep what is loaded so far (modules, moto's backends and models) out of every collection."""
    gc.collect()
    gc.freeze()


def install_stepfunctions() -> None:
    """The interpreter's share; called once moto's interpreter modules are imported."""
    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=_PATH_CACHE_SIZE)(jsonpath_ng.ext.parse)
    result_path.parse = functools.lru_cache(maxsize=_PATH_CACHE_SIZE)(jsonpath_ng.parse)
    _index_executions(StepFunctionBackend)


def _index_executions(backend_class: Any) -> None:
    original_describe = backend_class.describe_execution

    def describe_execution(self: Any, execution_arn: str) -> Any:
        index = self.__dict__.setdefault("_local_execution_index", {})
        hit = index.get(execution_arn)
        # The state machine may have been deleted (and recreated) since: check it still exists.
        if hit is not None and any(machine is hit[0] for machine in self.state_machines):
            return hit[1]
        execution = original_describe(self, execution_arn)
        index[execution_arn] = (self._get_state_machine_for_execution(execution_arn), execution)
        return execution

    backend_class.describe_execution = describe_execution
