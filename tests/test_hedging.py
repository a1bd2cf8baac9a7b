"""Notebook 07's hedging table: rows built from hand-made reports (no threads, no clock), and their claims."""

import math

import numpy as np
import pytest

from ella_lab.claims import Claim
from ella_lab.hedging import HEDGE_AT, hedge_claims, hedge_row, late_starts, show_hedging, tail, tail_ranks
from ella_lab.outcome import Attempt, Outcome, Report


def report_of(durations, hedged=(), extra=0.001, hedges_sent=None):
    """A report whose request i took durations[i]; a request in ``hedged`` made a second call."""
    outcomes = []
    for i, duration in enumerate(durations):
        attempts = (Attempt("s", 0, None, 0.0, duration),)
        if i in hedged:
            attempts += (Attempt("s", 1, None, 0.0, duration),)
        outcomes.append(Outcome(i, True, i, None, "s", attempts, "worker-0", 0.0, 0.0, duration))
    counters = {"hedges_sent": len(hedged) if hedges_sent is None else hedges_sent}
    return Report(outcomes, workers=1, started_at=0.0, finished_at=max(durations) + extra, counters=counters)


FIRST = np.linspace(0.001, 0.100, 100)  # request i's first call took (i + 1) ms
SECOND = np.full(100, 0.001)  # a fast second call: hedging cuts the tail


def test_tail_gives_the_service_times_p50_and_p99():
    assert tail(report_of(FIRST)) == pytest.approx({"p50": np.quantile(FIRST, 0.5), "p99": np.quantile(FIRST, 0.99)})


def test_the_row_never_is_the_drawn_latencies_own_p99_with_no_hedging():
    row = hedge_row(report_of(FIRST), first=FIRST, second=SECOND)
    assert row["hedge after"] == "never" and math.isnan(row["d"])
    assert row["S(d)"] == row["extra calls"] == row["model extra calls"] == 0.0
    assert row["model p99"] == pytest.approx(np.quantile(FIRST, 0.99))


def test_a_hedged_row_sets_the_run_beside_the_exact_model():
    lag = 0.002  # the threads added 2 ms to every call
    hedged = range(95, 100)  # the five slowest made a second call
    row = hedge_row(report_of(FIRST + lag, hedged=hedged), first=FIRST, second=SECOND, q=95, d=0.096 + lag)
    assert row["hedge after"] == "p95" and row["model extra calls"] == pytest.approx(0.05)
    assert row["extra calls"] == pytest.approx(0.05)
    assert row["S(d)"] == pytest.approx(0.04)  # 97..100 ms (plus the lag) are slower than d
    ideal = np.quantile(FIRST, 0.95)
    assert row["model p99"] == pytest.approx(np.quantile(np.minimum(FIRST, ideal + SECOND), 0.99))
    assert row["model p99"] < np.quantile(FIRST, 0.99)  # the hedge cuts the model's tail


@pytest.mark.parametrize("q", [0, 96, 100, "p95", None, True])
def test_claims_refuse_a_threshold_the_notebook_does_not_try(q):
    with pytest.raises(ValueError, match="q must be one of 50, 90, 95, 99"):
        hedge_claims(q, {"model extra calls": 0.05})


def test_a_row_refuses_latencies_that_do_not_match_the_report():
    with pytest.raises(ValueError, match="one latency per request: 100 requests, got 99 and 100"):
        hedge_row(report_of(FIRST), first=FIRST[:99], second=SECOND, q=95, d=0.1)


def row(q, s_d, extra, p99, model_p99, d=0.05):
    return {"model extra calls": 1 - q / 100, "S(d)": s_d, "extra calls": extra, "p99": p99, "model p99": model_p99,
            "d": d}


def test_the_claims_hold_on_a_row_that_matches_its_model_and_miss_on_one_that_does_not():
    for q in HEDGE_AT:
        claims = hedge_claims(q, row(q, 1 - q / 100, 1 - q / 100, 0.06, 0.06))
        assert claims and all(isinstance(c, Claim) for c in claims)
        assert all(c.holds() for c in claims), [c.says for c in claims if not c.holds()]
    # S(d) three times the model's: the hedge did not learn the source's p95
    assert not all(c.holds() for c in hedge_claims(95, row(95, 0.15, 0.05, 0.06, 0.06)))
    # a p99 twice the model's: more than the threads' overhead allows at p95
    assert not all(c.holds() for c in hedge_claims(95, row(95, 0.05, 0.05, 0.12, 0.06)))
    # hedged at p99, a p99 far below d: what the prose says cannot happen
    assert not all(c.holds() for c in hedge_claims(99, row(99, 0.01, 0.01, 0.02, 0.06, d=0.06)))


def test_hedged_at_p50_claims_no_upper_bound_on_its_p99():
    p99_claim = next(c for c in hedge_claims(50, row(50, 0.5, 0.5, 1.0, 0.06)) if "p99" in c.says)
    assert p99_claim.high is None and p99_claim.holds()


def test_late_starts_count_first_calls_that_waited_for_a_thread():
    report = report_of(FIRST)
    assert late_starts(report) == 0.0  # every first call started with its request
    late = [o._replace(attempts=(Attempt("s", 1, None, 0.0, 0.001), Attempt("s", 0, None, 0.006, 0.05)))
            if o.request < 3 else o for o in report.outcomes]  # the hedge answered first; the primary began 6 ms late
    moved = Report(late, workers=1, started_at=0.0, finished_at=1.0)
    assert late_starts(moved) == pytest.approx(0.03)
    assert late_starts(moved, after=0.01) == 0.0
    assert hedge_row(moved, first=FIRST, second=SECOND)["late starts"] == pytest.approx(0.03)
    with pytest.raises(ValueError, match="at least one request"):
        late_starts(Report([], workers=1, started_at=0.0, finished_at=0.0))


def test_tail_ranks_places_the_p99_among_the_largest_values():
    values = [0.001 * k for k in range(1, 101)] + [1.0] * 2  # 102 values: two in a far tail
    ranks = tail_ranks(values)
    # (102 - 1) * 0.99 = 99.99: the lower neighbour is the 100th smallest, the 3rd largest
    assert ranks["rank"] == 3 and ranks["window rank"] == 2 * 102 - math.floor(203 * 0.99)
    assert ranks["above"] == 2 and ranks["largest"][:3] == [1.0, 1.0, 0.1]
    assert ranks["quantile"] == pytest.approx(np.quantile(values, 0.99))


@pytest.mark.parametrize("bad", [[], [0.1, 0.2]])
def test_tail_ranks_refuses_no_values_or_a_bad_q(bad):
    with pytest.raises(ValueError, match="latencies" if not bad else "q must"):
        tail_ranks(bad, q=0.99 if not bad else 1.0)


def test_show_hedging_prints_times_and_shares(capsys):
    import pandas as pd

    table = pd.DataFrame({"d": [float("nan"), 0.0535], "S(d)": [0.0, 0.052], "extra calls": [0.0, 0.048],
                          "model extra calls": [0.0, 0.05], "p50": [0.031, 0.031], "p99": [0.223, 0.078],
                          "model p99": [0.223, 0.077], "late starts": [0.0, 0.021]}, index=["never", "p95"])
    show_hedging(table)
    lines = capsys.readouterr().out.splitlines()
    assert "53.5 ms" in lines[-1] and "4.8%" in lines[-1] and "2.1%" in lines[-1]
    # S(d), which the prose cites (review 07e: it was hidden), shown as a share; no d, no S(d) for the row "never"
    assert "S(d)" in lines[0] and "5.2%" in lines[-1] and lines[-2].split()[1:3] == ["n/a", "n/a"]


def test_hedged_at_p95_claims_half_the_unhedged_p99_on_its_own_run():
    never = {"p99": 0.223, "model p99": 0.223}
    p95 = row(95, 0.05, 0.05, 0.1118, 0.080)  # within 1.4x its model, yet not half the unhedged p99
    plain = hedge_claims(95, p95)
    assert all(c.holds() for c in plain) and not any("half" in c.says for c in plain)
    cut = next(c for c in hedge_claims(95, p95, unhedged=never) if "half" in c.says)
    assert cut.low == 2 and not cut.holds()
    assert all(c.holds() for c in hedge_claims(95, row(95, 0.05, 0.05, 0.080, 0.077), unhedged=never))
    assert not any("half" in c.says for c in hedge_claims(90, row(90, 0.1, 0.1, 0.08, 0.075), unhedged=never))


def test_hedged_at_p99_claims_a_small_cut_and_a_d_below_the_unhedged_p99_on_its_own_run():
    never = {"p99": 0.223, "model p99": 0.223}
    p99 = row(99, 0.01, 0.01, 0.170, 0.223, d=0.171)
    assert all(c.holds() for c in hedge_claims(99, p99, unhedged=never))
    assert len(hedge_claims(99, p99, unhedged=never)) == len(hedge_claims(99, p99)) + 2
    cut_too_much = row(99, 0.01, 0.01, 0.120, 0.223, d=0.130)  # 1.9x: as much as hedging at p95 buys
    assert [c.says for c in hedge_claims(99, cut_too_much, unhedged=never) if not c.holds()] == [
        "hedged at p99: the p99 is cut by at most 1.6x, far less than at p95 (the model: not at all)"]
    d_above = row(99, 0.01, 0.01, 0.225, 0.223, d=0.240)
    assert [c.says for c in hedge_claims(99, d_above, unhedged=never) if not c.holds()] == [
        "hedged at p99: its learned d reads below the baseline's p99"]
