"""Notebook 02's figure (selfcheck.plot_noise) and the self-check's package rows."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from ella_lab.claims import Noise
from ella_lab.selfcheck import PACKAGES, QUIET_CPU_SHARE, QUIET_WAKE_LATE_S, plot_noise, run_checks


def noise(p50=8.4e-5, p90=9.0e-5, share=0.982):
    return Noise(4e-8, p50, p90, 2, 4.3, share)


def test_the_figure_draws_the_calibration_beside_the_quiet_limits():
    fig = plot_noise(noise())
    wake, share = fig.axes
    assert [round(b.get_width(), 4) for b in wake.patches] == [0.084, 0.09]  # milliseconds, median then 9 in 10
    # labelled in the axis' unit (was 84.0 µs and 90.0 µs on an axis in milliseconds)
    assert [t.get_text() for t in wake.texts if t.get_text()[0].isdigit()] == ["0.0840 ms", "0.0900 ms"]
    assert wake.lines[0].get_xdata()[0] == QUIET_WAKE_LATE_S * 1e3
    assert wake.get_xlim()[1] > QUIET_WAKE_LATE_S * 1e3  # the limit is inside the axis
    assert share.lines[0].get_ydata()[0] == QUIET_CPU_SHARE * 100
    assert math.isclose(share.lines[1].get_ydata()[0], 98.2)  # the share, a point
    # one precision for the share and its margin, the table's (was "98%" beside "18.2 points", review 02c)
    assert [t.get_text() for t in share.get_xticklabels()] == ["busy loop: 98.2%\n18.2 points over the limit"]
    (top,) = wake.child_axes  # the limits are named outside the plotting area, on ticks of their own
    (right,) = share.child_axes
    assert [t.get_text() for t in top.get_xticklabels()] == [f"quiet: under {QUIET_WAKE_LATE_S * 1e3:g} ms"]
    assert [t.get_text() for t in right.get_yticklabels()] == [f"quiet:\nover {QUIET_CPU_SHARE:.0%}"]
    plt.close(fig)


@pytest.mark.parametrize(("cpu_share", "margin"), [(0.792, "0.8 points under"), (0.42, "38.0 points under")])
def test_the_share_axis_is_zoomed_so_a_share_near_the_line_is_told_from_it(cpu_share, margin):
    fig = plot_noise(noise(share=cpu_share))
    _, share = fig.axes
    bottom, top = share.get_ylim()
    assert bottom <= cpu_share * 100 - 5 and top == 105  # the point stands clear of the axis' ends ...
    assert top - bottom <= 75 if cpu_share > 0.6 else bottom < 40  # ... zoomed to 60-105 % unless it lies lower
    assert any(margin in t.get_text() for t in share.get_xticklabels())
    renderer = fig.canvas.get_renderer()
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    assert all(box.x0 >= 0 and box.x1 <= fig.bbox.width for box in titles)  # the titles lie inside the figure
    plt.close(fig)


def test_the_bars_read_top_down_and_a_lateness_next_to_the_limit_is_told_from_it():
    # review 02c: "median" was drawn at the bottom, under "9 times in 10"; a p90 of 1.996 ms read "2.00 ms" beside
    # a dashed 2 ms limit while the verdict said quiet
    fig = plot_noise(noise(p50=1.2e-4, p90=1.996e-3))
    wake, _ = fig.axes
    renderer = fig.canvas.get_renderer()
    labels = {t.get_text(): t.get_window_extent(renderer).y0 for t in wake.get_yticklabels()}
    assert labels["median"] > labels["9 times in 10"]  # higher on the page
    assert "1.9960 ms" in [t.get_text() for t in wake.texts] and "2.00 ms" not in [t.get_text() for t in wake.texts]
    plt.close(fig)


def test_a_sleeper_that_never_woke_is_drawn_and_named():
    fig = plot_noise(noise(p50=1.2e-3, p90=math.inf, share=0.45))
    wake, _ = fig.axes
    widths = [b.get_width() for b in wake.patches]
    assert math.isclose(widths[0], 1.2) and math.isfinite(widths[1]) and widths[1] > QUIET_WAKE_LATE_S * 1e3
    assert "never woke" in [t.get_text() for t in wake.texts]
    plt.close(fig)


def test_the_figure_refuses_what_is_no_calibration():
    with pytest.raises(TypeError, match="noise must be a Noise"):
        plot_noise({"wake_late_p90_s": 1e-4})


def test_the_self_check_imports_what_notebook_08_needs():
    assert {"numpy", "dask", "distributed", "psutil"} <= set(PACKAGES)
    names = [c.name for c in run_checks(kernel=False)]
    assert [n for n in names if n.startswith("import ")] == [f"import {p}" for p in PACKAGES]


def test_a_calibration_whose_sleeper_never_woke_at_all_is_drawn():
    # review 02 (A2): both percentiles infinite (what _wake_lateness returns when the sleeper never woke within
    # 5 s, on an overloaded machine) raised TypeError in max(*[], limit): 'float' object is not iterable
    fig = plot_noise(noise(p50=math.inf, p90=math.inf, share=0.2))
    wake, _ = fig.axes
    assert [t.get_text() for t in wake.texts].count("never woke") == 2
    assert all(math.isfinite(b.get_width()) and b.get_width() > QUIET_WAKE_LATE_S * 1e3 for b in wake.patches)
    plt.close(fig)


def words_and_marks(fig):
    """Every label of the figure (texts, titles, axis labels, tick labels, the secondary axes' ticks) and the
    marks they must stay off (bars, dashed limits, the point), as window boxes after drawing."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    words, marks = [], []
    for ax in fig.axes:
        for axes in (ax, *ax.child_axes):
            texts = [*axes.texts, axes.title, axes.xaxis.label, axes.yaxis.label]
            for axis, along in ((axes.xaxis, 0), (axes.yaxis, 1)):  # the ticks drawn: those within the view
                low, high = sorted(axis.get_view_interval())
                texts += [t for t in axis.get_ticklabels() if low <= t.get_position()[along] <= high]
            words += [(t, t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text().strip()]
        marks += [(b, b.get_window_extent(renderer)) for b in ax.patches]
        marks += [(line, line.get_window_extent(renderer).padded(1)) for line in ax.lines]  # dashed limits, the point
    return words, marks


def overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


NEAR_THE_LIMITS = {  # the three cases review 02 saw collide, then the extremes
    "p90 1.9 ms": noise(p50=1.2e-4, p90=1.9e-3),  # its label lay on the dashed 2 ms line
    "busy, p90 12 ms": noise(p50=1.0e-3, p90=1.2e-2, share=0.6),  # "quiet: under 2 ms" touched the top bar
    "share 80.5 %": noise(share=0.805),  # "quiet: over 80%" touched the point
    "p50 1.95 ms, p90 2.05 ms": noise(p50=1.95e-3, p90=2.05e-3, share=0.83),
    "p90 100 ms": noise(p50=5e-3, p90=0.1, share=0.79),
    "never woke": noise(p50=math.inf, p90=math.inf, share=0.2),
}


@pytest.mark.parametrize("case", NEAR_THE_LIMITS, ids=list(NEAR_THE_LIMITS))
def test_no_label_collides_near_the_limits(case, tmp_path):
    fig = plot_noise(NEAR_THE_LIMITS[case])
    fig.savefig(tmp_path / "noise.png")  # rendered as the notebook shows it
    words, marks = words_and_marks(fig)
    page = fig.bbox
    for i, (text, box) in enumerate(words):
        shown = repr(text.get_text())
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, shown
        for other, other_box in words[i + 1 :]:
            assert not overlap(box, other_box), (shown, other.get_text())
        inside_its_bar = text.get_color() == "white"  # "never woke", written inside its bar by design
        for mark, mark_box in marks:
            if inside_its_bar and type(mark).__name__ == "Rectangle":
                continue
            assert not overlap(box, mark_box), (shown, mark)
    plt.close(fig)
