"""Your turn in notebook 09, real I/O: ``from ella_lab.exercises import walk09 as ex``.

q1 predicts the throughput Little's law gives K workers (K / L), shown beside real sockets' measurement; q2
writes a fetch over ``urllib`` with a timeout that maps HTTP errors to ``ConnectionError``, checked against a
real ``FlakyService`` on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from ..service import FlakyService
from ._core import BLANK, Incorrect, NotAttempted, Question, same
from ._predict import PredictQuestion, near

__all__ = ["BLANK", "____", "q1", "q2"]

____ = BLANK  # the blank a learner replaces by a number

NOISE = 0.05  # how far above K / L a run may read from the clocks' noise alone; a prediction gets the same allowance


class RealThroughput(PredictQuestion):
    title = "Predict: the throughput Little's law gives K workers"
    expects = "your predicted throughput as a number of requests per second, like 250"
    unit = " req/s"
    rel = 0.1  # the question asks for the model, K / L: a value nearer the measurement is not it (review 09f)
    hints = (
        "Little's law: K workers, each busy L seconds per request, finish K / L requests per second.",
        "L = 10 ms is 0.010 s. With K = 8: 8 / 0.010.",
        "Real sockets also cost CPU per request (c, about a millisecond here), so expect a little less than the model, "
        "not more: each worker's cycle is L + c, not L.",
    )
    stub = """
        predicted_rps = ____  # requests per second
    """
    solution_text = """
        predicted_rps = 8 / 0.010  # K / L = 800 requests per second; a little less on real sockets
    """

    def model(self) -> float:
        return self._context.get("k", 8) / self._context.get("latency", 0.010)

    def slip(self, value: float, model: float) -> str | None:
        k, latency = self._context.get("k", 8), self._context.get("latency", 0.010)
        if value <= 0:
            return f"{value:g}: a throughput counts requests answered per second, so it is above 0."
        if near(value, model / 1000, 0.05):
            return f"{value:g} is requests per millisecond; give requests per second (× 1000)."
        if near(value, model * 1000, 0.05):
            return f"{value:g}: L went in as {latency * 1000:g} ms instead of {latency:g} s; L = {latency} s."
        if near(value, 1 / latency, 0.05):
            return f"{value:g} is one worker's throughput (1 / L); {k} workers run at once."
        if near(value, k * latency, 0.05):
            return f"{value:g} is K · L; throughput is K / L (requests per second)."
        if near(value, k * latency * 1000, 0.05):
            return f"{value:g} is K · L with L in milliseconds; throughput is K / L, with L in seconds."
        if near(value, latency / k, 0.05):
            return f"{value:g} s is the time between two answers (L / K); throughput is its inverse, K / L."
        measured = self._measured
        if value < model * (1 - self.rel) and measured is not None and near(value, measured, 0.2):
            return (
                f"{value:g} req/s is below K / L by over {self.rel:.0%}: that is what real sockets measure (each "
                "worker's cycle is L + c, not L), the measurement, not the model; the question asks for what "
                "Little's law gives, K / L."
            )
        if value < model * (1 - self.rel):
            return f"{value:g} req/s is below K / L by over {self.rel:.0%}: Little's law gives K / L = {model:g} req/s."
        if value > model * (1 + NOISE):
            return (
                f"{value:g} req/s is more than K / L by over {NOISE:.0%}: K workers, each busy L per request, answer "
                f"at most K / L per second (a run may read up to {NOISE:.0%} above it, from the clocks' noise alone)."
            )
        return None

    def why(self, model: float, measured: float | None) -> str:
        if measured is None:
            return ""
        if measured > model * (1 + NOISE):
            return (
                f"The measurement is above K / L by more than the {NOISE:.0%} a clock's noise could explain, which no "
                "run can reach: was measured= the throughput at K = 8?"
            )
        return (
            "The measurement is below the model: a worker's cycle is the 10 ms wait plus the CPU time c each request "
            "costs (building, sending and parsing it, client and server, in one process), so K / (L + c) (the "
            "Model after this check)."
        )


class UrllibFetch(Question):
    title = "A fetch over urllib that fails the way a router expects"
    expects = "a function fetch(url, timeout)"
    hints = (
        "`with no_proxy.open(url, timeout=timeout) as response:` opens the URL with a socket timeout and closes "
        "the response when the block ends; return response.read().decode().",
        "urllib raises urllib.error.HTTPError for a 500 or 503 (it has .code), and URLError for a refused "
        "connection; HTTPError is a kind of URLError, so catch HTTPError first. An HTTPError carries the server's "
        "response, and its socket stays open as long as the HTTPError lives; the error you raise keeps it alive "
        "(through __cause__, or __context__ even with `from None`): close it (exc.close()) before you raise.",
        "raise ConnectionError(f'HTTP {exc.code} ...') from exc; a stall raises TimeoutError, and a connect that "
        "times out raises URLError with a TimeoutError as .reason: both must come out as TimeoutError.",
        "What the check runs: your fetch against a real FlakyService on 127.0.0.1 that answers 200, 500, 503, "
        "drops, stalls, and is then stopped; and against a port whose queue of connections is full, so that "
        "connecting times out.",
    )
    stub = """
        def fetch(url, timeout):
            # YOUR CODE HERE (5 to 12 lines): return the body as a str; raise ConnectionError or TimeoutError.
            raise NotImplementedError
    """
    solution_text = """
        import urllib.error
        import urllib.request

        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def fetch(url, timeout):
            try:
                with no_proxy.open(url, timeout=timeout) as response:
                    return response.read().decode()
            except urllib.error.HTTPError as exc:
                exc.close()  # an HTTP error carries a response too: close its connection
                raise ConnectionError(f"HTTP {exc.code} from {url}") from exc
            except urllib.error.URLError as exc:  # refused, or a connect timeout (reason: TimeoutError)
                if isinstance(exc.reason, TimeoutError):
                    raise TimeoutError(f"no answer from {url} within {timeout} s") from exc
                raise ConnectionError(f"{exc.reason} for {url}") from exc
    """
    TIMEOUT = 0.5  # what the check passes as `timeout` for the calls that answer at once
    # A stall and a connect that never completes are each tried with both timeouts t. The call must end between
    # EARLY t - 5 ms (a socket timeout never fires early; 3 % and 5 ms for the clocks' rounding) and t + 0.25 s
    # (0.25 s for a busy machine's scheduling delays; a busy 2-core machine measured under 0.01 s): [0.092, 0.35] s
    # for t = 0.1 and [0.577, 0.85] s for t = 0.6. The two windows do not overlap, so no fixed timeout passes both; a
    # multiple of t (3 t) misses the second. An offset smaller than the slack (t + 0.2) fits both windows: the socket
    # spy catches it, as it sees the timeout the fetch gave its socket, exactly. A socket timeout below t passes the
    # spy (one deadline for the whole attempt gives the socket the time left of it, and the call still ends at t); a
    # smaller one (0.82 t, or min(t, 0.5)) ends the call before the window (seen rejected, both checks).
    EARLY = 0.97
    TIMEOUTS = (0.1, 0.6)
    STATUSES = ("500", "503")
    SLACK = 0.25
    STALL = 2.0  # how long a stalled call waits: a fetch without a timeout (or 3x it) returns after it
    DEADLINE = 4.0  # a call cut off after this is a hang
    _sockets: _SocketTimeoutSpy | None = None  # while a check runs: the sockets each call connects
    _leaks: list[str]  # while a check runs: what the first call that left a socket open was told
    never_accepted_checked = True  # False when this system refuses a connect to a full queue instead of dropping it

    def _check(self, fetch: Any) -> str:
        if not callable(fetch):
            raise Incorrect(f"expected a function fetch(url, timeout), got {fetch!r}")
        service = FlakyService(
            "exercise", latency=0.001, failure_rate=0.5, drop_rate=0.15, stall_rate=0.15, stall=self.STALL, seed=9
        )
        requests = self._requests(service)
        with _ResponseLog() as responses, _DefaultTimeoutSpy() as spy, _SocketTimeoutSpy() as sockets:
            self._sockets, self._leaks = sockets, []
            try:
                self._run_cases(fetch, service, requests, responses, spy, sockets)
            finally:
                self._sockets = None
        if self._leaks:  # judged after the other cases, whose bugs are named first
            raise Incorrect(self._leaks[0])
        never_accepted = (
            "and on a connect that never completes" if self.never_accepted_checked
            else "(a connect that never completes was not tried: this system answers a connect to a full queue "
            "at once instead of letting it wait, as Linux does)"
        )
        return (
            "the body on a 200, its response closed; ConnectionError naming the status on a 500 or 503, a drop or "
            f"a refusal; TimeoutError after the caller's timeout on a stall {never_accepted}; "
            "no socket or thread left behind."
        )

    def _run_cases(
        self,
        fetch: Any,
        service: FlakyService,
        requests: dict[str, str],
        responses: _ResponseLog,
        spy: _DefaultTimeoutSpy,
        sockets: _SocketTimeoutSpy,
    ) -> None:
        """Every case, in order: an answer, two HTTP errors, a drop, a stall, a refusal, a connect never accepted."""
        with service:
            self._good(fetch, f"{service.url}/data/{requests['ok']}", requests["ok"], service, responses)
            for status in ("500", "503"):
                self._http_error(fetch, f"{service.url}/data/{requests[status]}", status)
            self._dropped(fetch, f"{service.url}/data/{requests['drop']}")
            self._timed_out(fetch, f"{service.url}/data/{requests['stall']}", "a stall", spy, sockets)
            url = service.url
        self._refused(fetch, f"{url}/data/{requests['ok']}")
        with _NeverAccepts() as silent:
            self.never_accepted_checked = silent.stalls
            if silent.stalls:  # Linux; where the connect is refused at once instead, the case cannot be made
                self._timed_out(
                    fetch, f"{silent.url}/data/{requests['ok']}", "a connect that never completes", spy, sockets
                )


    @staticmethod
    def _requests(service: FlakyService) -> dict[str, str]:
        """A request for each way the service answers (decided by the seed, so the same ones every time)."""
        found: dict[str, str] = {}
        for i in range(1000):
            request = f"DataRequest-{i}"
            found.setdefault(service.plan(request)[0], request)
            if len(found) == 5:
                return found
        raise RuntimeError(f"the checker found no request for every kind of answer: {found}")  # pragma: no cover

    def _call(self, fetch: Any, url: str, timeout: float | None = None) -> tuple[bool, Any, float]:
        """(returned normally, value or exception, seconds); the student's code runs with a deadline."""
        box: list = []
        timeout = self.TIMEOUT if timeout is None else timeout

        def target() -> None:
            started = time.perf_counter()
            try:
                box.append((True, fetch(url, timeout), time.perf_counter() - started))
            except NotImplementedError:
                box.append((None, None, 0.0))
            except BaseException as exc:  # the student's exception is the verdict
                box.append((False, exc, time.perf_counter() - started))

        before = set(threading.enumerate())
        if self._sockets is not None:
            self._sockets.clear()
        thread = threading.Thread(target=target, name="ella-exercise", daemon=True)
        thread.start()
        thread.join(self.DEADLINE)
        if not box:
            raise Incorrect(
                f"fetch did not return within {self.DEADLINE:g} s and may still be running: is there a loop that "
                "never ends? (Restart the kernel if the notebook slows down.)"
            )
        ok, value, seconds = box[0]
        if ok is None:
            raise NotAttempted("replace `raise NotImplementedError` with your code, then run the cell again.")
        self._left_behind(before, url, value)
        return ok, value, seconds

    def _left_behind(self, before: set[threading.Thread], url: str, value: Any) -> None:
        """Incorrect when the call left a thread of its own running; notes a socket it left open (judged last)."""
        started = [
            t for t in threading.enumerate()
            if t not in before and t.name != "ella-exercise" and not t.name.startswith("ella-service")
        ]
        waited_until = time.monotonic() + self.SLACK  # a helper thread that used the timeout ends within it
        for t in started:
            t.join(max(0.0, waited_until - time.monotonic()))
        if any(t.is_alive() for t in started):
            raise Incorrect(
                f"fetch returned but left a thread running ({url}): a thread joined with a timeout stops the wait, "
                "not the call, whose socket waits on with no timeout (minutes, for a connect that is never "
                "accepted). Give the socket the timeout instead: no_proxy.open(url, timeout=timeout)."
            )
        if self._sockets is not None and self._sockets.open() and not self._leaks:
            self._leaks.append(_leak_message(url, value))


    def _good(self, fetch: Any, url: str, request: str, service: FlakyService, responses: _ResponseLog) -> None:
        ok, value, _ = self._call(fetch, url)
        expected = f"Result from {service.name} for {request}"
        if not ok:
            raise Incorrect(f"a good answer (HTTP 200) raised {value!r}; return the body.")
        if value is None:
            raise Incorrect("fetch returned None on a good answer: did it print the body instead of returning it?")
        if isinstance(value, bytes):
            raise Incorrect("fetch returned bytes: decode the body, response.read().decode(), and return a str.")
        if isinstance(value, http.client.HTTPResponse):
            raise Incorrect(
                "fetch returned the response object, still open; return its body, read inside "
                "`with ... as response:` so the connection is closed."
            )
        if responses.open():
            raise Incorrect(
                "the response was left open, its body not read to the end: open it with `with ... as response:` "
                "so its connection is closed even when reading fails, and return response.read().decode()."
            )
        if not same(value, expected):
            raise Incorrect(f"on a good answer fetch returned {value!r}; expected the body, {expected!r}.")

    def _expect_connection_error(self, fetch: Any, url: str, what: str, must_name: str | None = None) -> None:
        ok, value, _ = self._call(fetch, url)
        if ok:
            if isinstance(value, str) and value:
                raise Incorrect(
                    f"{what}: fetch returned the string {value!r}; raise ConnectionError instead, or the caller takes "
                    "the error message for data."
                )
            raise Incorrect(f"{what}: fetch returned {value!r}; raise ConnectionError so the caller sees a failure.")
        if isinstance(value, urllib.error.HTTPError):
            raise Incorrect(f"{what}: urllib's HTTPError escaped; map it to ConnectionError (raise ... from exc).")
        if isinstance(value, urllib.error.URLError):
            raise Incorrect(
                f"{what}: urllib's URLError escaped ({value.reason!r}): catching HTTPError alone is not enough; map "
                "URLError to ConnectionError too."
            )
        if isinstance(value, TimeoutError):
            raise Incorrect(
                f"{what}: fetch raised TimeoutError, but this failure came at once, not after the timeout; raise "
                "ConnectionError (a timeout is only for a call that got no answer in time)."
            )
        if not isinstance(value, ConnectionError):
            raise Incorrect(
                f"{what}: fetch raised {type(value).__name__} ({value}); raise ConnectionError, which a caller "
                "catching ConnectionError (like a fallback) can tell apart from a bug in the code."
            )
        if must_name and not _names(str(value), must_name):
            raise Incorrect(f"{what}: the ConnectionError says {str(value)!r}; name the status ({must_name}) in it.")
        wrong = [other for other in self.STATUSES if must_name and other != must_name and _names(str(value), other)]
        if wrong:
            raise Incorrect(
                f"{what}: the ConnectionError says {str(value)!r}, which names {wrong[0]} too; name the status the "
                f"server sent (exc.code: {must_name}), not a fixed message."
            )

    def _http_error(self, fetch: Any, url: str, status: str) -> None:
        self._expect_connection_error(fetch, url, f"HTTP {status}", must_name=status)

    def _dropped(self, fetch: Any, url: str) -> None:
        self._expect_connection_error(fetch, url, "a dropped connection")

    def _refused(self, fetch: Any, url: str) -> None:
        self._expect_connection_error(fetch, url, "a refused connection (the service was stopped)")

    def _timed_out(
        self, fetch: Any, url: str, what: str, spy: _DefaultTimeoutSpy, sockets: _SocketTimeoutSpy
    ) -> None:
        """A call that gets no answer must raise TimeoutError after the caller's timeout, for each of two timeouts."""
        for timeout in self.TIMEOUTS:
            ok, value, seconds = self._call(fetch, url, timeout)
            if spy.calls:
                raise Incorrect(
                    f"fetch called socket.setdefaulttimeout({spy.calls[0]!r}): that changes the timeout of every "
                    "socket the program opens afterwards, in every thread; pass timeout=timeout to open() instead."
                )
            if seconds >= 0.8 * self.STALL:
                raise Incorrect(
                    f"{what} took {seconds:.2f} s, until the service gave up: the timeout was not used; pass "
                    f"timeout=timeout to open() (it was {timeout} s)."
                )
            if not self.EARLY * timeout - 0.005 <= seconds <= timeout + self.SLACK:
                side = "before" if seconds < timeout else "long after"
                raise Incorrect(
                    f"{what} with timeout={timeout} ended after {seconds:.2f} s, {side} the timeout: use the "
                    "caller's `timeout` as it is (not a number of your own, nor a multiple of it)."
                )
            # a fetch may give a socket the time left of one deadline for the whole attempt (0 < v < timeout);
            # a fixed number below the timeout ends the call too early, which the window above catches
            within = [v for v in sockets.values if isinstance(v, float | int) and (0 < v < timeout or same(v, timeout))]
            other = [v for v in sockets.values if v is not None and not any(v is w for w in within)]
            if other:
                raise Incorrect(
                    f"{what} with timeout={timeout}: fetch gave its socket a timeout of {_shown(other[0])} s; use the "
                    "caller's `timeout` as it is (not a number of your own, nor the timeout plus a margin), or what "
                    "is left of it."
                )
            if not within:
                raise Incorrect(
                    f"{what} with timeout={timeout}: fetch never gave a socket that timeout, so nothing cuts the call "
                    "off; waiting for it with a timeout stops the wait, not the call. Pass timeout=timeout to open()."
                )
            if ok:
                raise Incorrect(f"{what}: fetch returned {value!r}; let the TimeoutError through (or raise your own).")
            if isinstance(value, urllib.error.URLError) and isinstance(value.reason, TimeoutError):
                raise Incorrect(f"{what}: URLError(TimeoutError) escaped; raise TimeoutError for it.")
            if not isinstance(value, TimeoutError):
                urlerror = " (urllib reports a connect timeout as URLError with a TimeoutError as .reason)"
                raise Incorrect(
                    f"{what} raised {type(value).__name__} ({value}); it is a timeout, not a refused connection"
                    f"{urlerror if 'connect' in what else ''}: raise TimeoutError, so a caller can tell a slow "
                    "source from a broken one."
                )


class _NeverAccepts:
    """A listening socket whose accept queue is full: a connect to it times out where the system drops the SYN.

    Linux drops it; other systems (Windows, macOS) may refuse the connect at once, or queue it. ``stalls`` says
    whether a connect really stalls here (probed on entry with a raw socket), so the check can skip the case
    where it does not rather than fail a right answer.
    """

    PROBE = 0.3  # seconds a probe connect waits: a refusal or an accept on loopback comes far sooner

    def __enter__(self) -> _NeverAccepts:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=0)
        host, port = self._listener.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        try:
            self._filler = socket.create_connection((host, port), timeout=1.0)  # takes the queue's only place
        except OSError:
            self._listener.close()
            raise
        self.stalls = self._probe(host, port)
        return self

    def _probe(self, host: str, port: int) -> bool:
        """True when a connect to the full queue times out, as on Linux; False when it is refused or accepted."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(self.PROBE)
            try:
                probe.connect((host, port))
            except TimeoutError:
                return True
            except OSError:
                return False
            return False

    def __exit__(self, *exc: object) -> None:
        self._filler.close()
        self._listener.close()


class _DefaultTimeoutSpy:
    """Records calls to socket.setdefaulttimeout during a check, and restores the default afterwards."""

    def __enter__(self) -> _DefaultTimeoutSpy:
        self.calls: list[Any] = []
        self._original, self._default = socket.setdefaulttimeout, socket.getdefaulttimeout()
        spy = self

        def record(timeout: Any) -> None:
            spy.calls.append(timeout)
            spy._original(timeout)

        socket.setdefaulttimeout = record  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        socket.setdefaulttimeout = self._original  # type: ignore[assignment]
        socket.setdefaulttimeout(self._default)


def _shown(value: Any) -> str:
    """A timeout as the learner would write it: 0.3, not 0.30000000000000004."""
    return f"{value:.6g}" if isinstance(value, float | int) else repr(value)


class _SocketTimeoutSpy:
    """Records the timeouts given to sockets, and the sockets connected, by every thread but the service's.

    The learner's fetch may hand its work to a thread of its own: its socket counts too. The sockets are kept
    (a strong reference), so one left open stays open until the check looks at it.
    """

    def __enter__(self) -> _SocketTimeoutSpy:
        self.values: list[Any] = []
        self.connected: list[socket.socket] = []
        spy, set_timeout, connect = self, socket.socket.settimeout, socket.socket.connect

        def record(sock: socket.socket, timeout: Any) -> None:
            if not threading.current_thread().name.startswith("ella-service"):
                spy.values.append(timeout)
            set_timeout(sock, timeout)

        def record_connect(sock: socket.socket, address: Any) -> None:
            if not threading.current_thread().name.startswith("ella-service"):
                spy.connected.append(sock)
            connect(sock, address)

        socket.socket.settimeout = record  # type: ignore[method-assign]
        socket.socket.connect = record_connect  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del socket.socket.settimeout  # the class inherits them from _socket.socket again
        del socket.socket.connect

    def clear(self) -> None:
        """Forget what the calls so far did (before the next call)."""
        self.values.clear()
        self.connected.clear()

    def open(self) -> bool:
        """True when a socket connected since ``clear()`` still holds its file descriptor."""
        return any(sock.fileno() != -1 for sock in self.connected)


def _leak_message(url: str, value: Any) -> str:
    """What to tell a learner whose fetch left a socket open: the HTTP error's response, or a connection."""
    chain, error = [], value if isinstance(value, BaseException) else None
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    http_error = next((e for e in chain if isinstance(e, urllib.error.HTTPError)), None)
    if http_error is not None:
        return (
            f"the HTTP {http_error.code} left a socket open ({url}): an HTTPError carries the server's response, "
            "and its connection stays open as long as the error lives: the new error keeps it alive through "
            "__cause__, or __context__ even with `from None`. Call exc.close() before you raise ConnectionError."
        )
    return (
        f"fetch left a socket open ({url}): close every connection it opens before it returns: the response "
        "(`with ... as response:`), and an http.client connection (connection.close(), in a finally)."
    )


def _names(message: str, status: str) -> bool:
    """True when ``message`` names ``status`` as a number of its own (not inside a port such as 50312)."""
    return re.search(rf"(?<!\d){status}(?!\d)", message) is not None


class _ResponseLog:
    """Records every response urllib opens during a check, to tell whether the student's code closed them."""

    def __enter__(self) -> _ResponseLog:
        self.responses: list[Any] = []
        self._original = urllib.request.OpenerDirector.open
        log = self

        def open_and_record(opener: Any, *args: Any, **kwargs: Any) -> Any:
            response = log._original(opener, *args, **kwargs)
            log.responses.append(response)
            return response

        urllib.request.OpenerDirector.open = open_and_record  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        urllib.request.OpenerDirector.open = self._original  # type: ignore[method-assign]

    def open(self) -> bool:
        """True when a response is still open: neither closed nor read to its end."""
        return any(not r.isclosed() and not r.closed for r in self.responses if hasattr(r, "isclosed"))


q1 = RealThroughput("q1")
q2 = UrllibFetch("q2")
