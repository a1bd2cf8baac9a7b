"""Notebook 07's circuit breaker through an outage: what a run shows, and the claims its prose makes.

The scene: a primary down from ``start`` to ``end`` seconds (``Outage``), behind a ``CircuitBreaker``
or not, then a backup; clients send ``rate`` requests a second. ``outage_row`` sums up one run,
``breaker_story`` reads the breaker's transitions on the outage's clock, and ``breaker_claims`` /
``no_breaker_claims`` state the model of the notebook's "The model" paragraph (1,000 requests a second,
a 20 ms hang per failed call, ``failures=5, reset_after=0.1``). Kept here so that the notebook's cells
show the experiment, not the bookkeeping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from .claims import Claim
from .outcome import Report
from .resilience import CircuitOpenError

__all__ = ["breaker_claims", "breaker_story", "no_breaker_claims", "outage_claims", "outage_row"]

START, END, RATE = 0.3, 0.7, 1000  # notebook 07's outage (seconds on its clock) and request rate (per second)


class _HasTransitions(Protocol):
    transitions: Iterable[tuple[float, str, str]]


def outage_row(report: Report, t0: float, *, start: float = START, end: float = END) -> dict[str, Any]:
    """One run in one row: answered, calls that reached the primary during the outage, their p50, refusals.

    ``t0`` is the ``perf_counter`` reading at which the outage's clock started; a call refused by the
    breaker (``CircuitOpenError``) did not reach the primary, so it is not counted as sent.
    """
    during = [o for o in report if start <= o.started_at - t0 < end]
    sent = sum(a.source == "primary" and not isinstance(a.error, CircuitOpenError) for o in during for a in o.attempts)
    return {"answered": sum(o.ok for o in report), "primary calls in outage": sent,
            "p50 latency in outage": float(np.median([o.latency for o in during])) if during else math.nan,
            "calls refused by breaker": report.summary().get("breaker_rejected", 0)}


def breaker_story(
    report: Report, t0: float, breaker: _HasTransitions, *, start: float = START, end: float = END, rate: float = RATE
) -> dict[str, Any]:
    """The breaker's transitions in seconds on the outage's clock, and what it refused.

    ``trip`` is how long after ``start`` it first opened, ``recover`` how long after ``end`` it last
    closed (nan if still open), ``gaps`` the times between openings (one per failed trial);
    ``refused_model`` is every arrival while not closed, less the trials; ``refused_late`` the
    refusals of requests sent after the primary was back.
    """
    times = [(t - t0, to) for t, _, to in breaker.transitions]
    opened = [t for t, to in times if to == "open"]
    closed = [t for t, to in times if to == "closed"]
    closed_at = closed[-1] if closed else math.nan
    trials = sum(to == "half-open" for _, to in times)
    return {"times": times, "opened": opened, "trip": opened[0] - start if opened else math.nan,
            "recover": closed_at - end, "gaps": np.diff(opened), "trials": trials,
            "refused": report.summary().get("breaker_rejected", 0),
            "refused_model": (closed_at - opened[0]) * rate - trials if opened else math.nan,
            "refused_late": sum(isinstance(o.attempts[0].error, CircuitOpenError)
                                for o in report if o.attempts and o.started_at - t0 >= end)}


def no_breaker_claims(row: dict[str, Any]) -> list[Claim]:
    """Without a breaker: the sick primary takes every call of the outage, each paying 20 ms then the backup."""
    return [
        Claim("without a breaker, the sick primary takes its 400 calls (0.4 s at 1,000/s)",
              row["primary calls in outage"], low=300, high=500, model=400, unit=""),
        Claim("without a breaker, a request in the outage pays 20 + 4 ms", row["p50 latency in outage"],
              low=0.016, high=0.032, model=0.024, late=2),
    ]


def breaker_claims(row: dict[str, Any], story: dict[str, Any]) -> list[Claim]:
    """With ``failures=5, reset_after=0.1``: the trip, the trials, the recovery and the refusals of the model."""
    recover_ms = 1000 * float(np.nan_to_num(story["recover"]))
    gap = float(np.median(story["gaps"])) if len(story["gaps"]) else math.nan
    return [
        Claim("about 25 calls to trip, then 3 trials in the outage", row["primary calls in outage"], low=20,
              high=40, model=28, unit=""),
        Claim("it trips about 25 ms into the outage", story["trip"], low=0.02, high=0.04, model=0.025, late=1),
        Claim("a trial every 120 ms (0.1 s + the failing 20 ms), the median gap", gap,
              low=0.108, high=0.14, model=0.12, late=2),
        Claim("it closes on the first trial after the outage: 0 to 120 ms late", story["recover"], low=0,
              high=0.15, model=0.085, late=1),
        Claim("about 456 calls refused", story["refused"], low=0.75 * 456, high=1.25 * 456, model=456, unit=""),
        Claim("it refuses every arrival while not closed, but the trials", story["refused"] / story["refused_model"],
              low=0.9, high=1.1, model=1, unit="x"),
        Claim("refusals of a primary already healthy: about 85 (the model: up to 120; 150 with delays)",
              story["refused_late"], low=50, high=150, model=85, unit=""),
        Claim("one refusal per ms until the circuit closed", story["refused_late"], low=0.85 * recover_ms - 5,
              high=1.15 * recover_ms + 5, model=recover_ms, unit=""),
        Claim("with the breaker open, the latency is the backup's 4 ms", row["p50 latency in outage"],
              high=0.006, model=0.004, late=1),
    ]


def outage_claims(run: tuple[Report, float, Any]) -> list[Claim]:
    """The claims of one run ``(report, t0, first source)``: ``breaker_claims`` when the first source is a
    breaker (it has ``transitions``), else ``no_breaker_claims``."""
    report, t0, first = run
    row = outage_row(report, t0)
    if hasattr(first, "transitions"):
        return breaker_claims(row, breaker_story(report, t0, first))
    return no_breaker_claims(row)
