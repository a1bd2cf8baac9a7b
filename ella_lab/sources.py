"""Data sources: where a request gets its answer. Simulated ones are seeded, so runs repeat exactly."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from queue import Empty, SimpleQueue
from typing import Any

from ._checks import check_int, check_real, check_seconds, check_timeout
from ._draw import draw
from ._shown import Shown, shown
from .timing import clock, format_seconds

__all__ = [
    "MAX_ABANDONED",
    "CallCancelled",
    "CancelScope",
    "CpuSource",
    "FunctionSource",
    "HelperThreads",
    "ScriptedSource",
    "SimulatedSource",
    "Source",
    "SourceError",
    "as_source",
    "call_with_timeout",
    "collect_counters",
    "counters_since",
    "current_scope",
    "fetch_within",
    "helper_threads",
    "pause",
    "run_in_scope",
]

log = logging.getLogger("ella_lab")


class SourceError(ConnectionError):
    """A source could not answer a request (the simulated analogue of a refused or reset connection)."""


class Source:
    """Anything with a ``name`` and ``fetch(request, *, attempt=0, timeout=None)``.

    ``attempt`` numbers the tries of one request at this source (0 first), so a seeded source can
    decide its answer from (seed, name, request, attempt) alone. ``timeout`` bounds one call (seconds).
    A source is also a plain callable: ``source(request)`` is ``source.fetch(request)``.

    ``keeps_timeout``: the source's ``fetch`` returns or raises within its ``timeout``. A source that
    does not say so (a user's subclass, by default) is called with a timeout on a helper thread, and
    the caller stops waiting at the deadline (``fetch_within``): every timeout holds for every source.
    """

    name: str = "source"
    keeps_timeout: bool = False
    _composite: bool = False  # the library's chain and hedge: they speak the ``serve`` protocol (fallback.serves)

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        raise NotImplementedError

    def __call__(self, request: Any) -> Any:
        return self.fetch(request)

    def children(self) -> tuple[Any, ...]:
        """The parts this source is built from (sources, policies), for ``collect_counters``."""
        return ()

    def counters(self) -> dict[str, int]:
        """This part's own event counts (hedges sent, breaker trips, ...); most sources have none."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def counters_since(root: Any, before: dict[str, int]) -> dict[str, int]:
    """What ``collect_counters(root)`` has counted since it returned ``before``: one run's events."""
    return {key: value - before.get(key, 0) for key, value in collect_counters(root).items()}


def collect_counters(root: Any) -> dict[str, int]:
    """Sum ``counters()`` over ``root`` and every part below it, each part counted once."""
    totals: dict[str, int] = {}
    seen: set[int] = set()
    stack = [root]
    while stack:
        part = stack.pop()
        if part is None or id(part) in seen:
            continue
        seen.add(id(part))
        for key, value in getattr(part, "counters", dict)().items():
            totals[key] = totals.get(key, 0) + value
        stack.extend(getattr(part, "children", tuple)())
    return totals


def timed_out(name: str, request: Any, timeout: float | None) -> TimeoutError:
    """The error of a call to ``name`` that did not answer ``request`` within ``timeout`` seconds."""
    return TimeoutError(f"{name} did not answer {shown(request)} within {format_seconds(timeout)}")


def not_started(name: str, request: Any, timeout: float | None, running: int) -> TimeoutError:
    """The error of a call refused because ``running`` abandoned calls of the same callable still run."""
    within = "" if timeout is None else f" within {format_seconds(timeout)}"
    return TimeoutError(
        f"{name} did not answer {shown(request)}{within}: not started, "
        f"{running} earlier calls are still running past their timeout"
    )


class CallCancelled(Exception):
    """The call was called off while it ran (a hedge's slower call, once the other answered)."""


class CancelScope:
    """A call that may be called off. Sources that can stop early watch the scope of the call they serve:
    a simulated source stops sleeping (``pause``), an HTTP source closes its socket (``on_cancel``).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], Any]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Call it off: wake its sleeps and run its cancel callbacks (each at most once)."""
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a callback that fails cannot make the caller's call fail
                log.debug("a cancel callback failed", exc_info=True)

    def on_cancel(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` when the call is called off (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; False if the call was called off first."""
        return not self._event.wait(seconds)


_scope = threading.local()


def current_scope() -> CancelScope | None:
    """The cancel scope of the call this thread is serving, if its caller gave one."""
    return getattr(_scope, "current", None)


def run_in_scope(scope: CancelScope, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` with ``scope`` as this thread's current cancel scope."""
    previous = current_scope()
    _scope.current = scope
    try:
        return function(*args, **kwargs)
    finally:
        _scope.current = previous


def pause(seconds: float) -> None:
    """Sleep ``seconds``, or raise ``CallCancelled`` as soon as the current call is called off."""
    scope = current_scope()
    if scope is None:
        time.sleep(seconds)
    elif not scope.sleep(seconds):
        raise CallCancelled("called off while it waited")


def take(name: str, request: Any, seconds: float, timeout: float | None) -> None:
    """Spend ``seconds`` on a call, or only ``timeout`` seconds and raise ``TimeoutError`` if that is shorter."""
    if timeout is not None and seconds > timeout:
        pause(timeout)
        raise timed_out(name, request, timeout)
    if seconds:
        pause(seconds)


class SimulatedSource(Source):
    """A source that sleeps its latency and fails a seeded fraction of (request, attempt) pairs.

    ``latency`` and ``jitter`` are seconds: each call sleeps ``latency ± jitter`` (uniform, seeded).
    A seeded ``tail_rate`` of calls is ``tail_factor`` times slower: a heavy tail, as in "The Tail
    at Scale". A failing call also takes its latency, then raises ``SourceError``. Sources that share
    a ``failure_group`` (and seed and failure rate) fail on the same requests: a shared outage.
    """

    def __init__(
        self,
        name: str,
        *,
        latency: float = 0.5,
        failure_rate: float = 0.0,
        jitter: float = 0.0,
        seed: int = 0,
        failure_group: str | None = None,
        tail_rate: float = 0.0,
        tail_factor: float = 50.0,
    ):
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.latency = check_seconds("latency", latency)
        self.failure_rate = check_real("failure_rate", failure_rate, maximum=1.0)
        self.jitter = check_seconds("jitter", jitter)
        self.tail_rate = check_real("tail_rate", tail_rate, maximum=1.0)
        self.tail_factor = check_real("tail_factor", tail_factor, minimum=1.0, maximum=10_000.0)
        self.seed = check_int("seed", seed, minimum=-(2**63))
        self.failure_group = name if failure_group is None else str(failure_group)

    def latency_for(self, request: Any, attempt: int = 0) -> float:
        """How long this call takes, fixed by (seed, name, request, attempt)."""
        delay = self.latency
        if self.jitter:
            u = draw(self.seed, "latency", self.name, request, attempt)
            delay = max(0.0, delay + self.jitter * (2.0 * u - 1.0))
        if self.tail_rate and draw(self.seed, "tail", self.name, request, attempt) < self.tail_rate:
            delay *= self.tail_factor
        return delay

    def fails(self, request: Any, attempt: int = 0) -> bool:
        """Whether this call fails, fixed by (seed, failure group, request, attempt)."""
        if self.failure_rate <= 0.0:
            return False
        return draw(self.seed, "fail", self.failure_group, request, attempt) < self.failure_rate

    def outcome(self, request: Any, attempt: int = 0, timeout: float | None = None) -> tuple[float, Any]:
        """What this call does, decided before it happens: (seconds it takes, the value or the exception)."""
        delay = self.latency_for(request, attempt)
        if timeout is not None and delay > timeout:
            return timeout, timed_out(self.name, request, timeout)
        if self.fails(request, attempt):
            return delay, SourceError(f"{self.name} failed on {shown(request)} (attempt {attempt})")
        return delay, f"Result from {self.name} for {request}"

    cancellable = True  # a hedge's losing call stops sleeping at once
    keeps_timeout = True

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        delay, result = self.outcome(request, attempt, timeout)
        if delay:
            pause(delay)
        if isinstance(result, Exception):
            raise result
        return result

    async def afetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        """``fetch`` for an asyncio event loop: the same answer, waiting with ``asyncio.sleep``."""
        delay, result = self.outcome(request, attempt, timeout)
        if delay:
            await asyncio.sleep(delay)
        if isinstance(result, Exception):
            raise result
        return result

    def __repr__(self) -> str:
        return (
            f"SimulatedSource({self.name!r}, latency={self.latency!r}, failure_rate={self.failure_rate!r}, "
            f"jitter={self.jitter!r}, seed={self.seed!r}, tail_rate={self.tail_rate!r})"
        )


class ScriptedSource(Source):
    """A source that fails on exactly the requests named in ``fail_on`` (every attempt), after ``latency`` s.

    For demonstrations and exercises where *which* request fails must be chosen, not drawn.
    """

    def __init__(self, name: str = "scripted", *, latency: float = 0.0, fail_on: Iterable[Any] = ()):
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.latency = check_seconds("latency", latency)
        if isinstance(fail_on, (str, bytes)) or not isinstance(fail_on, Iterable):
            raise TypeError(f"fail_on must be a collection of requests (a set or a list), got {shown(fail_on)}")
        self.fail_on = frozenset(fail_on)

    cancellable = True
    keeps_timeout = True

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        take(self.name, request, self.latency, timeout)
        if request in self.fail_on:
            raise SourceError(f"{self.name} failed on {shown(request)}")
        return f"Result from {self.name} for {request}"


class CpuSource(Source):
    """A source that burns pure-Python CPU for each request (``work`` loop steps): the GIL lesson's workload."""

    def __init__(self, name: str = "cpu", *, work: int = 100_000):
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.work = check_int("work", work)

    keeps_timeout = True  # it checks its deadline every 10,000 steps

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else clock() + timeout
        acc = len(repr(request))
        done = 0
        while done < self.work:
            step = min(10_000, self.work - done)
            for i in range(step):
                acc = (acc * 31 + i) % 1_000_003
            done += step
            if deadline is not None and clock() > deadline:
                raise TimeoutError(f"{self.name} did not finish {shown(request)} within {format_seconds(timeout)}")
        return f"Result from {self.name} for {request} ({acc})"


class FunctionSource(Source):
    """Wraps a plain callable ``f(request) -> value`` as a source.

    A plain function cannot be told to stop, so a ``timeout`` runs it on a shared daemon helper thread
    (``helper_threads``) and stops waiting for it at the deadline: the call is abandoned, logged and
    counted (``counters()["abandoned"]``, in ``Report.summary()``). While ``MAX_ABANDONED`` calls of
    the same function are still running (process-wide: every source, router and run of it counts),
    a new call is refused at once (``TimeoutError``, not started).
    ``Router(f, timeout=T)`` calls it inline on its workers instead, with the same rules (``ella_lab.deadlines``).
    """

    keeps_timeout = True

    def __init__(self, function: Callable[[Any], Any], name: str | None = None):
        if not callable(function):
            raise TypeError(f"source must be a Source or a callable f(request), got {shown(function)}")
        self.function = function
        self.name = name or getattr(function, "__name__", None) or type(function).__name__
        self.calls = Abandoned(function)  # calls left running past their timeout

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        if timeout is None:
            return self.function(request)
        return timed_call(self.function, request, check_timeout("timeout", timeout), self.name, self.calls)

    def counters(self) -> dict[str, int]:
        return {"abandoned": self.calls.abandoned}

    def __call__(self, request: Any) -> Any:
        return self.function(request)


class Call:
    """One call handed to ``HelperThreads``: wait for it with a bound, then take its answer or abandon it."""

    __slots__ = (
        "argument",
        "done",
        "finished",
        "function",
        "ok",
        "on_done",
        "owner",
        "report",
        "started",
        "state",
        "value",
    )

    def __init__(self, function: Callable[[Any], Any], argument: Any, on_done: Any, report: Any, owner: Any):
        self.function, self.argument, self.on_done, self.report, self.owner = function, argument, on_done, report, owner
        self.done = threading.Lock()
        self.done.acquire()  # released when the call has returned or raised
        self.state = _QUEUED
        self.ok, self.value, self.started, self.finished = False, None, 0.0, 0.0  # clock() times, 0: not yet

    def wait(self, timeout: float | None) -> bool:
        """Wait at most ``timeout`` seconds (``None``: as long as it takes); True if it has finished."""
        if self.done.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            self.done.release()
            return True
        return False

    def result(self) -> Any:
        """The call's return value, or its exception (any ``BaseException``) raised here."""
        if self.ok:
            return self.value
        raise self.value

    @classmethod
    def finished_with(cls, value: Any, report: Any) -> Call:
        """A call that never ran (refused before it started), finished with ``value`` and put in ``report``."""
        call = cls(None, None, None, report, None)  # type: ignore[arg-type]
        call.state, call.ok, call.value = _DONE, True, value
        call.started = call.finished = clock()
        call.done.release()
        report.put(call)
        return call


_QUEUED, _RUNNING, _DONE, _CANCELLED, _ABANDONED = range(5)
_CLOSE = object()  # tells an idle helper thread it may exit
MAX_ABANDONED = 64  # abandoned calls of one source still running, beyond which its new calls are refused


class Abandoned:
    """Abandoned calls of one source: how many ever (``abandoned``, its own), how many still running.

    ``running`` is process-wide per callable (``callable_key``): every source, router and run of one
    function shares it, so re-running a notebook cell cannot take more than ``MAX_ABANDONED`` threads
    for a function that hangs. Changed only through ``left`` and ``returned`` (one lock for all).
    """

    __slots__ = ("_running", "abandoned")

    def __init__(self, function: Any = None) -> None:
        self.abandoned = 0
        self._running = _running_for(None if function is None else callable_key(function))

    @property
    def running(self) -> int:
        return self._running[0]

    def left(self) -> None:
        """One more call abandoned, still running."""
        with _RUNNING_LOCK:
            self.abandoned += 1
            self._running[0] += 1

    def returned(self) -> None:
        """An abandoned call has returned."""
        with _RUNNING_LOCK:
            self._running[0] -= 1


_RUNNING: dict[tuple, list[int]] = {}  # callable_key -> [abandoned calls of it still running], process-wide
_RUNNING_LOCK = threading.Lock()


def _running_for(key: tuple | None) -> list[int]:
    if key is None:
        return [0]
    with _RUNNING_LOCK:
        return _RUNNING.setdefault(key, [0])


def callable_key(function: Any) -> tuple | None:
    """What names one callable across runs and re-run cells: a function by its code, else its type.

    A function defined again by re-running its cell keeps its key (same module and name, and a code
    object equal to the old one: same file, line, columns and bytecode); two lambdas written on one line
    have keys of their own (a hung one must not get its fallback refused). A bound method is keyed by
    its function, a ``functools.partial`` by what it wraps, a callable object or a ``Source`` by its
    class. ``None`` if the object will not say (its own counter, then).
    """
    try:
        for _ in range(8):  # unwrap partials and bound methods
            if isinstance(function, functools.partial):
                function = function.func
            elif isinstance(getattr(function, "__func__", None), Callable):  # type: ignore[arg-type]
                function = function.__func__
            else:
                break
        code = getattr(function, "__code__", None)
        qualname = getattr(function, "__qualname__", None)
        if code is not None and isinstance(qualname, str):
            return ("function", function.__module__, qualname, code.co_filename, code)
        if isinstance(qualname, str) and not isinstance(function, Source):  # a builtin: time.sleep
            return ("builtin", getattr(function, "__module__", None), qualname)
        kind = type(function)
        return ("type", kind.__module__, kind.__qualname__)
    except BaseException:  # an object whose attributes raise: it gets a counter of its own
        return None


class HelperThreads:
    """Daemon threads that run calls for callers that must be able to stop waiting: reused, never leaked.

    A call goes to an idle thread, or to a new one when all are busy (up to ``limit``, if given, of
    threads running calls someone waits for). A call its caller stops waiting for (``abandon``) keeps
    its thread until it returns, counted in its ``owner`` (an ``Abandoned``), and no longer counts
    against ``limit``. Idle threads exit after ``idle`` seconds. The threads are daemons: an abandoned
    call never blocks interpreter exit.
    """

    def __init__(self, name: str, *, limit: int | None = None, idle: float = 2.0):
        self.name = name
        self.limit = None if limit is None else check_int("limit", limit, minimum=1)
        self.idle = check_real("idle", idle)
        self._lock = threading.Lock()
        self._queue: SimpleQueue = SimpleQueue()
        self.threads = 0  # alive
        self._idle = 0  # waiting for work
        self._queued = 0  # handed in, not yet taken by a thread
        self.stuck = 0  # abandoned calls still running

    def start(
        self,
        function: Callable[[Any], Any],
        argument: Any,
        *,
        on_done: Any = None,
        report: Any = None,
        owner: Abandoned | None = None,
        urgent: bool = False,
    ) -> Call:
        """Run ``function(argument)`` on a helper thread; ``on_done(call)`` runs there after it, ``report`` gets it.

        ``limit`` bounds the threads running calls someone waits for: abandoned calls do not count. An
        ``urgent`` call (a hedge's second call) never waits behind them: with no thread free for it, it
        gets a thread of its own, beyond ``limit``, so calls that hang cannot starve the one that answers.
        """
        call = Call(function, argument, on_done, report, owner)
        with self._lock:
            if urgent and self._queued >= self._idle and self._spawn(call):
                return call
            self._queued += 1
            if self._queued > self._idle and (self.limit is None or self.threads - self.stuck < self.limit):
                self._spawn(None)
        self._queue.put(call)
        return call

    def saturated(self) -> bool:
        """Every thread allowed is busy and calls are waiting: a new call would queue behind them."""
        with self._lock:
            full = self.limit is not None and self.threads - self.stuck >= self.limit
            return full and self._idle < self._queued

    def _spawn(self, first: Call | None) -> bool:
        """Under the lock: start a thread, idle, or running ``first`` at once; False if none could start."""
        try:
            threading.Thread(target=self._work, args=(first,), name=f"ella-{self.name}", daemon=True).start()
        except RuntimeError:  # "can't start new thread": the call waits for a busy one
            log.warning("%s: no new helper thread could be started (%d alive)", self.name, self.threads)
            return False
        self.threads += 1
        if first is None:
            self._idle += 1
        else:
            first.state = _RUNNING
        return True

    def abandon(self, call: Call) -> str:
        """Stop waiting for ``call``: ``"cancelled"`` (it never started, and never will), ``"abandoned"``
        (it runs on, counted, until it returns) or ``"done"`` (it finished in the meantime)."""
        with self._lock:
            if call.state == _QUEUED:
                call.state = _CANCELLED
                return "cancelled"
            if call.state == _RUNNING:
                call.state = _ABANDONED
                self.stuck += 1
                if call.owner is not None:
                    call.owner.left()
                if self._queued > self._idle and self.limit is not None and self.threads - self.stuck < self.limit:
                    self._spawn(None)  # its thread no longer counts: a queued call may run now
                return "abandoned"
            return "done"

    def _work(self, call: Any = None) -> None:
        get, lock = self._queue.get, self._lock
        while True:
            if call is None:
                try:
                    call = get(timeout=self.idle)
                except Empty:
                    call = _CLOSE if self._queued < self._idle else None  # more idle threads than work
                if call is _CLOSE:
                    with lock:
                        if self._queued < self._idle:  # this one can go
                            self._idle -= 1
                            self.threads -= 1
                            return
                    call = None
                    continue
                if call is None:
                    continue
                with lock:
                    self._queued -= 1
                    if call.state == _CANCELLED:
                        call = None
                        continue
                    self._idle -= 1
                    call.state = _RUNNING
            call.started = clock()
            try:
                call.value = call.function(call.argument)
                call.ok = True
            except BaseException as exc:  # handed back to the caller: a helper thread never dies
                call.value = exc
            call.finished = clock()
            with lock:
                if call.state == _ABANDONED:
                    self.stuck -= 1
                    if call.owner is not None:
                        call.owner.returned()
                call.state = _DONE
                self._idle += 1
            call.done.release()
            if call.report is not None:
                call.report.put(call)
            if call.on_done is not None:
                try:
                    call.on_done(call)
                except BaseException:  # never kill the helper over a callback
                    log.exception("%s: a completion callback failed", self.name)
            call = None

    def close(self) -> None:
        """Let the idle threads go now; busy ones go once idle (the pool still takes new calls)."""
        for _ in range(self.threads):
            self._queue.put(_CLOSE)

    def __repr__(self) -> str:
        return f"HelperThreads({self.name!r}, threads={self.threads}, stuck={self.stuck})"


helper_threads = HelperThreads("call")
"""The helper threads behind every timeout on a plain callable (``FunctionSource``, ``call_with_timeout``)."""


def call_with_timeout(function: Callable[[Any], Any], argument: Any, timeout: float, *, name: str = "call") -> Any:
    """Return ``function(argument)``, or raise ``TimeoutError`` if it takes longer than ``timeout`` seconds.

    The call runs on one of the shared ``helper_threads``; on a timeout it is left to finish (or not)
    on its own. An answer that arrives after the deadline counts as a timeout too. At most
    ``MAX_ABANDONED`` abandoned calls of one function run at once, process-wide (``Abandoned``).
    """
    return timed_call(function, argument, check_timeout("timeout", timeout), name, Abandoned(function))


def timed_call(function: Callable[[Any], Any], argument: Any, timeout: float, name: str, owner: Abandoned) -> Any:
    """``call_with_timeout``, counting an abandoned call in ``owner``.

    While ``MAX_ABANDONED`` calls of ``owner`` are still running past their timeout, a new call is
    refused at once (``TimeoutError``, not started): a source that hangs for good holds a bounded
    number of threads, and cannot starve the helper threads of the other sources.
    """
    if owner.running >= MAX_ABANDONED:
        log.debug("%s: %d abandoned calls still running; %r not started", name, owner.running, Shown(argument))
        raise not_started(name, argument, timeout, owner.running)
    started = clock()
    call = helper_threads.start(function, argument, owner=owner)
    if not call.wait(timeout):
        if helper_threads.abandon(call) == "abandoned":
            log.warning("%s did not return within %s; abandoned", name, format_seconds(timeout))
        raise timed_out(name, argument, timeout)
    if call.finished - started > timeout:
        raise timed_out(name, argument, timeout)
    return call.result()


def as_source(source: object) -> Source:
    """Accept a ``Source``, anything with a ``fetch`` method, or a plain callable ``f(request)``."""
    if isinstance(source, Source):
        return source
    if callable(getattr(source, "fetch", None)):
        return _DuckSource(source)
    if callable(source):
        return FunctionSource(source)
    raise TypeError(f"source must be a Source or a callable f(request), got {shown(source)} ({type(source).__name__})")


class _DuckSource(Source):
    """Adapts a foreign object with ``fetch(request)`` (and maybe ``name``) to the ``Source`` protocol."""

    keeps_timeout = True

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = str(getattr(inner, "name", type(inner).__name__))
        self.calls = Abandoned(inner.fetch)  # calls left running past their timeout

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        if timeout is None:
            return self.inner.fetch(request)
        return timed_call(self.inner.fetch, request, check_timeout("timeout", timeout), self.name, self.calls)

    def counters(self) -> dict[str, int]:
        return {"abandoned": self.calls.abandoned}


def callable_behind(source: Source) -> Any:
    """What a call of ``source`` runs: a plain function, an adapted object's ``fetch``, else ``source`` itself."""
    if type(source) is FunctionSource:
        return source.function
    if type(source) is _DuckSource:
        return source.inner.fetch
    return source


def calls_of(source: Source) -> Abandoned:
    """The abandoned-call count of ``source``'s callable (a plain function's, else its class's), process-wide."""
    calls = getattr(source, "calls", None)
    return calls if isinstance(calls, Abandoned) else Abandoned(source)


def fetch_within(source: Source, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
    """``source.fetch(request, attempt=, timeout=)``, the timeout enforced whatever the source does with it.

    A source that ``keeps_timeout`` is called here; any other (a user's subclass whose ``fetch`` may
    sleep through its timeout) runs on a helper thread, under the caller's cancel scope, and the caller
    stops waiting at the deadline (``TimeoutError``; the call abandoned and counted, as for a plain callable).
    """
    if timeout is None or source.keeps_timeout:
        return source.fetch(request, attempt=attempt, timeout=timeout)
    scope = current_scope()
    call = functools.partial(_fetch_in_scope, source, scope, attempt, timeout)
    return timed_call(call, request, check_timeout("timeout", timeout), source.name, calls_of(source))


def _fetch_in_scope(source: Source, scope: CancelScope | None, attempt: int, timeout: float, request: Any) -> Any:
    if scope is None:
        return source.fetch(request, attempt=attempt, timeout=timeout)
    return run_in_scope(scope, source.fetch, request, attempt=attempt, timeout=timeout)
