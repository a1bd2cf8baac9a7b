"""Retry policy: how many attempts, and how long to wait between them (exponential backoff with jitter)."""

from __future__ import annotations

from typing import Any

from ._checks import check_choice, check_int, check_seconds
from ._draw import draw

__all__ = ["JITTER_MODES", "Retry"]

JITTER_MODES = ("none", "equal", "full")
_MAX_EXPONENT = 1000  # 2.0 ** 1024 overflows; any cap is reached long before 2 ** 1000 times the base


class Retry:
    """``Retry(attempts=3, base=0.01, cap=1.0, jitter="full")``: up to ``attempts`` tries per source.

    Before retry ``n`` (1, 2, ...) it waits, with ``b = min(cap, base * 2**(n-1))`` (the AWS formulas,
    Brooker 2015): ``"none"`` waits ``b``; ``"equal"`` waits ``b/2 + U(0, b/2)``; ``"full"`` waits
    ``U(0, b)``. The random part is seeded by (seed, n, key), so a schedule repeats exactly.
    Only exceptions that are instances of ``on`` are retried. With a ``budget`` (a ``RetryBudget``
    shared by many callers), a retry also needs the budget's leave.
    """

    def __init__(
        self,
        attempts: int = 3,
        base: float = 0.01,
        cap: float = 1.0,
        jitter: str = "full",
        seed: int = 0,
        on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        budget: Any = None,
    ):
        self.attempts = check_int("attempts", attempts, minimum=1)
        self.base = check_seconds("base", base)
        self.cap = check_seconds("cap", cap)
        self.jitter = check_choice("jitter", jitter, JITTER_MODES)
        self.seed = check_int("seed", seed, minimum=-(2**63))
        classes = on if isinstance(on, tuple) else (on,)
        if not classes or not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
            raise TypeError(f"on must be an exception class or a tuple of them, got {on!r}")
        for c in classes:  # Ctrl-C (KeyboardInterrupt), SystemExit: never retried, or nothing could stop a run
            if not issubclass(c, Exception):
                raise TypeError(f"on must name Exception subclasses only, got {c.__name__} (a BaseException)")
        self.on = classes
        if budget is not None and not callable(getattr(budget, "try_retry", None)):
            raise TypeError(f"budget must be a RetryBudget or None, got {budget!r}")
        self.budget = budget

    def children(self) -> tuple[Any, ...]:
        return (self.budget,) if self.budget is not None else ()

    def backoff(self, number: int) -> float:
        """The exponential ceiling before retry ``number`` (1 = the first retry)."""
        return min(self.cap, self.base * 2.0 ** min(number - 1, _MAX_EXPONENT))

    def delay(self, number: int, *key: Any) -> float:
        """Seconds to wait before retry ``number`` of the request identified by ``key``."""
        ceiling = self.backoff(number)
        if self.jitter == "none":
            return ceiling
        u = draw(self.seed, "retry", number, *key)
        if self.jitter == "full":
            return u * ceiling
        return ceiling / 2 + u * ceiling / 2

    def delays(self, *key: Any) -> list[float]:
        """The whole schedule: the wait before each of the ``attempts - 1`` retries."""
        return [self.delay(n, *key) for n in range(1, self.attempts)]

    def should_retry(self, error: BaseException) -> bool:
        """Retry errors of the ``on`` classes, except those that say retrying now is pointless
        (``retryable = False``: a local refusal such as ``Throttled`` or ``LimitExceeded``)."""
        return isinstance(error, self.on) and getattr(error, "retryable", True)

    def __repr__(self) -> str:
        budget = "" if self.budget is None else f", budget={self.budget!r}"
        return (
            f"Retry(attempts={self.attempts}, base={self.base!r}, cap={self.cap!r}, "
            f"jitter={self.jitter!r}, seed={self.seed}{budget})"
        )
