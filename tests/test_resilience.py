"""Circuit breaker, retry budget, hedged requests, bulkhead, outages and the contention model."""

import contextlib
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from waiting import wait_until

from ella_lab import (
    AllSourcesFailed,
    CircuitBreaker,
    CircuitOpenError,
    FallbackChain,
    Hedge,
    HedgeAbandoned,
    Outage,
    Rejected,
    Retry,
    RetryBudget,
    Router,
    ScriptedSource,
    SimulatedSource,
    SourceError,
)
from ella_lab.experiments import request_ids
from ella_lab.resilience import contention
from ella_lab.sources import Source


class Counting:
    """A source that fails while ``failing`` is set, sleeps ``latency``, and counts its calls."""

    def __init__(self, latency=0.0):
        self.name, self.latency, self.failing, self.calls = "counting", latency, True, 0
        self.lock = threading.Lock()
        self.gate = None  # an Event: when set here, every call waits for it (at most 10 s)

    def fetch(self, request):
        with self.lock:
            self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.latency)
        if self.failing:
            raise SourceError("down")
        return request


# -- circuit breaker ------------------------------------------------------------------------------


def test_breaker_trips_after_consecutive_failures_and_spares_the_source():
    source = Counting()
    breaker = CircuitBreaker(source, failures=3, reset_after=60)
    for _ in range(3):
        with pytest.raises(SourceError):
            breaker.fetch("r")
    assert breaker.state == "open" and source.calls == 3
    for _ in range(5):
        with pytest.raises(CircuitOpenError, match="circuit open"):
            breaker.fetch("r")
    assert source.calls == 3 and breaker.rejected == 5
    assert [(a, b) for _, a, b in breaker.transitions] == [("closed", "open")]


def test_breaker_success_resets_the_count():
    source = Counting()
    breaker = CircuitBreaker(source, failures=3, reset_after=60)
    for _ in range(2):
        with pytest.raises(SourceError):
            breaker.fetch("r")
    source.failing = False
    breaker.fetch("r")
    source.failing = True
    for _ in range(2):
        with pytest.raises(SourceError):
            breaker.fetch("r")
    assert breaker.state == "closed"


def test_breaker_half_open_trial_closes_or_reopens():
    source = Counting()
    breaker = CircuitBreaker(source, failures=1, reset_after=0.05)
    with pytest.raises(SourceError):
        breaker.fetch("r")
    time.sleep(0.06)
    with pytest.raises(SourceError):  # the trial fails: open again
        breaker.fetch("r")
    assert breaker.state == "open"
    time.sleep(0.06)
    source.failing = False
    assert breaker.fetch("r") == "r"  # the trial succeeds: closed
    assert [b for _, _, b in breaker.transitions] == ["open", "half-open", "open", "half-open", "closed"]
    assert breaker.counters() == {"breaker_transitions": 5, "breaker_rejected": 0}


def test_breaker_half_open_lets_exactly_one_trial_through():
    source = Counting()
    breaker = CircuitBreaker(source, failures=1, reset_after=0.01)
    with pytest.raises(SourceError):
        breaker.fetch("r")
    time.sleep(0.02)
    source.failing = False
    # The trial is held until the nine others have been turned away (it took 0.1 s: a thread that ran later
    # than that found the breaker closed again and was let through, a second success)
    source.gate = threading.Event()
    results = []

    def call():
        try:
            results.append(breaker.fetch("r"))
        except CircuitOpenError as exc:
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    assert wait_until(lambda: len(results) == 9)  # nine refused while the trial is in flight
    source.gate.set()
    for t in threads:
        t.join(5)
    assert sum(r == "r" for r in results) == 1
    assert sum(isinstance(r, CircuitOpenError) for r in results) == 9
    assert source.calls == 2 and breaker.state == "closed"


def test_breaker_trips_on_a_failure_ratio():
    pattern = iter([True, False] * 20)  # every other call fails: never 3 in a row

    def flaky(request):
        if next(pattern):
            raise SourceError("x")
        return request

    breaker = CircuitBreaker(flaky, failures=3, ratio=0.5, window=10, reset_after=60)
    for _ in range(10):
        with contextlib.suppress(SourceError):
            breaker.fetch("r")
    assert breaker.state == "open"
    assert CircuitBreaker(flaky, failures=3, window=10).state == "closed"


def test_breaker_does_not_serialize_calls():
    source = Counting(latency=0.05)
    source.failing = False
    breaker = CircuitBreaker(source, failures=5)
    started = time.perf_counter()
    report = Router(breaker, workers=20).run(range(20))
    elapsed = time.perf_counter() - started
    assert all(o.ok for o in report)
    assert elapsed < 0.5  # about L = 50 ms; a lock around the call would take N·L = 1 s


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"failures": 0}, "failures"),
        ({"ratio": 1.5}, "ratio"),
        ({"ratio": 0}, "ratio"),
        ({"window": 0}, "window"),
        ({"reset_after": -1}, "reset_after"),
    ],
)
def test_breaker_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        CircuitBreaker(str, **kwargs)


def test_breaker_with_fallback_skips_the_sick_primary():
    primary = CircuitBreaker(SimulatedSource("primary", latency=0, failure_rate=1.0), failures=3, reset_after=60)
    chain = FallbackChain([primary, SimulatedSource("backup", latency=0)])
    report = Router(chain, workers=1).run(request_ids(20))
    assert all(o.ok and o.source == "backup" for o in report)
    errors = [type(o.attempts[0].error) for o in report]
    assert errors[:3] == [SourceError] * 3 and set(errors[3:]) == {CircuitOpenError}
    summary = report.summary()
    assert summary["breaker_rejected"] == 17 and summary["breaker_transitions"] == 1


# -- retry budget ---------------------------------------------------------------------------------


def test_budget_holds_at_most_its_cap():
    budget = RetryBudget(ratio=0.1, cap=2)
    for _ in range(30):  # 3 tokens' worth of requests, but the bucket holds 2: a healthy past is not banked
        budget.record_request()
    allowed = sum(budget.try_retry() for _ in range(10))
    assert allowed == 2 and budget.counters() == {"retries_allowed": 2, "retries_refused": 8}


def test_budget_can_start_with_fewer_tokens_than_its_cap():
    assert RetryBudget(ratio=0.1, cap=10).tokens == 10.0  # the default, unchanged: full
    empty = RetryBudget(ratio=0.1, cap=10, tokens=0)
    assert empty.tokens == 0.0 and not empty.try_retry()  # nothing saved: no retry until requests add tokens
    for _ in range(10):
        empty.record_request()
    assert empty.tokens == 1.0 and empty.try_retry() and not empty.try_retry()
    with pytest.raises(ValueError, match="tokens"):
        RetryBudget(cap=10, tokens=11)


@pytest.mark.parametrize("failure_rate", [1.0, 0.5])
def test_budget_caps_load_amplification(failure_rate):
    source = SimulatedSource("s", latency=0, failure_rate=failure_rate, seed=1)
    plain = Router(FallbackChain([source], retry=Retry(attempts=3, base=0)), workers=8).run(request_ids(2000))
    budget = RetryBudget(ratio=0.1)
    capped = Router(FallbackChain([source], retry=Retry(attempts=3, base=0, budget=budget)), workers=8).run(
        request_ids(2000)
    )
    model = 1 + failure_rate + failure_rate**2
    assert plain.summary()["mean_attempts"] == pytest.approx(model, rel=0.05)
    summary = capped.summary()
    assert summary["mean_attempts"] <= 1.15
    assert summary["retries_refused"] > 0 and summary["retries_allowed"] <= 10 + 0.1 * 2000


def test_retry_refuses_a_non_budget():
    with pytest.raises(TypeError, match="budget must be a RetryBudget"):
        Retry(budget=0.1)


# -- hedged requests ------------------------------------------------------------------------------


class SlowFirst(Source):
    """Attempt 0 of a request named 'slow-*' takes 5 s; every other call 5 ms."""

    name = "slowfirst"

    def fetch(self, request, *, attempt=0, timeout=None):
        time.sleep(5.0 if request.startswith("slow") and attempt == 0 else 0.005)
        return f"{request}#{attempt}"


def test_hedge_sends_a_second_call_after_the_delay_and_takes_the_first_answer():
    # hedge after 0.5 s, 100x the 5 ms calls, and 2.5 s to spare before the slow one (it was 0.02 s and
    # 0.3 s with a 0.2 s bound: a thread late by 30 ms hedged a fast call, one late by 0.2 s broke the bound)
    hedge = Hedge(SlowFirst(), after=0.5)
    started = time.perf_counter()
    served = hedge.serve("slow-1")
    assert time.perf_counter() - started < 2.5
    assert served.value == "slow-1#1"
    assert [(a.number, type(a.error)) for a in served.attempts] == [(1, type(None)), (0, HedgeAbandoned)]
    assert hedge.serve("fast-1").value == "fast-1#0"  # no hedge needed
    assert hedge.counters() == {
        "hedges_sent": 1,
        "hedges_won": 1,
        "hedges_abandoned": 1,
        "hedges_cancelled": 0,
        "hedges_refused": 0,
    }
    hedge.close()


def test_hedge_to_a_backup_and_total_failure():
    # p takes 5 s (called off once b answers): b wins even if its thread starts late (with 0.2 s, one 0.2 s late lost)
    hedge = Hedge(SimulatedSource("p", latency=5.0), SimulatedSource("b", latency=0.001), after=0.01)
    assert hedge.serve("r").source == "b"
    down = Hedge(ScriptedSource("p", fail_on={"r"}), ScriptedSource("b", fail_on={"r"}), after=0.01)
    with pytest.raises(AllSourcesFailed) as info:
        down.serve("r")
    assert [a.source for a in info.value.attempts] == ["p", "b"]  # a failed primary is hedged at once
    hedge.close()
    down.close()


def test_hedge_at_a_percentile_waits_for_warmup():
    hedge = Hedge(SimulatedSource("s", latency=0.001), after="p90", warmup=5)
    assert hedge.delay() is None
    for i in range(10):
        hedge.serve(i)
    time.sleep(0.01)  # the latency observations are recorded by the calls' callbacks
    assert 0.0005 < hedge.delay() < 0.05
    hedge.close()


@pytest.mark.parametrize("after", ["p0", "p100", "fast", "p9x", -1])
def test_hedge_bad_after(after):
    with pytest.raises((ValueError, TypeError), match="after"):
        Hedge(str, after=after)


def test_hedging_at_p95_cuts_the_tail_for_a_few_percent_more_calls():
    # a body wide next to thread overheads (10 +- 5 ms), 2 % of calls 50x slower (500 ms); the hedge starts
    # warm; the better of two hedged runs, since a busy machine can wake a sleeping thread late
    source = SimulatedSource("s", latency=0.010, jitter=0.005, tail_rate=0.02, tail_factor=50, seed=1)
    plain = Router(source, workers=16).run(request_ids(1500))

    def p99(report):
        return sorted(o.service_time for o in report)[int(0.99 * len(report))]

    runs = []
    for _ in range(2):
        hedge = Hedge(source, after="p95")
        hedge.threshold.calibrate(o.service_time for o in plain)
        runs.append(Router(hedge, workers=16).run(request_ids(1500)))
        hedge.close()
    best = min(runs, key=p99)
    assert best.summary()["hedges_sent"] <= 0.07 * 1500
    assert p99(plain) / p99(best) >= 3  # measured about 20x on a quiet machine


def test_hedge_in_a_chain_keeps_its_attempts():
    hedge = Hedge(ScriptedSource("p", fail_on={"r"}), after=0.01)
    chain = FallbackChain([hedge, SimulatedSource("backup", latency=0)])
    served = chain.serve("r")
    assert served.source == "backup" and [a.source for a in served.attempts] == ["p", "p", "backup"]
    hedge.close()


# -- bulkhead -------------------------------------------------------------------------------------


def test_bulkhead_rejects_into_failed_outcomes_never_lost():
    router = Router(SimulatedSource("s", latency=0.02), workers=1, max_pending=2, on_full="reject")
    report = router.run(request_ids(20))
    assert [o.request for o in report] == request_ids(20)
    rejected = [o for o in report if isinstance(o.error, Rejected)]
    assert rejected and all(not o.attempts and o.worker == "router" for o in rejected)
    assert report.summary()["rejected"] == len(rejected)
    assert sum(o.ok for o in report) + len(rejected) == 20


def test_bulkhead_submit_resolves_at_once():
    gate = threading.Event()
    with Router(lambda r: gate.wait(5), workers=1, max_pending=1, on_full="reject") as router:
        first = router.submit(0)
        assert wait_until(first.running)  # the worker holds request 0 (a fixed 50 ms: not if it started late)
        second = router.submit(1)
        third = router.submit(2)  # the queue holds request 1: no room
        assert third.done() and isinstance(third.result().error, Rejected)
        gate.set()
    assert first.result().ok and second.result().ok


def test_on_full_must_be_known():
    with pytest.raises(ValueError, match="on_full must be one of 'block', 'reject'; got 'drop'"):
        Router(str, on_full="drop")


@settings(max_examples=25, deadline=None)
@given(
    workers=st.integers(1, 16),
    max_pending=st.integers(1, 8),
    failure_rate=st.floats(0, 1),
    n=st.integers(0, 60),
    seed=st.integers(0, 1000),
)
def test_nothing_is_lost_or_duplicated_with_hedges_budgets_and_rejection(workers, max_pending, failure_rate, n, seed):
    source = SimulatedSource("s", latency=0.0005, failure_rate=failure_rate, tail_rate=0.1, tail_factor=10, seed=seed)
    hedge = Hedge(source, after=0.001)
    chain = FallbackChain(
        [hedge, SimulatedSource("b", latency=0, failure_rate=failure_rate, seed=seed)],
        retry=Retry(attempts=3, base=0, budget=RetryBudget(ratio=0.1, floor=2)),
    )
    report = Router(chain, workers=workers, max_pending=max_pending, on_full="reject").run(request_ids(n))
    hedge.close()
    assert [o.request for o in report] == request_ids(n)
    for o in report:
        assert o.ok == (o.source is not None)
        assert isinstance(o.error, Rejected) == (not o.attempts)


# -- outage and contention -----------------------------------------------------------------------


def test_outage_window(monkeypatch):
    """Down from 0.05 s to 0.1 s after creation. The clock is the test's: sleeping into a 50 ms window failed
    when a sleep returned 45 ms late on a busy machine."""
    import ella_lab.resilience

    now = [0.0]
    monkeypatch.setattr(ella_lab.resilience, "clock", lambda: now[0])
    outage = Outage(SimulatedSource("s", latency=0), start=0.05, end=0.1)
    timeline = [(0.0, False), (0.049, False), (0.05, True), (0.06, True), (0.099, True), (0.1, False), (0.11, False)]
    for t, down in timeline:
        now[0] = t
        if down:
            with pytest.raises(SourceError, match="outage"):
                outage.fetch("r")
        else:
            assert outage.fetch("r") == "Result from s for r", t
    with pytest.raises(ValueError, match="end"):
        Outage(str, start=1, end=0.5)


def test_contention_without_jitter_serves_one_client_per_round():
    result = contention(20, jitter="none", base=0.01, cap=10.0, service=0.001)
    assert result["calls"] == 20 * 21 // 2  # 20 + 19 + ... + 1


def test_contention_jitter_cuts_the_calls_and_repeats_exactly():
    none, full = (contention(100, jitter=mode, base=0.005, service=0.001) for mode in ("none", "full"))
    assert full["calls"] < none["calls"] / 3
    assert contention(100, jitter="full", base=0.005) == contention(100, jitter="full", base=0.005)
    with pytest.raises(ValueError, match="jitter"):
        contention(10, jitter="half")
