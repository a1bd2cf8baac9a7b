"""Notebook 03's efficiency figure: three series told apart without colour, labelled K ticks, bad input refused."""

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
