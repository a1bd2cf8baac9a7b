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
    assert any(t.get_text() == "98%:\n18.2 points\nover the line" for t in share.texts)
    plt.close(fig)


@pytest.mark.parametrize(("cpu_share", "margin"), [(0.792, "0.8 points\nunder"), (0.42, "38.0 points\nunder")])
def test_the_share_axis_is_zoomed_so_a_share_near_the_line_is_told_from_it(cpu_share, margin):
    fig = plot_noise(noise(share=cpu_share))
    _, share = fig.axes
    bottom, top = share.get_ylim()
    assert bottom <= cpu_share * 100 - 5 and top == 105  # the point stands clear of the axis' ends ...
    assert top - bottom <= 75 if cpu_share > 0.6 else bottom < 40  # ... zoomed to 60-105 % unless it lies lower
    assert any(margin in t.get_text() for t in share.texts)
    renderer = fig.canvas.get_renderer()
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    assert all(box.x0 >= 0 and box.x1 <= fig.bbox.width for box in titles)  # the titles lie inside the figure
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
