"""FlakyService with a capacity: slots, a bounded queue, shedding, deadlines, wasted work, goodput."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ella_lab import Router
from ella_lab.service import FlakyService, HttpSource
from ella_lab.sources import SourceError
from ella_lab.timing import clock


@pytest.mark.timeout(30)
def test_capacity_queues_then_sheds_and_latency_grows_with_load():
    with FlakyService("s", latency=0.05, capacity=2, queue=2) as service:
        source = HttpSource("s", service.url, timeout=5.0)
        started = clock()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda r: _try(source, r), range(8)))
        wall = clock() - started
        timeline = service.timeline(started, clock() + 0.01, bin_s=10.0)
    answered = [r for r in results if r == "ok"]
    shed = [r for r in results if "overloaded" in r or "503" in r]
    assert len(answered) == 4 and len(shed) == 4  # 2 in service + 2 queued; the other 4 shed at once
    assert wall >= 0.09  # the queued two waited for a slot: two service times in all
    assert timeline.shed.sum() * 10 == 4 and timeline.goodput.sum() * 10 == 4
    assert timeline.queue.max() == 2


def _try(source, request):
    try:
        source.fetch(request)
        return "ok"
    except SourceError as exc:
        return str(exc)


@pytest.mark.timeout(30)
def test_work_for_clients_that_gave_up_is_wasted_unless_dropped():
    for drop in (False, True):
        with FlakyService("s", latency=0.1, capacity=1, queue=10, drop_expired=drop) as service:
            source = HttpSource("s", service.url, timeout=0.15)
            started = clock()
            report = Router(source, workers=4).run(range(4))  # one slot: the later three wait past 0.15 s
            time.sleep(0.5)  # let the server finish what it keeps working on
            t = service.timeline(started, clock(), bin_s=10.0)
        assert report.summary()["succeeded"] == 1
        good, late, dropped = (round(t[c].sum() * 10) for c in ("goodput", "late", "dropped"))
        if drop:
            assert (good, late) == (1, 0) and dropped == 3  # no time spent on answers nobody waits for
        else:
            assert (good, dropped) == (1, 0) and late >= 2  # served anyway, after the client left


@pytest.mark.timeout(30)
def test_slowdown_multiplies_the_service_time():
    with FlakyService("s", latency=0.02, capacity=4) as service:
        source = HttpSource("s", service.url, timeout=2.0)
        source.fetch("warm")
        started = clock()
        source.fetch("a")
        normal = clock() - started
        service.slowdown = 5.0
        started = clock()
        source.fetch("b")
        slow = clock() - started
    assert slow >= 0.1 > normal


def test_capacity_arguments_are_checked():
    with pytest.raises(ValueError, match="capacity"):
        FlakyService(capacity=0)
    with pytest.raises(TypeError, match="give capacity too"):
        FlakyService(queue=5)
    with pytest.raises(TypeError, match="drop_expired"):
        FlakyService(capacity=1, drop_expired="yes")
    with pytest.raises(ValueError, match="end > start"):
        FlakyService(capacity=1).timeline(1.0, 0.5)
