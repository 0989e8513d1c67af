"""``speedups.ReusedThread``: the ``threading.Thread`` subset moto's interpreter uses, on
reused threads (as many as run at once)."""

from __future__ import annotations

import threading
import time

import pytest

from local_aws import speedups


def wait_for(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def test_runs_the_target_with_its_arguments_and_join_waits_for_it():
    release, results = threading.Event(), []

    def target(a, b, *, c):
        release.wait(5)
        results.append((a, b, c))

    thread = speedups.ReusedThread(target=target, args=(1, 2), kwargs={"c": 3}, daemon=True)
    assert not thread.is_alive()
    thread.start()
    assert thread.is_alive()
    release.set()
    thread.join(5)
    assert not thread.is_alive()
    assert results == [(1, 2, 3)]


def test_a_thread_starts_only_once():
    thread = speedups.ReusedThread(target=lambda: None)
    thread.start()
    with pytest.raises(RuntimeError, match="only be started once"):
        thread.start()


def test_a_finished_thread_runs_the_next_job():
    pool = speedups._ThreadPool()  # its own pool: no other test's threads in it
    idents = []
    for _ in range(5):
        job = speedups.ReusedThread(target=lambda: idents.append(threading.get_ident()))
        pool.run(job)
        job.join(5)
        wait_for(lambda: len(pool._idle) == 1)  # its thread is back in the idle list
    assert len(idents) == 5
    assert idents[1:] == [idents[0]] * 4


def test_as_many_threads_as_jobs_running_at_once():
    jobs = 12
    barrier = threading.Barrier(jobs, timeout=5)  # breaks unless all run at the same time
    threads = [speedups.ReusedThread(target=barrier.wait) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert not barrier.broken
    assert not any(thread.is_alive() for thread in threads)


def test_an_exception_is_reported_and_the_thread_is_reused(capsys):
    def fail():
        raise ValueError("boom in a task")

    thread = speedups.ReusedThread(target=fail)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert "ValueError: boom in a task" in capsys.readouterr().err
    done = speedups.ReusedThread(target=lambda: None)
    done.start()
    done.join(5)
    assert not done.is_alive()


def test_an_idle_thread_ends(monkeypatch):
    pool = speedups._ThreadPool()
    monkeypatch.setattr(pool, "IDLE_S", 0.05)
    names = []
    job = speedups.ReusedThread(target=lambda: names.append(threading.current_thread()))
    pool.run(job)
    job.join(5)
    wait_for(lambda: names and not names[0].is_alive())
    assert pool._idle == []
