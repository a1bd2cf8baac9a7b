"""Notebook 10's figure of the cures (ella_lab.metastable.plot_cures): small multiples, a legend below them."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from ella_lab.metastable import plot_cures
from ella_lab.sim import simulate

CONTROLS = ["budget", "limit"]
ALL = ["budget", "throttle", "limit", "drop_expired"]


def test_one_column_per_control_the_measured_line_over_the_band_and_one_legend_below():
    sim = {c: simulate(control=c, duration=6.0) for c in CONTROLS}
    real = {c: simulate(control=c, duration=6.0, seed=5) for c in CONTROLS}  # any SimResult draws the same way
    fig = plot_cures(real, sim, rate=140, title="t")
    assert len(fig.axes) == 3 * len(CONTROLS) and [ax.get_title() for ax in fig.axes[:2]] == CONTROLS
    goodput = fig.axes[1]  # row 0, the limit's column
    band, line = goodput.lines[:2]
    assert list(band.get_ydata()) == list(sim["limit"].goodput)
    assert list(line.get_ydata()) == list(real["limit"].goodput)
    assert band.get_linewidth() > line.get_linewidth() and band.get_zorder() <= line.get_zorder()
    assert all(ax.get_legend() is None for ax in fig.axes)  # no legend inside a panel hides a curve
    (legend,) = fig.legends
    assert legend.get_texts()[0].get_text() == "measured on loopback (this machine)"
    box = legend.get_window_extent(fig.canvas.get_renderer())
    lowest = min(ax.get_window_extent().y0 for ax in fig.axes)
    assert box.y1 <= lowest  # the legend sits below every panel
    plt.close(fig)


def test_the_two_sets_must_name_the_same_controls():
    sim = {"budget": simulate(control="budget", duration=2.0)}
    with pytest.raises(ValueError, match="same controls"):
        plot_cures(sim, {}, rate=140)


def test_every_row_starts_at_zero():
    # before, the rows' lower limits were matplotlib's margins below the lowest value (seen, fifth review)
    sim = {c: simulate(control=c, duration=6.0) for c in ALL}
    fig = plot_cures(sim, sim, rate=140)
    assert [ax.get_ylim()[0] for ax in fig.axes] == [0.0] * len(fig.axes)
    # and no line is cut at the top (seen: a 0 set column by column cut drop_expired's tries at the first ones' top)
    assert all(ax.get_ylim()[1] >= max(max(line.get_ydata()) for line in ax.lines) for ax in fig.axes)
    plt.close(fig)
