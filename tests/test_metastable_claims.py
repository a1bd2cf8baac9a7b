"""Notebook 10's claims about a run, as library functions: they hold on the seeded simulation of the run they
describe, and miss on a run that does not do what they say."""

import math

import pytest

from ella_lab.metastable import collapse_claims, cure_claims, served_share
from ella_lab.sim import simulate

RATE, CAPACITY = 140, 200
CONTROLS = ["budget", "throttle", "limit", "drop_expired"]


def missed(claims):
    return [c.says for c in claims if not c.holds()]


def test_collapse_claims_hold_on_the_simulated_collapse():
    run = simulate(control="none", duration=8.0)
    claims = collapse_claims(run, rate=RATE, capacity=CAPACITY)
    assert len(claims) == 4 and missed(claims) == []


def test_collapse_claims_miss_on_a_run_that_recovers():
    run = simulate(control="drop_expired", duration=8.0)
    assert set(missed(collapse_claims(run, rate=RATE, capacity=CAPACITY))) >= {
        "down for 5 s after the trigger ended: goodput a small fraction of C",
        "no recovery in the 5 s after the trigger",
        "3 tries a request once every try times out",
    }


@pytest.mark.parametrize("control", CONTROLS)
def test_cure_claims_hold_on_each_simulated_cure(control):
    run = simulate(control=control, duration=6.0)
    claims = cure_claims(control, run, run, rate=RATE)
    assert missed(claims) == [], [(c.says, c.measured) for c in claims]
    assert all(c.model is not None for c in claims)  # each beside the simulation's value


@pytest.mark.parametrize("control", CONTROLS)
def test_cure_claims_miss_on_a_run_that_stays_down(control):
    down = simulate(control="none", duration=6.0)
    said = missed(cure_claims(control, down, simulate(control=control, duration=6.0), rate=RATE))
    assert f"{control}: it recovers, as the simulation says" in said


def test_the_budget_and_limit_claims_can_miss_on_their_own():
    none = simulate(control="none", duration=6.0)
    said = missed(cure_claims("budget", none, simulate(control="budget", duration=6.0), rate=RATE))
    assert "budget: in the second after the trigger, tries near 1.1 x the load" in said  # about 3 x
    said = missed(cure_claims("limit", none, simulate(control="limit", duration=6.0), rate=RATE))
    assert {
        "the limit serves most new requests once the server is healthy",
        "the limit keeps the queue short: never above 40 of its 50 places",
    } <= set(said)


def test_served_share_is_near_one_when_served_and_zero_when_down():
    assert served_share(simulate(control="drop_expired", duration=6.0)) == pytest.approx(1.0, abs=0.05)
    assert served_share(simulate(control="none", duration=6.0)) == 0.0
    assert not math.isnan(served_share(simulate(control="limit", duration=6.0), since=3.5))
