"""Round 3 faults on the overload lab and the service (issue 17 item 4, issue 18 items 4, 5, 8 and the minor 1xx).

Each test was seen failing on the code before its fix; every wait is bounded; loopback only.
"""

from __future__ import annotations

import math
import socket

import pytest
from waiting import wait_until

from ella_lab import metastable
from ella_lab.service import FlakyService
from ella_lab.sim import phase_diagram, simulate
from ella_lab.timing import clock


def _start_whose_span_rounds_up(duration: float, bin_s: float) -> float:
    """A ``clock()`` reading for which ``(start + duration) - start`` is a hair over ``duration``.

    Float addition rounds ``start + duration`` when it crosses a power of two: a run started less than
    ``duration`` before the clock reads 2048 s, 4096 s, ... (since boot) and that counts its bins from
    ``duration`` on one side and from ``end - start`` on the other gets one bin more on that side, as
    notebook 10's loopback run did once. The reading returned is the first such one after now (the
    run's events then fall outside its window: only the shape of the series is tested with it).
    """
    wanted = math.ceil(duration / bin_s)
    power = 2.0 ** math.ceil(math.log2(clock() + duration + 1))
    for i in range(1, 1001):
        near = power - duration * i / 1001
        for start in (near, math.nextafter(near, 0.0)):
            if math.ceil(((start + duration) - start) / bin_s) != wanted:
                return start
    raise AssertionError("no such start below the power of two (cannot happen with float64)")


@pytest.mark.timeout(60)
def test_loopback_series_have_equal_lengths_whatever_the_start_reading(monkeypatch):
    """Issue 17: SimResult.frame() raised 'All arrays must be of the same length' on a loopback run."""
    duration, bin_s = 0.5, 0.1
    start = _start_whose_span_rounds_up(duration, bin_s)
    monkeypatch.setattr(metastable, "clock", lambda: start)  # the one reading run_loopback takes: the bad one
    result = metastable.run_loopback(
        rate=20, duration=duration, bin_s=bin_s, trigger_at=0.1, trigger=0.1, capacity=2, queue=4
    )
    lengths = {len(getattr(result, name)) for name in ("goodput", "offered", "first_tries", "queue", "wasted")}
    assert lengths == {math.ceil(duration / bin_s)}
    frame = result.frame()
    assert len(frame) == math.ceil(duration / bin_s)


def test_service_timeline_bins_match_the_caller_count():
    """FlakyService.timeline(start, start + d, b) has the bins the caller counts from d, whatever start is."""
    duration, bin_s = 8.0, 0.1
    start = _start_whose_span_rounds_up(duration, bin_s)
    service = FlakyService("s", capacity=1)
    assert len(service.timeline(start, start + duration, bin_s, bins=80)) == 80
    assert len(service.timeline(start, start + duration, bin_s)) == 80  # a hair over is not a new bin


class _Slowloris:
    """``count`` clients on 127.0.0.1, each sending its request one byte at a time (driven by the test's thread)."""

    REQUEST = b"GET /data/a HTTP/1.0\r\n" + b"X-Slow: " + b"y" * 200 + b"\r\n\r\n"

    def __init__(self, url: str, count: int):
        host, port = url.removeprefix("http://").split(":")
        self.sockets = [socket.create_connection((host, int(port)), timeout=5) for _ in range(count)]
        self.sent = [0] * count
        self.cut = 0  # clients the server hung up on

    def drip(self) -> None:
        """One more byte from every client still connected."""
        for i, sock in enumerate(self.sockets):
            if sock.fileno() < 0:
                continue
            try:
                sock.sendall(self.REQUEST[self.sent[i] : self.sent[i] + 1])
                self.sent[i] += 1
            except OSError:
                sock.close()
                self.cut += 1

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def _open_connections(service: FlakyService) -> int:
    server = service._server
    return 0 if server is None else len(server._open)


@pytest.mark.timeout(60)
def test_slowloris_clients_are_cut_at_the_request_deadline_and_counted():
    """Issue 18: one header byte every 0.5 s kept each thread past idle_timeout=1 (200 held at 2, 6, 10 s)."""
    clients = 20
    with FlakyService("s", idle_timeout=0.5) as service:
        loris = _Slowloris(service.url, clients)
        try:
            assert wait_until(lambda: _open_connections(service) == clients, timeout=10.0)
            last = [clock()]

            def dripping_until_all_cut() -> bool:
                if clock() - last[0] >= 0.2:  # a byte every 0.2 s: each read well within the 0.5 s idle timeout
                    loris.drip()
                    last[0] = clock()
                return _open_connections(service) == 0

            # each needs 1,300 s to send its 230 bytes at this pace; the request deadline (0.5 s) cuts them all
            assert wait_until(dripping_until_all_cut, timeout=15.0, interval=0.02)
            assert service.served.get(408) == clients
        finally:
            loris.close()


def test_request_timeout_is_checked_and_defaults_to_the_idle_timeout():
    assert FlakyService("s", idle_timeout=2.0).request_timeout == 2.0
    assert FlakyService("s", request_timeout=0.3).request_timeout == 0.3
    with pytest.raises(ValueError, match="request_timeout"):
        FlakyService("s", request_timeout=-1)


@pytest.fixture
def no_run(monkeypatch):
    """run_loopback may check its arguments only: starting the server (then the clients) fails the test."""

    def started(*args, **kwargs):
        raise AssertionError("run_loopback started a run with these arguments")

    monkeypatch.setattr(metastable, "FlakyService", started)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        # issue 18: sized 3,600,000 client threads and died at "can't start new thread"
        ({"rate": 2000, "timeout": 60, "attempts": 20}, "rate x timeout x attempts"),
        ({"workers": 10**6}, "workers"),
        ({"capacity": 10**6}, "capacity"),
        ({"queue": 10**7}, "queue"),
        ({"service": -1.0}, "service"),  # was named latency, FlakyService's name for it
        ({"seed": "x"}, "seed"),
        ({"rate": 2000, "duration": 600}, "rate x duration"),
        ({"bin_s": 1e-7}, "bin_s"),
        ({"bin_s": 0}, "bin_s"),
    ],
)
def test_run_loopback_refuses_what_it_cannot_run_before_starting(no_run, kwargs, named):
    with pytest.raises((TypeError, ValueError), match=f"^{named.replace(' ', '.')}"):
        metastable.run_loopback(**kwargs)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"rate": 1, "duration": 3600, "bin_s": 1e-7}, "bin_s"),  # issue 18: MemoryError
        ({"capacity": 10**6, "control": "limit"}, "capacity"),  # issue 18: named maximum
        ({"queue": 10**9}, "queue"),
        ({"budget_ratio": -1.0}, "budget_ratio"),
        ({"budget_cap": math.inf, "control": "budget"}, "budget_cap"),
        ({"throttle_k": 0.5}, "throttle_k"),
        ({"throttle_window": 0}, "throttle_window"),
        ({"rate": 20_000, "duration": 100, "attempts": 20}, "rate x duration x attempts"),  # minutes of work before
    ],
)
def test_simulate_names_the_parameter_passed_and_bounds_the_work(kwargs, named):
    with pytest.raises((TypeError, ValueError), match=f"^{named.replace(' ', '.')}"):
        simulate(**kwargs)


@pytest.mark.timeout(30)
def test_phase_diagram_takes_one_value_or_a_list_and_bounds_the_whole_grid():
    one = phase_diagram(0.5, 1.0, after=2.0)  # issue 18: TypeError 'float' object is not iterable
    assert list(one.load) == [0.5] and list(one.trigger) == [1.0]
    assert phase_diagram(0.5, [1.0], after=2.0).equals(one)
    with pytest.raises(TypeError, match=r"^loads"):
        phase_diagram("0.5", [1.0])
    with pytest.raises(ValueError, match=r"^triggers"):
        phase_diagram([0.5], [])
    with pytest.raises(ValueError, match=r"^after"):
        phase_diagram([0.5], [1.0], after=-1)
    with pytest.raises(TypeError, match=r"^capacity"):
        phase_diagram([0.5], [1.0], capacity="4")
    # 40 x 40 runs of 60 s at up to 2x capacity: hours of simulation before; refused before the first run
    grid = [0.05 * i for i in range(1, 41)]
    with pytest.raises(ValueError, match=r"^loads x triggers x after"):
        phase_diagram(grid, grid, after=60.0)


@pytest.mark.timeout(60)
def test_loopback_trigger_and_clock_start_with_the_clients(monkeypatch):
    """The slowdown's timers and the series' start waited for nothing: while paced() brought up its workers
    (6-20 ms under load), the trigger's clock was already running. Here the workers take 0.3 s to come up."""
    import threading
    import time

    started: list[float] = []

    class Recorded(threading.Timer):
        def start(self):
            started.append(time.perf_counter())
            super().start()

    real_paced = metastable.paced
    begun: list[float] = []

    def slow_paced(router, requests, rate, *, on_start=None, **kwargs):
        time.sleep(0.3)  # the workers coming up slowly

        def marked():
            begun.append(time.perf_counter())
            if on_start is not None:
                on_start()

        return real_paced(router, requests, rate, on_start=marked, **kwargs)

    monkeypatch.setattr(threading, "Timer", Recorded)
    monkeypatch.setattr(metastable, "paced", slow_paced)
    metastable.run_loopback(rate=20, duration=0.3, bin_s=0.1, trigger_at=0.1, trigger=0.1, capacity=2, queue=4)
    assert len(started) == 2 and begun, (started, begun)
    assert min(started) >= begun[0], "the trigger's timers started before the clients did"


def test_a_bin_with_no_queue_event_keeps_the_queue_it_had():
    """A bin where nobody joined or left the queue showed a queue of 0 (notebook 10: 50 -> 0 -> 50 at 4.2 s)."""
    service = FlakyService("s", capacity=1, queue=60)
    base = 1000.0
    service._events.extend([(base + 0.05, "queue 50"), (base + 0.25, "queue 49"), (base + 0.26, "good")])
    frame = service.timeline(base, base + 0.4, 0.1)
    assert list(frame.queue) == [50, 50, 50, 49]
