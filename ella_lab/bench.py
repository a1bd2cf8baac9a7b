"""Benchmark kernels shared by ``benchmarks/run.py`` and notebook 06: the Router against its peers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .guide import run_guide_router
from .router import Router
from .sources import SimulatedSource

__all__ = ["dispatch", "guide_scenario", "sleep_bound"]


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
