"""The metastable failure for real: open-loop load over loopback HTTP against a server that can be overloaded.

``run_loopback(control)`` runs the scenario that ``ella_lab.sim.simulate`` models: ``rate`` requests
a second (``paced``), each through ``HttpSource`` with a ``timeout`` and up to ``attempts`` tries,
against a ``FlakyService`` with ``capacity`` slots and a ``queue``; at ``trigger_at`` the service
slows down ``slowdown`` times for ``trigger`` seconds. It returns the same series as the
simulation (a ``SimResult``), so ``recovery_time`` and the plots take either.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._checks import check_int, check_real
from .claims import Claim, measure
from .experiments import paced
from .fallback import FallbackChain
from .outcome import Report
from .overload import AIMD, AdaptiveThrottle, ConcurrencyLimit, LimitExceeded, Throttled
from .resilience import RetryBudget
from .retry import Retry
from .router import Router
from .service import FlakyService, HttpSource
from .sim import CONTROLS, MAX_ATTEMPTS, SimResult, bin_count, format_recovery, recovery_time, simulate
from .timing import clock

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "NotedAIMD",
    "after_trigger_table",
    "client_source",
    "collapse_claims",
    "cure_claims",
    "cure_table",
    "goodput_stalls",
    "healthy_goodput",
    "limit_cuts",
    "measure_cure",
    "measure_cures",
    "plot_cures",
    "run_loopback",
    "served_share",
]

MAX_WORKERS = 2_000  # client threads: 1.5 x every try in flight at 2,000 requests/s with the default timeout
MAX_CAPACITY = 1_000  # server slots, a thread each
MAX_QUEUE = 10_000  # server queue places, a waiting thread each
MAX_REQUESTS = 100_000  # rate x duration: each request's outcome is kept for the series


def client_source(url: str, control: str, *, timeout: float, attempts: int, capacity: int):
    """The client's side of the scenario: ``HttpSource`` with retries, and the control it is given."""
    source = HttpSource("server", url, timeout=timeout)
    if control == "throttle":
        source = AdaptiveThrottle(source, window=0.25)
    elif control == "limit":
        source = ConcurrencyLimit(source, AIMD(initial=2 * capacity, minimum=1, maximum=50 * capacity))
    budget = RetryBudget(ratio=0.1) if control == "budget" else None
    return FallbackChain([source], retry=Retry(attempts=attempts, base=0, budget=budget))


def run_loopback(
    control: str = "none",
    *,
    rate: float = 140.0,
    duration: float = 8.0,
    trigger_at: float = 1.0,
    trigger: float = 2.0,
    slowdown: float = 2.0,
    capacity: int = 4,
    service: float = 0.020,
    queue: int = 50,
    timeout: float = 0.150,
    attempts: int = 3,
    workers: int | None = None,
    bin_s: float = 0.1,
    seed: int = 0,
) -> SimResult:
    """Run the overload scenario on 127.0.0.1 for ``duration`` seconds and measure it, bin by bin.

    ``workers`` (the client's threads) defaults to enough for every try of every request in flight at once
    (1.5 x rate x timeout x attempts), so the clients keep sending at ``rate`` however slow the server is.
    Threads and requests are bounded (``MAX_WORKERS``, ``MAX_CAPACITY``, ``MAX_QUEUE``, ``MAX_REQUESTS``),
    checked before anything starts, each error naming the parameter passed.
    """
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {', '.join(map(repr, CONTROLS))}; got {control!r}")
    rate = check_real("rate", rate, maximum=2000.0)
    duration = check_real("duration", duration, maximum=600.0)
    trigger_at = check_real("trigger_at", trigger_at, maximum=duration)
    trigger = check_real("trigger", trigger, maximum=duration)
    slowdown = check_real("slowdown", slowdown, minimum=1.0, maximum=100.0)
    capacity = check_int("capacity", capacity, minimum=1)
    if capacity > MAX_CAPACITY:
        raise ValueError(f"capacity must be <= {MAX_CAPACITY} on loopback (a thread each), got {capacity!r}")
    queue = check_int("queue", queue)
    if queue > MAX_QUEUE:
        raise ValueError(f"queue must be <= {MAX_QUEUE} on loopback (a waiting thread each), got {queue!r}")
    service = check_real("service", service, maximum=10.0)
    check_int("seed", seed, minimum=-(2**63))
    attempts = check_int("attempts", attempts, minimum=1)
    if attempts > MAX_ATTEMPTS:
        raise ValueError(f"attempts must be <= {MAX_ATTEMPTS}, got {attempts!r}")
    timeout = check_real("timeout", timeout, maximum=60.0)
    if rate <= 0 or timeout <= 0:
        raise ValueError(f"rate and timeout must be > 0, got rate={rate!r}, timeout={timeout!r}")
    if rate * duration > MAX_REQUESTS:
        raise ValueError(
            f"rate x duration must be at most {MAX_REQUESTS:,} requests on loopback (each keeps its outcome), "
            f"got {rate:g} x {duration:g} = {rate * duration:,.0f}"
        )
    if workers is None:  # enough for every request's tries in flight at once, so the load stays open-loop
        needed = math.ceil(1.5 * rate * timeout * attempts)
        if needed > MAX_WORKERS:
            raise ValueError(
                f"rate x timeout x attempts = {rate:g} x {timeout:g} x {attempts} would need {needed:,} client "
                f"threads to keep the load open-loop (1.5 x each try in flight), more than {MAX_WORKERS:,}: "
                "lower rate, timeout or attempts, or pass workers= (the load then closes when they are all busy)"
            )
        workers = max(16, needed)
    check_int("workers", workers, minimum=1)
    if workers > MAX_WORKERS:
        raise ValueError(f"workers must be <= {MAX_WORKERS:,} (a thread each), got {workers!r}")
    bin_s = check_real("bin_s", bin_s, maximum=duration)
    bins = bin_count(duration, bin_s)
    server = FlakyService(
        "server",
        latency=service,
        jitter=0.25 * service,
        capacity=capacity,
        queue=queue,
        drop_expired=control == "drop_expired",
        seed=seed,
    )
    with server:
        source = client_source(server.url, control, timeout=timeout, attempts=attempts, capacity=capacity)
        router = Router(source, workers=workers)
        timers = [
            threading.Timer(trigger_at, setattr, (server, "slowdown", slowdown)),
            threading.Timer(trigger_at + trigger, setattr, (server, "slowdown", 1.0)),
        ]
        start = clock()

        def begin() -> None:  # the run's clock and the trigger start with the clients, once their workers are up
            nonlocal start
            start = clock()
            for timer in timers:
                timer.daemon = True
                timer.start()

        try:
            report = paced(router, range(math.floor(rate * duration)), rate, on_start=begin)
        finally:
            for timer in timers:
                timer.cancel()
            server.slowdown = 1.0
        # the bins are counted once, from duration, for the clients' series and the server's alike
        side = server.timeline(start, start + duration, bin_s, bins=bins)
    settings = {
        "rate": rate,
        "capacity": capacity,
        "service": service,
        "queue": queue,
        "timeout": timeout,
        "attempts": attempts,
        "duration": duration,
        "trigger_at": trigger_at,
        "trigger": trigger,
        "slowdown": slowdown,
        "control": control,
        "seed": seed,
    }
    return _series(report, start, duration, bin_s, settings, side)


def _series(report: Report, start: float, duration: float, bin_s: float, settings: dict, side) -> SimResult:
    """Bin what the clients saw (answers, attempts sent, new requests) beside what the server saw (queue, late)."""
    bins = bin_count(duration, bin_s)
    if len(side) != bins:
        raise RuntimeError(f"internal error: the server's timeline has {len(side)} bins, the clients' {bins}")
    good, sent, first = [0.0] * bins, [0.0] * bins, [0.0] * bins
    latency: list[list[float]] = [[] for _ in range(bins)]

    def slot(when: float) -> int | None:
        i = int((when - start) / bin_s)
        return i if 0 <= i < bins else None

    for outcome in report:
        if (i := slot(outcome.queued_at)) is not None:
            first[i] += 1 / bin_s
        for attempt in outcome.attempts:
            if isinstance(attempt.error, (Throttled, LimitExceeded)):
                continue  # refused by the client itself: never sent
            if (i := slot(attempt.started_at)) is not None:
                sent[i] += 1 / bin_s
        if outcome.ok and (i := slot(outcome.finished_at)) is not None:
            good[i] += 1 / bin_s
            latency[i].append(outcome.finished_at - outcome.queued_at)
    result = SimResult(bin_s=bin_s, settings=settings)
    result.goodput, result.offered, result.first_tries = good, sent, first
    result.queue = list(side["queue"])
    result.wasted = list(side["late"])
    result.latency_p50 = [sorted(x)[len(x) // 2] if x else math.nan for x in latency]
    return result


# -- what notebook 10 says about a run, as claims (ella_lab.claims) ------------------------------------------


def served_share(run: SimResult, since: float = 4.0) -> float:
    """Goodput from ``since`` s on over the new requests sent then: the share of requests served.

    It can pass 1: the answers counted include a few requests sent just before ``since``.
    """
    late = run.frame().query("t >= @since")
    return float(late.goodput.sum() / late.first_tries.sum())


def healthy_goodput(run: SimResult, since: float = 0.2) -> float:
    """Mean goodput (/s) from ``since`` s to the trigger: the healthy system's, once the clients have started.

    The first 0.1 s bin can read low on a busy machine while the client threads start (50/s of 140 seen), so the
    mean starts after them.
    """
    frame = run.frame()
    return float(frame[(frame.t >= since) & (frame.t < run.settings["trigger_at"])].goodput.mean())


def goodput_stalls(run: SimResult, start: float, end: float) -> int:
    """How many times goodput fell to 0 for one bin or more from ``start`` to ``end`` s: the runs of zero bins."""
    bins = run.frame().query("@start <= t < @end").goodput
    return int(((bins == 0) & (bins.shift(fill_value=1) != 0)).sum())


class NotedAIMD(AIMD):
    """The library's ``AIMD`` that notes each decision: why the limit moved, read after a run.

    ``trace`` holds ``(ok, the limit before, the limit after)`` for every decision, in order; ``lowest`` and
    ``highest`` are the extremes of the limits it gave, ``decisions`` their count.
    """

    def __init__(self, initial: float = 10, **settings: float):
        super().__init__(initial, **settings)
        self.trace: list[tuple[bool, float, float]] = []
        self.lowest, self.highest = math.inf, 0.0

    @property
    def decisions(self) -> int:
        return len(self.trace)

    def update(self, limit: float, rtt: float, ok: bool, inflight: int) -> float:
        new = super().update(limit, rtt, ok, inflight)
        self.trace.append((ok, limit, new))
        self.lowest, self.highest = min(self.lowest, new), max(self.highest, new)
        return new


def limit_cuts(**scenario: Any) -> dict[str, float]:
    """The longest run of cuts in a row the concurrency limit's ``AIMD`` makes in notebook 10's seeded run.

    Runs ``simulate(control="limit", duration=6.0, **scenario)`` (section (d)'s run by default) with the
    simulation's own limit (``AIMD(2 x capacity, minimum=1, maximum=50 x capacity)``), noted. Returns ``cuts``
    (failed tries in a row), the limit ``before`` and ``after`` them, the ``lowest`` limit of the whole run and
    the ``decisions`` in all. Why the limit serves little during the trigger: unlike TCP, which cuts once per
    loss event, this rule cuts on every failed try, and timeouts come in waves.
    """
    if "control" in scenario or "limit" in scenario:
        raise ValueError(f"scenario must not set control or limit (limit_cuts runs the limit), got {sorted(scenario)}")
    capacity = scenario.get("capacity", 4)
    noted = NotedAIMD(2 * capacity, minimum=1, maximum=50 * capacity)
    simulate(control="limit", limit=noted, **({"duration": 6.0} | scenario))
    longest, before, after, run = 0, math.nan, math.nan, 0
    for number, (ok, _, _) in enumerate(noted.trace):
        run = 0 if ok else run + 1
        if run > longest:
            longest, before, after = run, noted.trace[number - run + 1][1], noted.trace[number][2]
    return {"cuts": longest, "before": before, "after": after, "lowest": noted.lowest, "decisions": noted.decisions}


def after_trigger_table(runs: Mapping[str, SimResult], *, rate: float):
    """Notebook 10's table, one row per run: the tries sent in the second after the trigger over the load
    ``rate``, the longest queue, and goodput (/s) once the server is healthy (from 1 s after the trigger's end),
    with its lowest bin."""
    import pandas as pd

    rate = check_real("rate", rate, minimum=0)
    if rate == 0:
        raise ValueError(f"rate must be above 0, got {rate!r}")
    rows = {}
    for name, run in runs.items():
        frame = run.frame()
        end = run.settings["trigger_at"] + run.settings["trigger"]
        first_second, healthy = frame[(frame.t >= end) & (frame.t < end + 1)], frame[frame.t >= end + 1]
        rows[name] = {
            f"tries / load, {end:g}-{end + 1:g} s": round(first_second.offered.mean() / rate, 2),
            "longest queue": max(run.queue),
            f"goodput from {end + 1:g} s": round(healthy.goodput.mean()),
            f"lowest {run.bin_s:g} s bin": round(healthy.goodput.min()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def collapse_claims(run: SimResult, *, rate: float, capacity: float) -> list[Claim]:
    """Notebook 10's claims about a run with no control: goodput about the load before the trigger (from 0.2 s,
    ``healthy_goodput``), still down 5 s after its end (the best one-second goodput under 20 % of ``capacity``),
    at 3 tries a request meanwhile."""
    frame = run.frame()
    end = run.settings["trigger_at"] + run.settings["trigger"]
    after = frame[(frame.t >= end) & (frame.t < end + 5.0)]
    tries = run.settings["attempts"]
    return [
        Claim(
            "before the trigger (from 0.2 s, once the clients run), goodput about the load",
            healthy_goodput(run),
            low=0.9 * rate,
            high=1.1 * rate,
            model=rate,
            unit="req/s",
        ),
        Claim(
            "down for 5 s after the trigger ended: goodput a small fraction of C",
            after.groupby(after.t // 1).goodput.mean().max(),
            high=0.2 * capacity,
            model=0,
            unit="req/s",
        ),
        Claim("no recovery in the 5 s after the trigger", recovery_time(run), low=5.0, unit="s"),
        Claim(
            f"{tries} tries a request once every try times out",
            after.offered.mean(),
            low=0.8 * tries * rate,
            high=1.1 * tries * rate,
            model=tries * rate,
            unit="req/s",
        ),
    ]


def cure_claims(control: str, run: SimResult, simulated: SimResult, *, rate: float) -> list[Claim]:
    """Notebook 10's claims about a run with ``control``, each beside the seeded ``simulated`` run's value.

    Every control recovers within the run (3 s after the trigger); the budget and the throttle within 2 s; the
    budget sends about 1.1 tries a request in the second after the trigger; the limit serves at least 80 % of
    the new requests once the server is healthy, and never lets the queue pass 40 of its 50 places.
    """
    end = run.settings["trigger_at"] + run.settings["trigger"]
    left = run.settings["duration"] - end
    simulated_recovery: float | None = recovery_time(simulated)
    if simulated_recovery == math.inf:  # a simulation that stayed down has no recovery time to show
        simulated_recovery = None
    claims = [
        Claim(
            f"{control}: it recovers, as the simulation says",
            recovery_time(run),
            high=left,
            model=simulated_recovery,
            unit="s",
        )
    ]
    if control in ("budget", "throttle"):
        claims.append(
            Claim(
                f"{control}: back above 90 % of the load within 2 s of the trigger's end",
                recovery_time(run),
                high=2.0,
                model=simulated_recovery,
            )
        )
    if control == "budget":

        def load(result: SimResult) -> float:
            frame = result.frame()
            return float(frame[(frame.t >= end) & (frame.t < end + 1)].offered.mean() / rate)

        claims.append(
            Claim(
                "budget: in the second after the trigger, tries near 1.1 x the load",
                load(run),
                low=0.9,
                high=1.35,
                model=load(simulated),
                unit="x",
            )
        )
    if control == "limit":
        claims += [
            Claim(
                "the limit serves most new requests once the server is healthy",
                served_share(run, end + 1.0),
                low=0.8,
                model=served_share(simulated, end + 1.0),
                unit="%",
            ),
            Claim(
                "the limit keeps the queue short: never above 40 of its 50 places",
                max(run.queue),
                high=40,
                model=max(simulated.queue),
                unit="",
            ),
        ]
    return claims


def hedge_claims(pair: Sequence[Mapping[str, float]]) -> list[Claim]:
    """Notebook 10's sentences about ``bench.hedge_budget()``'s pair (no hedge, hedged at p95 within 5 %).

    The source's calls take 10 ± 5 ms (uniform), 2 % of them 30 times that (150 to 450 ms). A hedge goes out
    only for a call still running after d, the p95 learned from measured latencies, which include each
    call's wake-up and the router's own work: d sits near 15 ms, so only the tail and the few
    jittered calls that outlast d are hedged: a few per cent, at least the 2 % tail, under the 5 % cap.
    """
    if len(pair) != 2:
        raise ValueError(f"pair must be (no hedge, hedged), got {len(pair)} rows")
    base, hedged = pair
    return [
        Claim(
            "hedging at p95 within 5 % cuts the p99 at least threefold (the tail is 150 to 450 ms, the hedged p99 "
            "tens of ms)",
            base["p99_s"] / hedged["p99_s"],
            low=3,
            model=10,
            unit="x",
        ),
        Claim(
            "hedging at p95 sends fewer than 5 % extra calls, at least the 2 % tail: the calls that outlast d",
            hedged["extra"],
            low=0.015,
            high=0.05,
            model=0.03,
            unit="%",
        ),
    ]


def measure_cure(
    control: str,
    simulated: SimResult,
    *,
    rate: float,
    duration: float = 6.0,
    tries: int = 2,
    first: SimResult | None = None,
) -> SimResult:
    """One real run of the scenario with ``control`` (``run_loopback``), checked by ``cure_claims`` as it ends.

    ``simulated`` is the seeded run of the same control, whose values the claims show beside the measured
    ones. A run that misses a claim is measured again, ``tries`` runs in all (``ella_lab.claims.measure``);
    ``first``, a run already made elsewhere (``measure_cures``), is judged as the first of them.
    """
    if control not in CONTROLS or control == "none":
        raise ValueError(f"control must be one of the cures {[c for c in CONTROLS if c != 'none']}, got {control!r}")
    tries = check_int("tries", tries, minimum=1)
    if first is not None and not isinstance(first, SimResult):
        raise TypeError(f"first must be a SimResult from run_loopback, got {type(first).__name__}")
    made = [first] if first is not None else []

    def run() -> SimResult:
        return made.pop() if made else run_loopback(control, rate=rate, duration=duration)

    return measure(run, lambda result: cure_claims(control, result, simulated, rate=rate), tries=tries)


def measure_cures(
    simulated: Mapping[str, SimResult],
    *,
    rate: float,
    duration: float = 6.0,
    tries: int = 2,
    side_by_side: int = 2,
) -> dict[str, SimResult]:
    """``measure_cure`` for every control in ``simulated``, ``side_by_side`` first runs at a time.

    Each first run goes in its own process, with its own server and clients: the runs share only the cores
    (one takes about 0.3 of a core), so two at a time halve the wait. A run that misses a claim is measured
    again here, alone. Where processes cannot start, every run is made here, one after the other.

    A run measured again makes Run All longer on a busy machine. If a measured goodput line dips for a moment
    after its run has recovered while the simulation's band stays flat, look at the tries sent under it: when
    they fall too and then jump above the load, this process got little CPU for a moment, and a control that
    reacts to timeouts (the limit) may then refuse requests for a moment. The simulation, which no stall can
    hold up, does not dip.
    """
    controls = list(simulated)
    for control in controls:
        if control not in CONTROLS or control == "none":
            raise ValueError(
                f"simulated must name cures only {[c for c in CONTROLS if c != 'none']}, got {control!r}"
            )
    rate = check_real("rate", rate, maximum=2000.0)
    duration = check_real("duration", duration, maximum=600.0)
    side_by_side = check_int("side_by_side", side_by_side, minimum=1)
    firsts = _first_runs(controls, rate=rate, duration=duration, side_by_side=side_by_side)
    return {
        c: measure_cure(c, simulated[c], rate=rate, duration=duration, tries=tries, first=firsts.get(c))
        for c in controls
    }


def _first_runs(controls: list[str], *, rate: float, duration: float, side_by_side: int) -> dict[str, SimResult]:
    """One ``run_loopback`` per control, ``side_by_side`` processes at a time; {} if the processes fail.

    The wait is bounded (every run ends by its duration, plus start-up); the pool's processes are
    terminated on the way out, a Ctrl-C included.
    """
    if side_by_side == 1 or len(controls) < 2:
        return {}
    import functools
    import logging

    from .backends import _process_context

    waves = math.ceil(len(controls) / side_by_side)
    bound = waves * (duration + 30.0) + 60.0  # each run: its duration, its clients' last timeouts; then start-up
    try:
        with _process_context().Pool(min(side_by_side, len(controls))) as pool:
            runs = pool.map_async(functools.partial(run_loopback, rate=rate, duration=duration), controls, chunksize=1)
            return dict(zip(controls, runs.get(timeout=bound), strict=True))
    except Exception as exc:  # no processes here (a sandbox, a broken pool, a stalled run): run them here instead
        logging.getLogger(__name__).warning("runs side by side failed (%r): running them one after the other", exc)
        return {}


def cure_table(real: dict[str, SimResult], simulated: dict[str, SimResult], *, since: float = 4.0):
    """Notebook 10's table: for each control, the recovery time and the share served from ``since`` s on,
    measured and simulated side by side (recovery as ``format_recovery`` prints it, shares to 3 decimals)."""
    import pandas as pd

    if set(real) != set(simulated):
        raise ValueError(f"real and simulated must name the same controls, got {sorted(real)} and {sorted(simulated)}")
    rows = {
        control: {
            "recovery, measured": format_recovery(recovery_time(real[control])),
            "recovery, simulated": format_recovery(recovery_time(simulated[control])),
            f"served from t = {since:g} s, measured": round(served_share(real[control], since), 3),
            f"served from t = {since:g} s, simulated": round(served_share(simulated[control], since), 3),
        }
        for control in real
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_cures(
    real: Mapping[str, SimResult], simulated: Mapping[str, SimResult], *, rate: float, title: str = ""
) -> Figure:
    """Small multiples of the cures: one column per control, rows goodput, tries sent and the server's queue.

    Each panel draws the measured run (a black line) over the seeded simulation (a wide light blue band, as
    ``plots.plot_overload`` draws them), so neither hides another control's line; the trigger (from the first
    run's settings) is shaded, the offered load ``rate`` is dashed on the goodput row, every row starts at 0,
    and one legend sits below the panels, clear of the curves. ``real`` and ``simulated`` name the same
    controls, in the order drawn.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .plots import MEASURED_LINE, SIMULATED_BAND  # plot_overload's convention: one reading for both figures

    rate = check_real("rate", rate, minimum=0)
    if not real or set(real) != set(simulated):
        raise ValueError(f"real and simulated must name the same controls, got {sorted(real)} and {sorted(simulated)}")
    rows = [("goodput", "goodput (/s, in time)"), ("offered", "tries sent (/s)"), ("queue", "longest server queue")]
    fig, axes = plt.subplots(len(rows), len(real), figsize=(2.9 * len(real), 6.4), sharex=True, sharey="row",
                             squeeze=False)  # fmt: skip
    settings = next(iter(real.values())).settings
    trigger = (settings["trigger_at"], settings["trigger_at"] + settings["trigger"])
    for column, control in enumerate(real):
        measured, model = real[control].frame(), simulated[control].frame()
        for row, (series, label) in enumerate(rows):
            ax = axes[row][column]
            ax.axvspan(*trigger, color="orange", alpha=0.15)
            ax.plot(model.t, model[series], **SIMULATED_BAND)
            ax.plot(measured.t, measured[series], **MEASURED_LINE)
            if series == "goodput":
                ax.axhline(rate, color="0.3", lw=0.8, ls="--")
            ax.grid(True, alpha=0.3)
            if column == 0:
                ax.set_ylabel(label)
        axes[0][column].set_title(control)
        axes[-1][column].set_xlabel("time (s)")
    for ax in axes.flat:  # counts and rates, read from 0 as in plot_overload; after all lines, so no top is cut
        ax.set_ylim(bottom=0)
    handles = [
        Line2D([], [], label="measured on loopback (this machine)", **MEASURED_LINE),
        Line2D([], [], label="simulated (seeded, exact)", **SIMULATED_BAND),
        Line2D([], [], color="0.3", lw=0.8, ls="--", label=f"offered load ({rate:g}/s)"),
        Patch(color="orange", alpha=0.15, label="the trigger"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize="small", frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
