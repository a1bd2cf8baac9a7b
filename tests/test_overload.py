"""Overload controls: the capped retry budget, adaptive throttling, adaptive concurrency limits, the simulator."""

from __future__ import annotations

import math
import threading
import time

import pytest
from waiting import wait_until

from ella_lab import FallbackChain, Retry, Router
from ella_lab.overload import (
    AIMD,
    AdaptiveThrottle,
    ConcurrencyLimit,
    Gradient,
    LimitExceeded,
    Throttled,
    ThrottleWindow,
)
from ella_lab.resilience import RetryBudget
from ella_lab.sim import recovery_time, simulate
from ella_lab.sources import SourceError


class _Switch:
    """A source healthy for its first ``healthy`` calls of first tries, then down; counts every call."""

    def __init__(self, down_from: int):
        self.down_from, self.calls, self._lock = down_from, [], threading.Lock()

    def __call__(self, request: int) -> str:
        with self._lock:
            self.calls.append(request)
        if request >= self.down_from:
            raise SourceError(f"down for {request}")
        return "ok"


@pytest.mark.timeout(60)
def test_budget_cannot_be_banked_by_a_long_healthy_history():
    """20,000 healthy requests, then a total outage: at most 1.2 calls a request from the outage's first requests."""
    source = _Switch(down_from=20_000)
    budget = RetryBudget(ratio=0.1)
    chain = FallbackChain([source], retry=Retry(attempts=3, base=0, budget=budget))
    report = Router(chain, workers=4).run(range(20_500))
    assert report.summary()["succeeded"] == 20_000
    outage_calls = [r for r in source.calls if r >= 20_000]
    assert len(outage_calls) / 500 <= 1.2, len(outage_calls) / 500  # the uncapped budget gave 3.0
    first_100 = sum(1 for r in outage_calls if r < 20_100)
    assert first_100 / 100 <= 1.25, first_100  # from the very start: cap 10 + 0.1 per request


def test_budget_token_bucket_arithmetic_and_old_name():
    budget = RetryBudget(ratio=0.5, cap=2)
    assert [budget.try_retry() for _ in range(3)] == [True, True, False]  # starts full: 2 tokens
    budget.record_request()
    assert not budget.try_retry()  # half a token
    budget.record_request()
    assert budget.try_retry()
    for _ in range(100):
        budget.record_request()
    assert budget.tokens == 2  # capped
    assert RetryBudget(ratio=0.1, floor=3).cap == 3
    with pytest.raises(TypeError, match="cap or its old name floor"):
        RetryBudget(cap=1, floor=1)
    with pytest.raises(ValueError, match="ratio"):
        RetryBudget(ratio=-1)


def test_throttle_window_follows_the_sre_formula():
    window = ThrottleWindow(k=2.0, window=10.0)
    for i in range(1000):
        window.record_request(1.0)
        if i % 4 == 0:
            window.record_accept(1.0)
    assert window.counts(1.0) == (1000, 250)
    assert window.probability(1.0) == pytest.approx((1000 - 2 * 250) / 1001)
    assert window.probability(5.0) == pytest.approx((1000 - 2 * 250) / 1001)  # still inside the window
    assert window.probability(12.0) == 0.0  # forgotten: the window moved on
    window.record_request(12.0)
    assert window.counts(12.0) == (1, 0)
    healthy = ThrottleWindow(k=2.0)
    for _ in range(100):
        healthy.record_request(0.0)
        healthy.record_accept(0.0)
    assert healthy.probability(0.0) == 0.0


def test_throttle_rejects_locally_and_rejections_are_outcomes():
    down = _Switch(down_from=0)
    throttle = AdaptiveThrottle(down, window=60.0)
    report = Router(throttle, workers=1).run(range(1000))
    summary = report.summary()
    assert summary["requests"] == 1000 and summary["failed"] == 1000  # none lost
    throttled = sum(isinstance(o.error, Throttled) for o in report)
    assert throttled == summary["throttled"] == throttle.rejected
    # p_i = i / (i + 1) for the i-th request of a window with no accept: about 1000 - ln(1000) rejected
    expected = sum(i / (i + 1) for i in range(1000))
    assert abs(throttled - expected) < 4 * math.sqrt(expected * (1 - expected / 1000)) + 5
    assert len(down.calls) == 1000 - throttled
    healthy = AdaptiveThrottle(lambda r: "ok")
    assert Router(healthy, workers=4).run(range(2000)).summary()["succeeded"] == 2000
    assert healthy.rejected == 0


def test_aimd_trajectory_on_a_scripted_sequence():
    aimd = AIMD(initial=1, minimum=1, maximum=5, increase=1, decrease=0.5)
    limit, path = 1.0, []
    for ok, inflight in [(True, 1), (True, 1), (True, 2), (True, 2), (True, 3), (False, 3), (False, 1), (True, 1)]:
        limit = aimd.update(limit, 0.01, ok, inflight)
        path.append(limit)
    # grows while the calls in flight use at least half the limit, halves on an overload, never below 1
    assert path == [2.0, 3.0, 4.0, 5.0, 5.0, 2.5, 1.25, 2.25]


def test_concurrency_limit_bounds_calls_in_flight_and_adapts():
    now_inside, most, lock = 0, 0, threading.Lock()

    def slow(request):
        nonlocal now_inside, most
        with lock:
            now_inside += 1
            most = max(most, now_inside)
        time.sleep(0.01)
        with lock:
            now_inside -= 1
        if request % 10 == 9:
            raise TimeoutError("slow")
        return request

    limited = ConcurrencyLimit(slow, AIMD(initial=4, minimum=2, maximum=4))
    report = Router(limited, workers=16).run(range(400))
    assert most <= 4
    refused = sum(isinstance(o.error, LimitExceeded) for o in report)
    assert refused == limited.rejected == report.summary()["limit_rejected"] > 0
    assert report.summary()["requests"] == 400  # refusals are failed outcomes, never lost
    assert min(limited.history) >= 2 and max(limited.history) <= 4
    waiting = ConcurrencyLimit(slow, AIMD(initial=2, minimum=2, maximum=2), max_wait=5.0)
    assert not any(isinstance(o.error, LimitExceeded) for o in Router(waiting, workers=8).run(range(40)))


def test_gradient_shrinks_when_latency_rises_and_grows_when_it_is_flat():
    gradient = Gradient(initial=20, minimum=1, maximum=100, smoothing=1.0)
    limit = 20.0
    limit = gradient.update(limit, 0.010, True, 10)
    assert limit == pytest.approx(20 + math.sqrt(20))
    for _ in range(30):
        limit = gradient.update(limit, 0.010, True, 10)
    assert limit == 100  # flat latency: + sqrt(limit) each time, up to the maximum
    slow = gradient.update(40.0, 0.020, True, 10)  # twice the best latency: the gradient halves it
    assert slow == pytest.approx(40 * 0.5 + math.sqrt(40))
    with pytest.raises(ValueError, match="smoothing"):
        Gradient(smoothing=0)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="k must be"):
        ThrottleWindow(k=0.5)
    with pytest.raises(ValueError, match="window must be > 0"):
        AdaptiveThrottle(lambda r: r, window=0)
    with pytest.raises(TypeError, match="algorithm must be"):
        ConcurrencyLimit(lambda r: r, algorithm="aimd")
    with pytest.raises(ValueError, match="decrease must be < 1"):
        AIMD(decrease=1.0)
    with pytest.raises(TypeError, match="overload must be"):
        AdaptiveThrottle(lambda r: r, overload=(KeyboardInterrupt,))
    with pytest.raises(ValueError, match="control must be one of"):
        simulate(control="magic")
    with pytest.raises(ValueError, match="rate x duration"):
        simulate(rate=1e6, duration=3600)


def test_simulation_is_deterministic_and_fast():
    a, b = simulate(seed=3), simulate(seed=3)
    assert a.goodput == b.goodput and a.queue == b.queue
    assert simulate(seed=4).goodput != a.goodput


def _settled(result, after: float) -> float:
    """Mean goodput from ``after`` seconds past the trigger's end to the end of the run."""
    end = result.settings["trigger_at"] + result.settings["trigger"]
    values = [g for t, g in zip(result.times, result.goodput, strict=True) if t >= end + after]
    return sum(values) / len(values)


def test_metastable_without_controls_and_cured_by_each_control():
    capacity = 4 / 0.020  # 200 answers a second
    none = simulate(control="none", duration=12)
    end = 4.0
    after = [g for t, g in zip(none.times, none.goodput, strict=True) if end <= t < end + 5]
    assert max(after) < 0.2 * capacity  # stays collapsed for 5 s after the trigger is gone
    assert recovery_time(none) == math.inf
    calm = simulate(control="none", duration=12, trigger=0.0)
    assert _settled(calm, 1.0) > 0.9 * 140  # the same system without the trigger is fine at 70 %
    for control in ("budget", "throttle", "limit", "drop_expired"):
        cured = simulate(control=control, duration=12)
        assert recovery_time(cured) <= 2.0, control
        assert _settled(cured, 3.0) > 0.9 * 140, control


def test_local_refusals_are_not_retried():
    """A Throttled or LimitExceeded try is the client's own decision: retrying it at once would just refuse again."""
    calls = []
    throttle = AdaptiveThrottle(lambda r: calls.append(r) or (_ for _ in ()).throw(SourceError("down")), window=60.0)
    chain = FallbackChain([throttle], retry=Retry(attempts=3, base=0))
    report = Router(chain, workers=1).run(range(300))
    refused = [o for o in report if isinstance(o.attempts[-1].error, Throttled)]
    assert refused and all(o.attempts[-1].error.retryable is False for o in refused)
    assert all(sum(isinstance(a.error, Throttled) for a in o.attempts) == 1 for o in refused)  # never a second time
    assert not Retry(attempts=3).should_retry(LimitExceeded("full")) and Retry(attempts=3).should_retry(SourceError())


@pytest.mark.timeout(30)
def test_waiting_for_room_comes_off_the_timeout():
    """b arrives while a holds the one place (0.4 s), waits up to 0.4 s for it, then needs 0.5 s: over its 0.5 s
    timeout in all, however late b arrives within a's 0.4 s, so it times out.

    (It was a 0.2 s hold, b 0.05 s later and a 0.3 s call: a thread started 0.1 s late let b in first.)"""
    durations = {"a": 0.4, "b": 0.5}
    limited = ConcurrencyLimit(
        lambda r: time.sleep(durations[r]) or r, AIMD(initial=1, minimum=1, maximum=1), max_wait=1.0
    )
    first = threading.Thread(target=limited.fetch, args=("a",), kwargs={"timeout": 1.0})
    first.start()
    assert wait_until(lambda: limited.inflight == 1)  # a holds the place
    with pytest.raises(TimeoutError):
        limited.fetch("b", timeout=0.5)
    first.join()
    assert limited.fetch("b", timeout=2.0) == "b"  # with time enough, it is served
    with pytest.raises(LimitExceeded):  # no room within the wait: refused
        blocker = threading.Thread(target=limited.fetch, args=("a",), kwargs={"timeout": 1.0})
        blocker.start()
        assert wait_until(lambda: limited.inflight == 1)
        try:
            limited.fetch("b", timeout=0.05)
        finally:
            blocker.join()


def test_budget_counts_exact_tenths():
    budget = RetryBudget(ratio=0.1, cap=1)
    budget.tokens = 0
    for _ in range(10):
        budget.record_request()
    assert budget.try_retry()  # ten requests at 0.1 make exactly one retry, with no rounding loss
    budget.tokens = 0
    allowed = 0
    for _ in range(1000):
        budget.record_request()
        allowed += budget.try_retry()
    assert allowed == 100


def test_simulation_arguments_and_arrivals():
    paced = simulate(arrivals="paced", duration=2.0, trigger=0.0)
    assert sum(paced.first_tries) * paced.bin_s == pytest.approx(140 * 2.0, abs=1)
    with pytest.raises(ValueError, match="attempts must be <= 20"):
        simulate(attempts=10**6)
    with pytest.raises(ValueError, match="arrivals"):
        simulate(arrivals="bursty")
    with pytest.raises(TypeError, match="limit must be"):
        simulate(control="limit", limit="aimd")
    with pytest.raises(TypeError, match="seed"):
        simulate(seed="x")
    with pytest.raises(ValueError, match="threshold"):
        recovery_time(paced, threshold=float("nan"))
    with pytest.raises(ValueError, match="now must be a finite"):
        ThrottleWindow().probability(float("inf"))
    from ella_lab.sim import phase_diagram

    with pytest.raises(TypeError, match="sets rate itself"):
        phase_diagram([0.5], [1.0], rate=10)
    ended = simulate(control="none", duration=4.0)
    steady = sum(ended.offered[-10:-1]) / 9
    assert ended.offered[-1] < 1.5 * steady  # events past the end are not piled into the last bin


def test_sim_times_are_the_bin_starts_rounded_so_a_slice_to_a_round_time_keeps_its_bin():
    # 24 * 0.1 == 2.4000000000000004: frame().set_index("t").loc[2.1:2.4] left out the bin at 2.4 (notebook 10)
    run = simulate(control="throttle", duration=6.0)
    assert run.times[24] == 2.4 and run.times[3] == 0.3
    queue = run.frame().set_index("t").queue
    assert len(queue.loc[2.1:2.4]) == 4
    slow_throttle = simulate(control="throttle", duration=10.0, throttle_window=1.0)
    assert recovery_time(slow_throttle) == 3.6  # not 3.6000000000000005


def test_stayed_down_counts_the_seeds_whose_run_stayed_down_in_each_cell():
    from ella_lab.sim import phase_diagram, stayed_down

    down = stayed_down([0.4, 0.5], [1.0, 4.0], seeds=[1, 2, 3], arrivals="poisson")
    assert list(down.index) == [0.4, 0.5] and list(down.columns) == [1.0, 4.0]
    for load in (0.4, 0.5):
        for trigger in (1.0, 4.0):
            runs = [phase_diagram(load, trigger, arrivals="poisson", seed=s).recovered[0] for s in (1, 2, 3)]
            assert down.loc[load, trigger] == runs.count(False)
    assert down.loc[0.5, 4.0] == 3 and down.loc[0.4].sum() == 0  # the paced map's safe 50 % is not safe here
    with pytest.raises(ValueError, match="seeds"):
        stayed_down([0.5], [1.0], seeds=[])
    with pytest.raises(TypeError, match="seeds"):
        stayed_down([0.5], [1.0], seeds=[1, "2"])
    with pytest.raises(TypeError, match="seeds"):
        stayed_down([0.5], [1.0], seeds=5)
    with pytest.raises(TypeError, match="seed="):
        stayed_down([0.5], [1.0], seeds=[1], seed=2)
    # every seed's grid counts toward one bound, checked before the first run (and before the seeds are walked)
    with pytest.raises(ValueError, match="fewer seeds"):
        stayed_down([0.9], [4.0], seeds=range(10**9))


# -- hedging within a budget ----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_hedging_never_exceeds_its_extra_call_budget_under_64_threads():
    from ella_lab import Hedge, SimulatedSource

    source = SimulatedSource("s", latency=0.002, jitter=0.002, tail_rate=0.2, tail_factor=10, seed=3)
    hedge = Hedge(source, after=0.003, max_extra=0.05)  # a tail of 20 %: unbounded, it would hedge ~25 %
    report = Router(hedge, workers=64).run(range(4000))
    summary = report.summary()
    assert summary["succeeded"] == 4000
    assert summary["hedges_sent"] <= 0.05 * 4000  # never more than 5 % extra calls, even with 64 at once
    assert summary["hedges_sent"] >= 0.04 * 4000 and summary["hedges_refused"] > 0  # the budget was the limit


@pytest.mark.timeout(30)
def test_a_losing_simulated_call_stops_sleeping_and_a_plain_callable_is_counted_abandoned():
    from ella_lab import Hedge, SimulatedSource

    slow = SimulatedSource("slow", latency=30.0)  # not called off, it would hold its thread 30 s
    fast = SimulatedSource("fast", latency=0.01)
    hedge = Hedge(slow, fast, after=0.02)
    started = time.perf_counter()
    assert hedge.serve("r").source == "fast"
    assert time.perf_counter() - started < 5.0  # the fast answer, not the slow one
    assert hedge.counters()["hedges_cancelled"] == 1 and hedge.counters()["hedges_abandoned"] == 0
    # the slow call's thread is free again: it stopped sleeping (waited for, not assumed after a fixed 0.2 s)
    assert wait_until(lambda: hedge._pool.stuck == 0, timeout=10.0)
    stubborn = Hedge(lambda r: time.sleep(3.0) or "late", fast, after=0.02)
    assert stubborn.serve("r").source == "fast"
    assert stubborn.counters()["hedges_abandoned"] == 1 and stubborn.counters()["hedges_cancelled"] == 0


@pytest.mark.timeout(30)
def test_a_losing_http_call_closes_its_socket():
    from ella_lab import Hedge, SimulatedSource
    from ella_lab.service import FlakyService, HttpSource

    with FlakyService("stalls", stall_rate=1.0, stall=20.0) as service:
        primary = HttpSource("stalls", service.url, timeout=10.0)
        hedge = Hedge(primary, SimulatedSource("fast", latency=0.01), after=0.05)
        started = time.perf_counter()
        assert hedge.serve("r").source == "fast"
        deadline = time.perf_counter() + 2.0
        while hedge._pool.stuck and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert hedge._pool.stuck == 0  # the HTTP call returned once its socket was shut, not after 10 s
        assert time.perf_counter() - started < 2.0
        assert hedge.counters()["hedges_cancelled"] == 1
