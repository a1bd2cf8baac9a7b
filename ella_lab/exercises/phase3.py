"""Exercises for notebook 03, the threaded router: ``from ella_lab.exercises import phase3 as ex``."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from ._core import RUNAWAY, Incorrect, NotAttempted, Question, as_real, call_bounded, check_number, close_to

__all__ = ["STOP", "q1", "q2", "q3", "q4"]

STOP = object()  # the sentinel for q2: one per worker, after the last request


class Makespan(Question):
    title = "The makespan of N requests on K workers"
    expects = "a function makespan(n_requests, workers, latency)"
    answer_name = "makespan"
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
    HIDDEN = ((13, 5, 0.2, 0.6), (100, 7, 0.01, 0.15), (6, 6, 0.3, 0.3), (7, 2, 1.5, 6.0), (3, 10, 0.05, 0.05))

    def _check(self, makespan: Any) -> str:
        self._cases(makespan, self.CASES)
        return "10 requests on 3 workers at 0.5 s take ⌈10/3⌉ · 0.5 = 2.0 s."

    def _check_hidden(self, makespan: Any) -> str:
        self._cases(makespan, self.HIDDEN + self.CASES)
        return "right on every case."

    def _cases(self, makespan: Any, cases: tuple) -> None:
        if not callable(makespan):
            raise Incorrect(f"expected a function makespan(n_requests, workers, latency), got {makespan!r}")
        for n, k, latency, expected in cases:
            call = f"makespan({n}, {k}, {latency})"
            got = call_bounded(makespan, n, k, latency, what="makespan")
            check_number(got, expected, call=call, unit="s")
            if close_to(got, expected):
                continue
            if close_to(got, n * latency / k):
                raise Incorrect(
                    f"{call} returned {as_real(got):.4g}, which is N·L/K: a request cannot be split between workers, "
                    "so count whole rounds."
                )
            if close_to(got, n * latency):
                raise Incorrect(f"{call} returned {as_real(got):.4g}, the time for one worker alone.")
            if close_to(got, (n // k) * latency):
                raise Incorrect(
                    f"{call} returned {as_real(got):.4g}: the last, partial round still takes a full latency (round "
                    "up, not down)."
                )
            if k and n % k == 0 and close_to(got, (n // k + 1) * latency):
                raise Incorrect(
                    f"{call} returned {as_real(got):.4g}: one round too many. {k} workers serve {n} requests in "
                    f"exactly {n // k} full rounds; n // k + 1 is right only when the last round is partial (use "
                    "math.ceil(n / k))."
                )
            raise Incorrect(f"{call} returned {got!r}; work it out by hand for these numbers.")


class _Tasks(queue.Queue):
    """The queue handed to the learner's workers: it records every get and task_done, by thread.

    A timed or non-blocking get (and ``empty()``/``qsize()``) sees the queue empty once per thread, as it
    can really be while a producer is still putting requests: a worker that leaves then loses them.
    """

    def __init__(self, results: dict):
        super().__init__()
        self.results = results
        self.held: dict[str, Any] = {}  # thread -> the item it took last
        self.took_stop: set[str] = set()
        self.polled: set[str] = set()  # threads that were shown an empty queue
        self.early: list[Any] = []  # requests whose task_done() came before their answer
        self.put_back: list[Any] = []  # items a worker put on the queue (STOP again, a request again)

    def _looks_empty(self) -> bool:
        name = threading.current_thread().name
        if name in self.polled:
            return False
        self.polled.add(name)
        return True

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if (not block or timeout is not None) and self._looks_empty():
            time.sleep(min(timeout or 0.0, 0.01))
            raise queue.Empty
        item = super().get(block, timeout)
        name = threading.current_thread().name
        self.held[name] = item
        if item is STOP:
            self.took_stop.add(name)
        return item

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if threading.current_thread().name.startswith("ella-check-worker"):
            self.put_back.append(item)
        super().put(item, block, timeout)

    def empty(self) -> bool:
        return self._looks_empty() or super().empty()

    def qsize(self) -> int:
        return 0 if self._looks_empty() else super().qsize()

    def task_done(self) -> None:
        item = self.held.get(threading.current_thread().name, STOP)
        if item is not STOP and item not in self.results:
            self.early.append(item)
        super().task_done()


class _Fetch:
    """The source handed to the workers: records every call and its thread; slow on the last requests."""

    def __init__(self, requests: tuple[str, ...], failing: dict[str, type[Exception]]):
        self.requests, self.failing = requests, failing
        self.calls: list[tuple[Any, str]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Any) -> str:
        with self.lock:
            self.calls.append((request, threading.current_thread().name))
        if request is STOP:
            raise TypeError("fetch() got the sentinel STOP, which is not a request")
        time.sleep(0.05 if request in self.requests[-2:] else 0.002)  # work in flight when join() is tried
        if request in self.failing:
            raise self.failing[request](f"source failed on {request}")
        return f"Result for {request}"


class SafeWorker(Question):
    title = "A worker that survives exceptions and stops on a sentinel"
    expects = "a function worker(tasks, results, fetch)"
    answer_name = "worker"
    hints = (
        "Loop forever: take a request with tasks.get() (no timeout); if it `is STOP`, leave the loop.",
        "Put the call of fetch(request) in try/except Exception, and store the exception itself as the answer.",
        "Every tasks.get() needs exactly one tasks.task_done(), after the answer is stored, even for STOP "
        "and even when fetch fails: use try/finally.",
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
    SCENARIO = (
        tuple(f"DataRequest-{i}" for i in range(10)),
        {"DataRequest-4": ConnectionError, "DataRequest-6": TimeoutError},
        3,
    )
    HIDDEN = (tuple(f"order-{i:03d}" for i in range(7, 21)), {"order-011": TimeoutError, "order-015": ValueError}, 4)
    DEADLINE = 2.0

    def _check(self, worker: Any) -> str:
        return self._run(worker, *self.SCENARIO)

    def _check_hidden(self, worker: Any) -> str:
        return self._run(worker, *self.HIDDEN)

    def _run(self, worker: Any, requests: tuple, failing: dict[str, type[Exception]], workers: int) -> str:
        if not callable(worker):
            raise Incorrect(f"expected a function worker(tasks, results, fetch), got {worker!r}")
        results: dict = {}
        tasks = _Tasks(results)
        fetch = _Fetch(requests, failing)
        died: dict[str, BaseException] = {}

        def run() -> None:
            try:
                worker(tasks, results, fetch)
            except BaseException as exc:
                died[threading.current_thread().name] = exc

        threads = [threading.Thread(target=run, name=f"ella-check-worker-{i}", daemon=True) for i in range(workers)]
        for t in threads:
            t.start()
        for request in requests:  # a producer: the workers are already waiting
            tasks.put(request)
        for _ in range(workers):
            tasks.put(STOP)
        joined: list[set] = []
        joiner = threading.Thread(target=lambda: (tasks.join(), joined.append(set(results))), daemon=True)
        joiner.start()  # join() is tried while the last requests are still being fetched
        deadline = time.perf_counter() + self.DEADLINE
        for t in [*threads, joiner]:
            t.join(max(0.0, deadline - time.perf_counter()))
        if any(isinstance(exc, NotImplementedError) for exc in died.values()):
            raise NotAttempted("replace `raise NotImplementedError` with your loop, then run the cell again.")
        return self._verdict(requests, failing, results, tasks, fetch, threads, died, joined)

    def _verdict(self, requests, failing, results, tasks, fetch, threads, died, joined) -> str:
        fetched = [request for request, _ in fetch.calls]
        if STOP in fetched:
            raise Incorrect(
                "your worker called fetch(STOP): the sentinel is not a request. Test `request is STOP` right "
                "after get(), before doing any work."
            )
        twice = next((r for r in requests if fetched.count(r) > 1), None)
        if twice is not None:
            raise Incorrect(
                f"{twice} was fetched {fetched.count(twice)} times: each request is taken, and fetched, once."
            )
        workers = {t.name for t in threads}
        elsewhere = next((name for _, name in fetch.calls if name not in workers), None)
        if elsewhere is not None:
            raise Incorrect(
                f"fetch ran in a thread your worker started ({elsewhere}), not in the worker itself: a worker does "
                "its fetches one at a time. A thread per request has no bound, and the worker returns before its "
                "work is done."
            )
        if tasks.put_back:
            what = "STOP" if tasks.put_back[0] is STOP else repr(tasks.put_back[0])
            raise Incorrect(
                f"your worker put {what} back on the queue: the producer puts one STOP per worker, so each worker "
                "takes its own and returns. An extra put() is an item nobody takes (or a get() with no "
                "task_done()), and tasks.join() waits forever."
            )
        if not results and fetch.calls:
            raise Incorrect("results is empty: store each answer as results[request] (printing it keeps nothing).")
        died_early = {name: exc for name, exc in died.items() if name not in tasks.took_stop}
        if died_early:
            exc = next(iter(died_early.values()))
            if isinstance(exc, ValueError) and "task_done" in str(exc):
                raise Incorrect(
                    f"your worker raised {exc!r}: it called task_done() more often than get() (twice for a failed "
                    "request?). One task_done() per get(), in a finally: that runs once."
                )
            raise Incorrect(
                f"your worker stopped after an exception ({exc!r}): catch every Exception around each fetch (a "
                "source may time out, or fail in a way of its own, not only with ConnectionError), and keep looping."
            )
        if tasks.early:
            raise Incorrect(
                f"task_done() for {tasks.early[0]} came before its answer was stored: tasks.join() returns while "
                "requests are still being fetched. Call task_done() after the work (in a finally:)."
            )
        missing = [r for r in requests if r not in results]
        if joined and not joined[0] >= set(requests) and not missing:
            raise Incorrect(
                "tasks.join() returned while requests were still being fetched: call task_done() only after the "
                "answer is stored."
            )
        left_early = [
            t.name for t in threads if not t.is_alive() and t.name not in tasks.took_stop and t.name not in died
        ]
        if left_early and any(name in tasks.polled for name in left_early):
            raise Incorrect(
                "a worker returned before it took STOP, when the queue looked empty (a get with a timeout, "
                "get_nowait() or empty()): a producer may still be putting requests, and those are lost. Block "
                "on tasks.get() and leave only on STOP."
            )
        alive = sum(t.is_alive() for t in threads)
        if alive and missing:
            raise Incorrect(
                f"request {missing[0]} was never answered, and {alive} worker(s) were still running after "
                f"{self.DEADLINE:g} s: is your worker stuck, or waiting on something that never comes? {RUNAWAY}"
            )
        if alive:
            raise Incorrect(
                f"every request was answered, but {alive} worker(s) were still running {self.DEADLINE:g} s later: "
                f"a worker must return when it takes STOP. {RUNAWAY}"
            )
        if died:
            raise Incorrect(f"a worker raised {next(iter(died.values()))!r} instead of returning.")
        if left_early:
            raise Incorrect("a worker returned before it took STOP: each worker leaves only on its sentinel.")
        if not results:
            raise Incorrect("results is empty: store each answer as results[request] (printing it keeps nothing).")
        if missing:
            raise Incorrect(f"request {missing[0]} was never answered: store results[request] for every request.")
        extra = [key for key in results if key not in requests]
        if extra:
            raise Incorrect(f"results has a key {extra[0]!r} that is not a request: key the answers by request.")
        for request, error in failing.items():
            answer = results[request]
            if isinstance(answer, str) and request in answer and "failed" in answer:
                raise Incorrect(
                    f"{request} failed, and its answer is the string {answer!r}: store the exception itself, not "
                    "its text, so the caller can still tell a failure from a result."
                )
            if not isinstance(answer, error):
                raise Incorrect(f"{request} failed, and its answer should be the exception itself; got {answer!r}.")
        wrong = [r for r in requests if r not in failing and results[r] != f"Result for {r}"]
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
    answer_name = "workers_needed"
    hints = (
        "Little's law: requests in service = throughput × time each spends in service. Here K = X · L.",
        "A pool cannot run a fraction of a thread: the answer is a whole number, and too few is not enough.",
    )
    solution_text = """
        import math

        def workers_needed(target_rps, latency):
            # the tolerance guards against float error: 100 * 0.07 == 7.000000000000001 would round up to 8
            return math.ceil(target_rps * latency - 1e-9)
    """
    CASES = ((500, 0.04, 20), (100, 0.01, 1), (1000, 0.015, 15), (10, 0.5, 5), (250, 0.01, 3), (30, 0.1, 3))
    HIDDEN = ((120, 0.025, 3), (800, 0.002, 2), (50, 0.3, 15), (333, 0.01, 4), (64, 0.125, 8))

    def _check(self, workers_needed: Any) -> str:
        self._cases(workers_needed, self.CASES)
        return "500 req/s at 40 ms needs ⌈500 × 0.04⌉ = 20 workers."

    def _check_hidden(self, workers_needed: Any) -> str:
        self._cases(workers_needed, self.HIDDEN + self.CASES)
        return "right on every case."

    def _cases(self, workers_needed: Any, cases: tuple) -> None:
        if not callable(workers_needed):
            raise Incorrect(f"expected a function workers_needed(target_rps, latency), got {workers_needed!r}")
        for target, latency, expected in cases:
            call = f"workers_needed({target}, {latency})"
            got = call_bounded(workers_needed, target, latency, what="workers_needed")
            number = as_real(got)
            if number is not None and number == expected:  # 20, 20.0 and numpy.int64(20) all count
                continue
            exact = target * latency
            if number is not None and not number.is_integer() and close_to(number, exact):
                raise Incorrect(
                    f"{call} returned {number:g}: the formula is right, but a pool needs a whole number of threads, "
                    "rounded up."
                )
            if close_to(number, target / latency):
                raise Incorrect(f"{call} returned {number:g}: Little's law gives K = X · L.")
            if number is not None and number < exact:
                raise Incorrect(
                    f"{call} returned {number:g}: {number:g} workers give only {number / latency:g} req/s, short of "
                    f"{target}. Round up."
                )
            check_number(got, expected, call=call, unit="count", whole=True)
            raise Incorrect(f"{call} returned {got!r}; expected the smallest whole number of workers that is enough.")


class ReadTheBend(Question):
    title = "Reading the throughput plot"
    checked = False
    solution_text = """
        Model answer. The measured throughput follows K / L while the costs that the model leaves out
        are small against L. It bends below the line at large K because every thread costs time the
        model does not count: notebook 03 fits one cost per thread, of the order of 0.1 to 0.4 ms on this
        machine, that lumps together two things it never measures apart: starting the thread (a round
        trip between two threads) and waking it for each round, when many threads wake at once and
        queue for the GIL, which runs one thread's Python at a time. A run with K threads loses about K
        times that cost. A long-lived pool pays the start-up once (the wake-ups remain); more requests
        per worker hide the start-up too; past a few hundred concurrent waits, asyncio fits better.
    """


q1 = Makespan("q1")
q2 = SafeWorker("q2")
q3 = PoolSize("q3")
q4 = ReadTheBend("q4")
