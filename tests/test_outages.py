"""Notebook 07's outage bookkeeping on hand-made runs (no threads, no clock): rows, the breaker's story, claims."""

import math
from types import SimpleNamespace

import pytest

from ella_lab.outages import breaker_claims, breaker_story, no_breaker_claims, outage_row
from ella_lab.outcome import Attempt, Outcome, Report
from ella_lab.resilience import CircuitOpenError
from ella_lab.sources import SourceError

T0 = 0.0  # the perf_counter reading at which the outage's clock started (0: exact float times)
# The notebook's model paragraph: open at 0.325 s, a failing trial every 120 ms, closed at 0.786 s.
OPENINGS = [0.325, 0.445, 0.565, 0.685]
TRANSITIONS = [(T0 + 0.325, "closed", "open")]
for opened in OPENINGS[1:]:
    TRANSITIONS += [(T0 + opened - 0.02, "open", "half-open"), (T0 + opened, "half-open", "open")]
TRANSITIONS += [(T0 + 0.785, "open", "half-open"), (T0 + 0.786, "half-open", "closed")]
TRIAL_STARTS = {round(t - T0, 3) for t, _, to in TRANSITIONS if to == "half-open"}


def outcome(i, attempts, start):
    return Outcome(f"r{i}", True, i, None, attempts[-1].source, tuple(attempts), "worker-0", start, start,
                   attempts[-1].finished_at)


def run(with_breaker):
    """1,000 arrivals, one per ms; the primary down from 0.3 to 0.7 s (20 ms, then a failure), the backup 4 ms."""
    outcomes, refused = [], 0
    for i in range(1000):
        t = i / 1000
        start = T0 + t
        down = 0.3 <= t < 0.7
        closed = t < 0.325 or t >= 0.786
        if with_breaker and not closed and round(t, 3) not in TRIAL_STARTS:
            refused += 1
            first = Attempt("primary", 0, CircuitOpenError("open"), start, start)
            outcomes.append(outcome(i, [first, Attempt("backup", 0, None, start, start + 0.004)], start))
        elif down:
            first = Attempt("primary", 0, SourceError("down"), start, start + 0.02)
            outcomes.append(outcome(i, [first, Attempt("backup", 0, None, start + 0.02, start + 0.024)], start))
        else:
            outcomes.append(outcome(i, [Attempt("primary", 0, None, start, start + 0.002)], start))
    counters = {"breaker_rejected": refused} if with_breaker else {}
    return Report(outcomes, workers=32, started_at=T0, finished_at=T0 + 1.1, counters=counters)


def test_without_a_breaker_the_primary_takes_the_whole_outage():
    row = outage_row(run(False), T0)
    assert row == {"answered": 1000, "primary calls in outage": 400, "p50 latency in outage": pytest.approx(0.024),
                   "calls refused by breaker": 0}
    assert all(claim.holds() for claim in no_breaker_claims(row))


def test_the_breaker_story_reads_the_model_back():
    report = run(True)
    story = breaker_story(report, T0, SimpleNamespace(transitions=TRANSITIONS))
    assert story["trip"] == pytest.approx(0.025) and story["recover"] == pytest.approx(0.086)
    assert list(story["gaps"]) == pytest.approx([0.12, 0.12, 0.12]) and story["trials"] == 4
    assert story["refused"] == report.summary()["breaker_rejected"] == 457
    assert story["refused_model"] == pytest.approx((0.786 - 0.325) * 1000 - 4)
    assert story["refused_late"] == 85  # 0.700 to 0.785 s but the trial at 0.765: refused, the primary back
    row = outage_row(report, T0)
    assert row["primary calls in outage"] == 25 + 3  # before the trip, then the trials in the outage
    models = {claim.says: claim.model for claim in breaker_claims(row, story)}
    assert models["about 25 calls to trip, then 3 trials in the outage"] == 28  # 25 + trials at 0.425, 0.545, 0.665
    assert models["it closes on the first trial after the outage: 0 to 120 ms late"] == 0.085  # the trial at 0.785
    failed = [claim.says for claim in breaker_claims(row, story) if not claim.holds()]
    assert not failed, failed


def test_the_claims_miss_when_the_breaker_never_trips():
    report = run(False)
    story = breaker_story(report, T0, SimpleNamespace(transitions=[]))
    assert math.isnan(story["trip"]) and math.isnan(story["recover"]) and story["trials"] == 0
    missed = [claim.says for claim in breaker_claims(outage_row(report, T0), story) if not claim.holds()]
    assert "about 25 calls to trip, then 3 trials in the outage" in missed
    assert "with the breaker open, the latency is the backup's 4 ms" in missed


def test_the_claims_miss_a_breaker_that_waits_too_long_between_trials():
    slow = [(T0 + 0.325, "closed", "open"), (T0 + 0.6, "open", "half-open"), (T0 + 0.62, "half-open", "open"),
            (T0 + 0.9, "open", "half-open"), (T0 + 0.901, "half-open", "closed")]
    story = breaker_story(run(True), T0, SimpleNamespace(transitions=slow))
    missed = [claim.says for claim in breaker_claims(outage_row(run(True), T0), story) if not claim.holds()]
    assert "a trial every 120 ms (0.1 s + the failing 20 ms), the median gap" in missed
    assert "it closes on the first trial after the outage: 0 to 120 ms late" in missed
