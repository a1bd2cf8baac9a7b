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
