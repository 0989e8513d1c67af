"""A function's worker pool: reuse, growth only after a call waited, replacement of a bad worker.

Real worker processes running a real handler file; the growth delay is set per test so that no
assertion depends on timing.
"""

from __future__ import annotations

import threading

import pytest

from local_aws import lambda_runtime
from local_aws.lambda_runtime import FunctionPool, FunctionSpec, LambdaRuntime

HANDLER = "def handler(event, context):\n    return {'pid': __import__('os').getpid()}\n"


@pytest.fixture
def pool(tmp_path):
    task_root = tmp_path / "task"
    task_root.mkdir()
    (task_root / "app.py").write_text(HANDLER)
    runtime = LambdaRuntime(tmp_path / "work", "http://127.0.0.1:9")
    spec = FunctionSpec(
        arn="arn:aws:lambda:us-east-1:123456789012:function:echo",
        name="echo",
        version="1",
        handler="app.handler",
        code_sha="test",
        timeout_s=5.0,
        memory_mb=128,
        region="us-east-1",
        env=(),
    )
    pool = FunctionPool(spec, task_root, runtime._layer_dir, "http://127.0.0.1:9")
    yield pool
    pool.retire()


def acquire_in_thread(pool: FunctionPool) -> tuple[threading.Thread, list]:
    got: list = []
    thread = threading.Thread(target=lambda: got.append(pool.acquire()))
    thread.start()
    return thread, got


def test_a_released_worker_is_reused(pool):
    first = pool.acquire()
    assert first.init_error is None
    pool.release(first, healthy=True)
    assert pool.acquire() is first


def test_a_call_waiting_less_than_the_growth_delay_gets_the_busy_worker(pool, monkeypatch):
    monkeypatch.setattr(lambda_runtime, "GROW_AFTER_S", 30.0)
    first = pool.acquire()
    thread, got = acquire_in_thread(pool)
    thread.join(0.3)
    assert thread.is_alive()  # waiting for the busy worker, not starting another one
    pool.release(first, healthy=True)
    thread.join(5)
    assert got == [first]


def test_a_call_waiting_past_the_growth_delay_starts_another_worker(pool, monkeypatch):
    monkeypatch.setattr(lambda_runtime, "GROW_AFTER_S", 0.0)
    first = pool.acquire()
    thread, got = acquire_in_thread(pool)
    thread.join(30)
    assert len(got) == 1 and got[0] is not first
    assert got[0].process.pid != first.process.pid
    assert got[0].process.poll() is None and first.process.poll() is None
    pool.release(got[0], healthy=True)
    pool.release(first, healthy=True)


def test_an_unhealthy_worker_is_stopped_and_replaced(pool):
    first = pool.acquire()
    pool.release(first, healthy=False)
    assert first.process.poll() is not None
    second = pool.acquire()
    assert second is not first and second.process.poll() is None
    pool.release(second, healthy=True)
