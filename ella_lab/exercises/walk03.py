"""The "Your turn" exercises of notebook 03, the threaded router: ``from ella_lab.exercises import walk03 as ex``.

q1 predicts how long the guide's router takes, idle tail included; q2 is the sentinel worker, checked
with instruments: a queue that remembers which request each thread took and whether it was marked
done, results that notice an answer stored after ``task_done()``, a source that records every call,
and ``join()`` tried while the work is in flight.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from ..guide import run_guide_router
from ._core import BLANK, Incorrect, NotAttempted, Question
from .walk01 import Prediction

__all__ = ["BLANK", "STOP", "____", "q1", "q2"]

____ = BLANK
STOP = object()  # the sentinel of q2: one per worker, after the last request


class GuideRunPrediction(Prediction):
    title = "Predict: the guide's router, 5 requests on 2 workers"
    model = 0.25
    formula = "⌈5/2⌉ · 0.05 s + 0.1 s (the rounds of work, then one idle timeout)"
    gap = "time.sleep and get(timeout=...) wake a little late, and each thread takes a moment to start"
    mistakes = (
        (0.15, "that is the work alone; after it, every worker still waits IDLE in get(timeout=IDLE)."),
        (0.225, "that is N·L/K + IDLE; a request cannot be split between workers: count whole rounds."),
        (0.2, "that is ⌊5/2⌋ rounds + IDLE; the last, partial round still takes a full latency."),
        (0.35, "that is one round too many, or the idle tail counted once per worker: "
               "⌈5/2⌉ = 3 rounds, and the workers idle at the same time, so the tail counts once."),
        (0.45, "that is one worker alone (5 · L + IDLE); two fetches are in flight at once."),
    )  # fmt: skip
    hints = (
        "The work: 5 requests in rounds of 2, each round L = 0.05 s. Count the last, partial round.",
        "Then each worker sits in get(timeout=IDLE) on the empty queue before it gives up; they wait together.",
    )
    solution_text = """
        import math

        my_prediction = math.ceil(5 / 2) * 0.05 + 0.1  # 3 rounds of 50 ms, then a 100 ms idle tail = 0.25 s
    """

    def measure(self) -> float:
        return run_guide_router(2, 5, latency=0.05, idle_timeout=0.1, join_timeout=5.0).wall_s


class _TrackedQueue(queue.Queue):
    """A ``queue.Queue`` that remembers, per thread, the item it took last and whether it was marked done."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: dict[int, list] = {}  # thread id -> [item, task_done() called for it?]

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = super().get(block, timeout)
        self.taken[threading.get_ident()] = [item, False]
        return item

    def task_done(self) -> None:
        entry = self.taken.get(threading.get_ident())
        if entry is not None:
            entry[1] = True
        super().task_done()

    def done_with(self, request: Any) -> bool:
        """Has this thread already called task_done() for ``request``, the item it took last?"""
        entry = self.taken.get(threading.get_ident())
        return entry is not None and entry[0] is request and entry[1]


class _TrackedResults(dict):
    """The results dict: notices an answer stored after its request's ``task_done()``."""

    def __init__(self, tasks: _TrackedQueue) -> None:
        super().__init__()
        self.tasks, self.late = tasks, []

    def __setitem__(self, request: Any, answer: Any) -> None:
        if self.tasks.done_with(request):
            self.late.append(request)
        super().__setitem__(request, answer)


class _RecordingSource:
    """A fetch that records every call and its thread, notices work after task_done(), and fails on one request."""

    def __init__(self, tasks: _TrackedQueue, failing: str, latency: float = 0.003) -> None:
        self.tasks, self.failing, self.latency = tasks, failing, latency
        self.calls: list[tuple[Any, str]] = []
        self.early: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, request: Any) -> str:
        with self._lock:
            self.calls.append((request, threading.current_thread().name))
        if self.tasks.done_with(request):
            self.early.append(request)
        time.sleep(self.latency)
        if request == self.failing:
            raise ConnectionError(f"source failed on {request}")
        return f"Result for {request}"


class SentinelWorker(Question):
    title = "The sentinel worker"
    expects = "a function worker(tasks, results, fetch)"
    FIRST = tuple(f"DataRequest-{i}" for i in range(6))  # queued first; join() is tried on them
    LATER = tuple(f"DataRequest-{i}" for i in range(6, 10))  # queued after the queue was empty for a while
    FAILING = "DataRequest-4"
    WORKERS = 3
    PAUSE = 0.25  # the queue stays empty this long between the two batches
    BOUND = 2.0  # every wait of the check
    hints = (
        "Loop: request = tasks.get() with no timeout (a STOP will come); if `request is ex.STOP`, leave.",
        "Put the call of fetch(request) in try/except Exception, and store the exception itself as the answer.",
        "Every tasks.get() needs exactly one tasks.task_done(), the STOP's too, and only after the answer is "
        "stored: wrap the body in try/finally.",
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
                    tasks.task_done()  # after the answer is stored, for every get(), the STOP's too
    """

    def _check(self, worker: Any) -> str:
        if not callable(worker):
            raise Incorrect(f"expected a function worker(tasks, results, fetch), got {worker!r}")
        tasks = _TrackedQueue()
        results = _TrackedResults(tasks)
        source = _RecordingSource(tasks, self.FAILING)
        died: dict[str, BaseException] = {}

        def run(name: str) -> None:
            try:
                worker(tasks, results, source)
            except BaseException as exc:  # the student's worker died: remember why
                died[name] = exc

        threads = [
            threading.Thread(target=run, args=(f"worker-{i}",), name=f"ella-exercise-{i}", daemon=True)
            for i in range(self.WORKERS)
        ]
        for request in self.FIRST:
            tasks.put(request)
        for t in threads:
            t.start()
        at_join: dict = {}
        joined = self._join(tasks, results, at_join, threads)
        time.sleep(self.PAUSE)  # the queue is empty now; the work is not over
        for request in self.LATER:
            tasks.put(request)
        for _ in threads:
            tasks.put(STOP)
        deadline = time.perf_counter() + self.BOUND
        for t in threads:
            t.join(max(0.0, deadline - time.perf_counter()))
        alive = sum(t.is_alive() for t in threads)
        return self._verdict(tasks, results, source, died, joined, at_join, alive)

    def _join(self, tasks: queue.Queue, results: dict, at_join: dict, workers: list[threading.Thread]) -> bool:
        """``tasks.join()`` while the first batch is in flight; ``at_join`` gets what was stored when it returned.

        Gives up after ``BOUND`` seconds, or as soon as every worker has left (nobody could finish the tasks).
        """

        def join_then_look() -> None:
            tasks.join()
            at_join.update(results)

        waiter = threading.Thread(target=join_then_look, name="ella-exercise-join", daemon=True)
        waiter.start()
        deadline = time.perf_counter() + self.BOUND
        while waiter.is_alive() and any(t.is_alive() for t in workers) and time.perf_counter() < deadline:
            waiter.join(0.01)
        waiter.join(0.01)
        return not waiter.is_alive()

    def _verdict(self, tasks, results, source, died, joined, at_join, alive) -> str:
        requests = self.FIRST + self.LATER
        if any(isinstance(exc, NotImplementedError) for exc in died.values()):
            raise NotAttempted("replace `raise NotImplementedError` with your loop, then run the cell again.")
        missing = [r for r in requests if r not in results]
        if not results and not died:
            if alive:
                raise Incorrect(
                    f"no request was answered, and {alive} worker(s) were still running after {self.BOUND:g} s: is "
                    "the loop stuck? Stuck threads keep running in this kernel: restart it if the notebook slows down."
                )
            if source.calls:
                raise Incorrect(
                    f"fetch was called {len(source.calls)} times, but nothing was stored in results: store "
                    "results[request] = answer (a print is not an answer)."
                )
            raise Incorrect(
                "no request was answered: your worker returned without fetching anything. Take requests with "
                "tasks.get() and store results[request]."
            )
        if died and missing:
            exc = next(iter(died.values()))
            raise Incorrect(
                f"{missing[0]} was never answered: a worker died on {exc!r}. Catch exceptions around each fetch, "
                "and store the exception as that request's answer."
            )
        if any(request is STOP for request, _ in source.calls):
            raise Incorrect("fetch was called with the sentinel STOP: check `request is STOP` before fetching.")
        if source.early:
            raise Incorrect(
                f"task_done() for {source.early[0]} was called before it was fetched: join() can return while "
                "requests are still in flight. Call task_done() after the work (in a finally)."
            )
        if results.late:
            raise Incorrect(
                f"the answer to {results.late[0]} was stored after its task_done(): join() may return before it is "
                "stored. Store first, then task_done()."
            )
        if joined and any(r not in at_join for r in self.FIRST):
            lost = next(r for r in self.FIRST if r not in at_join)
            raise Incorrect(f"tasks.join() returned before the answer to {lost} was stored.")
        lost_later = [r for r in self.LATER if r not in results]
        if lost_later and not alive:
            raise Incorrect(
                f"{lost_later[0]} was never answered: the workers left while the queue was empty for a moment "
                f"({self.PAUSE:g} s), before their STOP came. Only the sentinel says the work is over: no "
                "get_nowait(), no get(timeout=...) exit, no `while not tasks.empty()`."
            )
        if missing:
            raise Incorrect(
                f"{missing[0]} was never answered; {alive} worker(s) still running after {self.BOUND:g} s: is the "
                "loop stuck? Stuck threads keep running in this kernel: restart it if the notebook slows down."
            )
        if alive:
            raise Incorrect(
                f"every request was answered, but {alive} worker(s) were still running {self.BOUND:g} s after their "
                "STOP was queued: a worker must return when it takes STOP."
            )
        if died:
            raise Incorrect(f"a worker raised {next(iter(died.values()))!r} instead of returning.")
        fetched = [request for request, _ in source.calls]
        twice = [r for r in requests if fetched.count(r) > 1]
        if twice:
            raise Incorrect(f"{twice[0]} was fetched {fetched.count(twice[0])} times: fetch each request once.")
        failure = results[self.FAILING]
        if isinstance(failure, str) and "source failed" in failure:
            raise Incorrect(
                f"the answer to {self.FAILING} is the text {failure!r}: store the exception object itself, so its "
                "type survives."
            )
        if not isinstance(failure, ConnectionError):
            raise Incorrect(f"{self.FAILING} failed, and its answer should be the exception itself; got {failure!r}.")
        wrong = [r for r in requests if r != self.FAILING and results[r] != f"Result for {r}"]
        if wrong:
            raise Incorrect(f"the answer for {wrong[0]} should be what fetch returned; got {results[wrong[0]]!r}.")
        if not joined or tasks.unfinished_tasks:
            count = tasks.unfinished_tasks
            raise Incorrect(
                f"every request answered, but tasks.join() would wait forever: {count} get() call(s) had no "
                "task_done(). The STOP needs its task_done() too."
            )
        workers = len({name for _, name in source.calls})
        return (
            f"10 requests answered once each by {workers} workers, the failure recorded, join() returned with every "
            "answer stored, and every worker left on its STOP."
        )


q1 = GuideRunPrediction("q1")
q2 = SentinelWorker("q2")
