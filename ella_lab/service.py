"""Real I/O: a flaky HTTP data service on loopback, and ``HttpSource``, which fetches from one.

``FlakyService`` is a threaded standard-library HTTP server bound to 127.0.0.1 only. For
``GET /data/<request>?attempt=<n>`` it answers after a seeded latency, or fails the way real
services fail: HTTP 500/503, a dropped connection, or a stall (no answer until the client gives up).
Which of these happens depends only on (seed, request, attempt). ``stop()`` and ``start()`` take it
down and bring it back on the same URL while a run is in progress.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ._checks import check_int, check_real, check_timeout
from ._draw import draw
from .sources import Source, SourceError, timed_out

__all__ = ["FlakyService", "HttpSource"]

log = logging.getLogger("ella_lab")

LOOPBACK = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the listen backlog: the default 5 refuses a burst of concurrent clients

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up first (it timed out, or the service stopped) is normal here: log it."""
        log.debug("client %s went away before its answer", client_address)


class FlakyService:
    """An HTTP data service on ``127.0.0.1`` that fails on purpose, reproducibly.

    Of the calls, a seeded ``failure_rate`` get HTTP 500 or 503, ``drop_rate`` have their connection
    closed without an answer, and ``stall_rate`` get no answer for ``stall`` seconds; the rest answer
    200 after ``latency ± jitter`` seconds. ``port=0`` takes a free port. Use it as a context manager:
    ``with FlakyService(...) as svc: svc.url``.
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
    ):
        self.name = name
        self.latency = check_real("latency", latency)
        self.jitter = check_real("jitter", jitter)
        self.failure_rate = check_real("failure_rate", failure_rate, maximum=1.0)
        self.drop_rate = check_real("drop_rate", drop_rate, maximum=1.0)
        self.stall_rate = check_real("stall_rate", stall_rate, maximum=1.0)
        total = self.failure_rate + self.drop_rate + self.stall_rate
        if total > 1.0:
            raise ValueError(f"failure_rate + drop_rate + stall_rate must be <= 1, got {total!r}")
        self.stall = check_real("stall", stall)
        self.seed = check_int("seed", seed, minimum=-(2**63))
        self.port = check_int("port", port)
        if self.port > 65535:
            raise ValueError(f"port must be <= 65535, got {port!r}")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._released = threading.Event()  # set on stop(): stalled handlers give up
        self._lock = threading.Lock()
        self.served: dict[int, int] = {}  # HTTP status (0: dropped) -> count

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
            self._released.clear()
            server = _Server((LOOPBACK, self.port), self._handler())
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
        with self._lock:
            self.served[status] = self.served.get(status, 0) + 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # to logging, not stderr
                log.debug("%s: " + format, service.name, *args)

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
                if len(values) != 1 or not values[0].isdigit():
                    return self._reply(400, f"bad attempt: {values!r}, expected a whole number\n")
                kind, delay = service.plan(request, int(values[0]))
                if kind == "stall":
                    service._released.wait(delay)
                    return self._reply(503, "stalled\n")
                time.sleep(delay)
                if kind == "drop":
                    service._count(0)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if kind != "ok":
                    return self._reply(int(kind), f"{service.name} failed on {request}\n")
                return self._reply(200, f"Result from {service.name} for {request}")

        return Handler


class HttpSource(Source):
    """A source that fetches ``GET <url>/data/<request>?attempt=<n>`` over a real socket.

    ``timeout`` (seconds) is the socket timeout of each attempt; a per-call timeout overrides it.
    HTTP errors and dropped or refused connections become ``SourceError``; a timeout, ``TimeoutError``.
    Proxies are never used: the requests go straight to ``url``.
    """

    _opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __init__(self, name: str, url: str, *, timeout: float = 1.0):
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
        self.name = name
        self.url = url.rstrip("/")
        self.timeout = check_timeout("timeout", timeout)

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        limit = self.timeout if timeout is None else timeout
        address = f"{self.url}/data/{quote(str(request), safe='')}?attempt={attempt}"
        try:
            with self._opener.open(address, timeout=limit) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:
            raise SourceError(f"{self.name}: HTTP {exc.code} for {request!r}") from None
        except TimeoutError:
            raise timed_out(self.name, request, limit) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise timed_out(self.name, request, limit) from None
            raise SourceError(f"{self.name}: {exc.reason} for {request!r}") from None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise SourceError(f"{self.name}: {type(exc).__name__} for {request!r}") from None

    def __repr__(self) -> str:
        return f"HttpSource({self.name!r}, {self.url!r}, timeout={self.timeout!r})"
