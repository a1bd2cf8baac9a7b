"""The helpers notebooks 06 and 09 use in ella_lab.studies: the call a timeout abandons (its claims built from the
model, no clock judged), the efficiency table narrowed to the columns asked for, map's latency read from the fetch,
and notebook 09's outage table."""

import math

import pandas as pd
import pytest

from ella_lab import ScriptedSource, studies
from ella_lab.experiments import request_ids
from ella_lab.studies import (
    AbandonedRun,
    abandoned_call,
    abandoned_claims,
    efficiency_spread,
    map_until_failure,
    outage_table,
)

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


class _Outage:
    """Stands for an OutageRun: only its windows() is read."""

    def windows(self, margin=0.05):
        from ella_lab.realio import OutageWindows

        def part(fell_back):
            return pd.DataFrame({"fell_back": fell_back})

        return OutageWindows(
            before=part([False] * 19 + [True]),
            down=part([True] * 10),
            after=part([]),
            refused_s=1e-4,
            backup_s=0.01,
            planned={"before": 0.05, "after": math.nan},
            timed_out={"before": 0.0, "after": math.nan},
        )


def test_outage_table_gives_each_window_its_shares_and_a_dash_where_none_applies():
    table = outage_table(_Outage())
    assert list(table.index) == ["before", "while down", "after"]
    assert list(table["requests"]) == [20, 10, 0]
    assert list(table["by backup %"]) == ["5.0", "100.0", "–"]
    assert list(table["planned fail %"]) == ["5.0", "–", "–"]
    assert list(table["timed out %"]) == ["0.0", "–", "–"]
