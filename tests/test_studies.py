import logging

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ella_lab import FallbackChain, Router, ScriptedSource, SimulatedSource, studies
from ella_lab.claims import Claim
from ella_lab.experiments import request_ids
from ella_lab.studies import (
    TIMER_SLACK,
    MapRun,
    answered,
    captured_log,
    dispatch_costs,
    efficiency_claims,
    efficiency_runs,
    efficiency_spread,
    fallback_cost,
    fallback_runs,
    fallback_study,
    map_claims,
    map_until_failure,
    median_efficiency,
    model_claims,
    model_mean_latency,
    model_service,
    plot_answered,
    plot_chain_success,
    plot_efficiency,
    plot_queue_profile,
    plot_retry_waits,
    plot_service_cdf,
    print_records,
    queue_claims,
    queue_profile,
    replay_fallback_cost,
    show_times,
    timeout_study,
    whatif_latency,
)


def table(measured, model=0.01):
    return pd.DataFrame({"p99": [measured], "model p99": [model], "L": [0.005]}, index=pd.Index([0.05], name="p"))


def test_model_claims_band_starts_at_the_model():
    held = model_claims(table(0.012), ["p99"], late=2)
    assert [c.says for c in held] == ["p = 0.05: the p99 is the model's 10.0 ms"]
    assert held[0].holds() and held[0].late == 2
    assert not model_claims(table(0.008), ["p99"])[0].holds()  # under the model: a sleep never ends early
    assert not model_claims(table(0.015), ["p99"])[0].holds()  # above 1.4x the model
    assert model_claims(table(0.012), ["p99"], per_sleep=0.01)[0].late == 1
    assert model_claims(table(0.012), ["p99"], per_sleep="L")[0].late == 2  # 10 ms is two sleeps of 5 ms


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"columns": "p99"}, TypeError),
        ({"columns": []}, ValueError),
        ({"columns": ["p50"]}, ValueError),
        ({"columns": ["p99"], "over": 0.5}, ValueError),
        ({"columns": ["p99"], "per_sleep": "nope"}, ValueError),
    ],
)
def test_model_claims_bad_input(kwargs, error):
    with pytest.raises(error, match=r"columns|over|per_sleep"):
        model_claims(table(0.01), **kwargs)


def test_show_times_formats_only_the_time_columns(capsys):
    show_times(table(0.0123), ["p99", "model p99"])
    out = capsys.readouterr().out
    assert "12.3 ms" in out and "10.0 ms" in out and "0.005" in out
    with pytest.raises(ValueError, match="times"):
        show_times(table(0.01), ["p50"])


def test_fallback_cost_shares_match_the_replay_exactly():
    ps = (0.0, 0.3, 0.6)
    cost = fallback_cost(fallback_runs(ps, latency=0.0, requests=200, best_of=1), latency=0.001)
    replay = replay_fallback_cost(ps, latency=0.001, requests=200)
    assert list(cost["asked backup"]) == list(replay["asked backup"])
    assert list(cost["served by backup"]) == list(replay["served by backup"])
    assert list(replay.p50) == [0.001, 0.001, 0.002] and list(replay.p99) == [0.001, 0.002, 0.002]
    assert list(cost["model p50"]) == list(replay.p50) and list(cost["model p99"]) == list(replay.p99)


def test_model_service_replays_the_seeded_decisions():
    slow = SimulatedSource("primary", latency=0.01, tail_rate=0.5, tail_factor=20, seed=1)
    ids = request_ids(50)
    assert {model_service(slow, r, None, 0.01) for r in ids} == {0.01, 0.2}
    assert {model_service(slow, r, 0.02, 0.01) for r in ids} == {0.01, 0.03}
    failing = SimulatedSource("primary", latency=0.01, failure_rate=1.0)
    assert model_service(failing, "x", None, 0.005) == 0.015


def test_timeout_study_who_serves_is_the_model():
    primary = SimulatedSource("primary", latency=0.001, tail_rate=0.2, tail_factor=20, seed=1)
    cut = timeout_study(
        primary, {"no timeout": None, "timeout 5 ms": 0.005}, backup_latency=0.001, requests=60, best_of=1
    )
    assert list(cut.index) == ["no timeout", "timeout 5 ms"]
    assert (cut["primary serves"] == cut["seeded replay"]).all()
    assert cut.loc["no timeout", "primary serves"] == 1 and cut.loc["timeout 5 ms", "primary serves"] < 1
    both = timeout_study({"a": primary, "b": primary}, {"none": None}, backup_latency=0.001, requests=10, best_of=1)
    assert list(both.index) == [("a", "none"), ("b", "none")]


def test_queue_model_and_whatif():
    assert model_mean_latency(40, 4, 0.01) == pytest.approx(0.055)
    assert model_mean_latency(40, 8, 0.01) == pytest.approx(0.030)
    with pytest.raises(ValueError, match="k"):
        model_mean_latency(40, 0, 0.01)
    frame = queue_profile(2, 0.001, 6, best_of=1)
    assert list(frame.model_wait_s) == [0, 0, 0.001, 0.001, 0.002, 0.002]
    assert (frame.wait_s >= frame.model_wait_s - 1e-3).all()
    ax = plot_queue_profile(frame)
    assert ax.get_xlabel() and ax.get_ylabel() and len(ax.patches) == 12  # two bars per request
    whatif = whatif_latency({"a": (2, 0.001)}, 6, best_of=1)
    assert whatif.loc["a", "model mean latency"] == pytest.approx(0.002)


def test_efficiency_runs_keep_every_run_and_plot_a_band():
    runs = efficiency_runs(0.001, [1, 2], per_worker=2, runs=2)
    assert len(runs) == 8 and set(runs.peer) == {"Router.run", "ThreadPoolExecutor.map"}
    assert ((runs.efficiency > 0) & (runs.efficiency <= 1.01)).all()
    median = median_efficiency(runs)
    assert list(median.index) == [1, 2] and list(median.columns) == ["Router.run", "ThreadPoolExecutor.map"]
    ax = plot_efficiency(runs)
    assert ax.get_xlabel() and ax.get_ylabel() and len(ax.collections) == 2  # one band per peer


def test_dispatch_costs_give_each_peer_against_the_pool(monkeypatch):
    costs = dispatch_costs(200, workers=2, repeats=1)
    assert list(costs.index) == ["plain loop", "ThreadPoolExecutor.map", "Router.run"]
    assert costs.loc["ThreadPoolExecutor.map", "vs pool"] == 1
    assert list(costs["vs pool"]) == pytest.approx(list(costs.per_request_s / costs.per_request_s.iloc[1]))
    from ella_lab import studies

    seen = {}
    monkeypatch.setattr(studies, "measure", lambda run, claims: seen.update(claims=claims) or "checked")
    assert dispatch_costs(200, workers=2, checked=True) == "checked"
    slow_router = costs.assign(**{"vs pool": [0.01, 1.0, 0.6]})
    assert not seen["claims"](slow_router).holds() and seen["claims"](costs.assign(**{"vs pool": 0.3})).holds()


def test_efficiency_claims_hold_on_a_fall_and_miss_without_one(monkeypatch):
    def runs_of(medians):  # one run per (K, peer) with the given efficiency
        return pd.DataFrame([{"peer": peer, "workers": k, "run": 0, "wall_s": 1.0, "efficiency": e}
                             for k, (router, pool) in medians.items()
                             for peer, e in (("Router.run", router), ("ThreadPoolExecutor.map", pool))])

    falling = runs_of({1: (0.98, 0.97), 4: (0.97, 0.95), 128: (0.86, 0.7)})
    claims = efficiency_claims(falling)
    assert all(c.holds() for c in claims)
    assert claims[0].says == "few threads (K = 1 and 4) come close to the ideal K / L"
    flat = runs_of({1: (0.9, 0.9), 4: (0.95, 0.9), 128: (0.92, 0.91)})  # the router higher at 128 than at 1
    assert [c.says for c in efficiency_claims(flat) if not c.holds()] == [
        "the median falls overall as K grows: lower at K = 128 than at K = 1, for both peers"]
    with pytest.raises(ValueError, match="two K or more"):
        efficiency_claims(runs_of({1: (0.9, 0.9)}))
    from ella_lab import studies

    seen = {}
    monkeypatch.setattr(studies, "measure", lambda run, claims: seen.update(claims=claims) or "checked")
    assert efficiency_runs(0.001, [1, 2], per_worker=1, checked=True) == "checked"
    assert seen["claims"] is efficiency_claims


def test_captured_log_keeps_worker_records_and_restores_the_logger(capsys):
    logger = logging.getLogger("ella_lab")
    handlers, level = logger.handlers[:], logger.level
    chain = FallbackChain([ScriptedSource("primary", fail_on={"DataRequest-1"}), ScriptedSource("backup")])
    with captured_log() as records:
        Router(chain, workers=2).run(request_ids(3))
    assert logger.handlers == handlers and logger.level == level
    assert any(r.threadName.startswith("ella-worker-") and "failed" in r.getMessage() for r in records)
    failed = [r for r in records if r.exc_info]
    print_records(records, "[%(threadName)s] %(message)s")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(records) and lines[0].startswith("[MainThread] run:")
    assert "Traceback" not in "\n".join(lines)
    assert all(r.exc_info for r in failed)  # the caller's records keep their tracebacks
    assert np.all(np.diff([r.created for r in sorted(records, key=lambda r: r.created)]) >= 0)


def test_answered_is_seeded_and_backups_that_fail_together_add_nothing():
    alone = answered(requests=400, chain=1, failure_rate=0.5, seed=1)
    assert alone == answered(requests=400, chain=1, failure_rate=0.5, seed=1)
    shared = answered(requests=400, chain=1, failure_rate=0.5, seed=1, correlated=True)
    assert answered(requests=400, chain=3, failure_rate=0.5, seed=1, correlated=True) == shared
    assert answered(requests=400, chain=3, failure_rate=0.5, seed=1) > alone + 0.2
    with pytest.raises(ValueError, match="requests"):
        answered(requests=0)


def test_plot_answered_draws_bars_and_model_ticks():
    table = pd.DataFrame(
        {
            "independent": [0.7, 0.9],
            "together": [0.7, 0.7],
            "model independent 1 − pᵏ": [0.7, 0.91],
            "model together 1 − p": [0.7, 0.7],
        },
        index=[1, 2],
    )
    ax = plot_answered(table)
    assert len(ax.patches) == 4 and len(ax.lines) == 2 and ax.get_xlabel() and ax.get_ylabel()
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "model (black ticks): independent 1 − pᵏ, together 1 − p" and len(labels) == 3


@pytest.fixture
def judged(monkeypatch):
    """``measure`` replaced by one run whose claims are kept, not judged: what a study claims, without a clock."""
    kept = {}

    def measure(run, claims, **kwargs):
        result = run()
        kept["claims"] = list(claims(result))
        return result

    monkeypatch.setattr(studies, "measure", measure)
    return kept


def test_fallback_study_claims_each_time_from_its_model_with_one_wake_up_per_sleep(judged):
    cost, runs = fallback_study((0.0, 0.6), latency=0.001, requests=40)
    assert list(cost.index) == [0.0, 0.6] and set(runs) == {0.0, 0.6}
    claims = {c.says: c for c in judged["claims"]}
    assert len(claims) == 4  # p50 and p99 for each p
    one, two = claims["p = 0: the p99 is the model's 1.00 ms"], claims["p = 0.6: the p99 is the model's 2.00 ms"]
    assert (one.late, two.late) == (1, 2)  # one sleep of L, or two when the primary failed
    assert two.low == pytest.approx(0.002 - TIMER_SLACK) and two.high == pytest.approx(1.4 * 0.002)


def test_timeout_study_with_claims_allows_two_wake_ups(judged):
    primary = SimulatedSource("primary", latency=0.001, tail_rate=0.2, tail_factor=5, seed=1)
    timeout_study(primary, {"none": None}, backup_latency=0.001, requests=10, best_of=1, claims=["p99", "mean"])
    assert [c.late for c in judged["claims"]] == [2, 2]
    assert [c.says.split(":")[1].split()[1] for c in judged["claims"]] == ["p99", "mean"]
    with pytest.raises(TypeError, match="claims"):
        timeout_study(primary, {"none": None}, backup_latency=0.001, claims="p99")


def test_queue_claims_hold_at_the_model_and_miss_under_it():
    model = pd.DataFrame({"model_wait_s": [0.0, 0.0, 0.01, 0.01]})
    at_model = model.assign(wait_s=model.model_wait_s + 1e-4, service_s=0.0101)
    assert all(c.holds() for c in queue_claims(at_model, 0.01))
    early = at_model.assign(wait_s=[0.0, 0.0, 0.0, 0.0])  # requests 2 and 3 started before a round of L had ended
    assert [c.holds() for c in queue_claims(early, 0.01)] == [False, True, False]
    assert queue_claims(at_model, 0.01)[0].late == 1  # a mean wait of 5 ms lies within one round of L


def test_queue_profile_checked_judges_the_queue_claims(judged):
    frame = queue_profile(2, 0.001, 4, best_of=1, checked=True)
    assert len(frame) == 4 and all(isinstance(c, Claim) for c in judged["claims"]) and len(judged["claims"]) == 3
    whatif_latency({"a": (2, 0.001)}, 4, best_of=1, checked=True)
    assert [c.late for c in judged["claims"]] == [2]  # 4 requests on 2 workers: two rounds of L


def test_efficiency_spread_shows_lowest_median_highest_per_peer():
    runs = pd.DataFrame(
        {"peer": ["Router.run"] * 3, "workers": [4] * 3, "run": [0, 1, 2], "wall_s": 1.0, "efficiency": [0.7, 0.9, 0.8]}
    )
    spread = efficiency_spread(runs)
    assert spread.loc[4, ("Router.run", "lowest")] == 0.7 and spread.loc[4, ("Router.run", "highest")] == 0.9
    assert spread.loc[4, ("Router.run", "spread")] == pytest.approx(0.2)


def test_print_records_counts_milliseconds_from_the_first_record(capsys):
    first = logging.makeLogRecord({"msg": "a", "created": 100.0, "relativeCreated": 8803.0})
    second = logging.makeLogRecord({"msg": "b", "created": 100.005, "relativeCreated": 8808.0})
    print_records([second, first], "%(relativeCreated).1f ms %(message)s")
    assert capsys.readouterr().out.splitlines() == ["0.0 ms a", "5.0 ms b"]


def test_fallback_figures_tell_lines_apart():
    runs = fallback_runs((0.0, 0.05, 0.2, 0.6), latency=0.0, requests=20, best_of=1)
    ax = plot_service_cdf(runs, latency=0.01)
    assert len({line.get_linestyle() for line in ax.get_lines()}) == 4
    assert ax.get_xlim() == (0, 30)  # ms: the step at 2 L in view, a rare hiccup off the edge
    closer = plot_service_cdf(runs, latency=0.01, span=(0.8, 2.5))
    assert closer.get_xlim() == pytest.approx((8, 25)) and "0.8 L to 2.5 L" in closer.get_xlabel()
    with pytest.raises(ValueError, match="span"):
        plot_service_cdf(runs, latency=0.01, span=(2, 1))
    df = pd.DataFrame({"chain": [1, 2], "failure_rate": [0.5, 0.5], "success_rate": [0.5, 0.75]})
    lines = plot_chain_success(df).get_lines()
    labels = [line.get_label() for line in lines]
    assert "model $1 - p^{1}$" in labels and "model $1 - p^{2}$" in labels
    measured = [line for line in lines if not str(line.get_label()).startswith("model")]
    models = [line for line in lines if str(line.get_label()).startswith("model")]
    assert len({line.get_marker() for line in measured}) == len(measured) == 2  # each k its own marker
    assert len({str(line.get_linestyle()) for line in models}) == len(models) == 2  # and its own dash


# -- notebook 06: what map gives before its first exception; the retry waits' figure ----------------------


def test_map_until_failure_stops_at_the_first_exception_in_request_order():
    source = ScriptedSource("source", fail_on={"DataRequest-4"})
    run = map_until_failure(source, request_ids(10), workers=3)
    assert run.answers == [f"Result from source for DataRequest-{i}" for i in range(4)]
    assert isinstance(run.raised, ConnectionError) and "DataRequest-4" in str(run.raised)
    assert run.raised_at is not None and run.raised_at >= 0
    assert {f"DataRequest-{i}" for i in range(5)} <= set(run.started)  # the first five were started, at least


def test_map_until_failure_without_a_failure_keeps_every_answer():
    run = map_until_failure(ScriptedSource("source"), request_ids(4), workers=2)
    assert len(run.answers) == 4 and run.raised is None and run.raised_at is None


def test_map_until_failure_refuses_bad_input():
    with pytest.raises(ValueError, match="workers"):
        map_until_failure(ScriptedSource("source"), request_ids(2), workers=0)
    with pytest.raises(ValueError, match="latency"):
        map_until_failure(ScriptedSource("source"), request_ids(2), workers=2, checked=True)


def test_map_claims_hold_on_the_model_timeline_and_miss_off_it():
    on_time = MapRun(answers=[1, 2, 3, 4], started={"DataRequest-5": 0.05}, raised=ConnectionError(), raised_at=0.1)
    assert [c.holds() for c in map_claims(on_time, 0.05)] == [True, True, True]
    late = MapRun(answers=[], started={}, raised=None, raised_at=None)  # request 5 never started, map never raised
    assert [c.holds() for c in map_claims(late, 0.05)] == [False, False, True]
    slow = MapRun(answers=[], started={"DataRequest-5": 0.12}, raised=ConnectionError(), raised_at=0.16)
    assert [c.holds() for c in map_claims(slow, 0.05)] == [False, False, True]
    nine = {"DataRequest-5": 0.05, "DataRequest-9": 0.15}  # map raised too late: request 9 had started
    assert [c.holds() for c in map_claims(MapRun(started=nine, raised_at=0.16), 0.05)] == [True, False, False]


def test_plot_retry_waits_makes_every_series_legible():
    from ella_lab import Retry

    policies = {m: Retry(attempts=4, base=0.01, cap=0.05, jitter=m, seed=1) for m in ("none", "equal", "full")}
    ax = plot_retry_waits(policies, keys=20, cap_ms=50)
    none = next(line for line in ax.get_lines() if line.get_label().startswith("none"))
    assert none.get_marker() == "o" and none.get_alpha() == 1  # the coinciding dots drawn as one ring each
    for line in ax.get_lines():  # the jittered dots of one retry spread across a strip, not one vertical line
        if line.get_label() in ("equal", "full"):
            xs = np.asarray(line.get_xdata())
            assert len(set(xs.round(6))) > 10 and np.ptp(xs - np.round(xs)) <= 0.2 + 0.14
    legend = ax.get_legend()
    assert all(h.get_alpha() in (None, 1) for h in legend.legend_handles)
    assert ax.get_ylim()[1] == pytest.approx(60)
    # the cap's label sits inside the axes, placed in axes fraction whatever the retries' axis starts at
    (label,) = [t for t in ax.texts if t.get_text() == "cap 50 ms"]
    ax.figure.canvas.draw()
    inside = ax.transAxes.inverted().transform(label.get_window_extent().get_points())
    assert (inside[:, 0] >= 0).all() and (inside[:, 0] <= 1).all()


def test_retry_schedule_means_sit_on_their_models():
    from ella_lab import Retry
    from ella_lab.studies import retry_schedule

    policies = {m: Retry(attempts=4, base=0.01, cap=0.03, jitter=m, seed=1) for m in ("none", "equal", "full")}
    table = retry_schedule(policies, keys=2000)
    assert list(table.index) == [1, 2, 3]
    assert table.loc[3, ("model (ms)", "none")] == pytest.approx(30)  # the cap: 10, 20, then 30 not 40
    assert table.loc[1, ("model (ms)", "full")] == pytest.approx(5)  # full jitter: half the ceiling
    assert table.loc[:, ("mean wait (ms)", "none")].tolist() == pytest.approx([10, 20, 30])
    ratio = table["mean wait (ms)"] / table["model (ms)"]
    assert ((ratio - 1).abs() < 0.05).all().all()  # seeded draws near their model


def test_retry_waves_peak_and_plot():
    from ella_lab.studies import busiest_window, plot_retry_waves, retry_waves

    times = retry_waves(("none", "full"), clients=50, attempts=3, base=0.05, seed=2)
    assert {m: len(t) for m, t in times.items()} == {"none": 100, "full": 100}  # 2 retries per client
    assert set(times["none"].round(6)) == {0.05, 0.15}  # without jitter every client retries at the same instants
    bins = np.linspace(0, 0.2, 21)
    peak = busiest_window(times, bins)
    assert peak["none"] == 50 and peak["full"] < 50
    fig = plot_retry_waves(times, bins)
    assert [ax.get_title() for ax in fig.axes] == ['jitter="none"', 'jitter="full"']
    assert fig.axes[0].get_ylabel() == "retries in a 10 ms window"
