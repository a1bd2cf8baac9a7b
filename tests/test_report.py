import math

import pandas as pd
import pytest

from ella_lab import FallbackChain, Outcome, Report, Router, SimulatedSource, format_seconds
from ella_lab.outcome import Attempt, quantile


def make(latencies, ok=None, workers=2):
    outcomes = []
    for i, lat in enumerate(latencies):
        good = True if ok is None else ok[i]
        err = None if good else ValueError("x")
        attempt = Attempt("s", 0, err, 1.0, 1.0 + lat)
        outcomes.append(
            Outcome(i, good, i if good else None, err, "s" if good else None, (attempt,), "w", 1.0, 1.0, 1.0 + lat)
        )
    return Report(outcomes, workers=workers, started_at=0.0, finished_at=2.0)


def test_summary_numbers():
    report = make([0.1, 0.2, 0.3, 0.4], ok=[True, True, False, True])
    s = report.summary()
    assert s["requests"] == 4 and s["succeeded"] == 3 and s["failed"] == 1
    assert s["wall_s"] == 2.0 and s["throughput_rps"] == 2.0
    assert s["p50_s"] == pytest.approx(0.25)
    assert s["p99_s"] == pytest.approx(0.397)
    assert s["mean_attempts"] == 1.0 and s["fallback_rate"] == 0.0
    assert report.ideal_throughput == pytest.approx(2 / 0.25)  # Little: K / mean service time


def test_quantile_matches_numpy_linear():
    import numpy as np

    values = sorted([5.0, 1.0, 3.0, 2.0, 8.0, 13.0])
    for q in (0, 0.1, 0.5, 0.95, 0.99, 1):
        assert quantile(values, q) == pytest.approx(np.quantile(values, q))
    assert math.isnan(quantile([], 0.5))


def test_frame_one_row_per_request_with_relative_times():
    report = Router(SimulatedSource("s", latency=0.002), workers=2).run(range(6))
    df = report.frame()
    assert isinstance(df, pd.DataFrame) and len(df) == 6
    assert list(df.request) == list(range(6))
    assert (df.started_s >= 0).all() and (df.finished_s <= report.wall_s + 1e-9).all()
    assert {"ok", "source", "attempts", "fell_back", "worker", "latency_s", "wait_s", "service_s"} <= set(df.columns)


def test_attempts_frame_has_every_attempt():
    chain = FallbackChain([SimulatedSource("a", latency=0, failure_rate=1), SimulatedSource("b", latency=0)])
    report = Router(chain, workers=1).run(range(3))
    df = report.attempts_frame()
    assert len(df) == 6 and list(df.source) == ["a", "b"] * 3
    assert list(df.error.fillna("-")) == ["SourceError", "-"] * 3


def test_empty_report():
    report = Report([], workers=3, started_at=0, finished_at=0)
    assert report.frame().empty and report.summary()["requests"] == 0
    assert "0 requests" in repr(report)


def served(request, *sources_tried, ok=True):
    """An outcome whose attempts went through ``sources_tried`` in order; the last one answered if ``ok``."""
    err = ValueError("down")
    attempts = tuple(
        Attempt(name, 0, None if ok and i == len(sources_tried) - 1 else err, 1.0, 1.1)
        for i, name in enumerate(sources_tried)
    )
    source = sources_tried[-1] if ok else None
    return Outcome(request, ok, request if ok else None, None if ok else err, source, attempts, "w", 1.0, 1.0, 1.1)


def test_fallback_rate_is_the_share_of_all_requests_served_by_a_later_source():
    # 10 requests: 4 served by the primary, 3 by the backup after the primary failed, 3 failed on both
    outcomes = [served(i, "primary") for i in range(4)]
    outcomes += [served(i, "primary", "backup") for i in range(4, 7)]
    outcomes += [served(i, "primary", "backup", ok=False) for i in range(7, 10)]
    report = Report(outcomes, workers=2, started_at=0.0, finished_at=2.0)
    s = report.summary()
    assert s["succeeded"] == 7 and s["fallback_rate"] == pytest.approx(0.3)  # 3 of 10, not 3 of the 7 answered
    assert "fallback rate   30.0% of requests" in report.describe()


def test_describe_formats_every_time():
    text = make([0.1, 0.2]).describe()
    assert "wall time       2.00 s" in text and "latency p50     150 ms" in text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2.0, "2.00 s"),
        (2.013, "2.01 s"),
        (123.4, "123 s"),
        (0.0104, "10.4 ms"),
        (0.1, "100 ms"),
        (18.2e-6, "18.2 µs"),
        (95e-9, "95 ns"),
        (0, "0 s"),
        (float("nan"), "n/a"),
    ],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_outcome_str():
    o = make([0.1]).outcomes[0]
    assert str(o) == "0 -> ok from s: 0 (1 attempt(s), w)"


def test_extra_load_counts_calls_beyond_the_first():
    chain = FallbackChain([SimulatedSource("a", latency=0, failure_rate=1), SimulatedSource("b", latency=0)])
    summary = Router(chain, workers=2).run(range(10)).summary()
    assert summary["extra_load"] == 1.0 and summary["mean_attempts"] == 2.0
