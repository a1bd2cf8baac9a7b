"""Property tests: whatever the sources do, every request gets exactly one Outcome, and runs repeat."""

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ella_lab import FallbackChain, Retry, Router, SimulatedSource
from ella_lab.experiments import request_ids

pytestmark = pytest.mark.usefixtures("no_leaked_workers")

errors = st.sampled_from([ValueError, KeyError, ConnectionError, TimeoutError, RuntimeError, ZeroDivisionError])
behaviours = st.one_of(
    st.tuples(st.just("return"), st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers()))),
    st.tuples(st.just("raise"), errors),
    st.tuples(st.just("stall"), st.none()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workers=st.integers(1, 64),
    plan=st.lists(behaviours, min_size=0, max_size=60),
    use_timeout=st.booleans(),
)
def test_every_request_gets_exactly_one_outcome(workers, plan, use_timeout):
    release = threading.Event()
    calls: dict[int, int] = {}
    stalled: list[threading.Thread] = []

    def source(i):
        calls[i] = calls.get(i, 0) + 1
        kind, arg = plan[i]
        if kind == "raise":
            raise arg(f"request {i}")
        if kind == "stall":
            stalled.append(threading.current_thread())
            release.wait(5 if use_timeout else 0.01)  # with a timeout: stuck until the run is over
            return "late"
        return arg

    # 0.25 s for calls that return at once: with 0.02 s a worker that lost the CPU (or the GIL, among up to 64
    # threads) for 20 ms turned a returned value or a raised error into a TimeoutError
    router = Router(source, workers=workers, timeout=0.25 if use_timeout else None)
    started = time.perf_counter()
    try:
        report = router.run(range(len(plan)))
    finally:
        release.set()
        for thread in stalled:  # the stuck workers end now (no_leaked_workers checks it)
            thread.join(5)
    assert time.perf_counter() - started < 10  # nothing hangs
    assert [o.request for o in report] == list(range(len(plan)))  # one each, in order, none duplicated
    assert calls == dict.fromkeys(range(len(plan)), 1)  # each request was fetched exactly once
    for o, (kind, arg) in zip(report, plan, strict=True):
        if kind == "return":
            assert o.ok and o.value == arg
        elif kind == "raise":
            assert not o.ok and type(o.error) is arg
        elif use_timeout:
            assert not o.ok and isinstance(o.error, TimeoutError)
        else:
            assert o.ok and o.value == "late"


@settings(max_examples=25, deadline=None)
@given(
    workers=st.integers(1, 64),
    failure_rate=st.floats(0, 1),
    n=st.integers(0, 80),
    chain=st.integers(1, 3),
    seed=st.integers(0, 2**32),
)
def test_seeded_chains_answer_every_request_once(workers, failure_rate, n, chain, seed):
    sources = [SimulatedSource(f"s{i}", latency=0, failure_rate=failure_rate, seed=seed) for i in range(chain)]
    report = Router(FallbackChain(sources, retry=Retry(attempts=2, base=0)), workers=workers).run(request_ids(n))
    assert [o.request for o in report] == request_ids(n)
    for o in report:
        assert 1 <= len(o.attempts) <= 2 * chain
        assert o.ok == (o.source is not None) == (o.attempts[-1].error is None)


def _signature(report):
    return [(o.request, o.ok, o.value, o.source, [(a.source, a.number, a.ok) for a in o.attempts]) for o in report]


def test_same_seeds_same_outcomes_whatever_the_worker_count():
    def build():
        return FallbackChain(
            [
                SimulatedSource("primary", latency=0.001, jitter=0.001, failure_rate=0.6, seed=11),
                SimulatedSource("backup", latency=0.001, failure_rate=0.6, seed=11),
            ],
            retry=Retry(attempts=2, base=0.0005, seed=11),
        )

    runs = [_signature(Router(build(), workers=k).run(request_ids(120))) for k in (1, 3, 16, 64)]
    assert all(run == runs[0] for run in runs[1:])
    assert any(not ok for _, ok, *_ in runs[0])  # the workload does exercise failures
    other = _signature(
        Router(FallbackChain([SimulatedSource("primary", latency=0, failure_rate=0.4, seed=12)])).run(request_ids(120))
    )
    assert [r[1] for r in other] != [r[1] for r in runs[0]]
