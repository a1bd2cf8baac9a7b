"""Exercises for notebook 08, beyond threads: ``from ella_lab.exercises import phase8 as ex``."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, ClassVar

from ._core import Incorrect, NotAttempted, Question, SecondsQuestion, call_bounded, same

__all__ = ["ENGINES", "WORKLOADS", "q1", "q2", "q3", "q4"]

ENGINES = ("threads", "asyncio", "processes", "dask")
WORKLOADS = {
    "cpu": "hash 2,000 passwords with a pure-Python function (about 5 ms of computing each)",
    "many_waits": "5,000 calls to a slow web API (200 ms each) through an async HTTP client",
    "blocking_driver": "50 queries through a database driver that has only a blocking API (20 ms each)",
}


class PickEngines(Question):
    title = "Pick the engine for three workloads"
    expects = 'a dict: picks = {"cpu": ..., "many_waits": ..., "blocking_driver": ...}'
    answer_name = "picks"
    hints = (
        "Is the workload computing (the GIL matters) or waiting (it does not)?",
        "For waits: how many at once? A thread per wait is fine for dozens, heavy for thousands.",
        "A coroutine must never call a blocking function: it would stop the whole event loop.",
    )
    solution_text = """
        picks = {"cpu": "processes", "many_waits": "asyncio", "blocking_driver": "threads"}
    """
    RIGHT: ClassVar[dict[str, tuple[str, ...]]] = {
        "cpu": ("processes", "dask"),
        "many_waits": ("asyncio",),
        "blocking_driver": ("threads",),
    }
    WHY_NOT: ClassVar[dict[tuple[str, str], str]] = {
        ("cpu", "threads"): "threads share one GIL: pure-Python computing runs one thread at a time, so 4 threads "
        "are no faster than 1 (notebook 08 measures it on CpuSource).",
        ("cpu", "asyncio"): "asyncio runs every coroutine on one thread: computing blocks the loop, and nothing "
        "runs in parallel.",
        ("many_waits", "threads"): "5,000 waits on threads need 5,000 threads (a stack and an OS wake-up each) or a "
        "pool that queues them; asyncio keeps thousands of waits on one thread (notebook 08, K = 512).",
        ("many_waits", "processes"): "processes to wait: each costs a whole interpreter and pickling, for calls "
        "that do no computing.",
        ("many_waits", "dask"): "Dask schedules tasks over a cluster, at tens of µs each (notebook 08): for "
        "waits, one event loop is far cheaper.",
        ("blocking_driver", "asyncio"): "a blocking call inside a coroutine blocks the whole event loop: every "
        "other coroutine waits (only a thread, run_in_executor, would help, and that is threads).",
        ("blocking_driver", "processes"): "the driver waits, it does not compute: processes add start-up and "
        "pickling for nothing, and 50 waits suit a thread pool.",
        ("blocking_driver", "dask"): "50 blocking waits need no cluster: a thread pool runs them with no task "
        "overhead.",
    }

    def _check(self, picks: Any) -> str:
        if not isinstance(picks, dict):
            raise Incorrect(f"give a dict {{workload: engine}} for {list(WORKLOADS)}; got {type(picks).__name__}.")
        if all(picks.get(w) is None for w in WORKLOADS):
            raise NotAttempted("replace each None with an engine, then run the cell again.")
        missing = [w for w in WORKLOADS if picks.get(w) is None]
        if missing:
            raise Incorrect(f"no engine for {missing[0]!r}: give one for each of {list(WORKLOADS)}.")
        for workload in WORKLOADS:
            engine = picks[workload]
            engine = str.lower(str.strip(engine)) if isinstance(engine, str) else None  # a plain str
            if engine not in ENGINES:
                raise Incorrect(f"{workload}: choose one of {ENGINES}; got {picks[workload]!r}.")
            if engine not in self.RIGHT[workload]:
                raise Incorrect(f"{workload} → {engine}: {self.WHY_NOT[(workload, engine)]}")
        return "processes compute in parallel, asyncio holds thousands of waits, threads wrap a blocking API."


class _Meeting:
    """An asyncio rendezvous: proves that ``limit`` calls wait at once, and records the most at once.

    ``enter()`` counts the call in before its first await, so a ``leave()`` in a ``finally`` around it
    always balances it, even when the call is cancelled while it waits.
    """

    def __init__(self, limit: int):
        self.limit, self.inside, self.peak, self.arrived = limit, 0, 0, 0
        self.met = asyncio.Event()
        self.broken = False

    async def enter(self) -> None:
        self.inside += 1
        self.arrived += 1
        self.peak = max(self.peak, self.inside)
        if self.inside >= self.limit:
            self.met.set()
        if self.arrived <= self.limit and not self.broken:
            try:
                await asyncio.wait_for(self.met.wait(), 1.0)
                await asyncio.sleep(0.02)  # an extra call, if the limit is ignored, shows up now
            except TimeoutError:
                self.broken = True

    def leave(self) -> None:
        self.inside -= 1


class _Occupancy:
    """Proves that a slot is refilled as soon as it frees: one slow call, many quick ones.

    The slow call (the first request) holds its slot until every other call has started (or 1 s). With
    ``limit`` slots kept busy, the others all start on the remaining slots while it holds; code that
    waits for a whole batch to finish leaves those slots idle, and the others start only after it.
    """

    HOLD = 1.0

    def __init__(self, requests: tuple[str, ...]):
        self.requests = requests
        self.started: list[str] = []
        self.during: set[str] = set()  # calls that started before the slow one ended
        self.slow_done = False
        self.everyone = asyncio.Event()

    async def fetch(self, request: str) -> str:
        self.started.append(request)
        if not self.slow_done and request != self.requests[0]:
            self.during.add(request)
        if len(set(self.started)) >= len(self.requests):
            self.everyone.set()
        if request == self.requests[0]:
            try:
                await asyncio.wait_for(self.everyone.wait(), self.HOLD)
            except TimeoutError:
                pass
            finally:
                self.slow_done = True
        else:
            await asyncio.sleep(0.002)
        return f"Result for {request}"

    def idle(self) -> int:
        """How many of the other calls waited for the slow one, though a slot was free."""
        return len(self.requests) - 1 - len(self.during)


_OTHER_LOOP = (
    "fetch_all raised {exc!r} on its second run: an asyncio object (a Semaphore, a Queue, a Lock) made once, "
    "outside fetch_all, stays bound to the event loop of its first run. Make it inside fetch_all, at each call."
)


class _NotAwaitable:
    def __init__(self, value: Any):
        self.value = value


class AsyncFetchAll(Question):
    title = "asyncio: many waits, at most `limit` at once"
    expects = "an async function fetch_all(requests, fetch, limit)"
    answer_name = "fetch_all"
    hints = (
        "Make one asyncio.Semaphore(limit), shared by every call; each call does `async with sem: ...`.",
        "Start them all together with asyncio.gather(...), which keeps the order of its arguments.",
        "A failed fetch is an answer too: catch it inside each call (or gather(..., return_exceptions=True)).",
    )
    solution_text = """
        import asyncio

        async def fetch_all(requests, fetch, limit):
            semaphore = asyncio.Semaphore(limit)

            async def one(request):
                async with semaphore:
                    try:
                        return await fetch(request)
                    except Exception as exc:  # a failure is an answer too
                        return exc

            return await asyncio.gather(*(one(r) for r in requests))
    """
    SCENARIO = (tuple(f"DataRequest-{i}" for i in range(12)), "DataRequest-5", 4)
    HIDDEN = ((tuple(f"order-{i}" for i in range(30)), "order-29", 7), (tuple(f"q{i}" for i in range(5)), "q0", 2))

    def _check(self, fetch_all: Any) -> str:
        self._run(fetch_all, *self.SCENARIO)
        return "every answer in order, the failure kept, and exactly `limit` waits at once on one thread."

    def _check_hidden(self, fetch_all: Any) -> str:
        for scenario in self.HIDDEN:
            self._run(fetch_all, *scenario)
        return "right on every case."

    def _run(self, fetch_all: Any, requests: tuple, failing: str, limit: int) -> None:
        if not callable(fetch_all):
            raise Incorrect(f"expected an async function fetch_all(requests, fetch, limit), got {fetch_all!r}")
        calls: list[str] = []
        state: dict[str, _Meeting] = {}

        async def fetch(request: str) -> str:
            calls.append(request)
            meeting = state["meeting"]
            try:
                await meeting.enter()
                await asyncio.sleep(0.01 if request.endswith(("0", "3")) else 0.002)  # out of order
                if request == failing:
                    raise ConnectionError(f"source failed on {request}")
                return f"Result for {request}"
            finally:
                meeting.leave()

        async def main() -> Any:
            state["meeting"] = _Meeting(limit)
            got = fetch_all(list(requests), fetch, limit)
            if not inspect.isawaitable(got):
                return _NotAwaitable(got)
            return await got

        def run() -> Any:
            return asyncio.run(main())

        try:
            answers = call_bounded(run, what="fetch_all", timeout=4.0)
        except ConnectionError as exc:
            raise Incorrect(
                f"fetch_all raised {exc!r}: gather stops at the first exception; catch it in each call (or "
                "gather(..., return_exceptions=True)) so that every other answer is kept."
            ) from None
        except RuntimeError as exc:
            if "different event loop" in str(exc) or "attached to a different loop" in str(exc):
                raise Incorrect(_OTHER_LOOP.format(exc=exc)) from None
            if "running event loop" not in str(exc):
                raise
            raise Incorrect(
                "asyncio.run() inside fetch_all fails where a loop already runs (a notebook, a server): make "
                "fetch_all an async def and await inside it."
            ) from None
        meeting = state["meeting"]
        if isinstance(answers, _NotAwaitable):
            raise Incorrect(
                f"fetch_all(...) returned {type(answers.value).__name__} at once, not a coroutine: define it with "
                "async def, so that a running event loop can await it."
            )
        if answers is None:
            raise Incorrect("fetch_all returned None: return the list of answers (printing them gives nothing back).")
        if not isinstance(answers, (list, tuple)):
            raise Incorrect(f"fetch_all should return a list of answers, got {type(answers).__name__}.")
        answers = list(answers)
        pending = [a for a in answers if inspect.isawaitable(a)]
        for coroutine in pending:
            if inspect.iscoroutine(coroutine):
                coroutine.close()
        if pending:
            raise Incorrect("the answers are coroutines that never ran: await them (asyncio.gather awaits them all).")
        twice = next((r for r in requests if calls.count(r) > 1), None)
        if twice is not None:
            raise Incorrect(f"{twice} was fetched {calls.count(twice)} times: one fetch per request.")
        if len(answers) != len(requests):
            raise Incorrect(f"{len(answers)} answers for {len(requests)} requests: one per request, no more.")
        if meeting.peak > limit:
            raise Incorrect(
                f"{meeting.peak} fetches ran at once with limit={limit}: share ONE asyncio.Semaphore(limit) among all "
                "the calls (a semaphore made inside each call limits nothing)."
            )
        if not meeting.met.is_set():
            raise Incorrect(
                f"at most {meeting.peak} fetch(es) ran at once with limit={limit}: start them together (gather), "
                "do not await each one before starting the next."
            )
        cut = next((i for i, a in enumerate(answers) if isinstance(a, TimeoutError)), None)
        if cut is not None:  # fetch never times out: whichever call the timer cut, the bug is the same
            raise Incorrect(
                f"the answer for {requests[cut]} is {answers[cut]!r}, but fetch never times out: a timeout of your own "
                "cut it off. Await fetch(request) as it is; setting a time limit is the caller's choice."
            )
        expected: list[Any] = [f"Result for {r}" for r in requests]
        index = requests.index(failing)
        failure = answers[index]
        if isinstance(failure, str) and "failed" in failure:
            raise Incorrect(
                f"{failing} failed and its answer is the string {failure!r}: keep the exception itself, so a "
                "failure can never be mistaken for a result."
            )
        errors = [i for i, a in enumerate(answers) if isinstance(a, ConnectionError)]
        if not errors:
            raise Incorrect(f"{failing} failed; its answer should be the exception itself, got {failure!r}.")
        expected[index] = answers[errors[0]]
        if not same(answers, expected):
            if sorted(map(str, answers)) == sorted(map(str, expected)):
                raise Incorrect(
                    "the answers are in the order they finished, not the order of the requests: gather keeps the "
                    "order of its arguments (as_completed does not)."
                )
            wrong = next(i for i, a in enumerate(answers) if not same(a, expected[i]))
            raise Incorrect(f"the answer for {requests[wrong]} should be what fetch returned; got {answers[wrong]!r}.")
        self._occupancy(fetch_all, requests, limit)

    def _occupancy(self, fetch_all: Any, requests: tuple, limit: int) -> None:
        """A second run, in a fresh event loop: a slot that frees must be refilled at once."""
        if limit < 2 or len(requests) <= limit:
            return
        occupancy = _Occupancy(requests)

        def run() -> Any:
            return asyncio.run(fetch_all(list(requests), occupancy.fetch, limit))

        try:
            answers = call_bounded(run, what="fetch_all", timeout=4.0)
        except RuntimeError as exc:
            if "different event loop" in str(exc) or "attached to a different loop" in str(exc):
                raise Incorrect(_OTHER_LOOP.format(exc=exc)) from None
            raise
        if not isinstance(answers, (list, tuple)) or list(answers) != [f"Result for {r}" for r in requests]:
            raise Incorrect(
                "a second run of fetch_all, with no failure, did not return every answer in order: does it keep "
                "state from one run to the next?"
            )
        idle = occupancy.idle()
        if idle:
            raise Incorrect(
                f"while {requests[0]} was slow, {idle} other call(s) waited for it although a slot was free: your "
                "code waits for a whole batch of `limit` before starting the next. Keep `limit` calls running while "
                "there is work: start a call as soon as one ends (one shared Semaphore around each call, or "
                "`limit` worker tasks taking requests from a queue)."
            )


class GilWall(SecondsQuestion):
    title = "Four CPU-bound tasks on four threads"
    expects = "a number of seconds: wall = ..."
    answer_name = "wall"
    answer = 2.0
    correct = "2.0 s: with the GIL one thread computes at a time, so the four tasks take turns: 4 × 0.5 s."
    mistakes = (
        (0.5, "0.5 s is what 4 processes would take on 4 free cores; threads share one GIL and take turns."),
        (0.125, "0.125 s divides one task by four: no engine splits one task, and threads do not even run two."),
    )
    otherwise = "with the GIL, only one of the threads runs Python at any moment."
    hints = ("Standard CPython has a global interpreter lock: one thread runs Python bytecode at a time.",)
    solution_text = """
        wall = 4 * 0.5  # the threads take turns holding the GIL: no faster than one thread
    """


class JustifyByMeasurement(Question):
    title = "Justify each pick by a measurement"
    checked = False
    solution_text = """
        Model answer. CPU: notebook 08 runs CpuSource on threads and on processes; threads are no faster than
        one worker (the GIL), processes scale with the cores, minus pickling and start-up. Many waits:
        notebook 08's sweep puts asyncio and threads side by side as K grows to hundreds; asyncio keeps its
        efficiency where threads lose theirs to start-up and wake-ups. Blocking driver: a blocking call in a
        coroutine stalls every other coroutine (the loop has one thread), while notebook 03 shows threads
        overlapping exactly such waits up to dozens at once: 50 is well within that range.
    """


q1 = PickEngines("q1")
q2 = AsyncFetchAll("q2")
q3 = GilWall("q3")
q4 = JustifyByMeasurement("q4")
