"""Resilience beyond the guide: circuit breaker, retry budget, hedged requests, outages, contention.

Each pattern is a small, thread-safe part that composes with ``FallbackChain`` and ``Router``:
``CircuitBreaker`` and ``Outage`` wrap a source, ``Hedge`` is a source built from one or two
others, and ``RetryBudget`` is shared by ``Retry`` policies (``Retry(attempts=3, budget=...)``).
Their event counts (trips, hedges, refused retries) show up in ``Report.summary()``.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
from collections import deque
from collections.abc import Iterable
from queue import Empty, SimpleQueue
from typing import Any

from ._checks import check_choice, check_int, check_real, check_seconds
from ._shown import shown
from .fallback import AllSourcesFailed, Served
from .outcome import Attempt, quantile
from .retry import JITTER_MODES, Retry
from .sources import (
    MAX_ABANDONED,
    Abandoned,
    Call,
    CallCancelled,
    CancelScope,
    HelperThreads,
    Source,
    SourceError,
    as_source,
    callable_behind,
    fetch_within,
    not_started,
    run_in_scope,
    take,
    timed_out,
)
from .timing import clock

__all__ = [
    "CircuitBreaker",
    "CircuitOpenError",
    "Hedge",
    "HedgeAbandoned",
    "LatencyThreshold",
    "Outage",
    "RetryBudget",
    "contention",
]

log = logging.getLogger("ella_lab")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
HISTORY = 1000  # transitions a breaker keeps (the count covers them all)


class CircuitOpenError(SourceError):
    """The breaker is open: the call was refused at once, without reaching the source."""


class CircuitBreaker(Source):
    """Stop calling a source that keeps failing, then let one trial call test whether it is back.

    Closed: calls pass; it trips open after ``failures`` failures in a row, or (with ``ratio``) when at
    least that fraction of the last ``window`` calls failed. Open: calls fail at once with
    ``CircuitOpenError`` for ``reset_after`` seconds. Half-open: exactly one trial call passes; its
    success closes the breaker, its failure opens it again; an interrupted trial (a ``BaseException``)
    lets the next call be the trial. ``transitions`` keeps the last 1,000 state changes, ``moves``
    counts them all. The lock guards the state only, never the call, so concurrent calls through a
    closed breaker run in parallel. A timeout holds whatever the wrapped source does (``fetch_within``).
    """

    keeps_timeout = True

    def __init__(
        self,
        source: Any,
        *,
        failures: int = 5,
        ratio: float | None = None,
        window: int = 20,
        reset_after: float = 1.0,
        name: str | None = None,
    ):
        self.source = as_source(source)
        self.name = name or self.source.name
        self.failures = check_int("failures", failures, minimum=1)
        self.ratio = None if ratio is None else check_real("ratio", ratio, maximum=1.0)
        if self.ratio == 0:
            raise ValueError("ratio must be > 0 or None, got 0.0")
        self.window = check_int("window", window, minimum=1)
        self.reset_after = check_seconds("reset_after", reset_after)
        self._lock = threading.Lock()
        self.state = CLOSED
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=self.window)
        self._opened_at = 0.0
        self._trial_running = False
        # (perf_counter time, from, to): the last HISTORY transitions; ``moves`` counts them all
        self.transitions: deque[tuple[float, str, str]] = deque(maxlen=HISTORY)
        self.moves = 0
        self.rejected = 0  # calls refused while open: the calls the sick source was spared

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        with self._lock:
            trial = self._admit(request)
        try:
            value = fetch_within(self.source, request, attempt=attempt, timeout=timeout)
        except Exception:
            self._record(False, trial)
            raise
        except BaseException:  # interrupted (Ctrl-C): says nothing of the source, but frees the trial slot
            if trial:
                with self._lock:
                    self._trial_running = False
            raise
        self._record(True, trial)
        return value

    def _admit(self, request: Any) -> bool:
        """Under the lock: refuse the call, or let it through (True if it is the half-open trial)."""
        if self.state == OPEN and clock() - self._opened_at >= self.reset_after:
            self._move(HALF_OPEN)
        if self.state == OPEN or (self.state == HALF_OPEN and self._trial_running):
            self.rejected += 1
            raise CircuitOpenError(f"{self.name}: circuit {self.state}, {shown(request)} not sent")
        if self.state == HALF_OPEN:
            self._trial_running = True
            return True
        return False

    def _record(self, ok: bool, trial: bool) -> None:
        with self._lock:
            if trial:
                self._trial_running = False
                self._move(CLOSED if ok else OPEN)
                return
            if self.state != CLOSED:  # a late answer to a call made before the breaker tripped
                return
            self._consecutive = 0 if ok else self._consecutive + 1
            self._recent.append(ok)
            too_many = self._consecutive >= self.failures
            too_often = (
                self.ratio is not None
                and len(self._recent) == self.window
                and self._recent.count(False) >= self.ratio * self.window
            )
            if too_many or too_often:
                self._move(OPEN)

    def _move(self, state: str) -> None:
        now = clock()
        log.info("circuit %s: %s -> %s", self.name, self.state, state)
        self.transitions.append((now, self.state, state))
        self.moves += 1
        self.state = state
        if state == OPEN:
            self._opened_at = now
        elif state == CLOSED:
            self._consecutive = 0
            self._recent.clear()

    def children(self) -> tuple[Any, ...]:
        return (self.source,)

    def counters(self) -> dict[str, int]:
        return {"breaker_transitions": self.moves, "breaker_rejected": self.rejected}

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.source!r}, failures={self.failures}, reset_after={self.reset_after!r})"


class RetryBudget:
    """Allow a retry only while there is a token: each request adds ``ratio`` of one, each retry spends one.

    The bucket holds at most ``cap`` tokens (it starts full), so a long healthy history cannot be
    banked: when a source then fails for everyone, at most ``cap`` retries go out at once, then
    about ``ratio`` per request, instead of (attempts - 1) per request. One budget is shared by every
    worker and every ``Retry`` that names it. A capped bucket, in the spirit of gRPC's retry
    throttling (which refills on successes and stops retries below half its tokens) and Finagle's
    retry budget (whose deposits expire after a time-to-live). ``floor`` is the old name of ``cap``. ``tokens`` is
    what the bucket starts with (default: full).
    Tokens are counted in millionths, so ten requests at ratio 0.1 make exactly one retry.
    """

    _UNIT = 1_000_000

    def __init__(
        self, ratio: float = 0.1, cap: float | None = None, *, floor: float | None = None, tokens: float | None = None
    ):
        if cap is not None and floor is not None:
            raise TypeError("give cap or its old name floor, not both")
        self.ratio = check_real("ratio", ratio, maximum=1000.0)
        size = 10.0 if cap is None and floor is None else (cap if cap is not None else floor)
        self.cap = check_real("cap", size, maximum=1e9)
        self._lock = threading.Lock()
        self._deposit = round(self.ratio * self._UNIT)
        self._full = round(self.cap * self._UNIT)
        self._tokens = self._full
        if tokens is not None:  # a bucket that starts with fewer tokens than it can hold (empty: 0)
            self._tokens = round(check_real("tokens", tokens, maximum=self.cap) * self._UNIT)
        self.requests = 0
        self.retries = 0
        self.refused = 0

    @property
    def tokens(self) -> float:
        """The tokens in the bucket now (one buys a retry)."""
        return self._tokens / self._UNIT

    @tokens.setter
    def tokens(self, value: float) -> None:
        value = check_real("tokens", value, maximum=self.cap)
        with self._lock:
            self._tokens = round(value * self._UNIT)

    @property
    def floor(self) -> float:
        return self.cap

    def record_request(self) -> None:
        """Count a first attempt: it adds ``ratio`` of a token, up to ``cap``."""
        with self._lock:
            self.requests += 1
            self._tokens = min(self._full, self._tokens + self._deposit)

    def try_retry(self) -> bool:
        """Spend one token on a retry if there is one; count a refusal if not."""
        with self._lock:
            if self._tokens >= self._UNIT:
                self._tokens -= self._UNIT
                self.retries += 1
                return True
            self.refused += 1
            return False

    def counters(self) -> dict[str, int]:
        return {"retries_allowed": self.retries, "retries_refused": self.refused}

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio!r}, cap={self.cap!r})"


class HedgeAbandoned(Exception):
    """The other call of a hedged pair answered first; this one was left to finish on its own."""


_GRACE = 0.05  # seconds a hedged call that ignores its timeout is given past it, before it is abandoned


class LatencyThreshold:
    """The ``q`` quantile of the last ``window`` latencies seen: how long ``Hedge(after="pNN")`` waits.

    Warm-up rule: no threshold (so no hedging) until ``warmup`` latencies are known, by default
    ``ceil(10 / (1 - q))`` (20 for p50, 200 for p95, 1,000 for p99), so that about ten of them lie
    above the quantile: a p99 guessed from 20 calls is the slowest of them, and swings from run to run.
    The window keeps five warm-ups (at least 1,000), about 50 latencies above the quantile, so that a
    burst of fast answers (slow calls finish last) cannot drag it down. ``calibrate()`` loads an
    earlier run's latencies, for a hedge that must start warm. Thread-safe.
    """

    def __init__(self, q: float, *, window: int | None = None, warmup: int | None = None, refresh: int = 32):
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise ValueError(f"q must be a number strictly between 0 and 1, got {q!r}")
        self.q = float(q)
        self.warmup = math.ceil(10 / (1 - self.q) - 1e-9) if warmup is None else check_int("warmup", warmup, minimum=1)
        size = max(1000, 5 * self.warmup) if window is None else check_int("window", window, minimum=1)
        if size < self.warmup:
            raise ValueError(f"window must hold the warmup's {self.warmup} latencies, got window={size}")
        self.refresh = check_int("refresh", refresh, minimum=1)
        self._seen: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._value: float | None = None
        self._fresh = 0  # latencies seen since the quantile was last computed

    @property
    def window(self) -> int:
        return self._seen.maxlen  # type: ignore[return-value]

    def observe(self, seconds: float) -> None:
        """Record one latency (seconds)."""
        with self._lock:
            self._seen.append(seconds)
            self._fresh += 1

    def calibrate(self, latencies: Iterable[float]) -> None:
        """Record the latencies of an earlier run (its last ``window`` of them), as if observed now."""
        for seconds in latencies:
            self.observe(check_real("latencies", seconds))

    def value(self, *, fresh: bool = False) -> float | None:
        """The quantile in seconds, or ``None`` during the warm-up; recomputed every ``refresh`` latencies
        (cheap on the hot path), or now with ``fresh=True`` (to read the window's own quantile after a run)."""
        with self._lock:
            if len(self._seen) < self.warmup:
                return None
            if self._value is None or fresh or self._fresh >= self.refresh:
                self._value = quantile(sorted(self._seen), self.q)
                self._fresh = 0
            return self._value

    def __len__(self) -> int:
        return len(self._seen)

    def __repr__(self) -> str:
        return f"LatencyThreshold(q={self.q!r}, window={self.window}, warmup={self.warmup}, seen={len(self)})"


class Hedge(Source):
    """Send a second call when the first has not answered after ``after`` seconds; take the first success.

    ``after`` is a delay in seconds, or ``"p95"`` (any ``"pNN"``): that percentile of the primary's
    recent latencies, kept by ``self.threshold`` (a ``LatencyThreshold``: no hedging during its warm-up,
    ``threshold.calibrate()`` starts it warm). The second call goes
    to ``backup``, or to the primary again (as its next attempt). The slower call is abandoned and
    counted, never waited for. A ``timeout`` bounds the whole hedged call: a call still running
    past it (plus a 50 ms grace) is abandoned as a ``TimeoutError``. Calls run on daemon threads owned
    by the hedge (an abandoned call never blocks interpreter exit), at most ``max_workers`` of them for
    the calls some request waits for.
    ``max_extra`` (say 0.05) caps the second calls at that fraction of the requests, as Finagle's
    backup requests do. The losing call is called off where its source can stop (a simulated source
    stops sleeping, an HTTP source closes its socket: ``hedges_cancelled``) and left to finish,
    counted, where it cannot (``hedges_abandoned``).

    Hung calls cannot starve the calls that would answer, timeout or not: an abandoned call no longer
    counts against ``max_workers``; a second call never waits behind the others (with no thread free it
    gets one of its own), nor does a primary queued behind busy threads wait ``after`` to be hedged; and
    while ``MAX_ABANDONED`` abandoned calls of one callable still run (process-wide; a source that can be
    called off is not capped), its new calls are refused at once and the other side answers.
    """

    keeps_timeout = True  # bounded by the timeout, plus a 50 ms grace
    _composite = True

    def __init__(
        self,
        primary: Any,
        backup: Any = None,
        *,
        after: float | str = "p95",
        warmup: int | None = None,
        window: int | None = None,
        max_workers: int = 256,
        max_extra: float | None = None,
        name: str | None = None,
    ):
        self.primary = as_source(primary)
        self.backup = self.primary if backup is None else as_source(backup)
        self.name = name or f"hedge({self.primary.name})"
        if isinstance(after, str):
            if not (after.startswith("p") and after[1:].replace(".", "", 1).isdigit() and 0 < float(after[1:]) < 100):
                raise ValueError(f"after must be seconds or a percentile like 'p95', got {after!r}")
            self.after: float | str = after
            self.threshold: LatencyThreshold | None = LatencyThreshold(
                float(after[1:]) / 100, window=window, warmup=warmup
            )
        else:
            self.after = check_seconds("after", after)
            self.threshold = None
        workers = check_int("max_workers", max_workers, minimum=2)
        self._pool = HelperThreads("hedge", limit=workers)
        self._lock = threading.Lock()
        # each side's abandoned calls, process-wide per callable: counted toward MAX_ABANDONED, reported as hedges_*
        self._calls = {id(s): _abandoned_calls(s) for s in (self.primary, self.backup)}
        self.sent = 0  # second calls sent
        self.won = 0  # second calls that answered first
        self.abandoned = 0  # calls left running because the other one answered
        self.overdue = 0  # calls left running past the timeout
        self.cancelled = 0  # losing calls called off (their source stops early: a sleep, a socket)
        self.refused = 0  # second calls not sent: the extra-call budget was spent
        if max_extra is None:
            self.max_extra, self._extra = None, None
        else:
            self.max_extra = check_real("max_extra", max_extra, maximum=1.0)
            # a bucket of extra calls that starts empty: each request adds max_extra of one, a second call
            # spends one, so the extra calls never exceed max_extra x the requests so far; it holds at most
            # 10, enough for a short burst of slow calls, too little to bank a long quiet spell
            self._extra = RetryBudget(ratio=self.max_extra, cap=10.0)
            self._extra.tokens = 0

    def delay(self) -> float | None:
        """Seconds to wait before hedging, or ``None`` (wait for the answer) during the warm-up."""
        if self.threshold is None:
            return self.after  # type: ignore[return-value]
        return self.threshold.value()

    def _observe(self, future: Any) -> None:
        """Record the primary's latency. A primary called off because the hedge won was slower than the
        threshold: its time so far is recorded too (a lower bound, above the threshold), else the slow calls
        would go unseen and the learned percentile would fall run after run."""
        _, error, started, finished = future.result()
        if self.threshold is not None and (error is None or isinstance(error, CallCancelled)):
            self.threshold.observe(finished - started)

    @staticmethod
    def _call(source: Source, request: Any, attempt: int, timeout: float | None, scope: CancelScope) -> tuple:
        started = clock()
        try:
            value = run_in_scope(scope, source.fetch, request, attempt=attempt, timeout=timeout)
            return value, None, started, clock()
        except BaseException as exc:  # handed back as data: the caller decides (a BaseException too)
            return None, exc, started, clock()

    def serve(self, request: Any, *, timeout: float | None = None, attempt: int = 0) -> Served:
        if self._extra is not None:
            self._extra.record_request()
        return _HedgedCall(self, request, timeout, attempt).run()

    def _may_send_second(self) -> bool:
        """Whether the extra-call budget (``max_extra``) allows one more second call."""
        if self._extra is None or self._extra.try_retry():
            return True
        with self._lock:
            self.refused += 1
        return False

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        return self.serve(request, timeout=timeout, attempt=attempt).value

    def close(self) -> None:
        """Let the hedge's idle threads go now (the others go once their calls return)."""
        self._pool.close()

    def children(self) -> tuple[Any, ...]:
        return (self.primary, self.backup)

    def counters(self) -> dict[str, int]:
        counts = {
            "hedges_sent": self.sent,
            "hedges_won": self.won,
            "hedges_abandoned": self.abandoned,
            "hedges_cancelled": self.cancelled,
            "hedges_refused": self.refused,
        }
        if self.overdue:
            counts["abandoned"] = self.overdue
        return counts

    def __repr__(self) -> str:
        return f"Hedge({self.primary!r}, backup={self.backup!r}, after={self.after!r})"


def _abandoned_calls(source: Source) -> Abandoned:
    """The count a hedge keeps of ``source``'s abandoned calls: process-wide per callable, except for a source
    that can be called off (its losers return at once: a count of its own, never near the cap)."""
    return Abandoned(None if getattr(source, "cancellable", False) else callable_behind(source))


class _HedgedCall:
    """One request through a ``Hedge``: its calls, their deadlines, and every wait bounded by them."""

    def __init__(self, hedge: Hedge, request: Any, timeout: float | None, attempt: int):
        self.hedge, self.request, self.timeout, self.attempt = hedge, request, timeout, attempt
        self.began = clock()
        self.deadline = None if timeout is None else self.began + timeout
        self.finished: SimpleQueue = SimpleQueue()  # each call puts itself here when it returns
        self.calls: dict[Any, tuple[Source, int]] = {}
        self.scopes: dict[Any, CancelScope] = {}
        self.attempts: list[Attempt] = []
        self.errors: list[Exception] = []
        self.fatal: list[BaseException] = []  # BaseExceptions that are not Exceptions
        self._reported: set = set()  # calls whose answer this request has taken
        self.first = self._send(hedge.primary, attempt, observe=True)
        self.hedged = False

    def _send(self, source: Source, number: int, *, observe: bool = False, urgent: bool = False) -> Any:
        hedge, request = self.hedge, self.request
        limit = None if self.deadline is None else max(1e-3, self.deadline - clock())
        scope = CancelScope()
        owner = hedge._calls[id(source)]
        if owner.running >= MAX_ABANDONED:  # this side hangs for good: refused at once, the other side answers
            error = not_started(source.name, request, limit, owner.running)
            call = Call.finished_with((None, error, clock(), clock()), self.finished)
        else:
            call = hedge._pool.start(
                lambda _: hedge._call(source, request, number, limit, scope),
                None,
                on_done=hedge._observe if observe else None,
                report=self.finished,
                owner=owner,
                urgent=urgent,
            )
        self.calls[call] = (source, number)
        self.scopes[call] = scope
        return call

    def _hedge(self) -> None:
        """Send the second call (once), unless the time is already up or the extra-call budget is spent."""
        if self.hedged or (self.deadline is not None and clock() >= self.deadline):
            return
        hedge = self.hedge
        self.hedged = True
        if not hedge._may_send_second():
            return
        if hedge.backup is not hedge.primary:
            self._send(hedge.backup, self.attempt, urgent=True)
        else:
            self._send(hedge.primary, self.attempt + 1, urgent=True)
        with hedge._lock:
            hedge.sent += 1

    def run(self) -> Served:
        hedge, pending = self.hedge, set(self.calls)
        delay = hedge.delay()
        hedge_at = None if delay is None else clock() + delay
        first = self.first
        while pending:
            wake = [] if self.deadline is None else [self.deadline + _GRACE]
            if not self.hedged and hedge_at is not None:
                wake.append(hedge_at)
            try:
                call = self.finished.get(timeout=max(0.0, min(wake) - clock()) if wake else None)
            except Empty:
                now = clock()
                if self.deadline is not None and now >= self.deadline + _GRACE:
                    self._give_up(pending, now)
                    break
                if hedge_at is not None and not first.wait(0):  # the primary has not answered yet
                    queued = not first.started and hedge._pool.saturated()  # behind calls that may hang
                    if not queued and (not first.started or now < first.started + delay):  # nor run ``delay``
                        hedge_at = (first.started or now) + delay
                        continue
                    self._hedge()
                hedge_at = None  # hedged, or the primary's answer is on its way
                pending = set(self.calls) - self._reported
                continue
            if call not in pending:  # a call this request already gave up on
                continue
            pending.discard(call)
            self._reported.add(call)
            source, number = self.calls[call]
            value, error, started, finished = call.result()
            self.attempts.append(Attempt(source.name, number, error, started, finished))
            if error is None:
                return self._won(call, value, source, pending)
            if isinstance(error, Exception):
                self.errors.append(error)
            else:
                self.fatal.append(error)
            self._hedge()  # a failed call is hedged at once
            pending = set(self.calls) - self._reported
        if self.fatal and not self.errors:
            raise self.fatal[0]
        raise AllSourcesFailed(f"{hedge.name}: every call failed for {shown(self.request)}", self.errors, self.attempts)

    def _won(self, call: Any, value: Any, source: Source, pending: set) -> Served:
        hedge, now = self.hedge, clock()
        cancelled = 0
        for other in pending:  # the slower call: called off where its source can stop, else left to finish
            other_source, other_number = self.calls[other]
            self.scopes[other].cancel()
            cancelled += bool(getattr(other_source, "cancellable", False))
            hedge._pool.abandon(other)
            self.attempts.append(Attempt(other_source.name, other_number, HedgeAbandoned(), now, now))
        with hedge._lock:
            hedge.cancelled += cancelled
            hedge.abandoned += len(pending) - cancelled
            hedge.won += call is not self.first
        return Served(value, source.name, tuple(self.attempts))

    def _give_up(self, pending: set, now: float) -> None:
        """The time is up: every call still running is abandoned, as a ``TimeoutError``."""
        hedge = self.hedge
        for call in pending:
            source, number = self.calls[call]
            hedge._pool.abandon(call)
            error = timed_out(source.name, self.request, self.timeout)
            self.errors.append(error)
            self.attempts.append(Attempt(source.name, number, error, self.began, now))
        with hedge._lock:
            hedge.overdue += len(pending)


class Outage(Source):
    """A source that is down from ``start`` to ``end`` seconds after ``begin()`` (or its creation).

    While down, a call fails after ``latency`` seconds (a refused connection: 0; a dead host: the
    caller's timeout) with ``SourceError``; otherwise it is passed to the wrapped source.
    """

    keeps_timeout = True

    def __init__(self, source: Any, *, start: float, end: float, latency: float = 0.0):
        self.source = as_source(source)
        self.name = self.source.name
        self.start = check_seconds("start", start)
        self.end = check_seconds("end", end, minimum=self.start)
        self.latency = check_seconds("latency", latency)
        self.begin()

    def begin(self) -> None:
        """Start the outage clock now."""
        self.t0 = clock()

    def down(self) -> bool:
        return self.start <= clock() - self.t0 < self.end

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        if not self.down():
            return fetch_within(self.source, request, attempt=attempt, timeout=timeout)
        take(self.name, request, self.latency, timeout)
        raise SourceError(f"{self.name} is down (outage), {shown(request)} failed")

    def children(self) -> tuple[Any, ...]:
        return (self.source,)


def contention(
    clients: int = 100,
    *,
    jitter: str = "full",
    base: float = 0.005,
    cap: float = 1.0,
    service: float = 0.001,
    seed: int = 0,
    backoff: bool = True,
) -> dict[str, float]:
    """Clients that all start at once, competing for a resource that serves one call at a time.

    A call that arrives while another is being served (for ``service`` seconds) fails, and its
    client retries after ``Retry(base=base, cap=cap, jitter=jitter).delay(n, client)`` (or, with
    ``backoff=False``, after ``base`` every time). A deterministic event simulation, no threads
    and no sleeping: it returns the total calls, the calls per client, and the time the last
    client succeeded (Brooker, "Exponential Backoff and Jitter", 2015).
    """
    if check_int("clients", clients, minimum=1) > 1_000_000:
        raise ValueError(f"clients must be <= 1000000, got {clients!r}")
    check_choice("jitter", jitter, JITTER_MODES)
    service = check_seconds("service", service)
    policy = Retry(attempts=2, base=base, cap=cap, jitter=jitter, seed=seed)
    events = [(0.0, client, 0) for client in range(clients)]  # (time, client, retries so far)
    heapq.heapify(events)
    busy_until, calls, finished = 0.0, 0, 0.0
    while events:
        now, client, retries = heapq.heappop(events)
        calls += 1
        if now >= busy_until:
            busy_until = now + service
            finished = now + service
            continue
        wait_s = policy.delay(retries + 1, client) if backoff else base
        heapq.heappush(events, (now + wait_s, client, retries + 1))
        if calls > 10_000_000:  # a safety net for absurd settings, never reached by sensible ones
            raise RuntimeError("contention: more than 10 million calls; use fewer clients or a larger cap")
    return {"clients": clients, "calls": calls, "calls_per_client": calls / clients, "completion_s": finished}
