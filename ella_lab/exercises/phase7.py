"""Exercises for notebook 07, resilience patterns: ``from ella_lab.exercises import phase7 as ex``."""

from __future__ import annotations

import random
from typing import Any

from ._core import Incorrect, NumberQuestion, Question, call_bounded

__all__ = ["FakeClock", "q1", "q2", "q3", "q4"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class FakeClock:
    """A clock for the checks: ``clock()`` reads it, ``advance(seconds)`` moves it. No real waiting."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _Model:
    """The reference breaker the hidden cases are judged against."""

    def __init__(self, failures: int, reset_after: float, clock: Any, *, strict: bool = False):
        self.failures, self.reset_after, self.clock, self.strict = failures, reset_after, clock, strict
        self.state, self.count, self.opened_at = CLOSED, 0, 0.0

    def _due(self) -> bool:
        """reset_after has passed: at the boundary itself (>=), or only after it (> when strict); both are fair."""
        waited = self.clock() - self.opened_at
        return waited > self.reset_after if self.strict else waited >= self.reset_after

    def allow(self) -> bool:
        if self.state == OPEN and self._due():
            self.state = HALF_OPEN
            return True
        return self.state == CLOSED

    def record(self, ok: bool) -> None:
        if self.state == HALF_OPEN:
            self.state, self.count = (CLOSED, 0) if ok else (OPEN, 0)
            self.opened_at = self.clock()
        elif self.state == CLOSED:
            self.count = 0 if ok else self.count + 1
            if self.count >= self.failures:
                self.state, self.opened_at = OPEN, self.clock()


# One step: (operation, argument, expected result of allow() or None, expected state, why if it differs).
_STEPS: tuple[tuple[str, Any, Any, str, str], ...] = (
    ("allow", None, True, CLOSED, "a new breaker is closed and lets calls through."),
    ("record", False, None, CLOSED, "one failure is not enough to open it (failures=3)."),
    ("allow", None, True, CLOSED, "a closed breaker lets calls through."),
    ("record", False, None, CLOSED, "two failures are not enough to open it (failures=3)."),
    ("allow", None, True, CLOSED, "a closed breaker lets calls through."),
    ("record", True, None, CLOSED, "a success keeps it closed."),
    ("allow", None, True, CLOSED, "a closed breaker lets calls through."),
    ("record", False, None, CLOSED, "it counts failures in a row: the success before this one reset the count."),
    ("allow", None, True, CLOSED, "a closed breaker lets calls through."),
    ("record", False, None, CLOSED, "it counts failures in a row: the success before these reset the count."),
    ("allow", None, True, CLOSED, "a closed breaker lets calls through."),
    (
        "record",
        False,
        None,
        OPEN,
        "the third failure in a row opens it (failures=3 trips on the third, not the fourth).",
    ),
    ("allow", None, False, OPEN, "an open breaker refuses calls until reset_after seconds have passed."),
    ("tick", 0.5, None, OPEN, ""),
    ("allow", None, False, OPEN, "0.5 s after opening, with reset_after=1.0, it still refuses calls."),
    ("tick", 0.6, None, OPEN, ""),
    (
        "allow",
        None,
        True,
        HALF_OPEN,
        "once reset_after seconds have passed on the clock you were given, it lets one trial call through and is "
        "half-open.",
    ),
    ("allow", None, False, HALF_OPEN, "half-open lets exactly one trial call through; the others are refused."),
    ("record", False, None, OPEN, "a failed trial opens the breaker again."),
    ("tick", 0.5, None, OPEN, ""),
    ("allow", None, False, OPEN, "a failed trial restarts the timer: the breaker stays open another reset_after."),
    ("tick", 0.6, None, OPEN, ""),
    ("allow", None, True, HALF_OPEN, "reset_after after the failed trial, it lets one trial call through."),
    ("record", True, None, CLOSED, "a successful trial closes the breaker."),
    ("allow", None, True, CLOSED, "a closed breaker lets calls through."),
    ("record", False, None, CLOSED, "closing resets the failure count: one failure after closing is not enough."),
    ("allow", None, True, CLOSED, "a closed breaker lets calls through."),
    ("record", False, None, CLOSED, "closing resets the failure count: two failures after closing are not enough."),
    ("allow", None, True, CLOSED, "a closed breaker lets calls through."),
    ("record", False, None, OPEN, "three failures in a row open it again."),
)


def _random_steps(seed: int, count: int) -> list[tuple[str, Any]]:
    """A random script of allow/record/tick, where a record always follows an allowed call."""
    rng = random.Random(seed)
    steps: list[tuple[str, Any]] = []
    allowed = False
    for _ in range(count):
        roll = rng.random()
        if allowed:
            steps.append(("record", rng.random() < 0.5))
            allowed = False
        elif roll < 0.25:
            steps.append(("tick", rng.choice((0.4, 1.0, 2.5))))
        else:
            steps.append(("allow", None))
            allowed = True  # recorded only if it was allowed: the runner skips the record otherwise
    return steps


class Breaker(Question):
    title = "A circuit breaker's state machine"
    expects = "a class Breaker(failures, reset_after, clock) with allow(), record(ok) and state"
    answer_name = "Breaker"
    hints = (
        "Keep three things: state, the number of failures in a row, and when it opened (clock()).",
        "allow(): closed → True; open → True only once reset_after has passed since it opened (and then it is "
        "half-open); half-open → False, since its one trial is out.",
        "record(ok): in half-open, success closes it (count back to 0) and failure opens it again, with a new "
        "opening time; in closed, success resets the count, failure adds one and opens it at `failures`.",
    )
    solution_text = """
        class Breaker:
            def __init__(self, failures, reset_after, clock):
                self.failures, self.reset_after, self.clock = failures, reset_after, clock
                self.state, self.count, self.opened_at = "closed", 0, 0.0

            def allow(self):
                if self.state == "open" and self.clock() - self.opened_at >= self.reset_after:
                    self.state = "half-open"  # this call is the one trial
                    return True
                return self.state == "closed"

            def record(self, ok):
                if self.state == "half-open":
                    self.state, self.count = ("closed", 0) if ok else ("open", 0)
                    self.opened_at = self.clock()
                elif self.state == "closed":
                    self.count = 0 if ok else self.count + 1
                    if self.count >= self.failures:
                        self.state, self.opened_at = "open", self.clock()
    """
    HIDDEN = ((2, 5.0, 11), (4, 0.25, 12), (1, 3.0, 13))

    def _make(self, cls: Any, failures: int, reset_after: float, clock: FakeClock) -> Any:
        if not callable(cls):
            raise Incorrect(f"expected a class Breaker(failures, reset_after, clock), got {cls!r}")
        breaker = call_bounded(cls, failures, reset_after, clock, what="Breaker(...)")
        for name in ("allow", "record"):
            if not callable(getattr(breaker, name, None)):
                raise Incorrect(f"a Breaker needs a method {name}(); yours has none.")
        return breaker

    @staticmethod
    def _state(breaker: Any) -> Any:
        if not hasattr(breaker, "state"):
            raise Incorrect('a Breaker needs a .state attribute: "closed", "open" or "half-open".')
        state = breaker.state
        if state not in (CLOSED, OPEN, HALF_OPEN):
            raise Incorrect(f'.state should be "closed", "open" or "half-open"; got {state!r}.')
        return state

    def _check(self, cls: Any) -> str:
        clock = FakeClock()
        breaker = self._make(cls, 3, 1.0, clock)
        self._state(breaker)
        history: list[str] = []
        for op, arg, want, state, why in _STEPS:
            if op == "tick":
                clock.advance(arg)
                history.append(f"+{arg:g} s")
                continue
            if op == "allow":
                got = call_bounded(breaker.allow, what="allow()")
                history.append("allow()")
                if got is None:
                    raise Incorrect("allow() returned None: return True (the call may go) or False.")
                if bool(got) != want:
                    clue = ""
                    if want and self._state(breaker) == OPEN:
                        clue = " (do you read time.monotonic() or time.time() instead of the clock() you were given?)"
                    raise Incorrect(f"after {self._show(history[:-1])}, allow() returned {got!r}: {why}{clue}")
            else:
                call_bounded(breaker.record, arg, what="record()")
                history.append(f"record({arg})")
            now = self._state(breaker)
            if now != state and op == "allow" and state == HALF_OPEN and got:
                raise Incorrect(
                    f"after {self._show(history[:-1])}, allow() let the trial call through, but the state is {now!r}: "
                    'while its one trial is out, the breaker is "half-open" (and refuses every other call).'
                )
            if now != state:
                raise Incorrect(f"after {self._show(history)}, the state is {now!r}, not {state!r}: {why}")
        return "closed → open after 3 failures in a row, one trial after reset_after, and back: every transition right."

    def _check_hidden(self, cls: Any) -> str:
        self._check(cls)
        for failures, reset_after, seed in self.HIDDEN:
            clock = FakeClock()
            breaker = self._make(cls, failures, reset_after, clock)
            # the reference state machine, read both ways at the boundary: the answer must follow one of them
            models = [_Model(failures, reset_after, FakeClock(), strict=strict) for strict in (False, True)]
            allowed = False
            for op, arg in _random_steps(seed, 80):
                if op == "tick":
                    clock.advance(arg * reset_after)
                    for model in models:
                        model.clock.advance(arg * reset_after)
                elif op == "allow":
                    got = bool(call_bounded(breaker.allow, what="allow()"))
                    models = [m for m in models if m.allow() == got]
                    if not models:
                        raise Incorrect(f"allow() disagrees with the state machine (failures={failures}).")
                    allowed = got
                elif allowed:
                    for model in models:
                        model.record(arg)
                    call_bounded(breaker.record, arg, what="record()")
                state = self._state(breaker)
                models = [m for m in models if m.state == state]
                if not models:
                    raise Incorrect(f"the state disagrees with the state machine (failures={failures}).")
        return "right on every case."

    @staticmethod
    def _show(history: list[str]) -> str:
        shown = ", ".join(history[-4:])
        return f"... {shown}" if len(history) > 4 else shown or "creating it"


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


q1 = Breaker("q1")
q2 = BudgetRetries("q2")
q3 = HedgeShare("q3")
q4 = BreakerOrBudget("q4")
