"""Round 3 faults on the overload lab and the service (issue 17 item 4, issue 18 items 4, 5, 8 and the minor 1xx).

Each test was seen failing on the code before its fix; every wait is bounded; loopback only.
"""

from __future__ import annotations

import math

import pytest

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
