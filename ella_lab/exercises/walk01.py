"""The "Your turn" exercises of notebook 01, the mission: ``from ella_lab.exercises import walk01 as ex``.

q1 predicts a makespan before it is measured; q2 hands requests to a router with ``submit()`` and
collects the answers from their futures, waiting at most 5 s for each. ``Prediction`` (a number checked
against a model *and* a measurement) is shared by the walkthrough's other exercise modules.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from ..outcome import Outcome
from ..router import Router
from ..timing import clock, format_seconds
from ._core import BLANK, Incorrect, NotAttempted, Question, as_real, call_bounded, raised_by_answer

__all__ = ["BLANK", "Prediction", "____", "q1", "q2", "q3"]

____ = BLANK  # the blank a learner replaces by a number


class Prediction(Question):
    """A number of seconds predicted before a measurement: checked against a model, then compared with a run.

    Subclasses set ``model`` (seconds), ``formula`` (how the model is computed), ``mistakes`` as
    ``(wrong value, what went wrong)`` pairs, ``gap`` (why a measurement sits above the model), and
    write ``measure()`` (runs the experiment, returns seconds). Within ``tolerance`` of the model is correct.
    """

    expects = "a number of seconds, like 0.25"
    model: float = math.nan
    formula = ""
    tolerance = 0.05  # relative
    mistakes: Sequence[tuple[float, str]] = ()
    gap = "time.sleep wakes a little late and each thread takes a moment to start"
    measured_above = 0.0  # relative: a value this far above an exact model is read as a run's time, not the model

    def measure(self) -> float:
        raise NotImplementedError

    def _check(self, value: Any) -> str:
        number = as_real(value)
        if number is None or not math.isfinite(number):
            raise Incorrect(f"give {self.expects}; got {value!r}")
        value = number
        measured = self.measure()
        off = (measured / self.model - 1) * 100
        run = f"The run took {format_seconds(measured)}, {off:+.0f} % from the model: {self.gap}."
        if abs(value - self.model) <= self.tolerance * abs(self.model):  # the same band either side of the model
            return f"you said {value:g} s; the model {self.formula} = {self.model:g} s. {run}"
        band = self.measured_above * abs(self.model) * (1 + 1e-9)  # inclusive: 0.165 - 0.15 is 0.015000000000000013
        if 0 < value - self.model <= band:
            raise Incorrect(
                f"{value:g} s lies between the model and {self.measured_above * 100:.0f} % above it, where a run's "
                f"time falls; if yours is a run's time, not the model, give the model instead: {self.formula} is "
                f"exact. {run}"
            )
        if abs(value - self.model * 1000) <= self.tolerance * abs(self.model * 1000):
            raise Incorrect(f"{value:g} is right in milliseconds; give seconds ({self.model:g}). {run}")
        for wrong, why in self.mistakes:
            if math.isclose(value, wrong, rel_tol=1e-3):
                raise Incorrect(f"{value:g} s: {why} {run}")
            if math.isclose(value, wrong * 1000, rel_tol=1e-3):  # the same slip, written in milliseconds
                raise Incorrect(f"{value:g} looks like milliseconds; in seconds, {wrong:g} s: {why} {run}")
        # after the named mistakes: one of them may lie just under the model (0.245 in notebook 03)
        if 0 < self.model - value <= band:
            raise Incorrect(
                f"{value:g} s is just under the model: the model {self.formula} is exact; work it out and give "
                f"it. {run}"
            )
        factor = value / self.model if self.model else math.inf
        how_far = f"{factor:.2g}× the model" if factor > 0 else "not even positive"
        raise Incorrect(f"{value:g} s is {how_far}; work it out with {self.formula}. {run}")


class MakespanPrediction(Prediction):
    title = "Predict: 10 requests on 4 workers"
    model = 0.15
    formula = "⌈10/4⌉ · 0.05 s"
    tolerance = 1e-3  # the model is exact; this covers float rounding (0.15000000000000002)
    measured_above = 0.1  # 0.15 .. 0.165 s: what the check's own run prints
    mistakes = (
        (0.125, "that is N·L/K; a request cannot be split between workers, so count whole rounds (round up)."),
        (0.1, "that is ⌊10/4⌋ rounds; the last, partial round still takes a full latency: round up."),
        (0.5, "that is one worker alone (N·L); four fetches are in flight at once."),
        (0.2, "that is one round too many, the makespan on 3 workers: on 4, ⌈10/4⌉ = 3 rounds, not 4."),
        (3.0, "that is the number of rounds; multiply by the latency, 0.05 s."),
        (2.5, "that is N/K, a number of rounds not yet rounded up, and not yet multiplied by the latency."),
        (
            0.05,
            "that is one latency, as if all ten ran at once; only 4 fetches are in flight at a time, so count "
            "⌈10/4⌉ rounds.",
        ),
        (
            4.0,
            "that is the number of rounds on 3 workers, ⌈10/3⌉; on 4 workers count ⌈10/4⌉ rounds, and multiply "
            "by the latency, 0.05 s.",
        ),
    )
    hints = (
        "Each worker handles one request at a time, so the workers run in rounds of 4 requests.",
        "10 requests in rounds of 4: how many rounds, counting the last, partial one? Each lasts L = 0.05 s.",
    )
    stub = """
        my_prediction = ____  # seconds, for example 0.3
    """
    solution_text = """
        import math

        my_prediction = math.ceil(10 / 4) * 0.05  # 3 rounds of 50 ms = 0.15 s
    """

    def measure(self) -> float:
        from ..sources import SimulatedSource

        requests = [f"DataRequest-{i}" for i in range(10)]
        return Router(SimulatedSource("primary", latency=0.05), workers=4).run(requests).wall_s


class Rendezvous:
    """A source that records every call (request, thread, start, end) and how many ran at once.

    Each call waits until ``parties`` calls are in flight together (or ``patience`` seconds pass), so
    calls that are sent one at a time show up as ``max_in_flight == 1``. Answers take longer for earlier
    requests, so they finish out of order: in each round of ``parties`` calls, the later requests first
    (the first round finishes 2, 1, 0 on three workers).
    """

    name = "rendezvous"

    def __init__(
        self,
        n: int,
        parties: int,
        patience: float = 0.3,
        step: float = 0.004,
        hold: Callable[[Any], None] | None = None,
    ):
        self.n, self.parties, self.patience, self.step, self.hold = n, parties, patience, step, hold
        self.calls: list[tuple[Any, str]] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Condition()

    def __call__(self, request: Any) -> str:
        with self._lock:
            self.calls.append((request, threading.current_thread().name))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._lock.notify_all()
            self._lock.wait_for(lambda: self.in_flight >= self.parties, timeout=self.patience)
        if self.hold is not None:
            self.hold(request)
        index = int(str(request).rsplit("-", 1)[-1])
        time.sleep(self.step * (self.n - index))  # the first submitted answers last
        with self._lock:
            self.in_flight -= 1
        return f"Result for {request}"


class CollectAnswers(Question):
    title = "Submit every request, then collect every answer"
    expects = "a function submit_all(router, requests)"
    REQUESTS = tuple(f"DataRequest-{i}" for i in range(12))  # from 10 on, names sort out of order
    WORKERS = 3
    LIMIT = 5.0  # seconds the task allows for each answer
    HIDDEN = ((tuple(f"Order-{i}" for i in range(15)), 4), (tuple(f"Query-{i}" for i in range(11)), 2))
    hints = (
        "router.submit(request) returns a Future at once; future.result(timeout=...) waits for its Outcome.",
        "First submit every request (a list of futures), and only then wait for each future, in the same order.",
    )
    stub = """
        def submit_all(router, requests):
            # YOUR CODE HERE (about 2 lines): submit every request, then return their Outcomes, in the requests' order.
            raise NotImplementedError
    """
    solution_text = """
        def submit_all(router, requests):
            futures = [router.submit(request) for request in requests]
            return [future.result(timeout=5) for future in futures]
    """

    def _check(self, submit_all: Any) -> str:
        return self._run(submit_all, self.REQUESTS, self.WORKERS)

    def _check_hidden(self, submit_all: Any) -> str:
        return [self._run(submit_all, requests, workers) for requests, workers in self.HIDDEN][-1]

    def _run(
        self, submit_all: Any, requests: tuple[str, ...], workers: int, *, run_out: bool = True, held: int = 0
    ) -> str:
        """One trial. With ``run_out``, once every other answer has come, the first bounded wait on the held
        answer (``concurrent.futures.wait``, or ``future.result(timeout=...)``, which then raises ``TimeoutError``)
        returns as if its timeout had passed, and the answer's clocks move on by that timeout (``_shifted_clocks``).
        An answer that then raises (a report: not a ``NameError``, ``KeyError``, ... from a slip in its handler) or
        puts ``None`` in place of the missing answers, keeping those that came, handled it, as the task allows; it
        is tried again with a later answer held (``held``: its index), then without the run-out, to judge the rest.
        Further waits on the held answer are run out too while they add up to ``LIMIT``; past it, a retry: a loop
        of such retries may wait for ever.
        """
        if not callable(submit_all):
            raise Incorrect(f"expected a function submit_all(router, requests), got {submit_all!r}")
        submitted: list[Any] = []
        source = Rendezvous(len(requests), workers, patience=0.2)
        router = _CountingRouter(source, workers, submitted, first=requests[held], run_out=run_out, limit=self.LIMIT)
        source.hold = router.hold
        router.__enter__()  # start its workers, as `with Router(...) as router:` does
        handled = ""  # how the answer handled a wait that ran out, if it did
        bug: BaseException | None = None  # a bug in the code that handles the run-out (NameError, ...)
        got: Any = None
        try:
            with _shifted_clocks(submit_all, router):
                got = call_bounded(submit_all, router, list(requests), timeout=5.0, what="submit_all")
            closed_by_answer = router.closed_by_caller  # read before the check closes it below
            if router.ran_out:
                handled = self._none_for_missing(got, requests, held, router.came)
        except Incorrect:
            twice = sorted({r for r in submitted if submitted.count(r) > 1})
            if twice:  # a second submit of the held request is not held: the hang is the answer's own
                raise Incorrect(f"{twice[0]} was submitted more than once: one submit per request.") from None
            raise
        except NotAttempted:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) and not router.ran_out and raised_by_answer(exc):
                self._judge_gave_up(router)  # a wait of its own that ended before the check ran any out
            if not (router.ran_out and raised_by_answer(exc)):
                raise
            if isinstance(exc, _BUGS):  # a slip in the code that handles the timeout, not a report of it
                bug = exc
            handled = f"raised {exc!r:.100}"  # reported the missing answer instead of waiting longer: allowed
        finally:
            router.release.set()
            router.close(cancel_pending=True, timeout=2.0)
        self._judge_long_waits(router)  # a 60 s wait is the first thing to say, before what came after it
        which = "the first answer" if held == 0 else f"the answer to {requests[held]}"
        ran_out = (
            f"when the check made your {router.ran_out_by} on {which} run out, as if its "
            f"{router.first_timeout:g} s had passed"
        )
        if router.retried:
            unbounded = router.retried.endswith("()")
            again = (
                "with no timeout, which waits for ever"
                if unbounded
                else f"more than the {self.LIMIT:g} s allowed for one answer"
            )
            raise Incorrect(
                f"{ran_out}, your function waited for that answer again ({router.retried}) after "
                f"{router.spent:.3g} s of waiting on it had run out: {again}. Once the time is up, give up on that "
                f"answer: raise, or put None in its place.{_AFTER_RUN_OUT.get(router.ran_out_by, '')}"
                f"{'' if unbounded else _clock_note(submit_all, router)}"
            )
        if bug is not None:
            raise Incorrect(
                f"{ran_out}, your function raised {bug!r:.100}: a bug in the code that handles the timeout, "
                f"not a report of the missing answer. Let the TimeoutError through, raise an error of your own, "
                "or put None in that answer's place."
            )
        if router.ran_out and got is None and not handled:  # returned None, did not raise
            raise Incorrect(
                f"{ran_out}, submit_all returned None: return a list with None in place of each "
                "missing answer, or raise (letting the TimeoutError through is enough)."
            )
        if handled and held == 0:  # again, with a later answer held: the answers got before it must stay
            return self._run(submit_all, requests, workers, held=len(requests) // 2)
        if handled:
            rest = self._run(submit_all, requests, workers, run_out=False)
            return (
                f"When the check made your wait for {which} end before it came, as if its timeout had passed, "
                f"your function {handled}: it did not wait longer. On a run where every answer came: {rest}"
            )
        self._judge_answers(got, source, submitted, requests, workers, lazy=_lazy_note(submit_all))
        self._judge_batches(router, len(requests))
        verdict = self._judge_waits(router, len(requests), workers, source.max_in_flight, closed=closed_by_answer)
        if closed_by_answer:
            raise Incorrect(
                "submit_all closed the router it was handed (a `with router:` block, or router.close()): the "
                "router belongs to the caller, who may submit more to it afterwards. Leave it open."
            )
        return verdict

    def _judge_gave_up(self, router: _CountingRouter) -> None:
        """A TimeoutError from a wait shorter than ``LIMIT`` that the check did not end: the answer gave up early."""
        if not router.wait_calls:
            return
        how, timeout = router.wait_calls[-1]
        bound = as_real(timeout)
        if bound is None or bound >= self.LIMIT:
            return
        after = "at once" if bound <= 0 else f"after {_shown(timeout)} s"
        raise Incorrect(
            f"future.{how}(timeout={_shown(timeout)}) raised TimeoutError: your function gave up {after} on an "
            f"answer that came within the {self.LIMIT:g} s the task allows. Wait up to {self.LIMIT:g} s for each: "
            f"future.result(timeout={self.LIMIT:g})."
        )

    @staticmethod
    def _none_for_missing(got: Any, requests: tuple[str, ...], held: int, came: set[Any]) -> str:
        """How the answer handled the run-out, when it returned ``None`` for the missing answers; else ``""``.

        Handled: one item per request, the held one ``None``, every other ``None`` or that request's Outcome.
        An answer that had come by the run-out (``came``: the check lets every other answer come first, as on a
        slow day where one answer is late) and was then replaced by ``None`` was thrown away: ``Incorrect``.
        """
        if not isinstance(got, (list, tuple)) or len(got) != len(requests) or got[held] is not None:
            return ""
        dropped = [r for item, r in zip(got, requests, strict=True) if item is None and r in came]
        if dropped:
            raise Incorrect(
                f"when the check made your wait for {requests[held]} run out, your function returned None for "
                f"{len(dropped)} answer{'s' if len(dropped) > 1 else ''} that had come ({dropped[0]} ...): "
                "put None only in place of the answers that did not come, and keep the others (result() returns "
                "at once for a future that is done())."
            )
        if not all(
            item is None or (isinstance(item, Outcome) and item.request == request)
            for item, request in zip(got, requests, strict=True)
        ):
            return ""
        missing = sum(item is None for item in got)
        return f"put None in place of the {missing} answer{'s' if missing > 1 else ''} not there yet"

    @staticmethod
    def _judge_batches(router: _CountingRouter, n: int) -> None:
        """The first wait on an answer not there yet came after every request was submitted.

        Batches as large as the pool (submit K, wait for them, submit the next K) keep K calls in
        flight, so counting calls in flight cannot see them; counting submissions at the first wait can.
        """
        first = router.submitted_at_first_wait
        if first is not None and first < n and len(router.submitting_threads) > 1:
            raise Incorrect(
                f"your function submitted the requests from {len(router.submitting_threads)} threads, each then "
                "waiting for its own answer: threads of your own are not needed, the router's workers already run "
                "the requests at once. Submit every request from your function (a list of futures), then wait for "
                "each."
            )
        if first is not None and first < n:
            raise Incorrect(
                f"your function began to wait for an answer after submitting {first} of the {n} requests (in "
                "batches?): the rest waited for that answer before they were even queued. Submit all of them "
                "first, then wait."
            )

    def _judge_answers(
        self, got: Any, source: Rendezvous, submitted: list[Any], requests: tuple[str, ...], workers: int, *,
        lazy: str = "",
    ) -> str:  # fmt: skip
        n = len(requests)
        if got is None:
            raise Incorrect("submit_all returned None: did you print the answers instead of returning them?")
        if not isinstance(got, (list, tuple)):
            raise Incorrect(f"submit_all should return a list of Outcomes, got {type(got).__name__}: {got!r:.80}")
        if any(isinstance(item, Future) for item in got):
            raise Incorrect("submit_all returned Future objects: call .result(timeout=...) on each to get its answer.")
        fetched = [request for request, _ in source.calls]
        twice = sorted({r for r in fetched if fetched.count(r) > 1})
        if twice or len(submitted) > n:
            again = twice[0] if twice else submitted[0]
            raise Incorrect(f"{again} was submitted more than once: one submit per request.")
        if not submitted:
            raise Incorrect("nothing was submitted to the router it was given: call router.submit(request).")
        if len(got) != n:
            raise Incorrect(f"submit_all returned {len(got)} answers for {n} requests: every request needs its answer.")
        if any(item is None for item in got):
            raise Incorrect(
                f"{sum(item is None for item in got)} of the answers are None, though every answer came within "
                f"the {self.LIMIT:g} s the task allows: your function gave up on them without waiting (a test of "
                f"future.done(), or a timeout of 0?). Wait up to {self.LIMIT:g} s for each: "
                f"future.result(timeout={self.LIMIT:g})."
            )
        if not all(isinstance(item, Outcome) for item in got):
            raise Incorrect(
                f"the answers should be the Outcome records that the futures hold; got {got[0]!r:.60} ... "
                "(return future.result(), not its .value)"
            )
        order = [o.request for o in got]
        if order != list(requests):
            if order == sorted(requests):
                i = next(i for i, (a, b) in enumerate(zip(order, requests, strict=True)) if a != b)
                raise Incorrect(
                    f"the answers are sorted by name, and names sort as text: {order[i]!r} comes before "
                    f"{requests[i]!r}. Keep the order you submitted them in."
                )
            raise Incorrect(
                "the answers are not in the order of the requests: they finished in another order "
                "(as_completed gives them as they finish); wait for the futures in the order you submitted them."
            )
        if source.max_in_flight < 2:
            raise Incorrect(
                f"the requests ran one at a time: you waited for each answer before submitting the next{lazy}. "
                "Submit all of them first, then wait."
            )
        if source.max_in_flight < workers:
            raise Incorrect(
                f"at most {source.max_in_flight} requests ran at once on {workers} workers: you waited for some "
                "answers before submitting the rest (in batches?). Submit all of them first, then wait."
            )
        return ""

    def _judge_waits(self, router: _CountingRouter, n: int, workers: int, in_flight: int, *, closed: bool) -> str:
        """Every wait for an answer not there yet allowed at most ``LIMIT`` seconds, as the task says.

        A ``wait``/``as_completed`` timeout is held to ``LIMIT`` too, not to ``LIMIT`` times the batch: one
        60 s wait is not "at most 5 s for each", and a bound that scaled with the batch would pass a constant
        60 for 12 requests and fail it for 11.
        """
        if router.unwatched_wait:
            how = (
                "a `with router:` block (or router.close()) closed the router, and close() waits for every answer "
                "with no time limit"
                if closed  # by the answer, not by the check after it
                else "it waited in a way the check cannot see (a done() loop, an Event set by a callback), nor "
                "whether that way has a time limit"
            )
            raise Incorrect(
                f"the first answer was held back {format_seconds(router.HOLD)}, and your function waited for it "
                f"without future.result(timeout=...), concurrent.futures.wait or as_completed, the waits the task "
                f"names: {how}. Wait for each answer with future.result(timeout={self.LIMIT:g})."
            )
        for name, timeout, _ in router.pool_waits:
            if timeout is None:
                raise Incorrect(
                    f"concurrent.futures.{name}() with no timeout waits for ever if an answer never comes; the task "
                    f"says to wait at most {self.LIMIT:g} s for each: future.result(timeout={self.LIMIT:g}) on each, "
                    f"or {name}(futures, timeout={self.LIMIT:g})."
                )
        self._judge_long_waits(router)
        if router.ran_out and None in router.waits:  # ran out in wait() or as_completed: see _CountingRouter
            ends = "stop (raising TimeoutError)" if "as_completed" in router.ran_out_by else "return"
            raise Incorrect(
                f"{router.ran_out_by} can {ends} "
                "before every answer is there (here it did: the check held an answer back past it), and "
                f"{router.unbounded_by or 'future.result()'} with no timeout then waits for ever."
                f"{_AFTER_RUN_OUT.get(router.ran_out_by, '')}"
            )
        if router.unbounded_by:
            raise Incorrect(
                f"{router.unbounded_by} with no timeout waits for ever if an answer never comes; the task says "
                f"to wait at most {self.LIMIT:g} s for each: future.result(timeout={self.LIMIT:g})."
            )
        return f"{n} requests on {workers} workers, {in_flight} in flight at once, every answer in order."

    def _judge_long_waits(self, router: _CountingRouter) -> None:
        """No single wait allowed more than ``LIMIT`` seconds: judged first, before what came after a run-out."""
        for name, timeout, count in router.pool_waits:
            if (as_real(timeout) or 0) > self.LIMIT:  # numpy numbers too
                # judged per wait, not per batch: a constant total passes or fails the same for 11 requests or 12
                raise Incorrect(
                    f"{name}(timeout={timeout:g}) may wait {timeout:g} s at once for {count} answers; the task allows "
                    f"at most {self.LIMIT:g} s for each answer, so no single wait may last longer: "
                    f"{name}(futures, timeout={self.LIMIT:g}), or future.result(timeout={self.LIMIT:g}) on each."
                )
        for how, timeout in router.wait_calls:
            if (as_real(timeout) or 0) > self.LIMIT:
                raise Incorrect(
                    f"future.{how}(timeout={timeout:g}) may wait {timeout:g} s for one answer; the task says at "
                    f"most {self.LIMIT:g} s for each: timeout={self.LIMIT:g}."
                )


# concurrent.futures.wait and as_completed, by their code: the frames _CountingRouter reads a timeout from
_POOL_WAITS = {f.__code__: f.__name__ for f in (concurrent.futures.wait, concurrent.futures.as_completed)}
_RAN_OUT_IN = {"wait": "concurrent.futures.wait(timeout=...)", "as_completed": "as_completed(timeout=...)"}
# what to do instead, after a pool wait that may end with answers missing
_AFTER_RUN_OUT = {
    _RAN_OUT_IN["wait"]: " After wait(), read only the answers of the done set it returns (result() returns at "
    "once for those), and put None for the rest, or raise.",
    _RAN_OUT_IN["as_completed"]: " After as_completed raises TimeoutError, read only the futures that are done() "
    "(result() returns at once for those), and put None for the rest, or raise.",
}


# the clocks a deadline loop reads: shifted, as the answer sees them, by the time the check made pass
_CLOCKS = {
    time.monotonic: 1.0,
    time.perf_counter: 1.0,
    time.time: 1.0,
    time.monotonic_ns: 1e9,
    time.perf_counter_ns: 1e9,
    time.time_ns: 1e9,
}
# exceptions that are slips in the code handling a run-out (a typo, a wrong index), not a report of it
_BUGS = (NameError, AttributeError, TypeError, IndexError, KeyError, ZeroDivisionError, UnboundLocalError)


def _clock_note(answer: Any, router: _CountingRouter) -> str:
    """What the retry message says of the clocks: moved on, or (``datetime``) out of the check's reach."""
    if router.clock_reads:
        return (
            " (The clock your function read moved on by the time the check made pass, as on a slow day.)"
        )
    names = {name for code in _answer_codes(answer) for name in code.co_names}
    if names & {"datetime", "now", "utcnow", "today"}:
        return (
            " The check could not move the clock you read (datetime's now() and today()) on by the time it made "
            "pass: read time.monotonic() for a deadline."
        )
    return ""


def _lazy_note(answer: Any) -> str:
    """Why one-at-a-time submits happened, for an answer that uses ``map()`` or a generator; else ``""``."""
    codes = _answer_codes(answer)
    uses = [
        what
        for what, used in (
            ("map()", any("map" in code.co_names for code in codes)),
            ("a generator (… for …)", any(code.co_name == "<genexpr>" for code in codes)),
        )
        if used
    ]
    if not uses:
        return ""
    verb = "are" if len(uses) > 1 else "is"
    return (
        f" ({' and '.join(uses)} {verb} lazy: each submit runs only when the loop over "
        f"{'them' if len(uses) > 1 else 'it'} asks for the next future; wrap {'them' if len(uses) > 1 else 'it'} "
        "in list())"
    )


def _shown(timeout: Any) -> str:
    """A timeout as a message shows it: 3 significant digits (4.99999735 reads 5), else as written."""
    number = as_real(timeout)
    return repr(timeout) if number is None else f"{number:.3g}"


def _shifted_clock(real: Callable[[], Any], scale: float, router: _CountingRouter) -> Callable[[], Any]:
    def shifted() -> Any:
        router.clock_reads += 1
        value = real()
        return value + (int(router.shift() * scale) if isinstance(value, int) else router.shift())

    shifted.__name__ = real.__name__
    return shifted


def _answer_codes(answer: Any) -> set[types.CodeType]:
    """The code objects of ``answer`` and of every function, lambda and comprehension written inside it."""
    code = getattr(answer, "__code__", None)
    found: set[types.CodeType] = set()
    todo = [code] if isinstance(code, types.CodeType) else []
    while todo:
        code = todo.pop()
        if code not in found:
            found.add(code)
            todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return found


# the answers now running under a check, by their code objects: the frame-scoped clocks below shift for those only
_ACTIVE: dict[types.CodeType, _CountingRouter] = {}
_ACTIVE_LOCK = threading.Lock()


def _frame_clock(real: Callable[[], Any], scale: float) -> Callable[[], Any]:
    """``real`` for every caller but an answer under a check (by its frame's code): that one reads its shift too."""

    def clock_for_caller() -> Any:
        value = real()
        router = _ACTIVE.get(sys._getframe(1).f_code)
        if router is None:
            return value
        router.clock_reads += 1
        return value + (int(router.shift() * scale) if isinstance(value, int) else router.shift())

    clock_for_caller.__name__ = real.__name__
    clock_for_caller.__doc__ = real.__doc__
    return clock_for_caller


@contextlib.contextmanager
def _module_clocks(answer: Any, router: _CountingRouter) -> Iterator[None]:
    """While the check runs ``answer``: the ``time`` module's clocks read ``router.shift()`` ahead in its frames.

    For an answer that runs ``import time`` inside itself. Every other caller (the library, the router's
    workers, ``threading``, which bound its own clock at import) reads real time; put back in ``finally``.
    """
    codes = _answer_codes(answer)
    with _ACTIVE_LOCK:
        first = not _ACTIVE
        if first:
            for real, scale in _CLOCKS.items():
                setattr(time, real.__name__, _frame_clock(real, scale))
        _ACTIVE.update(dict.fromkeys(codes, router))
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            for code in codes:
                if _ACTIVE.get(code) is router:
                    del _ACTIVE[code]
            if not _ACTIVE:
                for real in _CLOCKS:
                    setattr(time, real.__name__, real)


@contextlib.contextmanager
def _shifted_clocks(answer: Any, router: _CountingRouter) -> Iterator[None]:
    """While the check runs ``answer``: the clocks it reads are ``router.shift()`` ahead.

    The check makes a wait run out at once, as if its timeout had passed; a loop that reads a clock for what
    is left of its deadline (``deadline - time.monotonic()``) then sees that time pass too, and is judged on
    the waits it would make on a slow day. The ``time`` module and clock names in the answer's own globals
    (the notebook's, for a notebook answer) are replaced, and the ``time`` module's clocks shift for the
    answer's own frames only (``_module_clocks``); all are put back afterwards. ``datetime.now()`` cannot be
    moved.
    """
    names = getattr(answer, "__globals__", None)
    if not isinstance(names, dict):
        with _module_clocks(answer, router):
            yield
        return
    fakes = {real: _shifted_clock(real, scale, router) for real, scale in _CLOCKS.items()}
    shifted_time = types.ModuleType("time", time.__doc__)
    shifted_time.__dict__.update({k: v for k, v in vars(time).items() if not k.startswith("__")})
    shifted_time.__dict__.update({real.__name__: fake for real, fake in fakes.items()})
    swapped: dict[str, Any] = {}
    for name, value in list(names.items()):
        if value is time:
            swapped[name] = value
            names[name] = shifted_time
        elif callable(value) and any(value is real for real in fakes):
            swapped[name] = value
            names[name] = fakes[value]
    try:
        with _module_clocks(answer, router):
            yield
    finally:
        for name, value in swapped.items():
            names[name] = value


class _WatchedFuture(Future):
    """A router's ``Future`` that notes how long a caller allows for its answer, when the answer is not there yet."""

    watch: _CountingRouter

    def result(self, timeout: float | None = None) -> Any:
        if not self.done() and self.watch.waited(self, timeout, "result"):
            raise TimeoutError()  # as result(timeout) does once its time has passed
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self.done() and self.watch.waited(self, timeout, "exception"):
            raise TimeoutError()
        return super().exception(timeout)


class _NoMoreAnswers(list):
    """The finished futures of a ``wait()`` made to run out: it is returning, so none is added after that moment."""

    def append(self, item: Any) -> None:
        pass


class _RanOutEvent(threading.Event):
    """The event of an ``as_completed`` made to run out: its next bounded wait raises ``TimeoutError``, as
    ``as_completed`` does once its time has passed (the answers already collected are yielded first)."""

    def __init__(self, futures: Any, total: int | None = None):
        super().__init__()
        self._futures = list(futures or ())
        # as_completed drops each future it yields from its `fs`: the count it reports is of all it was given
        self._total = len(self._futures) if total is None else total

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        unfinished = sum(not f.done() for f in self._futures)
        raise TimeoutError(f"{unfinished} (of {self._total}) futures unfinished")


class _CountingRouter(Router):
    """A router that remembers what was submitted to it, and every wait on an answer that was not there yet.

    The first call for the first request is held back until the caller waits for its answer
    (``future.result``, or ``concurrent.futures.wait``/``as_completed``), until ``release`` is set, or ``HOLD``
    seconds pass: so a wait with no time limit meets an answer that is not there yet, every run, however fast
    the machine. When ``HOLD`` passes, the caller waited some other way (a loop over ``done()``, a ``with``
    block that closes the router): ``unwatched_wait`` says so. With ``run_out``, the first bounded wait on the
    held answer ends at once, the answer still held, as it would once its timeout passed (``ran_out``, and
    ``ran_out_by`` names the wait): ``result``/``exception`` raise ``TimeoutError``, ``wait`` returns it in its
    not-done set, ``as_completed`` raises ``TimeoutError``. What the caller does next is what it would do on a
    slow day: another bounded wait on that answer (or, after ``result``/``exception``, any wait) is a retry
    past the limit (``retried`` names it).
    """

    HOLD = 3.0
    LET_COME = 2.0  # seconds the check waits at most for the other answers before running the held one out

    def __init__(
        self,
        source: Callable,
        workers: int,
        submitted: list[Any],
        *,
        first: Any,
        run_out: bool = True,
        limit: float = 5.0,
    ):
        super().__init__(source, workers=workers)
        self._run_out, self.ran_out = run_out, False
        self.ran_out_by = ""  # the wait that the check ran out, as the messages name it
        self.timed_out_first = False  # that wait was result()/exception(), which raised TimeoutError
        self.retried = ""  # ... and the caller waited on that answer again: how
        self._seen_waiters: list[Any] = []  # the waiters run out (or returning anyway): not looked at again
        self._submitted, self._first = submitted, first
        self._futures: dict[Any, Future] = {}
        self.waits: list[Any] = []  # the timeout of each wait on an answer not there yet
        self.release = threading.Event()
        self._waited_first = threading.Event()
        self._held = threading.Lock()  # taken by the one call that is held back: a duplicate is not held
        self.unwatched_wait = False  # the hold ran out: nobody waited for the first answer in a watched way
        self.pool_waits: list[tuple[str, Any, int]] = []  # (wait or as_completed, its timeout, how many futures)
        self.submitted_at_first_wait: int | None = None  # how many requests were submitted when a wait first began
        self.closed_by_caller = False  # close() was called (by a `with` block's exit too) before the check's own
        self.limit = limit  # seconds allowed for one answer, in all its waits
        self.spent = 0.0  # seconds of the held answer's waits that the check made run out
        self.first_timeout = 0.0  # the timeout of the wait run out first
        self.came: set[Any] = set()  # requests whose answer had come when the held one ran out
        self._let_come_until: float | None = None
        self.wait_calls: list[tuple[str, Any]] = []  # (result or exception, its timeout), as waits
        self.unbounded_by = ""  # the first wait with no timeout on an answer not there yet: future.result(), ...
        self.submitting_threads: set[int] = set()
        self.clock_reads = 0  # reads of a clock the check moves, by the answer's own code
        self.as_completed_totals: dict[int, int] = {}  # id of an as_completed call's `fs` -> how many it was given

    def close(self, *, cancel_pending: bool = False, timeout: float | None = None) -> bool:
        self.closed_by_caller = True
        if self.ran_out:  # the caller gave up on the held answer: let it come, so close() need not wait
            self.release.set()
        return super().close(cancel_pending=cancel_pending, timeout=timeout)

    def _note_first_wait(self) -> None:
        if self.submitted_at_first_wait is None:
            self.submitted_at_first_wait = len(self._submitted)

    def _note_run_out(self, by: str, timeout: Any) -> None:
        self.ran_out, self.ran_out_by = True, by
        self.first_timeout = self.spent = as_real(timeout) or 0.0

    def _others_pending(self) -> bool:
        """Whether an answer other than the held one is still to come (for at most ``LET_COME`` seconds)."""
        if self._let_come_until is None:
            self._let_come_until = clock() + self.LET_COME
        held = self._futures.get(self._first)
        return clock() < self._let_come_until and any(
            not f.done() for f in list(self._futures.values()) if f is not held
        )

    def shift(self) -> float:
        """Seconds the check made pass on the held answer's waits: the answer's clocks are that far ahead."""
        return self.spent if self.ran_out else 0.0

    def let_the_others_come(self) -> None:
        """Before the held answer's wait runs out: let every other submitted answer come (bounded), as on a slow
        day where one answer is late, and note which came: ``None`` in place of one of them throws it away."""
        held = self._futures.get(self._first)
        others = {r: f for r, f in self._futures.items() if f is not held}
        concurrent.futures.wait(list(others.values()), timeout=self.LET_COME)
        self.came = {r for r, f in others.items() if f.done()}

    def _retry_allowed(self, timeout: Any) -> str:
        """Whether a bounded wait on the held answer, after the run-out, stays within the answer's time.

        "more": the waits on it add up to at most ``limit`` (two waits of 2.5 s, or a deadline loop in 1 s
        slices, whose clock :func:`_shifted_clocks` moves on by the time run out): it is run out too, and the
        answer's clocks move on by ``timeout``. "": a retry past the limit. Reads no clock: the same verdict on
        every run.
        """
        bound = as_real(timeout)
        if bound is None or bound <= 0:
            return ""
        if self.spent + bound <= self.limit + 1e-6:
            self.spent += bound
            return "more"
        return ""

    def submit(self, request: Any, *, timeout: float | None = None) -> Future:
        self._submitted.append(request)
        self.submitting_threads.add(threading.get_ident())
        future = super().submit(request, timeout=timeout)
        future.__class__ = _WatchedFuture  # the same object, its result() watched
        future.watch = self  # type: ignore[attr-defined]
        self._futures.setdefault(request, future)
        return future

    def waited(self, future: Future, timeout: Any, how: str) -> bool:
        """Note a wait on an answer not there yet; True: raise ``TimeoutError`` now (the held answer stays held).

        That is the first bounded wait on the held answer (the run-out), and any wait of at most 0 s on it:
        ``result(timeout=0)`` raises at once when the answer is not there, and is no retry.
        """
        self._note_first_wait()
        self.waits.append(timeout)
        self.wait_calls.append((how, timeout))
        if timeout is None and not self.unbounded_by:
            self.unbounded_by = f"future.{how}()"
        if future is not self._futures.get(self._first):
            return False
        bound = as_real(timeout)
        waits = bound is None or bound > 0
        if self.ran_out and waits and (bound is not None or self.timed_out_first):
            # after result(timeout) ran out, any wait is a retry; after wait()/as_completed, a bounded one (an
            # unbounded one has its own message: result() after a wait that may end early waits for ever)
            allowed = self._retry_allowed(timeout)
            if allowed == "more":
                return True  # within the answer's time: it runs out too
            self.retried = f"future.{how}({'' if timeout is None else f'timeout={_shown(timeout)}'})"
        elif bound is not None and (not waits or (self._run_out and not self.ran_out)):
            if self._run_out and not self.ran_out:
                self.let_the_others_come()
                self._note_run_out(f"future.{how}(timeout=...)", timeout)
                self.timed_out_first = True
            return True
        self._waited_first.set()
        return False

    def hold(self, request: Any) -> None:
        """In the source, before answering: hold the first request back until someone waits for its answer."""
        if request != self._first or not self._held.acquire(blocking=False):
            return  # another request, or the first one submitted again: not held
        future = self._futures.get(request)
        deadline = clock() + self.HOLD
        while clock() < deadline and not self.release.is_set():
            if self._waited_first.is_set():  # result() or exception()
                return
            waiters = [w for w in getattr(future, "_waiters", ()) if not any(w is r for r in self._seen_waiters)]
            found = self._note_pool_waits(future) if waiters else []  # a wait or as_completed call
            if found:
                bounded = all(as_real(timeout) is not None for _, timeout, _ in found)
                if self.ran_out and (bounded or self.timed_out_first):
                    name, timeout, _ = found[0]
                    allowed = self._retry_allowed(timeout) if bounded else ""
                    if allowed == "more":  # within the answer's time: it runs out too
                        self._wake_as_if_timed_out(waiters, found, again=True)
                        self._waited_first.wait(0.002)
                        continue
                    self.retried = f"{name}(timeout={_shown(timeout)})"  # it waits again on the answer that ran out
                    return
                if not self.ran_out and self._others_pending():  # let the other answers come first
                    self._waited_first.wait(0.002)
                    continue
                woken = self._wake_as_if_timed_out(waiters, found)
                if woken is False:
                    return
            self._waited_first.wait(0.002)
        self.unwatched_wait = not self.release.is_set()

    def _wake_as_if_timed_out(
        self, waiters: list[Any], found: list[tuple[str, Any, Any]], *, again: bool = False
    ) -> bool | None:
        """Once: make the bounded ``wait()``/``as_completed`` now waiting on the held answer end as after its timeout.

        True: it did. False: it is not to (unbounded, or the run-out is spent or off): let the answer come.
        None: a ``wait(return_when=FIRST_COMPLETED)`` is returning anyway, with another answer: look again
        at the next wait, so that a loop of such waits is run out on a wait that found nothing.
        """
        if not again and (
            not self._run_out or self.ran_out or not all(as_real(timeout) is not None for _, timeout, _ in found)
        ):
            return False
        for waiter in waiters:
            if not isinstance(waiter, concurrent.futures._base._AsCompletedWaiter):
                # from now on no answer joins its done set: what it returns is fixed here, whatever comes next
                waiter.finished_futures = _NoMoreAnswers(waiter.finished_futures)
        returning = [
            w for w in waiters if isinstance(w, concurrent.futures._base._FirstCompletedWaiter) and w.finished_futures
        ]
        self._seen_waiters += returning
        if returning:
            return None
        self._seen_waiters += waiters
        if not again:
            self.came = {r for r, f in self._futures.items() if f.done()}
            self._note_run_out(_RAN_OUT_IN[found[0][0]], found[0][1])
        futures = next((fs for name, _, fs in found if name == "as_completed"), ())
        total = self.as_completed_totals.get(id(futures))
        for waiter in waiters:
            event = waiter.event
            if isinstance(waiter, concurrent.futures._base._AsCompletedWaiter):
                waiter.event = _RanOutEvent(futures, total)  # its next wait raises TimeoutError
            event.set()  # wakes the wait (or as_completed) now blocked on it
        return True

    def _note_pool_waits(self, future: Future) -> list[tuple[str, Any, Any]]:
        """Note the ``timeout`` of every ``wait``/``as_completed`` call now waiting on ``future``; return them,
        each as (its name, its timeout, its futures).

        Their waiter does not say how long it may wait, so the calls' own frames (in the caller's thread)
        are read: ``wait(futures)`` with no timeout waits for ever as surely as ``result()`` does. Empty when
        no such call is waiting right now (``as_completed`` between two answers): look again later.
        """
        found: list[tuple[str, Any, Any]] = []
        for frame in sys._current_frames().values():
            while frame is not None:
                name = _POOL_WAITS.get(frame.f_code)
                if name is not None:
                    local = frame.f_locals
                    futures = local.get("fs")
                    if futures is not None and any(f is future for f in futures):
                        self._note_first_wait()  # the caller is inside this wait: its submissions are paused
                        self.pool_waits.append((name, local.get("timeout"), len(futures)))
                        found.append((name, local.get("timeout"), futures))
                        if isinstance(local.get("total_futures"), int):  # as_completed's count of all its futures
                            self.as_completed_totals[id(futures)] = local["total_futures"]
                frame = frame.f_back
        return found


class FailureCountPrediction(Question):
    title = "Predict: how many of 20 requests fail at a 30 % failure rate?"
    expects = "a number of requests"
    N, RATE, SEED = 20, 0.3, 1
    TOLERANCE = 0.05  # requests: the average n · p = 6 itself, computed or typed, and nothing a guess rounds to it
    hints = (
        "Each request fails with probability 0.3, independently of the others.",
        "On average, a fraction 0.3 of the 20 requests fail: the expected count is n · p.",
    )
    stub = """
        my_failures = ____  # a number of requests, out of 20
    """
    solution_text = """
        my_failures = 20 * 0.3  # n · p = 6 on average; a single sample of 20 wanders around it
    """

    def _check(self, value: Any) -> str:
        number = as_real(value)
        if number is None or not math.isfinite(number):
            raise Incorrect(f"give a number of requests, like 10; got {value!r}")
        value = number
        from ..sources import SimulatedSource

        source = SimulatedSource("primary", latency=0, failure_rate=self.RATE, seed=self.SEED)
        failed = len(Router(source, workers=4).run([f"DataRequest-{i}" for i in range(self.N)]).failed)
        model, spread = self.N * self.RATE, math.sqrt(self.N * self.RATE * (1 - self.RATE))
        sample = (
            f"The model n · p = {model:g}, give or take {spread:.1f}; this seeded sample of {self.N} had {failed} "
            "failures: twenty draws wander around the average."
        )
        if math.isclose(value, model, abs_tol=self.TOLERANCE):
            return sample
        if math.isclose(value, self.RATE):
            raise Incorrect(f"{value:g} is the rate, a fraction; the question asks how many requests. {sample}")
        if math.isclose(value, self.RATE * 100):
            raise Incorrect(f"{value:g} is the rate in percent; the question asks how many of {self.N}. {sample}")
        if math.isclose(value, 1 - self.RATE) or math.isclose(value, (1 - self.RATE) * 100):
            raise Incorrect(f"{value:g} is the success rate; the question asks how many of {self.N} fail. {sample}")
        if math.isclose(value, self.N - model, abs_tol=0.5):
            raise Incorrect(f"{value:g} is how many succeed on average; the question asks how many fail. {sample}")
        if value == failed:
            raise Incorrect(f"{value:g} is what this one sample gave; the question asks for the average. {sample}")
        if math.isclose(value, failed / self.N) or math.isclose(value, failed / self.N * 100):
            raise Incorrect(
                f"{value:g} is this one sample's share of failures ({failed} of {self.N}, as a "
                f"{'fraction' if value < 1 else 'percent'}); the question asks how many of {self.N} fail on "
                f"average. {sample}"
            )
        if abs(value - spread) <= 0.1:  # 2.05, or 2 and 2.0 as the check prints it
            raise Incorrect(
                f"{value:g} is the spread (the standard deviation √(n · p · (1 − p)) = {spread:.2f}), not the "
                f"average: the question asks for n · p. {sample}"
            )
        if math.isclose(value, spread**2, abs_tol=0.05):
            raise Incorrect(
                f"{value:g} is the variance n · p · (1 − p), how far a sample strays squared; the question asks for "
                f"the average, n · p. {sample}"
            )
        if abs(value - model) <= spread:
            raise Incorrect(
                f"{value:g} is within the usual spread of one sample, but the question asks for the average "
                f"itself, n · p = {self.N} · {self.RATE:g}. {sample}"
            )
        raise Incorrect(f"{value:g} of {self.N}? {sample}")


q1 = MakespanPrediction("q1")
q2 = CollectAnswers("q2")
q3 = FailureCountPrediction("q3")
