"""The exercise machinery: ``q.check(answer)``, ``q.hint()``, ``q.solution()`` in the spirit of Kaggle's learntools.

A check prints one line (correct, incorrect with the reason, or not attempted) and returns a
``CheckResult`` whose truth value is the verdict, for a teacher's script or a test. A student's code
always runs under a deadline, so a check never hangs the notebook.
"""

from __future__ import annotations

import math
import textwrap
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..timing import format_seconds

__all__ = [
    "BLANK",
    "CheckResult",
    "Incorrect",
    "NotAttempted",
    "Question",
    "SecondsQuestion",
    "call_bounded",
    "close_to",
]


class _Blank:
    """What ``check()`` gets when it is called with no answer at all."""

    def __repr__(self) -> str:
        return "<no answer>"


BLANK = _Blank()

CORRECT, INCORRECT, NOT_ATTEMPTED, UNCHECKED = "correct", "incorrect", "not attempted", "unchecked"
_SYMBOL = {
    CORRECT: "✓ Correct",
    INCORRECT: "✗ Incorrect",
    NOT_ATTEMPTED: "… Not attempted yet",
    UNCHECKED: "✎ No check",
}


class Incorrect(Exception):
    """Raised by a checker: the message tells the student what is wrong."""


class NotAttempted(Exception):
    """Raised by a checker when the answer is still the starter code."""


class CheckResult:
    """The verdict of one check; true only when the answer is correct."""

    def __init__(self, question: str, status: str, message: str):
        self.question, self.status, self.message = question, status, message

    def __bool__(self) -> bool:
        return self.status == CORRECT

    def __str__(self) -> str:
        return f"{self.question} {_SYMBOL[self.status]}: {self.message}"

    def __repr__(self) -> str:
        return f"<CheckResult {self}>"

    def _ipython_display_(self) -> None:
        """``check()`` has printed the line already; showing the result again would repeat it."""


def call_bounded(function: Callable, *args: Any, timeout: float = 2.0, what: str = "your function") -> Any:
    """Call the student's ``function(*args)`` in a helper thread, giving up after ``timeout`` seconds.

    ``NotImplementedError`` (the starter code) becomes ``NotAttempted``; a hang becomes ``Incorrect``.
    Any other exception is returned to the caller, who knows what it means.
    """
    box: list = []

    def target() -> None:
        try:
            box.append((True, function(*args)))
        except BaseException as exc:
            box.append((False, exc))

    thread = threading.Thread(target=target, name="ella-exercise", daemon=True)
    thread.start()
    thread.join(timeout)
    if not box:
        raise Incorrect(f"{what} did not return within {format_seconds(timeout)}: is there a loop that never ends?")
    ok, value = box[0]
    if ok:
        return value
    if isinstance(value, NotImplementedError):
        raise NotAttempted("replace `raise NotImplementedError` with your code, then run the cell again.")
    raise value


def close_to(value: Any, expected: float, *, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    """True when ``value`` is a real number within the tolerance of ``expected``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isclose(value, expected, rel_tol=rel, abs_tol=abs_)


class Question:
    """One exercise. Subclasses set ``title``, ``hints``, ``solution_text`` and write ``_check(answer)``.

    ``_check`` raises ``Incorrect(reason)`` or ``NotAttempted(what to do)``, or returns a message for a
    correct answer. A question with ``checked = False`` has a model answer and no automatic check.
    """

    title = ""
    hints: Sequence[str] = ()
    solution_text = ""
    checked = True
    expects = "an answer"

    def __init__(self, name: str):
        self.name = name
        self._next_hint = 0

    def check(self, answer: Any = BLANK) -> CheckResult:
        """Judge ``answer``; print one line saying so, and return the verdict."""
        result = self._judge(answer)
        print(result)
        return result

    def _judge(self, answer: Any) -> CheckResult:
        if not self.checked:
            return CheckResult(
                self.name, UNCHECKED, "this question has a model answer; compare yours with its solution()."
            )
        if answer is BLANK or answer is None:
            return CheckResult(self.name, NOT_ATTEMPTED, f"give {self.expects}, then run the check again.")
        try:
            message = self._check(answer)
        except NotAttempted as exc:
            return CheckResult(self.name, NOT_ATTEMPTED, str(exc))
        except Incorrect as exc:
            return CheckResult(self.name, INCORRECT, str(exc))
        except Exception as exc:  # the student's code raised where it should not have
            return CheckResult(self.name, INCORRECT, f"your answer raised {exc!r}")
        return CheckResult(self.name, CORRECT, message or "well done.")

    def _check(self, answer: Any) -> str | None:
        raise NotImplementedError

    def hint(self, number: int | None = None) -> None:
        """Print the next hint (or hint ``number``, counting from 1)."""
        if not self.hints:
            print(f"{self.name}: no hint for this one.")
            return
        if number is None:
            number = self._next_hint % len(self.hints) + 1
            self._next_hint += 1
        print(f"{self.name} hint {number}/{len(self.hints)}: {self.hints[number - 1]}")

    def solution(self) -> None:
        """Print the reference answer."""
        print(f"{self.name} solution:\n{textwrap.dedent(self.solution_text).strip()}")

    def __repr__(self) -> str:
        return f"<{self.name}: {self.title}>"


class SecondsQuestion(Question):
    """A question answered with a number of seconds; known mistakes get their own explanation.

    Subclasses set ``answer``, ``correct`` (the message for a right answer), ``mistakes`` as
    ``(wrong value, why it is wrong)`` pairs, and ``otherwise`` (a nudge for any other value).
    """

    expects = "a number of seconds"
    answer: float = math.nan
    correct = ""
    mistakes: Sequence[tuple[float, str]] = ()
    otherwise = "work it out step by step."

    def _check(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Incorrect(f"give a number of seconds, like 0.015; got {value!r}")
        if close_to(value, self.answer):
            return self.correct
        if close_to(value, self.answer * 1000):
            raise Incorrect(f"{value:g} is right in milliseconds; give the answer in seconds.")
        for wrong, why in self.mistakes:
            if close_to(value, wrong):
                raise Incorrect(why)
        raise Incorrect(f"{value!r} s is not it; {self.otherwise}")
