"""The guide's Phase 5 ``main.py``, integrated: a threaded router whose source is a fallback chain.

Run it from the project root (``python examples/main.py --help``). Each request goes to a worker
thread, which asks the primary source and, when the primary fails, the backup. The exit status is 0
when every request was answered, 1 when some were lost (both sources failed), 2 on bad options.
"""

from __future__ import annotations

import argparse
import math
import sys

from ella_lab import FallbackChain, Outcome, Report, Router, SimulatedSource, format_seconds
from ella_lab.experiments import request_ids


def build_chain(*, latency: float, failure_rate: float, seed: int) -> FallbackChain:
    """A primary and a backup that fail independently: one seed, but the source's name is part of each draw's
    hash, so each source has its own failure pattern."""
    primary = SimulatedSource("primary", latency=latency, failure_rate=failure_rate, seed=seed)
    backup = SimulatedSource("backup", latency=latency, failure_rate=failure_rate, seed=seed)
    return FallbackChain([primary, backup])


def route(requests: list[str], *, workers: int, latency: float, failure_rate: float, seed: int) -> Report:
    """Every request through the router, each answered by the primary or else the backup."""
    chain = build_chain(latency=latency, failure_rate=failure_rate, seed=seed)
    return Router(chain, workers=workers).run(requests)


def describe(outcome: Outcome) -> str:
    """One line per request: who served it, or every error when no source could."""
    if outcome.ok:
        return f"{outcome.request}: served by {outcome.source} after {len(outcome.attempts)} attempt(s)"
    return f"{outcome.request}: LOST ({'; '.join(str(error) for error in outcome.error.exceptions)})"


def at_least(name: str, minimum: float, kind: type = int, *, at_most: float | None = None):
    """An argparse type: a number of ``kind`` in [minimum, at_most], worded as ``python -m ella_lab demo`` words it."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            what = "an int" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (at_most is not None and value > at_most):
            bound = f">= {minimum:g}" if at_most is None else f"in [{minimum:g}, {at_most:g}]"
            finite = "" if kind is int else "a finite number "
            raise argparse.ArgumentTypeError(f"{name} must be {finite}{bound}, got {text}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    """Parse the options, route the requests, print one line per request and a total."""
    parser = argparse.ArgumentParser(prog="python examples/main.py", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=at_least("requests", 0), default=10)
    parser.add_argument("--workers", type=at_least("workers", 1), default=3)
    parser.add_argument(
        "--latency", type=at_least("latency", 0, float), default=0.5, help="seconds per fetch (the guide's 0.5)"
    )
    rate = at_least("failure_rate", 0, float, at_most=1)
    parser.add_argument("--failure-rate", type=rate, default=0.3, help="each source's failure rate, 0..1")
    parser.add_argument("--seed", type=int, default=0)
    # Bad options end here, with one line naming the option (exit status 2); past this point an exception
    # is a bug, and shows as one, with its traceback.
    args = parser.parse_args(argv)
    report = route(
        request_ids(args.requests),
        workers=args.workers,
        latency=args.latency,
        failure_rate=args.failure_rate,
        seed=args.seed,
    )
    for outcome in report:
        print(describe(outcome))
    backup = sum(outcome.source == "backup" for outcome in report)
    print(
        f"{len(report.succeeded)} of {len(report)} requests answered ({backup} by the backup), "
        f"{len(report.failed)} lost, in {format_seconds(report.wall_s)} on {args.workers} worker threads"
    )
    return 0 if not report.failed else 1


if __name__ == "__main__":  # run as a script: route; imported (by a test, a notebook): define only
    sys.exit(main())
