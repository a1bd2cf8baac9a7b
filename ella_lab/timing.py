"""The one clock and the one formatter for every time the package measures or prints."""

from __future__ import annotations

import math
from time import perf_counter as clock

__all__ = ["clock", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """Format a duration for people, three significant digits: ``2.01 s``, ``10.4 ms``, ``182 µs``, ``95 ns``.

    Every timing that a notebook or the CLI prints goes through here, so one sanitize
    rule (``<number> <unit>``) hides them all from the notebook tests.
    """
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "n/a"
    magnitude = abs(seconds)
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if magnitude >= scale:
            value = seconds / scale
            decimals = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
            return f"{value:.{decimals}f} {unit}"
    if magnitude == 0:
        return "0 s"
    return f"{seconds / 1e-9:.0f} ns"
