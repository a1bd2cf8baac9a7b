"""Exercises for notebook 07, resilience patterns: ``from ella_lab.exercises import phase7 as ex``."""

from __future__ import annotations

from typing import Any

from ..sources import SourceError
from ._core import RUNAWAY, Incorrect, NumberQuestion, Question, call_bounded, same
from .walk07 import ERROR, OK, REFUSED, BreakerMachine, _fail, _MeetingClock, release_together

_attempt = BreakerMachine._attempt

__all__ = ["q1", "q2", "q3", "q4"]


class ProbingBreaker(Question):
    title = "A breaker that probes with several trial calls"
    expects = "a class Breaker(failures, reset_after, clock, probes) with a method call(fetch, request)"
    answer_name = "Breaker"
    hints = (
        "Start from notebook 07's breaker. Keep two counts for half-open: the trial calls out now, and the trials "
        "that have succeeded; reset both when the circuit half-opens.",
        "Under the lock: a call may be a trial while (out now + succeeded) < probes; otherwise refuse it. Count it "
        "out before you release the lock, and back in (under the lock again) when fetch returns or raises.",
        "A trial's failure opens the circuit at once (opened_at = now); the probes-th success closes it. Never hold "
        "the lock while fetch runs: the other trials run meanwhile.",
    )
    solution_text = """
        import threading

        from ella_lab.resilience import CircuitOpenError

        class Breaker:
            def __init__(self, failures, reset_after, clock, probes):
                self.failures, self.reset_after, self.clock, self.probes = failures, reset_after, clock, probes
                self.state, self.in_a_row, self.opened_at = "closed", 0, None
                self.out = self.passed = 0  # half-open: trials out now, trials that succeeded
                self.lock = threading.Lock()  # guards the state, never the call

            def call(self, fetch, request):
                with self.lock:
                    if self.state == "open" and self.clock() - self.opened_at >= self.reset_after:
                        self.state, self.out, self.passed = "half-open", 0, 0
                    trial = self.state == "half-open"
                    if (trial and self.out + self.passed >= self.probes) or self.state == "open":
                        raise CircuitOpenError(f"circuit {self.state}: {request!r} not sent")
                    if trial:
                        self.out += 1
                try:
                    value = fetch(request)
                except Exception:
                    with self.lock:
                        if trial:
                            self.out -= 1
                            if self.state == "half-open":  # one failed trial is enough: open again
                                self.state, self.opened_at = "open", self.clock()
                        elif self.state == "closed":
                            self.in_a_row += 1
                            if self.in_a_row >= self.failures:
                                self.state, self.opened_at = "open", self.clock()
                    raise
                with self.lock:
                    if trial:
                        self.out -= 1
                        if self.state == "half-open":
                            self.passed += 1
                            if self.passed >= self.probes:
                                self.state, self.in_a_row = "closed", 0
                    elif self.state == "closed":
                        self.in_a_row = 0
                return value
    """
    SETTINGS = ((2, 5.0, 3),)  # (failures, reset_after, probes)
    HIDDEN = ((3, 0.5, 2), (1, 2.0, 4), (2, 5.0, 3))
    THREADS = 8

    def _check(self, breaker_class: Any) -> str:
        for setting in self.SETTINGS:
            self._judge_class(breaker_class, *setting)
        return (
            "open after failures in a row; then up to `probes` trials, no more even from 8 threads at once; the "
            "probes-th success closes it, a failed trial opens it again at once."
        )

    def _check_hidden(self, breaker_class: Any) -> str:
        for setting in self.HIDDEN:
            self._judge_class(breaker_class, *setting)
        return "right on every case."

    def _judge_class(self, breaker_class: Any, failures: int, reset_after: float, probes: int) -> None:
        if not callable(breaker_class):
            raise Incorrect(f"expected the class Breaker itself (not an instance or a string), got {breaker_class!r}")
        setting = f"(failures={failures}, reset_after={reset_after:g}, probes={probes})"
        verdict = call_bounded(self._sequence, breaker_class, failures, reset_after, probes, what="your breaker")
        if verdict is None:
            verdict = self._nested(breaker_class, failures, reset_after, probes)
        if verdict is None:
            verdict = self._together(breaker_class, failures, reset_after, probes)
        if verdict is not None:
            raise Incorrect(f"{verdict} {setting}")

    @staticmethod
    def _new(breaker_class: Any, failures: int, reset_after: float, probes: int, clock: Any) -> Any:
        try:
            return breaker_class(failures, reset_after, clock, probes)
        except TypeError as exc:
            raise Incorrect(f"Breaker(failures, reset_after, clock, probes) raised {exc!r}: take the four.") from None

    def _sequence(self, breaker_class: Any, failures: int, reset_after: float, probes: int) -> str | None:
        """One thread on a fake clock: closed, open, refused, `probes` trials, closed; then a failed trial."""
        clock = _MeetingClock()
        breaker = self._new(breaker_class, failures, reset_after, probes, clock)
        calls: list[Any] = []

        def ok(request: Any) -> str:
            calls.append(request)
            return f"answer to {request}"

        def fail(request: Any) -> str:
            calls.append(request)
            raise SourceError(f"scripted failure of {request}")

        def state() -> Any:
            return getattr(breaker, "state", None)

        def attempt(fetch: Any, request: Any) -> str:
            before = len(calls)
            result, _ = _attempt(breaker, fetch, request)
            if result not in (OK, ERROR, REFUSED):
                raise _Said(f"the call at t={clock.now:g} s {result}.")
            if (result == REFUSED) != (len(calls) == before):
                raise _Said(f"the call at t={clock.now:g} s was refused, yet it reached the source.")
            return result

        try:
            if attempt(ok, "first") != OK or not same(state(), "closed"):
                return f"a new breaker is closed and lets a call through; yours: state {state()!r}."
            for k in range(failures):
                if attempt(fail, f"failing {k}") != ERROR:
                    return "a failed call must raise the source's own error (a bare `raise`)."
            if not same(state(), "open"):
                return f"after {failures} failures in a row, self.state should be 'open'; yours was {state()!r}."
            clock.now = reset_after / 2
            if attempt(ok, "too soon") != REFUSED:
                return f"at t={clock.now:g} s, less than reset_after after it opened, the call should be refused."
            clock.now = reset_after + (tick := reset_after / 1000)  # just past it: `>=` and `>` both fair
            self._trials(attempt, ok, state, probes, clock)
            for k in range(failures):
                attempt(fail, f"failing again {k}")
            clock.now = 2 * reset_after + 2 * tick
            if attempt(fail, "failing trial") != ERROR:
                return (
                    f"at t={clock.now:g} s, reset_after after the circuit opened again, the trial call should reach "
                    "the source (it fails there): does the circuit half-open afresh, its trial counts reset?"
                )
            if not same(state(), "open"):
                return f"one failed trial should open the circuit again at once; after it, self.state was {state()!r}."
            clock.now = 2.5 * reset_after
            if attempt(ok, "after the failed trial") != REFUSED:
                return (
                    f"at t={clock.now:g} s, half of reset_after after a failed trial, the call should be refused: a "
                    "failed trial restarts the wait (opened_at = the time it failed)."
                )
            clock.now = 3 * reset_after + 3 * tick
            self._trials(attempt, ok, state, probes, clock)
        except _Said as said:
            return str(said)
        return None

    @staticmethod
    def _trials(attempt: Any, ok: Any, state: Any, probes: int, clock: Any) -> None:
        for k in range(1, probes + 1):
            result = attempt(ok, f"trial {k}")
            if result == REFUSED and k == 1:
                raise _Said(
                    f"at t={clock.now:g} s, reset_after after the circuit opened, the first trial was refused: it "
                    "should half-open (reset the trial counts) and let trials through. Read the time only through "
                    "self.clock(): the check moves that clock, not time.monotonic()."
                )
            if result == REFUSED:
                raise _Said(
                    f"at t={clock.now:g} s the circuit may half-open: trial {k} of probes={probes} was refused, after "
                    f"{k - 1} trial(s) had succeeded. Half-open lets `probes` trials through, one after the other too."
                )
            want = "closed" if k == probes else "half-open"
            if not same(state(), want):
                raise _Said(
                    f"after {k} successful trial(s) of probes={probes}, self.state should be {want!r}; yours was "
                    f"{state()!r}: it takes `probes` successes to close the circuit."
                )

    def _nested(self, breaker_class: Any, failures: int, reset_after: float, probes: int) -> str | None:
        """Trials out at once, from one thread: each trial's fetch makes the next call; probes + 1 must be refused."""
        clock = _MeetingClock()
        breaker = self._new(breaker_class, failures, reset_after, probes, clock)
        for k in range(failures):
            _attempt(breaker, _fail, f"failing {k}")
        clock.now = reset_after * 1.001  # just past it: `>=` and `>` both fair
        results: dict[int, str] = {}

        def trial(depth: int) -> Any:
            def fetch(request: Any) -> str:
                if depth <= probes:
                    results[depth + 1] = _attempt(breaker, trial(depth + 1), f"trial {depth + 1}")[0]
                return f"answer to {request}"

            return fetch

        try:
            results[1] = call_bounded(_attempt, breaker, trial(1), "trial 1", what="your breaker")[0]
        except Incorrect:
            return (
                "a call made while a trial was running waited for it: never hold a lock (not even an RLock) while "
                f"fetch runs; guard only the state. {RUNAWAY}"
            )
        refused = sorted(depth for depth, result in results.items() if result == REFUSED)
        if refused and refused[0] == probes + 1:
            return None
        reached = refused[0] - 1 if refused else len(results)
        if reached > probes:
            return f"{reached} trial calls were out at once with probes={probes}: refuse the ({probes + 1})-th."
        return (
            f"while {reached} trial(s) were running, the next call was refused, with probes={probes}: half-open "
            f"lets {probes} trials run at once."
        )

    def _together(self, breaker_class: Any, failures: int, reset_after: float, probes: int) -> str | None:
        clock = _MeetingClock()
        breaker = self._new(breaker_class, failures, reset_after, probes, clock)
        for k in range(failures):
            _attempt(breaker, _fail, f"failing {k}")
        clock.now = reset_after + 1.0
        run = release_together(breaker, clock, self.THREADS)
        n = self.THREADS
        if run.reached > probes:
            return (
                f"{n} threads released together when the circuit could half-open sent {run.reached} trial calls "
                f"with probes={probes}: each read the state before another changed it. Hold a threading.Lock "
                "(made in __init__) while you read and change the state and the counts, never while fetch runs."
            )
        if run.reached < probes or run.results.count(REFUSED) != n - probes:
            return (
                f"{n} threads released together when the circuit could half-open: {probes} trials should reach the "
                f"source and the other {n - probes} be refused; yours: {run.summary()}"
            )
        if not same(getattr(breaker, "state", None), "closed"):
            return f"after {probes} trials released together all succeeded, the circuit should be closed."
        return None


class _Said(Exception):
    """The first thing the sequence found wrong."""


class BudgetRetries(NumberQuestion):
    title = "What a retry budget allows"
    expects = "a number of retries: retries = ..."
    example = "250"
    answer_name = "retries"
    unit = "count"
    # 109 is exact (the library's count); 110, the back-of-envelope cap + ratio × requests, is right too: the
    # middle of the two, within 0.5 %, accepts both (and 109.9) and nothing else
    answer = 109.5
    rel = 0.005
    correct = (
        "about 110 (the library lets exactly 109 through): the bucket starts full with cap = 10 tokens, each of the "
        "1,000 requests adds 0.1 (the first one's overflows the full bucket) and each retry spends a whole token; "
        "without the budget there would be 2000."
    )
    mistakes = (
        (2000, "2000 is what Retry(attempts=3) asks for without a budget (2 retries × 1000): the budget refuses most."),
        (3000, "3000 is every call without a budget; the question asks how many retries the budget allows."),
        (100, "100 is 10 % of the requests; the budget also starts with a full bucket of cap = 10 tokens."),
        (1110, "1110 is every call (first tries plus retries); the question asks for the retries alone."),
        (10, "10 is the full bucket alone; each request adds 0.1 of a token to it."),
        (111, "111 is off by one (one too many): cap + ratio × requests = 110 is the most the budget allows."),
        (108, "108 is off by one (one too few): count the tokens again, the full bucket first."),
    )
    otherwise = "retries stay under the tokens: cap to start with, plus ratio per request."
    hints = (
        "RetryBudget(ratio=0.1, cap=10) is a bucket of tokens: it starts full (cap = 10), each request adds ratio "
        "= 0.1 (never above cap), each retry spends one token, and a retry with no whole token left is refused.",
        "The source is down, so the bucket never stays full for long: count the tokens that ever come in.",
    )
    solution_text = """
        retries = 10 + 0.1 * 1000  # the full bucket plus 0.1 per request: about 110 (exactly 109: the first
        # request's 0.1 overflows the full bucket)
    """


class HedgeShare(NumberQuestion):
    title = "How often does a hedge fire?"
    expects = "a fraction between 0 and 1: hedged = ..."
    example = "0.25"
    answer_name = "hedged"
    unit = "fraction"
    answer = 0.05
    correct = "0.05: only the calls slower than the p95 (5 % of them) get a second call, for 5 % extra load."
    mistakes = ((0.95, "0.95 of the calls answer before the p95 delay: those are the ones that are not hedged."),)
    otherwise = "a hedge fires when the first call is slower than its p95."
    hints = ("After waiting the p95 latency, how many calls are still waiting for their answer?",)
    solution_text = """
        hedged = 1 - 0.95  # the calls still running at the p95 mark
    """


class BreakerOrBudget(Question):
    title = "Breaker and budget in an outage"
    checked = False
    solution_text = """
        Model answer. Both protect a source that is down from the load of its own clients. The retry budget
        caps the extra load of retries at about its ratio (10 %), but every first call still reaches the
        sick source and waits for its timeout. The breaker stops the first calls too: after a few failures
        in a row it refuses calls at once (fast failure, no waiting), and tests the source with one trial
        call per reset interval. Together: the budget prevents retry storms during brief trouble, the breaker
        takes over in a real outage and lets the fallback answer without waiting.
    """


q1 = ProbingBreaker("q1")
q2 = BudgetRetries("q2")
q3 = HedgeShare("q3")
q4 = BreakerOrBudget("q4")
