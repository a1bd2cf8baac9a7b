"""Notebook 09's experiments on real sockets: a primary service stopped mid-run, and a sweep of workers.

``primary_outage()`` sends a paced load through a router while timers stop and restart a
``FlakyService``, and returns the report with the moments the service really went down and came back
(a timer can fire late on a busy machine). ``OutageRun.windows()`` splits the requests into before,
during and after; ``plot_outage()`` draws the fallback rate and the latency over time, and ``outage_claims()``
checks the notebook's sentences about it. ``sockets_sweep()`` measures throughput on real sockets beside a
simulated sleep, with the CPU time each request costs; ``sockets_claims()`` checks what the notebook says of it.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._checks import check_int, check_real
from .claims import Claim, measure
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
    "REFUSED_AT_ONCE",
    "OutageRun",
    "OutageWindows",
    "cpu_table",
    "gil_reading",
    "outage_claims",
    "plot_outage",
    "plot_sockets",
    "primary_outage",
    "sockets_claims",
    "sockets_sweep",
]


@dataclass(frozen=True)
class OutageWindows:
    """The requests sent before, during and after an outage (``pandas`` rows of ``Report.frame()``).

    ``down`` leaves out ``margin`` seconds at each end, for requests in flight as the service stops or
    starts. ``refused_s`` is the median time a call to the stopped primary took, ``backup_s`` the median
    time of the backup's calls, both for the requests in ``down``. ``planned`` is, for ``before`` and
    ``after``, the share of requests whose primary call the service's seeded plan fails (NaN when the run
    does not know its primary); ``timed_out`` the share whose primary call missed the client's timeout
    instead (this machine's: a call delayed past it).
    """

    before: pd.DataFrame
    down: pd.DataFrame
    after: pd.DataFrame
    refused_s: float
    backup_s: float
    planned: dict[str, float]
    timed_out: dict[str, float]


@dataclass(frozen=True)
class OutageRun:
    """A run through an outage: its report, and when the primary really stopped and restarted.

    ``down_from`` and ``down_to`` are seconds from the report's start, as measured when it happened;
    ``primary`` the stopped service, whose seeded plan says which of its calls fail by design.
    """

    report: Report
    down_from: float
    down_to: float
    primary: FlakyService | None = None
    timers_from: float = 0.0  # when the outage's timers started, on the same clock (just before the report's start)

    def windows(self, margin: float = 0.05) -> OutageWindows:
        """Split the requests by when they were sent: before, during (``margin`` in from each end), after."""
        margin = check_real("margin", margin, minimum=0)
        frame, tries = self.report.frame(), self.report.attempts_frame()
        sent = frame.queued_s
        down = frame[(sent > self.down_from + margin) & (sent < self.down_to - margin)]
        during = tries[tries.request.isin(down.request)]
        refused = during[during.source == "primary"]
        backup = during[during.source == "backup"]
        before, after = frame[sent < self.down_from - margin], frame[sent > self.down_to + margin]
        first = tries[tries.source == "primary"].drop_duplicates("request").set_index("request")
        planned, timed_out = {}, {}
        for name, part in (("before", before), ("after", after)):
            calls = first.reindex(part.request)
            timed_out[name] = float((calls.error == "TimeoutError").mean()) if len(part) else math.nan
            if self.primary is None or not len(part):
                planned[name] = math.nan
            else:
                plan = self.primary.plan
                planned[name] = sum(plan(str(r), int(n))[0] != "ok" for r, n in calls.number.items()) / len(part)
        return OutageWindows(
            before=before,
            down=down,
            after=after,
            refused_s=float((refused.finished_s - refused.started_s).median()),
            backup_s=float((backup.finished_s - backup.started_s).median()),
            planned=planned,
            timed_out=timed_out,
        )


def primary_outage(
    router: Router,
    primary: FlakyService,
    requests: Sequence[Any],
    *,
    rate: float,
    stop_at: float,
    restart_at: float,
    checked: bool = False,
) -> OutageRun:
    """Send ``requests`` through ``router`` at ``rate`` per second; stop ``primary`` ``stop_at`` s in, restart it.

    The two timers start with the clients' schedule (``paced(on_start=...)``), once the workers are up.
    The moments returned are when the service stopped accepting connections and when it was started
    again, read from the clock, not the timers' aims. Both timers are joined before this returns.
    ``checked``: judge ``outage_claims`` on the run (the primary's failure rate, the outage aimed at), and run
    again on a miss (``ella_lab.claims.measure``).
    """
    stop_at = check_real("stop_at", stop_at, minimum=0)
    restart_at = check_real("restart_at", restart_at, minimum=0)
    if restart_at <= stop_at:
        raise ValueError(f"restart_at must come after stop_at={stop_at!r}, got {restart_at!r}")
    if checked:
        return measure(
            lambda: primary_outage(router, primary, requests, rate=rate, stop_at=stop_at, restart_at=restart_at),
            lambda run: outage_claims(run, failure_rate=primary.failure_rate, outage_s=restart_at - stop_at),
        )
    moments: list[float] = []

    def stop() -> None:
        primary.stop()  # returns once the service no longer accepts connections
        moments.append(clock())

    def restart() -> None:
        primary.start()  # returns once the service accepts connections again
        moments.append(clock())  # back up from here: a request sent before it would still be refused

    timers = [threading.Timer(stop_at, stop), threading.Timer(restart_at, restart)]

    def start_timers() -> None:
        moments.append(clock())
        for timer in timers:
            timer.start()

    try:
        report = paced(router, requests, rate=rate, on_start=start_timers)
    finally:
        for t in timers:
            if t.is_alive() or t.ident is not None:
                t.join(timeout=restart_at + 10)
    if len(moments) != 3:
        raise RuntimeError(f"the outage's timers did not both fire within {restart_at + 10:g} s")
    started, stopped, restarted = (moment - report.started_at for moment in moments)
    return OutageRun(report, stopped, restarted, primary, timers_from=started)


REFUSED_AT_ONCE: bool = sys.platform != "win32"
"""True where a connect to a closed loopback port is refused at once (Linux, macOS). Windows retries it for about
2 s before refusing it, so a call to a stopped service with a shorter timeout ends in ``TimeoutError``."""

log = logging.getLogger(__name__)


def outage_claims(
    run: OutageRun,
    *,
    failure_rate: float = 0.05,
    outage_s: float = 0.8,
    extra: float = 0.03,
    refused_at_once: bool = REFUSED_AT_ONCE,
) -> list[Claim]:
    """Notebook 09's sentences about a run through an outage, each with the value this run measured.

    Before and after the outage the backup serves the primary's planned failures (the seeded plan's share of
    the window's requests; ``failure_rate`` when the run does not know its primary), plus at most ``extra``
    (3 points) of calls that missed the primary's timeout. ``outage_s`` is the outage the timers aimed at. The
    backup must serve at least 95 % of the requests sent while the primary is down, not all: on a busy machine
    one can wait in the queue until it is back. The two sentences about time (a refused call costs almost
    nothing; a request sent then takes about the backup's call) hold where a refusal comes at once
    (``refused_at_once``, :data:`REFUSED_AT_ONCE`): elsewhere (Windows) they are left out, and the log says so.
    """
    failure_rate = check_real("failure_rate", failure_rate, minimum=0, maximum=1)
    outage_s = check_real("outage_s", outage_s, minimum=0)
    extra = check_real("extra", extra, minimum=0, maximum=1)
    w = run.windows()
    planned = {k: failure_rate if math.isnan(v) else v for k, v in w.planned.items()}
    claims = [
        Claim(f"an outage long enough to judge (aimed at {outage_s:g} s)", run.down_to - run.down_from,
              low=0.6 * outage_s, model=outage_s),
        Claim("while the primary is down, the backup serves (nearly) every request sent", w.down.fell_back.mean(),
              low=0.95, model=1, unit="%"),
        Claim(f"before the outage, the backup serves the primary's planned failures ({planned['before']:.1%}) and "
              f"at most {extra:.0%} more", w.before.fell_back.mean(), low=planned["before"] - 1e-9,
              high=planned["before"] + extra,
              model=planned["before"], unit="%"),
        Claim(f"after it, the same (planned: {planned['after']:.1%})", w.after.fell_back.mean(),
              low=planned["after"] - 1e-9, high=planned["after"] + extra, model=planned["after"], unit="%"),
    ]
    if not refused_at_once:
        log.info("%s: a connect to a closed port is not refused at once, so its times are not checked", sys.platform)
        return claims
    return [
        *claims,
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
    bottom.step(starts, over_time.p50 * 1e3, where="post", color="tab:purple")
    bottom.set(ylabel="median latency (ms)", xlabel=f"when the request was sent (s), {bin_s * 1e3:g} ms windows")
    bottom.set_ylim(bottom=0)
    top.legend(loc="upper right", fontsize="small")  # the bottom's one line is named by its y-label
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _user_s() -> float:
    """This process's user CPU time (every thread), in seconds: its CPU time outside the system calls."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def sockets_sweep(
    workers: Sequence[int], *, latency: float = 0.010, per_worker: int = 16, repeats: int = 3, checked: bool = False
) -> pd.DataFrame:
    """Throughput for each K in ``workers`` on real sockets and with a simulated sleep of ``latency``.

    Each K sends ``per_worker * K`` requests to a ``FlakyService`` on 127.0.0.1 that never fails, and
    through a ``SimulatedSource`` that sleeps ``latency``; each keeps the fastest of ``repeats`` runs (a burst of
    other work slows one run, not all), so the two curves are measured the same way. Around each
    real run it reads ``time.process_time()`` (this process, every thread: client and server), giving
    the CPU time per request and the cores used, and the user time (``resource.getrusage``): the rest is
    the system calls, which run outside the GIL. One row per K: ``model`` (K / latency),
    ``simulated``, ``real sockets`` (req/s), ``real ok`` (share answered), ``CPU per request (µs)``,
    ``cores used here``, ``user share`` (of that CPU time), and the model with the CPU time c (this row's):
    ``K / (L + c)`` (a worker's cycle is L + c). c is the whole process's CPU time per request (client and
    server), so ``cores used here`` = X · c by its definition: a diagnostic of the run, not a model that predicts X.
    """
    if checked:  # judge sockets_claims, and sweep again on a miss: two sweeps in all, each takes seconds
        return measure(
            lambda: sockets_sweep(workers, latency=latency, per_worker=per_worker, repeats=repeats),
            sockets_claims,
            tries=2,
        )
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
                cpu_started, user_started = time.process_time(), _user_s()
                run = Router(HttpSource("bench", bench.url), workers=k).run(requests)
                runs.append((run.wall_s, time.process_time() - cpu_started, _user_s() - user_started, run))
            _, cpu, user, real = min(runs, key=lambda r: r[0])
            simulated_s = min(
                Router(SimulatedSource("bench", latency=latency), workers=k).run(requests).wall_s
                for _ in range(repeats)
            )
            n = len(requests)
            c = cpu / n
            rows.append({
                "workers": k, "model": k / latency, "simulated": n / simulated_s, "real sockets": n / real.wall_s,
                "real ok": sum(o.ok for o in real) / n, "CPU per request (µs)": 1e6 * c,
                "cores used here": cpu / real.wall_s, "user share": min(1.0, user / cpu) if cpu > 0 else 1.0,
                "K / (L + c)": k / (latency + c),
            })
    return pd.DataFrame(rows).set_index("workers")


def cpu_table(curves: pd.DataFrame) -> pd.DataFrame:
    """The columns notebook 09's model reads, from a ``sockets_sweep()`` table: c, the CPU time per request (µs);
    the model ``K / (L + c)``; the ``real sockets`` throughput X; the ``cores used``, X · c; and the ``user cores``,
    the part of them outside the system calls (mostly Python code, which runs one thread at a time under the GIL)."""
    import pandas as pd

    return pd.DataFrame({
        "c (µs)": curves["CPU per request (µs)"],
        "K / (L + c)": curves["K / (L + c)"],
        "real sockets": curves["real sockets"],
        "cores used": curves["cores used here"],
        "user cores": curves["cores used here"] * curves["user share"],
    })


def gil_reading(curves: pd.DataFrame) -> str:
    """Which case of notebook 09's GIL paragraph a ``sockets_sweep()`` table is in, as printed lines: the most user
    cores and the most cores used over the sweep, then what they say about the GIL.

    Python code needs the GIL and runs as user time; the system calls run in the kernel, outside it, maybe on
    another core. So the cores used (system calls included) can pass one while the GIL is free part of the time:
    the argument is made with the user cores (review 08g: 1.07 cores used, 0.52 user, and the old paragraph's
    condition, cores used under one, failed without a word). A thread can also hold the GIL while it waits for a
    core, which no CPU clock counts: "not saturated by Python code", never "nobody waited for it"."""
    table = cpu_table(curves)
    user, used = float(table["user cores"].max()), float(table["cores used"].max())
    lines = [f"most user cores: {user:.2f}; most cores used (system calls included): {used:.2f}"]
    held = f"running Python code held the GIL at most {user:.0%} of the time"
    if used < 1:
        lines.append(f"under one core even with the system calls: the process never filled one core, and {held}")
    elif user < 1:
        lines.append("over one core with the system calls (the kernel's work, outside the GIL), but the user time, "
                     f"Python code's, stays under one: {held}")  # fmt: skip
    else:
        lines.append("the user time fills a core: Python code may have needed the GIL all the time, and the GIL "
                     "may be what holds the curve")  # fmt: skip
    return "\n".join(lines)


def sockets_claims(curves: pd.DataFrame, *, few: int = 4, most: int | None = None) -> list[Claim]:
    """Notebook 09's sentences about a ``sockets_sweep()`` table, each with the value measured.

    ``few`` is the largest K still called "a few workers" (waiting dominates there); ``most`` the K compared
    with K = 1 for the bend and the cores (None: the largest K of the sweep).
    Real sockets are judged against the model with the CPU time, not K / L: for a few workers against
    K / (L + c) alone, from both sides (c is part of the gap to K / L; on a busy machine, waits for a core add
    to it). At the largest K, X · c (the cores used, by construction) is checked to be most of a core or more;
    and, at every K, the user time (Python code, under the GIL) to stay within about one core: that rules out
    more than one core of Python code, and does not show the GIL to be the limit. Which limit holds the plateau
    (the GIL, the server's threads in the same process, other work on the machine) is not claimed: this sweep
    does not separate them.
    """
    few = check_int("few", few, minimum=1)
    most = int(curves.index.max()) if most is None else check_int("most", most, minimum=1)
    first = int(curves.index.min())
    near = (curves["real sockets"] / curves["K / (L + c)"]).loc[:few]
    efficiency, busy = curves["real sockets"] / curves["model"], curves["cores used here"]
    return [
        Claim("every request answered on real sockets", curves["real ok"].min(), low=1, unit="%"),
        Claim("a simulated source follows the model at every K of the sweep, the worst",
              (curves["simulated"] / curves["model"]).min(), low=0.75, model=1, unit="%"),
        Claim(f"for a few workers (K ≤ {few}), real sockets follow K / (L + c), on average", near.mean(),
              low=0.85, model=1, unit="%"),
        Claim(f"for a few workers (K ≤ {few}), real sockets follow K / (L + c), the worst", near.min(),
              low=0.75, model=1, unit="%"),
        Claim(f"for a few workers (K ≤ {few}), real sockets do not pass K / (L + c), the best",
              near.max(), high=1.05, model=1, unit="%"),
        Claim(f"at K = {most}, the process keeps most of a core busy, or more (cores used = X · c)",
              busy.loc[most], low=0.7, unit=""),
        # the GIL lets one thread at a time run Python code: user time fills one core at most (+ 10 % for the
        # two clocks' grain); system calls run outside it and are not bounded by it
        Claim("the user time stays within one core at every K (cores used × user share), the most",
              (busy * curves["user share"]).max(), high=1.1, unit=""),
        Claim(f"the curve bends away as K grows: efficiency at K = {most} over K = {first}",
              efficiency.loc[most] / efficiency.loc[first], high=0.8, unit="x"),
        Claim(f"the CPU fills up as K grows: cores used at K = {most} over K = {first}",
              busy.loc[most] / busy.loc[first], low=2, unit="x"),
    ]


def plot_sockets(curves: pd.DataFrame, *, latency: float = 0.010, title: str | None = None) -> Figure:
    """A ``sockets_sweep()`` table in two panels, K on a log axis.

    Left, the throughputs: the model K / L (a thick grey line, the simulated curve open circles on it, so
    the two stay apart where they coincide), the real curve, and K / (L + c), each K with its own measured c
    (a worker's cycle with the CPU time; it holds for a few workers and does not explain the bend at large K).
    Right, each measured curve over a model, so the few percent that c makes, invisible on a log scale, can be
    read: real sockets over K / L and over K / (L + c), the simulated sleep over K / L.
    """
    import matplotlib.pyplot as plt

    latency = check_real("latency", latency, minimum=1e-4)
    ks = list(curves.index)
    with_cpu = curves["K / (L + c)"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(ks, curves["model"], "-", color="0.6", lw=5, alpha=0.6, label="model K / L (exact)")
    left.plot(ks, curves["simulated"], "o", mfc="none", color="tab:blue", ms=8, label="simulated sleep (measured)")
    left.plot(ks, with_cpu, "--", color="tab:orange", label="K / (L + c), c measured")
    left.plot(ks, curves["real sockets"], "-^", color="black", label="real sockets (measured)")
    left.set(xscale="log", yscale="log", xlabel="workers K", ylabel="throughput (requests/s)")
    left.legend(fontsize="small", loc="upper left")
    right.axhline(1, color="0.6", lw=5, alpha=0.6, label="model (measured / model = 1)")
    right.plot(ks, curves["simulated"] / curves["model"], "o", mfc="none", color="tab:blue", ms=8,
               label="simulated / (K / L)")
    right.plot(ks, curves["real sockets"] / curves["model"], ":^", color="black", label="real / (K / L)")
    over_cpu = curves["real sockets"] / with_cpu
    right.plot(ks, over_cpu, "-s", color="tab:orange", label="real / (K / (L + c))")
    top = max(1.15, 1.08 * float(over_cpu.max()))
    right.set(xscale="log", xlabel="workers K", ylabel="measured / model", ylim=(0, top))
    right.legend(fontsize="small", loc="lower left")
    for ax in (left, right):
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title or f"L = {latency * 1e3:g} ms: simulated sleep vs real HTTP on loopback")
    fig.tight_layout()
    return fig
