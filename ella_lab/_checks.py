"""Argument checks shared by the public API: one clear error naming the parameter and the value."""

from __future__ import annotations

import math
from numbers import Real

MAX_SECONDS = 86_400.0  # one day: the longest latency, delay or timeout the library accepts


def check_int(name: str, value: object, *, minimum: int = 0) -> int:
    """Return ``value`` if it is an int >= ``minimum``; bools are refused (``True`` is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {shown(value)} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {shown(value)}")
    return value


def shown(value: object, width: int = 40) -> str:
    """``repr(value)``, shortened to about ``width`` characters (a 400-digit int is not a message)."""
    text = repr(value)
    return text if len(text) <= width else f"{text[: width - 5]}...({len(text)} chars)"


def check_real(name: str, value: object, *, minimum: float = 0.0, maximum: float = math.inf) -> float:
    """Return ``value`` as a float if it is a finite real number in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {shown(value)} ({type(value).__name__})")
    bounds = f"in [{minimum:g}, {maximum:g}]" if maximum != math.inf else f">= {minimum:g}"
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(f"{name} must be a finite number {bounds}, got {shown(value)}") from None
    if math.isnan(number) or not minimum <= number <= maximum or math.isinf(number):
        raise ValueError(f"{name} must be a finite number {bounds}, got {shown(number)}")
    return number


def check_seconds(name: str, value: object, *, minimum: float = 0.0) -> float:
    """A duration in seconds: a finite number in ``[minimum, MAX_SECONDS]`` (one day)."""
    seconds = check_real(name, value, minimum=minimum)
    if seconds > MAX_SECONDS:
        raise ValueError(f"{name} must be at most {MAX_SECONDS:g} s (one day), got {shown(seconds)}")
    return seconds


def check_timeout(name: str, value: object) -> float | None:
    """A timeout is ``None`` (wait as long as it takes) or a number of seconds in (0, one day]."""
    if value is None:
        return None
    value = check_seconds(name, value)
    if value == 0:
        raise ValueError(f"{name} must be > 0 or None, got {value!r}")
    return value


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value  # type: ignore[return-value]
