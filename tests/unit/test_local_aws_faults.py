"""``sagemaker_runtime.FaultInjector``: the faults the local stack injects into endpoint calls."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from local_aws.sagemaker_runtime import FAULT_KINDS, STALL_S, Fault, FaultInjector


def draws(injector: FaultInjector, calls: int) -> list[Fault | None]:
    return [injector.draw() for _ in range(calls)]


def test_the_same_seed_injects_the_same_faults():
    first = draws(FaultInjector(0.3, seed=11), 200)

    assert draws(FaultInjector(0.3, seed=11), 200) == first
    assert draws(FaultInjector(0.3, seed=12), 200) != first
    faults = [fault for fault in first if fault is not None]
    assert {fault.kind for fault in faults} == set(FAULT_KINDS)
    for fault in faults:
        if fault.kind == "stall":
            assert STALL_S[0] <= fault.stall_s <= STALL_S[1]
        else:
            assert fault.stall_s == 0.0


def test_every_call_faults_at_rate_1():
    assert None not in draws(FaultInjector(1.0, seed=1), 50)


def test_calls_on_many_threads_share_out_the_draws_of_the_seed():
    injector = FaultInjector(0.5, seed=3)

    with ThreadPoolExecutor(8) as pool:
        drawn = list(pool.map(lambda _: injector.draw(), range(400)))

    assert Counter(drawn) == Counter(draws(FaultInjector(0.5, seed=3), 400))
