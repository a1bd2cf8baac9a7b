"""``paced()``: an open-loop schedule that starts when the workers are up, on a virtual clock (no timing)."""

from types import SimpleNamespace

import pytest

from ella_lab import Router, SimulatedSource, experiments
from ella_lab.experiments import paced, request_ids

RATE = 1000.0  # one request every ms
START_UP = 0.05  # the workers take 50 ms of the virtual clock to come up


class VirtualClock:
    """paced()'s clock and sleep: time moves only when paced() sleeps or the workers start."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class SlowStart(Router):
    """A router whose workers take START_UP seconds to come up, and that notes when each request is sent."""

    def __init__(self, virtual: VirtualClock, **kwargs) -> None:
        super().__init__(SimulatedSource("s", latency=0), **kwargs)
        self.virtual, self.up_at, self.sent_at = virtual, None, []

    def __enter__(self):
        router = super().__enter__()
        self.virtual.now += START_UP
        self.up_at = self.virtual.now
        return router

    def submit(self, request, **kwargs):
        self.sent_at.append(self.virtual.now)
        return super().submit(request, **kwargs)


@pytest.fixture
def virtual(monkeypatch):
    clock = VirtualClock()
    monkeypatch.setattr(experiments, "clock", clock.clock)
    monkeypatch.setattr(experiments, "time", SimpleNamespace(sleep=clock.sleep))
    return clock


def test_paced_starts_its_schedule_once_the_workers_are_up(virtual):
    router = SlowStart(virtual, workers=8)
    report = paced(router, request_ids(100), rate=RATE)
    assert len(report) == 100 and all(o.ok for o in report)
    # Before the fix the schedule began before the workers started: the 50 requests due during their
    # start-up all went out at once, the moment the workers were up.
    at_once = sum(t == router.sent_at[0] for t in router.sent_at)
    assert at_once == 1, f"{at_once} requests sent in one burst"
    assert router.sent_at[0] == router.up_at == report.started_at  # the schedule starts when the workers are up
    assert router.sent_at == pytest.approx([router.up_at + i / RATE for i in range(100)])  # request i at i / rate


def test_paced_keeps_the_schedule_when_sends_run_late(virtual):
    """A client that falls behind catches up, never shifts the schedule: request i is due at i / rate."""
    router = SlowStart(virtual, workers=2)
    original = router.submit

    def slow_submit(request, **kwargs):
        future = original(request, **kwargs)
        if request == "DataRequest-3":
            virtual.now += 5 / RATE  # this send took 5 ms
        return future

    router.submit = slow_submit
    paced(router, request_ids(10), rate=RATE)
    due = [router.up_at + i / RATE for i in range(10)]
    assert router.sent_at[:4] == pytest.approx(due[:4])
    assert router.sent_at[4:9] == pytest.approx([due[3] + 5 / RATE] * 5)  # the late ones go at once ...
    assert router.sent_at[9] == pytest.approx(due[9])  # ... and the schedule holds


def test_on_start_runs_once_the_workers_are_up_and_before_the_first_request(virtual):
    router = SlowStart(virtual, workers=2)
    seen = []
    report = paced(router, request_ids(5), rate=RATE, on_start=lambda: seen.append((virtual.now, len(router.sent_at))))
    assert seen == [(router.up_at, 0)]  # once, when the workers were up, nothing sent yet
    assert report.started_at == router.up_at


def test_on_start_must_be_callable():
    with pytest.raises(TypeError, match="on_start must be a callable"):
        paced(Router(str), [1], rate=10, on_start="now")
