"""Exercises for notebook 09, real I/O: ``from ella_lab.exercises import phase9 as ex``."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
import urllib.error
from collections.abc import Iterator
from typing import Any

from ._core import (
    Incorrect,
    NotAttempted,
    NumberQuestion,
    Question,
    SecondsQuestion,
    call_bounded,
    close_to,
    raised_by_answer,
    same,
)

__all__ = ["q1", "q2", "q3", "q4"]


class _Spy:
    """The check's ``sleep`` and ``get``: one journal of calls and waits, in order; ``time.sleep`` watched too.

    ``script`` says what each call of ``get`` does: ``"ok"`` returns the body, ``"drop"`` raises
    ``ConnectionError``, ``(status, retry_after)`` raises an ``HTTPError`` with that status and, unless
    ``retry_after`` is None, a ``Retry-After`` header of that many seconds.
    """

    def __init__(self, url: str, script: tuple):
        self.url, self.script = url, script
        self.journal: list[tuple[str, Any]] = []
        self.errors: list[BaseException] = []

    def body(self) -> str:
        return f"Result for {self.url}"

    def get(self, url: Any) -> str:
        n = sum(1 for kind, _ in self.journal if kind == "call")
        self.journal.append(("call", url))
        step = self.script[min(n, len(self.script) - 1)]
        if step == "ok":
            return self.body()
        if step == "drop":
            error: BaseException = ConnectionError(f"connection to {self.url} dropped")
        else:
            status, retry_after = step
            headers = http.client.HTTPMessage()
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            error = urllib.error.HTTPError(self.url, status, http.client.responses[status], headers, None)
        self.errors.append(error)
        raise error

    def sleep(self, seconds: Any) -> None:
        self.journal.append(("sleep", seconds))

    @contextlib.contextmanager
    def watching_time_sleep(self) -> Iterator[None]:
        """Record (and skip) a ``time.sleep`` from the answer's thread: it must wait with the ``sleep`` given."""
        real, spy = time.sleep, self

        def sleep(seconds: float) -> None:
            if threading.current_thread().name == "ella-exercise":
                spy.journal.append(("time.sleep", seconds))
                return
            real(seconds)

        time.sleep = sleep  # type: ignore[assignment]
        try:
            yield
        finally:
            time.sleep = real  # type: ignore[assignment]


def _retryable(step: Any) -> bool:
    return step == "drop" or (step != "ok" and (step[0] == 429 or step[0] >= 500))


def _expected(script: tuple, attempts: int, base: float) -> tuple[list[tuple[str, Any]], Any]:
    """The journal of a right answer, and how it ends: ``"ok"`` or the index of the error it raises."""
    journal: list[tuple[str, Any]] = []
    for n in range(attempts):
        step = script[min(n, len(script) - 1)]
        journal.append(("call", None))
        if step == "ok":
            return journal, "ok"
        if not _retryable(step) or n == attempts - 1:
            return journal, n
        journal.append(("sleep", step[1] if step != "drop" and step[1] is not None else base * 2**n))
    raise AssertionError("unreachable")  # pragma: no cover


class RetryAfterFetch(Question):
    title = "A fetch that retries, honouring Retry-After"
    expects = "a function fetch_retrying(get, url, attempts, base, sleep)"
    answer_name = "fetch_retrying"
    hints = (
        "A loop of at most `attempts` calls of get(url): return its body at the first success.",
        "Retry only what a retry can fix: HTTPError with status 429 or 500 and up, and ConnectionError; any "
        "other status (404, 400) is raised at once. After the last attempt, raise the last error itself.",
        "Before retry n (n = 1, 2, ...) wait with sleep(...): the seconds of the error's Retry-After header if "
        "it has one (float(exc.headers['Retry-After'])), else base * 2 ** (n - 1). Never before the first call, "
        "never after the last.",
    )
    solution_text = """
        import urllib.error

        def fetch_retrying(get, url, attempts, base, sleep):
            for n in range(attempts):
                try:
                    return get(url)
                except urllib.error.HTTPError as exc:
                    if exc.code != 429 and exc.code < 500:
                        raise  # the request itself is wrong: retrying cannot help
                    error, retry_after = exc, exc.headers.get("Retry-After")
                except ConnectionError as exc:
                    error, retry_after = exc, None
                if n == attempts - 1:
                    raise error
                sleep(float(retry_after) if retry_after is not None else base * 2**n)
    """
    URL = "http://127.0.0.1:8080/data/DataRequest-7"
    # (script, attempts, base): what each call of get does (see _Spy), the attempts allowed, the backoff base
    CASES = (
        (((503, 3), (500, None), "ok"), 4, 0.5),
        (("drop", (429, 1), "ok"), 3, 0.25),
        (((500, None), (503, 2), (502, None)), 3, 0.1),
        (((404, None),), 3, 0.1),
        (("ok",), 3, 0.1),
    )
    HIDDEN = (
        (((500, None), (500, None), (500, None), (503, 7), "ok"), 5, 0.2),
        (((503, 0), "drop", "ok"), 3, 1.5),
        (((429, 4),), 1, 0.3),
        (((500, None), (400, None)), 4, 0.1),
        (("drop", "drop", "drop", "drop"), 3, 0.05),
        (((503, None), "ok"), 2, 0.4),
    )

    def _check(self, fetch_retrying: Any) -> str:
        self._cases(fetch_retrying, self.CASES)
        return (
            "at most `attempts` calls; the Retry-After wait when the server gives one, else base · 2ⁿ; a 404 "
            "raised at once; no wait before the first call or after the last; the last error raised as it was."
        )

    def _check_hidden(self, fetch_retrying: Any) -> str:
        self._cases(fetch_retrying, self.HIDDEN + self.CASES)
        return "right on every case."

    def _cases(self, fetch_retrying: Any, cases: tuple) -> None:
        if not callable(fetch_retrying):
            raise Incorrect(
                f"expected a function fetch_retrying(get, url, attempts, base, sleep), got {fetch_retrying!r}"
            )
        for script, attempts, base in cases:
            self._case(fetch_retrying, script, attempts, base)

    def _case(self, fetch_retrying: Any, script: tuple, attempts: int, base: float) -> None:
        spy = _Spy(self.URL, script)
        with spy.watching_time_sleep():
            try:
                value, error = call_bounded(fetch_retrying, spy.get, self.URL, attempts, base, spy.sleep), None
            except (Incorrect, NotAttempted):
                raise
            except Exception as exc:
                if not raised_by_answer(exc, self):
                    raise
                value, error = None, exc
        shown = ", ".join(self._show(step) for step in script)
        where = f"with attempts={attempts}, base={base:g} and the server answering {shown}"
        expected, end = _expected(script, attempts, base)
        got = spy.journal
        if any(kind == "time.sleep" for kind, _ in got):
            raise Incorrect(
                f"{where}, your code waited with time.sleep: wait with the `sleep` you are given, so that the caller "
                "(and this check) decides what a wait does."
            )
        if got and got[0][0] == "sleep":
            raise Incorrect(f"{where}, your code slept before the first call: wait only between attempts.")
        calls = sum(1 for kind, _ in got if kind == "call")
        if not calls:
            did = (
                "returned None: did it print instead of return?"
                if value is None and error is None
                else f"gave {error or value!r}"
            )
            raise Incorrect(f"{where}, your code never called get(url), and {did}")
        wanted = sum(1 for kind, _ in expected if kind == "call")
        if got and got[-1][0] == "sleep" and calls == attempts:
            raise Incorrect(
                f"{where}, your code slept after the last attempt failed: no call follows that wait; raise at once."
            )
        for i, ((kind, value_seen), (want, want_value)) in enumerate(zip(got, expected, strict=False)):
            if kind == want == "call":
                continue
            if kind == want == "sleep":
                if not isinstance(value_seen, (int, float)) or isinstance(value_seen, bool):
                    raise Incorrect(
                        f"{where}, sleep got {value_seen!r}, a {type(value_seen).__name__}: a header is text, so turn "
                        "Retry-After into seconds with float(...)."
                    )
                if close_to(value_seen, want_value):
                    continue
                retry = sum(1 for k, _ in got[:i] if k == "sleep") + 1
                step = script[min(retry - 1, len(script) - 1)]
                if step != "drop" and step[1] is not None:
                    raise Incorrect(
                        f"{where}, the wait before retry {retry} was {value_seen:g} s, but the server said "
                        f"Retry-After: {step[1]}: when it says how long to wait, wait that long."
                    )
                raise Incorrect(
                    f"{where}, the wait before retry {retry} was {value_seen:g} s; with no Retry-After it is "
                    f"base · 2**{retry - 1} = {want_value:g} s (the wait doubles at each retry)."
                )
            if kind == "call" and want == "sleep":
                raise Incorrect(
                    f"{where}, your code called get again without waiting: call sleep(...) before each retry."
                )
            break  # a sleep where the right answer is done: judged below
        if calls > wanted:
            step = script[min(wanted - 1, len(script) - 1)]
            if calls > attempts:
                raise Incorrect(f"{where}, get was called {calls} times: attempts={attempts} allows {attempts} in all.")
            if step == "ok":
                raise Incorrect(f"{where}, get was called again after it answered: return the first answer.")
            raise Incorrect(
                f"{where}, your code retried after HTTP {step[0]}: a {step[0]} says the request itself is wrong, "
                "and asking again cannot fix it. Retry only 429, 5xx and dropped connections; raise the others at once."
            )
        if calls < wanted:
            step = script[calls - 1] if calls else None
            if step == "drop":
                raise Incorrect(
                    f"{where}, a dropped connection (ConnectionError) ended your loop: it is worth a retry too."
                )
            raise Incorrect(
                f"{where}, get was called {calls} times; it should be {wanted}: keep trying until an answer or "
                f"attempts={attempts} calls."
            )
        if len(got) != len(expected):
            raise Incorrect(
                f"{where}, your code waited {sum(k == 'sleep' for k, _ in got)} times; expected "
                f"{sum(k == 'sleep' for k, _ in expected)}, one before each retry."
            )
        if end == "ok":
            if error is not None:
                raise Incorrect(
                    f"{where}, your code raised {error!r} although the last call answered: return the body."
                )
            if value is None:
                raise Incorrect(f"{where}, your code returned None: return what get returned (not print it).")
            if not same(value, spy.body()):
                raise Incorrect(f"{where}, your code returned {value!r}; expected the body get returned.")
            return
        last = spy.errors[-1]
        if error is None:
            raise Incorrect(
                f"{where}, every attempt failed and your code returned {value!r}: raise the last error, so the caller "
                "sees the failure (and can fall back)."
            )
        if error is not last:
            raise Incorrect(
                f"{where}, your code raised {error!r}; raise the last error itself, as get raised it (its status "
                "and headers tell the caller what happened)."
            )

    @staticmethod
    def _show(step: Any) -> str:
        if step in ("ok", "drop"):
            return {"ok": "200", "drop": "a drop"}[step]
        status, retry_after = step
        return f"{status}" + (f" (Retry-After: {retry_after})" if retry_after is not None else "")


class RetryWait(SecondsQuestion):
    title = "How long does a stalled source hold the caller?"
    expects = "a number of seconds: waited = ..."
    answer_name = "waited"
    answer = 0.6
    correct = "0.6 s: three attempts, each cut off by its 0.2 s timeout; without the timeout, 30 s or forever."
    mistakes = (
        (0.2, "0.2 s is one attempt; Retry(attempts=3) tries three times, and each waits its full timeout."),
        (0.4, "0.4 s counts the retries only; the first attempt waits its 0.2 s too."),
        (30.0, "30 s is the stall; the timeout cuts each attempt off after 0.2 s."),
        (90.0, "90 s is three stalls; the timeout cuts each attempt off after 0.2 s."),
    )
    otherwise = "every attempt waits until its timeout, and there is no backoff between them."
    hints = ("A stalled call ends only when its timeout fires. How many attempts, and how long is each?",)
    solution_text = """
        waited = 3 * 0.2  # three attempts, each ended by its timeout
    """


class TwoAttempts(NumberQuestion):
    title = "The share of requests answered with one retry"
    expects = "a fraction between 0 and 1: answered = ..."
    example = "0.5"
    answer_name = "answered"
    unit = "fraction"
    answer = 0.96
    correct = "0.96: a request is lost only if both attempts fail, 0.2 × 0.2 = 0.04."
    mistakes = (
        (0.8, "0.8 is one attempt; the retry answers most of the failures."),
        (0.64, "0.64 is the chance that both attempts succeed; one success is enough."),
        (0.04, "0.04 is the share that is lost; the question asks for the share answered."),
        (0.6, "failure chances multiply when both must fail; they do not add."),
    )
    otherwise = "a request is lost only when both attempts fail."
    hints = ("The service decides each attempt independently (the seed mixes in the attempt number).",)
    solution_text = """
        answered = 1 - 0.2**2  # lost only if both attempts fail
    """


class StallOrError(Question):
    title = "Why a stall is worse than an error"
    checked = False
    solution_text = """
        Model answer. An error answers at once: the caller knows within milliseconds and falls back. A stall
        answers nothing: without a timeout the worker waits forever, and with K workers, K stalled calls stop
        the whole router. A timeout turns a stall into an error after a bounded wait, but that wait is paid
        by every stalled call (and by each retry): pick it from the source's measured latency (above its p99,
        well below what the caller can afford), and let a circuit breaker stop calling a source that stalls.
    """


q1 = RetryAfterFetch("q1")
q2 = RetryWait("q2")
q3 = TwoAttempts("q3")
q4 = StallOrError("q4")
