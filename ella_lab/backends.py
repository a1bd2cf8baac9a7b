"""The same routing on other engines: ``Router(..., executor="asyncio" | "processes" | "dask")``.

Each backend serves the same requests with the same sources and returns the same ``Report``:
one ``Outcome`` per request, in order, failures recorded, never lost. Seeded sources decide their
answers from (seed, source, request, attempt) alone, so every backend gives the same outcomes.

- ``asyncio``: ``workers`` coroutines on one event loop (in a thread of its own, so it also runs
  inside Jupyter's loop). Sources with ``afetch`` (``SimulatedSource``) and chains of them wait
  with ``asyncio.sleep``; any other source runs in the loop's thread pool.
- ``processes``: ``workers`` processes (from a fork server, or spawned: never a bare fork of a
  process that runs threads); the requests
  go in chunks, each served in order by one process. For CPU-bound sources: it sidesteps the GIL.
  The source must be picklable.
- ``dask``: chunks of requests as tasks on a ``dask.distributed`` cluster, served by ``workers``
  threads in all. With no ``client`` a ``LocalCluster`` is started for the run and closed after it;
  a given ``Client`` (a local or a remote cluster) is used as it is.

Times are ``time.perf_counter`` readings; on one machine they are comparable across processes
(a system-wide monotonic clock). On a remote cluster, compare a request's times with each other only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import pickle
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from .fallback import AllSourcesFailed, FallbackChain, Plan, step_call
from .outcome import Attempt, Outcome, Report, all_failed, failed_call, release_attempts
from .sources import Source, collect_counters, counters_since
from .timing import clock

__all__ = ["EXECUTORS", "arun_plan", "run_backend"]

log = logging.getLogger("ella_lab")

EXECUTORS = ("threads", "asyncio", "processes", "dask")


def run_backend(router: Any, requests: Sequence[Any]) -> Report:
    """Serve ``requests`` with ``router.source`` on ``router.executor``; the threads backend is ``Router.run``."""
    runner = {"asyncio": _run_asyncio, "processes": _run_processes, "dask": _run_dask}[router.executor]
    counted = collect_counters(router.source)
    started = clock()
    outcomes = runner(router, requests) if requests else []
    finished = clock()
    counts = counters_since(router.source, counted)
    return Report(outcomes, workers=router.workers, started_at=started, finished_at=finished, counters=counts)


# -- asyncio ---------------------------------------------------------------------------------------


async def _acall(source: Source, request: Any, attempt: int, timeout: float | None) -> Any:
    """Call a source from the event loop: natively if it can wait with ``await``, else in a thread."""
    afetch = getattr(source, "afetch", None)
    if afetch is not None:
        return await afetch(request, attempt=attempt, timeout=timeout)
    call = functools.partial(source.fetch, request, attempt=attempt, timeout=timeout)
    return await asyncio.get_running_loop().run_in_executor(None, call)


async def arun_plan(plan: Plan) -> Any:
    """Carry out a plan's steps on the event loop: ``await`` the calls and the sleeps."""
    try:
        step = next(plan)
        while True:
            try:
                if step[0] == "sleep":
                    await asyncio.sleep(step[1])
                    result = None
                elif step[0] == "call":
                    result = await _acall(*step[1:])
                else:  # a composite source's serve() blocks: run it in the loop's thread pool
                    method, request, kwargs = step_call(step)
                    call = functools.partial(method, request, **kwargs)
                    result = await asyncio.get_running_loop().run_in_executor(None, call)
            except Exception as exc:
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        return done.value


def _async_executor(router: Any):
    """``await execute(request, queued_at, worker) -> Outcome``, mirroring the thread router's."""
    source = router.source
    unwrap = router.wraps_source

    async def execute(request: Any, queued_at: float, worker: str) -> Outcome:
        started = clock()
        try:
            if isinstance(source, FallbackChain):
                value, served_by, attempts = await arun_plan(source.plan(request))
            elif callable(getattr(source, "serve", None)):
                serve = functools.partial(source.serve, request)
                value, served_by, attempts = await asyncio.get_running_loop().run_in_executor(None, serve)
            else:
                value = await _acall(source, request, 0, None)
                served_by, attempts = source.name, None
        except AllSourcesFailed as exc:
            return all_failed(request, exc, unwrap, worker, queued_at, started)
        except Exception as exc:
            return failed_call(source.name, request, exc, worker, queued_at, started)
        finished = clock()
        if attempts is None:
            attempts = (Attempt(source.name, 0, None, started, finished),)
        release_attempts(attempts)
        return Outcome(request, True, value, None, served_by, attempts, worker, queued_at, started, finished)

    return execute


def _run_asyncio(router: Any, requests: Sequence[Any]) -> list[Outcome]:
    execute = _async_executor(router)
    results: list[Outcome | None] = [None] * len(requests)
    queued_at = clock()
    todo = iter(enumerate(requests))  # shared by the coroutines; safe, as they run one at a time

    async def worker(name: str) -> None:
        for i, request in todo:
            results[i] = await execute(request, queued_at, name)

    async def main() -> None:
        await asyncio.gather(*(worker(f"task-{j}") for j in range(min(router.workers, len(requests)))))

    failure: list[BaseException] = []

    def run_loop() -> None:  # a loop of its own, in a thread of its own: works under Jupyter's running loop
        try:
            asyncio.run(main())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run_loop, name="ella-asyncio", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return results  # type: ignore[return-value]


# -- processes and dask: chunks of requests ------------------------------------------------------


def serve_chunk(source: Source, requests: Sequence[Any], threads: int, queued_at: float, where: str) -> list[Outcome]:
    """Serve a chunk with a thread router of ``threads`` workers, wherever this runs (a process, a Dask task).

    Returns the outcomes with the worker named after the place (``where``) and the request's queue time.
    """
    from .router import Router

    report = Router(source, workers=threads).run(requests)
    prefix = f"{where}-{os.getpid()}"
    return [o._replace(worker=f"{prefix}/{o.worker}", queued_at=queued_at) for o in report]


def _chunks(requests: Sequence[Any], count: int) -> list[Sequence[Any]]:
    size = max(1, math.ceil(len(requests) / count))
    return [requests[i : i + size] for i in range(0, len(requests), size)]


def _check_picklable(source: Source, executor: str) -> None:
    try:
        pickle.dumps(source)
    except Exception as exc:
        raise TypeError(
            f"executor={executor!r} sends the source to other processes, so it must be picklable; "
            f"{source!r} is not ({exc})"
        ) from None


def _process_context() -> Any:
    """Fork server where the OS has one (safe with threads, and fast after its first start), else spawn."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ella_lab"])
        return context
    return multiprocessing.get_context("spawn")


def _run_processes(router: Any, requests: Sequence[Any]) -> list[Outcome]:
    _check_picklable(router.source, "processes")
    requests = list(requests)
    processes = min(router.workers, len(requests))
    queued_at = clock()
    serve = functools.partial(serve_chunk, router.source, threads=1, queued_at=queued_at, where="process")
    with ProcessPoolExecutor(processes, mp_context=_process_context()) as pool:
        return [outcome for part in pool.map(serve, _chunks(requests, processes * 4)) for outcome in part]


def _run_dask(router: Any, requests: Sequence[Any]) -> list[Outcome]:
    from dask.distributed import Client, LocalCluster

    _check_picklable(router.source, "dask")
    client, cluster = router.client, None
    if client is None:  # the embedded default: a local cluster for this run only, on loopback
        cluster = LocalCluster(host="127.0.0.1", dashboard_address="127.0.0.1:0", processes=True)
        client = Client(cluster)
    try:
        # At most `workers` requests at once: with fewer workers than cluster threads, one thread per task and
        # `workers` tasks; with more, a few tasks per cluster thread, each served by workers // threads threads.
        nthreads = sum(client.nthreads().values()) or 1
        requests = list(requests)
        if router.workers < nthreads:
            per_task, tasks = 1, router.workers
        else:
            per_task, tasks = router.workers // nthreads, 4 * nthreads
        queued_at = clock()
        chunks = _chunks(requests, min(len(requests), tasks))
        # The source travels inside each task (it is small): a task stands alone, so the scheduler can
        # rerun it elsewhere if a worker dies, which scattered data would not survive.
        serve = functools.partial(serve_chunk, router.source, threads=per_task, queued_at=queued_at, where="dask")
        futures = client.map(serve, chunks, pure=False)
        return [outcome for part in client.gather(futures) for outcome in part]
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
