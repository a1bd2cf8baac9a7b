"""Notebook 03's bend: the share of Little's law a run keeps, measured beside a cost-per-thread model.

A run of ``rounds`` rounds of ``latency`` on K threads takes T₁ (its time with few workers) plus K · s,
s being what one thread adds over the whole run (starting it, handing it its requests and its sentinel,
joining it, waking it, its CPU work: the fit does not tell these apart). The efficiency X / (K / L) is then
``rounds · latency / (T₁ + K · s)``; with s = 0 it is flat.

The CPU is measured apart, around the sweep's own runs: ``cpu_per_wall``, the process's CPU time over the run's
wall time, the share of one core the run kept busy.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._checks import check_int, shown
from .claims import Claim

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "best_runs",
    "cpu_claims",
    "fit_thread_cost",
    "plot_efficiency",
    "start_cost",
    "start_up_claim",
    "sweep_claims",
]

FEW = 8  # T₁ is the fastest run with at most this many workers: no start-up to speak of
FIT_UP_TO = 64  # s is fitted on K up to this; the larger K are not fitted
FIT_WITHIN = 0.25  # the fitted line stays within this share of the larger K's run times: a sanity check of a
# descriptive fit, no evidence for a cost per thread (s = 0 passes it too when the bend is small: +9 %, +22 % seen)
BENT = 1.05  # the largest K's run time over T₁ at least this: a bend s = 0 does not have (seen 1.11-1.41 at load 3.5)
IDLE_CPU = 0.15  # CPU ÷ wall at most this with K <= FEW: the threads mostly wait (seen 0.01-0.03, quiet and busy)
BUSY_CPU = 0.2  # CPU ÷ wall at least this at the largest K (256): a large part of a core (seen 0.40-0.68)


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


def best_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per worker count from ``experiments.sweep``'s runs: the fastest run (a busy machine can only slow a
    run down), its ``efficiency``, the share X / (K / L) of Little's law it keeps, and its ``cpu_per_wall``, the
    process's CPU seconds over the run's wall seconds (the share of one core the run kept busy)."""
    columns = ["workers", "requests", "wall_s", "throughput_rps", "model_rps", "cpu_s"]
    missing = set(columns) - set(runs.columns)
    if missing:
        raise ValueError(f"runs must have the sweep's columns; missing {sorted(missing)}")
    table = runs.loc[runs.groupby("workers").wall_s.idxmin(), columns].reset_index(drop=True)
    table["efficiency"] = table.throughput_rps / table.model_rps
    table["cpu_per_wall"] = table.cpu_s / table.wall_s
    return table


def fit_thread_cost(workers: Sequence[int], wall_s: Sequence[float], *, up_to: int = FIT_UP_TO) -> tuple[float, float]:
    """(T₁, s): T₁ the fastest run with at most ``FEW`` workers; s the least-squares slope of (run time − T₁)
    against K, through the origin, fitted on K ≤ ``up_to`` only, so that the larger K test the model."""
    check_int("up_to", up_to, minimum=1)
    ks, walls = _numbers("workers", workers), _numbers("wall_s", wall_s)
    if len(ks) != len(walls):
        raise ValueError(f"wall_s must hold one value per worker count ({len(ks)}), got {len(walls)}")
    few = [w for k, w in zip(ks, walls, strict=True) if k <= FEW]
    fitted = [(k, w) for k, w in zip(ks, walls, strict=True) if k <= up_to]
    if not few or not fitted:
        raise ValueError(f"workers must include a K <= {min(FEW, up_to)}, got {shown(workers)}")
    base = min(few)
    s = sum(k * (w - base) for k, w in fitted) / sum(k * k for k, _ in fitted)
    return base, s


def sweep_claims(table: pd.DataFrame) -> list[Claim]:
    """The sweep's measured claims (a table from :func:`best_runs`): the line holds up to ``FIT_UP_TO`` threads,
    the largest K falls below it and runs at least ``BENT`` slower than T₁ (s = 0 is too fast there), and the line
    T₁ + K · s fitted on K ≤ ``FIT_UP_TO`` stays within ``FIT_WITHIN`` of the larger K's run times. Then
    :func:`cpu_claims`.

    The fit is descriptive, not a prediction that backs a cost per thread: s = 0 can pass the same ``FIT_WITHIN``
    test, and s comes from a few ms of extra time at small K, whose noise, stretched to 4x the largest K the fit saw,
    can exceed the bend. So no claim says the fitted s does *better* than s = 0."""
    few, many = table[table.workers <= FIT_UP_TO], table[table.workers > FIT_UP_TO]
    base, s = fit_thread_cost(table.workers, table.wall_s)
    predicted = base + many.workers * s
    worst = float(((many.wall_s - predicted) / predicted).abs().max()) if len(many) else 0.0
    beyond, largest = ", ".join(str(k) for k in many.workers), int(table.workers.iloc[-1])
    return [
        Claim(f"up to {FIT_UP_TO} threads, every K keeps 75 % of the model's throughput", few.efficiency.min(),
              low=0.75, unit="%"),
        Claim(f"up to {FIT_UP_TO} threads, more workers always help",
              (few.throughput_rps.diff() / few.throughput_rps).dropna().min(), low=0, unit="%"),
        Claim(f"{largest} threads keep a smaller share of the model than any K up to {FIT_UP_TO} (at most 99 % of "
              "the worst)", table.efficiency.iloc[-1] / few.efficiency.min(), high=0.99, unit="x"),
        Claim(f"the line T₁ + K · s fitted on K ≤ {FIT_UP_TO} stays within {FIT_WITHIN:.0%} of the run time at "
              f"K = {beyond} (a descriptive fit)", worst, high=FIT_WITHIN, unit="%"),
        Claim(f"at K = {largest} the run takes at least {BENT - 1:.0%} longer than T₁ (s = 0 is too fast there)",
              table.wall_s.iloc[-1] / base, low=BENT, unit="x"),
        *cpu_claims(table),
    ]  # fmt: skip


def cpu_claims(table: pd.DataFrame) -> list[Claim]:
    """The CPU the sweep's runs used (a table from :func:`best_runs`): with few threads (K ≤ ``FEW``) the process
    keeps the CPU busy at most ``IDLE_CPU`` of a run, the threads mostly wait; at the largest K, at least
    ``BUSY_CPU`` of a core, so that threads waking together can queue for the GIL."""
    few, largest = table[table.workers <= FEW], int(table.workers.iloc[-1])
    return [
        Claim(f"with K ≤ {FEW} the CPU is busy at most {IDLE_CPU:.0%} of a run", few.cpu_per_wall.max(),
              high=IDLE_CPU, unit="%"),
        Claim(f"at K = {largest} the run keeps at least {BUSY_CPU:.0%} of a core busy", table.cpu_per_wall.iloc[-1],
              low=BUSY_CPU, unit="%"),
    ]  # fmt: skip


def start_up_claim(c: float, s: float) -> Claim:
    """s, the fitted cost per thread, is consistent with holding the thread's start-up, at least c/2 of it (``c``:
    the fastest ``start()``, by :func:`start_cost`; every start in the sweep costs at least that much). Only a lower
    bound: it does not say what the rest of s is."""
    return Claim("s is consistent with holding start-up, at least c/2 per thread: s ≥ c/2", c / 2, high=s)


def start_cost(k: int = 256) -> float:
    """Seconds for the fastest ``Thread.start()`` of a thread that does nothing, of 3 rounds of ``k``, each timed alone.

    The fastest is what a start costs on a quiet machine: a busy moment can only slow a start down, so every start
    of a measured run costs at least this (an average of many starts in a row would also hold the earlier
    threads' exits, which run meanwhile). The joins after them are not timed."""
    check_int("k", k, minimum=1)
    best = math.inf
    for _ in range(3):
        threads = [threading.Thread(target=int) for _ in range(k)]
        for t in threads:
            t0 = time.perf_counter()
            t.start()
            best = min(best, time.perf_counter() - t0)
        for t in threads:
            t.join(timeout=1)
    return best
