"""Timeouts on a plain callable without a hand-off: the worker calls it inline, a watchdog times it out.

``Router(f, timeout=T)`` (no ``retry``) on threads: each worker publishes its call (deadline, request,
where its answer goes) in a dict, calls ``f`` on its own thread, then takes the call back out. One
watchdog thread per run (or per ``submit()`` service) wakes every ``resolution`` seconds (T/20, at
most 50 ms, at least 1 ms) and takes out every call past its deadline. Taking a call out is one
atomic ``dict.pop``, so exactly one of worker and watchdog writes its ``Outcome``. The watchdog
writes the ``TimeoutError`` the one-source chain would (same attempt record), counts the call
abandoned, and starts a replacement worker under the same name, so ``workers`` keep serving; the stuck
worker, when ``f`` returns, finds its call gone, drops the answer and exits. While ``MAX_ABANDONED``
calls of the source are still running past their deadline a new call is refused at once, as on the
helper threads: a source that hangs for good holds a bounded number of threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ._shown import Shown
from .outcome import Attempt, Outcome, released
from .sources import MAX_ABANDONED, Source, callable_behind, not_started, timed_out
from .timing import clock, format_seconds

__all__ = ["Deadlines", "inline_callable"]

log = logging.getLogger("ella_lab")

_new = tuple.__new__  # builds an Outcome/Attempt without NamedTuple's keyword machinery (hot path)


def inline_callable(source: Source) -> Callable[[Any], Any] | None:
    """The plain callable behind ``source`` if a timeout on it runs on the helper threads, else ``None``."""
    function = callable_behind(source)
    return None if function is source else function


class Deadlines:
    """The in-flight calls of one run's workers, and the watchdog thread that times them out.

    ``replace(index)`` starts a worker in place of the stuck worker ``index`` (the caller keeps its
    threads in a list, updated in place); it runs under ``lock``, so whoever checks the workers under
    the same lock never sees a stuck worker gone and its replacement not yet started.
    """

    def __init__(self, source: Source, timeout: float, replace: Callable[[int], None]):
        function = inline_callable(source)
        if function is None:
            raise TypeError(f"Deadlines serves a plain callable source, got {source}")
        self.function = function
        self.name = source.name
        self.owner = source.calls  # type: ignore[attr-defined]
        self._running = self.owner._running  # its process-wide count, read once per call (hot path)
        self.timeout = timeout
        self.resolution = max(0.001, min(timeout / 20, 0.05))
        self.replace = replace
        self.lock = threading.Lock()
        self.pending: dict[int, tuple] = {}  # id(call record) -> record; dict.pop is the claim
        self.stopping = False
        self._stop = threading.Event()
        self._until: Callable[[], bool] | None = None
        self.watchdog = threading.Thread(target=self._watch, name="ella-watchdog", daemon=True)
        try:
            self.watchdog.start()
        except BaseException:  # a Ctrl-C in start(), which waits for the thread: it must not watch for ever
            self._stop.set()
            raise

    # -- the worker's side ---------------------------------------------------------------------

    def call(self, key: Any, request: Any, queued_at: float, worker: str, index: int, deliver: Any) -> bool:
        """Serve ``request`` inline and ``deliver(key, outcome)``; False if the watchdog took the call (then exit)."""
        name, timeout, owner = self.name, self.timeout, self.owner
        started = clock()
        if self._running[0] >= MAX_ABANDONED:
            log.debug("%s: %d abandoned calls still running; %r not started", name, owner.running, Shown(request))
            error = not_started(name, request, timeout, owner.running)
            deliver(key, _failed(name, request, error, worker, queued_at, started, clock()))
            return True
        record = (started + timeout, key, request, queued_at, started, worker, index, deliver)
        ticket = id(record)
        pending = self.pending
        pending[ticket] = record
        try:
            value = self.function(request)
        except BaseException as exc:  # a failing source never kills its worker
            error: BaseException | None = exc
        else:
            error = None
        finished = clock()
        if pending.pop(ticket, None) is None:  # the watchdog answered this request already
            owner.returned()
            log.debug("%s returned on %r after its deadline, answer dropped; %s exits", name, Shown(request), worker)
            return False
        if error is None and finished - started > timeout:  # answered, but late: a timeout, as on the helper threads
            error = timed_out(name, request, timeout)
        if error is None:
            attempt = _new(Attempt, (name, 0, None, started, finished))
            outcome = (request, True, value, None, name, (attempt,), worker, queued_at, started, finished)
            deliver(key, _new(Outcome, outcome))
        else:
            log.debug("%s failed on %r: %r", name, Shown(request), Shown(error, 200), exc_info=error)
            deliver(key, _failed(name, request, error, worker, queued_at, started, finished))
        return True

    # -- the watchdog's side -------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.wait(self.resolution):
            now = clock()
            expired = [record for record in self.pending.copy().values() if record[0] <= now]
            if expired:
                self._expire(expired)
            until = self._until
            if until is not None and until():
                return

    def _expire(self, expired: list[tuple]) -> None:
        with self.lock:
            if self.stopping:
                return
            taken = []
            for record in expired:
                if self.pending.pop(id(record), None) is None:  # the worker took it back first
                    continue
                _, key, request, queued_at, started, worker, index, deliver = record
                self._abandon(request)
                error = timed_out(self.name, request, self.timeout)
                try:
                    deliver(key, _failed(self.name, request, error, worker, queued_at, started, clock()))
                except BaseException:  # a future's done-callback that raises: never kill the watchdog
                    log.exception("%s: delivering the timeout of %r failed", self.name, Shown(request))
                taken.append((index, worker))
            # Replacements only once every expired call is answered: starting a thread waits for it, and on a
            # busy machine that took long enough for the other expired calls to return first, late.
            for index, worker in taken:
                try:
                    self.replace(index)
                except BaseException:  # never kill the watchdog: the run then reports the request missing
                    log.exception("%s: no worker could be started in place of %s", self.name, worker)

    def _abandon(self, request: Any) -> None:
        self.owner.left()
        log.warning(
            "%s did not return %r within %s; abandoned", self.name, Shown(request), format_seconds(self.timeout)
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def stop(self, *, abandon: bool = False) -> list[int]:
        """Stop the watchdog; with ``abandon``, take every call in flight (no answer, no replacement).

        Returns the indexes of the workers whose calls were taken (stuck in ``f``: not to be waited for).
        """
        with self.lock:
            self.stopping = True
        self._stop.set()
        return self.abandon_all() if abandon else []

    def abandon_all(self) -> list[int]:
        """Take every call in flight, unanswered (a run being interrupted); the indexes of their workers."""
        taken = []
        with self.lock:
            for record in list(self.pending.copy().values()):
                if self.pending.pop(id(record), None) is not None:
                    self._abandon(record[2])
                    taken.append(record[6])
        return taken

    def stop_when(self, done: Callable[[], bool]) -> None:
        """Let the watchdog exit on its own once ``done()`` (a closed service whose workers have all exited)."""
        self._until = done


def _failed(
    name: str, request: Any, error: BaseException, worker: str, queued_at: float, started: float, finished: float
) -> Outcome:
    """The record a one-source chain gives for a failed call (its own error, kept without traceback)."""
    attempt = _new(Attempt, (name, 0, released(error), started, finished))
    return _new(Outcome, (request, False, None, error, None, (attempt,), worker, queued_at, started, finished))
