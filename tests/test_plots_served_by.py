"""Notebook 05's grid of who served each request: one row per run, colours that read without colour vision."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from ella_lab.plots import SERVED_BY, plot_served_by


def test_one_row_per_run_one_cell_per_request_coloured_by_who_served():
    runs = pd.DataFrame({"seed 0": ["primary", "backup", "failed"], "seed 1": ["backup", "backup", "primary"]})
    ax = plot_served_by(runs, title="who served")
    image = ax.get_images()[0]
    assert image.get_array().shape == (2, 3)
    assert image.get_array().tolist() == [[0, 1, 2], [1, 1, 0]]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["seed 0", "seed 1"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["primary", "backup", "failed"]
    colours = [tuple(image.cmap(image.norm(v))[:3]) for v in (0, 1, 2)]
    assert colours == [to_rgb(c) for c in SERVED_BY.values()]
    assert ax.get_title() == "who served"
    plt.close(ax.figure)


def test_lightness_tells_the_three_apart():
    lightness = [sum(to_rgb(c)) / 3 for c in SERVED_BY.values()]
    assert min(abs(a - b) for i, a in enumerate(lightness) for b in lightness[i + 1 :]) > 0.3


def test_an_unknown_outcome_is_named():
    with pytest.raises(ValueError, match=r"runs must hold only.*'nobody'"):
        plot_served_by(pd.DataFrame({"run": ["primary", "nobody"]}))
