"""Exercises for notebook 09, real I/O: ``from ella_lab.exercises import phase9 as ex``."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from ..service import FlakyService
from ._core import RUNAWAY, Incorrect, NotAttempted, NumberQuestion, Question, SecondsQuestion, call_bounded, same

__all__ = ["q1", "q2", "q3", "q4"]


@contextlib.contextmanager
def _loopback_without_proxy() -> Iterator[None]:
    """urllib honours http_proxy; the service is on 127.0.0.1, which must never go through a proxy."""
    saved = {key: os.environ.get(key) for key in ("no_proxy", "NO_PROXY")}
    for key, value in saved.items():
        os.environ[key] = ",".join(filter(None, [value, "127.0.0.1", "localhost"]))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _find(service: FlakyService, prefix: str, kind: str) -> str:
    """The first request named ``prefix-<i>`` for which the service does ``kind`` (ok, 500, 503, drop, stall)."""
    for i in range(1000):
        request = f"{prefix}-{i}"
        if service.plan(request, 0)[0] == kind:
            return request
    raise RuntimeError(f"no request of kind {kind!r}")  # the check's own bug: seeds were changed


class HttpFetch(Question):
    title = "A fetch over urllib, with a timeout"
    expects = "a function fetch(url, request, timeout)"
    answer_name = "fetch"
    hints = (
        "urllib.request.urlopen(f'{url}/data/{request}', timeout=timeout) opens the call; .read().decode() is "
        "the text of the answer. Use it in a with-statement, so the connection is closed.",
        "An HTTP error status (500, 503) raises urllib.error.HTTPError, which is not a ConnectionError: catch it "
        "and raise ConnectionError(f'HTTP {exc.code} ...') instead.",
        "When nothing listens (the service is down), urlopen raises urllib.error.URLError, the parent of "
        "HTTPError, whose .reason is the socket's error: map it to ConnectionError too, except a connect timeout "
        "(a reason that is a TimeoutError), which stays a TimeoutError.",
        "Leave a timeout alone: a socket timeout already is a TimeoutError, and the caller treats it differently.",
    )
    solution_text = """
        import urllib.error
        import urllib.request

        def fetch(url, request, timeout):
            try:
                with urllib.request.urlopen(f"{url}/data/{request}", timeout=timeout) as response:
                    return response.read().decode()
            except urllib.error.HTTPError as exc:
                raise ConnectionError(f"HTTP {exc.code} for {request}") from None
            except urllib.error.URLError as exc:  # nothing listens, or the connect timed out
                if isinstance(exc.reason, TimeoutError):
                    raise TimeoutError(f"connecting to {url} timed out") from None
                raise ConnectionError(f"cannot reach {url}: {exc.reason}") from None
    """
    SCENARIO = (3, "DataRequest", 0.2)
    HIDDEN = (17, "order", 0.3)

    def _check(self, fetch: Any) -> str:
        self._run(fetch, *self.SCENARIO)
        return (
            "the text of an answer, ConnectionError for HTTP errors, drops and a service that is down, "
            "TimeoutError for a stall."
        )

    def _check_hidden(self, fetch: Any) -> str:
        self._run(fetch, *self.HIDDEN)
        return "right on every case."

    def _run(self, fetch: Any, seed: int, prefix: str, timeout: float) -> None:
        if not callable(fetch):
            raise Incorrect(f"expected a function fetch(url, request, timeout), got {fetch!r}")
        service = FlakyService(
            "data", latency=0.002, failure_rate=0.3, drop_rate=0.2, stall_rate=0.2, stall=30.0, seed=seed
        )
        with _loopback_without_proxy(), service:
            self._answers(fetch, service, prefix, timeout)
            self._errors(fetch, service, prefix, timeout)
            self._refused(fetch, prefix, timeout)

    def _call(
        self, fetch: Any, service: FlakyService, request: str, timeout: float, *, url: str | None = None
    ) -> tuple[Any, Any]:
        default = socket.getdefaulttimeout()
        try:
            value = call_bounded(fetch, url or service.url, request, timeout, what="fetch", timeout=timeout + 1.5)
            return value, None
        except (Incorrect, NotAttempted):
            raise
        except Exception as exc:
            exc.__traceback__ = exc.__context__ = exc.__cause__ = None  # only its type matters; free the response
            return None, exc
        finally:
            changed = socket.getdefaulttimeout() != default
            socket.setdefaulttimeout(default)
            if changed:
                raise Incorrect(
                    "fetch called socket.setdefaulttimeout(): that changes the timeout of every socket in the "
                    "process, other threads' included. Pass timeout=timeout to urlopen, for this call only."
                )

    def _refused(self, fetch: Any, prefix: str, timeout: float) -> None:
        """A port where nothing listens: the service is down, which is a ConnectionError for the caller."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        value, error = self._call(fetch, None, f"{prefix}-down", timeout, url=url)  # type: ignore[arg-type]
        if error is None:
            raise Incorrect(f"for a service that is down ({url}), fetch returned {value!r:.60}: raise ConnectionError.")
        if not isinstance(error, ConnectionError):
            raise Incorrect(
                f"for a service that is down (nothing listens on {url}), fetch raised {type(error).__name__}: "
                "urlopen wraps the refused connection in urllib.error.URLError; map it to a ConnectionError, so a "
                "fallback can take over."
            )

    def _answers(self, fetch: Any, service: FlakyService, prefix: str, timeout: float) -> None:
        for request in (_find(service, prefix, "ok"), _find(service, f"{prefix}-x", "ok")):
            value, error = self._call(fetch, service, request, timeout)
            expected = f"Result from {service.name} for {request}"
            if error is not None:
                deadline = time.perf_counter() + 0.5  # the service counts a reply just after sending it
                while not service.served.get(404) and time.perf_counter() < deadline:
                    time.sleep(0.01)
                if service.served.get(404):
                    raise Incorrect(f"the service answered 404 Not Found: the address is {service.url}/data/<request>.")
                raise Incorrect(f"fetch raised {error!r} for {request}, which the service answers: return its text.")
            if value is None:
                raise Incorrect("fetch returned None: return the text of the answer (printing it gives nothing back).")
            if isinstance(value, bytes):
                raise Incorrect(f"fetch returned bytes {value!r:.60}: decode them, response.read().decode().")
            if not isinstance(value, str):
                raise Incorrect(f"fetch returned a {type(value).__name__}: return the text, response.read().decode().")
            if not str.__contains__(value, request):
                raise Incorrect(f"for {request} fetch returned {value!r}: ask for the request you were given.")
            if not same(value, expected):
                raise Incorrect(f"for {request} fetch returned {value!r}; expected the answer's text, {expected!r}.")

    def _errors(self, fetch: Any, service: FlakyService, prefix: str, timeout: float) -> None:
        for kind, what in (("500", "HTTP 500"), ("503", "HTTP 503"), ("drop", "a dropped connection")):
            request = _find(service, prefix, kind)
            value, error = self._call(fetch, service, request, timeout)
            if error is None and value is None:
                raise Incorrect(
                    f"for {request} the service sent {what}, and fetch returned None: raise ConnectionError, so a "
                    "fallback can take over (a swallowed error looks like an empty answer)."
                )
            if error is None:
                raise Incorrect(
                    f"for {request} the service sent {what}, and fetch returned {value!r:.60}: raise a "
                    "ConnectionError instead (an error returned as text looks like an answer)."
                )
            if not isinstance(error, ConnectionError):
                raise Incorrect(
                    f"for {request} the service sent {what}, and fetch raised {type(error).__name__}: map it to a "
                    "ConnectionError (urllib.error.HTTPError is not one), which every fallback here understands."
                )
        request = _find(service, prefix, "stall")
        started = time.perf_counter()
        try:
            value, error = self._call(fetch, service, request, timeout)
        except Incorrect as exc:
            if "setdefaulttimeout" in str(exc):
                raise
            raise Incorrect(
                f"for {request} the service never answered, and with timeout={timeout:g} fetch was still waiting "
                f"{timeout + 1.5:g} s later: pass timeout=timeout to urlopen (no timeout means wait forever, and a "
                f"timeout of your own is not the caller's). {RUNAWAY}"
            ) from None
        waited = time.perf_counter() - started
        if waited > timeout + 0.7:
            raise Incorrect(
                f"for {request} the service never answered, and fetch gave up only after {waited:.2g} s, with "
                f"timeout={timeout:g}: pass the timeout you were given, urlopen(..., timeout=timeout)."
            )
        if error is None:
            raise Incorrect(f"for {request} the service never answered, and fetch returned {value!r:.60}: raise.")
        if not isinstance(error, TimeoutError):
            raise Incorrect(
                f"for {request} the service never answered, and fetch raised {type(error).__name__}: let the "
                "socket's TimeoutError through (do not catch OSError, its parent), so a caller can tell a slow "
                "source from a broken one."
            )


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


q1 = HttpFetch("q1")
q2 = RetryWait("q2")
q3 = TwoAttempts("q3")
q4 = StallOrError("q4")
