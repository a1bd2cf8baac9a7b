"""Notebook 06's helpers in ella_lab.studies: the call a timeout abandons (its claims built from the model, no
clock judged), the efficiency table narrowed to the columns asked for, and map's latency read from the fetch."""

import math

import pandas as pd
import pytest

from ella_lab import ScriptedSource, studies
from ella_lab.experiments import request_ids
from ella_lab.studies import AbandonedRun, abandoned_call, abandoned_claims, efficiency_spread, map_until_failure

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def judged(monkeypatch):
    """``measure`` replaced by one run whose claims are kept, not judged."""
    kept = {}

    def measure(run, claims, **kwargs):
        result = run()
        kept["claims"] = list(claims(result))
        return result

    monkeypatch.setattr(studies, "measure", measure)
    return kept


def test_abandoned_call_is_served_by_the_backup_and_the_hung_call_ends_later(judged):
    run = abandoned_call(hang=0.05, timeout=0.01, backup_latency=0.002, checked=True)
    assert run.served.source == "backup" and run.still_running
    assert run.finished_at >= 0.05 and run.finished_at > run.answered_at
    assert [r.getMessage() for r in run.warnings] == ["slow_lookup did not return within 10.0 ms; abandoned"]
    assert [c.late for c in judged["claims"]] == [2, 0, 1]


def test_abandoned_claims_hold_at_the_model_and_miss_an_answer_after_the_hang():
    at_model = AbandonedRun(None, answered_at=0.025, still_running=True, finished_at=0.1, warnings=[])
    claims = abandoned_claims(at_model, hang=0.1, timeout=0.02, backup_latency=0.005)
    assert all(c.holds() for c in claims)
    assert claims[0].model == pytest.approx(0.025) and claims[0].high == pytest.approx(1.4 * 0.025)
    waited = AbandonedRun(None, answered_at=0.105, still_running=False, finished_at=0.1, warnings=[])
    assert [c.holds() for c in abandoned_claims(waited, hang=0.1, timeout=0.02, backup_latency=0.005)] == [
        False,
        False,
        True,
    ]
    never = AbandonedRun(None, answered_at=0.025, still_running=True, finished_at=math.inf, warnings=[])
    assert not abandoned_claims(never, hang=0.1, timeout=0.02, backup_latency=0.005)[2].holds()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"hang": 0}, "hang"),
        ({"timeout": "20 ms"}, "timeout"),
        ({"backup_latency": -1}, "backup_latency"),
        ({"timeout": 0.2}, "timeout"),
    ],
)
def test_abandoned_call_refuses_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        abandoned_call(**kwargs)


def test_efficiency_spread_keeps_the_columns_asked_for():
    runs = pd.DataFrame(
        {"peer": ["Router.run"] * 3, "workers": [4] * 3, "run": [0, 1, 2], "wall_s": 1.0, "efficiency": [0.7, 0.9, 0.8]}
    )
    narrow = efficiency_spread(runs, stats=["median", "spread"])
    assert list(narrow.columns) == [("Router.run", "median"), ("Router.run", "spread")]
    assert narrow.loc[4, ("Router.run", "spread")] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="stats"):
        efficiency_spread(runs, stats=["mean"])


def test_map_until_failure_reads_the_latency_of_the_fetch(judged):
    run = map_until_failure(
        ScriptedSource("source", latency=0.002, fail_on={"DataRequest-4"}), request_ids(10), workers=3, checked=True
    )
    assert len(run.answers) == 4 and judged["claims"][0].model == pytest.approx(0.002)
    with pytest.raises(ValueError, match="latency"):
        map_until_failure(lambda r: r, request_ids(2), workers=1, checked=True)
