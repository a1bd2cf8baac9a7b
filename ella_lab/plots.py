"""The notebooks' standard figures, each drawn on a given matplotlib ``Axes`` (or a new one) and returned."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ._checks import check_choice
from .outcome import Report
from .retry import Retry

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_backoff",
    "plot_latency_cdf",
    "plot_overload",
    "plot_recovery_map",
    "plot_served_by",
    "plot_success",
    "plot_throughput",
    "plot_timeline",
    "ticks_at",
]

OK, FALLBACK, FAILED = "tab:green", "tab:orange", "tab:red"
# A timeline's bars are told apart by hatching as well as colour (red and green alone fail colour-blind readers).
HATCH = {OK: "", FALLBACK: "//", FAILED: "xx"}
KIND = {OK: "answered", FALLBACK: "answered by a backup", FAILED: "failed"}
# Told apart without colour vision too (blue and orange, Okabe & Ito), and by their markers.
RECOVERED, STAYED_DOWN = "#0072B2", "#E69F00"


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def ticks_at(ax: Axes, values: Iterable[float], *, axis: str = "x", within: bool = False) -> Axes:
    """Label exactly ``values`` on an axis (log or linear), with no minor ticks.

    On a log axis spanning less than a decade, matplotlib labels its minor ticks too, and they overlap
    the labels given here ("3×10¹" drawn over "32"). With ``within=True`` only the values inside the
    axis's current range are labelled (the others would stretch the axis to show them), so one list of
    round numbers serves whatever range a run measured.
    """
    from matplotlib.ticker import NullLocator

    check_choice("axis", axis, ("x", "y"))
    values = list(values)
    target = ax.xaxis if axis == "x" else ax.yaxis
    if within:
        low, high = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
        values = [v for v in values if low <= v <= high]
    target.set_minor_locator(NullLocator())
    target.set_ticks(values, [f"{v:g}" for v in values])
    return ax


def plot_throughput(df: pd.DataFrame, ax: Axes | None = None, label: str = "measured") -> Axes:
    """Throughput against worker count (a ``sweep`` frame), beside Little's law ``K / L``."""
    ax = _axes(ax)
    mean = df.groupby("workers", as_index=False)[["throughput_rps", "model_rps"]].mean()
    ax.plot(mean.workers, mean.model_rps, "--", color="grey", label="Little's law: K / L")
    ax.plot(mean.workers, mean.throughput_rps, "o-", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks_at(ax, mean.workers)
    ax.set_xlabel("workers K (threads)")
    ax.set_ylabel("throughput (requests/s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def plot_success(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Success rate against source failure rate p, one line per chain length k, beside ``1 - p**k``."""
    import numpy as np

    ax = _axes(ax)
    p = np.linspace(0, 1, 101)
    for k, group in df.groupby("chain"):
        mean = group.groupby("failure_rate", as_index=False)["success_rate"].mean()
        (line,) = ax.plot(p, 1 - p**k, "--", alpha=0.7)
        ax.plot(mean.failure_rate, mean.success_rate, "o", color=line.get_color(), label=f"{k} source(s): measured")
        line.set_label(f"model 1 − p^{k}")
    ax.set_xlabel("failure rate p of each source")
    ax.set_ylabel("requests answered (fraction)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_latency_cdf(reports: Report | Mapping[str, Report], ax: Axes | None = None, metric: str = "latency") -> Axes:
    """Empirical CDF, in ms, of ``metric`` (``"latency"``, ``"service_time"`` or ``"wait"``) per request."""
    import numpy as np

    check_choice("metric", metric, ("latency", "service_time", "wait"))
    ax = _axes(ax)
    if isinstance(reports, Report):
        reports = {metric: reports}
    for label, report in reports.items():
        values = np.sort([getattr(o, metric) * 1e3 for o in report])
        ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", label=label)
    ax.set_xlabel(f"{metric.replace('_', ' ')} (ms)")
    ax.set_ylabel(f"fraction of requests ≤ {metric.replace('_', ' ')}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_timeline(report: Report, ax: Axes | None = None, title: str | None = None) -> Axes:
    """A Gantt chart: one row per worker, one bar per request (green ok, orange hatched // fell back, red
    hatched xx failed); a legend names the kinds when more than one shows."""
    from matplotlib.patches import Patch

    ax = _axes(ax)
    workers = sorted({o.worker for o in report}, key=lambda w: (len(w), w))
    row = {w: i for i, w in enumerate(workers)}
    t0 = report.started_at
    label = len(report) <= 40  # few bars: print the request's number on each
    kinds = []
    for o in report:
        color = FAILED if not o.ok else FALLBACK if o.fell_back else OK
        kinds += [color] if color not in kinds else []
        start, width = (o.started_at - t0) * 1e3, (o.finished_at - o.started_at) * 1e3
        ax.barh(row[o.worker], width, left=start, color=color, hatch=HATCH[color], edgecolor="black", height=0.6)
        if label:
            ax.text(
                start + width / 2,
                row[o.worker],
                str(o.request).rsplit("-", 1)[-1],
                ha="center",
                va="center",
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
                if HATCH[color]
                else None,
            )
    if len(kinds) > 1:
        handles = [Patch(facecolor=c, hatch=HATCH[c], edgecolor="black", label=KIND[c]) for c in (OK, FALLBACK, FAILED)]
        ax.legend(
            handles=[h for h, c in zip(handles, (OK, FALLBACK, FAILED), strict=True) if c in kinds],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
        )
    ax.set_yticks(range(len(workers)), workers)
    ax.invert_yaxis()
    ax.set_xlabel("time since the run started (ms)")
    ax.set_ylabel("worker")
    if title:
        ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    return ax


def plot_backoff(policies: Mapping[str, Retry], keys: int = 200, ax: Axes | None = None) -> Axes:
    """The wait before each retry, for ``keys`` different requests, one colour per policy."""
    ax = _axes(ax)
    for offset, (label, policy) in enumerate(policies.items()):
        xs, ys = [], []
        for key in range(keys):
            for number, delay in enumerate(policy.delays(key), start=1):
                xs.append(number + (offset - 1) * 0.2)
                ys.append(delay * 1e3)
        ax.plot(xs, ys, ".", alpha=0.3, label=label)
    ax.set_xlabel("retry number")
    ax.set_ylabel("wait before the retry (ms)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


# Line styles for the runs of one overload figure, in order: solid, dashed, dash-dot, dotted-dense, long dash.
_RUN_STYLES = ("-", "--", "-.", (0, (1, 1)), (0, (8, 2)))
# Notebook 10's convention, in plot_overload and metastable.plot_cures alike: a measured run is a thin black line
# (further runs: Okabe & Ito colours, each with its own dashes), drawn over the seeded simulation, a wide light
# blue band; told apart by lightness and width too, without colour vision.
MEASURED_COLOURS = ("black", "#D55E00", "#009E73", "#CC79A7", "#0072B2")
MEASURED_LINE = {"color": MEASURED_COLOURS[0], "lw": 1.2}
SIMULATED_BAND = {"color": "tab:blue", "lw": 5, "alpha": 0.3}


def plot_overload(
    runs: Mapping[str, object],
    *,
    rate: float,
    models: Mapping[str, object] | None = None,
    trigger: tuple[float, float] = (1.0, 3.0),
    title: str = "",
) -> Figure:
    """Goodput, tries sent and the server's queue over time, for runs of ``ella_lab.sim`` or ``ella_lab.metastable``.

    The first run is a thin black line, further runs other colours with their own dashes. ``models``
    (simulated runs) are drawn on every panel as wide light blue bands (lighter for each further model), under
    the measured lines, so a model that the measurement follows stays visible beside it: the same convention
    as ``metastable.plot_cures``. The trigger (from the first run's settings) is shaded; the grey dashed line
    is the offered load ``rate``. Returns the figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharex=True)
    for number, (label, run) in enumerate((models or {}).items()):
        frame = run.frame()  # type: ignore[attr-defined]
        band = SIMULATED_BAND | {"alpha": SIMULATED_BAND["alpha"] / (1 + number)}
        for ax, series in zip(axes, (frame.goodput, frame.offered, frame.queue), strict=True):
            ax.plot(frame.t, series, label=label, zorder=1, **band)
    for number, (label, run) in enumerate(runs.items()):
        frame = run.frame()  # type: ignore[attr-defined]
        style = _RUN_STYLES[number % len(_RUN_STYLES)]  # colour and dashes: told apart without colour vision too
        colour = MEASURED_COLOURS[number % len(MEASURED_COLOURS)]
        for ax, series in zip(axes, (frame.goodput, frame.offered, frame.queue), strict=True):
            ax.plot(frame.t, series, ls=style, label=label, zorder=2, **(MEASURED_LINE | {"color": colour}))
    settings = next(iter(runs.values())).settings  # type: ignore[attr-defined]
    trigger = (settings["trigger_at"], settings["trigger_at"] + settings["trigger"])
    for ax, name in zip(axes, ["goodput (answers/s in time)", "tries sent (/s)", "longest server queue"], strict=True):
        ax.axvspan(*trigger, color="orange", alpha=0.15)
        ax.set_title(name)
        ax.set_xlabel("time (s); shaded: the trigger")
        ax.set_ylim(bottom=0)  # every panel from 0: a rise is read against nothing, not against the lowest bin
    axes[0].axhline(rate, color="0.3", lw=0.8, ls="--", label=f"offered load ({rate:g}/s)")
    axes[0].set_ylabel("requests/s")
    axes[1].set_ylabel("requests/s")
    axes[2].set_ylabel("requests waiting")
    handles, labels = axes[0].get_legend_handles_labels()  # below the panels: a legend inside one hides its lines
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize="small", frameon=False)
    if title:
        fig.suptitle(title)
    rows = -(-len(labels) // 4)
    fig.tight_layout(rect=(0, 0.07 * rows + 0.02, 1, 1))
    return fig


def plot_recovery_map(
    grids: Mapping[str, pd.DataFrame],
    *,
    title: str = "",
    mark: tuple[float, float] | None = None,
    mark_label: str = "",
    xlabel: str = "trigger (s)",
) -> Figure:
    """One panel per control: where the system recovered (blue dot) or stayed down (brown cross on orange).

    Each grid is a boolean table (index: the offered load as a fraction of capacity, columns: the
    trigger's length in s), as ``phase_diagram(...).pivot(index="load", columns="trigger", values="recovered")``.
    Colours a colour-blind reader tells apart, and a marker in every cell, so the map reads in grey too.
    ``mark`` = (load, trigger) rings that cell on every panel (say, where the measured runs sat), with
    ``mark_label`` in the legend; it must be a cell of every grid. ``xlabel`` names the columns' axis on every
    panel (say "trigger (s), not to scale" when the triggers are not evenly spaced).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    if not grids:
        raise ValueError("grids must hold at least one map, got none")
    if mark is not None:
        for name, grid in grids.items():
            if mark[0] not in list(grid.index) or mark[1] not in list(grid.columns):
                raise ValueError(f"mark must be a (load, trigger) cell of every grid, got {mark!r} (not in {name!r})")
    fig, axes = plt.subplots(1, len(grids), figsize=(2.8 * len(grids), 3.2), sharey=True, squeeze=False)
    for ax, (name, grid) in zip(axes[0], grids.items(), strict=True):
        values = grid.to_numpy().astype(bool)
        ax.imshow(values.astype(float), origin="lower", cmap=ListedColormap([STAYED_DOWN, RECOVERED]), vmin=0,
                  vmax=1, aspect="auto", alpha=0.35)  # fmt: skip
        rows, cols = values.nonzero()
        ax.plot(cols, rows, "o", color=RECOVERED, ms=5, ls="none")
        rows, cols = (~values).nonzero()
        ax.plot(cols, rows, "x", color="#7a4f00", ms=6, mew=2, ls="none")
        if mark is not None:
            row, col = list(grid.index).index(mark[0]), list(grid.columns).index(mark[1])
            ax.plot(col, row, "s", ms=13, mfc="none", mec="black", mew=1.5, ls="none")
        ax.set_xticks(range(len(grid.columns)), [f"{t:g}" for t in grid.columns])
        ax.set_yticks(range(len(grid.index)), [f"{load:.0%}" for load in grid.index])
        ax.set_title(name)
        ax.set_xlabel(xlabel)
    axes[0][0].set_ylabel("offered load / C")
    legend = [
        Line2D([], [], marker="o", color=RECOVERED, ls="none", label="recovered"),
        Line2D([], [], marker="x", color="#7a4f00", mew=2, ls="none", label="stayed down"),
    ]
    if mark is not None:
        legend.append(
            Line2D([], [], marker="s", ms=10, mfc="none", mec="black", mew=1.5, ls="none", label=mark_label or "marked")
        )
    fig.legend(handles=legend, loc="upper right", fontsize="small", ncol=len(legend))
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


# Who served a request: light grey, blue and black differ in lightness, so they read in print and without colour.
SERVED_BY = {"primary": "#bebebe", "backup": "tab:blue", "failed": "black"}  # a mid-grey: it must not vanish on white


def plot_served_by(runs: pd.DataFrame, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Who served each request, one row per run: a grid to compare runs at a glance (notebook 05's seeds).

    ``runs`` has one column per run and one row per request, each cell ``"primary"``, ``"backup"`` or
    ``"failed"`` (as ``[o.source or "failed" for o in report]``). Rows that look alike are runs whose every
    request had the same outcome.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    unknown = sorted(set(runs.to_numpy().ravel().tolist()) - set(SERVED_BY), key=str)
    if unknown:
        raise ValueError(f"runs must hold only {sorted(SERVED_BY)}, got {unknown[0]!r}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 0.45 * len(runs.columns) + 0.6))
    order = {name: i for i, name in enumerate(SERVED_BY)}
    codes = runs.T.apply(lambda column: column.map(order))
    cmap = ListedColormap(list(SERVED_BY.values()))
    ax.imshow(codes.to_numpy(), cmap=cmap, aspect="auto", vmin=0, vmax=len(SERVED_BY) - 1, interpolation="nearest")
    ax.set_yticks(range(len(codes)), list(codes.index))
    ax.set_xlabel("request number")
    handles = [Patch(facecolor=colour, edgecolor="grey", label=name) for name, colour in SERVED_BY.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    if title:
        ax.set_title(title)
    return ax
