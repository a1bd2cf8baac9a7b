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
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from ._checks import check_choice, check_int, check_real
from .fallback import AllSourcesFailed, Served
from .outcome import Attempt, quantile
from .retry import JITTER_MODES, Retry
from .sources import Source, SourceError, as_source, take
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


class CircuitOpenError(SourceError):
    """The breaker is open: the call was refused at once, without reaching the source."""


class CircuitBreaker(Source):
    """Stop calling a source that keeps failing, then let one trial call test whether it is back.

    Closed: calls pass; it trips open after ``failures`` failures in a row, or (with ``ratio``) when at
    least that fraction of the last ``window`` calls failed. Open: calls fail at once with
    ``CircuitOpenError`` for ``reset_after`` seconds. Half-open: exactly one trial call passes; its
    success closes the breaker, its failure opens it again. The lock guards the state only, never
    the call, so concurrent calls through a closed breaker run in parallel.
    """

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
        self.reset_after = check_real("reset_after", reset_after)
        self._lock = threading.Lock()
        self.state = CLOSED
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=self.window)
        self._opened_at = 0.0
        self._trial_running = False
        self.transitions: list[tuple[float, str, str]] = []  # (perf_counter time, from, to)
        self.rejected = 0  # calls refused while open: the calls the sick source was spared

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        with self._lock:
            trial = self._admit(request)
        try:
            value = self.source.fetch(request, attempt=attempt, timeout=timeout)
        except Exception:
            self._record(False, trial)
            raise
        self._record(True, trial)
        return value

    def _admit(self, request: Any) -> bool:
        """Under the lock: refuse the call, or let it through (True if it is the half-open trial)."""
        if self.state == OPEN and clock() - self._opened_at >= self.reset_after:
            self._move(HALF_OPEN)
        if self.state == OPEN or (self.state == HALF_OPEN and self._trial_running):
            self.rejected += 1
            raise CircuitOpenError(f"{self.name}: circuit {self.state}, {request!r} not sent")
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
        self.state = state
        if state == OPEN:
            self._opened_at = now
        elif state == CLOSED:
            self._consecutive = 0
            self._recent.clear()

    def children(self) -> tuple[Any, ...]:
        return (self.source,)

    def counters(self) -> dict[str, int]:
        return {"breaker_transitions": len(self.transitions), "breaker_rejected": self.rejected}

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.source!r}, failures={self.failures}, reset_after={self.reset_after!r})"


class RetryBudget:
    """Allow a retry only while retries stay under ``ratio`` of requests, plus a small ``floor``.

    One budget is shared by every worker (and every ``Retry`` that names it), as in the Google SRE
    book's per-client retry budget and Envoy's retry budgets: when a source fails for everyone, the
    retries stop at about ``ratio`` extra load instead of multiplying it by the number of attempts.
    """

    def __init__(self, ratio: float = 0.1, floor: int = 10):
        self.ratio = check_real("ratio", ratio)
        self.floor = check_int("floor", floor)
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.refused = 0

    def record_request(self) -> None:
        """Count a first attempt: each adds ``ratio`` to what may be retried."""
        with self._lock:
            self.requests += 1

    def try_retry(self) -> bool:
        """Spend one retry if the budget allows it; count a refusal if not."""
        with self._lock:
            if self.retries + 1 <= self.floor + self.ratio * self.requests:
                self.retries += 1
                return True
            self.refused += 1
            return False

    def counters(self) -> dict[str, int]:
        return {"retries_allowed": self.retries, "retries_refused": self.refused}

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio!r}, floor={self.floor})"


class HedgeAbandoned(Exception):
    """The other call of a hedged pair answered first; this one was left to finish on its own."""


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

    def value(self) -> float | None:
        """The quantile in seconds, or ``None`` during the warm-up; recomputed every ``refresh`` latencies."""
        with self._lock:
            if len(self._seen) < self.warmup:
                return None
            if self._value is None or self._fresh >= self.refresh:
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
    counted, never waited for. Calls run on a pool of ``max_workers`` threads owned by the hedge.
    """

    def __init__(
        self,
        primary: Any,
        backup: Any = None,
        *,
        after: float | str = "p95",
        warmup: int | None = None,
        window: int | None = None,
        max_workers: int = 256,
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
            self.after = check_real("after", after)
            self.threshold = None
        self._pool = ThreadPoolExecutor(
            check_int("max_workers", max_workers, minimum=2), thread_name_prefix="ella-hedge"
        )
        self._lock = threading.Lock()
        self.sent = 0  # second calls sent
        self.won = 0  # second calls that answered first
        self.abandoned = 0  # calls left running because the other one answered

    def delay(self) -> float | None:
        """Seconds to wait before hedging, or ``None`` (wait for the answer) during the warm-up."""
        if self.threshold is None:
            return self.after  # type: ignore[return-value]
        return self.threshold.value()

    def _observe(self, future: Future) -> None:
        _, error, started, finished = future.result()
        if error is None and self.threshold is not None:
            self.threshold.observe(finished - started)

    @staticmethod
    def _call(source: Source, request: Any, attempt: int, timeout: float | None) -> tuple:
        started = clock()
        try:
            return source.fetch(request, attempt=attempt, timeout=timeout), None, started, clock()
        except Exception as exc:  # handed back as data: the caller decides
            return None, exc, started, clock()

    def serve(self, request: Any, *, timeout: float | None = None, attempt: int = 0) -> Served:
        calls = {self._pool.submit(self._call, self.primary, request, attempt, timeout): (self.primary, attempt)}
        first = next(iter(calls))
        first.add_done_callback(self._observe)
        done, _ = wait(calls, timeout=self.delay())
        if not (done and first.result()[1] is None):  # slow, or already failed: send the second call
            source, number = (self.backup, attempt) if self.backup is not self.primary else (self.primary, attempt + 1)
            calls[self._pool.submit(self._call, source, request, number, timeout)] = (source, number)
            with self._lock:
                self.sent += 1
        attempts: list[Attempt] = []
        errors: list[Exception] = []
        pending = set(calls)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                source, number = calls[future]
                value, error, started, finished = future.result()
                attempts.append(Attempt(source.name, number, error, started, finished))
                if error is not None:
                    errors.append(error)
                    continue
                now = clock()
                for other in pending:  # the slower call: left to finish on its own
                    other_source, other_number = calls[other]
                    attempts.append(Attempt(other_source.name, other_number, HedgeAbandoned(), now, now))
                with self._lock:
                    self.abandoned += len(pending)
                    self.won += future is not first
                return Served(value, source.name, tuple(attempts))
        raise AllSourcesFailed(f"{self.name}: every call failed for {request!r}", errors, attempts)

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        return self.serve(request, timeout=timeout, attempt=attempt).value

    def close(self) -> None:
        """Stop the hedge's threads once their calls are done."""
        self._pool.shutdown(wait=True)

    def children(self) -> tuple[Any, ...]:
        return (self.primary, self.backup)

    def counters(self) -> dict[str, int]:
        return {"hedges_sent": self.sent, "hedges_won": self.won, "hedges_abandoned": self.abandoned}

    def __repr__(self) -> str:
        return f"Hedge({self.primary!r}, backup={self.backup!r}, after={self.after!r})"


class Outage(Source):
    """A source that is down from ``start`` to ``end`` seconds after ``begin()`` (or its creation).

    While down, a call fails after ``latency`` seconds (a refused connection: 0; a dead host: the
    caller's timeout) with ``SourceError``; otherwise it is passed to the wrapped source.
    """

    def __init__(self, source: Any, *, start: float, end: float, latency: float = 0.0):
        self.source = as_source(source)
        self.name = self.source.name
        self.start = check_real("start", start)
        self.end = check_real("end", end, minimum=self.start)
        self.latency = check_real("latency", latency)
        self.begin()

    def begin(self) -> None:
        """Start the outage clock now."""
        self.t0 = clock()

    def down(self) -> bool:
        return self.start <= clock() - self.t0 < self.end

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        if not self.down():
            return self.source.fetch(request, attempt=attempt, timeout=timeout)
        take(self.name, request, self.latency, timeout)
        raise SourceError(f"{self.name} is down (outage), {request!r} failed")

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
    check_int("clients", clients, minimum=1)
    check_choice("jitter", jitter, JITTER_MODES)
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
