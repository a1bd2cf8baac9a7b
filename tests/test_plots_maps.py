"""Figures for notebooks 08 and 10: tick labels that do not overlap, a recovery map readable without colour."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from ella_lab.plots import RECOVERED, STAYED_DOWN, plot_recovery_map, plot_throughput, ticks_at


def visible_labels(axis):
    return [t.get_text() for t in axis.get_ticklabels(minor=False) + axis.get_ticklabels(minor=True) if t.get_text()]


def test_ticks_at_labels_only_the_values_given_on_a_short_log_axis():
    fig, ax = plt.subplots()
    ax.plot([8, 16, 32, 64], [600, 1100, 1600, 2200])
    ax.set_xscale("log")
    ax.set_xticks([8, 16, 32, 64], ["8", "16", "32", "64"])
    fig.canvas.draw()
    assert len(visible_labels(ax.xaxis)) > 4  # matplotlib's own minor labels ("2×10¹", ...) overlap ours
    ticks_at(ax, [8, 16, 32, 64])
    fig.canvas.draw()
    assert visible_labels(ax.xaxis) == ["8", "16", "32", "64"]
    plt.close(fig)
    with pytest.raises(ValueError, match="axis"):
        ticks_at(ax, [1], axis="z")


def test_plot_throughput_labels_the_worker_counts_only():
    df = pd.DataFrame({"workers": [8, 16, 32], "throughput_rps": [700, 1300, 2000], "model_rps": [800, 1600, 3200]})
    ax = plot_throughput(df)
    ax.figure.canvas.draw()
    assert visible_labels(ax.xaxis) == ["8", "16", "32"]
    plt.close(ax.figure)


def test_the_recovery_map_marks_every_cell_in_colour_blind_safe_colours():
    loads, triggers = [0.5, 0.7, 0.9], [0.0, 1.0, 2.0, 4.0]
    down = pd.DataFrame([[True] * 4, [True, True, False, False], [True, False, False, False]],
                        index=loads, columns=triggers)  # fmt: skip
    fig = plot_recovery_map({"none": down, "all": down | True}, title="map")
    panels = fig.axes
    assert [ax.get_title() for ax in panels] == ["none", "all"]
    for ax, grid in zip(panels, [down, down | True], strict=True):
        markers = {line.get_marker(): len(line.get_xdata()) for line in ax.lines}
        assert markers.get("o", 0) == grid.values.sum() and markers.get("x", 0) == (~grid.values).sum()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "4"]
    colours = {to_hex(c).lower() for c in (RECOVERED, STAYED_DOWN)}
    assert not colours & {to_hex("tab:red"), to_hex("tab:green"), "#ff0000", "#008000"}
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one map"):
        plot_recovery_map({})
