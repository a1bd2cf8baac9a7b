"""Notebook 03's efficiency figure: three series told apart without colour, labelled K ticks, bad input refused."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from ella_lab.bend import plot_efficiency

KS = [1, 4, 16, 64, 256]


def test_the_three_series_and_the_ticks():
    ax = plot_efficiency(KS, [0.98, 0.97, 0.95, 0.9, 0.7], [0.98, 0.97, 0.94, 0.88, 0.72], 0.98)
    ax.figure.canvas.draw()
    measured, model, flat = ax.get_lines()
    assert list(measured.get_ydata()) == pytest.approx([98, 97, 95, 90, 70])
    assert list(model.get_ydata()) == pytest.approx([98, 97, 94, 88, 72])
    assert list(flat.get_ydata()) == pytest.approx([98, 98])
    styles = {(line.get_marker(), line.get_linestyle()) for line in (measured, model, flat)}
    assert len(styles) == 3  # readable in grey too: marker and dash differ, not only the colour
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == [str(k) for k in KS]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "measured", "model: 16·L / (T₁ + K·s)", "model with s = 0"]
    plt.close(ax.figure)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((KS, [0.9] * 4, [0.9] * 5, 0.9), {}, ValueError, "measured must hold one value per worker count"),
        ((KS, [0.9] * 5, [0.9] * 6, 0.9), {}, ValueError, "model must hold one value"),
        (([], [], [], 0.9), {}, ValueError, "workers must hold at least one value"),
        ((KS, "fast", [0.9] * 5, 0.9), {}, TypeError, "measured must be a sequence of numbers"),
        ((KS, [0.9] * 5, [0.9] * 5, "0.9"), {}, TypeError, "flat must be a number"),
        ((KS, [0.9] * 5, [0.9] * 5, 0.9), {"rounds": 0}, ValueError, "rounds must be >= 1"),
    ],
)
def test_bad_input_names_the_parameter(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        plot_efficiency(*args, **kwargs)
    plt.close("all")


def test_the_y_axis_fits_the_data_so_a_gap_of_a_few_points_shows():
    # with a fixed 0..105 %, a sweep between 87 and 99 % was a flat band at the top
    ax = plot_efficiency(KS, [0.99, 0.98, 0.96, 0.93, 0.87], [0.99, 0.98, 0.96, 0.92, 0.88], 0.99)
    assert ax.get_ylim() == pytest.approx((82, 101))
    plt.close(ax.figure)


def _table(walls, cpu_per_request=40e-6):
    import pandas as pd

    from ella_lab.bend import best_runs

    ks = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    runs = pd.DataFrame({"workers": ks * 2, "requests": [16 * k for k in ks] * 2,
                         "wall_s": walls + [w + 0.01 for w in walls]})  # fmt: skip
    runs["throughput_rps"] = runs.requests / runs.wall_s
    runs["model_rps"] = runs.workers / 0.01
    runs["cpu_s"] = [16 * k * cpu_per_request for k in ks] + [0.0] * 9  # the slower runs: less CPU, not kept
    return best_runs(runs)


def test_best_runs_keeps_the_fastest_run_of_each_k_its_efficiency_and_its_cpu():
    table = _table([0.16 + k * 0.0002 for k in [1, 2, 4, 8, 16, 32, 64, 128, 256]])
    assert len(table) == 9 and table.wall_s.iloc[0] == pytest.approx(0.1602)
    assert table.efficiency.iloc[0] == pytest.approx(0.16 / 0.1602)
    # the fastest run's CPU, not the least CPU of any run: 4096 requests x 40 µs in 0.2112 s
    assert table.cpu_s.iloc[-1] == pytest.approx(4096 * 40e-6)
    assert table.cpu_per_wall.iloc[-1] == pytest.approx(4096 * 40e-6 / 0.2112)


def test_best_runs_needs_the_cpu_column():
    import pandas as pd

    from ella_lab.bend import best_runs

    runs = pd.DataFrame({"workers": [1], "requests": [16], "wall_s": [0.16], "throughput_rps": [100.0],
                         "model_rps": [100.0]})  # fmt: skip
    with pytest.raises(ValueError, match=r"missing \['cpu_s'\]"):
        best_runs(runs)


def test_the_fit_uses_only_the_small_k_and_describes_the_large_ones():
    from ella_lab.bend import fit_thread_cost, sweep_claims

    ks = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    on_the_line = _table([0.16 + k * 0.0002 for k in ks])
    base, s = fit_thread_cost(on_the_line.workers, on_the_line.wall_s)
    assert base == pytest.approx(0.1602) and s == pytest.approx(0.0002, rel=0.05)
    assert all(claim.holds() for claim in sweep_claims(on_the_line))
    # flat up to 64, then a jump the fit cannot foresee: the descriptive fit's claim misses
    jump = _table([0.16] * 7 + [0.19, 0.22])
    fitted = next(c for c in sweep_claims(jump) if "a descriptive fit" in c.says)
    assert not fitted.holds() and fitted.measured == pytest.approx(0.22 / 0.16 - 1)
    assert not any("predict" in c.says for c in sweep_claims(jump))  # review 03g A2: s = 0 passes the 25 % test too
    bent_claim = next(c for c in sweep_claims(jump) if "s = 0 is too fast there" in c.says)
    assert bent_claim.holds() and bent_claim.measured == pytest.approx(0.22 / 0.16)
    flat = {c.says: c for c in sweep_claims(_table([0.16] * 9))}  # no bend at all: s = 0 would be right
    assert [says for says, c in flat.items() if not c.holds()] == [
        "256 threads keep a smaller share of the model than any K up to 64 (at most 99 % of the worst)",
        "at K = 256 the run takes at least 5% longer than T₁ (s = 0 is too fast there)",
    ]
    bent = fit_thread_cost(jump.workers, jump.wall_s)
    assert bent[1] == 0  # fitted on K <= 64 alone: the points beyond do not pull s up
    with pytest.raises(ValueError, match="wall_s"):
        fit_thread_cost([1, 2], [0.1])


def test_start_cost():
    from ella_lab.bend import start_cost

    c = start_cost(8)
    assert 0 < c < 0.1
    with pytest.raises(ValueError, match="k"):
        start_cost(0)


def test_start_cost_is_the_fastest_start_timed_alone_not_a_rounds_average(monkeypatch):
    from ella_lab import bend

    clock = {"now": 0.0, "starts": 0}

    class SlowEveryFourth:  # a virtual clock: each start takes 10 µs, every fourth 1 ms (a busy moment)
        def __init__(self, target):
            pass

        def start(self):
            clock["starts"] += 1
            clock["now"] += 1e-3 if clock["starts"] % 4 == 0 else 10e-6

        def join(self, timeout=None):
            pass

    monkeypatch.setattr(bend, "threading", SimpleNamespace(Thread=SlowEveryFourth))
    monkeypatch.setattr(bend, "time", SimpleNamespace(perf_counter=lambda: clock["now"]))
    assert bend.start_cost(8) == pytest.approx(10e-6)  # a round's average would be 257.5 µs
    assert clock["starts"] == 24


def test_cpu_claims_few_threads_wait_many_keep_a_core_busy():
    from ella_lab.bend import cpu_claims, sweep_claims

    walls = [0.16 + k * 0.0002 for k in [1, 2, 4, 8, 16, 32, 64, 128, 256]]
    seen = _table(walls)  # 40 µs a request, as this machine's sweep: K = 8 at 0.03 of a core, K = 256 at 0.78
    assert [c.holds() for c in cpu_claims(seen)] == [True, True]
    # 1.2 µs a request (a source that never sleeps, the old measure): K = 256 at 0.02 of a core
    assert [c.holds() for c in cpu_claims(_table(walls, cpu_per_request=1.2e-6))] == [True, False]
    # 400 µs a request: already K = 8 keeps 0.31 of a core busy
    assert [c.holds() for c in cpu_claims(_table(walls, cpu_per_request=400e-6))] == [False, True]
    assert [c.says for c in sweep_claims(seen)][-2:] == [c.says for c in cpu_claims(seen)]  # checked with the sweep


def test_start_up_claims():
    from ella_lab.bend import start_up_claim

    assert start_up_claim(40e-6, 100e-6).holds() and start_up_claim(40e-6, 20e-6).holds()  # c/2 = 20 µs <= s
    assert not start_up_claim(40e-6, 10e-6).holds()
