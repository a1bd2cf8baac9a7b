"""The hedge's latency threshold: a warm-up long enough for the quantile asked, then a steady estimate."""

import random
import time

import pytest

from ella_lab import Hedge, ScriptedSource, SimulatedSource
from ella_lab.outcome import quantile
from ella_lab.resilience import LatencyThreshold


def heavy_tail(rng: random.Random, n: int) -> list[float]:
    """A 2 ms ± 0.5 ms body with 2 % of calls 50 times slower: the p99 lies in the slow mode."""
    return [(0.002 + 0.0005 * (2 * rng.random() - 1)) * (50 if rng.random() < 0.02 else 1) for _ in range(n)]


@pytest.mark.parametrize(("q", "warmup"), [(0.5, 20), (0.9, 100), (0.95, 200), (0.99, 1000), (0.999, 10_000)])
def test_the_warmup_leaves_about_ten_latencies_above_the_quantile(q, warmup):
    threshold = LatencyThreshold(q)
    assert threshold.warmup == warmup
    assert threshold.window == max(1000, 5 * warmup)  # about 50 latencies above the quantile


def test_no_threshold_during_the_warmup_then_the_quantile_of_the_window():
    threshold = LatencyThreshold(0.95)
    for ms in range(199):
        threshold.observe(ms / 1000)
    assert threshold.value() is None
    threshold.observe(0.199)
    assert threshold.value() == pytest.approx(quantile([ms / 1000 for ms in range(200)], 0.95))


def test_the_estimate_is_refreshed_every_few_latencies_and_forgets_old_ones():
    threshold = LatencyThreshold(0.5, window=40, warmup=20, refresh=10)
    threshold.calibrate([0.001] * 40)
    assert threshold.value() == 0.001
    for _ in range(9):
        threshold.observe(1.0)
    assert threshold.value() == 0.001  # cached until `refresh` new latencies
    threshold.observe(1.0)
    assert threshold.value() == 0.001  # 10 slow of 40: the median is still fast
    for _ in range(30):
        threshold.observe(1.0)
    assert threshold.value() == 1.0  # the window now holds only the last 40, all slow
    assert len(threshold) == 40


def test_a_p99_is_stable_after_the_warmup_where_twenty_calls_were_not():
    """Over 60 seeded runs, the p99 estimated after the warm-up lies in the slow mode (10 to 50 × the body)
    in all but a rare run with barely ten slow calls; estimated from 20 calls (the old warm-up), it
    flips between the body and the slow mode, landing in the body in most runs."""
    after_warmup, from_twenty = [], []
    for seed in range(60):
        latencies = heavy_tail(random.Random(seed), 1000)
        threshold = LatencyThreshold(0.99)
        threshold.calibrate(latencies)
        after_warmup.append(threshold.value())
        from_twenty.append(quantile(sorted(latencies[:20]), 0.99))
    assert sum(0.025 < t < 0.125 for t in after_warmup) >= 57  # measured: 59 of 60 (the slow mode: 50-125 ms)
    assert sum(t <= 0.0025 for t in from_twenty) > 30  # measured: 41 of 60 at the body's top, 2.5 ms or less


class SlowOnce(ScriptedSource):
    """Answers at once, except the request "slow", which takes 30 ms."""

    def fetch(self, request, *, attempt=0, timeout=None):
        if request == "slow":
            time.sleep(0.03)
        return request


@pytest.mark.timeout(20)
def test_a_cold_hedge_at_p99_does_not_hedge_before_its_warmup():
    """Seen failing before the warm-up rule: after 20 calls the old hedge took the slowest of a few fast
    calls for its p99 (a few µs) and hedged the first slow call."""
    hedge = Hedge(SlowOnce("s"), after="p99")
    for i in range(100):  # 100 fast calls: far from the 1,000 a p99 needs
        hedge.serve(i)
    time.sleep(0.05)  # the latencies are recorded by the calls' callbacks
    assert hedge.delay() is None
    assert hedge.serve("slow").value == "slow"
    assert hedge.counters()["hedges_sent"] == 0  # it waited for the answer instead of hedging
    hedge.close()


@pytest.mark.timeout(20)
def test_a_calibrated_hedge_starts_warm():
    hedge = Hedge(SimulatedSource("slow", latency=0.5), after="p95")  # 0.5 s: hedged even if woken late (0.03 s: not)
    hedge.threshold.calibrate([0.001] * 200)
    assert hedge.delay() == 0.001
    hedge.serve("r")
    assert hedge.counters()["hedges_sent"] == 1  # 0.5 s is far above the calibrated p95
    hedge.close()


def test_a_fixed_delay_has_no_threshold():
    hedge = Hedge(str, after=0.01)
    assert hedge.threshold is None and hedge.delay() == 0.01
    hedge.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"q": 0.0}, "q must be"),
        ({"q": 1.0}, "q must be"),
        ({"q": True}, "q must be"),
        ({"q": "0.9"}, "q must be"),
        ({"q": 0.99, "window": 500}, "window must hold the warmup's 1000"),
        ({"q": 0.5, "warmup": 0}, "warmup"),
        ({"q": 0.5, "refresh": 0}, "refresh"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        LatencyThreshold(**kwargs)


@pytest.mark.parametrize("bad", [-0.001, "1 ms", None])
def test_calibrate_rejects_what_is_not_a_latency(bad):
    with pytest.raises((ValueError, TypeError), match="latencies"):
        LatencyThreshold(0.5).calibrate([0.001, bad])


def test_the_hedge_passes_its_settings_to_the_threshold():
    hedge = Hedge(str, after="p90", warmup=5, window=50)
    assert (hedge.threshold.q, hedge.threshold.warmup, hedge.threshold.window) == (0.9, 5, 50)
    with pytest.raises(ValueError, match="window"):
        Hedge(str, after="p99", window=100)
    hedge.close()


def test_a_fresh_read_recomputes_at_once_and_the_default_read_still_waits_for_refresh():
    threshold = LatencyThreshold(0.5, window=40, warmup=20, refresh=30)
    threshold.calibrate([0.001] * 40)
    assert threshold.value() == 0.001
    for _ in range(25):
        threshold.observe(1.0)
    assert threshold.value() == 0.001  # cached: 25 new latencies, fewer than refresh=30
    assert threshold.value(fresh=True) == 1.0  # the window's own median: 25 slow of 40
    assert threshold.value() == 1.0  # and that value is kept
