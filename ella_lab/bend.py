"""Notebook 03's bend: the share of Little's law a run keeps, measured beside a cost-per-thread model.

A run of ``rounds`` rounds of ``latency`` on K threads takes T₁ (its time with few workers) plus K · s,
s being what one thread adds over the whole run (starting it, and waking it among the others in every
round). The efficiency X / (K / L) is then ``rounds · latency / (T₁ + K · s)``; with s = 0 it is flat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._checks import check_int, shown

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_efficiency"]


def _numbers(name: str, values: Sequence[float]) -> list[float]:
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {shown(values)}") from None
    if not numbers:
        raise ValueError(f"{name} must hold at least one value, got {shown(values)}")
    return numbers


def plot_efficiency(
    workers: Sequence[int],
    measured: Sequence[float],
    model: Sequence[float],
    flat: float,
    *,
    rounds: int = 16,
    ax: Axes | None = None,
) -> Axes:
    """Efficiency (a fraction per K) in per cent against K on a log-2 axis: measured, the fitted model, s = 0.

    The three are told apart by marker and line style as well as colour. The y axis runs from 5 points below
    the lowest value to 101 %, so that a gap of a few points shows. Returns the axes.
    """
    check_int("rounds", rounds, minimum=1)
    ks = [int(k) for k in _numbers("workers", workers)]
    series = {"measured": _numbers("measured", measured), "model": _numbers("model", model)}
    for name, values in series.items():
        if len(values) != len(ks):
            raise ValueError(f"{name} must hold one value per worker count ({len(ks)}), got {len(values)}")
    if isinstance(flat, bool) or not isinstance(flat, int | float):
        raise TypeError(f"flat must be a number (the efficiency with s = 0), got {shown(flat)}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    ax.plot(ks, [100 * v for v in series["measured"]], "o-", label="measured")
    ax.plot(ks, [100 * v for v in series["model"]], "s--", label=f"model: {rounds}·L / (T₁ + K·s)")
    ax.axhline(100 * flat, color="grey", linestyle=":", label="model with s = 0")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("workers K (threads)")
    ax.set_ylabel("efficiency: X / (K/L) (%)")
    lowest = min(min(series["measured"]), min(series["model"]), flat)
    ax.set_ylim(max(0.0, 100 * lowest - 5), 101)  # the data's own range: a 10 % gap must show
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return ax
