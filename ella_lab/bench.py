"""Benchmark kernels shared by ``benchmarks/run.py`` and notebook 06: the Router against its peers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .guide import run_guide_router
from .router import Router
from .sources import CpuSource, SimulatedSource

__all__ = [
    "cpu_bound",
    "dispatch",
    "efficiency_by_backend",
    "guide_scenario",
    "local_client",
    "overhead_by_backend",
    "sleep_bound",
]


def identity(request):
    return request


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dispatch(n: int, workers: int, repeats: int) -> list[dict]:
    """Cost per request of zero-latency requests: plain loop, ThreadPoolExecutor.map, Router.run (best of repeats)."""
    requests = list(range(n))

    def loop():
        [identity(r) for r in requests]

    def pool():
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(identity, requests))

    def router():
        Router(identity, workers=workers).run(requests)

    rows = []
    for name, fn in (("plain loop", loop), ("ThreadPoolExecutor.map", pool), ("Router.run", router)):
        best = min(timed(fn) for _ in range(repeats))
        rows.append({"bench": "dispatch", "peer": name, "workers": workers, "n": n, "per_request_s": best / n})
    return rows


def sleep_bound(
    latency: float, ks: list[int], per_worker: int, repeats: int, progress: Callable[[list[dict]], None] | None = None
) -> list[dict]:
    """Efficiency, throughput / (K / L), of sleep-bound requests: N = per_worker · K (median of repeats)."""

    def nap(request):
        time.sleep(latency)
        return request

    rows = []
    for k in ks:
        n = per_worker * k
        requests = list(range(n))

        def pool(k=k, requests=requests):
            with ThreadPoolExecutor(k) as ex:
                list(ex.map(nap, requests))

        def router(k=k, requests=requests):
            Router(nap, workers=k).run(requests)

        for name, fn in (("ThreadPoolExecutor.map", pool), ("Router.run", router)):
            walls = [timed(fn) for _ in range(repeats)]
            wall = statistics.median(walls)
            rows.append(
                {
                    "bench": "sleep-bound",
                    "peer": name,
                    "workers": k,
                    "n": n,
                    "latency_s": latency,
                    "wall_s": wall,
                    "efficiency": (n / wall) / (k / latency),
                }
            )
        if progress:
            progress(rows[-2:])
    return rows


def guide_scenario(latency: float = 0.5, idle_timeout: float = 2.0) -> list[dict]:
    """The guide's 10 requests on 3 workers (0.5 s each): the floor, the Router and the guide's own design."""
    report = Router(SimulatedSource("source", latency=latency), workers=3).run([f"DataRequest-{i}" for i in range(10)])
    guide = run_guide_router(3, 10, latency=latency, idle_timeout=idle_timeout)
    return [
        {"bench": "guide scenario", "peer": "floor ceil(10/3) x latency", "wall_s": 4 * latency},
        {"bench": "guide scenario", "peer": "Router.run", "wall_s": report.wall_s},
        {"bench": "guide scenario", "peer": "guide's design", "wall_s": guide.wall_s},
    ]


# -- across backends (issue: beyond one thread pool) -------------------------------------------------


def _gather(source: SimulatedSource, requests: list, limit: int) -> None:
    """asyncio.gather of every request, at most ``limit`` at a time (the plain-asyncio peer)."""
    import asyncio

    async def main() -> None:
        gate = asyncio.Semaphore(limit)

        async def one(request):
            async with gate:
                return await source.afetch(request)

        await asyncio.gather(*(one(r) for r in requests))

    asyncio.run(main())


def local_client(workers: int = 2, threads: int = 16):
    """A LocalCluster on loopback and its Client (the caller closes both): the Dask peers share it."""
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, host="127.0.0.1", dashboard_address=None)
    return cluster, Client(cluster)


def overhead_by_backend(n: int, repeats: int, client: Any) -> list[dict]:
    """Cost per request at zero latency for each backend and its plain peer (best of repeats)."""
    source = SimulatedSource("zero", latency=0.0)
    requests = list(range(n))

    def pool():
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(source.fetch, requests))

    def client_map():  # one task per request; fewer requests, it is slow
        client.gather(client.map(source.fetch, requests[: n // 10], pure=False))

    peers = [
        ("threads", "Router.run", lambda: Router(source, workers=4).run(requests), n),
        ("threads", "ThreadPoolExecutor.map", pool, n),
        ("asyncio", "Router.run", lambda: Router(source, workers=64, executor="asyncio").run(requests), n),
        ("asyncio", "asyncio.gather", lambda: _gather(source, requests, 64), n),
        ("processes", "Router.run", lambda: Router(source, workers=2, executor="processes").run(requests), n),
        ("dask", "Router.run", lambda: Router(source, workers=32, executor="dask", client=client).run(requests), n),
        ("dask", "client.map", client_map, n // 10),
    ]
    return [
        {
            "bench": "overhead",
            "backend": backend,
            "peer": peer,
            "n": count,
            "per_request_s": min(timed(fn) for _ in range(repeats)) / count,
        }
        for backend, peer, fn, count in peers
    ]


def efficiency_by_backend(latency: float, ks: list[int], per_worker: int, repeats: int, client: Any) -> list[dict]:
    """Sleep-bound efficiency, throughput / (K / L), per backend and peer (median of repeats)."""
    source = SimulatedSource("sleep", latency=latency)
    rows = []
    for k in ks:
        requests = list(range(per_worker * k))

        def pool(k=k, requests=requests):
            with ThreadPoolExecutor(k) as ex:
                list(ex.map(source.fetch, requests))

        peers = [
            ("threads", "Router.run", lambda k=k, r=requests: Router(source, workers=k).run(r)),
            ("threads", "ThreadPoolExecutor.map", pool),
            ("asyncio", "Router.run", lambda k=k, r=requests: Router(source, workers=k, executor="asyncio").run(r)),
            ("asyncio", "asyncio.gather", lambda k=k, r=requests: _gather(source, r, k)),
            (
                "dask",
                "Router.run",
                lambda k=k, r=requests: Router(source, workers=k, executor="dask", client=client).run(r),
            ),
        ]
        for backend, peer, fn in peers:
            wall = statistics.median(timed(fn) for _ in range(repeats))
            rows.append(
                {
                    "bench": "efficiency",
                    "backend": backend,
                    "peer": peer,
                    "workers": k,
                    "n": len(requests),
                    "wall_s": wall,
                    "efficiency": len(requests) / wall / (k / latency),
                }
            )
    return rows


def cpu_bound(work: int, n: int, repeats: int) -> list[dict]:
    """CPU-bound requests (``CpuSource``) on 2 workers: threads (one GIL) vs processes (best of repeats)."""
    source = CpuSource("cpu", work=work)
    requests = list(range(n))
    peers = [
        ("threads", lambda: Router(source, workers=2).run(requests)),
        ("processes", lambda: Router(source, workers=2, executor="processes").run(requests)),
    ]
    return [
        {"bench": "cpu", "backend": backend, "n": n, "work": work, "wall_s": min(timed(fn) for _ in range(repeats))}
        for backend, fn in peers
    ]


def recovery(
    controls: tuple[str, ...] = ("none", "budget", "throttle", "limit", "drop_expired"), *, loopback: bool = True
) -> list[dict]:
    """Recovery time after the overload trigger of notebook 10, per control: simulated, and measured on loopback."""
    from .metastable import run_loopback
    from .sim import recovery_time, simulate

    rows = []
    for control in controls:
        duration = 8.0
        row = {
            "bench": "recovery",
            "peer": control,
            "simulated_s": recovery_time(simulate(control=control, duration=duration, trigger_at=1.0)),
        }
        if loopback:
            row["measured_s"] = recovery_time(run_loopback(control, duration=duration))
        rows.append(row)
    return rows


def hedge_budget(n: int = 2000, workers: int = 16, max_extra: float = 0.05) -> list[dict]:
    """Hedging at p95 within ``max_extra`` on a heavy tail (2 % of calls 30x slower): p99 and extra calls.

    The hedged row also gives ``after_s``, d, the p95 the hedge waited for at the end of its run (it starts at
    the baseline's p95 and learns from the hedged run's own latencies): what decides how many calls are hedged;
    ``refused``, the second calls the cap refused (its bucket empty), per request; and what makes up its p99:
    ``slowest``, the slowest 1 % of the requests, and ``slowest_hedged``, how many of them had a second call
    (the others waited for their one call: a tail call whose second call was refused, or a late wake-up).
    """
    from .outcome import quantile
    from .resilience import Hedge
    from .sources import SimulatedSource

    source = SimulatedSource("s", latency=0.010, jitter=0.005, tail_rate=0.02, tail_factor=30, seed=1)
    base = Router(source, workers=workers).run(range(n))
    latencies = sorted(o.finished_at - o.started_at for o in base)
    hedge = Hedge(source, after="p95", max_extra=max_extra)
    hedge.threshold.calibrate(latencies)  # start warm: the threshold is the baseline's p95
    hedged = Router(hedge, workers=workers).run(range(n, 2 * n))
    summary = hedged.summary()
    after = sorted(o.finished_at - o.started_at for o in hedged)
    slowest = sorted(hedged, key=lambda o: o.finished_at - o.started_at)[-max(1, n // 100) :]
    return [
        {"bench": "hedge", "peer": "no hedge", "n": n, "p99_s": quantile(latencies, 0.99), "extra": 0.0},
        {
            "bench": "hedge",
            "peer": f"Hedge(after='p95', max_extra={max_extra})",
            "n": n,
            "p99_s": quantile(after, 0.99),
            "extra": summary["hedges_sent"] / n,
            "after_s": hedge.delay(),
            "refused": hedge.refused / n,
            "slowest": len(slowest),
            "slowest_hedged": sum(len(o.attempts) > 1 for o in slowest),
        },
    ]
