"""What a run produces: one ``Attempt`` per call of a source, one ``Outcome`` per request, one ``Report`` per run."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._shown import shown
from .timing import clock, format_seconds

if TYPE_CHECKING:  # pandas is imported only when a frame is asked for
    import pandas as pd

    from .replay import Replay

__all__ = [
    "Attempt",
    "Outcome",
    "Rejected",
    "Report",
    "all_failed",
    "failed_call",
    "quantile",
    "release_attempts",
    "released",
]


def released(error: BaseException) -> BaseException:
    """``error`` without its traceback (nor those of the errors it was raised from), ready to be kept.

    A kept traceback keeps every frame it passed through alive, and through their callers the worker
    and the list of outcomes that holds the error: a reference cycle per failed request, which only
    the garbage collector can free, in pauses that show up as latency. A record needs the type and
    the message; to see tracebacks as they happen, set the "ella_lab" logger to DEBUG.
    """
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return error


class Rejected(Exception):
    """The router's queue was full (``on_full="reject"``): the request was refused, not lost."""


class Attempt(NamedTuple):
    """One call of one source for one request: who was asked, the how-many-th time, and what came back."""

    source: str
    number: int  # 0 for the first try of this source, 1 for its first retry, ...
    error: BaseException | None
    started_at: float
    finished_at: float

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at


class Outcome(NamedTuple):
    """The answer to one request, with every attempt made for it and when it was queued, started, finished.

    Times are ``time.perf_counter`` readings (seconds, arbitrary origin); compare them with each other.
    """

    request: Any
    ok: bool
    value: Any
    error: BaseException | None
    source: str | None  # the source that served it (None when every source failed)
    attempts: tuple[Attempt, ...]
    worker: str
    queued_at: float
    started_at: float
    finished_at: float

    @property
    def latency(self) -> float:
        """What the client waited: queue wait plus service time."""
        return self.finished_at - self.queued_at

    @property
    def wait(self) -> float:
        """Time spent in the queue before a worker picked the request up."""
        return self.started_at - self.queued_at

    @property
    def service_time(self) -> float:
        """Time a worker spent on the request, retries and fallbacks included."""
        return self.finished_at - self.started_at

    @property
    def fell_back(self) -> bool:
        """True when a source other than the first one asked served the request."""
        return self.ok and self.attempts[0].source != self.source

    @property
    def rejected(self) -> bool:
        """Refused by a full queue (``on_full="reject"``): answered by the router itself, never by a worker."""
        return isinstance(self.error, Rejected)

    def __str__(self) -> str:
        """One line; request, value and error shown through ``shown`` (shortened, and safe if their repr raises)."""
        what = f"ok from {self.source}: {shown(self.value, 200)}" if self.ok else f"FAILED: {shown(self.error, 400)}"
        return f"{shown(self.request, 200)} -> {what} ({len(self.attempts)} attempt(s), {self.worker})"


# Failure records: every kept error is ``released`` (its traceback dropped), so failed requests leave
# no reference cycles, and no garbage for the collector to pause the workers over.
_new = tuple.__new__  # builds a record without NamedTuple's keyword machinery (hot path)


def failed_call(
    name: str, request: Any, error: BaseException, worker: str, queued_at: float, started: float
) -> Outcome:
    """The record of one failed call to one source."""
    finished = clock()
    attempt = _new(Attempt, (name, 0, released(error), started, finished))
    return _new(Outcome, (request, False, None, error, None, (attempt,), worker, queued_at, started, finished))


def all_failed(request: Any, error: Any, last_error: bool, worker: str, queued_at: float, started: float) -> Outcome:
    """The record of a request every attempt failed (``error``: an ``AllSourcesFailed``)."""
    release_attempts(released(error).attempts)
    recorded = error.exceptions[-1] if last_error else error
    return Outcome(request, False, None, recorded, None, error.attempts, worker, queued_at, started, clock())


def release_attempts(attempts: tuple[Attempt, ...]) -> None:
    """Release the errors of every failed attempt (the plan that caught them has finished)."""
    for attempt in attempts:
        if attempt.error is not None:
            released(attempt.error)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of already sorted values, linearly interpolated (numpy's default method)."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


class Report:
    """Every ``Outcome`` of one run, in submission order, and the run's wall time."""

    def __init__(
        self,
        outcomes: Sequence[Outcome],
        *,
        workers: int,
        started_at: float,
        finished_at: float,
        counters: dict[str, int] | None = None,
    ):
        self.outcomes: list[Outcome] = list(outcomes)
        self.workers = workers
        self.started_at = started_at
        self.finished_at = finished_at
        self.counters: dict[str, int] = dict(counters or {})  # events during the run: hedges, trips, ...

    def __len__(self) -> int:
        return len(self.outcomes)

    def __iter__(self):
        return iter(self.outcomes)

    def __getitem__(self, index: int) -> Outcome:
        return self.outcomes[index]

    @property
    def wall_s(self) -> float:
        return self.finished_at - self.started_at

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def mean_service_time(self) -> float:
        if not self.outcomes:
            return math.nan
        return sum(o.service_time for o in self.outcomes) / len(self.outcomes)

    @property
    def ideal_throughput(self) -> float:
        """Little's law: with every worker always busy, throughput = workers / mean service time."""
        mean = self.mean_service_time
        return self.workers / mean if mean > 0 else math.inf

    def summary(self) -> dict[str, float]:
        """The run in a dozen numbers (times in seconds, throughput in requests per second).

        ``fallback_rate`` is the share of ALL requests served by a source other than the first (a request
        that failed on every source did not fall back). ``mean_attempts`` is the load on the sources per
        request (retries, fallbacks and hedges included), ``extra_load`` the calls beyond the first per
        request; ``rejected`` counts requests a full queue refused, ``abandoned`` the calls left running
        past their timeout. Event counts of the run's parts (``hedges_sent``, ``breaker_transitions``,
        ``retries_refused``, ...) follow.
        """
        n = len(self.outcomes)
        ok = sum(o.ok for o in self.outcomes)
        latencies = sorted(o.latency for o in self.outcomes)
        wall = self.wall_s
        return {
            "requests": n,
            "succeeded": ok,
            "failed": n - ok,
            "workers": self.workers,
            "wall_s": wall,
            "throughput_rps": n / wall if wall > 0 else math.inf,
            "ideal_rps": self.ideal_throughput,
            "p50_s": quantile(latencies, 0.50),
            "p95_s": quantile(latencies, 0.95),
            "p99_s": quantile(latencies, 0.99),
            "fallback_rate": sum(o.fell_back for o in self.outcomes) / n if n else 0.0,
            "mean_attempts": sum(len(o.attempts) for o in self.outcomes) / n if n else 0.0,
            "extra_load": sum(max(0, len(o.attempts) - 1) for o in self.outcomes) / n if n else 0.0,
            "rejected": sum(o.rejected for o in self.outcomes),
            "abandoned": 0,  # calls left running past their timeout (counted by the sources, below)
            **self.counters,
        }

    def served_by(self) -> Counter[str | None]:
        """How many requests each source served (``None`` counts the failures)."""
        return Counter(o.source for o in self.outcomes)

    def frame(self) -> pd.DataFrame:
        """One row per request, times relative to the start of the run (seconds)."""
        import pandas as pd

        t0 = self.started_at
        rows = [
            {
                "request": o.request,
                "ok": o.ok,
                "source": o.source,
                "attempts": len(o.attempts),
                "fell_back": o.fell_back,
                "worker": o.worker,
                "queued_s": o.queued_at - t0,
                "started_s": o.started_at - t0,
                "finished_s": o.finished_at - t0,
                "wait_s": o.wait,
                "service_s": o.service_time,
                "latency_s": o.latency,
                "value": o.value,
                "error": None if o.error is None else shown(o.error, 1000),
            }
            for o in self.outcomes
        ]
        return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)

    def attempts_frame(self) -> pd.DataFrame:
        """One row per attempt (request, source, try number, error, times relative to the run start)."""
        import pandas as pd

        t0 = self.started_at
        rows = [
            {
                "request": o.request,
                "source": a.source,
                "number": a.number,
                "ok": a.ok,
                "error": None if a.error is None else type(a.error).__name__,
                "started_s": a.started_at - t0,
                "finished_s": a.finished_at - t0,
            }
            for o in self.outcomes
            for a in o.attempts
        ]
        return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)

    def replay(self, *others: Any, titles: Sequence[str] | None = None, frames: int = 30, fps: int = 10) -> Replay:
        """An animated timeline of this run (and ``others`` beside it): see ``ella_lab.replay``."""
        from .replay import replay

        return replay(self, *others, titles=titles, frames=frames, fps=fps)

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<Report {s['requests']} requests, {s['succeeded']} ok, {s['failed']} failed, "
            f"{self.workers} workers, wall {format_seconds(s['wall_s'])}>"
        )

    def describe(self) -> str:
        """The summary as aligned text, every time through ``format_seconds``."""
        s = self.summary()
        lines = [
            f"requests        {s['requests']}",
            f"succeeded       {s['succeeded']}",
            f"failed          {s['failed']}",
            f"workers         {s['workers']}",
            f"wall time       {format_seconds(s['wall_s'])}",
            f"throughput      {s['throughput_rps']:.1f} req/s (ideal {s['ideal_rps']:.1f} req/s)",
            f"latency p50     {format_seconds(s['p50_s'])}",
            f"latency p95     {format_seconds(s['p95_s'])}",
            f"latency p99     {format_seconds(s['p99_s'])}",
            f"fallback rate   {s['fallback_rate']:.1%} of requests (served by a later source)",
            f"mean attempts   {s['mean_attempts']:.2f}",
        ]
        return "\n".join(lines)
