"""Seeded experiments: build a scenario, run it, sweep a grid of settings into a tidy DataFrame."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice, product
from typing import TYPE_CHECKING, Any

from ._checks import check_int, check_real
from ._shown import shown
from .claims import Claim
from .fallback import FallbackChain
from .outcome import Report, quantile
from .retry import Retry
from .router import Router
from .sources import SimulatedSource, Source, collect_counters, counters_since
from .timing import clock

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "last_taken", "make_source", "makespan_claims", "paced", "request_ids", "round_claims", "round_model", "run_once",
    "sweep",
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
    Returns one row per run: the settings, ``Report.summary()``, the success rate, and the two
    models the notebooks compare against: ``model_rps = workers / latency`` (Little's law) and
    ``model_success = 1 - failure_rate ** chain`` (independent sources, one attempt each).
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
                "model_rps": k / latency if latency else float("inf"),
                "model_success": 1.0 - p**length,
            }
        )
    return pd.DataFrame(rows)
