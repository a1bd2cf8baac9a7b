"""Overload controls: client-side adaptive throttling and adaptive concurrency limits.

Each control is a small decision object that takes the time as an argument (so the simulator in
``ella_lab.sim`` drives the very same decisions in simulated time) and a ``Source`` wrapper that
applies it to real calls, composing with ``FallbackChain``, ``Retry`` and ``Router``:

- ``AdaptiveThrottle``: the Google SRE book's client-side throttling ("Handling Overload"): reject
  locally with probability ``max(0, (requests - k * accepts) / (requests + 1))`` over a recent window.
- ``ConcurrencyLimit``: at most ``limit`` calls in flight, the limit adapting to what the source
  can take: ``AIMD`` (add on success, multiply down on overload) or ``Gradient`` (Netflix
  concurrency-limits: ``new = limit * min_rtt / rtt + sqrt(limit)``).

A refusal is a failed attempt (``Throttled``, ``LimitExceeded``: both ``SourceError``), never a lost request.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from typing import Any

from ._checks import check_int, check_real
from ._draw import draw
from ._shown import shown
from .sources import Source, SourceError, as_source, fetch_within
from .timing import clock

__all__ = [
    "AIMD",
    "AdaptiveThrottle",
    "ConcurrencyLimit",
    "Gradient",
    "LimitExceeded",
    "ThrottleWindow",
    "Throttled",
]

log = logging.getLogger("ella_lab")

OVERLOAD = (TimeoutError, SourceError)  # what counts as "the source did not accept the call"


class Throttled(SourceError):
    """Refused by the client's adaptive throttle, without reaching the source (never retried at once)."""

    retryable = False


class LimitExceeded(SourceError):
    """Refused by a concurrency limit: too many calls already in flight (never retried at once)."""

    retryable = False


class ThrottleWindow:
    """Requests and accepts over the last ``window`` seconds, in ``buckets`` slices; the SRE throttling rule.

    ``probability(now)`` is the chance of rejecting the next request locally. Time is passed in,
    so real sources and the simulator share this code.
    """

    def __init__(self, *, k: float = 2.0, window: float = 2.0, buckets: int = 20):
        self.k = check_real("k", k, minimum=1.0, maximum=100.0)
        self.window = check_real("window", window, maximum=3600.0)
        if self.window <= 0:
            raise ValueError(f"window must be > 0 seconds, got {window!r}")
        self.buckets = check_int("buckets", buckets, minimum=1)
        self._width = self.window / self.buckets
        self._slices: deque[list] = deque()  # [slice number, requests, accepts], oldest first

    def _slice(self, now: float) -> list:
        number = math.floor(now / self._width)
        while self._slices and self._slices[0][0] <= number - self.buckets:
            self._slices.popleft()
        if not self._slices or self._slices[-1][0] != number:
            self._slices.append([number, 0, 0])
        return self._slices[-1]

    def counts(self, now: float) -> tuple[int, int]:
        """(requests, accepts) in the window ending at ``now``."""
        self._slice(now)
        return sum(s[1] for s in self._slices), sum(s[2] for s in self._slices)

    def probability(self, now: float) -> float:
        if not math.isfinite(now):
            raise ValueError(f"now must be a finite time in seconds, got {now!r}")
        requests, accepts = self.counts(now)
        return max(0.0, (requests - self.k * accepts) / (requests + 1))

    def record_request(self, now: float) -> None:
        self._slice(now)[1] += 1

    def record_accept(self, now: float) -> None:
        self._slice(now)[2] += 1


class AdaptiveThrottle(Source):
    """Reject calls locally when the source has been accepting too few of them (SRE client-side throttling).

    With ``k = 2`` the client sends up to twice what the source accepts: while it is healthy nothing
    is rejected; when it accepts nothing, almost every call is refused here, at no cost to it. The
    draw for each call is fixed by (seed, name, request, attempt), so runs with the same counts repeat.
    """

    keeps_timeout = True  # the wrapped source is called through fetch_within

    def __init__(
        self,
        source: Any,
        *,
        k: float = 2.0,
        window: float = 2.0,
        seed: int = 0,
        overload: tuple[type[BaseException], ...] = OVERLOAD,
        name: str | None = None,
    ):
        self.source = as_source(source)
        self.name = name or self.source.name
        self.window = ThrottleWindow(k=k, window=window)
        self.seed = check_int("seed", seed, minimum=-(2**63))
        self.overload = _exception_types("overload", overload)
        self._lock = threading.Lock()
        self.rejected = 0

    def admit(self, request: Any, attempt: int, now: float | None = None) -> bool:
        """Count the request and decide: True to send it, False to refuse it here (``now``: default the clock)."""
        with self._lock:  # the clock is read under the lock, so the window's slices stay in time order
            now = clock() if now is None else now
            p = self.window.probability(now)
            self.window.record_request(now)
            if p > 0 and draw(self.seed, "throttle", self.name, request, attempt) < p:
                self.rejected += 1
                return False
            return True

    def record(self, accepted: bool, now: float | None = None) -> None:
        if accepted:
            with self._lock:
                self.window.record_accept(clock() if now is None else now)

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        if not self.admit(request, attempt):
            raise Throttled(f"{self.name}: throttled {shown(request)} (the source accepts too few calls)")
        try:
            value = fetch_within(self.source, request, attempt=attempt, timeout=timeout)
        except self.overload:
            raise
        except Exception:
            self.record(True)  # it answered, with an error of the request's own
            raise
        self.record(True)
        return value

    def children(self) -> tuple[Any, ...]:
        return (self.source,)

    def counters(self) -> dict[str, int]:
        return {"throttled": self.rejected}

    def __repr__(self) -> str:
        return f"AdaptiveThrottle({self.source!r}, k={self.window.k!r}, window={self.window.window!r})"


class AIMD:
    """Additive increase, multiplicative decrease: +``increase`` after a success while the limit is in use,
    times ``decrease`` after an overload (a timeout or a refusal). TCP's congestion rule, as in Netflix's AIMDLimit.
    """

    def __init__(
        self,
        initial: float = 10,
        *,
        minimum: float = 1,
        maximum: float = 200,
        increase: float = 1.0,
        decrease: float = 0.9,
    ):
        self.minimum = check_real("minimum", minimum, minimum=1.0, maximum=1e6)
        self.maximum = check_real("maximum", maximum, minimum=self.minimum, maximum=1e6)
        self.initial = check_real("initial", initial, minimum=self.minimum, maximum=self.maximum)
        self.increase = check_real("increase", increase, maximum=1e6)
        self.decrease = check_real("decrease", decrease, minimum=0.01, maximum=1.0)
        if self.decrease >= 1.0:
            raise ValueError(f"decrease must be < 1, got {decrease!r}")

    def update(self, limit: float, rtt: float, ok: bool, inflight: int) -> float:
        """The new limit after one call that took ``rtt`` seconds with ``inflight`` calls in flight."""
        if not ok:
            limit *= self.decrease
        elif 2 * inflight >= limit:  # grow only when the limit is what holds the calls back
            limit += self.increase
        return min(self.maximum, max(self.minimum, limit))

    def __repr__(self) -> str:
        return f"AIMD({self.initial:g}, minimum={self.minimum:g}, maximum={self.maximum:g}, decrease={self.decrease:g})"


class Gradient:
    """The latency gradient, as in Netflix's GradientLimit and Envoy's adaptive concurrency filter.

    ``new = limit * min_rtt / rtt + sqrt(limit)``.

    When calls are as fast as the fastest seen, the limit grows by about ``sqrt(limit)`` (room for a
    queue); when latency rises, it shrinks in proportion. ``smoothing`` blends the new value in. An
    overload counts as a call as slow as twice the slowest recent one. ``min_rtt`` is the smallest
    latency of the last ``window`` calls, so it can rise again when the source really slows down.
    """

    def __init__(
        self,
        initial: float = 10,
        *,
        minimum: float = 1,
        maximum: float = 200,
        smoothing: float = 0.2,
        window: int = 100,
    ):
        self.minimum = check_real("minimum", minimum, minimum=1.0, maximum=1e6)
        self.maximum = check_real("maximum", maximum, minimum=self.minimum, maximum=1e6)
        self.initial = check_real("initial", initial, minimum=self.minimum, maximum=self.maximum)
        self.smoothing = check_real("smoothing", smoothing, maximum=1.0)
        if self.smoothing <= 0:
            raise ValueError(f"smoothing must be > 0, got {smoothing!r}")
        self._recent: deque[float] = deque(maxlen=check_int("window", window, minimum=1))

    def update(self, limit: float, rtt: float, ok: bool, inflight: int) -> float:
        if ok:
            self._recent.append(max(rtt, 1e-9))
        if not self._recent:
            return max(self.minimum, limit * 0.9)
        sample = max(rtt, 1e-9) if ok else 2 * max(self._recent)
        gradient = max(0.5, min(1.0, min(self._recent) / sample))
        new = limit * gradient + math.sqrt(limit)
        limit = (1 - self.smoothing) * limit + self.smoothing * new
        return min(self.maximum, max(self.minimum, limit))

    def __repr__(self) -> str:
        return f"Gradient({self.initial:g}, minimum={self.minimum:g}, maximum={self.maximum:g})"


class ConcurrencyLimit(Source):
    """At most ``limit`` calls in flight to ``source``; the limit adapts (``AIMD`` or ``Gradient``).

    A call over the limit waits at most ``max_wait`` seconds for room (0: refuse at once, ``LimitExceeded``).
    ``history`` keeps the last 1,000 limits, for plots and tests.
    """

    keeps_timeout = True  # its wait for room is bounded by the timeout; the wrapped source via fetch_within

    def __init__(
        self,
        source: Any,
        algorithm: AIMD | Gradient | None = None,
        *,
        max_wait: float = 0.0,
        overload: tuple[type[BaseException], ...] = OVERLOAD,
        name: str | None = None,
    ):
        self.source = as_source(source)
        self.name = name or self.source.name
        if algorithm is None:
            algorithm = AIMD()
        if not isinstance(algorithm, (AIMD, Gradient)):
            raise TypeError(f"algorithm must be AIMD(...) or Gradient(...), got {algorithm!r}")
        self.algorithm = algorithm
        self.max_wait = check_real("max_wait", max_wait, maximum=86_400.0)
        self.overload = _exception_types("overload", overload)
        self._room = threading.Condition()
        self.limit = float(algorithm.initial)
        self.inflight = 0
        self.rejected = 0
        self.history: deque[float] = deque([self.limit], maxlen=1000)

    def acquire(self, timeout: float = 0.0) -> bool:
        """Take a place among the calls in flight, waiting at most ``timeout`` seconds."""
        with self._room:
            if not self._room.wait_for(lambda: self.inflight < int(self.limit), timeout=timeout):
                self.rejected += 1
                return False
            self.inflight += 1
            return True

    def release(self, rtt: float, ok: bool) -> None:
        """Give the place back and let the algorithm move the limit after a call of ``rtt`` seconds."""
        with self._room:
            self.limit = self.algorithm.update(self.limit, rtt, ok, self.inflight)
            self.inflight -= 1
            self.history.append(self.limit)
            self._room.notify_all()

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        arrived = clock()
        wait = self.max_wait if timeout is None else min(self.max_wait, timeout)
        if not self.acquire(wait):
            raise LimitExceeded(
                f"{self.name}: {self.inflight} calls in flight (limit {int(self.limit)}), {shown(request)} refused"
            )
        started = clock()
        if timeout is not None:  # the time spent waiting for room comes off the attempt's timeout
            timeout -= started - arrived
            if timeout <= 0:
                self.release(0.0, True)
                raise TimeoutError(f"{self.name}: no time left for {shown(request)} after waiting for room")
        ok = True
        try:
            return fetch_within(self.source, request, attempt=attempt, timeout=timeout)
        except self.overload:
            ok = False
            raise
        finally:
            self.release(clock() - started, ok)

    def children(self) -> tuple[Any, ...]:
        return (self.source,)

    def counters(self) -> dict[str, int]:
        return {"limit_rejected": self.rejected}

    def __repr__(self) -> str:
        return f"ConcurrencyLimit({self.source!r}, {self.algorithm!r}, max_wait={self.max_wait!r})"


def _exception_types(name: str, value: Any) -> tuple[type[BaseException], ...]:
    types_ = value if isinstance(value, tuple) else (value,)
    if not types_ or not all(isinstance(t, type) and issubclass(t, Exception) for t in types_):
        raise TypeError(f"{name} must be an Exception subclass or a tuple of them, got {value!r}")
    return types_
