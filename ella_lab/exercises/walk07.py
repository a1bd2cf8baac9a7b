"""Exercises inside notebook 07, resilience patterns: ``from ella_lab.exercises import walk07 as ex``.

``ex.storm``: predict the calls per request of a retry storm; ``ex.hedge``: predict the extra calls
of a hedge at p95; ``ex.breaker``: write a circuit breaker's state machine, run through a scripted
outage on a fake clock.
"""

from __future__ import annotations

import numbers
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import cache
from typing import Any

from ..resilience import CircuitOpenError
from ..sources import SourceError
from ._core import BLANK, Incorrect, Question, call_bounded

__all__ = ["breaker", "hedge", "storm"]


@cache
def measured_storm_load(p: float = 0.6, attempts: int = 3, requests: int = 1000) -> float:
    """Calls per request measured as notebook 07 does (one worker, seeded: the same on every run)."""
    from ..experiments import request_ids
    from ..fallback import FallbackChain
    from ..retry import Retry
    from ..router import Router
    from ..sources import SimulatedSource

    source = SimulatedSource("s", latency=0, failure_rate=p, seed=1)
    chain = FallbackChain([source], retry=Retry(attempts=attempts, base=0))
    return Router(chain, workers=1).run(request_ids(requests)).summary()["mean_attempts"]


class StormPredict(Question):
    title = "Predict: the calls per request of a retry storm"
    expects = "a number of calls per request, like 2.5"
    P, ATTEMPTS, TOLERANCE = 0.6, 3, 0.05
    hints = (
        "Every request makes its first call. The second call happens only if the first failed.",
        "The third call happens only if the first two both failed: probability p · p.",
        "Add the three: 1 + p + p², with p = 0.6.",
    )
    solution_text = """
        calls_per_request = 1 + 0.6 + 0.6**2  # = 1.96: a first call always, a second if it failed, a third if both did
    """

    def _check(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise Incorrect(f"give a number of calls per request, like 2.5; got {value!r}")
        value = float(value)
        p = self.P
        model = 1 + p + p**2
        measured = measured_storm_load(p, self.ATTEMPTS)
        off = (value - model) / model
        where = f"the model says 1 + p + p² = {model:.2f}, and notebook 07 measured {measured:.3f}"
        if abs(off) <= self.TOLERANCE:
            return (
                f"{value:g}: {where} ({abs(off):.0%} off). Each retry happens only when the attempt before "
                "it failed, so the extra load grows like p + p², and reaches 3× only when p = 1."
            )
        known = (
            (
                float(self.ATTEMPTS),
                "that is the load when every attempt fails (p = 1); at p = 0.6 a retry is "
                "made only when the attempt before it failed",
            ),
            (1 + p, "you counted the first retry (p) but not the second, made when both earlier attempts failed (p²)"),
            (1 + p + p**2 + p**3, "that counts a fourth attempt (p³); 3 attempts are a first call and 2 retries"),
            (p + p**2, "off by one: the first call counts too (it is made for every request)"),
            (self.ATTEMPTS * p, "attempts × p is not it: a retry depends on the attempt before it failing"),
            (1 + p**2, "the second call is made whenever the first failed: probability p, not p²"),
            (100 * model, "that looks like a percentage; give calls per request (a number near 1 to 3)"),
        )
        for wrong, why in known:
            if abs(value - wrong) <= 1e-6 * max(1.0, abs(wrong)):
                raise Incorrect(f"{value:g}: {why}. ({where}.)")
        direction = "above" if off > 0 else "below"
        raise Incorrect(
            f"{value:g} is {abs(off):.0%} {direction} the model: {where}. Count the calls one attempt at a time: "
            "which attempts happen for every request, and which only after a failure?"
        )


class HedgePredict(Question):
    title = "Predict: the extra calls of a hedge at p95"
    expects = "a fraction of calls, like 0.25"
    Q, TOLERANCE = 0.95, 0.3
    hints = (
        "The hedge sends a second call only for the requests whose first call has not answered after d.",
        "d is the 95th percentile of the latencies: by definition, what fraction of calls is slower than it?",
    )
    solution_text = """
        extra_calls_at_p95 = 0.05  # the 5 % of calls slower than their p95 get a second call
    """

    def __init__(self, name: str):
        super().__init__(name)
        self.measured: float | None = None

    def check(self, answer: Any = BLANK, *, measured: float | None = None):
        """Judge ``answer``; ``measured`` is the notebook's extra calls at p95, to compare with."""
        self.measured = None if measured is None else float(measured)
        return super().check(answer)

    def _check(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise Incorrect(f"give a fraction of calls, like 0.25; got {value!r}")
        value = float(value)
        model = 1 - self.Q
        where = f"the model says {model:.0%}" + (
            "" if self.measured is None else f", and the run above measured {self.measured:.1%}"
        )
        if abs(value / model - 1) <= self.TOLERANCE:
            return (
                f"{value:g}: {where}. A hedge at pNN sends a second call for the (100 − NN) % of calls slower "
                "than d; the measurement differs by the threads' overhead and by the window's estimate of the p95."
            )
        known = (
            (100 * model, "that is a percentage; give the fraction (0.25 for 25 %)"),
            (1 + model, "that is the total load; the question asks for the extra calls only"),
            (self.Q, "that is the share of requests answered before d, which need no second call"),
            (
                model**2,
                "that is the share where both calls are slow; the second call is sent for every slow first call",
            ),
            (0.02, "the 2 % of very slow calls are all hedged, but so are the body's calls above the p95"),
            (0.5, "that would be a hedge at p50"),
        )
        for wrong, why in known:
            if abs(value - wrong) <= 1e-6 * max(1.0, abs(wrong)):
                raise Incorrect(f"{value:g}: {why}. ({where}.)")
        direction = "above" if value > model else "below"
        raise Incorrect(
            f"{value:g} is {abs(value / model - 1):.0%} {direction} the model: {where}. Which calls get a second "
            "one: all of them, or only those slower than d?"
        )


OK, ERROR, REFUSED = "answered", "raised the source's error", "refused with CircuitOpenError"


class _Script:
    """One scripted run: (time, does the source fail?, expected result, expected state after)."""

    def __init__(self, failures: int, reset_after: float, steps: tuple, trial_at: tuple[float, ...]):
        self.failures, self.reset_after, self.steps, self.trial_at = failures, reset_after, steps, trial_at


SCRIPTS = (
    _Script(
        3,
        1.0,
        (
            (0.0, True, ERROR, "closed"),
            (0.1, False, OK, "closed"),
            (0.2, True, ERROR, "closed"),
            (0.3, True, ERROR, "closed"),
            (0.4, False, OK, "closed"),  # fail, succeed, fail, fail: not three in a row
            (0.5, True, ERROR, "closed"),
            (0.6, True, ERROR, "closed"),
            (0.7, True, ERROR, "open"),  # three in a row: open
            (0.8, False, REFUSED, "open"),
            (1.6, False, REFUSED, "open"),
            (1.8, True, ERROR, "open"),  # the trial fails: open again, from 1.8 s
            (1.9, False, REFUSED, "open"),
            (2.7, False, REFUSED, "open"),
            (2.9, False, OK, "closed"),  # the trial succeeds
            (3.0, True, ERROR, "closed"),
            (3.1, True, ERROR, "closed"),
            (3.2, False, OK, "closed"),
        ),
        (1.8, 2.9),
    ),
    _Script(
        2,
        5.0,
        (
            (10.0, True, ERROR, "closed"),
            (11.0, True, ERROR, "open"),
            (15.9, False, REFUSED, "open"),
            (16.1, False, OK, "closed"),
        ),
        (16.1,),
    ),
)


class FakeClock:
    """The time the script says it is (seconds); the breaker must read the time only through it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def _watch_wall_clock(reads: list[str], owners: set[int]):
    """Record the reads of time.time / monotonic / perf_counter made by the threads in ``owners``."""
    names = ("time", "monotonic", "perf_counter")
    saved = {name: getattr(time, name) for name in names}

    def spy(name: str, real: Callable[[], float]) -> Callable[[], float]:
        def read() -> float:
            if threading.get_ident() in owners:
                reads.append(name)
            return real()

        return read

    for name in names:
        setattr(time, name, spy(name, saved[name]))
    try:
        yield
    finally:
        for name in names:
            setattr(time, name, saved[name])


class _Verdict(Exception):
    """Raised inside the scenario: the first place where the breaker went wrong."""


class BreakerMachine(Question):
    title = "A circuit breaker's state machine"
    expects = "a class Breaker(failures, reset_after, clock) with a method call(fetch, request)"
    hints = (
        "Start with the open state: if it is open and reset_after seconds have passed since opened_at "
        "(self.clock() - self.opened_at >= self.reset_after), this call is the trial: set the state to "
        '"half-open" and let it through. Otherwise, if the state is not "closed", raise CircuitOpenError.',
        "Call fetch(request) inside try/except. On an exception: count it (self.in_a_row += 1); open the circuit "
        "(state, opened_at = now) if this was the trial or if in_a_row reached failures; then `raise`.",
        'On success: state = "closed", in_a_row = 0, and return the value.',
    )
    solution_text = """
        class Breaker:
            def __init__(self, failures, reset_after, clock):
                self.failures, self.reset_after, self.clock = failures, reset_after, clock
                self.state = "closed"  # "closed", "open" or "half-open"
                self.in_a_row = 0  # failures in a row while closed
                self.opened_at = None  # self.clock() when the circuit last opened

            def call(self, fetch, request):
                trial = self.state == "open" and self.clock() - self.opened_at >= self.reset_after
                if trial:
                    self.state = "half-open"  # this call is the one trial; others are refused meanwhile
                elif self.state != "closed":
                    raise CircuitOpenError(f"circuit {self.state}: {request!r} not sent")
                try:
                    value = fetch(request)
                except Exception:
                    self.in_a_row += 1
                    if trial or self.in_a_row >= self.failures:
                        self.state, self.opened_at = "open", self.clock()
                    raise
                self.state, self.in_a_row = "closed", 0
                return value
    """

    def _check(self, breaker_class: Any) -> str:
        if not callable(breaker_class):
            raise Incorrect(f"expected the class Breaker itself (not an instance or a string), got {breaker_class!r}")
        for script in SCRIPTS:
            reads: list[str] = []
            progress: dict[str, Any] = {"owners": set()}
            try:
                with _watch_wall_clock(reads, progress["owners"]):
                    verdict = call_bounded(
                        self._run, breaker_class, script, reads, progress, timeout=3.0, what="your breaker"
                    )
            except Incorrect:
                if progress.get("nested") == "running":
                    raise Incorrect(
                        "a second call, made while the trial call was running, waited for it instead of being "
                        "refused: never hold a lock while fetch runs (guard only the state), and refuse other "
                        "calls while half-open. Your code may still be blocked: restart the kernel."
                    ) from None
                raise
            if verdict is not None:
                raise Incorrect(verdict)
        return (
            "closed, open after failures in a row, refused without reaching the source, one trial after "
            "reset_after, reopened by a failed trial and closed by a good one, all on the clock it was given."
        )

    def _run(self, breaker_class: Any, script: _Script, reads: list[str], progress: dict) -> str | None:
        """Play one script; return what went wrong first (None: all well)."""
        progress["owners"].add(threading.get_ident())
        clock = FakeClock()
        setting = f"(failures={script.failures}, reset_after={script.reset_after:g})"
        try:
            breaker = breaker_class(script.failures, script.reset_after, clock)
        except NotImplementedError:
            raise
        except Exception as exc:
            return f"Breaker{setting} raised {exc!r}; keep the __init__ of the starter code."
        if not callable(getattr(breaker, "call", None)):
            return "your Breaker has no method call(fetch, request)."
        states: list[str] = []  # wrong states, reported if no wrong behaviour explains them better
        progress["seen"] = {}  # the state after each step
        try:
            for number, step in enumerate(script.steps):
                self._step(breaker, clock, script, number, step, reads, progress, states)
        except _Verdict as verdict:
            return f"{verdict} {setting}"
        return f"{states[0]} {setting}" if states else None

    def _step(
        self,
        breaker: Any,
        clock: FakeClock,
        script: _Script,
        number: int,
        step: tuple,
        reads: list,
        progress: dict,
        states: list[str],
    ) -> None:
        at, fails, expected, state_after = step
        clock.now = at
        trial = at in script.trial_at
        calls: list[str] = []
        inside: dict[str, Any] = {}
        failure = SourceError(f"scripted failure at {at:g} s")

        def fetch(request: Any) -> str:
            calls.append(request)
            if trial:
                inside["state"] = getattr(breaker, "state", None)
                progress["nested"] = "running"
                inside["nested"] = self._attempt(breaker, lambda r: calls.append(r) or "nested answer", "meanwhile")
                progress["nested"] = "done"
            if fails:
                raise failure
            return f"answer to {request}"

        result, value = self._attempt(breaker, fetch, f"request at {at:g} s")
        reached = "request at" in " ".join(map(str, calls))
        self._judge_step(at, expected, result, value, reached, failure, script, number, reads, progress["seen"])
        if trial:
            if inside.get("state") != "half-open":
                raise _Verdict(
                    f"during the trial call at {at:g} s, self.state should be 'half-open'; "
                    f"it was {inside.get('state')!r}."
                )
            nested_result, _ = inside["nested"]
            if "meanwhile" in calls:
                raise _Verdict(
                    f"while the trial call at {at:g} s was running, a second call reached the source: half-open "
                    "lets exactly one call through, and refuses the others until the trial ends."
                )
            if nested_result != REFUSED:
                raise _Verdict(
                    f"while the trial ran, a second call was not refused with CircuitOpenError ({nested_result})."
                )
        state = getattr(breaker, "state", None)
        if state != state_after:
            states.append(f"after the call at {at:g} s, self.state should be {state_after!r}; yours was {state!r}.")
        progress["seen"][number] = state

    @staticmethod
    def _attempt(breaker: Any, fetch: Callable, request: Any) -> tuple[str, Any]:
        """(what happened, the value or exception) for one call through the breaker."""
        try:
            return OK, breaker.call(fetch, request)
        except NotImplementedError:
            raise
        except CircuitOpenError as exc:
            return REFUSED, exc
        except SourceError as exc:
            return ERROR, exc
        except Exception as exc:
            return "raised " + repr(exc), exc

    def _judge_step(self, at, expected, result, value, reached, failure, script, number, reads, seen):
        if result == expected and (expected != ERROR or value is failure) and (expected == REFUSED) != reached:
            return
        if not reached and expected != REFUSED:
            if result == REFUSED:
                self._refused(at, script, number, reads)
            raise _Verdict(
                f"the call at {at:g} s never called fetch(request), and returned {value!r}: while the circuit is "
                "closed (or for the trial), calls go through to the source."
            )
        if reached and expected == REFUSED:
            if number == script.steps.index(next(s for s in script.steps if s[2] == REFUSED)):
                raise _Verdict(
                    f"{script.failures} failures in a row should open the circuit, but the call at {at:g} s still "
                    "reached the source (compare in_a_row with failures using >=, and set the state to 'open')."
                )
            previous = script.steps[number - 1]
            if previous[1] and previous[0] in script.trial_at and seen.get(number - 1) != "open":
                raise _Verdict(
                    f"the trial call at {previous[0]:g} s failed, yet the call at {at:g} s reached the source: a "
                    "failed trial must open the circuit again at once."
                )
            opened = [s[0] for s in script.steps[:number] if s[2] == ERROR and s[3] == "open"][-1]
            if opened in script.trial_at:
                raise _Verdict(
                    f"the call at {at:g} s reached the source, {at - opened:.1f} s after the failed trial at "
                    f"{opened:g} s: a failed trial must restart the wait (opened_at = the time it reopened)."
                )
            raise _Verdict(
                f"the call at {at:g} s reached the source only {at - opened:.1f} s after the circuit opened at "
                f"{opened:g} s: it must stay open for reset_after = {script.reset_after:g} s."
            )
        if expected == ERROR and result == OK:
            raise _Verdict(
                f"fetch failed at {at:g} s, and your call returned {value!r}: re-raise the error (a bare `raise`), "
                "so that the caller sees the failure; a breaker must not swallow it."
            )
        if expected == ERROR and result == ERROR:
            raise _Verdict(
                f"at {at:g} s, re-raise the source's own error (a bare `raise`), not a new one: got {value!r}."
            )
        if expected == REFUSED:
            raise _Verdict(
                f"while open, refuse the call with CircuitOpenError, without calling fetch; at {at:g} s yours {result}."
            )
        raise _Verdict(f"the call at {at:g} s should have {expected}; yours {result}: {value!r}.")

    @staticmethod
    def _refused(at: float, script: _Script, number: int, reads: list) -> None:
        """Name the bug behind a call refused when it should have passed."""
        if at in script.trial_at:
            if reads:
                raise _Verdict(
                    f"your breaker read the wall clock (time.{reads[0]}()), so it never saw the "
                    f"{script.reset_after:g} s pass: read the time only through self.clock(), the clock given."
                )
            raise _Verdict(
                f"the call at {at:g} s was refused, but the circuit opened more than reset_after = "
                f"{script.reset_after:g} s before: it should half-open and let one trial call through."
            )
        failed_before = [s for s in script.steps[:number] if s[1]]
        if len(failed_before) == 1:
            raise _Verdict(
                f"your breaker opened after 1 failure; it should open only after failures = {script.failures} "
                "failures in a row."
            )
        after_trial = [t for t in script.trial_at if t < at]
        if after_trial:
            raise _Verdict(
                f"the call at {at:g} s was refused: after the trial succeeded at {after_trial[-1]:g} s, the count "
                "of failures in a row must start again from 0."
            )
        raise _Verdict(
            f"the call at {at:g} s was refused, but there were never {script.failures} failures in a row "
            "(a success resets the count): count failures in a row, not failures in total."
        )


storm = StormPredict("storm")
hedge = HedgePredict("hedge")
breaker = BreakerMachine("breaker")
