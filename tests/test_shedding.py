"""Notebook 07's section (d) bookkeeping on hand-made runs (no threads, no clock): rows, tables, claims;
and the one-argument claim helpers its cells hand to ``measure`` (``row_claims``, ``outage_claims``)."""

from types import SimpleNamespace

import pandas as pd
import pytest

from ella_lab.hedging import hedge_claims, row_claims
from ella_lab.outages import breaker_claims, no_breaker_claims, outage_claims, outage_row
from ella_lab.outcome import Attempt, Outcome, Rejected, Report
from ella_lab.shedding import (
    beside_model,
    bulkhead_claims,
    bulkhead_table,
    dependency_rows,
    overload_claims,
    queue_model,
    queue_row,
)


def served(request, queued, started, finished):
    return Outcome(request, True, "v", None, "s", (Attempt("s", 0, None, started, finished),), "w", queued, started,
                   finished)


def rejected(request, at):
    return Outcome(request, False, None, Rejected("full"), None, (), "w", at, at, at)


def test_queue_row_measures_from_the_intended_send_too():
    # sent at 1,000/s from t = 10: the second request was held 5 ms in the client, the third rejected
    report = Report([served("a", 10.0, 10.0, 10.005), served("b", 10.006, 10.006, 10.011), rejected("c", 10.002)],
                    workers=1, started_at=10.0, finished_at=10.011)
    row = queue_row(report, rate=1000)
    assert row["answered"] == 2 and row["rejected"] == 1
    assert row["p99 from enqueue"] == pytest.approx(0.005)
    assert row["p99 from intended send"] == pytest.approx(0.01, abs=1e-4)  # b was meant to go at 10.001
    assert row["client sent for"] == pytest.approx(0.006) and row["run took"] == pytest.approx(0.011)


@pytest.mark.parametrize("rate", [0, -1, "fast"])
def test_queue_row_refuses_a_bad_rate(rate):
    report = Report([served("a", 0, 0, 1)], workers=1, started_at=0, finished_at=1)
    with pytest.raises((ValueError, TypeError), match="rate"):
        queue_row(report, rate=rate)


def test_queue_row_needs_an_answer():
    with pytest.raises(ValueError, match="none answered"):
        queue_row(Report([rejected("a", 0)], workers=1, started_at=0, finished_at=0), rate=10)


def overload_table(*, blocked_send=0.97, rejected_share=0.47, unbounded_run=1.05, blocked_wait=0.04,
                   rejected_wait=0.045):
    rows = {"unbounded": {"p99 from enqueue": 0.55, "p99 from intended send": 0.55, "client sent for": 0.5,
                          "rejected": 0, "run took": unbounded_run, "mean call": 0.0052},
            "block at 20": {"p99 from enqueue": blocked_wait, "p99 from intended send": 0.55,
                            "client sent for": blocked_send, "rejected": 0, "mean call": 0.0054},
            "reject at 20": {"p99 from enqueue": rejected_wait, "p99 from intended send": rejected_wait,
                             "client sent for": 0.5, "rejected": round(800 * rejected_share), "mean call": 0.0052}}
    return pd.DataFrame(rows).T


def test_overload_claims_hold_on_the_model_and_miss_off_it():
    assert all(claim.holds() for claim in overload_claims(overload_table()))
    missed = [c.says for c in overload_claims(overload_table(blocked_send=0.5, rejected_share=0.1)) if not c.holds()]
    assert missed == ["blocking slows the client to the router's pace: about twice as long to send",
                      "shedding: about half is rejected"]
    missed = [c.says for c in overload_claims(overload_table(unbounded_run=1.5)) if not c.holds()]
    assert missed == ["unbounded: the run takes 800 calls of this machine's mean time on 4 workers",
                      "unbounded: the p99 from the intended send is the run's end less the end of sending"]


def test_overload_claims_bound_the_bounded_queues_wait_from_the_enqueue():
    """Review 07e: a saved 'block at 20' p99 from enqueue of 88.5 ms (model 30 ms) passed every claim (seen)."""
    missed = [c.says for c in overload_claims(overload_table(blocked_wait=0.0885)) if not c.holds()]
    assert missed == ["block at 20: from the enqueue, a p99 of a full queue ahead, 20 / 4 + 1 = 6 calls"]
    missed = [c.says for c in overload_claims(overload_table(rejected_wait=0.0885)) if not c.holds()]
    assert "reject at 20: from the enqueue, a p99 of a full queue ahead, 20 / 4 + 1 = 6 calls" in missed
    missed = [c.says for c in overload_claims(overload_table(blocked_wait=0.02)) if not c.holds()]
    assert missed == ["block at 20: from the enqueue, a p99 of a full queue ahead, 20 / 4 + 1 = 6 calls"]
    # the model at each row's own mean call: 6 x 5.4 ms for the blocked row
    claim = next(c for c in overload_claims(overload_table()) if c.says.startswith("block at 20: from the enqueue"))
    assert claim.model == pytest.approx(6 * 0.0054) and claim.high == pytest.approx(2 * 6 * 0.0054)
    assert claim.late == 6


def test_beside_model_sets_each_model_value_beside_its_measurement():
    measured = pd.DataFrame({"p99": [0.6, 0.03], "rejected": [0, 380]}, index=["a", "b"])
    model = pd.DataFrame({"p99": [0.03, 0.5], "rejected": [376, 0]}, index=["b", "a"])
    table = beside_model(measured, model, times=["p99"])
    assert list(table) == ["a", "b"] and list(table.index) == ["p99", "rejected"]
    assert table.loc["p99", "a"] == "600 ms (500 ms)" and table.loc["rejected", "b"] == "380 (376)"  # by label
    with pytest.raises(ValueError, match="every column"):
        beside_model(measured.assign(n=1), model)
    with pytest.raises(ValueError, match="times"):
        beside_model(measured, model, times=["p50"])


def test_queue_model_is_the_capacity_model():
    unbounded = queue_model(800, 1600, workers=4, call=0.005)
    assert unbounded["run took"] == pytest.approx(1.0, abs=0.005)  # N / C
    assert unbounded["p99 from intended send"] == pytest.approx(0.5, abs=0.005)  # N / C - N / R
    blocked = queue_model(800, 1600, workers=4, call=0.005, max_pending=20, on_full="block")
    assert blocked["p99 from enqueue"] == pytest.approx(0.03)  # 20 ahead on 4 workers, then its own call
    assert blocked["p99 from intended send"] == pytest.approx(unbounded["p99 from intended send"])
    assert blocked["client sent for"] == pytest.approx(0.97, abs=0.005)  # all but the 24 held, at 800/s
    shed = queue_model(800, 1600, workers=4, call=0.005, max_pending=20, on_full="reject")
    assert shed["answered"] + shed["rejected"] == 800 and shed["answered"] == pytest.approx(400 + 24, abs=5)
    assert shed["p99 from intended send"] == pytest.approx(0.03)
    assert queue_model(10, 100, workers=2, call=0.001) == {  # under capacity: nobody waits
        "answered": 10, "rejected": 0, "p99 from enqueue": pytest.approx(0.001),
        "p99 from intended send": pytest.approx(0.001), "client sent for": pytest.approx(0.09),
        "run took": pytest.approx(0.091), "mean call": 0.001}


@pytest.mark.parametrize("bad", [{"requests": 0}, {"rate": 0}, {"call": -1}, {"workers": 0},
                                 {"max_pending": 0}, {"on_full": "drop"}])
def test_queue_model_refuses_bad_input(bad):
    args = {"requests": 10, "rate": 100, "workers": 2, "call": 0.001, "max_pending": 5, "on_full": "block"} | bad
    with pytest.raises((ValueError, TypeError), match=next(iter(bad))):
        queue_model(args.pop("requests"), args.pop("rate"), **args)


def dependency_run(slow_rejected, fast_rejected, fast_latency, slow_latency=0.1):
    outcomes = [rejected(f"slow-{i}", 0) if i < slow_rejected else served(f"slow-{i}", 0, 0, slow_latency)
                for i in range(120)]
    outcomes += [rejected(f"fast-{i}", 0) if i < fast_rejected else served(f"fast-{i}", 0, 0, fast_latency)
                 for i in range(120)]
    return Report(outcomes, workers=8, started_at=0, finished_at=1)


def test_dependency_rows_split_by_name():
    rows = dependency_rows(dependency_run(60, 50, 0.13), ["slow", "fast"])
    assert rows["slow"] == {"answered": 60, "rejected": 60, "p90 latency": pytest.approx(0.1)}
    assert rows["fast"]["answered"] == 70 and rows["fast"]["p90 latency"] == pytest.approx(0.13)


def test_bulkhead_claims_hold_on_the_model_and_name_a_shared_fast():
    shared = dependency_run(60, 50, 0.13)
    walled = {"slow": dependency_run(82, 0, 0.005, slow_latency=0.35), "fast": dependency_run(0, 0, 0.005)}
    table = bulkhead_table(shared, walled)
    assert table.loc[("a bulkhead each", "slow"), "rejected"] == 82
    assert all(claim.holds() for claim in bulkhead_claims(table))
    as_shared = {"slow": dependency_run(62, 0, 0.005), "fast": walled["fast"]}  # walled, slow fared as when shared
    missed = [c.says for c in bulkhead_claims(bulkhead_table(shared, as_shared)) if not c.holds()]
    assert missed == ["with its own bulkhead, slow sheds its own excess",
                      "with its own bulkhead, slow sheds more than when it shared",
                      "... and its answers wait longer: a longer p90 than when it shared"]
    unharmed = bulkhead_table(dependency_run(60, 0, 0.005), walled)  # fast did not notice the sharing
    missed = [c.says for c in bulkhead_claims(unharmed) if not c.holds()]
    assert missed == ["sharing, fast is rejected with slow",
                      "sharing, fast waits behind slow: its p90 over four times its own 5 ms"]


def test_row_claims_reads_the_threshold_from_the_row():
    row = {"hedge after": "p95", "model extra calls": 0.05, "S(d)": 0.05, "extra calls": 0.05, "p99": 0.08,
           "model p99": 0.077}
    assert [c.says for c in row_claims(row)] == [c.says for c in hedge_claims(95, row)]
    with pytest.raises(ValueError, match="hedge after"):
        row_claims({"hedge after": "never"})


def test_outage_claims_pick_the_breaker_or_not():
    report = Report([served("r", 0, 0, 0.002)], workers=1, started_at=0, finished_at=0.002)
    plain = outage_claims((report, 0.0, object()))
    assert [c.says for c in plain] == [c.says for c in no_breaker_claims(outage_row(report, 0.0))]
    breaker = SimpleNamespace(transitions=[(0.325, "closed", "open")])
    assert [c.says for c in outage_claims((report, 0.0, breaker))][:2] == [
        c.says for c in breaker_claims(outage_row(report, 0.0), {"recover": 0, "gaps": [], "trip": 0, "refused": 0,
                                                               "refused_model": 1, "refused_late": 0})][:2]


def test_paced_together_runs_each_client_on_its_own_router_at_once():
    from ella_lab import Router, SimulatedSource
    from ella_lab.shedding import paced_together

    clients = {name: (Router(SimulatedSource(name, latency=0.001), workers=2), [f"{name}-{i}" for i in range(5)])
               for name in ("a", "b")}
    reports = paced_together(clients, rate=500)
    assert set(reports) == {"a", "b"}
    assert all(sorted(o.request for o in reports[name]) == sorted(clients[name][1]) for name in reports)
    assert all(o.ok for report in reports.values() for o in report)
    with pytest.raises(ValueError, match="clients"):
        paced_together({}, rate=500)


def test_bulkhead_claims_expect_the_capacity_models_shed_count():
    # review 07 (final): the claim expected 120 - (0.6 s x 40/s + 14) = 82, which counts the 4 in service twice;
    # queue_model (and the saved run) say 86
    walled = {"slow": dependency_run(86, 0, 0.005, slow_latency=0.35), "fast": dependency_run(0, 0, 0.005)}
    claims = bulkhead_claims(bulkhead_table(dependency_run(60, 50, 0.13), walled))
    (sheds,) = [c for c in claims if c.says == "with its own bulkhead, slow sheds its own excess"]
    assert sheds.model == 86 == queue_model(120, 200, workers=4, call=0.1, max_pending=10, on_full="reject")["rejected"]
