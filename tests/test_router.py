import os
import signal
import threading
import time
from concurrent.futures import Future

import pytest
from waiting import wait_until

from ella_lab import AllSourcesFailed, FallbackChain, Retry, Router, SimulatedSource
from ella_lab.experiments import request_ids

pytestmark = pytest.mark.usefixtures("no_leaked_workers")


def test_guide_scenario_every_request_once_in_order():
    report = Router(SimulatedSource("source", latency=0.01), workers=3).run(request_ids(10))
    assert [o.request for o in report] == request_ids(10)
    assert all(o.ok for o in report)
    assert [o.value for o in report] == [f"Result from source for DataRequest-{i}" for i in range(10)]
    assert {o.worker for o in report} <= {"worker-0", "worker-1", "worker-2"}


def test_makespan_is_ceil_n_over_k_latencies_and_no_idle_tail():
    # 10 requests, 3 workers, 50 ms: 4 rounds = 200 ms; the guide's design adds its 2 s idle timeout
    t = time.perf_counter()
    report = Router(SimulatedSource("s", latency=0.05), workers=3).run(request_ids(10))
    elapsed = time.perf_counter() - t
    assert report.wall_s >= 0.2
    assert elapsed < 1.5  # loose: this is the "no idle tail" test, not a speed test


def test_exception_becomes_a_failed_outcome_and_the_worker_goes_on():
    def fetch(request):
        if request == "DataRequest-4":
            raise ConnectionError("boom")
        return request

    report = Router(fetch, workers=1).run(request_ids(10))
    assert len(report) == 10
    bad = report[4]
    assert not bad.ok and isinstance(bad.error, ConnectionError) and bad.source is None
    assert bad.attempts[0].source == "fetch" and bad.attempts[0].error is bad.error
    assert all(o.ok for i, o in enumerate(report) if i != 4)


def test_base_exceptions_in_a_source_are_recorded_too():
    def fetch(request):
        raise SystemExit(3)

    report = Router(fetch, workers=2).run(range(4))
    assert [type(o.error) for o in report] == [SystemExit] * 4


def test_outcome_times_are_ordered():
    report = Router(SimulatedSource("s", latency=0.002), workers=2).run(range(20))
    for o in report:
        assert report.started_at <= o.queued_at <= o.started_at <= o.finished_at <= report.finished_at
        assert o.latency == pytest.approx(o.wait + o.service_time)
        assert o.service_time >= 0.002


def test_empty_run():
    report = Router(str, workers=4).run([])
    assert len(report) == 0 and report.summary()["requests"] == 0


def test_accepts_any_iterable():
    report = Router(str, workers=2).run(i for i in range(5))
    assert [o.value for o in report] == ["0", "1", "2", "3", "4"]


def test_fewer_requests_than_workers_starts_fewer_threads():
    seen = set()

    def fetch(r):
        seen.add(threading.current_thread().name)
        time.sleep(0.01)
        return r

    Router(fetch, workers=64).run(range(3))
    assert len(seen) <= 3


def test_chain_outcomes_record_fallback():
    chain = FallbackChain(
        [SimulatedSource("primary", latency=0, failure_rate=0.5), SimulatedSource("backup", latency=0)]
    )
    report = Router(chain, workers=4).run(request_ids(200))
    assert all(o.ok for o in report)
    fell = [o for o in report if o.fell_back]
    assert 60 < len(fell) < 140
    assert all(o.source == "backup" and len(o.attempts) == 2 for o in fell)
    assert report.summary()["fallback_rate"] == len(fell) / 200


def test_chain_total_failure_keeps_every_attempt():
    chain = FallbackChain(
        [SimulatedSource("a", latency=0, failure_rate=1), SimulatedSource("b", latency=0, failure_rate=1)]
    )
    outcome = Router(chain, workers=1).run(["r"])[0]
    assert not outcome.ok and isinstance(outcome.error, AllSourcesFailed)
    assert [a.source for a in outcome.attempts] == ["a", "b"]


def test_retry_and_timeout_wrap_the_source():
    router = Router(SimulatedSource("s", latency=0, failure_rate=0.5), retry=Retry(attempts=4, base=0), workers=2)
    assert isinstance(router.source, FallbackChain) and router.source.name == "s"
    report = router.run(range(100))
    assert report.summary()["mean_attempts"] > 1.3
    assert sum(o.ok for o in report) > 85  # 1 - 0.5**4 = 94 %


def test_submit_resolves_futures_to_outcomes():
    with Router(SimulatedSource("s", latency=0.001), workers=3) as router:
        futures = [router.submit(f"r{i}") for i in range(20)]
        assert all(isinstance(f, Future) for f in futures)
        outcomes = [f.result(timeout=5) for f in futures]
    assert [o.request for o in outcomes] == [f"r{i}" for i in range(20)]
    assert all(o.ok for o in outcomes)


def test_submit_failures_are_outcomes_not_exceptions():
    with Router(lambda r: 1 / 0, workers=2) as router:
        outcome = router.submit("r").result(timeout=5)
    assert not outcome.ok and isinstance(outcome.error, ZeroDivisionError)


def _new_workers(before: set[threading.Thread]) -> list[threading.Thread]:
    """Router workers alive now that were not before: another test's abandoned worker is not ours to count."""
    return [t for t in threading.enumerate() if t.name.startswith("ella-worker") and t.is_alive() and t not in before]


def test_close_serves_what_is_queued_then_stops_every_worker():
    before = set(threading.enumerate())
    router = Router(SimulatedSource("s", latency=0.005), workers=2)
    futures = [router.submit(i) for i in range(10)]
    assert router.close(timeout=5) is True
    assert all(f.done() and f.result().ok for f in futures)
    assert not _new_workers(before)
    with pytest.raises(RuntimeError, match="closed"):
        router.submit(1)
    assert router.close() is True  # twice is fine


def test_exit_on_error_cancels_pending_requests():
    gate = threading.Event()
    with pytest.raises(KeyError), Router(lambda r: gate.wait(5), workers=1) as router:
        futures = [router.submit(i) for i in range(5)]
        assert wait_until(futures[0].running)  # the worker is blocked on request 0 (not assumed after 50 ms)
        threading.Timer(0.1, gate.set).start()
        raise KeyError("stop")
    assert futures[0].result().ok  # it was running: it finishes
    assert all(f.cancelled() for f in futures[1:])  # the queued ones are cancelled, not lost


def test_max_pending_applies_backpressure():
    gate = threading.Event()
    router = Router(lambda r: gate.wait(5), workers=1, max_pending=2)
    router.submit(0)
    time.sleep(0.05)  # worker takes request 0 and blocks on the gate
    router.submit(1)
    router.submit(2)
    with pytest.raises(TimeoutError, match="2 requests pending"):
        router.submit(3, timeout=0.05)
    gate.set()
    router.submit(3, timeout=5)
    assert router.close(timeout=5)


def test_max_pending_in_run_still_answers_everything():
    report = Router(SimulatedSource("s", latency=0.001), workers=3, max_pending=2).run(range(50))
    assert [o.request for o in report] == list(range(50)) and all(o.ok for o in report)


def test_keyboard_interrupt_during_run_leaves_no_worker_alive():
    before = set(threading.enumerate())
    router = Router(SimulatedSource("s", latency=0.02), workers=4)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))  # what Ctrl-C or Jupyter's stop button sends
    timer.start()
    t = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        router.run(range(1000))  # 5 s of work if not interrupted
    timer.join()
    assert time.perf_counter() - t < 2
    assert not _new_workers(before)


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"workers": 0}, ValueError, "workers must be >= 1, got 0"),
        ({"workers": 2.0}, TypeError, "workers must be an int, got 2.0"),
        ({"workers": True}, TypeError, "workers must be an int, got True"),
        ({"max_pending": 0}, ValueError, "max_pending must be >= 1, got 0"),
        ({"timeout": -1}, ValueError, "timeout must be a finite number >= 0, got -1.0"),
        ({"retry": 3}, TypeError, "retry must be a Retry or None, got 3"),
    ],
)
def test_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        Router(str, **kwargs)


def test_bad_source_and_requests():
    with pytest.raises(TypeError, match="source must be a Source or a callable f\\(request\\), got 42"):
        Router(42)
    with pytest.raises(TypeError, match="requests must be an iterable"):
        Router(str).run(5)
    with pytest.raises(TypeError, match="requests must be an iterable"):
        Router(str).run("abc")


class _ZeroDivision(ZeroDivisionError):
    """A ZeroDivisionError that a weak reference can watch (the built-in one cannot be)."""


def _divide_by_zero(request):
    raise _ZeroDivision(f"{request} / 0")


@pytest.mark.parametrize(
    ("source", "executor"),
    [
        (_divide_by_zero, "threads"),
        (SimulatedSource("s", latency=0, failure_rate=1.0), "threads"),
        (
            FallbackChain([SimulatedSource("a", latency=0, failure_rate=1.0)], retry=Retry(attempts=2, base=0)),
            "threads",
        ),
        (SimulatedSource("s", latency=0, failure_rate=1.0), "asyncio"),
    ],
)
def test_failed_requests_leave_no_garbage(source, executor):
    # a kept traceback would tie each error to the worker frames: a cycle per failure, freed only by GC pauses.
    # Each error is watched through a weak reference, so garbage made meanwhile by other tests' threads
    # (which a process-wide gc.collect() count would include) cannot fail this test.
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        report = Router(source, workers=2, executor=executor).run(range(200))
        assert not any(o.ok for o in report)
        assert all(o.error.__traceback__ is None for o in report)
        watched = []
        for o in report:
            link = o.error
            while link is not None:
                watched.append(weakref.ref(link))  # every error here is of a Python-defined class
                link = link.__cause__ or link.__context__
        del report, o, link
        alive = [ref() for ref in watched if ref() is not None]
        assert not alive, f"{len(alive)} errors outlived their report without a GC pass, e.g. {alive[0]!r}"
    finally:
        gc.enable()
