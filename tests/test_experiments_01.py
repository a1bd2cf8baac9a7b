"""Notebook 01's helpers: the run's claims against the round model, and the model-beside-run table."""

import pytest

from ella_lab.experiments import model_vs_run, round_model, run_claims


def test_run_claims_hold_the_model_itself_and_miss_a_slow_run():
    model = round_model(10, 3, 0.05)
    claims = run_claims(model, 10, 3, 0.05)
    assert claims[0].says == "throughput: 10 of 12 of the ideal, within one worker-round"
    assert (claims[0].low, claims[0].high) == (9 / 12, 11 / 12)
    assert all(c.holds() for c in claims)  # the exact model meets every claim
    slow = dict(model, throughput_rps=model["throughput_rps"] * 0.8, p99_s=model["p99_s"] * 1.5)
    missed = [c.says for c in run_claims(slow, 10, 3, 0.05) if not c.holds()]
    assert missed[0].startswith("throughput") and any(s.startswith("p99") for s in missed)


def test_run_claims_full_rounds_cap_at_the_ideal():
    (share, *_) = run_claims(round_model(12, 3, 0.05), 12, 3, 0.05)
    assert (share.low, share.model, share.high) == (11 / 12, 1, 1)


def test_run_claims_name_a_bad_parameter():
    with pytest.raises(ValueError, match="workers"):
        run_claims(round_model(10, 3, 0.05), 10, 0, 0.05)


def test_model_vs_run_shows_times_and_rates():
    model = round_model(10, 3, 0.05)
    table = model_vs_run(model, dict(model, p50_s=0.101, throughput_rps=49.5))
    assert list(table.columns) == ["model (exact)", "this machine"]
    assert list(table.index) == ["p50", "p95", "p99", "ideal throughput", "throughput"]
    assert table.loc["ideal throughput", "model (exact)"] == "60.0 req/s"
    assert table.loc["throughput", "this machine"] == "49.5 req/s"
    assert table.loc["p50", "this machine"].endswith("ms")
