"""The drop-expired server decides from the EXPECTED service time (service x slowdown), never from a try's own
random draw, which a real server cannot know: in the simulation and in FlakyService alike."""

from __future__ import annotations

import time

import pytest
from waiting import wait_until

from ella_lab.service import FlakyService, HttpSource
from ella_lab.sim import simulate
from ella_lab.sources import SourceError
from ella_lab.timing import clock


def test_simulated_drop_serves_tries_that_run_past_their_deadline():
    # a server that knew each try's own draw would never serve a late try (the old sim: wasted 0 during the
    # trigger, goodput 108/s, above the slowed server's 100/s); one that expects 40 ms serves some that take 50 ms
    frame = simulate(control="drop_expired", duration=6.0).frame().query("1 <= t < 3")
    assert frame.wasted.mean() > 0
    assert frame.goodput.mean() + frame.wasted.mean() == pytest.approx(100, abs=5)  # busy: all the slowed C
    assert frame.goodput.mean() < 100


def test_simulated_drop_without_jitter_serves_the_slowed_capacity():
    frame = simulate(control="drop_expired", duration=6.0, service_jitter=0.0).frame().query("1 <= t < 3")
    assert frame.wasted.sum() == 0 and frame.goodput.mean() == pytest.approx(100, abs=1)


def _request(service, short):
    """A request whose own drawn service time is short (<= 0.4 s) or long (>= 1.6 s), expected 1 s."""
    for i in range(1000):
        delay = service.plan(f"r{i}")[1]
        if (delay <= 0.4) if short else (delay >= 1.6):
            return f"r{i}"
    raise AssertionError("no such request")


def _outcome(service, request, timeout):
    started = clock()
    try:
        HttpSource("s", service.url, timeout=timeout).fetch(request)
        result = "ok"
    except TimeoutError:
        result = "timeout"
    except SourceError as exc:
        result = "503" if "503" in str(exc) else str(exc)
    assert wait_until(lambda: _handled(service, started) == 1, timeout=10.0)
    t = service.timeline(started, clock() + 0.01, bin_s=10.0)
    return result, {c: round(t[c].sum() * 10) for c in ("goodput", "late", "dropped")}


def _handled(service, started):
    t = service.timeline(started, clock() + 0.01, bin_s=10.0)
    return round((t.goodput.sum() + t.late.sum() + t.dropped.sum()) * 10)


@pytest.mark.timeout(30)
def test_flaky_service_drops_by_the_expected_time_not_the_call_s_own_draw():
    # expected 1 s (latency), draws 0.2-1.8 s (jitter 0.8): 0.3 s of margin either way on each decision
    with FlakyService("s", latency=1.0, jitter=0.8, capacity=1, drop_expired=True) as service:
        # a short draw (<= 0.4 s) with 0.7 s left: the old server served it in time; expected 1 s: dropped
        assert _outcome(service, _request(service, short=True), timeout=0.7) == (
            "503",
            {"goodput": 0, "late": 0, "dropped": 1},
        )
        # a long draw (>= 1.6 s) with 1.3 s left: the old server dropped it; expected 1 s: served, late
        assert _outcome(service, _request(service, short=False), timeout=1.3) == (
            "timeout",
            {"goodput": 0, "late": 1, "dropped": 0},
        )


@pytest.mark.timeout(30)
def test_a_dropped_call_frees_its_slot_before_its_503_goes_out(monkeypatch):
    # CI under load: the 503 reached the client while the handler still held the one slot, so the client's next
    # call was shed (capacity 1, no queue). A server thread paused just before freeing the slot shows it every time.
    with FlakyService("s", latency=1.0, capacity=1, drop_expired=True) as service:
        free = service._free_slot

        def slow_free():
            time.sleep(0.2)  # the handler's thread descheduled here
            free()

        monkeypatch.setattr(service, "_free_slot", slow_free)
        with pytest.raises(SourceError, match="HTTP 503"):
            HttpSource("s", service.url, timeout=0.5).fetch("r0")
        assert service.busy == 0  # the answer came after the slot was free
