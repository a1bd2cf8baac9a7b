"""Seeded experiments: build a scenario, run it, sweep a grid of settings into a tidy DataFrame."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice, product
from typing import TYPE_CHECKING, Any

from ._checks import check_int, check_real
from ._shown import shown
from .claims import Claim, _cores
from .fallback import FallbackChain
from .outcome import Report, quantile
from .retry import Retry
from .router import Router
from .sources import SimulatedSource, Source, collect_counters, counters_since
from .timing import clock, format_seconds

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "cpu_costs", "idle_core_seconds", "last_taken", "make_source", "makespan_claims", "paced", "request_ids",
    "round_claims", "round_model", "run_once", "spare_core_note", "sweep", "time_run", "time_runs", "usable_cores",
]  # fmt: skip

LOW_SLACK = 0.98  # a floor 2 % below the exact model: a margin for a sleep timer and a clock that tick apart


def request_ids(n: int, prefix: str = "DataRequest") -> list[str]:
    """The guide's request names: ``DataRequest-0`` ... ``DataRequest-{n-1}``."""
    check_int("n", n)
    return [f"{prefix}-{i}" for i in range(n)]


def round_model(n: int, workers: int, latency: float) -> dict[str, float]:
    """The exact model of ``n`` requests of ``latency`` s on ``workers`` workers, all queued at once.

    Request ``i`` is answered at the end of round ``i // workers + 1``, so its latency is that many
    ``latency``. Returns the keys of ``Report.summary()``: ``p50_s``, ``p95_s``, ``p99_s`` (numpy's default
    rule, as the report), ``ideal_rps`` (Little's law: ``workers / latency``), ``throughput_rps`` (``n`` over
    the makespan) and ``wall_s`` (the makespan ``⌈n/workers⌉ · latency``). Reads no clock.
    """
    check_int("n", n, minimum=1)
    check_int("workers", workers, minimum=1)
    latency = check_real("latency", latency)
    if latency <= 0:
        raise ValueError(f"latency must be > 0, got {latency!r}")
    latencies = [(i // workers + 1) * latency for i in range(n)]
    wall = math.ceil(n / workers) * latency
    return {
        "p50_s": quantile(latencies, 0.50),
        "p95_s": quantile(latencies, 0.95),
        "p99_s": quantile(latencies, 0.99),
        "ideal_rps": workers / latency,
        "throughput_rps": n / wall,
        "wall_s": wall,
    }


def round_claims(measured: Mapping[str, float], n: int, workers: int, latency: float) -> list[Claim]:
    """A run's percentiles and ideal throughput against :func:`round_model` (notebook 01).

    ``measured`` is a ``Report.summary()``. Each percentile lies within half a round of its model, its top
    widened by one late wake-up for each round it spans; the ideal throughput (from the mean service time)
    within 20 % of ``workers / latency``.
    """
    model = round_model(n, workers, latency)
    claims = []
    for name in ("p50", "p95", "p99"):
        rounds = model[f"{name}_s"] / latency
        claims.append(
            Claim(
                f"{name} is {rounds:.3g} rounds of L, within half a round",
                measured[f"{name}_s"],
                low=(rounds - 0.5) * latency,
                high=(rounds + 0.5) * latency,
                model=model[f"{name}_s"],
                late=math.ceil(rounds),
            )
        )
    ideal = model["ideal_rps"]
    claims.append(
        Claim(
            f"the ideal throughput is {workers} workers / L, within 20 %",
            measured["ideal_rps"],
            low=0.8 * ideal,
            high=1.2 * ideal,
            model=ideal,
            unit="req/s",
        )
    )
    return claims


def run_claims(measured: Mapping[str, float], n: int, workers: int, latency: float) -> list[Claim]:
    """A run against :func:`round_model` (notebook 01): its throughput's share of the ideal, then :func:`round_claims`.

    ``n`` requests on ``workers`` workers fill ``⌈n/workers⌉ · workers`` worker-rounds, ``n`` of them busy: the
    share is ``n`` of those, within one worker-round either side (10 of 12, from 9 to 11 of 12).
    """
    check_int("n", n, minimum=1)
    check_int("workers", workers, minimum=1)
    slots = math.ceil(n / workers) * workers
    share = Claim(
        f"throughput: {n} of {slots} of the ideal, within one worker-round",
        measured["throughput_rps"] / measured["ideal_rps"],
        low=(n - 1) / slots,
        high=min(n + 1, slots) / slots,
        model=n / slots,
        unit="%",
    )
    return [share, *round_claims(measured, n, workers, latency)]


_RUN_ROWS = {
    "p50_s": "p50",
    "p95_s": "p95",
    "p99_s": "p99",
    "ideal_rps": "ideal throughput",
    "throughput_rps": "throughput",
}


def model_vs_run(model: Mapping[str, float], measured: Mapping[str, float]) -> pd.DataFrame:
    """The model's percentiles and throughputs beside a run's (notebook 01): times as "101 ms", rates in req/s.

    ``model`` is :func:`round_model`'s, ``measured`` a ``Report.summary()``; a row for each of p50, p95, p99, the
    ideal throughput and the throughput.
    """
    import pandas as pd

    def cell(key: str, value: float) -> str:
        return f"{value:.1f} req/s" if key.endswith("_rps") else format_seconds(value)

    return pd.DataFrame(
        {
            column: {label: cell(key, values[key]) for key, label in _RUN_ROWS.items()}
            for column, values in (("model (exact)", model), ("this machine", measured))
        }
    )


def last_taken(report: Report) -> float:
    """When a worker took the last request off the queue, in seconds since the run started."""
    return max(o.started_at for o in report) - report.started_at


def makespan_claims(report: Report, latency: float) -> list[Claim]:
    """A run of N requests on K workers against the makespan model ``⌈N/K⌉ · L`` (notebook 01).

    Two claims: the run's wall time lies between the model (less a hair, see ``LOW_SLACK``) and 1.5 times
    it, one late wake-up allowed for each round; and the last request leaves the queue after
    ``⌈N/K⌉ − 1`` rounds, within half a round.
    """
    n, k = len(report), report.workers
    model = round_model(n, k, latency)["wall_s"]
    rounds = math.ceil(n / k)
    who = "1 worker" if k == 1 else f"{k} workers"
    return [
        Claim(f"{who}: {n} requests take ⌈{n}/{k}⌉ = {rounds} rounds of L", report.wall_s,
              low=LOW_SLACK * model, high=1.5 * model, model=model, late=rounds),
        Claim(f"{who}: the last request leaves the queue after {rounds - 1} rounds of L", last_taken(report),
              low=(rounds - 1.5) * latency, high=(rounds - 0.5) * latency, model=(rounds - 1) * latency,
              late=rounds - 1),
    ]  # fmt: skip


def make_source(
    chain: int = 1,
    *,
    latency: float = 0.01,
    failure_rate: float = 0.0,
    jitter: float = 0.0,
    seed: int = 0,
    retry: Retry | None = None,
    timeout: float | None = None,
    correlated: bool = False,
) -> Source:
    """A ``primary`` source, backed by ``chain - 1`` backups (``backup-1``, ...) of the same kind.

    With ``correlated=True`` every source fails on the same requests (one shared outage), so
    backups stop helping; by default each source fails independently.
    """
    check_int("chain", chain, minimum=1)
    names = ["primary"] + [f"backup-{i}" for i in range(1, chain)]
    sources = [
        SimulatedSource(
            name,
            latency=latency,
            failure_rate=failure_rate,
            jitter=jitter,
            seed=seed,
            failure_group="shared" if correlated else None,
        )
        for name in names
    ]
    if chain == 1 and retry is None and timeout is None:
        return sources[0]
    return FallbackChain(sources, retry=retry, timeout=timeout)


def run_once(
    *, workers: int = 3, requests: int = 100, executor: str = "threads", client: Any = None, **scenario: Any
) -> Report:
    """Route ``requests`` guide-style requests through ``make_source(**scenario)`` on ``workers`` workers."""
    router = Router(make_source(**scenario), workers=workers, executor=executor, client=client)
    return router.run(request_ids(requests))


def paced(
    router: Router,
    requests: Sequence[Any],
    rate: float,
    *,
    timeout: float = 60.0,
    on_start: Callable[[], Any] | None = None,
) -> Report:
    """Submit ``requests`` to ``router`` at a steady ``rate`` per second (an open-loop load), as
    clients would, rather than all at once; wait for every answer (at most ``timeout`` s each).

    Uses the router's ``submit()`` workers and closes the router at the end. The schedule starts once the
    workers are up (request i is due ``i / rate`` s after that, which is the report's ``started_at``):
    started before them, every request due while they came up would go out in one burst. ``on_start()``,
    if given, is called at that moment, before the first request: to start a scripted event's clock
    (an outage, a timer) with the clients rather than with the threads.
    """
    rate = check_real("rate", rate)
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate!r}")
    if on_start is not None and not callable(on_start):
        raise TypeError(f"on_start must be a callable or None, got {on_start!r}")
    counted = collect_counters(router.source)
    with router:  # starts the workers, and returns once each thread is running
        if on_start is not None:
            on_start()
        started = next_at = clock()
        futures = []
        for request in requests:
            ahead = next_at - clock()
            if ahead > 0:
                time.sleep(ahead)
            futures.append(router.submit(request))
            next_at += 1.0 / rate
        outcomes = [future.result(timeout=timeout) for future in futures]
    counts = counters_since(router.source, counted)
    return Report(outcomes, workers=router.workers, started_at=started, finished_at=clock(), counters=counts)


MAX_AXIS = 1000  # values on one sweep axis: more is a mistake (range(10**9) would be built before any check)


def _grid(name: str, values: Any) -> list:
    """A sweep axis: one value or a non-empty list of at most ``MAX_AXIS`` values (read no further)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name}: expected a number or a list of numbers, got {values!r}")
    axis = list(islice(values, MAX_AXIS + 1)) if isinstance(values, Iterable) else [values]
    if not axis:
        raise ValueError(f"{name} must name at least one value, got {values!r}")
    if len(axis) > MAX_AXIS:
        raise ValueError(f"{name} must name at most {MAX_AXIS} values, got more ({shown(values)})")
    return axis


def sweep(
    *,
    workers: int | Iterable[int] = (3,),
    failure_rate: float | Iterable[float] = (0.0,),
    chain: int | Iterable[int] = (1,),
    requests: int = 200,
    requests_per_worker: int | None = None,
    latency: float = 0.01,
    jitter: float = 0.0,
    retry: Retry | None = None,
    timeout: float | None = None,
    correlated: bool = False,
    repeats: int = 1,
    seed: int = 0,
    progress: bool = True,
    executor: str = "threads",
    client: Any = None,
) -> pd.DataFrame:
    """Run every combination of ``workers`` × ``failure_rate`` × ``chain`` (× ``repeats``); each is a value or a list.

    ``requests_per_worker`` (instead of ``requests``) gives every run the same number of rounds.
    Returns one row per run: the settings, ``Report.summary()``, the success rate, ``cpu_s`` (this process's CPU
    time during the run, every thread of it, from ``time.process_time()``; not another process's, such as a
    ``dask`` worker's), and the two models the notebooks compare against: ``model_rps = workers / latency``
    (Little's law) and ``model_success = 1 - failure_rate ** chain`` (independent sources, one attempt each).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    check_int("repeats", repeats, minimum=1)
    if requests_per_worker is not None:
        check_int("requests_per_worker", requests_per_worker, minimum=1)
    check_int("requests", requests)
    axes = _grid("workers", workers), _grid("failure_rate", failure_rate), _grid("chain", chain)
    for k, p, length in product(*axes):  # every setting checked before the first run starts
        source = make_source(length, latency=latency, failure_rate=p, jitter=jitter, retry=retry, timeout=timeout)
        Router(source, workers=k, executor=executor, client=client)
    grid = list(product(*axes, range(repeats)))
    rows = []
    for k, p, length, repeat in tqdm(grid, desc="sweep", disable=not progress, leave=False):
        n = requests if requests_per_worker is None else requests_per_worker * k
        cpu_started = time.process_time()
        report = run_once(
            workers=k,
            requests=n,
            chain=length,
            latency=latency,
            failure_rate=p,
            jitter=jitter,
            seed=seed + repeat,
            retry=retry,
            timeout=timeout,
            correlated=correlated,
            executor=executor,
            client=client,
        )
        cpu_s = time.process_time() - cpu_started
        summary = report.summary()
        rows.append(
            {
                "executor": executor,
                "workers": k,
                "failure_rate": p,
                "chain": length,
                "repeat": repeat,
                "latency_s": latency,
                **summary,
                "success_rate": summary["succeeded"] / n if n else 1.0,
                "cpu_s": cpu_s,
                "model_rps": k / latency if latency else float("inf"),
                "model_success": 1.0 - p**length,
            }
        )
    return pd.DataFrame(rows)


# -- notebook 08: the GIL lesson and the CPU cost of waits -------------------------------------------------


def usable_cores() -> float:
    """The cores this process may use: its CPU affinity set, capped by a cgroup CPU quota (``docker --cpus``).

    ``os.cpu_count()`` counts the machine's cores, even those a container or an affinity mask keeps from this
    process; a quota limits CPU time, not cores, so neither ``os.sched_getaffinity`` nor Python 3.13's
    ``os.process_cpu_count()`` shows it. Under ``--cpus=1.5`` this is 1.5.
    """
    return _cores()


def idle_core_seconds() -> float:
    """The operating system's idle time so far, in core-seconds, summed over the CPUs this process may run on
    (its affinity set), not over every CPU of the host: idle cores elsewhere cannot serve it."""
    import psutil

    per_cpu = psutil.cpu_times(percpu=True)
    try:
        mine: Iterable[int] = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not on Linux: every CPU
        mine = range(len(per_cpu))
    return sum(per_cpu[i].idle for i in mine if i < len(per_cpu))


def time_run(source: Source, executor: str, workers: int, requests: Iterable[Any]) -> dict[str, float]:
    """One run of ``requests`` on ``Router(source, workers, executor)``: ``wall_s``; ``cores used here``, this
    process's CPU time (every thread of it, no other process) over the wall time; and ``idle cores``, the idle
    time of the CPUs it may use over the wall time, at most the room its cores (a quota included) leave it."""
    cores = usable_cores()
    router = Router(source, workers=workers, executor=executor)
    requests = list(requests)
    started, cpu_started, idle_started = clock(), time.process_time(), idle_core_seconds()
    router.run(requests)
    wall = clock() - started
    here = (time.process_time() - cpu_started) / wall
    idle = (idle_core_seconds() - idle_started) / wall
    return {"wall_s": wall, "cores used here": here, "idle cores": max(0.0, min(idle, cores - here))}


def time_runs(
    source: Source,
    configs: Sequence[tuple[str, int]],
    requests: Iterable[Any],
    rounds: int = 2,
    warm_up: bool = True,
) -> pd.DataFrame:
    """Each ``(executor, workers)`` of ``configs`` serves ``requests`` in turn, ``rounds`` times (a burst of other
    work then slows one run of each, not every run of one); one row per configuration, in order, its fastest run
    (see :func:`time_run` for the columns). With ``warm_up``, every configuration not on threads first serves
    ``workers`` requests untimed: the first use of processes starts a fork server, kept for later runs."""
    import pandas as pd

    check_int("rounds", rounds, minimum=1)
    if not configs:
        raise ValueError(f"configs must name at least one (executor, workers), got {configs!r}")
    requests = list(requests)
    runs: dict[tuple[str, int], list[dict[str, float]]] = {(e, w): [] for e, w in configs}
    for executor, workers in runs if warm_up else ():
        if executor != "threads":
            Router(source, workers=workers, executor=executor).run(requests[:workers])
    for _ in range(rounds):
        for executor, workers in runs:
            runs[(executor, workers)].append(time_run(source, executor, workers, requests))
    fastest = ({"executor": e, "workers": w, **min(r, key=lambda run: run["wall_s"])} for (e, w), r in runs.items())
    return pd.DataFrame(list(fastest))


def spare_core_note(idle: float, cores: float, processes: float | None = None, threads: float | None = None) -> str:
    """What the GIL experiment's run can show: ``idle`` cores while one thread ran (over 0.5: a core to spare), and
    the speed-ups over one thread of two ``processes`` and two ``threads``. Two processes 1.3× faster or more got
    more CPU than the one thread did, whatever the idle count said; without that evidence, two threads stay near
    one core whether or not there is a GIL."""
    if cores < 2:
        return f"{cores:g} core{'s' if cores != 1 else ''}: two threads could not keep two cores busy, GIL or not"
    if processes is not None and processes >= 1.3:
        shown = f"two processes ran {processes:.2f}× faster than one thread: they got more CPU than it did"
        if threads is None:
            return shown
        if threads < 1.3:
            return f"{shown}, and two threads ({threads:.2f}×) did not: the GIL"
        return f"{shown}, and so did two threads ({threads:.2f}×): no GIL held them"
    if idle > 0.5:
        return "a core to spare: a second process could use it, and so could a second thread but for the GIL"
    return "no core to spare, and the processes gained little: this run cannot tell the GIL from a busy machine"


def cpu_costs(cpu: pd.DataFrame, latency: float) -> pd.DataFrame:
    """From CPU seconds per request (index K, columns ``threads`` and ``asyncio``): a thread's CPU over a
    coroutine's, and the cores each engine needs to keep up with the ideal K / L requests a second."""
    import pandas as pd

    if check_real("latency", latency) == 0:
        raise ValueError(f"latency must be above 0 (requests a second = K / latency), got {latency!r}")
    needed = cpu.mul(cpu.index.to_numpy() / latency, axis=0)
    return pd.DataFrame(
        {"threads / asyncio CPU": cpu.threads / cpu.asyncio, "threads cores": needed.threads,
         "asyncio cores": needed.asyncio}
    )  # fmt: skip
