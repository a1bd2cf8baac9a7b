"""Measured claims: a time, a rate or a ratio that a notebook's prose states, checked against this machine.

A notebook states two kinds of facts. An *exact* claim (a count, an order, nothing lost, a model's value,
a seeded simulation's result) is a plain ``assert``: it reads no clock and holds on any machine. A
*measured* claim reads a clock, and a busy laptop can miss it without anything being wrong with the lesson.
Measured claims go through here::

    report = measure(
        lambda: Router(source, workers=3).run(range(10)),
        lambda r: [Claim("10 requests on 3 workers take 4 rounds of L", r.wall_s, low=4 * L, high=6 * L, late=4)],
    )

``measure`` runs the notebook's own code again when a claim misses (``tries`` times in all). If it still
misses, a learner sees a box saying what was claimed, what this machine measured, how noisy the machine
was (``calibrate()``: timer, late wake-ups, cores, load) and what to try; Run All goes on. The test run
sets ``ELLA_LAB_CLAIMS=strict`` (the Makefile, ``notebooks/conftest.py``, ``make notebooks``): there the
same miss raises :class:`ClaimMissed`, an ``AssertionError``, and the cell fails as a bare assert would.
"""

from __future__ import annotations

import html
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .timing import clock, format_seconds

__all__ = ["Claim", "ClaimMissed", "Noise", "calibrate", "check", "measure", "strict"]

log = logging.getLogger(__name__)
T = TypeVar("T")

ENV = "ELLA_LAB_CLAIMS"
UNITS = ("s", "x", "%", "req/s", "")
_CACHE_S = 30.0
QUIET_WAKE_LATE_S = 0.002  # quiet: a thread sleeping 1 ms wakes less late than this, 9 times in 10 ...
QUIET_CPU_SHARE = 0.8  # ... and a busy loop gets more than this share of a core


def strict() -> bool:
    """True in the test run (``ELLA_LAB_CLAIMS=strict``): a missed claim raises instead of showing a box."""
    return os.environ.get(ENV, "").strip().lower() == "strict"


class ClaimMissed(AssertionError):
    """A measured claim missed its band on every try (raised only in strict mode)."""


# --------------------------------------------------------------------------------------------------------
# The machine's noise, measured


@dataclass(frozen=True)
class Noise:
    """How noisy this machine is right now: what a measured claim may be widened by, and what a box quotes."""

    timer_step_s: float  # the smallest step between two consecutive perf_counter readings (mostly call cost)
    wake_late_p50_s: float  # how late a thread sleeping 1 ms wakes: the median ...
    wake_late_p90_s: float  # ... and the 90th percentile
    cores: float  # cores this process may use (the affinity mask, capped by a cgroup CPU quota)
    load: float  # the 1-minute load average (runnable processes), nan where unknown
    cpu_share: float  # the share of a core a busy loop got (median of 5 spans of 20 ms): 1.0 on a quiet core
    measured_at: float = field(default=0.0, compare=False)

    @property
    def quiet(self) -> bool:
        """Quiet enough for the lessons' bands: threads wake within 2 ms, and a busy loop gets most of a core."""
        return self.wake_late_p90_s < QUIET_WAKE_LATE_S and self.cpu_share > QUIET_CPU_SHARE

    def rows(self) -> list[tuple[str, str]]:
        """The measurements as (what, value) rows, for a table or a box."""
        load = "unknown" if math.isnan(self.load) else f"{self.load:.2f}"
        return [
            ("smallest step between two perf_counter readings", format_seconds(self.timer_step_s)),
            ("perf_counter's stated resolution", format_seconds(time.get_clock_info("perf_counter").resolution)),
            ("a 1 ms sleep wakes late by (median)", format_seconds(self.wake_late_p50_s)),
            ("a 1 ms sleep wakes late by (p90)", format_seconds(self.wake_late_p90_s)),
            ("cores this process may use", str(self.cores)),
            ("load average (1 min)", load),
            ("share of a core a busy loop got", f"{self.cpu_share:.1%}"),
        ]

    def __str__(self) -> str:
        return "; ".join(f"{what}: {value}" for what, value in self.rows())


def _cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in cores (``docker --cpus``, Binder), None when there is none.

    A quota limits the CPU time, not the cores: the affinity mask does not show it. cgroup v2 writes it as
    ``cpu.max`` ("quota period" in µs, or "max"), v1 as ``cpu/cpu.cfs_quota_us`` (-1: none) and its period.
    """
    base = Path(root)
    try:
        quota, period = (base / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((base / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((base / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def _cores(root: str = "/sys/fs/cgroup") -> float:
    """The cores this process may use: its affinity mask (``os.cpu_count()`` where there is none), capped by a
    cgroup CPU quota, which may be a fraction (1.5 under ``docker --cpus=1.5``)."""
    try:
        cores: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cpu_quota(root)
    return cores if quota is None or quota >= cores else max(quota, 0.01)


def _timer_step() -> float:
    """The smallest step between two consecutive ``perf_counter`` readings: the clock's tick or a call's cost."""
    smallest = math.inf
    for _ in range(200):
        a = clock()
        b = clock()
        while b == a:
            b = clock()
        smallest = min(smallest, b - a)
    return smallest


WAKE_SAMPLES = 30  # 1 ms sleeps: the p90 is the 27th of 30, so "9 times in 10" rests on 30 wake-ups
CPU_SPANS, CPU_SPAN_S = 5, 0.02  # busy-loop spans: 100 ms in all, and one preempted span cannot decide


def _wake_lateness(samples: int = WAKE_SAMPLES, nap: float = 0.001) -> tuple[float, float]:
    """How late a thread that sleeps ``nap`` wakes, measured in a thread of its own (as the workers sleep)."""
    late: list[float] = []

    def sleeper() -> None:
        for _ in range(samples):
            started = clock()
            time.sleep(nap)
            late.append(max(0.0, clock() - started - nap))

    t = threading.Thread(target=sleeper, name="ella-calibrate", daemon=True)
    t.start()
    t.join(timeout=5)
    seen = sorted(late[:])  # a copy: a sleeper still running past the bound may append to the list
    if not seen:
        return math.inf, math.inf  # never woke within 5 s: see Claim.allowed, which then widens nothing
    return seen[len(seen) // 2], seen[min(len(seen) - 1, math.ceil(0.9 * len(seen)) - 1)]


def _cpu_share(spans: int = CPU_SPANS, span: float = CPU_SPAN_S) -> float:
    """The share of a core a busy loop gets: the median over ``spans`` loops of ``span`` s each.

    One span can fall on the moment another program takes the core; the median of several says what the
    core gives most of the time.
    """
    shares = []
    for _ in range(spans):
        wall0, cpu0 = clock(), time.thread_time()
        while clock() - wall0 < span:
            pass
        wall, cpu = clock() - wall0, time.thread_time() - cpu0
        shares.append(min(1.0, cpu / wall) if wall > 0 else 1.0)
    shares.sort()
    return shares[len(shares) // 2]


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return math.nan


_lock = threading.Lock()
_last: Noise | None = None


def calibrate(*, fresh: bool = False) -> Noise:
    """Measure this machine's noise (about 140 ms); kept for 30 s unless ``fresh``."""
    global _last
    with _lock:
        if not fresh and _last is not None and clock() - _last.measured_at < _CACHE_S:
            return _last
        p50, p90 = _wake_lateness()
        _last = Noise(_timer_step(), p50, p90, _cores(), _load(), _cpu_share(), measured_at=clock())
        return _last


# --------------------------------------------------------------------------------------------------------
# Claims


def _number(name: str, value: Any, *, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or (not isinstance(value, int | float) and not hasattr(value, "__float__")):
        raise TypeError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if name != "measured" and not math.isfinite(number):  # an infinite bound is a claim that cannot fail
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class Claim:
    """One sentence of prose and the measurement behind it: ``low <= measured <= high`` (either side optional).

    ``model`` is the value the lesson predicts (shown beside the measurement). ``late`` counts the thread
    wake-ups on the measured path (a sleep ending, a waiting worker handed a request): the upper bound of a
    time grows by one late wake-up for each, ``late`` times how late a sleeping thread wakes on this machine
    (``calibrate().wake_late_p90_s``), exactly what was measured and no more.
    ``unit`` says how to print values: ``"s"`` (times), ``"x"`` (ratios), ``"%"`` (shares), ``"req/s"``.
    """

    says: str
    measured: float
    low: float | None = None
    high: float | None = None
    model: float | None = None
    unit: str = "s"
    late: float = 0

    def __post_init__(self) -> None:
        if not isinstance(self.says, str) or not self.says.strip():
            raise ValueError(f"says must be the sentence the claim backs, got {self.says!r}")
        object.__setattr__(self, "measured", _number("measured", self.measured, optional=False))
        for name in ("low", "high", "model"):
            object.__setattr__(self, name, _number(name, getattr(self, name)))
        if self.low is None and self.high is None:
            raise ValueError(f"claim {self.says!r} needs a bound: low=, high= or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low must not exceed high, got low={self.low!r}, high={self.high!r}")
        if self.model is not None and not self.allowed()[0] <= self.model <= self.allowed()[1]:
            raise ValueError(f"model must lie in its own band, got model={self.model!r} for {self.band()}")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")
        late = _number("late", self.late, optional=False)
        if late < 0:
            raise ValueError(f"late must be >= 0, got {self.late!r}")
        if late and self.unit != "s":
            raise ValueError(f"late widens a time; claim {self.says!r} has unit {self.unit!r}")

    def allowed(self, noise: Noise | None = None) -> tuple[float, float]:
        """The band this claim accepts on a machine this noisy: (low, high), infinite where open."""
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if self.late and noise is not None and math.isfinite(noise.wake_late_p90_s):
            high += self.late * noise.wake_late_p90_s  # a calibration that never woke widens nothing
        return low, high

    def holds(self, noise: Noise | None = None) -> bool:
        low, high = self.allowed(noise)
        return not math.isnan(self.measured) and low <= self.measured <= high

    def show(self, value: float | None, *, digits: int = 0) -> str:
        """A value in this claim's unit; times go through the one formatter (``digits``: 6 significant)."""
        if value is None or math.isnan(value):
            return "—" if value is None else "n/a"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if digits:
            scale = {"%": (100, "%"), "x": (1, "x"), "req/s": (1, " req/s"), "s": (1, " s")}.get(self.unit, (1, ""))
            return f"{value * scale[0]:.{digits}g}{scale[1]}"
        if self.unit == "s":
            return format_seconds(value)
        if self.unit == "%":
            return f"{value:.1%}"
        if self.unit == "x":
            return f"{value:.3g}x"
        if self.unit == "req/s":
            return f"{value:.3g} req/s"
        return f"{value:.4g}"

    def _digits(self, noise: Noise | None) -> int:
        """0 (the usual rounding), or 6 where the rounding would make a miss read as equal to its bound."""
        shown = self.show(self.measured)
        return 6 if any(shown == self.show(b) for b in self.allowed(noise) if math.isfinite(b)) else 0

    def band(self, noise: Noise | None = None) -> str:
        low, high = self.allowed(noise)
        digits = self._digits(noise)
        if self.low is None:
            return f"at most {self.show(high, digits=digits)}"
        if self.high is None:
            return f"at least {self.show(low, digits=digits)}"
        return f"{self.show(low, digits=digits)} to {self.show(high, digits=digits)}"

    def line(self, noise: Noise | None = None) -> str:
        model = "" if self.model is None else f", model {self.show(self.model)}"
        measured = self.show(self.measured, digits=self._digits(noise))
        return f"{self.says}: measured {measured}, expected {self.band(noise)}{model}"


def _as_list(claims: Claim | Iterable[Claim]) -> list[Claim]:
    found = [claims] if isinstance(claims, Claim) else list(claims)
    if not found:
        raise ValueError("no claims to judge: pass at least one Claim (an empty list would pass silently)")
    for c in found:
        if not isinstance(c, Claim):
            raise TypeError(f"claims must be Claim objects, got {c!r}")
    return found


_NOT_GIVEN: Any = object()


def measure(
    run: Callable[[], T], claims: Callable[[T], Claim | Iterable[Claim]], *, tries: int = 3, first: T = _NOT_GIVEN
) -> T:
    """Run ``run()``, judge ``claims(result)``; measure again on a miss, up to ``tries`` runs in all.

    ``first``: a result already measured (by a cell that showed it), judged as the first try: ``run`` is called
    only on a miss, so a cell can show one run and still measure again when a busy moment made it miss.
    Returns the result of the last run (``first`` if it held). A claim that missed on every try fails the cell
    in strict mode (the test run) and shows a box otherwise.
    """
    if not callable(run) or not callable(claims):
        raise TypeError("measure(run, claims): both must be callables (a run, and result -> claims)")
    if isinstance(tries, bool) or not isinstance(tries, int) or not 1 <= tries <= 10:
        raise ValueError(f"tries must be an int from 1 to 10, got {tries!r}")
    for attempt in range(1, tries + 1):
        result = first if attempt == 1 and first is not _NOT_GIVEN else run()
        judged = _as_list(claims(result))
        noise = calibrate()
        missed = [c for c in judged if not c.holds(noise)]
        if not missed:
            return result
        noise = calibrate(fresh=True)  # quote the noise as it is now
        missed = [c for c in judged if not c.holds(noise)]
        if not missed:
            return result
        log.info("measured again (%d of %d): %s", attempt, tries, "; ".join(c.line(noise) for c in missed))
    _report(missed, noise, tries)
    return result


def check(*claims: Claim) -> None:
    """Judge claims on values already measured (no re-run possible): a box, or a failure in strict mode.

    Returns nothing, so that a cell ending in ``check(...)`` prints nothing. Prefer :func:`measure`, which
    can run the measurement again when a busy moment made it miss.
    """
    judged = _as_list(claims)
    noise = calibrate()
    missed = [c for c in judged if not c.holds(noise)]
    if missed:
        noise = calibrate(fresh=True)
        missed = [c for c in judged if not c.holds(noise)]
    if missed:
        _report(missed, noise, 1)


WHY = (
    "A measured time depends on the machine as well as on the code: when other programs (a browser, a video "
    "call, an update) keep the cores busy, the operating system runs this notebook's threads late, and a "
    "thread that sleeps for 1 ms may wake several milliseconds after. The lesson's model has not changed; "
    "this machine was busier than the claim allows."
)
TRY = (
    "Close what you can, wait a moment and run this cell again. The exact shape (the model and the seeded "
    "simulation beside it) does not depend on the machine. `ella_lab.claims.calibrate()` shows how noisy the "
    "machine is now; notebook 02's self-check says whether it is quiet enough."
)


class MissedClaims:
    """What a learner sees when a measured claim missed: rich HTML in Jupyter, plain text elsewhere."""

    def __init__(self, missed: list[Claim], noise: Noise, tries: int):
        self.missed, self.noise, self.tries = missed, noise, tries

    def _tried(self) -> str:
        return "once" if self.tries == 1 else f"{self.tries} times"

    def __repr__(self) -> str:
        lines = [f"Measured claim not met on this machine (measured {self._tried()}):"]
        lines += [f"  - {c.line(self.noise)}" for c in self.missed]
        lines.append(f"This machine now: {self.noise}.")
        lines += [f"Why: {WHY}", f"What to try: {TRY}"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td>{e(c.says)}</td><td><b>{e(c.show(c.measured, digits=c._digits(self.noise)))}</b></td>"
            f"<td>{e(c.band(self.noise))}</td>"
            f"<td>{e(c.show(c.model)) if c.model is not None else ''}</td></tr>"
            for c in self.missed
        )
        noise = "".join(f"<li>{e(what)}: {e(value)}</li>" for what, value in self.noise.rows())
        cell = "padding:2px 8px;text-align:left"
        return (
            '<div style="border-left:6px solid #d98e04;background:#fff8e6;color:#222;padding:8px 12px;'
            'margin:4px 0;font-family:sans-serif;font-size:13px">'
            f"<b>Measured claim not met on this machine</b> (measured {e(self._tried())})"
            f'<table style="border-collapse:collapse;margin:6px 0"><tr><th style="{cell}">claim</th>'
            f'<th style="{cell}">measured</th><th style="{cell}">expected</th><th style="{cell}">model</th></tr>'
            f"{rows}</table>"
            f"<div>This machine now:</div><ul style='margin:2px 0'>{noise}</ul>"
            f"<p style='margin:4px 0'><b>Why:</b> {e(WHY)}</p><p style='margin:4px 0'><b>What to try:</b> {e(TRY)}</p>"
            "</div>"
        )


def _report(missed: list[Claim], noise: Noise, tries: int) -> None:
    box = MissedClaims(missed, noise, tries)
    if strict():
        raise ClaimMissed(repr(box))
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(box)
            return
    except ImportError:  # pragma: no cover - IPython is a dependency, but the library works without it
        pass
    print(repr(box))
