"""Router(f, timeout=T) on a plain callable: the workers call f inline, a watchdog times calls out.

Same guarantees as the helper-thread path it replaces: TimeoutError at the deadline (within the
watchdog's resolution), no request lost or answered twice, K workers keep serving, abandoned calls
counted, threads bounded, Ctrl-C prompt, and the one-source chain's outcomes.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from ella_lab import FallbackChain, Router
from ella_lab.deadlines import Deadlines
from ella_lab.sources import MAX_ABANDONED, FunctionSource

SLACK = 1.0  # scheduling on a busy 2-core machine


@pytest.fixture
def thread_errors():
    """Exceptions that escaped any thread during the test (a second answer would raise InvalidStateError)."""
    caught: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: caught.append(args.exc_value)
    yield caught
    threading.excepthook = previous


def _settle(baseline: int, limit: float = 10.0) -> int:
    deadline = time.monotonic() + limit
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return threading.active_count()


@pytest.mark.timeout(30)
def test_the_callable_runs_on_the_workers_own_thread_with_no_hand_off():
    seen: list[str] = []

    def f(request):
        seen.append(threading.current_thread().name)
        return request

    report = Router(f, workers=3, timeout=1.0).run(range(30))
    assert all(o.ok for o in report)
    assert set(seen) <= {"ella-worker-0", "ella-worker-1", "ella-worker-2"}, set(seen)
    with Router(f, workers=2, timeout=1.0) as r:
        assert r.submit("x").result(timeout=5).ok
    assert seen[-1] in ("ella-worker-0", "ella-worker-1")


@pytest.mark.timeout(30)
def test_a_late_call_times_out_at_its_deadline_and_its_late_answer_is_dropped(thread_errors):
    # The slow call returns 1 s past its deadline, while the next call (started at the deadline) has used half
    # of its own: 1 s of scheduling slack either way (was 0.6 s and 0.4 s, with timeout=1, sleep 1.6).
    timeout = 2.0
    returned = threading.Event()

    def f(request):
        if request == "slow":
            time.sleep(3.0)  # returns while the run is still going
            returned.set()
            return "late"
        assert returned.wait(5)  # the replacement worker waits until the slow call has returned
        return request

    report = Router(f, workers=1, timeout=timeout).run(["slow", "next"])
    slow, following = report.outcomes
    assert returned.is_set() and following.ok and following.value == "next"  # the run outlived the late answer
    assert not slow.ok and type(slow.error) is TimeoutError and slow.value is None
    assert len(slow.attempts) == 1 and type(slow.attempts[0].error) is TimeoutError
    resolution = min(timeout / 20, 0.05)
    assert timeout <= slow.service_time <= timeout + resolution + SLACK
    assert slow.worker == following.worker == "worker-0"  # the replacement serves under the same name
    assert report.summary()["abandoned"] == 1
    assert not thread_errors


@pytest.mark.timeout(30)
def test_k_workers_keep_serving_while_calls_are_stuck():
    release = threading.Event()
    lock = threading.Lock()
    running, peak = [0], [0]

    def f(request):
        if request < 0:
            release.wait(20)  # stuck until the test ends
            return request
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return request

    try:
        # 1 s for 50 ms calls: a fast call that answers past its timeout is a TimeoutError too, and a worker
        # descheduled for 0.3 s on a busy machine made one late with timeout=0.3
        report = Router(f, workers=4, timeout=1.0).run([-1, -2, -3, *range(60)])
    finally:
        release.set()
    assert [type(o.error) for o in report.outcomes[:3]] == [TimeoutError] * 3
    assert all(o.ok for o in report.outcomes[3:])
    assert peak[0] == 4  # the three stuck workers were replaced: four served the fast calls side by side
    assert report.summary()["abandoned"] == 3


@pytest.mark.timeout(60)
def test_a_thousand_hung_calls_hold_a_bounded_number_of_threads():
    release = threading.Event()
    baseline = threading.active_count()
    peak = [0]

    def f(request):
        peak[0] = max(peak[0], threading.active_count())
        release.wait(30)
        return request

    workers = 4
    try:
        report = Router(f, workers=workers, timeout=0.05).run(range(1000))
        during = threading.active_count()
    finally:
        release.set()
    assert len(report) == 1000 and all(type(o.error) is TimeoutError for o in report)
    abandoned = report.summary()["abandoned"]
    assert MAX_ABANDONED <= abandoned < MAX_ABANDONED + workers
    assert sum("not started" in str(o.error) for o in report) == 1000 - abandoned
    bound = baseline + MAX_ABANDONED + 2 * workers + 1  # stuck calls, workers, the watchdog
    assert max(peak[0], during) <= bound
    assert _settle(baseline) <= baseline  # the stuck workers exit once their calls return


@pytest.mark.timeout(60)
@pytest.mark.parametrize("max_pending", [None, 8])
def test_ctrl_c_during_run_with_stuck_calls_returns_promptly(max_pending):
    release = threading.Event()
    main = threading.get_ident()
    fired: list[float] = []

    def f(request):
        if request % 2 == 0:
            release.wait(30)  # far past anything the test waits for
        return request

    def interrupt():
        fired.append(time.monotonic())
        signal.pthread_kill(main, signal.SIGINT)

    baseline = threading.active_count()
    timer = threading.Timer(0.3, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            Router(f, workers=4, timeout=20.0, max_pending=max_pending).run(range(100))
        returned = time.monotonic()
    finally:
        timer.join()
        release.set()
    assert returned - fired[0] < 2.0
    assert _settle(baseline) <= baseline


@pytest.mark.timeout(30)
@pytest.mark.parametrize("interrupted", ["ella-watchdog", "ella-worker-0", "ella-worker-1"])
@pytest.mark.parametrize("max_pending", [None, 8])
def test_ctrl_c_inside_a_thread_start_leaves_no_thread(monkeypatch, interrupted, max_pending):
    """Thread.start() waits for the new thread, so a Ctrl-C can land in it with the thread already running:
    on a busy machine the test above did (a worker missed its sentinel and waited on the queue for ever,
    the watchdog was never stopped, or IndexError came out instead of KeyboardInterrupt)."""
    real_start = threading.Thread.start

    def start(thread):
        real_start(thread)
        if thread.name == interrupted:
            raise KeyboardInterrupt

    baseline = threading.active_count()
    monkeypatch.setattr(threading.Thread, "start", start)
    try:
        with pytest.raises(KeyboardInterrupt):
            Router(lambda r: r, workers=4, timeout=20.0, max_pending=max_pending).run(range(100))
    finally:
        monkeypatch.undo()
    assert _settle(baseline) <= baseline, [t.name for t in threading.enumerate()]


@pytest.mark.timeout(30)
def test_submit_futures_resolve_with_timeout_error_and_the_service_keeps_serving(thread_errors):
    release = threading.Event()
    stuck_threads = []

    def f(request):
        if request == "stuck":
            stuck_threads.append(threading.current_thread())
            release.wait(20)
            return "late"
        return request

    timeout = 0.3
    with Router(f, workers=2, timeout=timeout) as r:
        started = time.monotonic()
        stuck = [r.submit("stuck") for _ in range(2)]  # both workers stuck
        outcomes = [future.result(timeout=5) for future in stuck]
        waited = time.monotonic() - started
        fast = [r.submit(i) for i in range(20)]
        assert [future.result(timeout=5).value for future in fast] == list(range(20))
        release.set()
        for thread in stuck_threads:  # the stuck calls return now: their answers must be dropped
            thread.join(10)  # (a fixed sleep let a late second answer land after the check below)
        assert not any(thread.is_alive() for thread in stuck_threads)
    assert all(type(o.error) is TimeoutError and len(o.attempts) == 1 for o in outcomes)
    assert [future.result().error for future in stuck] == [o.error for o in outcomes]
    assert waited <= timeout + 0.05 + SLACK
    assert r.close(timeout=5)
    assert not thread_errors


@pytest.mark.timeout(30)
def test_close_waits_for_the_replacements_not_for_the_stuck_calls():
    release = threading.Event()

    def f(request):
        release.wait(20)
        return request

    r = Router(f, workers=1, timeout=0.2)
    started = time.monotonic()
    try:
        with r:  # leaving the block closes the Router and waits for its workers (timing only close() missed that)
            future = r.submit("x")
        assert r.close(timeout=None)  # the stuck worker is replaced at its deadline; the replacement exits
    finally:
        release.set()
    assert time.monotonic() - started < 0.2 + 2 * SLACK  # the stuck call would hold close() 20 s
    assert type(future.result(timeout=1).error) is TimeoutError


def _mixed(request):
    if request % 5 == 1:
        raise ValueError(f"bad {request}")
    if request % 5 == 2:
        time.sleep(2.0)  # far past the 0.5 s timeout below, so that each is abandoned even on a busy machine
    return request * 2


class _Wrapped(FunctionSource):
    """A FunctionSource subclass: the router leaves it on the chain and helper-thread path."""


def _record(report):
    return [
        (
            o.request,
            o.ok,
            o.value,
            o.source,
            type(o.error),
            str(o.error),
            [(a.source, a.number, type(a.error)) for a in o.attempts],
        )
        for o in report
    ]


@pytest.mark.timeout(60)
def test_outcomes_match_the_chain_path_for_fast_failing_and_slow_calls():
    requests = list(range(20))
    # 0.5 s: a helper thread that starts a call after its timeout counts it cancelled, not abandoned
    inline = Router(_mixed, workers=4, timeout=0.5)
    chained = Router(_Wrapped(_mixed, name="_mixed"), workers=4, timeout=0.5)
    assert inline._inline is not None and chained._inline is None
    fast, slow = inline.run(requests), chained.run(requests)
    assert _record(fast) == _record(slow)
    assert fast.summary()["abandoned"] == slow.summary()["abandoned"] == 4
    assert [o.worker.startswith("worker-") for o in fast] == [True] * 20


def test_the_fast_path_is_only_for_a_timeout_alone_on_a_plain_callable():
    from ella_lab import Retry, ScriptedSource

    assert Router(_mixed, timeout=1.0)._inline is not None
    assert Router(_mixed)._inline is None
    assert Router(_mixed, timeout=1.0, retry=Retry(attempts=2))._inline is None
    assert Router(ScriptedSource(), timeout=1.0)._inline is None
    assert Router(FallbackChain([_mixed]), timeout=1.0)._inline is None
    with pytest.raises(TypeError, match="plain callable"):
        Deadlines(ScriptedSource(), 1.0, lambda index: None)
