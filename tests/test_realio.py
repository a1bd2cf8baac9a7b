"""Notebook 09's experiments (ella_lab.realio): the primary stopped mid-run, its windows and figure, the sweep."""

import matplotlib

matplotlib.use("Agg")
import dataclasses

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from ella_lab import FallbackChain, FlakyService, HttpSource, Router
from ella_lab.realio import (
    OutageRun,
    cpu_table,
    outage_claims,
    plot_outage,
    plot_sockets,
    primary_outage,
    sockets_claims,
    sockets_sweep,
)

REQUESTS = [f"DataRequest-{i}" for i in range(120)]


@pytest.fixture(scope="module")
def outage():
    with FlakyService("primary", latency=0.002, seed=1) as primary, FlakyService("backup", latency=0.002) as backup:
        chain = FallbackChain([HttpSource("primary", primary.url, timeout=0.5), HttpSource("backup", backup.url)])
        run = primary_outage(Router(chain, workers=4), primary, REQUESTS, rate=200, stop_at=0.2, restart_at=0.4)
        yield run, primary.running


def test_nothing_is_lost_and_the_primary_is_back(outage):
    run, running = outage
    assert isinstance(run, OutageRun) and running  # restarted before primary_outage returned
    frame = run.report.frame()
    assert list(frame.request) == REQUESTS and frame.ok.all()
    # timers never fire early, counted from when they started: just before the report's clock (paced's
    # on_start), so on the report's clock a moment can read under its aim (0.192 s for 0.2 s seen under load)
    assert run.timers_from <= 0 and run.down_from < run.down_to
    assert run.down_from - run.timers_from >= 0.2 and run.down_to - run.timers_from >= 0.4
    assert (frame.source == "backup").any() and (frame.source == "primary").any()


def test_the_windows_split_the_requests_by_when_they_were_sent(outage):
    run, _ = outage
    w = run.windows(margin=0.05)
    assert (w.before.queued_s < run.down_from - 0.05).all() and (w.after.queued_s > run.down_to + 0.05).all()
    assert ((w.down.queued_s > run.down_from + 0.05) & (w.down.queued_s < run.down_to - 0.05)).all()
    assert set(w.before.request).isdisjoint(w.down.request) and set(w.down.request).isdisjoint(w.after.request)
    assert len(w.down) > 0 and w.refused_s >= 0 and w.backup_s > 0
    with pytest.raises(ValueError, match="margin"):
        run.windows(margin=-1)


def test_the_figure_shades_the_outage_as_measured(outage):
    run, _ = outage
    fig = plot_outage(run)
    top, bottom = fig.axes
    span = top.patches[0]  # axvspan's rectangle, in data x
    assert span.get_x() == pytest.approx(run.down_from)
    assert span.get_x() + span.get_width() == pytest.approx(run.down_to)
    assert top.get_ylabel() == "served by the backup (%)" and bottom.get_ylim()[0] == 0
    assert [text.get_text() for text in top.get_legend().get_texts()] == ["primary stopped", "served by the backup"]
    assert bottom.get_legend() is None  # one line, named by its y-label: a legend would only repeat it
    plt.close(fig)


def test_the_outage_claims_carry_this_runs_values_and_miss_on_a_short_outage(outage):
    run, _ = outage
    w = run.windows()
    claims = outage_claims(run, failure_rate=0, outage_s=0.2)
    assert [c.measured for c in claims] == pytest.approx([
        run.down_to - run.down_from, w.down.fell_back.mean(), w.before.fell_back.mean(), w.after.fell_back.mean(),
        w.refused_s, w.down.service_s.median(),
    ])
    assert "before the outage, the backup serves the primary's planned failures (0.0%)" in claims[2].says
    assert w.planned == {"before": 0, "after": 0}  # the primary never fails by design: every fallback is extra
    other_plan = dataclasses.replace(run, primary=FlakyService("primary", failure_rate=0.5, seed=1))  # not started
    assert not any(c.holds() for c in outage_claims(other_plan)[2:4])  # 0 % served is not its 50 % planned
    assert not outage_claims(run, failure_rate=0, outage_s=2.0)[0].holds()  # 0.2 s is too short for a 2 s aim
    slow = dataclasses.replace(run, down_from=run.down_from - 0.1)  # "down" before it was: the primary served those
    assert not outage_claims(slow, failure_rate=0, outage_s=0.2)[1].holds()
    with pytest.raises(ValueError, match="failure_rate"):
        outage_claims(run, failure_rate=1.5)
    with pytest.raises(ValueError, match="extra"):
        outage_claims(run, extra=-0.1)


def test_the_windows_give_the_planned_share_and_the_timeouts_beside_the_measured_one():
    with FlakyService("primary", latency=0.001, failure_rate=0.3, seed=4) as primary, FlakyService("b") as backup:
        chain = FallbackChain([HttpSource("primary", primary.url, timeout=0.5), HttpSource("backup", backup.url)])
        run = primary_outage(Router(chain, workers=2), primary, REQUESTS, rate=300, stop_at=0.15, restart_at=0.25)
    w = run.windows()
    tries = run.report.attempts_frame()
    first = tries[tries.source == "primary"].drop_duplicates("request").set_index("request")
    for name, part in (("before", w.before), ("after", w.after)):
        planned = sum(primary.plan(r)[0] != "ok" for r in part.request) / len(part)
        assert w.planned[name] == pytest.approx(planned) and 0 < planned < 1  # the seeded plan's share, exact
        assert w.timed_out[name] == 0  # nothing nears a 0.5 s timeout
        # every fallback of a request whose primary try ran while the primary was up is a planned failure
        # (by send time alone, a request queued behind others on a busy machine can meet the outage)
        calls = first.reindex(part.request)
        up = (calls.finished_s < run.down_from) if name == "before" else (calls.started_s > run.down_to)
        served = part.set_index("request")[up.to_numpy()]
        # some of each window ran while the primary was up (not half: under CI load 12 of 27 did, queued behind)
        assert len(served) >= 3, (name, len(served), len(part))
        assert list(served.fell_back) == [primary.plan(r)[0] != "ok" for r in served.index]
    unknown = dataclasses.replace(run, primary=None).windows()
    assert all(v != v for v in unknown.planned.values())  # NaN: no plan to read


def test_the_outage_refuses_a_restart_before_the_stop():
    with FlakyService("p", latency=0.001) as primary:
        with pytest.raises(ValueError, match="restart_at"):
            primary_outage(Router(HttpSource("p", primary.url), workers=1), primary, ["a"], rate=10, stop_at=0.5,
                           restart_at=0.5)
        assert primary.running


def test_the_sweep_has_one_row_per_k():
    curves = sockets_sweep([1, 2], latency=0.002, per_worker=4, repeats=1)
    assert list(curves.index) == [1, 2]
    assert list(curves["model"]) == [500, 1000] and (curves["real ok"] == 1).all()
    assert (curves["CPU per request (µs)"] > 0).all() and (curves["real sockets"] > 0).all()
    with pytest.raises(ValueError, match="workers"):
        sockets_sweep([0])


def test_the_sockets_claims_hold_on_the_lessons_shape_and_miss_without_a_bend():
    model = pd.Series([100.0, 200, 400, 800, 1600, 3200], index=[1, 2, 4, 8, 16, 32])
    c = pd.Series([1.0e-3, 1.0e-3, 1.0e-3, 1.0e-3, 1.05e-3, 1.0e-3], index=model.index)
    lesson = pd.DataFrame({  # real sockets near K / (L + c) for K <= 4, then bending away
        "model": model, "simulated": 0.95 * model, "real sockets": [88, 167, 334, 620, 870, 1058],
        "real ok": 1.0, "cores used here": [0.08, 0.12, 0.23, 0.53, 0.97, 1.02], "user share": 0.6,
        "K / (L + c)": model.index / (0.010 + c),
    })
    lesson.index.name = "workers"
    assert all(c.holds() for c in sockets_claims(lesson))
    no_bend = lesson.assign(**{"real sockets": 0.95 * model, "cores used here": 0.1})
    missed = [c.says for c in sockets_claims(no_bend) if not c.holds()]
    assert any("bends away" in says for says in missed) and any("CPU fills up" in says for says in missed)
    assert any("most of a core busy" in says for says in missed)  # 0.1 of a core at K = 32
    # 1.5 cores with 60 % of the CPU in user time: 0.9 of a core under the GIL, possible; with 90 % in user
    # time at any K: 1.35 cores of Python code under one GIL, impossible
    at_most = lesson.index.max()
    passed = lesson.assign(**{"cores used here": lesson["cores used here"].where(lesson.index < at_most, 1.5)})
    assert all(c.holds() for c in sockets_claims(passed))
    too_much = passed.assign(**{"user share": lesson["user share"].where(lesson.index < at_most, 0.9)})
    assert [c.says for c in sockets_claims(too_much) if not c.holds()] == [
        "the user time stays within one core at every K (cores used × user share), the most"
    ]
    half = lesson.assign(**{"real sockets": 0.6 * lesson["K / (L + c)"]})  # passed the old 55 %-of-K / L worst
    assert [c.says for c in sockets_claims(half) if not c.holds()][:2] == [
        "for a few workers (K ≤ 4), real sockets follow K / (L + c), on average",
        "for a few workers (K ≤ 4), real sockets follow K / (L + c), the worst",
    ]
    # at K / L, 1.1 x K / (L + c) with c = 1 ms: c would not be the gap, and the upper bound catches it
    too_fast = lesson.assign(**{"real sockets": lesson["real sockets"].where(lesson.index > 4, model)})
    assert [c.says for c in sockets_claims(too_fast) if not c.holds()] == [
        "for a few workers (K ≤ 4), real sockets do not pass K / (L + c), the best"
    ]
    slow_sleep = lesson.assign(simulated=0.5 * model)
    assert [c.says for c in sockets_claims(slow_sleep) if not c.holds()] == [
        "a simulated source follows the model at every K of the sweep, the worst"
    ]


def test_the_figure_of_the_sweep_draws_k_over_l_plus_c_alone():
    model = pd.Series([100.0, 200, 400], index=[1, 2, 4])
    curves = pd.DataFrame({
        "model": model, "simulated": model, "real sockets": [90.0, 180, 300], "real ok": 1.0,
        "cores used here": [0.1, 0.2, 0.3], "user share": 0.6, "K / (L + c)": [90.9, 181.8, 363.6],
    })
    fig = plot_sockets(curves)
    left, right = fig.axes
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels[2] == "K / (L + c), c measured" and left.get_xscale() == "log"
    # no 1 / c ceiling: cores used = X · c by definition, a diagnostic, not a model (review 09e A2)
    assert list(left.lines[2].get_ydata()) == [90.9, 181.8, 363.6]  # each K with its own c
    # the right panel: measured over model, where c's few percent can be seen (300 / 363.6 at K = 4)
    by_label = {line.get_label(): list(line.get_ydata()) for line in right.lines}
    assert by_label["real / (K / (L + c))"][2] == pytest.approx(300 / 363.6)
    assert by_label["real / (K / L)"] == pytest.approx([0.9, 0.9, 0.75])
    # the grey line at 1 is in the legend (review 09 B: it had no entry)
    assert "model (measured / model = 1)" in [t.get_text() for t in right.get_legend().get_texts()]
    plt.close(fig)


def test_the_cpu_table_keeps_the_columns_the_model_reads():
    curves = pd.DataFrame({
        "model": [100.0, 200], "simulated": [99.0, 198], "real sockets": [90.0, 180], "real ok": 1.0,
        "CPU per request (µs)": [1000.0, 500], "cores used here": [0.09, 0.09], "user share": [0.5, 1.0],
        "K / (L + c)": [90.9, 190.5],
    }, index=pd.Index([1, 2], name="workers"))
    table = cpu_table(curves)
    assert list(table.columns) == ["c (µs)", "K / (L + c)", "real sockets", "cores used", "user cores"]
    assert list(table["user cores"]) == pytest.approx([0.045, 0.09])  # cores used x user share
    assert list(table["cores used"]) == pytest.approx(table["real sockets"] * table["c (µs)"] / 1e6)  # X · c


def sweep_with(cores_used, user_share):
    return pd.DataFrame({
        "model": [100.0, 200], "simulated": [99.0, 198], "real sockets": [90.0, 180], "real ok": 1.0,
        "CPU per request (µs)": [1000.0, 500], "cores used here": cores_used, "user share": user_share,
        "K / (L + c)": [90.9, 190.5],
    }, index=pd.Index([1, 2], name="workers"))  # fmt: skip


def test_the_gil_reading_names_the_case_the_run_is_in():
    """Review 09 (A1): the paragraph's condition (cores used under one) failed in the saved run (1.07) without a
    word; the reading now names the case, and argues from the user cores (0.52 there)."""
    from ella_lab.realio import gil_reading

    under = gil_reading(sweep_with([0.3, 0.9], [0.5, 0.5]))
    assert "most cores used (system calls included): 0.90" in under and "never filled one core" in under
    assert "held the GIL at most 45% of the time" in under and "saturated" not in under, under
    over = gil_reading(sweep_with([0.13, 1.07], [0.5, 0.486]))
    assert "most user cores: 0.52" in over and "held the GIL at most 52% of the time" in over, over
    assert "never filled" not in over
    full = gil_reading(sweep_with([0.5, 1.3], [0.8, 0.9]))
    assert "may be what holds the curve" in full and "at most" not in full


def test_checked_runs_judge_the_notebooks_sentences_and_run_again_on_a_miss(monkeypatch):
    from ella_lab import realio

    seen = {}

    def fake_measure(run, claims, *, tries=3):
        seen.update(run=run, claims=claims, tries=tries)
        return "the last run"

    monkeypatch.setattr(realio, "measure", fake_measure)
    assert sockets_sweep([1, 2], checked=True) == "the last run"
    assert seen["claims"] is sockets_claims and seen["tries"] == 2  # a sweep takes seconds: two in all
    told = {}
    monkeypatch.setattr(realio, "outage_claims", lambda run, **kwargs: told.update(kwargs) or [])
    primary = FlakyService("p", failure_rate=0.2)
    assert primary_outage(None, primary, [], rate=10, stop_at=0.5, restart_at=1.75, checked=True) == "the last run"
    seen["claims"]("a run")
    assert told == {"failure_rate": 0.2, "outage_s": 1.25} and seen["tries"] == 3
