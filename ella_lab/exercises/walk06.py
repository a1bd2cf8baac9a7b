"""Notebook 06 "Your turn", optimization: ``from ella_lab.exercises import walk06 as walk``."""

from __future__ import annotations

import math
import threading
import traceback
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, ClassVar

from ..timing import format_seconds
from ._core import BLANK, Incorrect, Question, as_real
from ._walk import Meeting, Prediction, Probe, answer_of

__all__ = ["BLANK", "RETRYABLE", "____", "q1", "q2", "q3", "q4"]

____ = BLANK  # the blank a learner replaces by a number


class _Occupancy(Probe):
    """Shows whether a free thread takes the next request at once: one slow call, all the others quick.

    The slow call (the first request) stays in flight until every other call has started (at most ``HOLD`` s,
    a bound, never a measure). A pool kept busy runs all the others on its other threads meanwhile; code that
    waits for a whole batch of ``workers`` before submitting the next leaves those threads idle, and the next
    batch starts only when the slow call has ended. ``during``: the other calls started while it was in flight.
    """

    HOLD = 2.0

    def __init__(self, requests: Sequence[str]):
        super().__init__("source")
        self.slow, self.others = requests[0], set(requests[1:])
        self.during: set[str] = set()
        self.slow_done = False
        self._everyone = threading.Event()

    def __call__(self, request: Any) -> str:
        with self._lock:
            if request != self.slow and not self.slow_done:
                self.during.add(request)
            if self.during >= self.others:
                self._everyone.set()
        if request == self.slow:
            self._everyone.wait(self.HOLD)
            with self._lock:
                self.slow_done = True
        return super().__call__(request)

    def idle(self) -> int:
        """How many of the other calls waited for the slow one to end."""
        return len(self.others - self.during)


class FetchAll(Question):
    title = "submit + as_completed, with a try per future"
    expects = "a function fetch_all(fetch, requests, workers)"
    hints = (
        "Submit every request first: futures = {pool.submit(fetch, request): request for request in requests}.",
        "Then `for future in as_completed(futures):` and look the request up with futures[future].",
        "Wrap each future.result() in try/except Exception (any failure, not only ConnectionError), and store the "
        "value or the exception itself.",
    )
    stub = """
        def fetch_all(fetch, requests, workers):
            # YOUR CODE HERE (about 9 lines): in a `with ThreadPoolExecutor(...)` block, submit every request,
            # then collect with as_completed, a try around each future.result(); return {request: answer or exception}.
            raise NotImplementedError
    """
    solution_text = """
        def fetch_all(fetch, requests, workers):
            answers = {}
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(fetch, request): request for request in requests}
                for future in as_completed(futures):
                    try:
                        answers[futures[future]] = future.result()
                    except Exception as exc:
                        answers[futures[future]] = exc
            return answers
    """
    REQUESTS = tuple(f"DataRequest-{i}" for i in range(12))
    FAILING: ClassVar[dict[str, type[Exception]]] = {
        "DataRequest-1": ConnectionError,
        "DataRequest-6": ConnectionError,
        "DataRequest-9": ValueError,
    }
    HIDDEN_REQUESTS = tuple(f"Q{i:02d}" for i in range(15))
    HIDDEN_FAILING: ClassVar[dict[str, type[Exception]]] = {
        "Q02": ConnectionError,
        "Q07": KeyError,
        "Q13": ConnectionError,
    }

    def _check(self, fetch_all: Any) -> str:
        if not callable(fetch_all):
            raise Incorrect(f"expected a function fetch_all(fetch, requests, workers), got {fetch_all!r}")
        for workers in (3, 2):
            self._run(fetch_all, workers, self.REQUESTS, self.FAILING)
        self._occupancy(fetch_all, 3, self.REQUESTS)
        return "every request answered once, failures kept as exceptions, on a pool of `workers` threads."

    def _check_hidden(self, fetch_all: Any) -> str:
        if not callable(fetch_all):
            raise Incorrect(f"expected a function fetch_all(fetch, requests, workers), got {fetch_all!r}")
        for workers in (4, 2):
            self._run(fetch_all, workers, self.HIDDEN_REQUESTS, self.HIDDEN_FAILING)
        self._occupancy(fetch_all, 4, self.HIDDEN_REQUESTS)
        return "every request answered once, failures kept as exceptions, on a pool of `workers` threads."

    def _run(self, fetch_all: Any, workers: int, requests: tuple[str, ...], failing: dict) -> None:
        # The early requests are the slow ones, so the futures finish out of submission order.
        slow = set(requests[:4])
        fetch = Probe("source", failing, delay=lambda r: 0.03 if r in slow else 0.0)
        fetch.meeting = Meeting(workers)
        try:
            self._judge_run(fetch_all, fetch, workers, requests, failing)
        finally:
            fetch.release()

    def _occupancy(self, fetch_all: Any, workers: int, requests: tuple[str, ...]) -> None:
        """A run with no failure and one slow call: the threads left free must take the next requests at once."""
        fetch = _Occupancy(requests)
        try:
            answer_of(fetch_all, fetch, list(requests), workers, what="fetch_all", timeout=5.0)
        finally:
            fetch.release()
        idle = fetch.idle()
        if idle:
            raise Incorrect(
                f"while {fetch.slow} was slow, {len(fetch.during)} other call(s) ran and {idle} waited for it to end, "
                f"though {workers - 1} of the {workers} threads were free: your code waits for a whole batch of "
                "`workers` before submitting the next. Submit every request to the one pool first, then collect the "
                "answers: a thread that frees takes the next request at once."
            )

    def _judge_run(self, fetch_all: Any, fetch: Probe, workers: int, requests: tuple[str, ...], failing: dict) -> None:
        answers, error = answer_of(fetch_all, fetch, list(requests), workers, what="fetch_all", timeout=5.0)
        caller = {threading.current_thread().name, "ella-exercise"}
        failed_here = [r for r, thread in fetch.calls if thread in caller and r in fetch.errors]
        if error is not None and failed_here and error is fetch.errors[failed_here[0]]:
            raise Incorrect(
                f"fetch({failed_here[0]}) ran in the calling thread, and its {type(error).__name__} ended fetch_all: "
                "fetch must run on the pool's threads. pool.submit(fetch(request)) calls fetch here, first, and "
                "hands the pool its answer; give the pool the function and its argument apart: "
                "pool.submit(fetch, request)."
            )
        if (
            error is not None
            and any(error is e for e in fetch.errors.values())
            and not isinstance(error, ConnectionError)
        ):
            raise Incorrect(
                f"fetch_all raised {error!r}, a failure of the fetch, which ended it: wrap each future.result() in "
                "its own try/except Exception, to keep every failure, not only ConnectionError."
            )
        if isinstance(error, ConnectionError):
            raise Incorrect(
                f"fetch_all raised {error!r}: one failure ended the loop (pool.map, or result() outside a try). "
                "Wrap each future.result() in its own try/except."
            )
        if error is not None:
            raise Incorrect(f"fetch_all raised {error!r}.")
        if answers is None:
            raise Incorrect("fetch_all returned None: return the dict (printing it gives the caller nothing).")
        if not isinstance(answers, dict):
            raise Incorrect(f"return a dict {{request: answer or exception}}; got a {type(answers).__name__}.")
        if any(isinstance(key, Future) for key in answers):
            raise Incorrect(
                "the keys are Future objects: key each entry by its request, futures[future] (the dict "
                "{pool.submit(fetch, request): request ...} maps each future back to its request)."
            )
        if any(isinstance(value, Future) for value in answers.values()):
            raise Incorrect(
                "the entries are Future objects: ask each for its answer, future.result(), inside try/except, and "
                "store that answer (or the exception)."
            )
        uncalled = [r for r, v in answers.items() if isinstance(v, TypeError) and "not callable" in str(v)]
        if uncalled:
            raise Incorrect(
                f"the entry for {uncalled[0]} is {answers[uncalled[0]]!r}: pool.submit(fetch(request)) calls fetch "
                "here, first, and hands the pool its answer, which the pool then tries to call. Give the pool the "
                "function and its argument apart: pool.submit(fetch, request)."
            )
        missing = [r for r in requests if r not in answers]
        if missing:
            lost_success = [r for r in missing if r not in failing]
            if lost_success:
                raise Incorrect(
                    f"{lost_success[0]} succeeded and has no entry: the loop stopped early, at a failure (one try "
                    "around the whole loop, pool.map, a break or a return). Put the try inside the loop, around "
                    "each future.result()."
                )
            raise Incorrect(f"{missing[0]} failed and has no entry: keep the exception as its answer, don't skip it.")
        twice = [r for r in requests if fetch.count(r) > 1]
        if twice:
            raise Incorrect(f"{twice[0]} was fetched {fetch.count(twice[0])} times: submit each request once.")
        for request in requests:
            got = answers[request]
            others = [r for r in requests if r != request]
            if any(got == fetch.answer(r) or (r in fetch.errors and got is fetch.errors[r]) for r in others):
                raise Incorrect(
                    f"the entry for {request} is {got!r}, another request's answer: map each future back to its own "
                    "request (futures = {pool.submit(fetch, request): request ...})."
                )
        for request in failing:
            got = answers[request]
            if isinstance(got, str) and "is down" in got:
                raise Incorrect(f"the entry for {request} is the string {got!r}: keep the exception object itself.")
            if got is not fetch.errors.get(request):
                if isinstance(got, BaseException):
                    raise Incorrect(
                        f"the entry for {request} is {got!r}: keep the exception the fetch raised, the same object, "
                        "not a copy."
                    )
                raise Incorrect(
                    f"{request} failed, and its entry is {got!r}: store the exception itself (swallowing it "
                    "hides the failure)."
                )
        for request in requests:
            if request in failing or answers[request] == fetch.answer(request):
                continue
            raise Incorrect(
                f"the entry for {request} is {answers[request]!r}: map each future back to its own request "
                "(futures = {pool.submit(fetch, request): request ...})."
            )
        if fetch.threads <= caller:
            raise Incorrect("every request ran in the calling thread: submit them to a ThreadPoolExecutor.")
        meeting = fetch.meeting
        if meeting.peak > workers:
            raise Incorrect(
                f"{meeting.peak} requests ran at once with workers={workers}: make the pool "
                "ThreadPoolExecutor(max_workers=workers)."
            )
        if not meeting.met:
            raise Incorrect(
                f"at most {meeting.peak} request(s) ran at once with workers={workers}: submit them all before "
                "waiting for any result, to a pool of max_workers=workers."
            )
        alive = fetch.alive_threads()
        if alive:
            raise Incorrect(
                f"the pool's threads ({', '.join(alive)}) were still alive after fetch_all returned: shut the pool "
                "down (with ThreadPoolExecutor(...) as pool: does it at the end of the block), or its threads leak."
            )


RETRYABLE = (ConnectionError, TimeoutError)


_RUNAWAY_AFTER = 200  # calls or sleeps: far more than any case allows


class _Runaway(BaseException):
    """Raised into a loop that never stops (a BaseException, so that ``except Exception`` cannot keep it going)."""


class _VirtualClock:
    """The check's sleep: records every wait and moves a virtual clock on by it; nothing really waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.events: list[str] = []  # "call" and "sleep", in the order they happened
        self.sleeps: list[Any] = []
        self.ignored = 0  # sleep(0) calls before the first call

    def sleep(self, seconds: Any, /) -> None:
        # positional only, as time.sleep is: sleep(seconds=...) passes no check that time.sleep would refuse
        if len(self.sleeps) + self.ignored >= _RUNAWAY_AFTER:
            raise _Runaway
        number = as_real(seconds)
        if number == 0 and "call" not in self.events:
            # sleep(0) before the first call waits nothing: `delay = 0; for ...: sleep(delay)` is right
            self.ignored += 1
            return
        self.sleeps.append(seconds)
        self.events.append("sleep")
        if number is not None and number > 0:
            self.now += number


class _ScriptedCall:
    """A call that fails as its plan says (an exception class per call, None: answer), on the virtual clock."""

    def __init__(self, clock: _VirtualClock, plan: Sequence[type[Exception] | None], value: Any):
        self.clock, self.plan, self.value = clock, list(plan), value
        self.calls: list[float] = []  # the virtual time of each call
        self.errors: list[Exception] = []
        self.arguments: list[tuple] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        n = len(self.calls)
        if n >= _RUNAWAY_AFTER:
            raise _Runaway
        self.calls.append(self.clock.now)
        self.clock.events.append("call")
        if args or kwargs:
            self.arguments.append((args, kwargs))
        kind = self.plan[min(n, len(self.plan) - 1)]
        if kind is None:
            return self.value
        error = kind(f"call {n + 1} failed ({kind.__name__})")
        self.errors.append(error)
        raise error


_OWN_ANSWER: Any = object()


class _Case:
    """One scenario: what the call does, the settings, and what a correct retry() does with them.

    ``answer``: what the call returns when it answers (by default a string naming the case); a falsy answer
    (None, 0, "") is an answer all the same, to be returned unchanged.
    """

    def __init__(
        self,
        says: str,
        plan: Sequence[type[Exception] | None],
        attempts: int,
        base: float,
        cap: float,
        *,
        answer: Any = _OWN_ANSWER,
    ):
        self.says, self.plan, self.attempts, self.base, self.cap = says, list(plan), attempts, base, cap
        self.answer = f"the answer ({says})" if answer is _OWN_ANSWER else answer

    def expected(self) -> tuple[int, list[float], bool]:
        """(calls, waits, answered): the reference loop, run on the plan."""
        waits: list[float] = []
        for n in range(1, self.attempts + 1):
            kind = self.plan[min(n - 1, len(self.plan) - 1)]
            if kind is None:
                return n, waits, True
            if not issubclass(kind, RETRYABLE) or n == self.attempts:
                return n, waits, False
            waits.append(min(self.cap, self.base * 2 ** (n - 1)))
        raise AssertionError("unreachable")  # pragma: no cover


# Errors that a slip in retry's own code raises (a wrong operator, a misspelt name), not one it raises on purpose.
_SLIPS = (TypeError, AttributeError, ArithmeticError, IndexError, KeyError)


def _line_of(error: BaseException) -> str:
    """' at `line`': the source line where ``error`` was raised, if it can be found (else '')."""
    frames = traceback.extract_tb(error.__traceback__)
    line = frames[-1].line if frames else None
    return f" at `{line.strip()}`" if line else ""


def _ms(values: Sequence[Any]) -> str:
    return "[" + ", ".join(format_seconds(v) if as_real(v) is not None else repr(v) for v in values) + "]"


class RetryLoop(Question):
    title = "the retry loop: exponential backoff with a cap, waits through an injected sleep"
    expects = "a function retry(call, attempts, base, cap, sleep=time.sleep)"
    hints = (
        "Loop over the attempt numbers: `for n in range(1, attempts + 1):` and `return call()` inside a try.",
        "Catch only what is worth retrying: `except (ConnectionError, TimeoutError):`. Any other error is a bug "
        "or a bad request: let it go to the caller at once (no except for it).",
        "After a failure: if it was the last attempt (n == attempts), `raise` (a bare raise re-raises it); "
        "otherwise wait `sleep(min(cap, base * 2 ** (n - 1)))` and go round again.",
    )
    stub = """
        import time


        def retry(call, attempts, base, cap, sleep=time.sleep):
            # YOUR CODE HERE (about 8 lines): call `call()` up to `attempts` times in all and return its first answer.
            # Retry only ConnectionError and TimeoutError; before retry n (n = 1, 2, ...) wait
            # sleep(min(cap, base * 2 ** (n - 1))); when the last attempt fails, raise its error.
            raise NotImplementedError
    """
    solution_text = """
        import time


        def retry(call, attempts, base, cap, sleep=time.sleep):
            for n in range(1, attempts + 1):
                try:
                    return call()
                except (ConnectionError, TimeoutError):
                    if n == attempts:
                        raise  # the last attempt's error, to the caller
                    sleep(min(cap, base * 2 ** (n - 1)))
    """
    CASES = (
        _Case("the call answers at once", [None], 4, 0.01, 1.0),
        _Case(
            "the call fails twice with ConnectionError, then answers",
            [ConnectionError, ConnectionError, None],
            4,
            0.01,
            1.0,
        ),
        _Case("the call always fails with ConnectionError", [ConnectionError], 5, 0.01, 0.05),
        _Case("the call times out once, then answers", [TimeoutError, None], 3, 0.01, 1.0),
        _Case(
            "the connection is reset (ConnectionResetError, a kind of ConnectionError), then answers",
            [ConnectionResetError, None],
            3,
            0.01,
            1.0,
        ),
        _Case(
            "the call fails twice, then answers on the last of its 3 attempts",
            [ConnectionError, ConnectionError, None],
            3,
            0.01,
            1.0,
        ),
        _Case("the call raises ValueError (a bug)", [ValueError], 4, 0.01, 1.0),
        _Case("the call fails with ConnectionError, then KeyError (a bug)", [ConnectionError, KeyError], 4, 0.01, 1.0),
        _Case("the call times out, then PermissionError", [TimeoutError, PermissionError], 4, 0.01, 1.0),
        _Case(
            "the call fails with ConnectionError, then FileNotFoundError",
            [ConnectionError, FileNotFoundError],
            4,
            0.01,
            1.0,
        ),
        _Case(
            "the call fails with ConnectionError, then answers None", [ConnectionError, None], 4, 0.01, 1.0, answer=None
        ),
        _Case("the call answers 0 at once", [None], 3, 0.01, 1.0, answer=0),
        _Case("one attempt only, and it fails", [ConnectionError], 1, 0.01, 0.05),
        _Case(
            "the call fails three times, then answers, with a cap below base (every wait is the cap)",
            [ConnectionError] * 3 + [None],
            5,
            0.01,
            0.005,
        ),
    )
    HIDDEN_CASES = (
        _Case("the call answers at once", [None], 3, 0.004, 0.5),
        _Case("the call times out three times, then answers", [TimeoutError] * 3 + [None], 6, 0.004, 0.5),
        _Case(
            "the call always fails, ConnectionError and TimeoutError in turn",
            [ConnectionError, TimeoutError] * 3,
            6,
            0.004,
            0.02,
        ),
        _Case("one attempt only, and it fails", [ConnectionError], 1, 0.004, 0.02),
        _Case("the call times out, then answers on the last of its 2 attempts", [TimeoutError, None], 2, 0.004, 0.5),
        _Case("one attempt only, and it answers", [None], 1, 0.004, 0.02),
        _Case(
            "the call times out, then ConnectionError, then answers",
            [TimeoutError, ConnectionError, None],
            5,
            0.004,
            0.5,
        ),
        _Case("the call raises KeyError (a bug)", [KeyError], 5, 0.004, 0.5),
        _Case(
            "the connection is refused twice (ConnectionRefusedError), then answers",
            [ConnectionRefusedError, ConnectionRefusedError, None],
            4,
            0.004,
            0.5,
        ),
        _Case("the call times out, then PermissionError", [TimeoutError, PermissionError], 5, 0.004, 0.5),
        _Case(
            "the call times out twice, then answers ''", [TimeoutError, TimeoutError, None], 4, 0.004, 0.5, answer=""
        ),
        _Case("the call answers None at once", [None], 2, 0.004, 0.5, answer=None),
        _Case(
            "the call fails three times, then answers, with a cap below base (every wait is the cap)",
            [ConnectionError] * 3 + [None],
            5,
            0.05,
            0.02,
        ),
    )

    def _check(self, retry: Any) -> str:
        return self._run_all(retry, self.CASES)

    def _check_hidden(self, retry: Any) -> str:
        return self._run_all(retry, self.HIDDEN_CASES)

    def _run_all(self, retry: Any, cases: Sequence[_Case]) -> str:
        if not callable(retry):
            raise Incorrect(f"expected a function retry(call, attempts, base, cap, sleep=...), got {retry!r}")
        for case in cases:
            self._run(retry, case)
        return (
            "the first answer returned, only ConnectionError and TimeoutError retried, waits of min(cap, base·2ⁿ⁻¹) "
            "between attempts (none before the first, none after the last), and the last error raised."
        )

    def _run(self, retry: Any, case: _Case) -> None:
        clock = _VirtualClock()
        value = case.answer
        call = _ScriptedCall(clock, case.plan, value)
        settings = f"attempts={case.attempts}, base={case.base:g}, cap={case.cap:g}"
        where = f"When {case.says} ({settings})"
        try:
            got, error = answer_of(
                lambda: retry(call, case.attempts, case.base, case.cap, sleep=clock.sleep), what="retry", timeout=3.0
            )
        except _Runaway:
            raise Incorrect(
                f"{where}: retry made {len(call.calls)} calls and {len(clock.sleeps)} waits and was still going, so "
                "the check stopped it: stop after `attempts` calls in all, then raise the last error."
            ) from None
        calls, waits, answered = case.expected()
        if call.arguments:
            args, kwargs = call.arguments[0]
            raise Incorrect(f"{where}: call was given {args or kwargs!r}; call it with no arguments: call().")
        if error is not None and not any(error is e for e in call.errors):
            if isinstance(error, TypeError) and "_VirtualClock.sleep()" in str(error):
                raise Incorrect(
                    f"{where}: sleep was called with a keyword or more than one argument; pass it the seconds "
                    "alone, sleep(wait): time.sleep takes no keyword, so sleep(seconds=...) fails in real use."
                )
            if isinstance(error, TypeError) and "sleep" in str(error):
                raise Incorrect(f"retry raised {error!r}: take the wait function as a parameter, sleep=time.sleep.")
            if isinstance(error, NameError) and call.errors:
                raise Incorrect(
                    f"{where}: retry raised {error!r}. The name after `except ... as` is deleted when the except "
                    "block ends: keep the error in a variable of your own (last = e) to raise it after the loop, "
                    "or re-raise it inside the except with a bare `raise`."
                )
            if isinstance(error, TypeError) and "for ^" in str(error):
                raise Incorrect(
                    f"{where}: retry's own code raised {error!r}{_line_of(error)}: in Python `^` is exclusive or "
                    "(on bits, integers only), not a power; write the power with `**`: base * 2 ** (n - 1)."
                )
            if isinstance(error, _SLIPS):
                raise Incorrect(
                    f"{where}: retry's own code raised {error!r}{_line_of(error)}, not the call: a bug in retry "
                    "itself. Fix that line; the call's errors are ConnectionError and TimeoutError."
                )
            raise Incorrect(
                f"{where}: retry raised {error!r}, an error of its own: let the call's own errors through (a bare "
                "`raise` in the except re-raises the last one)."
            )
        if clock.events[:1] == ["sleep"]:
            raise Incorrect(
                f"{where}: retry slept {_ms(clock.sleeps[:1])} before the first try. Wait only between attempts: "
                "the first call goes out at once."
            )
        made = len(call.calls)
        last = case.plan[min(calls - 1, len(case.plan) - 1)]
        if last is not None and not issubclass(last, RETRYABLE) and made > calls:
            raise Incorrect(
                f"{where}: retry called it {made} times; {last.__name__} is not worth retrying (a bug or a bad "
                "request: the same call fails again). Retry only ConnectionError and TimeoutError; let any "
                "other error go to the caller at once."
            )
        if answered and made > calls and case.plan[calls - 1] is None and not value:
            raise Incorrect(
                f"{where}: call() answered {value!r} on call {calls}, and retry called it again ({made} calls): any "
                "value the call returns is an answer, even None, 0 or ''; only an exception means try again. Return "
                "what call() returned, as it is."
            )
        if answered and made > calls and case.plan[calls - 1] is None:
            raise Incorrect(f"{where}: retry called it {made} times; it answered on call {calls}: return that answer.")
        # stopped where the next wait reached the cap, though it had retried that very error before
        at_the_cap = (
            0 < made < calls and bool(call.errors) and case.base * 2 ** (made - 1) >= case.cap
            and type(call.errors[-1]) in {type(e) for e in call.errors[:-1]}
        )
        if at_the_cap and not answered and made == case.attempts - 1:  # one too few, or stopped at the cap
            raise Incorrect(
                f"{where}: retry called it {made} times, one too few, and its next wait would have reached the "
                f"cap ({_ms([case.cap])}). `attempts` counts every call, the first one included; and the cap "
                "bounds each wait; it does not end the retries."
            )
        if at_the_cap:
            raise Incorrect(
                f"{where}: retry called it {made} times and stopped where the wait reached the cap "
                f"({_ms([case.cap])}); a correct loop calls it {calls} times. The cap bounds each wait; it does "
                "not end the retries: wait min(cap, base * 2 ** (n - 1)) and go on until `attempts` calls."
            )
        subclass = isinstance(error, RETRYABLE) and type(error) not in RETRYABLE  # e.g. ConnectionResetError
        if made < calls and call.errors and error is call.errors[-1] and subclass:
            raise Incorrect(
                f"{where}: retry raised {error!r} after {made} call(s): {type(error).__name__} is a kind of "
                f"{type(error).__mro__[1].__name__}, worth retrying too. Catch with `except (ConnectionError, "
                "TimeoutError):` or isinstance(), which take their subclasses; `type(e) is ...` or "
                "`type(e) in (...)` do not."
            )
        if made < calls and call.errors and isinstance(call.errors[-1], TimeoutError) and error is call.errors[-1]:
            raise Incorrect(
                f"{where}: retry raised {error!r} after {made} call(s): TimeoutError is worth retrying too (a slow "
                "source may answer next time). Catch (ConnectionError, TimeoutError)."
            )
        if made != calls:
            if not answered and made == 2 and case.attempts == 1:
                raise Incorrect(
                    f"{where}: retry called it twice; with attempts=1 there is no retry: one call, then its error "
                    "goes to the caller. Loop exactly `attempts` times: for n in range(1, attempts + 1)."
                )
            if not answered and made == case.attempts + 1:
                raise Incorrect(
                    f"{where}: retry called it {made} times, one too many: `attempts` counts every call, the first "
                    "one included: for n in range(1, attempts + 1) makes `attempts` calls."
                )
            if not answered and made == case.attempts - 1:
                raise Incorrect(
                    f"{where}: retry called it {made} times, one too few: `attempts` counts every call, the first "
                    "one included; the last attempt gets its call too."
                )
            raise Incorrect(f"{where}: retry called it {made} time(s); a correct loop calls it {calls} time(s).")
        on_the_last = answered and calls == case.attempts
        if answered:
            if error is not None and on_the_last:
                raise Incorrect(
                    f"{where}: call() answered on the last attempt (call {calls}), and retry raised {error!r}: "
                    "the last attempt's answer is an answer too; raise only when the last attempt fails."
                )
            if error is not None:
                raise Incorrect(f"{where}: retry raised {error!r}, but the call answered on attempt {calls}.")
            if on_the_last and got is None and value is not None:
                raise Incorrect(
                    f"{where}: call() answered {value!r} on the last attempt (call {calls}) and retry returned None: "
                    "it dropped that answer. Return the last attempt's answer too (`return call()`)."
                )
            if got is not value and not value and got == value and type(got) is type(value):
                pass  # an equal falsy answer of the same type (0 computed anew, say) is the answer
            elif got is not value and not value:
                raise Incorrect(
                    f"{where}: call() answered {value!r} and retry returned {got!r}: any value the call returns is an "
                    "answer, even None, 0 or ''; return it as it is."
                )
            elif got is not value:
                raise Incorrect(f"{where}: retry returned {got!r}; return what call() returned, as it is.")
        else:
            expected_error = call.errors[-1]
            if error is None:
                if not isinstance(expected_error, RETRYABLE) and not isinstance(got, BaseException):
                    name = type(expected_error).__name__
                    raise Incorrect(
                        f"{where}: retry returned {got!r}: it swallowed the {name} the call raised on call {calls}. "
                        f"A {name} is not worth retrying (a bug or a bad request) and must go to the caller at once: "
                        "catch only ConnectionError and TimeoutError, and let any other error through."
                    )
                if got is None:
                    raise Incorrect(
                        f"{where}: retry returned None: it swallowed the last error. When the last attempt fails, "
                        "raise its error (a bare `raise` in the except, or `raise last_error` after the loop), so the "
                        "caller knows."
                    )
                if isinstance(got, BaseException):
                    raise Incorrect(f"{where}: retry returned the error {got!r}; raise it, don't return it.")
                raise Incorrect(f"{where}: retry returned {got!r}, but every attempt failed: raise the last error.")
            if error is not expected_error:
                which = "the first" if error is call.errors[0] else "an earlier"
                raise Incorrect(
                    f"{where}: retry raised {which} error, {error!r}; raise the last one, {expected_error!r}: it is "
                    "the freshest news about the source."
                )
        self._judge_waits(clock, case, waits, where, retry)

    SWAP_PROBE = _Case("a cap below base", [ConnectionError] * 3 + [None], 4, 0.05, 0.02)

    def _waits_of(self, retry: Any, case: _Case) -> list[float] | None:
        """The waits ``retry`` makes on ``case``, or None if it fails there in any other way."""
        clock = _VirtualClock()
        try:
            answer_of(
                lambda: retry(
                    _ScriptedCall(clock, case.plan, case.answer), case.attempts, case.base, case.cap, sleep=clock.sleep
                ),
                what="retry",
                timeout=3.0,
            )
        except (Incorrect, _Runaway):
            return None
        got = [as_real(s) for s in clock.sleeps]
        return [g for g in got if g is not None] if None not in got else None

    FACTOR_PROBE = _Case("a cap under 1", [ConnectionError] * 3 + [None], 4, 0.01, 0.05)

    def _caps_the_factor(self, retry: Any) -> bool:
        """Whether ``retry`` waits base · min(cap, 2ⁿ⁻¹): told apart from a constant wait by a cap under 1 s."""
        probe = self.FACTOR_PROBE
        got = self._waits_of(retry, probe)
        capped = [probe.base * min(probe.cap, 2 ** (k - 1)) for k in range(1, 4)]
        return got is not None and len(got) == 3 and all(math.isclose(g, w) for g, w in zip(got, capped, strict=True))

    def _swaps_base_and_cap(self, retry: Any) -> bool:
        """Whether ``retry`` waits min(base, cap · 2ⁿ⁻¹): told apart from a constant wait by a cap below base."""
        probe = self.SWAP_PROBE
        got = self._waits_of(retry, probe)
        swapped = [min(probe.base, probe.cap * 2 ** (k - 1)) for k in range(1, 4)]
        return got is not None and len(got) == 3 and all(math.isclose(g, w) for g, w in zip(got, swapped, strict=True))

    def _judge_waits(self, clock: _VirtualClock, case: _Case, waits: list[float], where: str, retry: Any) -> None:
        sleeps = clock.sleeps
        bad = [s for s in sleeps if as_real(s) is None or as_real(s) < 0]
        if bad:
            raise Incorrect(f"{where}: retry called sleep({bad[0]!r}); give it a number of seconds, >= 0.")
        if waits and not sleeps:
            raise Incorrect(
                f"{where}: the sleep you were given was never called; wait with it, sleep(...), not with "
                "time.sleep (the default is only for when the caller passes no sleep)."
            )
        if clock.events[-1:] == ["sleep"]:
            raise Incorrect(
                f"{where}: retry slept {_ms(sleeps[-1:])} after the last call: nothing comes after it, so that wait "
                "only delays the caller. Wait only between attempts."
            )
        if len(sleeps) != len(waits):
            raise Incorrect(
                f"{where}: retry waited {len(sleeps)} time(s) {_ms(sleeps)}; a correct loop waits once between each "
                f"two attempts: {_ms(waits)}."
            )
        got = [as_real(s) for s in sleeps]
        if all(math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12) for g, w in zip(got, waits, strict=True)):
            return
        base, cap = case.base, case.cap
        n = range(1, len(got) + 1)
        swap = "base and cap swapped: the wait is min(cap, base * 2 ** (n - 1)); check the order of the parameters too"
        if all(
            math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12)
            for g, w in zip(got, [min(base, cap * 2 ** (k - 1)) for k in n], strict=True)
        ) and self._swaps_base_and_cap(retry):
            raise Incorrect(f"{where}: retry waited {_ms(got)}, expected {_ms(waits)}: {swap}.")
        if all(math.isclose(g, 1000 * w, rel_tol=1e-6) for g, w in zip(got, waits, strict=True)):
            raise Incorrect(
                f"{where}: retry waited {_ms(got)}, 1000 times {_ms(waits)}: the waits are in milliseconds, but "
                "sleep takes seconds, as time.sleep does, and base and cap are in seconds already: "
                "sleep(min(cap, base * 2 ** (n - 1)))."
            )
        if any(g > cap * (1 + 1e-6) for g in got):
            first = " (the first wait too: with cap below base, every wait is the cap)" if cap < base else ""
            raise Incorrect(
                f"{where}: retry waited {_ms(got)}, over the cap {format_seconds(cap)}{first}: take "
                "min(cap, base * 2 ** (n - 1)) for every wait, or a long outage makes the waits grow without end."
            )
        patterns = (
            (
                [min(cap, base * 2**k) for k in n],
                "one doubling too many: the wait before retry 1 is base itself, base * 2 ** (n - 1) with n = 1",
            ),
            (
                [min(cap, base * 2 ** (k - 2)) for k in n],
                "one doubling too few: the wait before retry 1 is base, before retry 2 it is 2·base",
            ),
            (
                [min(cap, base * k) for k in n],
                "waits that grow by base each time (linear): back off exponentially, doubling each time",
            ),
            ([min(cap, base) for _ in n], "the same wait every time: back off exponentially, doubling each time"),
            ([min(cap, base**k) for k in n], "base ** n is not doubling: the wait is base * 2 ** (n - 1)"),
        )
        on_factor = [base * min(cap, 2 ** (k - 1)) for k in n]
        if all(
            math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12) for g, w in zip(got, on_factor, strict=True)
        ) and self._caps_the_factor(retry):
            raise Incorrect(
                f"{where}: retry waited {_ms(got)}, expected {_ms(waits)}: the cap went on the factor, "
                "base * min(cap, 2 ** (n - 1)); cap is in seconds and bounds the wait itself: "
                "min(cap, base * 2 ** (n - 1))."
            )
        for wrong, why in patterns:
            if all(math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12) for g, w in zip(got, wrong, strict=True)):
                raise Incorrect(f"{where}: retry waited {_ms(got)}, expected {_ms(waits)}: {why}.")
        raise Incorrect(
            f"{where}: retry waited {_ms(got)}, expected {_ms(waits)}: before retry n, wait "
            "min(cap, base * 2 ** (n - 1))."
        )


class MoreWorkers(Prediction):
    title = "Predict: the mean latency with twice the workers"
    expects = "a number of seconds"
    example = "0.05"
    unit = "s"
    model = sum((i // 8) * 0.010 + 0.010 for i in range(40)) / 40
    tolerance = 0.0015
    why = (
        "With K = 8 the 40 requests run in 5 rounds: request i waits ⌊i/8⌋ · L (0 to 4 L, 2 L on average), "
        "then is served in L: 3 L = 30 ms."
    )
    mistakes = (
        (0.0275, "27.5 ms halves the whole 55 ms: more workers shorten the wait, not the 10 ms service."),
        (0.0325, "32.5 ms halves the mean wait 45 → 22.5 ms; but the wait comes in whole rounds: 0 to 4 L, mean 2 L."),
        (0.02, "20 ms is the mean wait alone; add the 10 ms of service."),
        (0.055, "55 ms is the latency with K = 4; with 8 workers there are half as many rounds."),
    )
    hints = ("How many rounds of 8 are 40 requests? Round r waits r · L, then takes L.",)
    stub = """
        mean_latency_prediction = ____  # seconds
    """

    def _check(self, value: Any) -> str:
        said = super()._check(value)  # raises Incorrect on a wrong prediction
        if self.measured is not None and self.measured > 1.05 * self.model:
            said += (
                " Your prediction is right even though the run was slower: the model counts the sleeps alone, and "
                "8 threads that wake together on few cores each wake a little late, in every one of the 5 rounds."
            )
        return said

    solution_text = """
        # 0.030 s: a request waits 2 L on average (0 to 4 rounds of L), then takes its own L
        mean_latency_prediction = sum((i // 8) * 0.010 + 0.010 for i in range(40)) / 40
    """


class PrimaryShare(Prediction):
    title = "Predict: what share does the primary serve with the timeout?"
    example = "0.5"
    model = 0.9
    tolerance = 0.03
    why = (
        "The 20 ms timeout fires only on the slow calls (100 ms), about 10 % of them (`tail_rate=0.1`); "
        "the other 90 % answer in 5 ms, well inside it."
    )
    mistakes = (
        (
            0.0,
            "a timeout turns only calls *longer* than it into failures; the primary's usual 5 ms is well inside 20 ms.",
        ),
        (0.1, "0.1 is the share that times out and goes to the backup."),
        (1.0, "the slow calls take 100 ms, past the 20 ms timeout: those go to the backup."),
    )
    hints = ("Which calls take longer than 20 ms?",)

    def comparison(self, number: float) -> str:
        """The model (about 10 % of calls slow: 0.9) and the seeded share beside it (exact, but not 0.9: the seed
        draws a few more or fewer slow calls than 10 %)."""
        said = f"you predicted {self.show(number)}; the model, about 10 % of calls slow, says {self.show(self.model)}"
        if self.measured is None:
            return f"{said} (run the timeout cell above, then this check, to see the seeded share)."
        seeded = f"the seeded share, the same on every run, is {self.show(self.measured)}"
        if math.isclose(number, self.measured, abs_tol=5e-4):
            seeded += ": exactly your number"
        return f"{said}; {seeded}."

    stub = """
        primary_share_prediction = ____  # a fraction between 0 and 1
    """
    solution_text = """
        primary_share_prediction = 0.9  # only the slow 10 % (100 ms) pass the 20 ms timeout; the rest answer in 5 ms
    """


q1 = FetchAll("q1")
q2 = PrimaryShare("q2")
q3 = RetryLoop("q3")
q4 = MoreWorkers("q4")
