"""Sheet 07 q1: a breaker whose half-open state lets `probes` trial calls through. The check runs it on a fake
clock from one thread, with trials nested in trials, and from 8 threads released together (a barrier, and a clock
that is a rendezvous): the wrong answers learners write are named by the visible and the hidden check; answers
written differently pass both. Nothing is timed."""

import threading
import time

import pytest
from exercise_answers import do_nothing, hangs, reference

from ella_lab.exercises import phase7
from ella_lab.resilience import CircuitOpenError

pytestmark = pytest.mark.timeout(120)
q = phase7.q1
Reference = reference(phase7, q, "Breaker")


# -- correct, written differently -------------------------------------------------------------------------


class WithASemaphore:
    """Trials take a slot of a Semaphore(probes) without blocking; successes are counted apart."""

    def __init__(self, failures, reset_after, clock, probes):
        self.failures, self.reset_after, self.clock, self.probes = failures, reset_after, clock, probes
        self.state, self.count, self.opened_at, self.successes = "closed", 0, 0.0, 0
        self.guard = threading.RLock()
        self.slots = threading.Semaphore(probes)

    def waiting(self):
        return self.clock() < self.opened_at + self.reset_after

    def call(self, fetch, request):
        with self.guard:
            if self.state == "open":
                if self.waiting():
                    raise CircuitOpenError("open")
                self.state, self.successes, self.slots = "half-open", 0, threading.Semaphore(self.probes)
            trial = self.state == "half-open"
            slots = self.slots
            if trial and not slots.acquire(blocking=False):
                raise CircuitOpenError("all trial slots out")
        try:
            value = fetch(request)
        except Exception:
            with self.guard:
                if trial and self.state == "half-open":
                    self.state, self.opened_at = "open", self.clock()
                elif not trial and self.state == "closed":
                    self.count += 1
                    if self.count == self.failures:
                        self.state, self.opened_at = "open", self.clock()
            raise
        finally:
            if trial:
                slots.release()
        with self.guard:
            if trial and self.state == "half-open":
                self.successes += 1
                if self.successes == self.probes:
                    self.state, self.count = "closed", 0
            elif not trial and self.state == "closed":
                self.count = 0
        return value


class EnterLeave:
    """The bookkeeping in two small methods, a trial as a token object."""

    def __init__(self, failures, reset_after, clock, probes):
        self.failures, self.reset_after, self.clock, self.probes = failures, reset_after, clock, probes
        self.state, self.in_a_row, self.opened_at = "closed", 0, None
        self.tokens, self.good = set(), 0
        self.lock = threading.Lock()

    def _enter(self, request):
        with self.lock:
            if self.state == "open" and self.clock() - self.opened_at >= self.reset_after:
                self.state, self.tokens, self.good = "half-open", set(), 0
            if self.state == "closed":
                return None
            if self.state == "half-open" and len(self.tokens) + self.good < self.probes:
                token = object()
                self.tokens.add(token)
                return token
            raise CircuitOpenError(f"{self.state}: {request}")

    def _leave(self, token, ok):
        with self.lock:
            if token is not None:
                if token not in self.tokens:
                    return  # a trial of an earlier half-open: too late to count
                self.tokens.discard(token)
                if not ok:
                    self.state, self.opened_at, self.tokens = "open", self.clock(), set()
                else:
                    self.good += 1
                    if self.good >= self.probes:
                        self.state, self.in_a_row = "closed", 0
            elif self.state == "closed":
                self.in_a_row = 0 if ok else self.in_a_row + 1
                if self.in_a_row >= self.failures:
                    self.state, self.opened_at = "open", self.clock()

    def call(self, fetch, request):
        token = self._enter(request)
        try:
            value = fetch(request)
        except Exception:
            self._leave(token, False)
            raise
        self._leave(token, True)
        return value


class StrictBoundary(WithASemaphore):
    """Half-opens only once *more* than reset_after has passed (`>`): as fair as `>=`; the old check refused it."""

    def waiting(self):
        return self.clock() <= self.opened_at + self.reset_after


CORRECT = [Reference, WithASemaphore, EnterLeave, StrictBoundary]


@pytest.mark.parametrize("answer", CORRECT, ids=lambda c: c.__name__)
def test_answers_written_differently_pass_the_visible_and_the_hidden_check(answer):
    assert q.judge(answer), q.judge(answer)
    assert q.hidden_check(answer), q.hidden_check(answer)


# -- wrong --------------------------------------------------------------------------------------------------


class OneTrial(Reference):
    """Notebook 07's breaker: one success closes it, whatever probes says."""

    def call(self, fetch, request):
        self.probes = 1
        return super().call(fetch, request)


class NoLock(Reference):
    """The reference with its lock replaced by one that guards nothing."""

    def __init__(self, *args):
        super().__init__(*args)
        self.lock = _NoLock()


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class LockAroundFetch(Reference):
    def call(self, fetch, request):
        with self.big:
            return super().call(fetch, request)

    def __init__(self, *args):
        super().__init__(*args)
        self.big = threading.Lock()


class NoLimitAtOnce(Reference):
    """Lets any number of trials out at once; closes after probes successes."""

    def call(self, fetch, request):
        with self.lock:
            self.out = 0  # forgets the trials out now
        return super().call(fetch, request)


class StaleTimer:
    """A failed trial reopens the circuit but keeps the old opened_at: the next trial comes at once."""

    def __init__(self, failures, reset_after, clock, probes):
        self.inner = Reference(failures, reset_after, clock, probes)

    @property
    def state(self):
        return self.inner.state

    def call(self, fetch, request):
        before = self.inner.opened_at
        try:
            return self.inner.call(fetch, request)
        finally:
            if self.inner.state == "open" and before is not None and self.inner.opened_at != before:
                self.inner.opened_at = (
                    before if self.inner.passed == 0 and self.inner.out == 0 else self.inner.opened_at
                )


class CountsNeverReset(Reference):
    """Forgets to reset the trial counts when the circuit half-opens again."""

    def call(self, fetch, request):
        with self.lock:
            if self.state == "open" and self.clock() - self.opened_at >= self.reset_after:
                self.state = "half-open"  # out and passed keep their old values
        return super().call(fetch, request)


class WallClock(Reference):
    def __init__(self, failures, reset_after, clock, probes):
        super().__init__(failures, reset_after, time.monotonic, probes)


BUGS = [
    ("notebook 07's breaker: one trial", OneTrial, "it takes `probes` successes to close the circuit"),
    ("no lock", NoLock, "8 threads released together when the circuit could half-open sent"),
    ("a lock held while fetch runs", LockAroundFetch, "never hold a lock (not even an RLock) while fetch runs"),
    ("no limit on trials at once", NoLimitAtOnce, "trial calls were out at once with probes="),
    ("a failed trial keeps the old timer", StaleTimer, "a failed trial restarts the wait"),
    ("counts not reset at half-open", CountsNeverReset, "its trial counts reset?"),
    ("the wall clock", WallClock, "Read the time only through self.clock()"),
    ("three arguments", lambda failures, reset_after, clock: None, "take the four"),
    ("an instance, not the class", "Breaker", "expected the class Breaker itself"),
]


@pytest.mark.parametrize(("name", "answer", "expected"), BUGS, ids=[b[0] for b in BUGS])
def test_each_wrong_answer_is_rejected_naming_its_bug_by_the_visible_and_the_hidden_check(name, answer, expected):
    for result in (q.judge(answer), q.hidden_check(answer)):
        assert result.status == "incorrect", result
        assert expected in result.message, result.message


def test_nothing_and_a_hang():
    assert not q.judge(do_nothing)
    assert "did not return" in q.judge(hangs).message or not q.judge(hangs)
