"""Exercises for notebook 03, the threaded router: ``from ella_lab.exercises import phase3 as ex``."""

from __future__ import annotations

import threading
from typing import Any

from ..shared import Lock, SharedDict, Switchboard
from ._core import Incorrect, Question, as_real, call_bounded, check_number, close_to
from .walk03 import _judge_run, _LeftHeld, _makes_locks

__all__ = ["q1", "q2", "q3", "q4"]


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


class _Answer:
    """What compute returns: one new object per computation, so the check can tell which computation a caller got."""

    def __init__(self, key: Any, number: int):
        self.key, self.number = key, number

    def __repr__(self) -> str:
        return f"<the answer for {self.key!r}, computation {self.number}>"


class _Waits:
    """Makes a thread that waits on a ``threading.Condition`` (a Future's result(), an Event, a Queue) visible to
    the board as blocked while a run lasts, and running again as soon as the condition is notified: the others
    then run on at once, instead of after the board's bound. ``waiting`` holds the threads in such a wait now."""

    def __init__(self, board: Switchboard):
        self.board = board
        self.waiting: set[int] = set()
        self._on: dict[int, set[int]] = {}  # id(condition) -> the board's threads waiting on it
        self._wait, self._notify = threading.Condition.wait, threading.Condition.notify

    def __enter__(self) -> _Waits:
        board, wait_, notify_, waiting, on = self.board, self._wait, self._notify, self.waiting, self._on

        def wait(condition: threading.Condition, timeout: float | None = None) -> bool:
            me = threading.get_ident()
            if condition is board._cond or me not in board._state:
                return wait_(condition, timeout)
            with board._cond:
                waiting.add(me)
                on.setdefault(id(condition), set()).add(me)
            board._blocked(None, False)
            try:
                return wait_(condition, timeout)
            finally:
                with board._cond:
                    waiting.discard(me)
                    on.get(id(condition), set()).discard(me)
                board._unblocked()

        def notify(condition: threading.Condition, n: int = 1) -> None:
            if condition is not board._cond:
                with board._cond:  # the waiters run again from now on, before they even wake
                    for thread in on.pop(id(condition), set()):
                        waiting.discard(thread)
                        if board._state.get(thread) == "blocked":
                            board._state[thread] = "running"
            notify_(condition, n)

        threading.Condition.wait = wait  # type: ignore[method-assign]
        threading.Condition.notify = notify  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        threading.Condition.wait, threading.Condition.notify = self._wait, self._notify  # type: ignore[method-assign]


class _Compute:
    """The slow computation: records each call, its thread, and whether that thread held the lock.

    It takes a while: before it answers, the other threads that asked for the same key run until each waits for
    the answer, computes it too, or is done with that call (a bounded number of forced switches). Then, when a
    thread that asked for this key holds the lock, it waits for the lock (bounded): a thread that waits for the
    answer while holding the lock shows up in ``stuck``.
    """

    ROUNDS, WAIT = 50, 0.5

    def __init__(self, board: Switchboard, lock: Lock, waits: _Waits):
        self.board, self.lock, self.waits = board, lock, waits
        self.calls: list[Any] = []
        self.held: list[Any] = []
        self.stuck: list[Any] = []
        self.first: dict[Any, _Answer] = {}
        self.asking: dict[int, Any] = {}  # thread -> the key its get_once call is for (None between calls)
        self.computing: set[int] = set()

    def __call__(self, key: Any) -> _Answer:
        me = threading.get_ident()
        answer = _Answer(key, len(self.calls) + 1)
        self.calls.append(key)
        self.first.setdefault(key, answer)
        if self.lock.held_by_me():
            self.held.append(key)
            return answer
        self.computing.add(me)
        try:
            for _ in range(self.ROUNDS):
                self.board.switch()  # the others run meanwhile
                others = [t for t, k in list(self.asking.items()) if t != me and k == key]
                if all(t in self.waits.waiting or t in self.computing for t in others):
                    break
        finally:
            self.computing.discard(me)
        holder = self.lock.owner
        if holder is not None and holder != me and self.asking.get(holder) == key:
            if self.lock.acquire(timeout=self.WAIT):
                self.lock.release()
            else:
                self.stuck.append(key)
        return answer


class _CacheCase:
    def __init__(self, asks: tuple[tuple[Any, ...], ...]):
        self.asks = asks  # per thread, the keys it asks for, in order

    @property
    def keys(self) -> list[Any]:
        return list(dict.fromkeys(key for mine in self.asks for key in mine))


def _rotations(keys: tuple, threads: int, rounds: int = 1) -> tuple[tuple[Any, ...], ...]:
    """Each thread asks every key, ``rounds`` times, starting from a different one: every key raced for at once."""
    return tuple(tuple(keys[(i + j) % len(keys)] for j in range(len(keys) * rounds)) for i in range(threads))


class ComputeOnce(Question):
    title = "A shared cache: compute each key once, outside the lock"
    expects = "a function get_once(cache, lock, key, compute)"
    answer_name = "get_once"
    VISIBLE = _CacheCase(_rotations(("eu", "us", "asia"), 8))
    HIDDEN = (
        _CacheCase(_rotations(("a", "b", "c", "d", "e"), 6, rounds=2)),
        _CacheCase(_rotations((7, 11), 4, rounds=2)),
    )
    BOUND = 5.0
    hints = (
        "Check and claim in one `with lock:` block: if the key is not in cache, put a placeholder there at once "
        "(a concurrent.futures.Future() is a good one) and remember that this thread owns the computation.",
        "Outside the lock: the owner calls compute(key) and puts the answer in its placeholder "
        "(future.set_result(answer)); every other thread waits for the placeholder (future.result()).",
        "Never hold the lock while computing, nor while waiting for another thread's answer: the owner needs "
        "the lock to publish its answer, and the other keys must not wait for this one.",
    )
    solution_text = """
        from concurrent.futures import Future

        def get_once(cache, lock, key, compute):
            with lock:  # check and claim in one step: no other thread can claim the key in between
                future = cache.get(key)
                mine = future is None
                if mine:
                    future = cache[key] = Future()
            if mine:  # the one computation of this key, with no lock held: other keys go on meanwhile
                future.set_result(compute(key))
            return future.result()  # the others wait for the owner's answer
    """

    def _check(self, get_once: Any) -> str:
        return self._run(get_once, self.VISIBLE)

    def _check_hidden(self, get_once: Any) -> str:
        return [self._run(get_once, case) for case in self.HIDDEN][-1]

    def _run(self, get_once: Any, case: _CacheCase) -> str:
        if not callable(get_once):
            raise Incorrect(f"expected a function get_once(cache, lock, key, compute), got {get_once!r}")
        board = Switchboard(bound=0.1)
        lock = Lock(board, name="the lock")
        cache = SharedDict(board, guard=lock)
        waits = _Waits(board)
        compute = _Compute(board, lock, waits)
        answers: list[tuple[Any, Any]] = []

        def worker(mine: tuple[Any, ...]) -> None:
            for key in mine:
                compute.asking[threading.get_ident()] = key
                answer = get_once(cache, lock, key, compute)
                compute.asking[threading.get_ident()] = None
                answers.append((key, answer))
                held = board.held()
                if held:
                    raise _LeftHeld(held[0].name)

        with waits:
            run = board.run([lambda mine=mine: worker(mine) for mine in case.asks], timeout=self.BOUND)
        _judge_run(run, "your get_once", self.BOUND)
        if compute.stuck:
            raise Incorrect(
                f"a thread waited for the answer to {compute.stuck[0]!r} while holding the lock: every other thread, "
                "even one that wants a key already computed, waited behind it (and an owner that needs the lock to "
                "publish its answer never could). Release the lock, then wait."
            )
        threads, keys = len(case.asks), case.keys
        never = [key for key in keys if key not in compute.calls]
        if never:
            raise Incorrect(f"compute({never[0]!r}) was never called: call compute(key) for a key not yet in cache.")
        if compute.held:
            raise Incorrect(
                f"the lock was held during compute({compute.held[0]!r}), the slow call: every other thread, even "
                "one that wants another key or one already computed, waits for the lock meanwhile. Hold the lock "
                "only to check and claim the key, and to publish the answer."
            )
        again = next((key for key in keys if compute.calls.count(key) > 1), None)
        if again is not None:
            self._computed_twice(get_once, lock, again, compute.calls.count(again), threads)
        for key, answer in answers:
            if answer is compute.first[key]:
                continue
            if answer is None:
                raise Incorrect(f"get_once(cache, lock, {key!r}, compute) returned None: return the answer.")
            if isinstance(answer, _Answer):
                raise Incorrect(f"get_once(..., {key!r}, ...) returned {answer!r}: return the answer for this key.")
            raise Incorrect(
                f"get_once(..., {key!r}, ...) returned {answer!r}, not the answer: a thread that finds the key "
                "claimed by another must wait for that thread's answer (future.result(), or an Event then the "
                "value), and return the answer itself."
            )
        return (
            f"{len(answers)} calls from {threads} threads racing for {len(keys)} keys, a switch forced at every read "
            "and every lock taken: each key computed once, never under the lock, and every caller got its answer."
        )

    @staticmethod
    def _computed_twice(get_once: Any, lock: Lock, key: Any, times: int, threads: int) -> None:
        if lock.taken == 0 and _makes_locks(get_once):
            raise Incorrect(
                f"{key!r} was computed {times} times: a lock made inside get_once is a new lock on every call, so "
                "no other thread ever waits for it. Use the `lock` you are given."
            )
        if lock.taken == 0:
            raise Incorrect(
                f"{key!r} was computed {times} times by {threads} threads: each found it missing, then computed "
                "it. Check and claim the key while holding `lock`."
            )
        raise Incorrect(
            f"{key!r} was computed {times} times: between the check that found it missing and the store of its "
            "answer, another thread found it missing too. Claim it in the same `with lock:` as the check: put a "
            "placeholder (a Future) in cache there, compute outside the lock, and let the others wait for it."
        )


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
q2 = ComputeOnce("q2")
q3 = PoolSize("q3")
q4 = ReadTheBend("q4")
