import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from ella_lab import FallbackChain, Retry, Router, SimulatedSource
from ella_lab.experiments import make_source, request_ids, run_once, sweep
from ella_lab.plots import plot_backoff, plot_latency_cdf, plot_success, plot_throughput, plot_timeline


def test_request_ids():
    assert request_ids(3) == ["DataRequest-0", "DataRequest-1", "DataRequest-2"]


def test_make_source_shapes():
    assert isinstance(make_source(1), SimulatedSource)
    chain = make_source(3, failure_rate=0.2)
    assert isinstance(chain, FallbackChain) and [s.name for s in chain.sources] == ["primary", "backup-1", "backup-2"]
    assert isinstance(make_source(1, retry=Retry()), FallbackChain)


def test_correlated_sources_fail_together():
    independent = run_once(workers=4, requests=400, chain=2, latency=0, failure_rate=0.5, seed=1)
    correlated = run_once(workers=4, requests=400, chain=2, latency=0, failure_rate=0.5, seed=1, correlated=True)
    assert independent.summary()["succeeded"] > 250  # about 1 - 0.5**2 = 75 %
    assert 150 < correlated.summary()["succeeded"] < 250  # about 1 - 0.5 = 50 %: the backup fails with the primary


def test_sweep_is_tidy_and_seeded():
    df = sweep(workers=[1, 2], failure_rate=[0.0, 0.5], chain=[1, 2], requests=50, latency=0, progress=False)
    assert len(df) == 8
    assert {"workers", "failure_rate", "chain", "throughput_rps", "model_rps", "success_rate", "model_success"} <= set(
        df
    )
    again = sweep(workers=[1, 2], failure_rate=[0.0, 0.5], chain=[1, 2], requests=50, latency=0, progress=False)
    assert list(df.success_rate) == list(again.success_rate)
    assert (df[df.failure_rate == 0].success_rate == 1).all()
    assert (df.cpu_s > 0).all()  # this process's CPU time during each run (notebook 03's CPU ÷ wall)


def test_sweep_bad_repeats():
    with pytest.raises(ValueError, match="repeats must be >= 1, got 0"):
        sweep(repeats=0, progress=False)


def test_plots_draw_labelled_axes():
    df = sweep(workers=[1, 2, 4], failure_rate=[0.0, 0.3], chain=[1, 2], requests=30, latency=0.001, progress=False)
    report = run_once(workers=3, requests=12, latency=0.001, chain=2, failure_rate=0.3)
    for ax in (
        plot_throughput(df),
        plot_success(df),
        plot_latency_cdf({"a": report, "b": report}),
        plot_latency_cdf(report),
        plot_timeline(report, title="t"),
        plot_backoff({"none": Retry(jitter="none"), "full": Retry()}, keys=20),
    ):
        assert ax.get_xlabel() and ax.get_ylabel()
        assert ax.has_data()
    assert len(plot_timeline(report).patches) == 12
    plt.close("all")


def test_a_timeline_tells_its_kinds_apart_without_colour():
    from ella_lab.sources import ScriptedSource

    chain = FallbackChain([ScriptedSource("a", fail_on={"r-1", "r-2"}), ScriptedSource("b", fail_on={"r-2"})])
    report = Router(chain, workers=2).run(["r-0", "r-1", "r-2"])
    ax = plot_timeline(report)
    hatches = {o.request: bar.get_hatch() or "" for o, bar in zip(report, ax.patches, strict=True)}
    assert hatches == {"r-0": "", "r-1": "//", "r-2": "xx"}  # ok, fell back, failed: not by colour alone
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["answered", "answered by a backup", "failed"]
    assert plot_timeline(Router(str, workers=1).run(["x"])).get_legend() is None  # one kind: no legend
    plt.close("all")


def test_sweep_requests_per_worker():
    df = sweep(workers=[1, 3], requests_per_worker=4, latency=0, progress=False)
    assert list(df.requests) == [4, 12]


def test_selfcheck_outside_a_kernel():
    from ella_lab.selfcheck import run_checks

    checks = run_checks(kernel=False)
    assert all(c.ok for c in checks), checks
    assert not run_checks()[-1].ok  # pytest is not a Jupyter kernel


def test_widget_drawers_and_explorers(capsys):
    from ella_lab.widgets import draw_fallback, draw_timeline, fallback_explorer, timeline_explorer

    draw_timeline(3, 1, 7)
    draw_fallback(0.5, 2, 200)
    out = capsys.readouterr().out
    assert "predicted ⌈N/K⌉·L = 3.00 ms" in out and "model 1 − pᵏ = 75.0%" in out
    assert timeline_explorer() is not None and fallback_explorer() is not None
    plt.close("all")


def test_latency_cdf_metrics():
    report = run_once(workers=2, requests=10, latency=0.001)
    assert plot_latency_cdf(report, metric="service_time").get_xlabel() == "service time (ms)"
    with pytest.raises(ValueError, match="metric must be one of"):
        plot_latency_cdf(report, metric="speed")
    plt.close("all")


def test_sweep_accepts_single_values():
    df = sweep(workers=2, failure_rate=0.5, chain=[1, 2], requests=10, latency=0, progress=False)
    assert list(df.workers) == [2, 2] and list(df.chain) == [1, 2]
    with pytest.raises(TypeError, match="expected a number or a list"):
        sweep(workers="4", progress=False)


def test_paced_submits_at_a_steady_rate():
    from ella_lab import Router
    from ella_lab.experiments import paced

    report = paced(Router(SimulatedSource("s", latency=0.001), workers=4), request_ids(50), rate=500)
    assert [o.request for o in report] == request_ids(50) and all(o.ok for o in report)
    queued = [o.queued_at - report.started_at for o in report]
    assert queued[-1] >= 49 / 500 * 0.95  # spread over 0.1 s, not all at once
    with pytest.raises(ValueError, match="rate must be > 0"):
        paced(Router(str), [1], rate=0)
