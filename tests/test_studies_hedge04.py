"""hedge_study (notebook 04, cell after the timeout study): a hedge keeps the slow call running, so its model is
min(the primary's seeded latency, after + the backup's latency), exact; the measured times are claims on it."""

import pytest

from ella_lab import SimulatedSource, studies
from ella_lab.studies import TIMER_SLACK, hedge_study

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def judged(monkeypatch):
    """``measure`` replaced by one run whose claims are kept, not judged: what the study claims, without a clock."""
    kept = {}

    def measure(run, claims, **kwargs):
        result = run()
        kept["claims"] = list(claims(result))
        return result

    monkeypatch.setattr(studies, "measure", measure)
    return kept


def test_the_model_is_the_primary_cut_at_after_plus_the_backup(judged):
    primary = SimulatedSource("primary", latency=0.001, tail_rate=0.5, tail_factor=20, seed=1)
    table = hedge_study(primary, after=0.002, backup_latency=0.001, requests=40, best_of=1)
    row = table.iloc[0]
    assert row["model p50"] == pytest.approx(0.001) or row["model p50"] == pytest.approx(0.003)
    assert row["model p99"] == pytest.approx(0.003)  # the hung calls: 2 ms of waiting, then 1 ms at the backup
    assert list(table.columns) == ["p50", "model p50", "p99", "model p99"]


def test_each_time_is_claimed_from_its_model_with_three_wake_ups(judged):
    primary = SimulatedSource("primary", latency=0.001, tail_rate=0.2, tail_factor=20, seed=1)
    hedge_study(primary, after=0.002, backup_latency=0.001, requests=20, best_of=1)
    claims = judged["claims"]
    assert [c.late for c in claims] == [3, 3]
    p99 = claims[1]
    assert p99.low == pytest.approx(0.003 - TIMER_SLACK) and p99.high == pytest.approx(1.4 * 0.003)


def test_a_primary_that_fails_is_refused():
    failing = SimulatedSource("primary", latency=0.001, failure_rate=0.5, seed=1)
    with pytest.raises(ValueError, match="primary must never fail"):
        hedge_study(failing, after=0.002, backup_latency=0.001, requests=20)


def test_every_chain_length_is_drawn_dark_enough_to_see():
    """Review (2026-12-08): k = 3 was drawn in tableau-colorblind10's light grey #ABABAB, the faintest curve."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from ella_lab.studies import plot_chain_success

    plt.style.use("tableau-colorblind10")
    df = pd.DataFrame({"chain": [1, 2, 3], "failure_rate": [0.5] * 3, "success_rate": [0.5, 0.75, 0.875]})
    lines = plot_chain_success(df).get_lines()
    colours = [str(line.get_color()).lower() for line in lines]
    assert "#ababab" not in colours and "#cfcfcf" not in colours and "#898989" not in colours, colours
    assert len(set(colours[::2])) == 3 and colours[::2] == colours[1::2]  # one colour per k, model and points
    plt.close("all")
