"""Exercises for notebook 08, beyond threads: ``from ella_lab.exercises import phase8 as ex``."""

from __future__ import annotations

import asyncio
import inspect
import math
from typing import Any

from ..timing import format_seconds
from ._core import (
    Incorrect,
    Question,
    SecondsQuestion,
    as_real,
    call_bounded,
    check_number,
    close_to,
    same,
)

__all__ = ["q1", "q2", "q3", "q4"]


def _batches(n: int, batch: int) -> list[int]:
    """The requests in each task: ``batch`` each, the last one holds what is left."""
    tasks = math.ceil(n / batch)
    return [batch] * (tasks - 1) + [n - (tasks - 1) * batch]


def _model(n: int, batch: int, slots: int, per_request: float, overhead: float, first: int = 1) -> float:
    """The sheet's model: the scheduler hands out task i at i · overhead; each starts on the earliest free slot."""
    free = [0.0] * slots
    end = 0.0
    for i, size in enumerate(_batches(n, batch), start=first):
        slot = min(range(slots), key=free.__getitem__)
        free[slot] = max(i * overhead, free[slot]) + size * per_request
        end = max(end, free[slot])
    return end


def _overhead_on_the_slot(n, batch, slots, per_request, overhead):
    free = [0.0] * slots
    for size in _batches(n, batch):
        slot = min(range(slots), key=free.__getitem__)
        free[slot] += overhead + size * per_request
    return max(free)


def _no_slot_limit(n, batch, slots, per_request, overhead):
    return max(i * overhead + size * per_request for i, size in enumerate(_batches(n, batch), start=1))


def _last_batch_full(n, batch, slots, per_request, overhead):
    tasks = math.ceil(n / batch)
    return _model(tasks * batch, batch, slots, per_request, overhead)


def _first_task_at_zero(n, batch, slots, per_request, overhead):
    return _model(n, batch, slots, per_request, overhead, first=0)


def _rounds(n, batch, slots, per_request, overhead):
    tasks = math.ceil(n / batch)
    return math.ceil(tasks / slots) * batch * per_request + tasks * overhead


def _partial_batch_dropped(n, batch, slots, per_request, overhead):
    return _model(n - n % batch, batch, slots, per_request, overhead) if n >= batch and n % batch else None


def _work_shared_evenly(n, batch, slots, per_request, overhead):
    return math.ceil(n / batch) * overhead + n * per_request / slots


class BatchMakespan(Question):
    title = "How big a batch for Dask? A model of the makespan"
    expects = "a function dask_makespan(n_requests, batch, slots, per_request, overhead)"
    answer_name = "dask_makespan"
    hints = (
        "Cut the requests into tasks of `batch` requests; the last task holds what is left "
        "(n_requests - (tasks - 1) * batch). Task i (from 1) is handed out at i * overhead.",
        "Keep, for each of the `slots`, the time it is next free. Each task, in order, goes to the slot free "
        "earliest, starts at max(its hand-out time, that slot's free time) and runs size * per_request.",
        "The makespan is the latest end of any task. The overhead is the scheduler's: paid one task after "
        "another, never on the slot.",
    )
    solution_text = """
        import heapq
        import math

        def dask_makespan(n_requests, batch, slots, per_request, overhead):
            tasks = math.ceil(n_requests / batch)
            free = [0.0] * slots  # when each slot is next free
            end = 0.0
            for i in range(1, tasks + 1):
                size = batch if i < tasks else n_requests - (tasks - 1) * batch
                start = max(i * overhead, heapq.heappop(free))  # handed out at i * overhead, on the earliest slot
                heapq.heappush(free, start + size * per_request)
                end = max(end, start + size * per_request)
            return end
    """
    # (n_requests, batch, slots, per_request, overhead): the notebook's scale, 8000 requests at 0 s, and beyond
    CASES = (
        (1000, 100, 8, 0.001, 0.0002),
        (9, 2, 2, 0.1, 0.01),
        (1000, 1, 8, 0.001, 0.0002),
        (1000, 125, 8, 0.001, 0.0002),
        (1000, 63, 8, 0.001, 0.0002),
        (10, 3, 4, 1.0, 0.01),
        (7, 7, 2, 0.5, 0.1),
    )
    HIDDEN = (
        (8000, 250, 32, 0.0, 0.00012),
        (500, 7, 3, 0.002, 0.0005),
        (64, 5, 16, 0.01, 0.003),
        (3, 2, 8, 0.2, 0.05),
        (1200, 40, 6, 0.0015, 0.0001),
    )
    MISTAKES = (
        (_overhead_on_the_slot, "each task paid the overhead on its slot, in parallel with the others: the "
         "scheduler hands the tasks out one after another, task i at i * overhead, and the slot only runs it."),
        (_no_slot_limit, "every task ran as soon as it was handed out, as if there were a slot for each: a task "
         "waits for the earliest free of the `slots`."),
        (_last_batch_full, "the last task was counted as a full batch: it holds only what is left, "
         "n_requests - (tasks - 1) * batch."),
        (_first_task_at_zero, "the first task was handed out at 0: the scheduler needs `overhead` for each task, "
         "the first one too, so task i (from 1) is out at i * overhead."),
        (_rounds, "that is ⌈tasks / slots⌉ rounds of a full batch, plus every task's overhead added up: the "
         "overhead is paid while the slots work, and a slot starts its next task as soon as it is free."),
        (_partial_batch_dropped, "the requests left over after the full batches were dropped: their task runs "
         "too (there are ⌈n / batch⌉ tasks)."),
        (_work_shared_evenly, "that spreads the work evenly over the slots, as if a batch could be split: a "
         "task runs on one slot, whole."),
    )  # fmt: skip

    def _check(self, dask_makespan: Any) -> str:
        self._cases(dask_makespan, self.CASES)
        return (
            "1000 requests of 1 ms on 8 slots at 0.2 ms a task: 1 request a task takes "
            f"{format_seconds(_model(1000, 1, 8, 0.001, 0.0002))} (the scheduler is the bottleneck), 125 a task "
            f"{format_seconds(_model(1000, 125, 8, 0.001, 0.0002))}."
        )

    def _check_hidden(self, dask_makespan: Any) -> str:
        self._cases(dask_makespan, self.HIDDEN + self.CASES)
        return "right on every case."

    def _cases(self, dask_makespan: Any, cases: tuple) -> None:
        if not callable(dask_makespan):
            raise Incorrect(
                f"expected a function dask_makespan(n_requests, batch, slots, per_request, overhead), got "
                f"{dask_makespan!r}"
            )
        for case in cases:
            call = f"dask_makespan{case}"
            expected = _model(*case)
            got = call_bounded(dask_makespan, *case, what="dask_makespan")
            check_number(got, expected, call=call, unit="s")
            if close_to(got, expected):
                continue
            for mistake, why in self.MISTAKES:
                wrong = mistake(*case)
                if wrong is not None and not close_to(wrong, expected) and close_to(got, wrong):
                    raise Incorrect(f"{call} returned {as_real(got):.6g}: {why}")
            raise Incorrect(
                f"{call} returned {as_real(got):.6g}, the model gives {expected:.6g}: work through the first tasks "
                "by hand (when each is handed out, on which slot it starts, when it ends)."
            )


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


class ReadTheModel(Question):
    title = "Choose the batch: read the model"
    checked = False
    solution_text = """
        Model answer. 1,000 requests of 1 ms on 8 threads, 0.2 ms a task: batch = 1 takes 201 ms, because the
        scheduler hands out 1,000 tasks one every 0.2 ms and the threads wait for it; batch = 5, 25 or 125
        takes 126.6 ms, next to the ideal N · L / slots = 125 ms; batch = 100 about 200 ms (10 tasks on 8
        threads: a second round for two of them); batch = 1,000 about 1 s (one thread works, seven idle).
        The rule: the scheduler must hand tasks out faster than the threads finish them, overhead / batch <
        per_request / slots, so batch > slots · overhead / per_request (here 1.6); and the number of tasks
        should fill the threads evenly, a multiple of slots or many times it. Notebook 08 measured what a
        task costs with client.map, near a millisecond on a busy machine: with 32 threads and requests of
        1 ms, a batch then needs dozens of requests, which is why the Router sends chunks. The model leaves
        out what pushes the batch smaller: a slow or failing request holds its whole batch back, and answers
        come back only when their batch ends.
    """


q1 = BatchMakespan("q1")
q2 = AsyncFetchAll("q2")
q3 = GilWall("q3")
q4 = ReadTheModel("q4")
