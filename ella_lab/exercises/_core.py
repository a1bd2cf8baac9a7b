"""The exercise machinery: ``q.check(answer)``, ``q.hint()``, ``q.solution()`` in the spirit of Kaggle's learntools.

A check prints one line (correct, incorrect with the reason, or not attempted) and returns a
``CheckResult`` whose truth value is the verdict, for a teacher's script or a test. A student's code
always runs under a deadline, so a check never hangs the notebook. A crash of the check itself is
reported as the check's, never blamed on the student. Every ``check()``, ``hint()`` and
``solution()`` is recorded: in :func:`attempt_log` (this process) and, on a sheet, in the notebook's
saved output (MIME type :data:`ATTEMPT_MIME`), where a grader can read it.

Grading metadata on every question: ``points`` (default 1), ``answer_name`` (the variable the sheet
asks for), ``hidden_check(answer)`` (a re-judgement on cases the student never sees) and
``checked`` (False: a written question, marked by hand).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import html
import importlib
import math
import numbers
import os
import sys
import sysconfig
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ..timing import format_seconds

__all__ = [
    "ATTEMPT_MIME",
    "BLANK",
    "RUNAWAY",
    "CheckResult",
    "ChoiceQuestion",
    "Incorrect",
    "NotAttempted",
    "NumberQuestion",
    "Question",
    "Rendezvous",
    "SecondsQuestion",
    "as_real",
    "attempt_log",
    "call_bounded",
    "check_number",
    "clear_attempt_log",
    "close_to",
    "describe",
    "is_real",
    "manual_questions",
    "questions",
    "raised_by_answer",
    "same",
    "sheet_module",
    "unit_slip",
]


class _Blank:
    """What ``check()`` gets when it is called with no answer at all."""

    def __repr__(self) -> str:
        return "<no answer>"


BLANK = _Blank()

CORRECT, INCORRECT, NOT_ATTEMPTED, UNCHECKED, ERROR = "correct", "incorrect", "not attempted", "unchecked", "error"
_SYMBOL = {
    CORRECT: "✓ Correct",
    INCORRECT: "✗ Incorrect",
    NOT_ATTEMPTED: "… Not attempted yet",
    UNCHECKED: "✎ No check",
    ERROR: "⚠ Check failed",
}

RUNAWAY = (
    "Your code may still be running in the background: if the notebook slows down, restart the kernel "
    "(Kernel → Restart) and run the cells again."
)

ATTEMPT_MIME = "application/vnd.ella-lab.attempt+json"


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


# -- the student's code, and its errors ---------------------------------------------------------

_FROM_ANSWER = "_ella_raised_by_answer"


def mark_answer_error(exc: BaseException) -> BaseException:
    """Tag ``exc`` as raised by the student's code (so a check that lets it escape blames the answer)."""
    with contextlib.suppress(AttributeError, TypeError):  # an exception class with __slots__ cannot be tagged
        setattr(exc, _FROM_ANSWER, True)
    return exc


_LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the ella_lab package
_INSTALLED = tuple(
    os.path.abspath(path)
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (path := sysconfig.get_paths().get(key))
)


def _from_elsewhere(filename: str, checker: frozenset[str]) -> bool:
    """True for code that is neither the check nor a library (this package, stdlib, site-packages)."""
    if filename in checker or filename.startswith("<frozen"):
        return False
    path = os.path.abspath(filename)
    return not path.startswith(_LIBRARY + os.sep) and not path.startswith(_INSTALLED)


def _checker_files(question: Any) -> frozenset[str]:
    """The files that define a question's methods (a teacher's own question may live in a notebook cell)."""
    return frozenset(
        value.__code__.co_filename
        for cls in type(question).__mro__
        for value in vars(cls).values()
        if hasattr(value, "__code__")
    )


def raised_by_answer(exc: BaseException, question: Any = None) -> bool:
    """True when ``exc`` came out of the student's code, not out of the check.

    Through ``call_bounded`` the exception is tagged; a check that calls the answer directly is covered by
    the traceback: an exception that passed through code of neither the check nor a library (a notebook
    cell, a test) came from the answer.
    """
    if getattr(exc, _FROM_ANSWER, False):
        return True
    checker = _checker_files(question) if question is not None else frozenset()
    return any(_from_elsewhere(frame.filename, checker) for frame in traceback.extract_tb(exc.__traceback__))


def call_bounded(function: Callable, *args: Any, timeout: float = 2.0, what: str = "your function") -> Any:
    """Call the student's ``function(*args)`` in a helper thread, giving up after ``timeout`` seconds.

    ``NotImplementedError`` (the starter code) becomes ``NotAttempted``; a hang becomes ``Incorrect``,
    whose message says the code may still be running. Any other exception of the student's code is
    re-raised unchanged (tagged, see ``raised_by_answer``) for the caller, who knows what it means.
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
        raise Incorrect(
            f"{what} did not return within {format_seconds(timeout)}: is there a loop that never ends, or a wait "
            f"with no time limit? {RUNAWAY}"
        )
    ok, value = box[0]
    if ok:
        return value
    if isinstance(value, NotImplementedError):
        raise NotAttempted("replace `raise NotImplementedError` with your code, then run the cell again.")
    raise mark_answer_error(value)


# -- comparing an answer with what is expected ------------------------------------------------------


def same(value: Any, expected: Any) -> bool:
    """``value == expected``, decided by the expected value's plain types, never by the answer's own ``__eq__``.

    An answer may be an object whose ``__eq__`` says yes to anything: compared with ``==`` (or ``!=``, ``in``)
    it would pass every check. Here a string must be a ``str`` with the same text, a number an ``int`` or a
    ``float`` (not a bool) of the same value, a list, tuple or dict the same container with the same items;
    any other expected object (an exception the answer must keep) must be that very object, or of its exact
    type and equal by the expected object's own ``__eq__``.
    """
    if isinstance(expected, bool) or expected is None:
        return value is expected
    if isinstance(expected, str):
        return isinstance(value, str) and str.__eq__(value, expected) is True
    if isinstance(expected, bytes):
        return isinstance(value, bytes) and bytes.__eq__(value, expected) is True
    if isinstance(expected, (int, float)):
        return type(value) in (int, float) and value == expected
    if type(expected) in (list, tuple):
        return (
            type(value) is type(expected)
            and len(value) == len(expected)
            and all(same(v, e) for v, e in zip(value, expected, strict=True))
        )
    if type(expected) is dict:
        if type(value) is not dict or len(value) != len(expected):
            return False
        keys = {k: v for k, v in value.items() if type(k) in (str, int, float, bool, bytes) or k is None}
        return len(keys) == len(value) and all(k in keys and same(keys[k], e) for k, e in expected.items())
    return value is expected or (type(value) is type(expected) and bool(expected == value))


# -- numbers ------------------------------------------------------------------------------------


def as_real(value: Any) -> float | None:
    """``value`` as a float when it is a real number (int, float, numpy scalar, Fraction, Decimal), else None.

    Booleans are not numbers here: ``True`` as an answer is a slip, not 1.
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        number = float(value)
    elif getattr(value, "shape", None) == () and getattr(getattr(value, "dtype", None), "kind", "") in "iuf":
        number = float(value)  # a 0-d numpy array
    else:
        return None
    return None if math.isnan(number) else number


def is_real(value: Any) -> bool:
    """True for any real number but bool (and NaN)."""
    return as_real(value) is not None


def close_to(value: Any, expected: float, *, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    """True when ``value`` is a real number within the tolerance of ``expected``."""
    number = as_real(value)
    return number is not None and math.isclose(number, expected, rel_tol=rel, abs_tol=abs_)


UNITS = ("s", "ms", "fraction", "percent", "count")


def unit_slip(value: Any, expected: float, unit: str | None, *, rel: float = 1e-6) -> str | None:
    """Name the slip that turns ``expected`` into ``value`` (ms for s, percent for fraction, off by one), or None."""
    number = as_real(value)
    if number is None or unit is None or expected == 0:
        return None
    shown = f"{number:g}"
    if unit == "s" and close_to(number, expected * 1000, rel=rel):
        return f"{shown} is right in milliseconds; give the answer in seconds."
    if unit == "ms" and close_to(number, expected / 1000, rel=rel):
        return f"{shown} is right in seconds; give the answer in milliseconds."
    if unit == "fraction" and close_to(number, expected * 100, rel=rel):
        return f"{shown} is right as a percentage; give a fraction between 0 and 1 (25 % is 0.25)."
    if unit == "percent" and close_to(number, expected / 100, rel=rel):
        return f"{shown} is right as a fraction; give a percentage (0.25 is 25 %)."
    if unit == "count" and (close_to(number, expected + 1) or close_to(number, expected - 1)):
        side = "one too many" if number > expected else "one too few"
        return f"{shown} is off by one ({side}): count again, fence posts and all."
    return None


def check_number(
    got: Any, expected: float, *, call: str, unit: str | None = None, whole: bool = False, rel: float = 1e-6
) -> None:
    """For a function's numeric result: return if ``got`` is ``expected``; raise ``Incorrect`` naming a slip.

    ``call`` describes the call for the message (``"makespan(10, 3, 0.5)"``); ``whole``: a count, so
    an integral float (20.0) or a numpy integer is fine but 19.5 is not.
    """
    if got is None:
        raise Incorrect(f"{call} returned None: did you forget `return` (or print instead of return)?")
    number = as_real(got)
    if number is None:
        raise Incorrect(f"{call} returned {got!r}; expected a number.")
    if close_to(number, expected, rel=rel):
        if whole and not float(number).is_integer():
            raise Incorrect(f"{call} returned {number:g}: expected a whole number.")
        return
    slip = unit_slip(number, expected, unit, rel=rel)
    if slip:
        raise Incorrect(f"{call} returned {slip}")


# -- the attempt log ----------------------------------------------------------------------------

_LOG: list[dict[str, Any]] = []
_LOG_LOCK = threading.Lock()


def attempt_log() -> list[dict[str, Any]]:
    """Every ``check()``, ``hint()`` and ``solution()`` of this process, oldest first (copies)."""
    with _LOG_LOCK:
        return [dict(entry) for entry in _LOG]


def clear_attempt_log() -> None:
    """Forget the recorded attempts (a teacher's script between students)."""
    with _LOG_LOCK:
        _LOG.clear()


def _kernel() -> Any:
    """The running IPython kernel shell, or None (a script, a test, a terminal)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


# -- questions ----------------------------------------------------------------------------------


class Question:
    """One exercise. Subclasses set ``title``, ``hints``, ``solution_text`` and write ``_check(answer)``.

    ``_check`` raises ``Incorrect(reason)`` or ``NotAttempted(what to do)``, or returns a message for a
    correct answer. A question with ``checked = False`` has a model answer and no automatic check.
    ``_check_hidden`` re-judges on cases the student never sees (default: the visible check).
    ``stub``: a walkthrough question's starter, the exact text of its answer cell (``make student`` writes
    it there; ``make key`` puts ``solution_text`` in its place). Both are dedented and stripped, as ``solution()``
    shows them, and bind the name that the notebook's check cell passes to ``check()``.
    """

    title = ""
    hints: Sequence[str] = ()
    solution_text = ""
    stub = ""
    checked = True
    expects = "an answer"
    points: float = 1
    answer_name: str | None = None
    record_in_notebook: bool | None = None  # None: yes on the sheets (ella_lab.exercises.phaseN)

    def __init__(self, name: str, *, answer_name: str | None = None, points: float | None = None):
        self.name = name
        self._next_hint = 0
        if answer_name is not None:
            self.answer_name = answer_name
        if points is not None:
            self.points = points

    @property
    def sheet(self) -> str:
        """The module that defines the question, e.g. ``phase3``."""
        return type(self).__module__.rsplit(".", 1)[-1]

    # -- the student's side --

    def check(self, answer: Any = BLANK) -> CheckResult:
        """Judge ``answer``; print one line saying so, and return the verdict."""
        result = self._judge(answer)
        self._emit("check", str(result), verdict=result.status, message=result.message)
        return result

    def hint(self, number: int | None = None) -> None:
        """Print the next hint (or hint ``number``, counting from 1)."""
        if not self.hints:
            self._emit("hint", f"{self.name}: no hint for this one.", hint=0)
            return
        if number is None:
            number = self._next_hint % len(self.hints) + 1
            self._next_hint += 1
        self._emit("hint", f"{self.name} hint {number}/{len(self.hints)}: {self.hints[number - 1]}", hint=number)

    def solution(self) -> None:
        """Show the reference answer: in a notebook, folded (click to open), so a glance does not give it away."""
        text = textwrap.dedent(self.solution_text).strip()
        folded = (
            f"<details><summary><b>{html.escape(self.name)} solution</b> (click to show)</summary>"
            f"<pre>{html.escape(text)}</pre></details>"
        )
        self._emit("solution", f"{self.name} solution:\n{text}", html_view=folded)

    # -- the grader's side --

    def hidden_check(self, answer: Any) -> CheckResult:
        """Re-judge ``answer`` on cases the sheet never shows (other names, seeds, sizes); prints nothing."""
        return self._judge(answer, hidden=True)

    def judge(self, answer: Any) -> CheckResult:
        """The visible check's verdict without printing or recording it."""
        return self._judge(answer)

    def _judge(self, answer: Any, hidden: bool = False) -> CheckResult:
        if not self.checked:
            return CheckResult(
                self.name, UNCHECKED, "this question has a model answer; compare yours with its solution()."
            )
        if answer is BLANK or answer is None:
            return CheckResult(self.name, NOT_ATTEMPTED, f"give {self.expects}, then run the check again.")
        try:
            message = self._check_hidden(answer) if hidden else self._check(answer)
        except NotAttempted as exc:
            return CheckResult(self.name, NOT_ATTEMPTED, str(exc))
        except Incorrect as exc:
            return CheckResult(self.name, INCORRECT, str(exc))
        except Exception as exc:
            if raised_by_answer(exc, self):  # the student's code raised where it should not have
                return CheckResult(self.name, INCORRECT, f"your answer raised {exc!r}")
            return CheckResult(
                self.name,
                ERROR,
                f"internal error in the check, not your answer: {exc!r}; please tell your teacher.",
            )
        except (SystemExit, KeyboardInterrupt) as exc:  # exit() in an answer; a Ctrl-C of the person stays one
            if not (getattr(exc, _FROM_ANSWER, False) or (isinstance(exc, SystemExit) and raised_by_answer(exc, self))):
                raise
            return CheckResult(
                self.name,
                INCORRECT,
                f"your answer raised {exc!r}: a function gives its result with return; exit() ends the whole program.",
            )
        return CheckResult(self.name, CORRECT, message or "well done.")

    def _check(self, answer: Any) -> str | None:
        raise NotImplementedError

    def _check_hidden(self, answer: Any) -> str | None:
        return self._check(answer)

    # -- the record --

    def _records(self) -> bool:
        if self.record_in_notebook is not None:
            return self.record_in_notebook
        return type(self).__module__.startswith("ella_lab.exercises.phase")

    def _emit(self, action: str, line: str, *, html_view: str | None = None, **details: Any) -> None:
        """Print ``line`` (or show ``html_view`` in a notebook); log the call; on a sheet, save the record too."""
        entry = {
            "sheet": self.sheet,
            "question": self.name,
            "action": action,
            "verdict": details.pop("verdict", None),
            "message": details.pop("message", None),
            "points": self.points,
            **details,
        }
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        with _LOG_LOCK:
            mine = [e for e in _LOG if e["question"] == self.name and e["sheet"] == self.sheet]
            number = len(mine) + 1
            for kind in ("check", "hint", "solution"):  # this session's totals, this call included
                entry[f"{kind}s"] = sum(1 for e in mine if e["action"] == kind) + (action == kind)
            _LOG.append({**entry, "time": stamp, "number": number})
        shell = _kernel()
        if shell is not None and html_view is not None and not self._records():
            from IPython.display import display

            display({"text/plain": line, "text/html": html_view}, raw=True)
            return
        if shell is None or not self._records():
            sys.stdout.write(line + "\n")  # one write: print's two let a kernel flush an empty line apart
            return
        from IPython.display import display

        # text/plain is what people (and nbval) see; the record rides along in its own MIME type (a cell
        # keeps only its last output, so the record carries the session's totals: checks, hints,
        # solutions), and the time in the output's metadata, which nbval does not compare.
        data = {"text/plain": line, ATTEMPT_MIME: entry}
        if html_view is not None:
            data["text/html"] = html_view
        display(
            data,
            raw=True,
            metadata={ATTEMPT_MIME: {"time": stamp, "number": number}},
        )

    def __repr__(self) -> str:
        return f"<{self.name}: {self.title}>"


class NumberQuestion(Question):
    """A question answered with one number; unit slips and known mistakes get their own explanation.

    Subclasses set ``answer``, ``unit`` (``"s"``, ``"ms"``, ``"fraction"``, ``"percent"``, ``"count"``),
    ``correct`` (the message for a right answer), ``mistakes`` as ``(wrong value, why)`` pairs, and
    ``otherwise`` (a nudge for any other value). Any real number type is accepted; a count may be 20.0.
    """

    expects = "a number"
    example = "0.5"
    unit: str | None = None
    answer: float = math.nan
    correct = ""
    mistakes: Sequence[tuple[float, str]] = ()
    otherwise = "work it out step by step."
    rel = 1e-6

    def _check(self, value: Any) -> str:
        number = as_real(value)
        if number is None:
            raise Incorrect(self._not_a_number(value))
        if close_to(number, self.answer, rel=self.rel):
            return self.correct
        for wrong, why in self.mistakes:
            if close_to(number, wrong, rel=self.rel):
                raise Incorrect(why)
        slip = unit_slip(number, self.answer, self.unit, rel=self.rel)
        if slip:
            raise Incorrect(slip)
        raise Incorrect(f"{number:g}{self._suffix()} is not it; {self.otherwise}")

    def _not_a_number(self, value: Any) -> str:
        return f"give {self.expects}, like {self.example}; got {value!r}"

    def _suffix(self) -> str:
        return {"s": " s", "ms": " ms", "percent": " %"}.get(self.unit or "", "")


class SecondsQuestion(NumberQuestion):
    """A question answered with a number of seconds (``unit = "s"``)."""

    expects = "a number of seconds"
    example = "0.015"
    unit = "s"

    def _not_a_number(self, value: Any) -> str:
        return f"give a number of seconds, like {self.example}; got {value!r}"


class ChoiceQuestion(Question):
    """A question answered by picking one option: ``options`` maps a key to its text, ``why_not`` each wrong key."""

    expects = "one of the options"
    options: ClassVar[dict[str, str]] = {}
    answer = ""
    correct = ""
    why_not: ClassVar[dict[str, str]] = {}

    def _check(self, choice: Any) -> str:
        key = str.lower(str.strip(choice)) if isinstance(choice, str) else None  # a plain str, whatever its type
        if key not in self.options:
            raise Incorrect(f"choose one of {', '.join(map(repr, self.options))}; got {choice!r}")
        if key == self.answer:
            return self.correct
        raise Incorrect(self.why_not.get(key, f"{key!r} is not it; read the options again."))


# -- harness parts for checks -------------------------------------------------------------------


class Rendezvous:
    """Proves that ``parties`` calls run at once: each waits (bounded) until ``parties`` are inside.

    ``enter()`` returns True when the rendezvous was met; ``peak`` is the most calls inside at once.
    After the meeting, ``hold`` seconds keep the calls inside, so that an extra thread would show up.
    """

    def __init__(self, parties: int, *, wait: float = 1.0, hold: float = 0.0):
        self.parties, self.wait, self.hold = parties, wait, hold
        self._cond = threading.Condition()
        self.inside = self.peak = self.arrived = 0
        self.met = self.broken = False

    def enter(self) -> bool:
        with self._cond:
            self.inside += 1
            self.arrived += 1
            self.peak = max(self.peak, self.inside)
            first_round = self.arrived <= self.parties
            if self.inside >= self.parties:
                self.met = True
                self._cond.notify_all()
            if first_round and not self.broken and not self._cond.wait_for(lambda: self.met, timeout=self.wait):
                self.broken = True  # never met: the calls after this one need not wait too
        if first_round and self.met and self.hold:
            deadline = time.perf_counter() + self.hold
            with self._cond:
                self._cond.wait_for(lambda: self.peak > self.parties, timeout=max(0.0, deadline - time.perf_counter()))
        return self.met

    def leave(self) -> None:
        with self._cond:
            self.inside -= 1


def sheet_module(notebook: str) -> Any:
    """The module of a sheet from its notebook's name: ``"ex03-threaded-router.ipynb"`` → ``phase3``."""
    stem = os.path.basename(str(notebook))
    if not (stem.startswith("ex") and stem[2:4].isdigit()):
        raise ValueError(f"notebook must be named exNN-..., got {notebook!r}")
    return importlib.import_module(f"{__package__}.phase{int(stem[2:4])}")


def questions(module: Any) -> list[Question]:
    """The questions of a sheet module, in order (q1, q2, ...)."""
    found = [(name, value) for name, value in vars(module).items() if isinstance(value, Question)]
    return [q for _, q in sorted(found, key=lambda item: (len(item[0]), item[0]))]


def manual_questions(module: Any) -> list[Question]:
    """The written questions of a sheet (``checked = False``): a teacher marks these by hand."""
    return [q for q in questions(module) if not q.checked]


def describe(module: Any) -> list[dict[str, Any]]:
    """One row per question of a sheet: name, title, points, answer_name, checked (for a grader)."""
    return [
        {
            "sheet": q.sheet,
            "question": q.name,
            "title": q.title,
            "points": q.points,
            "answer_name": q.answer_name,
            "checked": q.checked,
        }
        for q in questions(module)
    ]
