"""User objects in messages: shortened, and never able to raise (issue 18).

A request, value or error is the user's object: its ``__repr__`` may be huge (a 1 MiB request named in
every error message of a retried chain held a gigabyte) or may raise anything, ``SystemExit`` included
(the watchdog died naming such a request). Every message and log record of the library's engines and
sources names user objects through ``shown`` (eager) or ``Shown`` (lazy, for log arguments).
"""

from __future__ import annotations

from ._checks import shown as _shown

__all__ = ["Shown", "shown"]


def shown(value: object, width: int = 40) -> str:
    """``repr(value)`` shortened to about ``width`` characters; a placeholder if ``repr`` raises (anything)."""
    try:
        return _shown(value, width)
    except BaseException as exc:  # the user's __repr__ failed: say so, never fail the caller
        try:
            kind = type(value).__qualname__
        except BaseException:
            kind = "object"
        return f"<{kind} object (its repr raised {type(exc).__name__})>"


class Shown:
    """A log argument that formats as ``shown(value)``, only if the record is formatted at all."""

    __slots__ = ("value", "width")

    def __init__(self, value: object, width: int = 40):
        self.value, self.width = value, width

    def __repr__(self) -> str:
        return shown(self.value, self.width)

    __str__ = __repr__
