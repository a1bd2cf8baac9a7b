"""Notebook 09's experiments on real sockets: a primary service stopped mid-run, and a sweep of workers.

``primary_outage()`` sends a paced load through a router while timers stop and restart a
``FlakyService``, and returns the report with the moments the service really went down and came back
(a timer can fire late on a busy machine). ``OutageRun.windows()`` splits the requests into before,
during and after; ``plot_outage()`` draws the fallback rate and the latency over time, and ``outage_claims()``
checks the notebook's sentences about it. ``sockets_sweep()`` measures throughput on real sockets beside a
simulated sleep, with the CPU time each request costs; ``sockets_claims()`` checks what the notebook says of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._checks import check_int, check_real
from .claims import Claim
from .experiments import paced
from .router import Router
from .service import FlakyService, HttpSource
from .sources import SimulatedSource
from .timing import clock

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from .outcome import Report

__all__ = [
    "OutageRun",
    "OutageWindows",
    "outage_claims",
    "plot_outage",
    "primary_outage",
    "sockets_claims",
    "sockets_sweep",
]


@dataclass(frozen=True)
class OutageWindows:
    """The requests sent before, during and after an outage (``pandas`` rows of ``Report.frame()``).

    ``down`` leaves out ``margin`` seconds at each end, for requests in flight as the service stops or
    starts. ``refused_s`` is the median time a call to the stopped primary took, ``backup_s`` the median
    time of the backup's calls, both for the requests in ``down``.
    """

    before: pd.DataFrame
    down: pd.DataFrame
    after: pd.DataFrame
    refused_s: float
    backup_s: float


@dataclass(frozen=True)
class OutageRun:
    """A run through an outage: its report, and when the primary really stopped and restarted.

    ``down_from`` and ``down_to`` are seconds from the report's start, as measured when it happened.
    """

    report: Report
    down_from: float
    down_to: float

    def windows(self, margin: float = 0.05) -> OutageWindows:
        """Split the requests by when they were sent: before, during (``margin`` in from each end), after."""
        margin = check_real("margin", margin, minimum=0)
        frame, tries = self.report.frame(), self.report.attempts_frame()
        sent = frame.queued_s
        down = frame[(sent > self.down_from + margin) & (sent < self.down_to - margin)]
        during = tries[tries.request.isin(down.request)]
        refused = during[during.source == "primary"]
        backup = during[during.source == "backup"]
        return OutageWindows(
            before=frame[sent < self.down_from - margin],
            down=down,
            after=frame[sent > self.down_to + margin],
            refused_s=float((refused.finished_s - refused.started_s).median()),
            backup_s=float((backup.finished_s - backup.started_s).median()),
        )


def primary_outage(
    router: Router,
    primary: FlakyService,
    requests: Sequence[Any],
    *,
    rate: float,
    stop_at: float,
    restart_at: float,
) -> OutageRun:
    """Send ``requests`` through ``router`` at ``rate`` per second; stop ``primary`` ``stop_at`` s in, restart it.

    The two timers start with the clients' schedule (``paced(on_start=...)``), once the workers are up.
    The moments returned are when the service stopped accepting connections and when it was started
    again, read from the clock, not the timers' aims. Both timers are joined before this returns.
    """
    stop_at = check_real("stop_at", stop_at, minimum=0)
    restart_at = check_real("restart_at", restart_at, minimum=0)
    if restart_at <= stop_at:
        raise ValueError(f"restart_at must come after stop_at={stop_at!r}, got {restart_at!r}")
    moments: list[float] = []

    def stop() -> None:
        primary.stop()  # returns once the service no longer accepts connections
        moments.append(clock())

    def restart() -> None:
        moments.append(clock())
        primary.start()

    timers = [threading.Timer(stop_at, stop), threading.Timer(restart_at, restart)]
    try:
        report = paced(router, requests, rate=rate, on_start=lambda: [t.start() for t in timers])
    finally:
        for t in timers:
            if t.is_alive() or t.ident is not None:
                t.join(timeout=restart_at + 10)
    if len(moments) != 2:
        raise RuntimeError(f"the outage's timers did not both fire within {restart_at + 10:g} s")
    return OutageRun(report, moments[0] - report.started_at, moments[1] - report.started_at)


def outage_claims(run: OutageRun, *, failure_rate: float = 0.05, outage_s: float = 0.8) -> list[Claim]:
    """Notebook 09's sentences about a run through an outage, each with the value this run measured.

    ``failure_rate`` is the primary's own share of failures (the backup serves them, before and after the
    outage); ``outage_s`` the outage the timers aimed at. The backup must serve at least 95 % of the requests
    sent while the primary is down, not all: on a busy machine one can wait in the queue until it is back.
    """
    failure_rate = check_real("failure_rate", failure_rate, minimum=0, maximum=1)
    outage_s = check_real("outage_s", outage_s, minimum=0)
    w = run.windows()
    return [
        Claim(f"an outage long enough to judge (aimed at {outage_s:g} s)", run.down_to - run.down_from,
              low=0.6 * outage_s, model=outage_s),
        Claim("while the primary is down, the backup serves (nearly) every request sent", w.down.fell_back.mean(),
              low=0.95, model=1, unit="%"),
        Claim(f"before the outage, the backup serves only the primary's {failure_rate:.0%}", w.before.fell_back.mean(),
              high=failure_rate + 0.1, model=failure_rate, unit="%"),
        Claim("after it, the same", w.after.fell_back.mean(), high=failure_rate + 0.1, model=failure_rate, unit="%"),
        Claim("a refused connection costs almost nothing (under 5 ms)", w.refused_s, high=0.005),
        Claim("while down, a request takes about what the backup's own call takes", w.down.service_s.median(),
              high=w.backup_s + 0.005, model=w.backup_s, late=1),
    ]


def plot_outage(run: OutageRun, *, bin_s: float = 0.1, min_sent: int = 10, title: str | None = None) -> Figure:
    """The share served by the backup (top) and the median latency (bottom), by when requests were sent.

    Requests are grouped in ``bin_s``-second windows; a window with fewer than ``min_sent`` requests
    (the last, cut short) is left out. The shaded span is the outage as measured.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    bin_s = check_real("bin_s", bin_s, minimum=1e-3)
    min_sent = check_int("min_sent", min_sent, minimum=1)
    frame = run.report.frame()
    edges = np.arange(0, frame.queued_s.max() + bin_s, bin_s)
    frame["window"] = pd.cut(frame.queued_s, edges, labels=edges[:-1], include_lowest=True)
    over_time = frame.groupby("window", observed=True).agg(
        fallback=("fell_back", "mean"), sent=("ok", "size"), p50=("latency_s", "median")
    )
    over_time = over_time[over_time.sent >= min_sent]
    starts = over_time.index.astype(float)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
    top.axvspan(run.down_from, run.down_to, color="0.85", label="primary stopped")
    bottom.axvspan(run.down_from, run.down_to, color="0.85")  # the same span, named once (in the top legend)
    top.step(starts, over_time.fallback * 100, where="post", color="tab:blue", label="served by the backup")
    top.set(ylabel="served by the backup (%)", ylim=(-5, 105))
    bottom.step(starts, over_time.p50 * 1e3, where="post", color="tab:purple", label="median latency")
    bottom.set(ylabel="median latency (ms)", xlabel=f"when the request was sent (s), {bin_s * 1e3:g} ms windows")
    bottom.set_ylim(bottom=0)
    for ax in (top, bottom):
        ax.legend(loc="upper right", fontsize="small")
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def sockets_sweep(
    workers: Sequence[int], *, latency: float = 0.010, per_worker: int = 16, repeats: int = 3
) -> pd.DataFrame:
    """Throughput for each K in ``workers`` on real sockets and with a simulated sleep of ``latency``.

    Each K sends ``per_worker * K`` requests to a ``FlakyService`` on 127.0.0.1 that never fails, and
    through a ``SimulatedSource`` that sleeps ``latency``; each keeps the fastest of ``repeats`` runs (a burst of
    other work slows one run, not all), so the two curves are measured the same way. Around each
    real run it reads ``time.process_time()`` (this process, every thread: client and server), giving
    the CPU time per request and the cores used. One row per K: ``model`` (K / latency),
    ``simulated``, ``real sockets`` (req/s), ``real ok`` (share answered), ``CPU per request (µs)``,
    ``cores used here``.
    """
    import pandas as pd

    ks = [check_int("workers", k, minimum=1) for k in workers]
    latency = check_real("latency", latency, minimum=1e-4)
    per_worker = check_int("per_worker", per_worker, minimum=1)
    repeats = check_int("repeats", repeats, minimum=1)
    rows = []
    with FlakyService("bench", latency=latency) as bench:
        for k in ks:
            requests = [f"DataRequest-{i}" for i in range(per_worker * k)]
            runs = []
            for _ in range(repeats):
                cpu_started = time.process_time()
                run = Router(HttpSource("bench", bench.url), workers=k).run(requests)
                runs.append((run.wall_s, time.process_time() - cpu_started, run))
            _, cpu, real = min(runs, key=lambda r: r[0])
            simulated_s = min(
                Router(SimulatedSource("bench", latency=latency), workers=k).run(requests).wall_s
                for _ in range(repeats)
            )
            n = len(requests)
            rows.append({
                "workers": k, "model": k / latency, "simulated": n / simulated_s, "real sockets": n / real.wall_s,
                "real ok": sum(o.ok for o in real) / n, "CPU per request (µs)": 1e6 * cpu / n,
                "cores used here": cpu / real.wall_s,
            })
    return pd.DataFrame(rows).set_index("workers")


def sockets_claims(curves: pd.DataFrame, *, few: int = 8, most: int | None = None) -> list[Claim]:
    """Notebook 09's sentences about a ``sockets_sweep()`` table, each with the value measured.

    ``few`` is the largest K still called "a few workers" (waiting dominates there); ``most`` the K compared
    with K = 1 for the bend and the cores (None: the largest K of the sweep).
    """
    few = check_int("few", few, minimum=1)
    most = int(curves.index.max()) if most is None else check_int("most", most, minimum=1)
    first = int(curves.index.min())
    near = curves.loc[:few, "real sockets"] / curves.loc[:few, "model"]
    efficiency, busy = curves["real sockets"] / curves["model"], curves["cores used here"]
    return [
        Claim("every request answered on real sockets", curves["real ok"].min(), low=1, unit="%"),
        Claim("a simulated source follows the model at every K of the sweep, the worst",
              (curves["simulated"] / curves["model"]).min(), low=0.75, model=1, unit="%"),
        Claim(f"real sockets stay near the model for a few workers (K ≤ {few}), on average", near.mean(), low=0.7,
              model=1, unit="%"),
        Claim(f"real sockets stay near the model for a few workers (K ≤ {few}), the worst", near.min(), low=0.55,
              model=1, unit="%"),
        Claim(f"the curve bends away as K grows: efficiency at K = {most} over K = {first}",
              efficiency.loc[most] / efficiency.loc[first], high=0.8, unit="x"),
        Claim(f"the CPU fills up as K grows: cores used at K = {most} over K = {first}",
              busy.loc[most] / busy.loc[first], low=2, unit="x"),
    ]
