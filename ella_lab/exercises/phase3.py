"""Exercises for notebook 03, the threaded router: ``from ella_lab.exercises import phase3 as ex``."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from ._core import Incorrect, NotAttempted, Question, call_bounded, close_to

__all__ = ["STOP", "q1", "q2", "q3", "q4"]

STOP = object()  # the sentinel for q2: one per worker, after the last request


class Makespan(Question):
    title = "The makespan of N requests on K workers"
    expects = "a function makespan(n_requests, workers, latency)"
    hints = (
        "Each worker handles one request at a time; the workers run in rounds of K requests.",
        "How many rounds does it take to serve N requests with K workers? The last round may be partial.",
        "math.ceil(n_requests / workers) rounds, each lasting `latency` seconds.",
    )
    solution_text = """
        import math

        def makespan(n_requests, workers, latency):
            return math.ceil(n_requests / workers) * latency
    """
    CASES = ((10, 3, 0.5, 2.0), (8, 4, 0.1, 0.2), (1, 4, 0.1, 0.1), (9, 1, 0.01, 0.09), (0, 3, 0.5, 0.0))

    def _check(self, makespan: Any) -> str:
        if not callable(makespan):
            raise Incorrect(f"expected a function makespan(n_requests, workers, latency), got {makespan!r}")
        for n, k, latency, expected in self.CASES:
            got = call_bounded(makespan, n, k, latency, what="makespan")
            if got is None:
                raise Incorrect(f"makespan({n}, {k}, {latency}) returned None: did you forget `return`?")
            if close_to(got, expected):
                continue
            if close_to(got, n * latency / k):
                raise Incorrect(
                    f"makespan({n}, {k}, {latency}) returned {got:.4g}, which is N·L/K: a request cannot be split "
                    "between workers, so count whole rounds."
                )
            if close_to(got, n * latency):
                raise Incorrect(f"makespan({n}, {k}, {latency}) returned {got:.4g}, the time for one worker alone.")
            if close_to(got, (n // k) * latency):
                raise Incorrect(
                    f"makespan({n}, {k}, {latency}) returned {got:.4g}: the last, partial round still takes a "
                    "full latency (round up, not down)."
                )
            raise Incorrect(f"makespan({n}, {k}, {latency}) returned {got!r}; work it out by hand for these numbers.")
        return "10 requests on 3 workers at 0.5 s take ⌈10/3⌉ · 0.5 = 2.0 s."


class SafeWorker(Question):
    title = "A worker that survives exceptions and stops on a sentinel"
    expects = "a function worker(tasks, results, fetch)"
    hints = (
        "Loop forever: take a request with tasks.get(); if it `is STOP`, leave the loop.",
        "Put the call of fetch(request) in try/except Exception, and store the exception itself as the answer.",
        "Every tasks.get() needs exactly one tasks.task_done(), even for STOP and even when fetch fails: "
        "use try/finally.",
    )
    solution_text = """
        def worker(tasks, results, fetch):
            while True:
                request = tasks.get()
                try:
                    if request is ex.STOP:
                        return
                    try:
                        results[request] = fetch(request)
                    except Exception as exc:  # a failure is an answer too
                        results[request] = exc
                finally:
                    tasks.task_done()
    """
    REQUESTS = tuple(f"DataRequest-{i}" for i in range(10))
    FAILING = "DataRequest-4"
    WORKERS = 3
    DEADLINE = 2.0

    @classmethod
    def fetch(cls, request: str) -> str:
        time.sleep(0.002)
        if request == cls.FAILING:
            raise ConnectionError(f"source failed on {request}")
        return f"Result for {request}"

    def _check(self, worker: Any) -> str:
        if not callable(worker):
            raise Incorrect(f"expected a function worker(tasks, results, fetch), got {worker!r}")
        tasks: queue.Queue = queue.Queue()
        results: dict = {}
        died: dict[str, BaseException] = {}
        for request in self.REQUESTS:
            tasks.put(request)
        for _ in range(self.WORKERS):
            tasks.put(STOP)

        def run(name: str) -> None:
            try:
                worker(tasks, results, self.fetch)
            except BaseException as exc:
                died[name] = exc

        threads = [threading.Thread(target=run, args=(f"w{i}",), daemon=True) for i in range(self.WORKERS)]
        for t in threads:
            t.start()
        deadline = time.perf_counter() + self.DEADLINE
        for t in threads:
            t.join(max(0.0, deadline - time.perf_counter()))
        if any(isinstance(exc, NotImplementedError) for exc in died.values()):
            raise NotAttempted("replace `raise NotImplementedError` with your loop, then run the cell again.")
        missing = [r for r in self.REQUESTS if r not in results]
        alive = sum(t.is_alive() for t in threads)
        if died and missing:
            exc = next(iter(died.values()))
            raise Incorrect(
                f"request {missing[0]} was never answered: your worker stopped after an exception ({exc!r}). "
                "Catch exceptions around each fetch."
            )
        if alive and missing:
            raise Incorrect(
                f"request {missing[0]} was never answered, and {alive} worker(s) were still running after "
                f"{self.DEADLINE:g} s: is your worker stuck, or waiting on something that never comes?"
            )
        if alive:
            raise Incorrect(
                f"every request was answered, but {alive} worker(s) were still running {self.DEADLINE:g} s later: "
                "a worker must return when it takes STOP."
            )
        if died:
            raise Incorrect(f"a worker raised {next(iter(died.values()))!r} instead of returning.")
        if missing:
            raise Incorrect(
                f"request {missing[0]} was never answered: your worker returned before the queue was empty "
                "(it should stop only on STOP)."
            )
        answer = results[self.FAILING]
        if not isinstance(answer, ConnectionError):
            raise Incorrect(f"{self.FAILING} failed, and its answer should be the exception itself; got {answer!r}.")
        wrong = [r for r in self.REQUESTS if r != self.FAILING and results[r] != f"Result for {r}"]
        if wrong:
            raise Incorrect(f"the answer for {wrong[0]} should be what fetch returned; got {results[wrong[0]]!r}.")
        if tasks.unfinished_tasks:
            raise Incorrect(
                f"all answered, but tasks.join() would wait forever: {tasks.unfinished_tasks} get() call(s) had no "
                "task_done()."
            )
        return "every request answered once, the failure recorded, every worker stopped, join() would return."


class PoolSize(Question):
    title = "Sizing a pool with Little's law"
    expects = "a function workers_needed(target_rps, latency)"
    hints = (
        "Little's law: requests in service = throughput × time each spends in service. Here K = X · L.",
        "A pool cannot run a fraction of a thread: the answer is a whole number, and too few is not enough.",
    )
    solution_text = """
        import math

        def workers_needed(target_rps, latency):
            return math.ceil(target_rps * latency - 1e-9)  # the tolerance guards against 0.1 * 30 = 3.0000000000000004
    """
    CASES = ((500, 0.04, 20), (100, 0.01, 1), (1000, 0.015, 15), (10, 0.5, 5), (250, 0.01, 3), (30, 0.1, 3))

    def _check(self, workers_needed: Any) -> str:
        if not callable(workers_needed):
            raise Incorrect(f"expected a function workers_needed(target_rps, latency), got {workers_needed!r}")
        for target, latency, expected in self.CASES:
            got = call_bounded(workers_needed, target, latency, what="workers_needed")
            if isinstance(got, int) and not isinstance(got, bool) and got == expected:
                continue
            exact = target * latency
            if isinstance(got, float) and close_to(got, exact):
                raise Incorrect(
                    f"workers_needed({target}, {latency}) returned {got:g}: the formula is right, but a pool needs a "
                    "whole number of threads, rounded up."
                )
            if close_to(got, target / latency):
                raise Incorrect(f"workers_needed({target}, {latency}) returned {got:g}: Little's law gives K = X · L.")
            if isinstance(got, (int, float)) and got < exact:
                raise Incorrect(
                    f"workers_needed({target}, {latency}) returned {got!r}: {got!r} workers give only "
                    f"{got / latency:g} req/s, short of {target}. Round up."
                )
            raise Incorrect(
                f"workers_needed({target}, {latency}) returned {got!r}; expected a whole number of workers."
            )
        return "500 req/s at 40 ms needs ⌈500 × 0.04⌉ = 20 workers."


class ReadTheBend(Question):
    title = "Reading the throughput plot"
    checked = False
    solution_text = """
        Model answer. The measured throughput follows K / L while the per-request costs that the model
        leaves out are small against L. It bends below the line at large K because every thread costs
        time the model does not count: starting a thread takes a round trip between two threads (notebook 03
        fits about 0.1 ms per thread), so a run with K threads loses about K · s before the last worker
        starts; and when many threads wake at once they queue for the GIL, which runs one thread's
        Python at a time. A longer run (more requests per worker) or a long-lived pool hides the start-up
        cost; past a few hundred concurrent waits, asyncio fits better than threads.
    """


q1 = Makespan("q1")
q2 = SafeWorker("q2")
q3 = PoolSize("q3")
q4 = ReadTheBend("q4")
