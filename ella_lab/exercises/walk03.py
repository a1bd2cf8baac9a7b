"""The "Your turn" exercises of notebook 03, the threaded router: ``from ella_lab.exercises import walk03 as ex``.

q1 predicts how long the guide's router takes, idle tail included; q2 is the sentinel worker, checked
with instruments: a queue that remembers which request each thread took and whether it was marked
done, results that notice an answer stored after ``task_done()``, a source that records every call
and the most calls in flight at once (a lock held around every fetch shows as one), and ``join()``
tried while the work is in flight.

q3 (a shared tally) and q4 (a transfer between two accounts) are the shared-state exercises. Their
checks run the learner's code on ``ella_lab.shared``'s instruments, where every read of shared data
forces a switch to the other threads: a lost update or a deadlock happens on every run, and is judged
by what happened (counts, which lock was held at each write and at each slow call, a cycle of waits
caught under a bound), never by timing. The check's locks give up the first timed or non-blocking
acquire of each thread, so code that ignores a False, drops its update, or retries with no pause (or
the same pause in every thread, recorded through a watched ``time.sleep``, ``Event.wait`` or
``Condition.wait``) shows it on every run. q4 also runs a transfer between accounts no other thread
touches: a lock of the learner's own around every transfer shows as no two threads holding locks at once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..guide import run_guide_router
from ..shared import LONG_TIMEOUT, Abandoned, Account, Deadlock, Lock, Retried, Run, SharedDict, Switchboard
from ..timing import format_seconds
from ._core import BLANK, Incorrect, NotAttempted, Question, same
from .walk01 import Prediction

__all__ = ["BLANK", "STOP", "____", "q1", "q2", "q3", "q4"]

____ = BLANK
STOP = object()  # the sentinel of q2: one per worker, after the last request
_real_sleep = time.sleep  # the check's own pauses: never counted as a worker's (see SentinelWorker._sleeps_counted)
MIN_GAP = 0.01  # s: q2's polling rule: a worker may ask the empty queue again only after waiting this long


class GuideRunPrediction(Prediction):
    title = "Predict: the guide's router, 5 requests on 2 workers"
    expects = "a number of seconds, like 0.5"  # not 0.25, the default example: here a classic slip
    model = 0.27
    tolerance = 1e-3  # the model is exact; this covers float rounding (0.27000000000000002)
    measured_above = 0.1  # 0.27 .. 0.297 s: what the check's own run prints, not the model
    formula = "⌈5/2⌉ · 0.05 s + 0.12 s (the rounds of work, then one idle timeout)"
    gap = "time.sleep and get(timeout=...) wake a little late, and each thread takes a moment to start"
    mistakes = (
        (0.15, "that is the work alone; after it, every worker still waits IDLE in get(timeout=IDLE)."),
        (0.245, "that is N·L/K + IDLE; a request cannot be split between workers: count whole rounds."),
        (0.22, "that is ⌊5/2⌋ rounds + IDLE: the last, partial round still takes a full latency."),
        (0.25, "that is 5 · L, one worker alone with no idle tail: two fetches are in flight at once, and the "
               "workers still wait IDLE at the end."),
        (0.32, "that is one round too many: ⌈5/2⌉ = 3 rounds of L, then one idle timeout."),
        (0.37, "that is 5 · L + IDLE, one worker alone: two fetches are in flight at once."),
        (0.39, "that is 3 · L + 2 · IDLE, the idle tail counted once per worker: their timeouts overlap, so the "
               "run ends one IDLE after the last answer."),
        (0.24, "that is 2 · IDLE, one timeout per worker with no work: the work comes first, 3 rounds of L."),
        (0.17, "that is L + IDLE, as if all five requests were fetched at once: two workers fetch two at a time, "
               "⌈5/2⌉ = 3 rounds of L."),
        (0.12, "that is the idle timeout alone: the work comes first, 3 rounds of L, then the timeout."),
    )  # fmt: skip
    hints = (
        "The work: 5 requests in rounds of 2, each round L = 0.05 s. Count the last, partial round.",
        "Then each worker sits in get(timeout=IDLE) on the empty queue before it gives up (IDLE = 0.12 s); their "
        "timeouts overlap, so the run ends one IDLE after the last answer.",
    )
    stub = """
        my_prediction = ____  # seconds
    """
    solution_text = """
        import math

        my_prediction = math.ceil(5 / 2) * 0.05 + 0.12  # 3 rounds of 50 ms, then a 120 ms idle tail = 0.27 s
    """

    def measure(self) -> float:
        return run_guide_router(2, 5, latency=0.05, idle_timeout=0.12, join_timeout=5.0).wall_s


class _TrackedQueue(queue.Queue):
    """A ``queue.Queue`` that remembers, per thread, what it took last, whether it was marked done, and puts by workers.

    While ``starving`` is set, a get() with a timeout (or without blocking) on the empty queue raises
    ``queue.Empty`` at once: the queue stays empty longer than any timeout a worker may choose. Each thread's
    ``empties`` counts those (and ``empty()`` calls that said True) and ``waited`` adds up their timeouts (and,
    while the check watches them, its ``time.sleep`` calls); ``short_gaps`` counts the asks that came less than
    ``MIN_GAP`` after the thread's previous ask, its waits in between (that ask's timeout, then its sleeps) added up:
    a worker that polls the empty queue with no (or a tiny) wait between asks shows many short gaps.
    With ``spare_long`` set, a get() with a timeout of ``LONG_TIMEOUT`` or more waits as it would on a real queue.
    """

    def __init__(self) -> None:
        super().__init__()
        self.taken: dict[int, list] = {}  # thread id -> [item, task_done() called for it?], its last get()
        self.entries: list[list] = []  # every get()'s [item, task_done() called for it?], in order
        self.last: dict[int, Any] = {}  # thread id -> the item its last get() returned, or queue.Empty
        self.empty_timeout: dict[int, float | None] = {}  # thread id -> its last empty get()'s timeout (None: nowait)
        self.empties: dict[int, int] = {}
        self.waited: dict[int, float] = {}
        self.since: dict[int, float] = {}  # thread id -> its wait since its last empty ask (absent: no ask yet)
        self.short_gaps: dict[int, int] = {}  # thread id -> its asks that came less than MIN_GAP after the previous
        self.blocked: set[int] = set()  # threads in a get() with no timeout now
        self.starving = threading.Event()
        self.spare_long = False
        self.owner = threading.get_ident()
        self.worker_puts: list[Any] = []

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        me = threading.get_ident()
        try:
            long = block and timeout is not None and timeout >= LONG_TIMEOUT and self.spare_long
            if (not block or timeout is not None) and not long and self.starving.is_set():
                try:
                    item = super().get(False)
                except queue.Empty:
                    waited = timeout if block and timeout is not None and timeout > 0 else 0.0
                    self.empty_timeout[me] = waited if block else None
                    self.asked_empty(me, waited)
                    _real_sleep(0.005)  # time passes; no hot loop for a worker that tries again
                    raise
            else:
                if block and (timeout is None or long):
                    self.blocked.add(me)
                try:
                    item = super().get(block, timeout)
                finally:
                    self.blocked.discard(me)
        except queue.Empty:
            self.last[me] = queue.Empty
            raise
        entry = [item, False]
        self.taken[me] = entry
        self.entries.append(entry)
        self.last[me] = item
        return item

    def empty(self) -> bool:
        found = super().empty()
        if found and self.starving.is_set():
            self.asked_empty(threading.get_ident(), 0.0)
            _real_sleep(0.005)
        return found

    def asked_empty(self, me: int, wait: float) -> None:
        """Thread ``me`` found the queue empty, after waiting ``wait`` (its get()'s timeout; 0 for get_nowait() or
        empty()): count the ask, and whether it came less than ``MIN_GAP`` after the previous one."""
        if me in self.since and self.since[me] < MIN_GAP - 1e-9:  # 1e-9: 0.005 + 0.005 is no shorter than 0.01
            self.short_gaps[me] = self.short_gaps.get(me, 0) + 1
        self.since[me] = wait
        self.empties[me] = self.empties.get(me, 0) + 1
        self.waited[me] = self.waited.get(me, 0.0) + wait

    def slept(self, me: int, seconds: float) -> None:
        """Thread ``me`` slept ``seconds`` while the queue was kept empty: a wait, as a get()'s timeout is."""
        self.waited[me] = self.waited.get(me, 0.0) + seconds
        if me in self.since:
            self.since[me] += seconds

    def undone(self) -> list[Any]:
        """The items whose get() had no task_done() from the thread that took them."""
        return [item for item, done in self.entries if not done]

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if threading.get_ident() != self.owner:
            self.worker_puts.append(item)
        super().put(item, block, timeout)

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
    """The results dict: notices an answer stored after its request's ``task_done()``, by any way of storing."""

    def __init__(self, tasks: _TrackedQueue) -> None:
        super().__init__()
        self.tasks, self.late = tasks, []

    def _note(self, request: Any) -> None:
        if self.tasks.done_with(request):
            self.late.append(request)

    def __setitem__(self, request: Any, answer: Any) -> None:
        self._note(request)
        super().__setitem__(request, answer)

    def update(self, *args: Any, **kwargs: Any) -> None:
        items = dict(*args, **kwargs)
        for request in items:
            self._note(request)
        super().update(items)

    def setdefault(self, request: Any, default: Any = None) -> Any:
        self._note(request)
        return super().setdefault(request, default)

    def __ior__(self, other: Any) -> _TrackedResults:
        self.update(other)
        return self


class _Overlapping:
    """Counts a fetch's calls in flight, and lets the first wait (at most ``OVERLAP`` s) for a second to start.

    So workers that can fetch at the same time are seen doing so on every run, however busy the machine,
    and a lock held around every fetch (the check's or the learner's own) shows as one call at a time.
    """

    OVERLAP = 0.5

    def __init__(self) -> None:
        self.in_flight = self.most_in_flight = self.started = 0
        self._overlapped = threading.Event()
        self._count = threading.Lock()

    @contextlib.contextmanager
    def _in_flight(self, record: Any) -> Iterator[bool]:
        """Around one call: ``record()`` under the count's lock; yields whether this is the first call."""
        with self._count:
            record()
            self.started += 1
            first = self.started == 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            if self.in_flight >= 2:
                self._overlapped.set()
        try:
            yield first
        finally:
            with self._count:
                self.in_flight -= 1

    def _wait_for_a_second(self) -> None:
        self._overlapped.wait(self.OVERLAP)  # bounded: another worker's fetch may start meanwhile


class _RecordingSource(_Overlapping):
    """A fetch that records every call and its thread, notices work after task_done(), and fails on some requests.

    It also records the most calls in flight at once (``_Overlapping``).
    """

    def __init__(self, tasks: _TrackedQueue, failing: dict[str, type[Exception]], latency: float = 0.003) -> None:
        super().__init__()
        self.tasks, self.failing, self.latency = tasks, failing, latency
        self.calls: list[tuple[Any, str]] = []
        self.early: list[Any] = []
        self.raised: list[BaseException] = []

    def __call__(self, request: Any) -> str:
        with self._in_flight(lambda: self.calls.append((request, threading.current_thread().name))) as first:
            if self.tasks.done_with(request):
                self.early.append(request)
            if first:
                self._wait_for_a_second()
            _real_sleep(self.latency)
            kind = self.failing.get(request) if isinstance(request, str) else None
            if kind is not None:
                exc = kind(f"source failed on {request}")
                self.raised.append(exc)
                raise exc
            return f"Result for {request}"


class _Fresh:
    """A kind of failure made anew for each run: a subclass of ``Exception`` that no ``except`` clause can name,
    so only a worker that catches every ``Exception`` keeps it as an answer."""

    def __init__(self, name: str) -> None:
        self.name = name

    def make(self) -> type[Exception]:
        return type(self.name, (Exception,), {"__doc__": "A failure of the check's source, made for one run."})


class _Case:
    """One run of the check: the request names, the failures, how many workers."""

    def __init__(self, first: tuple[str, ...], later: tuple[str, ...], failing: dict[str, type[Exception]],
                 workers: int) -> None:  # fmt: skip
        self.first, self.later, self.failing, self.workers = first, later, failing, workers

    @property
    def requests(self) -> tuple[str, ...]:
        return self.first + self.later

    def fresh(self) -> _Case:
        """This case, with each :class:`_Fresh` kind made anew: a class no worker's ``except`` can have named."""
        kinds = {r: kind.make() if isinstance(kind, _Fresh) else kind for r, kind in self.failing.items()}
        return _Case(self.first, self.later, kinds, self.workers)


class SentinelWorker(Question):
    title = "The sentinel worker"
    expects = "a function worker(tasks, results, fetch)"
    VISIBLE = _Case(
        first=tuple(f"DataRequest-{i}" for i in range(6)),  # queued first; join() is tried on them
        later=tuple(f"DataRequest-{i}" for i in range(6, 10)),  # queued after the queue was empty for a while
        failing={"DataRequest-4": ConnectionError, "DataRequest-7": _Fresh("ParseError")},  # a kind nobody lists
        workers=3,
    )
    HIDDEN = (
        _Case(tuple(f"Order-{i}" for i in range(4)), tuple(f"Order-{i}" for i in range(4, 11)),
              {"Order-1": TimeoutError, "Order-9": KeyError}, 2),
        _Case(tuple(f"Query-{i}" for i in range(9)), tuple(f"Query-{i}" for i in range(9, 12)),
              {"Query-0": ConnectionError, "Query-10": _Fresh("DecodeError")}, 4),
    )  # fmt: skip
    SPINS = 20  # more asks of the empty queue than this, each less than MIN_GAP after the previous: polling
    BOUND = 2.0  # every wait of the check
    hints = (
        "Loop: request = tasks.get() with no timeout (a STOP will come); if `request is ex.STOP`, leave.",
        "Put the call of fetch(request) in try/except Exception, and store the exception itself as the answer.",
        "Every tasks.get() needs exactly one tasks.task_done(), the STOP's too, and only after the answer is "
        "stored: wrap the body in try/finally.",
    )
    stub = """
        def worker(tasks, results, fetch):
            # YOUR CODE HERE (about 10 lines): take requests until ex.STOP; store each answer, or the exception;
            # mark every task done, once its answer is stored.
            raise NotImplementedError
    """
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
        return self._run(worker, self.VISIBLE)

    def _check_hidden(self, worker: Any) -> str:
        messages = [self._run(worker, case) for case in self.HIDDEN]
        return messages[-1]

    def _run(self, worker: Any, case: _Case, *, spare_long: bool = False) -> str:
        if not callable(worker):
            raise Incorrect(f"expected a function worker(tasks, results, fetch), got {worker!r}")
        case = case.fresh()
        tasks = _TrackedQueue()
        tasks.starving.set()
        tasks.spare_long = spare_long
        results = _TrackedResults(tasks)
        source = _RecordingSource(tasks, case.failing)
        died: dict[str, BaseException] = {}
        left_on: dict[str, Any] = {}  # worker -> what its last get() returned when it returned
        left_timeout: dict[str, float | None] = {}  # worker -> its last empty get()'s timeout (None: get_nowait)
        died_after: dict[str, float | None] = {}  # a worker that died -> the timeout of the empty get before, or None

        def run(name: str) -> None:
            try:
                worker(tasks, results, source)
            except BaseException as exc:  # the student's worker died: remember why
                died[name] = exc
                empty = tasks.last.get(threading.get_ident(), None) is queue.Empty
                died_after[name] = tasks.empty_timeout.get(threading.get_ident(), None) if empty else None
            else:
                left_on[name] = tasks.last.get(threading.get_ident(), None)
                left_timeout[name] = tasks.empty_timeout.get(threading.get_ident(), None)

        threads = [
            threading.Thread(target=run, args=(f"worker-{i}",), name=f"ella-exercise-{i}", daemon=True)
            for i in range(case.workers)
        ]
        for request in case.first:
            tasks.put(request)
        for t in threads:
            t.start()
        at_join: dict = {}
        with self._sleeps_counted(tasks, getattr(worker, "__globals__", {})):
            joined = self._join(tasks, results, at_join, threads)
            spinning = self._pause(tasks, threads)  # the queue is empty now; the work is not over
        for request in case.later:
            tasks.put(request)
        for _ in threads:
            tasks.put(STOP)
        tasks.starving.clear()
        deadline = time.perf_counter() + self.BOUND
        for t in threads:
            t.join(max(0.0, deadline - time.perf_counter()))
        alive = sum(t.is_alive() for t in threads)
        note = None if spare_long else self._safety_net(died, died_after)
        if note is not None:
            return self._run(worker, case, spare_long=True) + note
        return self._verdict(case, tasks, results, source, died, left_on, left_timeout, joined, at_join, alive,
                             spinning)  # fmt: skip

    @staticmethod
    def _safety_net(died: dict[str, BaseException], died_after: dict[str, float | None]) -> str | None:
        """Workers that raised right after a get() with a long timeout gave up: a loud safety net, told; else None.

        The check's queue makes every timed get() on it give up at once while it is kept empty, as a lull longer
        than any timeout would. For a timeout of ``LONG_TIMEOUT`` or more, raising then is a failure the learner
        sees, not a request lost in silence (the guide's idle exit): the check runs again with such gets left
        to wait, and this note is added to that run's verdict."""
        timeouts = list(died_after.values())
        if not died or not all(t is not None and t >= LONG_TIMEOUT for t in timeouts):
            return None
        exc = next(iter(died.values()))
        if isinstance(exc, NotImplementedError):
            return None
        timeout = min(t for t in timeouts if t is not None)
        return (
            f" The check made your get(timeout={timeout:g}) give up at once (its queue does so while kept empty, "
            f"as after a lull longer than any timeout), and your worker raised {exc!r} rather than leave in "
            "silence: a failure you see, not a request lost. So the check ran again with every get() of "
            f"{LONG_TIMEOUT:g} s or more left to wait, as on a real queue: that run is the one judged here."
        )

    @staticmethod
    @contextlib.contextmanager
    def _sleeps_counted(tasks: _TrackedQueue, namespace: dict[str, Any]) -> Iterator[None]:
        """While the queue is kept empty, a worker's ``time.sleep`` (``time.sleep`` itself, and any name in the
        worker's module bound to it) adds to its ``waited``, as a get()'s timeout does: a sleep between two asks
        is a wait, so every poll is judged by one rule, however it waits."""

        def sleep(seconds: float) -> None:
            me = threading.get_ident()
            if me != tasks.owner and tasks.starving.is_set() and isinstance(seconds, int | float) and seconds > 0:
                tasks.slept(me, seconds)
            _real_sleep(seconds)

        swapped = [name for name, value in list(namespace.items()) if value is _real_sleep]
        time.sleep = sleep
        for name in swapped:
            namespace[name] = sleep
        try:
            yield
        finally:
            time.sleep = _real_sleep
            for name in swapped:
                if namespace.get(name) is sleep:
                    namespace[name] = _real_sleep

    def _pause(self, tasks: _TrackedQueue, workers: list[threading.Thread]) -> str | None:
        """Leave the queue empty until each worker has left, waits in get() with no timeout, or has asked the empty
        queue more than ``SPINS`` + 1 times. A worker with more than ``SPINS`` asks that came less than ``MIN_GAP``
        after the previous one (its waits in between, a timeout or sleeps, added up) polls too tightly. Whether any
        worker did, and how ("a busy wait": no wait at all between asks, or "polling": short waits, timed gets or
        sleeps alike), is the answer (None: none did); machine speed does not change it: one rule, per ask."""
        for counts in (tasks.empties, tasks.waited, tasks.since, tasks.short_gaps):
            counts.clear()

        def settled(t: threading.Thread) -> bool:
            me = t.ident
            return not t.is_alive() or me in tasks.blocked or tasks.empties.get(me, 0) > self.SPINS + 1

        deadline = time.perf_counter() + self.BOUND
        while not all(settled(t) for t in workers) and time.perf_counter() < deadline:
            _real_sleep(0.005)
        polled = [t.ident for t in workers if tasks.short_gaps.get(t.ident, 0) > self.SPINS]
        if not polled:
            return None
        return "polling" if all(tasks.waited.get(me, 0.0) > 0 for me in polled) else "a busy wait"  # fmt: skip

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

    def _verdict(self, case, tasks, results, source, died, left_on, left_timeout, joined, at_join, alive,
                 spinning) -> str:  # fmt: skip
        requests = case.requests
        if any(isinstance(exc, NotImplementedError) for exc in died.values()):
            raise NotAttempted("replace `raise NotImplementedError` with your loop, then run the cell again.")
        missing = [r for r in requests if r not in results]
        if died:
            self._judge_death(case, source, died, missing)
        if not results:
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
        if any(request is STOP for request, _ in source.calls):
            raise Incorrect(
                "fetch was called with the sentinel STOP: check `request is ex.STOP` before fetching (a STOP of "
                "your own, `STOP = object()`, is another object: use ex.STOP)."
            )
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
        fetched = {request for request, _ in source.calls}
        dropped = [r for r in missing if r in fetched]
        if dropped:
            raise Incorrect(
                f"{dropped[0]} was fetched, but its answer was never stored (it failed with "
                f"{case.failing.get(dropped[0], Exception).__name__}?): a failure is an answer too; store the "
                "exception: `except Exception as exc: results[request] = exc`."
            )
        plain = [item for item in left_on.values() if item is not STOP and item not in case.failing]
        on_empty = [name for name, item in left_on.items() if item is queue.Empty]
        if on_empty or (case.later[0] in missing and not alive and plain):
            lost = missing[0] if missing else case.later[0]
            timeouts = [left_timeout.get(name) for name in on_empty]
            if any(t is not None for t in timeouts):
                why = (
                    "a get(timeout=…) exit ends a worker whenever the queue is empty that long (the check keeps "
                    "the queue empty past any timeout, as a real lull can)"
                )
            elif on_empty:
                why = "a get_nowait() exit ends a worker whenever the queue is empty for a moment"
            else:
                why = "a `while not tasks.empty()` loop ends a worker whenever the queue is empty for a moment"
            raise Incorrect(
                f"{lost} was never answered: the workers left while the queue was empty, before their STOP came: "
                f"{why}. Only the STOP says the work is over."
            )
        after_failure = [item for item in left_on.values() if isinstance(item, str) and item in case.failing]
        if after_failure:
            raise Incorrect(
                f"a worker returned after {after_failure[0]} failed, without taking a STOP: its STOP stayed in "
                "the queue and tasks.join() waits for it. Return only on STOP; a failure is an answer, not a "
                "reason to leave."
            )
        if joined and any(r not in at_join for r in case.first):
            lost = next(r for r in case.first if r not in at_join)
            raise Incorrect(f"tasks.join() returned before the answer to {lost} was stored.")
        if missing:
            raise Incorrect(
                f"{missing[0]} was never answered; {alive} worker(s) still running after {self.BOUND:g} s: is the "
                "loop stuck? Stuck threads keep running in this kernel: restart it if the notebook slows down."
            )
        if tasks.worker_puts:
            what = "STOP" if tasks.worker_puts[0] is STOP else repr(tasks.worker_puts[0])
            raise Incorrect(
                f"a worker put {what} back on the queue: every put() is a task that join() waits for, and one STOP "
                "per worker is queued already. Take your STOP and return; put nothing."
            )
        early = [item for item in left_on.values() if item is not STOP]
        if early:
            raise Incorrect(
                f"a worker returned after {early[0]!r} without taking a STOP: {len(early)} STOP(s) stayed in the "
                "queue and tasks.join() waits for them. Return only on STOP."
            )
        if alive:
            raise Incorrect(
                f"every request was answered, but {alive} worker(s) were still running {self.BOUND:g} s after their "
                "STOP was queued: a worker must return when it takes STOP."
            )
        fetched_list = [request for request, _ in source.calls]
        twice = [r for r in requests if fetched_list.count(r) > 1]
        if twice:
            raise Incorrect(f"{twice[0]} was fetched {fetched_list.count(twice[0])} times: fetch each request once.")
        for request, kind in case.failing.items():
            failure = results[request]
            if isinstance(failure, str) and "source failed" in failure:
                raise Incorrect(
                    f"the answer to {request} is the text {failure!r}: store the exception object itself, so its "
                    "type survives."
                )
            if not isinstance(failure, kind):
                raise Incorrect(f"{request} failed, and its answer should be the exception itself; got {failure!r}.")
        wrong = [r for r in requests if r not in case.failing and results[r] != f"Result for {r}"]
        if wrong:
            raise Incorrect(f"the answer for {wrong[0]} should be what fetch returned; got {results[wrong[0]]!r}.")
        if not joined or tasks.unfinished_tasks:
            count = tasks.unfinished_tasks
            undone = tasks.undone()
            named = [item for item in undone if item is not STOP]
            stops = len(undone) - len(named)
            what = ", ".join([*named[:3], *(["..."] if len(named) > 3 else []),
                              *([f"{stops} STOP(s)"] if stops else [])])  # fmt: skip
            also = " The STOP needs its task_done() too." if stops else ""
            failed = (
                " Every get() needs one, whatever happened: call it in a finally."
                if set(named) & set(case.failing)
                else ""
            )
            raise Incorrect(
                f"every request answered, but tasks.join() would wait forever: {count} get() call(s) had no "
                f"task_done() ({what}).{also}{failed}"
            )
        if spinning == "polling":
            raise Incorrect(
                "every request was answered, but while the queue was empty a worker kept asking it for work, more "
                f"than {self.SPINS} times less than {MIN_GAP * 1000:g} ms after its previous ask (its wait in "
                "between, a get()'s timeout or a sleep, added up): polling, which wakes the thread every few "
                "milliseconds for nothing. Call tasks.get() with no timeout: it sleeps until a request or the STOP "
                f"comes (a timeout of {MIN_GAP * 1000:g} ms or more that tries again is accepted too)."
            )
        if spinning:
            raise Incorrect(
                "every request was answered, but while the queue was empty a worker kept asking it for work (more "
                f"than {self.SPINS} get_nowait() or empty() calls in a row, with no wait between them): a busy wait, "
                "which burns a core doing nothing. Call tasks.get() with no timeout: it sleeps until a request or "
                "the STOP comes."
            )
        if source.most_in_flight < 2:
            raise Incorrect(
                f"every request was answered, but fetch never ran in two workers at once (the first call waited "
                f"{source.OVERLAP:g} s for a second): is a lock held around the fetch? Then the workers fetch one at "
                f"a time, and {case.workers} threads are no faster than one. Hold no lock during the slow call."
            )
        workers = len({name for _, name in source.calls})
        return (
            f"{len(requests)} requests answered once each by {workers} workers, the failures recorded, join() "
            "returned with every answer stored, and every worker left on its STOP."
        )

    @staticmethod
    def _judge_death(case: _Case, source: _RecordingSource, died: dict[str, BaseException], missing: list) -> None:
        """A worker raised: say whether fetch's failure escaped, or the worker's own code raised (and what)."""
        exc = next(iter(died.values()))
        if any(exc is raised for raised in source.raised):
            caught = [type(e).__name__ for e in source.raised if not any(e is d for d in died.values())]
            also = f" (the {caught[0]} was caught: catch Exception, not one kind)" if caught else ""
            lost = missing[0] if missing else "a request"
            raise Incorrect(
                f"{lost} was never answered: a worker died on {exc!r}, raised by fetch{also}. Catch exceptions "
                "around each fetch (`except Exception as exc`), and store the exception as that request's answer."
            )
        if isinstance(exc, NameError):
            raise Incorrect(
                f"a worker died on {exc!r}: a name your loop uses is not defined (the sentinel is ex.STOP)."
            )
        if isinstance(exc, ValueError) and "task_done" in str(exc):
            raise Incorrect(
                f"a worker died on {exc!r}: task_done() was called twice for one get(). Call it once, in the finally."
            )
        raise Incorrect(f"a worker died on {exc!r}, raised by your loop's own code, not by fetch.")


# -- shared state: q3 (a tally) and q4 (a transfer) ---------------------------------------------

_LOCK_MAKERS = {"Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition"}


def _code_names(function: Any) -> set[str]:
    """The global and attribute names that `function`'s code reads, nested functions and lambdas included."""
    codes, names = [getattr(function, "__code__", None)], set()
    while codes:
        code = codes.pop()
        if code is not None:
            names |= set(code.co_names)
            codes += [c for c in code.co_consts if hasattr(c, "co_names")]
    return names


def _makes_locks(function: Any) -> bool:
    """Does ``function``'s code (nested functions included) name a lock class: a new lock made per call?"""
    return bool(_code_names(function) & _LOCK_MAKERS)


_SHARED_LOCK_TYPES = (
    type(threading.Lock()), type(threading.RLock()), threading.Semaphore, threading.BoundedSemaphore
)  # a Condition is left out: a pause may wait on one of its own


def _own_shared_lock(function: Any) -> str | None:
    """The name of a lock the function reaches that every call shares (a global, a closure's, a default), or None."""
    names = _code_names(function)
    space = getattr(function, "__globals__", {})
    found = {name: space[name] for name in sorted(names) if name in space}
    code = getattr(function, "__code__", None)
    for name, cell in zip(getattr(code, "co_freevars", ()), getattr(function, "__closure__", None) or (), strict=False):
        with contextlib.suppress(ValueError):  # an empty cell
            found[name] = cell.cell_contents
    for index, value in enumerate(getattr(function, "__defaults__", None) or ()):
        found[f"a default argument (number {index + 1})"] = value
    found |= getattr(function, "__kwdefaults__", None) or {}
    return next((name for name, value in found.items() if isinstance(value, _SHARED_LOCK_TYPES)), None)


class _LeftHeld(Exception):
    """The learner's function returned while its thread still held a lock of the check."""


def _call_then_look(board: Switchboard, function: Any, *args: Any) -> None:
    """Call the learner's function; then no lock of the board may still be held by this thread."""
    function(*args)
    held = board.held()
    if held:
        raise _LeftHeld(held[0].name)


def _safety_net(run: Run, refused_long: list[float]) -> str | None:
    """After an acquire with a long timeout (a safety net) that the check refused: the learner's own exception, told.

    The check refuses each thread's first timed acquire, as a lock held past the timeout would. For a timeout of
    ``LONG_TIMEOUT`` or more, which no lock of a check comes near, raising on False is a loud failure, not a lost
    update: this returns the note to add to a second run's verdict (a run that spares such waits), else None."""
    errors = list(run.errors.values())
    if not refused_long or not errors or run.alive:
        return None
    if any(isinstance(e, Deadlock | Retried | Abandoned | _LeftHeld | NotImplementedError) for e in errors):
        return None
    timeout = refused_long[0]
    return (
        f" The check made your acquire(timeout={timeout:g}) return False once, as a lock held past {timeout:g} s "
        f"would, and your code raised {errors[0]!r} rather than go on without the lock: a failure you see, not "
        f"an update lost in silence. No lock in this check is held anywhere near {timeout:g} s, so the check ran "
        f"again with waits of {LONG_TIMEOUT:g} s or more left to their course: that run is the one judged here."
    )


_THE_CHECKS_OWN = (Deadlock, Retried, Abandoned, _LeftHeld, NotImplementedError)


def _call_noting_refusals(board: Switchboard, locks: list[Lock], raised: list[BaseException], function: Any,
                          *args: Any) -> None:  # fmt: skip
    """``_call_then_look``; an exception the learner's code raised right after a refused acquire goes in ``raised``."""
    try:
        _call_then_look(board, function, *args)
    except Exception as exc:
        me = threading.get_ident()
        if not isinstance(exc, _THE_CHECKS_OWN) and any(me in lock.failed_last for lock in locks):
            raised.append(exc)
        raise


def _gave_up_then_raised(raised: list[BaseException], what: str, then: str) -> str:
    """The verdict on code that raised when a short timed (or non-blocking) acquire returned False."""
    return (
        f"{what} raised {raised[0]!r}: {then}. The check forces that False once per thread for acquire(False) "
        f"and for a timeout under {LONG_TIMEOUT:g} s; a timeout of {LONG_TIMEOUT:g} s or more it treats as a "
        "safety net and lets wait, since no lock of the check is held anywhere near that long."
    )


def _judge_run(run: Run, what: str, bound: float) -> None:
    """The starter code, a deadlock caught, an exception or a hang: the verdicts every shared-state check shares."""
    errors = list(run.errors.values())
    if any(isinstance(e, NotImplementedError) for e in errors):
        raise NotAttempted("replace `raise NotImplementedError` with your code, then run the cell again.")
    left = [e for e in errors if isinstance(e, _LeftHeld)]
    if left:
        raise Incorrect(
            f"{what} returned still holding {left[0]}: it was taken and never released. Every acquire() needs "
            "its release(), even when the code in between returns or raises: use `with`."
        )
    for exc in errors:
        if isinstance(exc, Deadlock):
            if "finished without releasing" in str(exc):
                raise Incorrect(
                    f"a lock was taken and never released ({exc}): every acquire() needs its release(), even "
                    "when the code in between returns or raises. Use `with lock:`."
                )
            if "(this thread): a cycle" in str(exc) and str(exc).count("held by") == 1:
                raise Incorrect(
                    f"a thread waited for a lock it already held ({exc}): a Lock is not re-entrant. Take it once."
                )
            raise Incorrect(
                f"deadlock, caught by the check instead of hanging: {exc}. Two threads each held one lock and "
                "waited for the other's: take the locks in one order everywhere (say, the lower account number "
                "first), or acquire(timeout=...) and back off."
            )
    if errors:
        raise Incorrect(f"{what} raised {errors[0]!r}.")
    if run.alive:
        raise Incorrect(
            f"{len(run.alive)} thread(s) had not finished after {bound:g} s: is a wait never satisfied, or two "
            "threads backing off and retrying in step forever? Stuck threads keep running in this kernel: "
            "restart it if the notebook slows down."
        )


class _TallyCase:
    def __init__(self, requests: tuple[str, ...], label: Any, workers: int) -> None:
        self.requests, self.workers = requests, workers
        self.answers = {r: label(i) for i, r in enumerate(requests)}

    @property
    def expected(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for answer in self.answers.values():
            counts[answer] = counts.get(answer, 0) + 1
        return counts


class _TallyFetch(_Overlapping):
    """The slow call of q3: records each call, whether its thread held the given lock, and the most calls at once.

    A switch point (the answer takes a while: the other workers run meanwhile). As q2's source, the first call
    waits for a second one (``_Overlapping``): a lock of the learner's own held around the fetch, which the
    check cannot see, shows as one call at a time on every run.
    """

    def __init__(self, case: _TallyCase, board: Switchboard, lock: Lock) -> None:
        super().__init__()
        self.case, self.board, self.lock = case, board, lock
        self.calls: list[Any] = []
        self.held: list[Any] = []

    def __call__(self, request: Any) -> str:
        with self._in_flight(lambda: self.calls.append(request)) as first:
            if self.lock.held_by_me():
                self.held.append(request)
            if first:
                self._wait_for_a_second()
            self.board.switch()
            return self.case.answers[request]


class _TallyCounts(SharedDict):
    """q3's counts: also lists the keys a ``setdefault`` inserted without the lock (it never overwrites a count)."""

    def __init__(self, board: Switchboard, guard: Lock) -> None:
        super().__init__(board, guard=guard)
        self.unguarded_inserts: list[Any] = []

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if self.guard is not None and not dict.__contains__(self, key) and not self.guard.held_by_me():
            self.unguarded_inserts.append(key)  # the write SharedDict.setdefault records, seen before its switch
        return super().setdefault(key, default)


class SafeTally(Question):
    title = "A shared tally, made safe"
    expects = "a function tally(counts, lock, request, fetch)"
    VISIBLE = _TallyCase(
        tuple(f"DataRequest-{i}" for i in range(12)), lambda i: "backup" if i % 4 == 0 else "primary", 3
    )
    HIDDEN = (
        _TallyCase(tuple(f"Order-{i}" for i in range(10)), lambda i: ("cache", "db", "disk")[i % 3], 2),
        _TallyCase(tuple(f"Query-{i}" for i in range(16)), lambda i: "eu" if i % 2 else "us", 4),
    )  # fmt: skip
    BOUND = 10.0
    hints = (
        "Two steps: answer = fetch(request) first, with no lock held (it is the slow call); then the update.",
        "The update reads counts and writes it back: both inside one `with lock:`, e.g. "
        "`counts[answer] = counts.get(answer, 0) + 1`.",
        "Use the `lock` you are given: a lock made inside the function is a new lock on every call, and nobody "
        "else ever waits for it.",
    )
    stub = """
        def tally(counts, lock, request, fetch):
            # YOUR CODE HERE (about 4 lines): answer = fetch(request), the slow call, with no lock held;
            # then add 1 to counts[answer] while holding lock, so that no other worker's update is lost.
            raise NotImplementedError
    """
    solution_text = """
        def tally(counts, lock, request, fetch):
            answer = fetch(request)  # the slow call: no lock held, the other workers go on meanwhile
            with lock:  # read and write as one step: no other worker can come in between
                counts[answer] = counts.get(answer, 0) + 1
    """

    def _check(self, tally: Any) -> str:
        return self._run(tally, self.VISIBLE)

    def _check_hidden(self, tally: Any) -> str:
        return [self._run(tally, case) for case in self.HIDDEN][-1]

    def _run(self, tally: Any, case: _TallyCase, *, refuse_long: bool = True) -> str:
        if not callable(tally):
            raise Incorrect(f"expected a function tally(counts, lock, request, fetch), got {tally!r}")
        board = Switchboard(bound=0.1)
        lock = Lock(board, name="the lock", refuse_first_try=True)  # a timed acquire or a try fails once per thread
        lock.refuse_long = refuse_long
        counts = _TallyCounts(board, guard=lock)
        fetch = _TallyFetch(case, board, lock)
        skipped: list[str] = []  # calls that returned right after an acquire gave up, without the lock since
        raised: list[BaseException] = []  # exceptions raised right after an acquire gave up

        def worker(mine: tuple[str, ...]) -> None:
            for request in mine:
                _call_noting_refusals(board, [lock], raised, tally, counts, lock, request, fetch)
                if threading.get_ident() in lock.failed_last:
                    skipped.append(request)

        shares = [case.requests[k :: case.workers] for k in range(case.workers)]
        with board.sleeps_seen(getattr(tally, "__globals__", {})):  # a pause between two tries is no spin
            run = board.run([lambda mine=mine: worker(mine) for mine in shares], timeout=self.BOUND)
        how = lock.refused[0][1] if lock.refused else "acquire(timeout=...)"
        busy = f"an {how} returned False (the check keeps the lock busy past the first timed or non-blocking acquire "
        busy += "of each thread)"
        if lock.refused and any(isinstance(e, RuntimeError) and "release" in str(e) for e in run.errors.values()):
            raise Incorrect(
                f"{busy}, and your code went on as if it held the lock: it released a lock it did not hold. "
                "False means you do not have the lock: try again, or wait for it with `with lock:`."
            )
        note = _safety_net(run, lock.refused_long) if refuse_long else None
        if note is not None:
            return self._run(tally, case, refuse_long=False) + note
        if raised and not lock.refused_long:
            then = "that update was never made. On False, try again until acquire returns True, or wait for the "
            then += "lock with `with lock:`"
            raise Incorrect(_gave_up_then_raised(raised, f"{busy}, and your tally", then))
        _judge_run(run, "your tally", self.BOUND)
        n, expected = len(case.requests), case.expected
        missing = [r for r in case.requests if r not in fetch.calls]
        if missing:
            raise Incorrect(f"{missing[0]} was never fetched: call fetch(request) once per call of tally.")
        twice = [r for r in case.requests if fetch.calls.count(r) > 1]
        if twice:
            raise Incorrect(f"{twice[0]} was fetched {fetch.calls.count(twice[0])} times: fetch it once.")
        if fetch.held:
            raise Incorrect(
                f"the lock was held during fetch({fetch.held[0]!r}), the slow call: while one worker waits for "
                "its answer, every other worker waits for the lock, and the threads run one at a time. Fetch "
                "first, then take the lock for the update only."
            )
        if fetch.most_in_flight < 2:
            raise Incorrect(
                f"fetch never ran in two threads at once (the first call waited {fetch.OVERLAP:g} s for a second): "
                "is a lock of your own held around the fetch? Then the workers fetch one at a time, and "
                f"{case.workers} threads are no faster than one. Fetch with no lock held; then take `lock`, the one "
                "you are given, for the update only."
            )
        got = dict(counts)
        total = sum(v for v in got.values() if isinstance(v, int) and not isinstance(v, bool))
        lost = f"{n - total} of {n} updates were lost (counts is {got}, expected {expected})"
        if counts.unguarded_after_refusal:
            raise Incorrect(
                f"counts[{counts.unguarded_after_refusal[0]!r}] was written without the lock: {busy}, and the "
                "update went ahead anyway. False means you do not hold the lock: another worker can write the "
                "same count meanwhile. Try again until it returns True, or wait for it with `with lock:`."
            )
        if skipped:
            raise Incorrect(
                f"{n - total} of {n} updates were lost: {busy}, and the update was skipped (the answer to "
                f"{skipped[0]} was never counted). An update must not be dropped: try again until acquire returns "
                "True, or wait for the lock with `with lock:`."
            )
        if counts.unguarded_writes and lock.taken and len(counts.unguarded_inserts) == len(counts.unguarded_writes):
            raise Incorrect(
                f"counts[{counts.unguarded_writes[0]!r}] was inserted by setdefault without the lock. setdefault "
                "never overwrites a count, so no update is lost this way; but the task asks for every write of "
                "counts under `lock`, a rule anyone can check by eye. Move the setdefault inside the `with lock:`."
            )
        if counts.unguarded_writes and lock.taken:
            outcome = lost if total < n else "none was lost in this run, but on a real machine one can be"
            raise Incorrect(
                f"counts[{counts.unguarded_writes[0]!r}] was written without the lock: between the read and that "
                f"write, another worker can write the same count ({outcome}). Read and write inside one "
                "`with lock:`."
            )
        if counts.stale_writes and lock.taken:
            outcome = lost if total < n else "none was lost in this run, but on a real machine one can be"
            raise Incorrect(
                f"counts[{counts.stale_writes[0]!r}] was read (`in`, get or []) without the lock, and the "
                f"write came later under it: another worker can change it in between ({outcome}). Check, read "
                "and write inside one `with lock:`."
            )
        if counts.split_writes:
            outcome = lost if total < n else "none was lost in this run, but on a real machine one can be"
            raise Incorrect(
                f"counts[{counts.split_writes[0]!r}] was read in one `with lock:` and written back in another: "
                f"another worker can come in between the two blocks ({outcome}). Read the count and write it back "
                "inside one `with lock:`."
            )
        if lock.taken == 0 and same(got, expected) and _makes_locks(tally):
            raise Incorrect(
                "the counts are right by luck: a lock made inside tally is a new lock on every call, so no other "
                "thread ever waits for it. Use the `lock` you are given: one lock, shared by every worker."
            )
        if lock.taken == 0 and same(got, expected):
            raise Incorrect(
                "the counts are right, but `lock`, the one you are given, was never taken: the task asks for every "
                "write of counts under it (a lock of your own is one no other code knows to share; with no lock at "
                "all, the counts were right by luck). Hold `lock` around the read and the write."
            )
        if same(got, expected) and lock.unpaused_tries:
            raise Incorrect(
                "every count is right, but your loop retries acquire(False) with no pause until it gets the lock: "
                "a spin burns a core, which the thread holding the lock may need to finish and release it. "
                "`with lock:` waits without using the CPU."
            )
        if same(got, expected):
            return (
                f"{n} answers tallied by {case.workers} threads, with a switch to another thread forced at every "
                "read: nothing lost, and the lock never held during fetch."
            )
        if total >= n or set(got) != set(expected):
            raise Incorrect(f"counts should map each answer to how many times it came, {expected}; got {got}.")
        if lock.taken == 0 and _makes_locks(tally):
            raise Incorrect(
                f"{lost}: a lock made inside tally is a new lock on every call, so no other thread ever waits "
                "for it. Use the `lock` you are given: one lock, shared by every worker."
            )
        if lock.taken == 0:
            raise Incorrect(
                f"{lost}: two workers read the same count, then both wrote count + 1. Hold `lock` around the "
                "read and the write."
            )
        if lock.taken > n:
            raise Incorrect(
                f"{lost}: the lock was taken {lock.taken} times for {n} updates. Another worker can come in "
                "between two `with lock:` blocks: read the count and write it back inside one."
            )
        raise Incorrect(
            f"{lost}: a count written back under the lock was read outside it (a copy of counts, say). Read the "
            "count and write it back inside one `with lock:`."
        )


class _TransferCase:
    def __init__(self, accounts: tuple[tuple[int, int], ...], moves: tuple[tuple[tuple[int, int, int], ...], ...]):
        self.accounts, self.moves = accounts, moves  # moves: per thread, (source index, target index, amount)

    @property
    def disjoint(self) -> bool:
        """Do two threads move money between accounts that no transfer of the other touches?"""
        touched = [{a for s, t, _ in moves for a in (s, t)} for moves in self.moves]
        return any(not (x & y) for i, x in enumerate(touched) for y in touched[i + 1 :])

    def expected(self) -> list[int]:
        balances = [balance for _, balance in self.accounts]
        for thread in self.moves:
            for source, target, amount in thread:
                balances[source] -= amount
                balances[target] += amount
        return balances


class SafeTransfer(Question):
    title = "A transfer between two accounts, without deadlock"
    expects = "a function transfer(source, target, amount)"
    VISIBLE = _TransferCase(
        ((0, 100), (1, 100), (2, 100), (3, 100), (4, 100)),
        (((0, 1, 10),) * 3, ((1, 0, 7),) * 3, ((2, 1, 5),) * 3, ((3, 4, 6),) * 3),
    )  # 0→1 and 1→0 at once; 2→1 into the same account; 3→4 shares no account with the others
    HIDDEN = (  # the ring first: its 0→1 and 2→3 share no account
        _TransferCase(((4, 40), (2, 40), (9, 40), (1, 40)), tuple(((i, (i + 1) % 4, i + 1),) * 2 for i in range(4))),
        _TransferCase(((7, 50), (3, 50)), (((0, 1, 3),) * 4, ((1, 0, 2),) * 4)),
    )
    BOUND = 10.0
    ALONE_AFTER = 8  # switch points left at the bound, no two threads ever holding locks at once: every transfer
    # waits for one thread, blocked on something the check cannot see (a lock of the learner's own)
    hints = (
        "Take both accounts' locks, then move the money (source.balance -= amount; target.balance += amount), "
        "then release them: `with` does it.",
        "transfer(a, b) and transfer(b, a) at the same time: if each takes its source's lock first, each holds "
        "one lock and waits for the other's forever. Take the two locks in the same order in every transfer.",
        "One order for everybody: sort the two accounts by `number` and lock the lower one first. (Or "
        "acquire(timeout=...) the second lock, and on False release the first, wait a random moment, and try again.)",
    )
    stub = """
        def transfer(source, target, amount):
            # YOUR CODE HERE (about 6 lines): move amount from source.balance to target.balance while holding
            # both accounts' locks (source.lock, target.lock); never deadlock with a transfer the other way.
            raise NotImplementedError
    """
    solution_text = """
        def transfer(source, target, amount):
            first, second = sorted((source, target), key=lambda account: account.number)  # one order for all
            with first.lock:
                with second.lock:  # both held: nobody sees the money in neither account, or in both
                    source.balance -= amount
                    target.balance += amount
    """

    def _check(self, transfer: Any) -> str:
        return self._run(transfer, self.VISIBLE)

    def _check_hidden(self, transfer: Any) -> str:
        return [self._run(transfer, case) for case in self.HIDDEN][-1]

    def _run(self, transfer: Any, case: _TransferCase, *, refuse_long: bool = True) -> str:
        if not callable(transfer):
            raise Incorrect(f"expected a function transfer(source, target, amount), got {transfer!r}")
        own = _own_shared_lock(transfer)
        if own is not None:
            raise Incorrect(
                f"your transfer uses a lock of its own, {own}, shared by every call: while one transfer holds it, "
                "every other waits, even between unrelated accounts, and the account locks add nothing (or are "
                "not needed, so nobody holds them). Hold only the two accounts' own locks (source.lock, "
                "target.lock), taken in one order for everybody."
            )
        board = Switchboard(bound=0.1)
        if case.disjoint:  # a lock of the learner's own around every transfer: stop it early, judged below
            board.alone_after = self.ALONE_AFTER
        accounts = [Account(number, balance, board) for number, balance in case.accounts]
        for account in accounts:  # each thread's first timed or non-blocking acquire of a lock gives up
            account.lock.refuse_first_try, account.lock.refuse_long = True, refuse_long

        raised: list[BaseException] = []  # exceptions raised right after an acquire gave up

        def worker(moves: tuple[tuple[int, int, int], ...]) -> None:
            for source, target, amount in moves:
                _call_noting_refusals(board, [a.lock for a in accounts], raised, transfer, accounts[source],
                                      accounts[target], amount)  # fmt: skip
                board.call_over()  # the next transfer is no retry of this one

        with board.sleeps_seen(getattr(transfer, "__globals__", {})):  # the pause before each retry, recorded
            run = board.run([lambda moves=moves: worker(moves) for moves in case.moves], timeout=self.BOUND)
        if board.alone and not any(a.lock.taken for a in accounts):
            raise Incorrect(
                "no account's lock was taken, and every transfer waited for the one before: a lock of your own "
                "around every transfer makes each one wait for all the others, even between unrelated accounts. "
                "Hold the two accounts' own locks (source.lock, target.lock)."
            )
        waited_unseen = board.alone or board.timeouts > 0  # a switch point waited for a thread blocked out of sight
        if waited_unseen and case.disjoint and board.most_holders < 2 and any(a.lock.taken for a in accounts):
            raise Incorrect(
                "no two transfers ever held account locks at the same time, not even two between different "
                "accounts: a lock of your own around every transfer makes each one wait for all the others, as one "
                "lock for the bank would, and the account locks add nothing. Hold only the two accounts' own locks "
                "(source.lock, target.lock), taken in one order for everybody."
            )
        gave_up = "a thread gave up a lock (its acquire returned False: the check keeps a lock busy past the first "
        gave_up += "timed or non-blocking acquire of each thread)"
        kept = [e for e in run.errors.values() if isinstance(e, Deadlock) and e.kept_first]
        if kept:
            raise Incorrect(
                f"you kept the first lock while retrying the second: still a deadlock, with timeouts ({kept[0]}). "
                "Each thread keeps its lock and waits for the other's, round after round. On False, release the "
                "lock you hold (leave the `with`), pause a random moment, then take both again; or take the two "
                "locks in one order for everybody."
            )
        retried = [e for e in run.errors.values() if isinstance(e, Retried)]
        if any(e.while_holding for e in retried):
            raise Incorrect(
                f"{gave_up}, and paused while still holding the other lock: a pause while holding counts as none. "
                "The other thread waits for that lock all the while; then both retry together and can clash again, "
                "round after round (a livelock). Release every lock first (leave the `with`), then "
                "time.sleep(random.uniform(0, 0.01)), then try again."
            )
        if any(e.spun for e in retried):
            raise Incorrect(
                f"{gave_up}, released what it held, and kept the CPU busy in a loop before trying again: a spin "
                "burns a core, which the thread holding the lock may need to finish and release it. Pause instead: "
                "time.sleep(random.uniform(0, 0.01)) waits without using the CPU."
            )
        if retried:
            raise Incorrect(
                f"{gave_up}, released what it held, and tried again with no pause seen (the check sees time.sleep, "
                "Event.wait and Condition.wait). Two threads that give up together then retry together, and "
                "can clash again round after round (a livelock). Pause a random moment before each retry: "
                "time.sleep(random.uniform(0, 0.01))."
            )
        refused = [how for account in accounts for _, how in account.lock.refused]
        if refused and any(isinstance(e, RuntimeError) and "release" in str(e) for e in run.errors.values()):
            raise Incorrect(
                f"an {refused[0]} returned False (the check keeps a lock busy past the first timed or non-blocking "
                "acquire of each thread), and your code went on as if it held the lock: it released a lock it did "
                "not hold. False means you do not have the lock: release what you hold, pause, and try again."
            )
        refused_long = [timeout for account in accounts for timeout in account.lock.refused_long]
        note = _safety_net(run, refused_long) if refuse_long else None
        if note is not None:
            return self._run(transfer, case, refuse_long=False) + note
        if raised and not refused_long:
            then = "that transfer was never made. On False, release what you hold, pause a random moment, and try "
            then += "again; or take the two locks in one order for everybody"
            raise Incorrect(_gave_up_then_raised(raised, f"{gave_up}, and your transfer", then))
        _judge_run(run, "your transfer", self.BOUND)
        still = [a for a in accounts if a.lock.locked()]
        if still:
            raise Incorrect(
                f"account {still[0].number}'s lock is still held after every transfer returned: release every "
                "lock you take (use `with`)."
            )
        partners = {name: {(s, t) for s, t, _ in moves} for name, moves in zip(run.names, case.moves, strict=True)}
        if not any(a.lock.taken for a in accounts):
            if [a._balance for a in accounts] == case.expected():
                raise Incorrect(
                    "the balances are right, but no account's lock was taken: a lock of your own around every "
                    "transfer makes each one wait for all the others, even between unrelated accounts. Hold the "
                    "two accounts' own locks (source.lock, target.lock)."
                )
            why = (
                "a lock made inside transfer is a new lock on every call, so no other thread ever waits for it"
                if _makes_locks(transfer)
                else "no account's lock was taken"
            )
            raise Incorrect(
                f"the balances were written with no account locked: {why}. Hold source.lock and target.lock "
                f"while you move the money. (Balances: {[a._balance for a in accounts]}, expected {case.expected()}.)"
            )
        for index, account in enumerate(accounts):
            for writer, held in account.writes:
                for source, target in partners.get(writer, ()):
                    if index not in (source, target):
                        continue
                    need = {accounts[source].lock.name, accounts[target].lock.name}
                    if not need <= held:
                        missing = sorted(need - held)[0]
                        noticed = " Did an acquire(timeout=...) return False without your code noticing?"
                        raise Incorrect(
                            f"account {account.number}'s balance was written while {missing} was not held: hold "
                            "both accounts' locks for the whole move, or another transfer comes in between (and "
                            f"an audit could see the money in neither account).{noticed if refused else ''}"
                        )
        got, expected = [a._balance for a in accounts], case.expected()
        early = [a for a in accounts if any(a.lock.name not in held for _, held in a.reads)]
        if got != expected and early:
            raise Incorrect(
                f"the balances should be {expected}, got {got}: a balance read before the locks were "
                f"taken (account {early[0].number}'s) was written back under them, over another transfer's update. "
                "Read and write both balances while holding both locks: `source.balance -= amount` inside the `with`."
            )
        if sum(got) != sum(expected):
            raise Incorrect(f"money was {'created' if sum(got) > sum(expected) else 'lost'}: balances {got}, "
                            f"expected {expected}.")  # fmt: skip
        if got != expected:
            raise Incorrect(
                f"the balances should be {expected}, got {got}: move `amount` from source to target, once per "
                "call (a transfer that gave up must try again)."
            )
        opposite = sum(1 for m in case.moves for s, t, _ in m if any((t, s) == (s2, t2) for n in case.moves
                                                                      for s2, t2, _ in n))  # fmt: skip
        paused = [pauses for pauses in board.pauses.values() if pauses]
        longest = max(paused, key=len, default=[])
        if len(paused) >= 2 and all(pauses == longest[: len(pauses)] for pauses in paused):
            raise Incorrect(
                f"every thread paused the same time before its retry ({format_seconds(longest[0])} the first time): "
                "two threads that give up together wake up together and can clash again, round after round (a "
                "livelock). Make the pause differ between threads: time.sleep(random.uniform(0, 0.01))."
            )
        retried = (
            " The threads that gave up a lock (the check keeps a lock busy past the first timed or non-blocking "
            "acquire of each thread) each paused a different time before trying again, so they do not retry in step."
            if paused
            else ""
        )
        return (
            f"{sum(len(m) for m in case.moves)} transfers on {len(case.moves)} threads ({opposite} of them while "
            "another thread moved money the other way), a switch forced after every lock taken: no deadlock, "
            f"both locks held at every write, every balance right.{retried}"
        )


q1 = GuideRunPrediction("q1")
q2 = SentinelWorker("q2")
q3 = SafeTally("q3")
q4 = SafeTransfer("q4")
