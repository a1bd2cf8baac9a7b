"""Figures of notebooks 07, 08 and 10: ticks only inside the plotted range, the measured runs ringed on the
recovery map, and the simulation drawn on every overload panel, under the measured lines."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from ella_lab.plots import plot_overload, plot_recovery_map, ticks_at
from ella_lab.sim import simulate


def test_ticks_within_label_only_the_values_inside_the_range_and_keep_it():
    fig, ax = plt.subplots()
    ax.plot([8, 64], [533, 6400])
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ticks_at(ax, [250, 500, 1000, 2000, 4000, 8000], axis="y", within=True)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.yaxis.get_ticklabels() if t.get_text()] == ["500", "1000", "2000", "4000"]
    assert ax.get_ylim() == pytest.approx((low, high))  # 250 and 8000 did not stretch the axis
    plt.close(fig)


def test_the_recovery_map_rings_the_marked_cell_on_every_panel():
    loads, triggers = [0.5, 0.7], [0.0, 2.0]
    grid = pd.DataFrame([[True, True], [True, False]], index=loads, columns=triggers)
    fig = plot_recovery_map({"none": grid, "budget": grid | True}, mark=(0.7, 2.0), mark_label="the real runs")
    for ax in fig.axes:
        rings = [line for line in ax.lines if line.get_marker() == "s"]
        assert len(rings) == 1 and list(rings[0].get_xdata()) == [1] and list(rings[0].get_ydata()) == [1]
    assert "the real runs" in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)
    with pytest.raises(ValueError, match=r"mark must be .*\(0\.8, 2\.0\)"):
        plot_recovery_map({"none": grid}, mark=(0.8, 2.0))


def test_the_overload_figure_draws_the_model_on_every_panel_under_the_measured_lines():
    measured, model = simulate(control="none", duration=4.0), simulate(control="none", duration=4.0, seed=2)
    fig = plot_overload({"measured": measured}, rate=140, models={"simulation": model})
    for ax in fig.axes:
        lines = {line.get_label(): line for line in ax.lines}
        assert {"measured", "simulation"} <= set(lines)
        assert lines["simulation"].get_zorder() < lines["measured"].get_zorder()
        assert lines["simulation"].get_linewidth() > lines["measured"].get_linewidth()  # seen around it
        assert ax.get_ylabel()
        assert ax.get_ylim()[0] == 0  # tries sent too, which never come near 0 on their own
    assert "offered load (140/s)" in [t.get_text() for t in fig.legends[0].get_texts()]
    fig.canvas.draw()  # the legend sits below every panel, hiding none of their lines
    legend_top = fig.legends[0].get_window_extent().y1
    assert all(ax.get_tightbbox().y0 > legend_top for ax in fig.axes)  # labels and ticks included
    plt.close(fig)


def test_the_overload_figure_tells_its_runs_apart_by_their_dashes_too():
    runs = {c: simulate(control=c, duration=4.0) for c in ["none", "budget", "throttle", "limit", "drop_expired"]}
    fig = plot_overload(runs, rate=140)
    for ax in fig.axes:
        dashes = [(line.get_linestyle(), str(line._dash_pattern)) for line in ax.lines if line.get_label() in runs]
        assert len(dashes) == 5 and len(set(dashes)) == 5
    plt.close(fig)


def test_the_recovery_map_labels_every_panel_with_the_given_xlabel():
    grid = pd.DataFrame([[True, True], [True, False]], index=[0.5, 0.7], columns=[0.0, 2.0])
    fig = plot_recovery_map({"none": grid, "budget": grid | True})
    assert [ax.get_xlabel() for ax in fig.axes] == ["trigger (s)"] * 2  # the default, unchanged
    plt.close(fig)
    fig = plot_recovery_map({"none": grid, "budget": grid | True}, xlabel="trigger (s), not to scale")
    assert [ax.get_xlabel() for ax in fig.axes] == ["trigger (s), not to scale"] * 2
    plt.close(fig)


def test_the_overload_figure_and_the_cures_figure_draw_measured_and_simulated_alike():
    # one convention in notebook 10's two figures (review 10: the measured run was blue over a grey band in one,
    # black over a blue band in the other): the measured run a thin black line, the simulation a wide blue band
    from matplotlib.colors import to_rgba

    from ella_lab.metastable import plot_cures

    measured, model = simulate(control="budget", duration=4.0, seed=2), simulate(control="budget", duration=4.0)
    overload = plot_overload({"measured": measured}, rate=140, models={"simulation": model})
    cures = plot_cures({"budget": measured}, {"budget": model}, rate=140)
    for fig in (overload, cures):
        ax = fig.axes[0]
        band, line = ax.lines[:2]  # the simulation first, under the measured line
        assert to_rgba(line.get_color()) == to_rgba("black")
        assert to_rgba(band.get_color())[:3] == to_rgba("tab:blue")[:3]
        assert band.get_linewidth() > line.get_linewidth() and band.get_alpha() < 1
    plt.close(overload)
    plt.close(cures)
