"""The guide's request queue and worker threads, done right.

``run(requests)`` starts ``workers`` threads on one ``queue.SimpleQueue``, enqueues every request,
then one stop sentinel per worker: a worker exits the moment it takes a sentinel (no idle timeout).
Each request's answer, success or exception, is written as an ``Outcome`` into its own slot of a
preallocated list, so none is lost or answered twice. With ``max_pending`` the requests are read
from the iterable as room frees up in the queue (a generator is never read ahead, nor made a list).
``submit()`` (inside ``with Router(...)``) serves the same queue design with long-lived workers and
``concurrent.futures.Future`` results; their state lives in a ``_Service`` that does not refer back
to the Router, so a Router dropped without ``close()`` is collected, and its finalizer stops them.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any

from . import _threads
from ._checks import check_choice, check_int, check_timeout
from ._shown import Shown, shown
from .backends import EXECUTORS, Execution, run_backend
from .deadlines import Deadlines, inline_callable
from .fallback import FallbackChain
from .outcome import Outcome, Rejected, Report, failed_call
from .retry import Retry
from .sources import Source, as_source, collect_counters, counters_since
from .timing import clock, format_seconds

__all__ = ["Rejected", "Router"]

log = logging.getLogger("ella_lab")

_STOP = object()  # the sentinel: one per worker, put after the last request


class Router:
    """Route requests to ``source`` through a queue served by ``workers`` threads.

    ``source`` is a ``Source``, a ``FallbackChain`` or any callable ``f(request)``. ``retry`` and
    ``timeout`` (seconds per attempt) wrap it in a one-source ``FallbackChain`` (a timeout alone on a
    plain callable is run inline by the workers, with the chain's outcomes: ``ella_lab.deadlines``). ``max_pending``
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
        # A timeout alone on a plain callable: called inline by the workers, timed out by a watchdog
        # (see ella_lab.deadlines), with the outcomes of the one-source chain below, without its hand-off.
        inline = retry is None and timeout is not None and inline_callable(source) is not None
        self._inline: tuple[Source, float] | None = (source, timeout) if inline else None  # type: ignore[assignment]
        wrapped = self.wraps_source = retry is not None or timeout is not None
        if wrapped:
            source = FallbackChain([source], retry=retry, timeout=timeout, name=source.name)
        self.source: Source = source
        # What every engine runs per request; a chain the router made for retry/timeout reports the
        # last attempt's own error.
        self._execution = Execution(source, last_error=wrapped)
        self._execute = self._execution.execute
        self._service = _Service(self._execute, self.workers, self.max_pending, self.on_full, self._inline)
        weakref.finalize(self, self._service.close, cancel_pending=False)  # a dropped Router stops its workers

    # -- run(): a batch with its own workers --------------------------------------------------

    def run(self, requests: Iterable[Any]) -> Report:
        """Serve every request and return a ``Report`` with one ``Outcome`` each, in submission order.

        ``requests`` is read whole first, unless ``max_pending`` is set: then it is read as the queue
        has room, so a generator of any length is served in memory bounded by ``max_pending`` (plus the outcomes).
        """
        if isinstance(requests, (str, bytes)) or not isinstance(requests, Iterable):
            raise TypeError(f"requests must be an iterable of requests, got {shown(requests)}")
        streamed = self.max_pending is not None
        if not streamed and not isinstance(requests, Sequence):
            requests = list(requests)
        if self.executor != "threads":
            return run_backend(self, requests)  # type: ignore[arg-type]
        if self._inline is not None:
            return self._run_inline(requests, streamed)
        results: list[Outcome | None] = [] if streamed else [None] * len(requests)  # type: ignore[arg-type]
        queue: SimpleQueue = SimpleQueue()
        threads: list[threading.Thread] = []

        def start_worker(slots: Any) -> None:
            i = len(threads)
            thread = threading.Thread(
                target=self._run_worker,
                args=(queue, results, f"worker-{i}", slots),
                name=f"ella-worker-{i}",
                daemon=True,
            )
            threads.append(thread)
            thread.start()

        counted = collect_counters(self.source)
        started = clock()
        _log_start(results, streamed, self.workers, self.max_pending, None)
        try:
            put = queue.put
            if not streamed:  # enqueue everything first: each worker has work the moment it starts
                for i, request in enumerate(requests):
                    put((i, request, clock()))
                for _ in range(min(self.workers, len(results))):
                    start_worker(None)
            else:  # bounded queue: feed the workers as room frees up, starting one per request up to `workers`
                slots = threading.BoundedSemaphore(self.max_pending)  # type: ignore[arg-type]
                block = self.on_full == "block"
                for i, request in enumerate(requests):
                    results.append(None)
                    if len(threads) < self.workers:
                        start_worker(slots)
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
                try:
                    results[i] = execute(request, queued_at, worker)
                except BaseException as exc:  # execute records every failure; this is a last guard
                    results[i] = failed_call("router", request, exc, worker, queued_at, clock())
        else:
            for i, request, queued_at in iter(queue.get, _STOP):
                slots.release()  # room for one more in the bounded queue
                try:
                    results[i] = execute(request, queued_at, worker)
                except BaseException as exc:
                    results[i] = failed_call("router", request, exc, worker, queued_at, clock())

    def _run_inline(self, requests: Iterable[Any], streamed: bool) -> Report:
        """``run()`` for a timeout on a plain callable: workers call it inline, a watchdog times them out.

        The same queue, sentinels and bounded feeding as ``run()``; the workers' threads are kept in
        a list that the watchdog updates in place when it replaces a stuck worker.
        """
        results: list[Outcome | None] = [] if streamed else [None] * len(requests)  # type: ignore[arg-type]
        queue: SimpleQueue = SimpleQueue()
        threads: list[threading.Thread | None] = []
        source, timeout = self._inline  # type: ignore[misc]
        slots: Any = None

        def start_worker(index: int) -> None:
            """Put worker ``index`` in ``threads``, then start it. In that order: ``start()`` waits for the new
            thread, so a Ctrl-C can land in it with the thread already running, and the watchdog can time out
            the new worker's first call at once; either must find the worker in the list (to send it a
            sentinel, to replace it), or it is left serving for ever or the watchdog's replace() fails."""
            thread = threading.Thread(
                target=_inline_worker,
                args=(deadlines, queue, results, index, slots),
                name=f"ella-worker-{index}",
                daemon=True,
            )
            _list_then_start(threads, index, thread)

        def replace(index: int) -> None:  # the watchdog, under deadlines.lock
            start_worker(index)

        deadlines = Deadlines(source, timeout, replace)
        try:  # from here on a Ctrl-C must stop the watchdog too
            counted = collect_counters(self.source)
            started = clock()
            _log_start(results, streamed, self.workers, self.max_pending, timeout)
            put = queue.put
            if not streamed:
                for i, request in enumerate(requests):
                    put((i, request, clock()))
                for index in range(min(self.workers, len(results))):
                    start_worker(index)
            else:
                slots = threading.BoundedSemaphore(self.max_pending)  # type: ignore[arg-type]
                block = self.on_full == "block"
                for i, request in enumerate(requests):
                    results.append(None)
                    if len(threads) < self.workers:
                        with deadlines.lock:
                            start_worker(len(threads))
                    if slots.acquire(blocking=block):
                        put((i, request, clock()))
                    else:
                        results[i] = _rejected(request, self.max_pending)
            for _ in range(len(threads)):  # one per worker: a replacement takes its stuck predecessor's
                put(_STOP)
            _join_live(threads, None, deadlines.lock)
            deadlines.stop()
        except BaseException:  # KeyboardInterrupt, most likely: stop the workers before leaving
            _interrupt_inline(deadlines, queue, threads)
            raise
        finished = clock()
        missing = [i for i, outcome in enumerate(results) if outcome is None]
        if missing:
            raise RuntimeError(f"internal error: requests {missing[:5]} got no outcome")
        log.debug("run: done in %s", format_seconds(finished - started))
        counts = counters_since(self.source, counted)
        return Report(results, workers=self.workers, started_at=started, finished_at=finished, counters=counts)  # type: ignore[arg-type]

    # -- submit(): long-lived workers and futures --------------------------------------------

    def submit(self, request: Any, *, timeout: float | None = None) -> Future:
        """Enqueue one request; the ``Future`` resolves to its ``Outcome`` (never to an exception).

        With ``max_pending`` set and the queue full, waits for room, at most ``timeout`` seconds,
        then raises ``TimeoutError``; with ``on_full="reject"``, resolves at once to a ``Rejected`` outcome.
        A closed Router (even one closed while this call waits) raises ``RuntimeError`` at once.
        """
        timeout = check_timeout("timeout", timeout)
        if self.executor != "threads":
            raise TypeError(
                f"submit() serves requests one by one on threads; with executor={self.executor!r} use run()"
            )
        return self._service.submit(request, timeout)

    def close(self, *, cancel_pending: bool = False, timeout: float | None = None) -> bool:
        """Stop the ``submit()`` workers once the queued requests are served (or cancelled).

        Waits at most ``timeout`` seconds for them; returns ``True`` when every worker has exited.
        """
        timeout = check_timeout("timeout", timeout)
        self._service.close(cancel_pending=cancel_pending)
        return self._service.join(timeout)

    def __enter__(self) -> Router:
        self._service.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel_pending=exc_type is not None)

    def __repr__(self) -> str:
        return (
            f"Router({self.source!r}, workers={self.workers}, max_pending={self.max_pending}, on_full={self.on_full!r})"
        )


def _list_then_start(threads: list, index: int, thread: threading.Thread) -> None:
    """Put ``thread`` at ``threads[index]`` (in place of a stuck worker, or appended), then start it.

    In that order: ``start()`` waits for the new thread, so a Ctrl-C can land in it with the thread already
    running, and a watchdog can time out its first call at once; both must find it listed.
    """
    if index < len(threads):
        threads[index] = thread
    else:
        threads.append(thread)
    thread.start()


class _Service:
    """The long-lived workers behind ``submit()``: queue, threads, bounded-queue count, closed flag, one lock.

    It holds only what the workers need (the ``execute`` function, never the Router), so a Router
    that is dropped unclosed is garbage; its ``weakref.finalize`` then closes this.
    """

    def __init__(self, execute: Any, workers: int, max_pending: int | None, on_full: str, inline: Any = None):
        self.execute = execute
        self.inline = inline  # (source, timeout): the workers call a plain callable inline, see ella_lab.deadlines
        self.deadlines: Deadlines | None = None
        self.workers = workers
        self.max_pending = max_pending
        self.on_full = on_full
        self.lock = threading.Condition()  # guards everything below; waiters for room wait on it
        self.queue: SimpleQueue | None = None
        self.threads: list[threading.Thread] = []
        self.pending = 0  # requests in the queue, not yet taken by a worker (bounded by max_pending)
        self.closed = False

    def open(self) -> None:
        with self.lock:
            if self.closed:
                raise RuntimeError("cannot reopen a closed Router")
            self._start()

    def submit(self, request: Any, timeout: float | None) -> Future:
        future: Future = Future()
        with self.lock:
            if self.closed:
                raise RuntimeError("cannot submit to a closed Router")
            if self.max_pending is not None:
                if self.pending >= self.max_pending and self.on_full == "reject":
                    future.set_result(_rejected(request, self.max_pending))
                    return future
                if not self.lock.wait_for(lambda: self.closed or self.pending < self.max_pending, timeout):
                    raise TimeoutError(
                        f"submit: {self.max_pending} requests pending, no room within {format_seconds(timeout)}"
                    )
                if self.closed:  # closed while this call waited for room
                    raise RuntimeError("cannot submit to a closed Router")
                self.pending += 1
            self._start()
            self.queue.put((future, request, clock()))  # type: ignore[union-attr]
        return future

    def _start(self) -> None:
        """Under the lock: start the workers, once."""
        if self.queue is not None:
            return
        self.queue = SimpleQueue()
        if self.inline is not None:
            deadlines = self.deadlines = Deadlines(*self.inline, self._replace)
            deadlines.stop_when(self._finished)
            with deadlines.lock:
                for i in range(self.workers):
                    self._start_inline(i)
            return
        for i in range(self.workers):
            thread = threading.Thread(target=self._serve, args=(f"worker-{i}",), name=f"ella-worker-{i}", daemon=True)
            self.threads.append(thread)  # listed before it starts: close() must send it a sentinel (see _run_inline)
            thread.start()

    def _start_inline(self, index: int) -> None:
        thread = threading.Thread(target=self._serve_inline, args=(index,), name=f"ella-worker-{index}", daemon=True)
        _list_then_start(self.threads, index, thread)

    def _replace(self, index: int) -> None:  # the watchdog, under deadlines.lock
        self._start_inline(index)

    def _finished(self) -> bool:
        """Closed, and every worker gone: the watchdog may go too."""
        return self.closed and not any(t.is_alive() for t in self.threads)

    def _serve_inline(self, index: int) -> None:
        call, worker, bounded = self.deadlines.call, f"worker-{index}", self.max_pending is not None  # type: ignore[union-attr]
        for future, request, queued_at in iter(self.queue.get, _STOP):  # type: ignore[union-attr]
            if bounded:
                with self.lock:
                    self.pending -= 1
                    self.lock.notify()
            if future.set_running_or_notify_cancel() and not call(
                future, request, queued_at, worker, index, _set_result
            ):
                return  # answered by the watchdog, which started a worker in this one's place

    def join(self, timeout: float | None) -> bool:
        """Wait at most ``timeout`` seconds for the workers (replacements included); True if all exited."""
        if self.deadlines is None:
            return _join(self.threads, timeout)
        done = _join_live(self.threads, timeout, self.deadlines.lock)
        if not done:
            log.warning("workers still busy after %s", format_seconds(timeout))
        return done

    def _serve(self, worker: str) -> None:
        execute = self.execute
        bounded = self.max_pending is not None
        for future, request, queued_at in iter(self.queue.get, _STOP):  # type: ignore[union-attr]
            if bounded:
                with self.lock:
                    self.pending -= 1  # room for one more in the bounded queue
                    self.lock.notify()
            if future.set_running_or_notify_cancel():  # False: cancelled while it waited
                try:
                    outcome = execute(request, queued_at, worker)
                except BaseException as exc:  # execute records every failure; this is a last guard
                    outcome = failed_call("router", request, exc, worker, queued_at, clock())
                _set_result(future, outcome)

    def close(self, *, cancel_pending: bool) -> None:
        """Stop taking requests; wake whoever waits for room; sentinels after the queued (or cancelled) requests."""
        with self.lock:
            first = not self.closed
            self.closed = True
            if first and self.queue is not None:
                if cancel_pending:
                    self.pending -= _drain(self.queue, cancel=True)  # cancelled requests give back their slots
                for _ in self.threads:
                    self.queue.put(_STOP)
            self.lock.notify_all()


def _inline_worker(deadlines: Deadlines, queue: SimpleQueue, results: list, index: int, slots: Any) -> None:
    """A ``run()`` worker with a timeout inline: until its sentinel, or until the watchdog takes its call."""
    call, deliver, worker = deadlines.call, results.__setitem__, f"worker-{index}"
    for i, request, queued_at in iter(queue.get, _STOP):
        if slots is not None:
            slots.release()
        if not call(i, request, queued_at, worker, index, deliver):
            return  # answered by the watchdog, which started a worker in this one's place


def _interrupt_inline(deadlines: Deadlines, queue: SimpleQueue, threads: list, timeout: float = 10.0) -> None:
    """Interrupted inline run(): drop the queued requests, stop every worker; one stuck in the callable is left."""
    deadlines.stop()
    _drain(queue)
    for _ in threads:
        queue.put(_STOP)
    deadline = clock() + timeout
    while clock() < deadline:
        for index in deadlines.abandon_all():  # taken from its worker, unanswered: not waited for
            threads[index] = None
        if _join_live(threads, 0.05, deadlines.lock):
            return
    log.warning("workers still busy after %s", format_seconds(timeout))


def _set_result(future: Future, outcome: Outcome) -> None:
    """Resolve ``future``; a done-callback of the caller's that raises (``SystemExit`` even) kills no worker."""
    try:
        future.set_result(outcome)
    except BaseException:
        log.exception("a done-callback of the future of %r failed", Shown(outcome.request))


def _join_live(threads: list, timeout: float | None, lock: Any) -> bool:
    """Wait for every worker in ``threads``, a list a watchdog may update in place (under ``lock``)."""
    deadline = None if timeout is None else clock() + timeout
    while True:
        with lock:
            alive = [t for t in threads if t is not None and _threads.running(t)]
        if not alive:
            return True
        left = None if deadline is None else deadline - clock()
        if left is not None and left <= 0:
            return False
        _threads.join(alive[0], 0.05 if left is None else min(0.05, left))


def _log_start(results: list, streamed: bool, workers: int, max_pending: int | None, timeout: float | None) -> None:
    """The run's first log record, before any worker starts (so it comes first in time order too)."""
    inline = "" if timeout is None else f", timeout {format_seconds(timeout)} watched inline"
    if streamed:
        log.debug("run: requests streamed, at most %d pending, up to %d workers%s", max_pending, workers, inline)
    else:
        log.debug("run: %d requests, %d workers%s", len(results), min(workers, len(results)), inline)


def _rejected(request: Any, limit: int | None) -> Outcome:
    now = clock()
    error = Rejected(f"rejected {shown(request)}: {limit} requests already pending")
    return Outcome(request, False, None, error, None, (), "router", now, now, now)


def _drain(queue: SimpleQueue, *, cancel: bool = False) -> int:
    """Empty ``queue``; with ``cancel``, cancel the futures of the requests taken out. Returns how many."""
    taken = 0
    while True:
        try:
            item = queue.get_nowait()
        except Empty:
            return taken
        if item is not _STOP:
            taken += 1
            if cancel:
                item[0].cancel()


def _join(threads: list[threading.Thread], timeout: float | None) -> bool:
    deadline = None if timeout is None else clock() + timeout
    for thread in threads:
        _threads.join(thread, None if deadline is None else max(0.0, deadline - clock()))
    alive = [t.name for t in threads if _threads.running(t)]
    if alive:
        log.warning("workers still busy after %s: %s", format_seconds(timeout), ", ".join(alive))
    return not alive


def _stop_workers(queue: SimpleQueue, threads: list[threading.Thread], timeout: float = 10.0) -> None:
    """Interrupted run(): drop the queued requests, send every worker a sentinel, wait a bounded time."""
    _drain(queue)
    for _ in threads:
        queue.put(_STOP)
    _join([t for t in threads if t is not None and t.ident is not None], timeout)
