"""Faults of sources and resilience parts (issue 11): hedges that hang or die, an interrupted breaker,
timeouts on plain callables that leak threads. Every test here is bounded in time."""

import contextlib
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from waiting import wait_until

from ella_lab import FallbackChain, Retry, Router
from ella_lab.fallback import AllSourcesFailed
from ella_lab.resilience import CircuitBreaker, Hedge
from ella_lab.sources import MAX_ABANDONED, FunctionSource, Source, SourceError, call_with_timeout


class Boom(BaseException):
    """A BaseException that is not KeyboardInterrupt (pytest treats that one specially)."""


# -- Hedge ---------------------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_hedge_applies_the_timeout_to_its_own_waits():
    release = threading.Event()

    class Deaf(Source):  # ignores the timeout it is given
        name = "deaf"

        def fetch(self, request, *, attempt=0, timeout=None):
            release.wait(10)
            return "late"

    # the hedge goes out 0.02 s after the primary starts: the 1 s timeout leaves room for both calls to start
    # on a busy machine (with 0.2 s, a helper thread that started late left only the primary: one TimeoutError)
    hedge = Hedge(Deaf(), after=0.02, name="h")
    started = time.perf_counter()
    try:
        with pytest.raises(AllSourcesFailed) as info:
            hedge.fetch("x", timeout=1.0)
        assert [type(e) for e in info.value.exceptions] == [TimeoutError, TimeoutError]
        took = time.perf_counter() - started
    finally:
        release.set()
    assert took < 1.0 + 1.0, f"the hedge waited {took:.2f} s past a 1 s timeout (the calls ignore it for 10 s)"


@pytest.mark.timeout(30)
def test_hedge_survives_base_exceptions_in_its_calls():
    def dies(request):
        raise Boom("gone")

    hedge = Hedge(dies, lambda r: f"b{r}", after=0.5, max_workers=2)
    for i in range(10):  # more than max_workers: a dead pool thread would wedge the next ones
        assert hedge.fetch(i, timeout=2.0) == f"b{i}"  # the primary died at once: the backup is tried


@pytest.mark.timeout(30)
def test_hedge_whose_every_call_raises_a_base_exception_raises_it():
    def dies(request):
        raise Boom("gone")

    hedge = Hedge(dies, dies, after=0.5, max_workers=2)
    for _ in range(4):
        with pytest.raises(Boom):
            hedge.fetch("x", timeout=2.0)
    assert hedge.sent == 4


@pytest.mark.timeout(30)
def test_an_abandoned_hedged_call_never_blocks_interpreter_exit():
    code = textwrap.dedent(
        """
        import time
        from ella_lab import Router
        from ella_lab.resilience import Hedge
        t = time.perf_counter()
        report = Router(Hedge(lambda r: time.sleep(3600), lambda r: "b", after=0.05)).run(["x"])
        print(report[0].value, round(time.perf_counter() - t, 3))
        """
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    took = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    value, run_s = done.stdout.split()
    assert value == "b" and float(run_s) < 2.0
    assert took < 15.0  # the interpreter itself starts in about a second; a blocked exit takes an hour


# -- CircuitBreaker ------------------------------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, Boom])
def test_breaker_recovers_from_an_interrupted_trial(interrupt):
    calls = []

    def source(request):
        calls.append(request)
        if request == "interrupt":
            raise interrupt("Ctrl-C")
        if request == "fail":
            raise SourceError("down")
        return "ok"

    breaker = CircuitBreaker(source, failures=1, reset_after=0.01)
    with pytest.raises(SourceError):
        breaker.fetch("fail")
    time.sleep(0.02)
    with pytest.raises(interrupt):
        breaker.fetch("interrupt")  # the half-open trial, interrupted
    time.sleep(0.02)
    assert breaker.fetch("later") == "ok"  # a new trial is let through, and it closes the breaker
    assert breaker.state == "closed"


def test_breaker_history_is_bounded_and_counted():
    flapping = FunctionSource(lambda r: (_ for _ in ()).throw(SourceError("x")) if r % 2 else "ok", name="flap")
    breaker = CircuitBreaker(flapping, failures=1, reset_after=0.0)
    for i in range(6000):
        with contextlib.suppress(SourceError):
            breaker.fetch(i)
    assert len(breaker.transitions) <= 1000
    assert breaker.counters()["breaker_transitions"] > 3000  # the total, not what the history keeps
    assert all(len(entry) == 3 for entry in breaker.transitions)


# -- timeouts on plain callables -----------------------------------------------------------------


def _threads() -> int:
    return threading.active_count()


@pytest.mark.timeout(60)
def test_timed_out_plain_calls_leave_a_bounded_number_of_threads():
    release = threading.Event()
    before = _threads()
    # after release each stuck call takes 0.2 s more to return: the retry below must wait for all of them
    source = FunctionSource(lambda r: (release.wait(30), time.sleep(0.2))[0], name="stuck")
    try:
        report = Router(source, workers=4, timeout=0.005).run(range(1000))
        during = _threads() - before
        assert len(report) == 1000 and not any(o.ok for o in report)
        assert all(isinstance(o.error, TimeoutError) for o in report)
        abandoned = report.summary()["abandoned"]
        assert MAX_ABANDONED <= abandoned <= MAX_ABANDONED + 4
        assert during <= MAX_ABANDONED + 4 + 4, f"{during} threads left by 1,000 timed-out calls"
        healthy = Router(FunctionSource(lambda r: r, name="healthy"), workers=4, timeout=1.0).run(range(100))
        assert all(o.ok for o in healthy)  # a hung source does not starve the others
    finally:
        release.set()
    assert wait_until(lambda: source.calls.running == 0)  # every abandoned call has returned
    assert Router(source, workers=4, timeout=1.0).run(range(10))[0].value is True  # released: it answers again


@pytest.mark.timeout(60)
def test_retried_timeouts_leave_a_bounded_number_of_threads_too():
    release = threading.Event()
    before = _threads()
    source = FunctionSource(lambda r: release.wait(30), name="stuck")
    try:
        report = Router(source, workers=4, timeout=0.005, retry=Retry(attempts=3, base=0)).run(range(500))
        assert all(len(o.attempts) == 3 and isinstance(o.error, TimeoutError) for o in report)
        assert _threads() - before <= MAX_ABANDONED + 4 + 4  # was 3 threads per request
        assert report.summary()["abandoned"] <= MAX_ABANDONED + 4
    finally:
        release.set()
    assert wait_until(lambda: source.calls.running == 0)


@pytest.mark.timeout(60)
def test_timeouts_reuse_helper_threads_when_nothing_times_out():
    before = _threads()
    ran_on: set[threading.Thread] = set()  # the Thread objects, kept alive: a dead thread's ident is reused

    def double(r):
        ran_on.add(threading.current_thread())  # set.add is atomic, with or without the GIL
        return r * 2

    report = Router(FunctionSource(double, name="double"), workers=4, timeout=1.0).run(range(5000))
    assert [o.value for o in report] == [2 * i for i in range(5000)]
    assert report.summary()["abandoned"] == 0
    assert len(ran_on) <= 8, f"5,000 calls ran on {len(ran_on)} threads"  # before: one new thread per call
    assert _threads() - before <= 8  # and none of them is left behind


@pytest.mark.timeout(20)
def test_call_with_timeout_counts_and_reports_an_abandoned_call():
    release = threading.Event()
    source = FunctionSource(lambda r: release.wait(10), name="stuck")
    try:
        # 1 s for each call to be started, so abandoned (running) rather than cancelled (never started): with 0.3 s
        # a helper thread that took a call up 0.35 s late made it 1
        report = Router(FallbackChain([source], timeout=1.0)).run(["a", "b"])
        assert report.summary()["abandoned"] == 2
        assert source.counters() == {"abandoned": 2}
    finally:
        release.set()
    with pytest.raises(TimeoutError):
        call_with_timeout(lambda r: time.sleep(0.3), "x", 0.02)


@pytest.mark.timeout(20)
def test_a_base_exception_in_a_timed_call_is_handed_back_and_the_helper_survives():
    def dies(request):
        raise Boom("gone")

    for _ in range(3 * MAX_ABANDONED):
        with pytest.raises(Boom):
            call_with_timeout(dies, "x", 1.0)
    assert call_with_timeout(lambda r: r + 1, 1, 1.0) == 2
