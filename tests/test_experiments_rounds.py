"""Notebook 01's exact round model and the claims built on it (experiments.round_model, round_claims,
makespan_claims): the model against numpy's own percentiles, and the bands against made-up runs."""

import math

import numpy as np
import pytest

from ella_lab import Router, SimulatedSource
from ella_lab.claims import Noise
from ella_lab.experiments import last_taken, makespan_claims, request_ids, round_claims, round_model
from ella_lab.outcome import Report

QUIET = Noise(1e-7, 5e-5, 1e-4, 2, 0.1, 1.0)
L = 0.05


def test_the_round_model_is_numpys_percentiles_of_whole_rounds():
    rounds = [i // 3 + 1 for i in range(10)]
    model = round_model(10, 3, L)
    for name, q in (("p50_s", 50), ("p95_s", 95), ("p99_s", 99)):
        assert math.isclose(model[name], np.percentile(rounds, q) * L), name
    assert [round(model[p] / L, 2) for p in ("p50_s", "p95_s", "p99_s")] == [2, 3.55, 3.91]
    assert (model["ideal_rps"], model["throughput_rps"], model["wall_s"]) == pytest.approx((60, 50, 0.2))
    assert math.isclose(round_model(10, 4, L)["wall_s"], 3 * L)  # ⌈10/4⌉ rounds
    assert math.isclose(round_model(10, 1, L)["wall_s"], 10 * L)


@pytest.mark.parametrize(("n", "workers", "latency"), [(0, 3, L), (10, 0, L), (10, 3, 0), (10, 3, -1.0)])
def test_the_round_model_refuses_what_has_no_rounds(n, workers, latency):
    with pytest.raises(ValueError):
        round_model(n, workers, latency)


def test_round_claims_hold_on_the_model_and_miss_half_a_round_off():
    model = round_model(10, 3, L)
    assert all(c.holds(QUIET) for c in round_claims(model, 10, 3, L))
    assert [c.says.split(" is ")[0] for c in round_claims(model, 10, 3, L)][:3] == ["p50", "p95", "p99"]
    late = {**model, "p95_s": model["p95_s"] + 0.6 * L}  # more than half a round (and the late wake-ups) over
    assert [c.holds(QUIET) for c in round_claims(late, 10, 3, L)] == [True, False, True, True]
    slow = {**model, "ideal_rps": 0.75 * model["ideal_rps"]}
    assert not round_claims(slow, 10, 3, L)[3].holds(QUIET)


def fake_run(workers, started_offsets, wall):
    """A finished report whose requests were taken off the queue at the given offsets."""
    report = Router(SimulatedSource("s", latency=0), workers=workers).run(request_ids(len(started_offsets)))
    outcomes = [o._replace(started_at=report.started_at + t) for o, t in
                zip(report, started_offsets, strict=True)]
    return Report(outcomes, workers=workers, started_at=report.started_at, finished_at=report.started_at + wall)


def test_makespan_claims_hold_on_the_model_and_miss_a_round_off():
    on_time = fake_run(3, [(i // 3) * L for i in range(10)], 4 * L)
    assert math.isclose(last_taken(on_time), 3 * L)
    claims = makespan_claims(on_time, L)
    assert [c.model for c in claims] == pytest.approx([4 * L, 3 * L])
    assert all(c.holds(QUIET) for c in claims)
    a_hair_short = fake_run(3, [(i // 3) * L for i in range(10)], 0.99 * 4 * L)  # a sleep that returned short
    assert makespan_claims(a_hair_short, L)[0].holds(QUIET)
    a_round_more = fake_run(3, [(i // 3) * L + L for i in range(10)], 5 * L)
    assert [c.holds(QUIET) for c in makespan_claims(a_round_more, L)] == [True, False]  # 5 L is within 1.5 x 4 L
    too_slow = fake_run(3, [(i // 3) * L for i in range(10)], 6.5 * L)
    assert not makespan_claims(too_slow, L)[0].holds(QUIET)
