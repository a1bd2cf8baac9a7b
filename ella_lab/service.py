"""Real I/O: a flaky HTTP data service on loopback, and ``HttpSource``, which fetches from one.

``FlakyService`` is a threaded standard-library HTTP server bound to 127.0.0.1 only. For
``GET /data/<request>?attempt=<n>`` it answers after a seeded latency, or fails the way real
services fail: HTTP 500/503, a dropped connection, or a stall (no answer until the client gives up).
Which of these happens depends only on (seed, request, attempt). ``stop()`` and ``start()`` take it
down and bring it back on the same URL while a run is in progress.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import logging
import math
import re
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit

from ._checks import check_int, check_real, check_seconds, check_timeout
from ._draw import draw
from ._shown import shown
from .sim import MAX_BINS, bin_count
from .sources import Source, SourceError, current_scope
from .timing import clock, format_seconds

__all__ = ["FlakyService", "HttpSource"]

log = logging.getLogger("ella_lab")

LOOPBACK = "127.0.0.1"
_ATTEMPT = re.compile(r"[0-9]{1,9}")  # ASCII digits only, and few enough for int()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the listen backlog: the default 5 refuses a burst of concurrent clients

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._open: dict[Any, threading.Thread] = {}  # connection -> the thread serving it
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve each connection on its own daemon thread, tracked until it ends (``hang_up`` ends them all)."""
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="ella-service-conn", daemon=True
        )
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)

    def hang_up(self, timeout: float) -> None:
        """Close every open connection, then wait at most ``timeout`` seconds for their threads to end."""
        with self._open_lock:
            connections = dict(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = clock() + timeout
        for thread in connections.values():
            thread.join(max(0.0, deadline - clock()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up first (it timed out, or the service stopped) is normal here; anything else is a bug."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("client %s went away before its answer", client_address)
        else:
            log.warning("the handler failed for %s: %r", client_address, error, exc_info=error)


class FlakyService:
    """An HTTP data service on ``127.0.0.1`` that fails on purpose, reproducibly.

    Of the calls, a seeded ``failure_rate`` get HTTP 500 or 503, ``drop_rate`` have their connection
    closed without an answer, and ``stall_rate`` get no answer for ``stall`` seconds (then 503), or until
    their client hangs up (then none, counted as a dropped call: a stall holds no thread for a client
    that has given up); the rest answer
    200 after ``latency ± jitter`` seconds. ``port=0`` takes a free port. A client that sends nothing
    for ``idle_timeout`` seconds is hung up on. One whose whole request (line, headers, body) has not
    arrived ``request_timeout`` seconds (default: ``idle_timeout``) after it connected gets HTTP 408
    and is hung up on too, counted in ``served[408]``: a slowloris client, dripping a byte at a time,
    holds a thread that long at most. ``stop()`` closes every connection. Use it as a context manager:
    ``with FlakyService(...) as svc: svc.url``.

    With ``capacity`` it can be overloaded, as a real server can: at most ``capacity`` calls are
    served at once, ``queue`` more wait their turn (first come, first served), and any beyond are
    shed at once with HTTP 503. Latency then grows with load. It keeps working on calls whose client
    has already given up (wasted work, what sustains a metastable failure) unless ``drop_expired``,
    which drops a call that would end after the deadline its client sent (``X-Deadline``, Unix time;
    ``HttpSource`` sends it) if served in the expected time, ``latency`` x ``slowdown`` (not the
    call's own jittered draw, which a real server cannot know). ``slowdown`` multiplies every service time (a trigger).
    ``timeline()`` bins what happened: goodput (answers that reached a client still waiting), late
    answers, shed and dropped calls, and the queue length.
    """

    def __init__(
        self,
        name: str = "service",
        *,
        latency: float = 0.005,
        jitter: float = 0.0,
        failure_rate: float = 0.0,
        drop_rate: float = 0.0,
        stall_rate: float = 0.0,
        stall: float = 30.0,
        seed: int = 0,
        port: int = 0,
        idle_timeout: float = 5.0,
        request_timeout: float | None = None,
        capacity: int | None = None,
        queue: int = 0,
        drop_expired: bool = False,
    ):
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.latency = check_seconds("latency", latency)
        self.jitter = check_seconds("jitter", jitter)
        self.failure_rate = check_real("failure_rate", failure_rate, maximum=1.0)
        self.drop_rate = check_real("drop_rate", drop_rate, maximum=1.0)
        self.stall_rate = check_real("stall_rate", stall_rate, maximum=1.0)
        total = self.failure_rate + self.drop_rate + self.stall_rate
        if total > 1.0:
            raise ValueError(f"failure_rate + drop_rate + stall_rate must be <= 1, got {total!r}")
        self.stall = check_seconds("stall", stall)
        self.idle_timeout = check_timeout("idle_timeout", idle_timeout)
        if request_timeout is None:
            request_timeout = self.idle_timeout
        self.request_timeout = check_timeout("request_timeout", request_timeout)
        self.seed = check_int("seed", seed, minimum=-(2**63))
        self.port = check_int("port", port)
        if self.port > 65535:
            raise ValueError(f"port must be <= 65535, got {port!r}")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._released = threading.Event()  # set on stop(): stalled handlers give up
        self._lock = threading.Lock()
        self._served_lock = threading.Lock()
        self.served: dict[int, int] = {}  # HTTP status (0: dropped) -> count
        self.capacity = None if capacity is None else check_int("capacity", capacity, minimum=1)
        self.queue = check_int("queue", queue)
        if self.capacity is None and self.queue:
            raise TypeError(
                f"queue bounds the calls waiting for one of the capacity slots: give capacity too, got queue={queue!r}"
            )
        if not isinstance(drop_expired, bool):
            raise TypeError(f"drop_expired must be True or False, got {drop_expired!r}")
        self.drop_expired = drop_expired
        self._slowdown = 1.0
        self._slots = threading.Condition()
        self.busy = 0  # calls being served
        self.waiting = 0  # calls queued for a slot
        self._queue: deque[threading.Event] = deque()  # the calls waiting for a slot, first come first served
        self._events: deque[tuple[float, str]] = deque(maxlen=2_000_000)  # (clock(), what happened)

    # -- what a call gets -------------------------------------------------------------------------

    def plan(self, request: str, attempt: int = 0) -> tuple[str, float]:
        """What the service does for this call: ``("ok" | "500" | "503" | "drop" | "stall", seconds)``."""
        u = draw(self.seed, "http", self.name, request, attempt)
        if u < self.failure_rate:
            kind = "500" if draw(self.seed, "status", self.name, request, attempt) < 0.5 else "503"
        elif u < self.failure_rate + self.drop_rate:
            kind = "drop"
        elif u < self.failure_rate + self.drop_rate + self.stall_rate:
            return "stall", self.stall
        else:
            kind = "ok"
        delay = self.latency
        if self.jitter:
            delay = max(0.0, delay + self.jitter * (2 * draw(self.seed, "delay", self.name, request, attempt) - 1))
        return kind, delay

    # -- life cycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FlakyService:
        """Listen on 127.0.0.1 (the same port as before, after a ``stop()``)."""
        with self._lock:
            if self._server is not None:
                return self
            self._released = threading.Event()  # this server's: set by its stop()
            server = _Server((LOOPBACK, self.port), self._handler(self._released))
            self.port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"ella-service-{self.name}",
                daemon=True,
            )
            self._thread.start()
        log.info("%s listening on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        """Stop listening and release stalled calls; a client now gets 'connection refused'."""
        with self._lock:
            server, self._server = self._server, None
            if server is None:
                return
            self._released.set()
            server.shutdown()
            server.server_close()
            server.hang_up(5.0)
            if self._thread is not None:
                self._thread.join(5)
        log.info("%s stopped", self.name)

    def __enter__(self) -> FlakyService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"FlakyService({self.name!r}, {state}, failure_rate={self.failure_rate}, latency={self.latency})"

    # -- the handler -------------------------------------------------------------------------------

    def _count(self, status: int) -> None:
        with self._served_lock:  # not self._lock, which stop() holds while the handlers end
            self.served[status] = self.served.get(status, 0) + 1

    def _handler(self, released: threading.Event) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            timeout = service.idle_timeout  # the socket timeout: an idle client is hung up on

            def log_message(self, format: str, *args: Any) -> None:  # to logging, not stderr
                log.debug("%s: " + format, service.name, *args)

            def setup(self) -> None:
                """Read the request through a reader whose every read ends by the request's deadline."""
                super().setup()
                self.rfile.close()
                deadline = None if service.request_timeout is None else clock() + service.request_timeout
                self._arrival = _DeadlineReader(self.connection, deadline, idle=service.idle_timeout)
                self.rfile = io.BufferedReader(self._arrival)

            def parse_request(self) -> bool:
                ok = super().parse_request()
                self._arrival.deadline = None  # the request has arrived: the deadline bounded its arrival only
                self.connection.settimeout(service.idle_timeout)
                return ok

            def handle(self) -> None:
                super().handle()
                if self._arrival.expired and self._arrival.received:  # began a request, too slowly (slowloris): 408
                    log.debug("%s: a client's request did not arrive within %s", service.name, service.request_timeout)
                    with contextlib.suppress(OSError):
                        self.connection.settimeout(min(1.0, service.idle_timeout or 1.0))
                        self.connection.sendall(_REQUEST_TIMEOUT)
                    service._count(408)
                    self.close_connection = True

            def _stall(self, released: threading.Event, seconds: float) -> None:
                """No answer for ``seconds`` or until ``stop()`` (then 503), or until the client hangs up (then
                nothing, counted under 0 as a dropped call): a stall holds no thread nor socket for a client
                that has given up (20 quick re-runs held 449 threads for 30 s)."""
                deadline = clock() + seconds
                connection = self.connection
                while not released.is_set():
                    left = deadline - clock()
                    if left <= 0:
                        break
                    step = min(left, _STALL_POLL)
                    connection.settimeout(step)
                    try:  # a peek, bounded by the socket's timeout: b"" once the client has hung up
                        gone = not connection.recv(1, socket.MSG_PEEK)
                    except TimeoutError:  # nothing from the client: still waiting
                        continue
                    except OSError:  # reset by the client
                        gone = True
                    if gone:
                        service._count(0)
                        self.close_connection = True
                        return
                    released.wait(step)  # it sent more (not a hang-up): wait without spinning on it
                connection.settimeout(service.idle_timeout)
                self._reply(503, "stalled\n")

            def _reply(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                service._count(status)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if not parts.path.startswith("/data/") or len(parts.path) <= len("/data/"):
                    return self._reply(404, "not found: use GET /data/<request>?attempt=<n>\n")
                request = unquote(parts.path[len("/data/") :])
                values = parse_qs(parts.query).get("attempt", ["0"])
                if len(values) != 1 or not _ATTEMPT.fullmatch(values[0]):
                    return self._reply(400, f"bad attempt: {values!r:.100}, expected a whole number\n")
                kind, delay = service.plan(request, int(values[0]))
                if service.capacity is not None:
                    return self._serve_in_turn(request, kind, delay)
                if kind == "stall":
                    return self._stall(released, delay)
                time.sleep(delay)
                if kind == "drop":
                    service._count(0)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if kind != "ok":
                    return self._reply(int(kind), f"{service.name} failed on {request}\n")
                return self._reply(200, f"Result from {service.name} for {request}")

            def _serve_in_turn(self, request: str, kind: str, delay: float) -> None:
                """With a capacity: wait for a slot (or be shed), be served, and record whether in time."""
                deadline = _deadline(self.headers.get("X-Deadline"))
                if not service._take_slot():
                    service._event("shed")
                    return self._reply(503, f"{service.name} overloaded: {request} shed\n")
                try:
                    delay *= service.slowdown
                    expected = service.latency * service.slowdown  # a server cannot know this call's own draw
                    dropped = service.drop_expired and deadline is not None and time.time() + expected > deadline
                    if dropped:
                        service._event("dropped")
                    elif kind == "stall":
                        return self._stall(service._released, service.stall)
                    else:
                        time.sleep(delay)
                finally:
                    service._free_slot()  # before the answer goes out: a client answered finds the slot free
                if dropped:
                    return self._reply(503, f"{service.name}: {request} would be late, dropped\n")
                if kind != "ok":
                    return self._reply(int(kind) if kind.isdigit() else 500, f"{service.name} failed on {request}\n")
                service._event("late" if deadline is not None and time.time() > deadline else "good")
                return self._reply(200, f"Result from {service.name} for {request}")

        return Handler

    # -- capacity ----------------------------------------------------------------------------------

    @property
    def slowdown(self) -> float:
        """Every service time is multiplied by this (1: normal; 2: twice as slow, a trigger)."""
        return self._slowdown

    @slowdown.setter
    def slowdown(self, value: float) -> None:
        self._slowdown = check_real("slowdown", value, minimum=1.0, maximum=1000.0)

    def _event(self, what: str) -> None:
        with self._slots:
            self._events.append((clock(), what))

    def _take_slot(self) -> bool:
        """Wait for a service slot in arrival order, unless every slot and queue place is taken: then False (shed).

        A freed slot is handed straight to the call at the head of the queue (its own event is set), so
        the order is first come, first served, and a newcomer never slips in ahead of the queue.
        """
        with self._slots:
            if self.busy + len(self._queue) >= self.capacity + self.queue:  # type: ignore[operator]
                return False
            if self.busy < self.capacity and not self._queue:  # type: ignore[operator]
                self.busy += 1
                return True
            turn = threading.Event()
            self._queue.append(turn)
            self.waiting = len(self._queue)
            self._events.append((clock(), f"queue {self.waiting}"))
        while not turn.wait(0.5):  # the slot is handed over by _free_slot; stop() releases everyone
            if self._released.is_set():
                with self._slots:
                    if turn.is_set():  # handed a slot just now: give it back
                        self._free_slot_locked()
                    else:
                        self._queue.remove(turn)
                        self.waiting = len(self._queue)
                return False
        return True  # the slot it was handed is already counted in busy

    def _free_slot(self) -> None:
        with self._slots:
            self._free_slot_locked()

    def _free_slot_locked(self) -> None:
        if self._queue:
            self._queue.popleft().set()  # the slot goes to the next call in line; busy stays the same
            self.waiting = len(self._queue)
        else:
            self.busy -= 1
        self._events.append((clock(), f"queue {self.waiting}"))

    def timeline(self, start: float, end: float, bin_s: float = 0.1, *, bins: int | None = None):
        """What the server did between ``start`` and ``end`` (``clock()`` times), in bins of ``bin_s`` seconds.

        A DataFrame, one row per bin: ``t`` (s since start), ``goodput`` and ``late`` (answers per second that
        reached a waiting client / came after its deadline), ``shed`` and ``dropped`` (per second), and
        ``queue`` (the longest queue in the bin, counting the length it had when the bin began). ``bins`` fixes
        the number of rows, for a caller that lays these series beside its own (``ella_lab.sim.bin_count``
        counts them the same way).
        """
        import pandas as pd

        bin_s = check_real("bin_s", bin_s, maximum=3600.0)
        check_real("start", start, minimum=-math.inf)
        check_real("end", end, minimum=-math.inf)
        if bin_s <= 0 or end <= start:
            raise ValueError(f"need bin_s > 0 and end > start, got bin_s={bin_s!r}, start={start!r}, end={end!r}")
        if bins is None:
            bins = bin_count(end - start, bin_s)
        elif check_int("bins", bins, minimum=1) > MAX_BINS:
            raise ValueError(f"bins must be <= {MAX_BINS:,}, got {bins!r}")
        counts = {key: [0.0] * bins for key in ("good", "late", "shed", "dropped")}
        top: list[int | None] = [None] * bins  # the longest queue an event showed in each bin ...
        last: list[int | None] = [None] * bins  # ... and the length it was left at
        level = 0  # the queue's length when the window opens
        with self._slots:
            events = sorted(self._events, key=lambda event: event[0])
        for when, what in events:
            if when >= end:
                break
            if when < start:
                if what.startswith("queue "):
                    level = int(what[6:])
                continue
            i = min(bins - 1, int((when - start) / bin_s))
            if what.startswith("queue "):
                n = int(what[6:])
                top[i], last[i] = n if top[i] is None else max(top[i], n), n
            else:
                counts[what][i] += 1 / bin_s
        queue = []
        for i in range(bins):  # a bin with no event keeps the length the queue had (not 0: nobody left it)
            queue.append(level if top[i] is None else max(level, top[i]))
            level = level if last[i] is None else last[i]
        return pd.DataFrame(
            {
                "t": [i * bin_s for i in range(bins)],
                "goodput": counts["good"],
                "late": counts["late"],
                "shed": counts["shed"],
                "dropped": counts["dropped"],
                "queue": queue,
            }
        )


def _deadline(header: str | None) -> float | None:
    """The client's deadline from an ``X-Deadline`` header (Unix time), or None if absent or malformed."""
    if not header:
        return None
    try:
        value = float(header)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class HttpSource(Source):
    """A source that fetches ``GET <url>/data/<request>?attempt=<n>`` over a real socket.

    ``timeout`` (seconds) bounds each whole attempt: connecting, the headers and the body together
    (a server that drips its answer byte by byte is cut off at the deadline); a per-call timeout
    overrides it. The body is read in chunks, at most ``max_bytes``. Redirects are refused unless
    ``follow_redirects=True`` (and then only to http:// or https://, within the same deadline).
    HTTP errors, oversized or undecodable bodies and dropped or refused connections become
    ``SourceError``; a timeout, ``TimeoutError``. Proxies are never used.
    """

    cancellable = True  # a hedge's losing call has its socket closed
    keeps_timeout = True  # its timeout bounds the whole attempt: no helper thread needed to enforce it

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float | None = 1.0,
        max_bytes: int = 1 << 20,
        follow_redirects: bool = False,
    ):
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.url = _check_url("url", url).rstrip("/")
        self.timeout = check_timeout("timeout", timeout)
        self.max_bytes = check_int("max_bytes", max_bytes, minimum=1)
        if not isinstance(follow_redirects, bool):
            raise TypeError(f"follow_redirects must be True or False, got {follow_redirects!r}")
        self.follow_redirects = follow_redirects

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        limit = self.timeout if timeout is None else check_timeout("timeout", timeout)
        deadline = None if limit is None else clock() + limit
        address = f"{self.url}/data/{quote(str(request), safe='')}?attempt={attempt}"
        try:
            body = self._get(address, request, deadline)
        except TimeoutError:
            raise TimeoutError(
                f"{self.name} did not answer {shown(request)} within {format_seconds(limit)} (the whole attempt: "
                "connect, headers and body)"
            ) from None
        except SourceError:
            raise
        except (http.client.HTTPException, OSError) as exc:
            raise SourceError(f"{self.name}: {type(exc).__name__} for {shown(request)}: {exc}") from None
        try:
            return body.decode()
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{self.name}: the answer to {shown(request)} is not valid UTF-8 ({exc.reason})"
            ) from None

    def _get(self, address: str, request: Any, deadline: float | None) -> bytes:
        """The body of a 2xx answer to ``GET address``, following at most 5 redirects when allowed."""
        for _ in range(6):
            parts = urlsplit(address)
            connection = _Connection(parts, deadline)
            scope = current_scope()
            if scope is not None:  # a hedge calls this off: close the socket, which wakes a blocked read
                scope.on_cancel(connection.abort)
            try:
                headers = {} if deadline is None else {"X-Deadline": f"{time.time() + (deadline - clock()):.6f}"}
                connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
                response = connection.getresponse()
                if response.status in _REDIRECTS:
                    address = self._redirect(address, response.getheader("Location"), request)
                    continue
                if not 200 <= response.status < 300:
                    raise SourceError(f"{self.name}: HTTP {response.status} for {shown(request)}")
                return self._read(response, request)
            finally:
                connection.close()
        raise SourceError(f"{self.name}: more than 5 redirects for {shown(request)}")

    def _redirect(self, address: str, location: str | None, request: Any) -> str:
        if not self.follow_redirects:
            raise SourceError(
                f"{self.name}: redirect to {location!r} for {shown(request)} refused (follow_redirects=False)"
            )
        target = urljoin(address, location or "")
        if urlsplit(target).scheme not in ("http", "https"):
            raise SourceError(f"{self.name}: redirect to {target!r} for {shown(request)} refused (not http or https)")
        return target

    def _read(self, response: http.client.HTTPResponse, request: Any) -> bytes:
        try:
            declared = int(response.getheader("Content-Length") or -1)
        except ValueError:  # a malformed length: the reads below are capped anyway
            declared = -1
        if declared > self.max_bytes:
            raise self._too_big(request)
        chunks, size = [], 0
        while chunk := response.read(min(_CHUNK, self.max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_big(request)
        return b"".join(chunks)

    def _too_big(self, request: Any) -> SourceError:
        return SourceError(f"{self.name}: the answer to {shown(request)} is larger than max_bytes={self.max_bytes}")

    def __repr__(self) -> str:
        return f"HttpSource({self.name!r}, {self.url!r}, timeout={self.timeout!r})"


_REDIRECTS = (301, 302, 303, 307, 308)
_STALL_POLL = 0.1  # seconds between a stalled handler's looks at its client (gone?) and at stop()
_REQUEST_TIMEOUT = b"HTTP/1.0 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_CHUNK = 64 * 1024


def _check_url(name: str, url: object) -> str:
    """An http:// or https:// URL with a host and a valid port."""
    if not isinstance(url, str):
        raise TypeError(f"{name} must be an http:// or https:// URL (a str), got {url!r}")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{name} has an invalid port (1..65535), got {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError(f"{name} must be an http:// or https:// URL with a host, got {url!r}")
    return url


class _Response(http.client.HTTPResponse):
    """A response that skips every informational (1xx) answer before the final one, at most ``_MAX_INFORMATIONAL``.

    ``http.client`` skips ``100 Continue`` only: ``103 Early Hints`` then ``200`` would read as a 103.
    (``101 Switching Protocols`` is final: nothing here asks for it, so it is an HTTP error.)
    """

    def _read_status(self) -> tuple[str, int, str]:
        for _ in range(_MAX_INFORMATIONAL):
            version, status, reason = super()._read_status()
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            http.client.parse_headers(self.fp)  # its headers; an informational answer has no body
        raise http.client.HTTPException(f"more than {_MAX_INFORMATIONAL} informational (1xx) answers")


_MAX_INFORMATIONAL = 100


class _Connection(http.client.HTTPConnection):
    """An HTTP connection whose every socket operation is bounded by one ``deadline`` (a ``clock()`` time)."""

    response_class = _Response

    def abort(self) -> None:
        """Shut the socket down from another thread: a read blocked on it returns at once."""
        sock = getattr(self.sock, "_sock", self.sock)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __init__(self, parts: Any, deadline: float | None):
        self.tls = parts.scheme == "https"
        super().__init__(parts.hostname, parts.port or (443 if self.tls else 80))
        self.deadline = deadline

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), _left(self.deadline))
        if self.tls:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = _DeadlineSocket(sock, self.deadline)


def _left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (``None``: no deadline); ``TimeoutError`` once it has passed."""
    if deadline is None:
        return None
    left = deadline - clock()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


class _DeadlineSocket:
    """A socket whose sends and reads (through ``makefile``) each wait at most until the deadline."""

    def __init__(self, sock: socket.socket, deadline: float | None):
        self._sock, self._deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(_left(self._deadline))
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))  # keeps the socket open until closed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineReader(io.RawIOBase):
    """The socket's own raw reader (which holds the socket open), each read bounded by the deadline.

    With ``idle`` too, each read also waits at most ``idle`` seconds (a server's idle timeout); ``expired``
    tells whether a read failed because the deadline passed. ``deadline`` may be lifted (set to None).
    """

    def __init__(self, sock: socket.socket, deadline: float | None, *, idle: float | None = None):
        self._sock, self._raw = sock, sock.makefile("rb", buffering=0)
        self.deadline, self._idle = deadline, idle
        self.expired = False
        self.received = 0  # bytes read so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            left = _left(self.deadline)
            self._sock.settimeout(left if self._idle is None else min(self._idle, left or math.inf))
            got = self._raw.readinto(buffer)
        except TimeoutError:
            self.expired = self.deadline is not None and clock() >= self.deadline
            raise
        self.received += got or 0
        return got

    def close(self) -> None:
        self._raw.close()
        super().close()
