"""The guide's request queue and worker threads, done right.

``run(requests)`` starts ``workers`` threads on one ``queue.SimpleQueue``, enqueues every request,
then one stop sentinel per worker: a worker exits the moment it takes a sentinel (no idle timeout).
Each request's answer, success or exception, is written as an ``Outcome`` into its own slot of a
preallocated list, so none is lost or answered twice. ``submit()`` (inside ``with Router(...)``)
serves the same queue design with long-lived workers and ``concurrent.futures.Future`` results.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any

from ._checks import check_choice, check_int, check_timeout
from .backends import EXECUTORS, run_backend
from .fallback import AllSourcesFailed, FallbackChain
from .outcome import Attempt, Outcome, Rejected, Report, all_failed, failed_call, release_attempts
from .retry import Retry
from .sources import FunctionSource, Source, as_source, collect_counters, counters_since
from .timing import clock, format_seconds

__all__ = ["Rejected", "Router"]

log = logging.getLogger("ella_lab")

_STOP = object()  # the sentinel: one per worker, put after the last request
_new = tuple.__new__  # builds an Outcome/Attempt without NamedTuple's keyword machinery (hot path)


class Router:
    """Route requests to ``source`` through a queue served by ``workers`` threads.

    ``source`` is a ``Source``, a ``FallbackChain`` or any callable ``f(request)``. ``retry`` and
    ``timeout`` (seconds per attempt) wrap it in a one-source ``FallbackChain``. ``max_pending``
    bounds the queue: beyond it, enqueueing blocks until a worker takes a request (backpressure,
    ``on_full="block"``), or the request is refused at once as a failed ``Outcome`` whose error is
    ``Rejected`` (a bulkhead, ``on_full="reject"``). ``executor`` runs ``run()`` on threads (this
    module), or on asyncio, processes or a Dask cluster (``client``): see ``ella_lab.backends``.
    """

    def __init__(
        self,
        source: Any,
        *,
        workers: int = 3,
        max_pending: int | None = None,
        retry: Retry | None = None,
        timeout: float | None = None,
        on_full: str = "block",
        executor: str = "threads",
        client: Any = None,
    ):
        self.workers = check_int("workers", workers, minimum=1)
        self.max_pending = None if max_pending is None else check_int("max_pending", max_pending, minimum=1)
        self.on_full = check_choice("on_full", on_full, ("block", "reject"))
        if self.on_full == "reject" and self.max_pending is None:
            raise TypeError("on_full='reject' refuses requests beyond max_pending; set max_pending too")
        self.executor = check_choice("executor", executor, EXECUTORS)
        if client is not None and executor != "dask":
            raise TypeError(f"client is for executor='dask', not executor={executor!r}")
        if self.max_pending is not None and executor != "threads":
            raise TypeError(f"max_pending bounds the threads executor's queue; executor={executor!r} has none")
        self.client = client
        if retry is not None and not isinstance(retry, Retry):
            raise TypeError(f"retry must be a Retry or None, got {retry!r}")
        timeout = check_timeout("timeout", timeout)
        source = as_source(source)
        wrapped = self.wraps_source = retry is not None or timeout is not None
        if wrapped:
            source = FallbackChain([source], retry=retry, timeout=timeout, name=source.name)
        self.source: Source = source
        if callable(getattr(source, "serve", None)):  # a chain or a hedge: it reports its own attempts
            # A chain the router made for retry/timeout reports the last attempt's own error.
            self._execute = _serving_executor(source, last_error=wrapped)
        else:
            self._execute = _single_executor(source)
        # State of the long-lived workers behind submit(), guarded by _lock.
        self._lock = threading.Lock()
        self._queue: SimpleQueue | None = None
        self._threads: list[threading.Thread] = []
        self._slots = None if self.max_pending is None else threading.BoundedSemaphore(self.max_pending)
        self._closed = False

    # -- run(): a batch with its own workers --------------------------------------------------

    def run(self, requests: Iterable[Any]) -> Report:
        """Serve every request and return a ``Report`` with one ``Outcome`` each, in submission order."""
        if isinstance(requests, (str, bytes)) or not isinstance(requests, Iterable):
            raise TypeError(f"requests must be an iterable of requests, got {requests!r}")
        if not isinstance(requests, Sequence):
            requests = list(requests)
        if self.executor != "threads":
            return run_backend(self, requests)
        n = len(requests)
        results: list[Outcome | None] = [None] * n
        queue: SimpleQueue = SimpleQueue()
        slots = None if self.max_pending is None else threading.BoundedSemaphore(self.max_pending)
        threads = [
            threading.Thread(
                target=self._run_worker,
                args=(queue, results, f"worker-{i}", slots),
                name=f"ella-worker-{i}",
                daemon=True,
            )
            for i in range(min(self.workers, n))
        ]
        log.debug("run: %d requests, %d workers", n, len(threads))
        counted = collect_counters(self.source)
        started = clock()
        try:
            put = queue.put
            if slots is None:  # enqueue everything first: each worker has work the moment it starts
                for i, request in enumerate(requests):
                    put((i, request, clock()))
                for thread in threads:
                    thread.start()
            else:  # bounded queue: start the workers, then feed them as room frees up
                block = self.on_full == "block"
                for thread in threads:
                    thread.start()
                for i, request in enumerate(requests):
                    if slots.acquire(blocking=block):
                        put((i, request, clock()))
                    else:  # the bulkhead: refused now, answered as a failure, never lost
                        results[i] = _rejected(request, self.max_pending)
            for _ in threads:
                put(_STOP)
            for thread in threads:
                thread.join()
        except BaseException:  # KeyboardInterrupt, most likely: stop the workers before leaving
            _stop_workers(queue, threads)
            raise
        finished = clock()
        missing = [i for i, outcome in enumerate(results) if outcome is None]
        if missing:  # cannot happen unless the library itself is broken: say so loudly
            raise RuntimeError(f"internal error: requests {missing[:5]} got no outcome")
        log.debug("run: done in %s", format_seconds(finished - started))
        counts = counters_since(self.source, counted)
        return Report(results, workers=self.workers, started_at=started, finished_at=finished, counters=counts)  # type: ignore[arg-type]

    def _run_worker(self, queue: SimpleQueue, results: list, worker: str, slots: Any) -> None:
        execute = self._execute
        if slots is None:
            for i, request, queued_at in iter(queue.get, _STOP):  # until this worker's sentinel
                results[i] = execute(request, queued_at, worker)
        else:
            for i, request, queued_at in iter(queue.get, _STOP):
                slots.release()  # room for one more in the bounded queue
                results[i] = execute(request, queued_at, worker)

    # -- submit(): long-lived workers and futures --------------------------------------------

    def submit(self, request: Any, *, timeout: float | None = None) -> Future:
        """Enqueue one request; the ``Future`` resolves to its ``Outcome`` (never to an exception).

        With ``max_pending`` set and the queue full, waits for room, at most ``timeout`` seconds,
        then raises ``TimeoutError``; with ``on_full="reject"``, resolves at once to a ``Rejected`` outcome.
        """
        timeout = check_timeout("timeout", timeout)
        if self.executor != "threads":
            raise TypeError(
                f"submit() serves requests one by one on threads; with executor={self.executor!r} use run()"
            )
        future: Future = Future()
        if self._slots is not None and self.on_full == "reject" and not self._slots.acquire(blocking=False):
            future.set_result(_rejected(request, self.max_pending))
            return future
        if self._slots is not None and self.on_full == "block" and not self._slots.acquire(timeout=timeout):
            raise TimeoutError(f"submit: {self.max_pending} requests pending, no room within {format_seconds(timeout)}")
        with self._lock:
            if self._closed:
                if self._slots is not None:
                    self._slots.release()
                raise RuntimeError("cannot submit to a closed Router")
            if self._queue is None:
                self._start()
            self._queue.put((future, request, clock()))
        return future

    def _start(self) -> None:
        self._queue = SimpleQueue()
        for i in range(self.workers):
            thread = threading.Thread(
                target=self._serve_worker, args=(f"worker-{i}",), name=f"ella-worker-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve_worker(self, worker: str) -> None:
        execute = self._execute
        slots = self._slots
        for future, request, queued_at in iter(self._queue.get, _STOP):
            if slots is not None:
                slots.release()
            if future.set_running_or_notify_cancel():  # False: cancelled while it waited
                future.set_result(execute(request, queued_at, worker))

    def close(self, *, cancel_pending: bool = False, timeout: float | None = None) -> bool:
        """Stop the ``submit()`` workers once the queued requests are served (or cancelled).

        Waits at most ``timeout`` seconds for them; returns ``True`` when every worker has exited.
        """
        timeout = check_timeout("timeout", timeout)
        with self._lock:
            first = not self._closed
            self._closed = True
            if first and self._queue is not None:
                if cancel_pending:
                    _drain(self._queue, cancel=True)
                for _ in self._threads:
                    self._queue.put(_STOP)
        return _join(self._threads, timeout)

    def __enter__(self) -> Router:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot reopen a closed Router")
            if self._queue is None:
                self._start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel_pending=exc_type is not None)

    def __repr__(self) -> str:
        return (
            f"Router({self.source!r}, workers={self.workers}, max_pending={self.max_pending}, on_full={self.on_full!r})"
        )


def _single_executor(source: Source):
    """``execute(request, queued_at, worker) -> Outcome`` for one source called once (the hot path)."""
    name = source.name
    # A wrapped plain function is called directly: one call fewer per request.
    fetch = source.function if isinstance(source, FunctionSource) else source.fetch

    def execute(request: Any, queued_at: float, worker: str) -> Outcome:
        started = clock()
        try:
            value = fetch(request)
        except BaseException as exc:  # a failing source never kills its worker
            log.debug("%s failed on %r: %r", name, request, exc, exc_info=exc)
            return failed_call(name, request, exc, worker, queued_at, started)
        finished = clock()
        attempt = _new(Attempt, (name, 0, None, started, finished))
        return _new(Outcome, (request, True, value, None, name, (attempt,), worker, queued_at, started, finished))

    return execute


def _serving_executor(chain: Source, *, last_error: bool = False):
    """``execute(request, queued_at, worker) -> Outcome`` for a source with ``serve`` (a chain, a hedge).

    Every attempt is kept. The error of a failed request is the ``AllSourcesFailed``, or with
    ``last_error`` the error of the last attempt.
    """
    serve = chain.serve

    def execute(request: Any, queued_at: float, worker: str) -> Outcome:
        started = clock()
        try:
            value, source, attempts = serve(request)
        except AllSourcesFailed as exc:
            return all_failed(request, exc, last_error, worker, queued_at, started)
        except BaseException as exc:  # the chain lets non-Exception errors through; record them too
            return failed_call(chain.name, request, exc, worker, queued_at, started)
        release_attempts(attempts)
        return Outcome(request, True, value, None, source, attempts, worker, queued_at, started, clock())

    return execute


def _rejected(request: Any, limit: int | None) -> Outcome:
    now = clock()
    error = Rejected(f"rejected {request!r}: {limit} requests already pending")
    return Outcome(request, False, None, error, None, (), "router", now, now, now)


def _drain(queue: SimpleQueue, *, cancel: bool = False) -> None:
    """Empty ``queue``; with ``cancel``, cancel the futures of the requests taken out."""
    while True:
        try:
            item = queue.get_nowait()
        except Empty:
            return
        if cancel and item is not _STOP:
            item[0].cancel()


def _join(threads: list[threading.Thread], timeout: float | None) -> bool:
    deadline = None if timeout is None else clock() + timeout
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - clock()))
    alive = [t.name for t in threads if t.is_alive()]
    if alive:
        log.warning("workers still busy after %s: %s", format_seconds(timeout), ", ".join(alive))
    return not alive


def _stop_workers(queue: SimpleQueue, threads: list[threading.Thread], timeout: float = 10.0) -> None:
    """Interrupted run(): drop the queued requests, send every worker a sentinel, wait a bounded time."""
    _drain(queue)
    for _ in threads:
        queue.put(_STOP)
    _join([t for t in threads if t.ident is not None], timeout)
