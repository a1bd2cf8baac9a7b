"""Exercises for notebook 02, the environment: ``from ella_lab.exercises import phase2 as ex``."""

from __future__ import annotations

import contextlib
import datetime
import threading
import time
from collections.abc import Callable
from types import CodeType
from typing import Any, ClassVar

from ._core import ChoiceQuestion, Incorrect, NumberQuestion, Question, as_real, call_bounded, same

__all__ = ["q1", "q2", "q3", "q4"]


class _Slow:
    """The function handed to ``timed``: sleeps, records its calls and arguments, returns a token."""

    def __init__(self, seconds: float, fails: bool = False):
        self.seconds, self.fails, self.calls = seconds, fails, []

    def __call__(self, *args: Any) -> str:
        self.calls.append(args)
        time.sleep(self.seconds)
        if self.fails:
            raise ValueError("the source refused the request")
        return f"token-{'-'.join(map(str, args))}"


class _CountWallClock:
    """While a check runs, count the calls of ``time.time`` and ``time.time_ns`` made from the answer's thread."""

    def __enter__(self) -> _CountWallClock:
        self.calls, self.originals = 0, {"time": time.time, "time_ns": time.time_ns}

        def counting(original: Callable[[], Any]) -> Callable[[], Any]:
            def counted() -> Any:
                if threading.current_thread().name == "ella-exercise":
                    self.calls += 1
                return original()

            return counted

        for name, original in self.originals.items():
            setattr(time, name, counting(original))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self.originals.items():
            setattr(time, name, original)


_DATE_READERS = frozenset({"now", "utcnow", "today"})


def _names(code: CodeType) -> set[str]:
    """Every global and attribute name a function's code (and the code nested in it) uses."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
    return names


def _reads_wall_clock(fn: Any) -> bool:
    """True when ``fn``'s code names a wall clock by import: ``from time import time``, ``datetime.now()``."""
    code, scope = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
    if code is None or scope is None:
        return False
    names = _names(code)
    for name in names:
        value = scope.get(name)
        if value is None:
            continue
        with contextlib.suppress(TypeError):
            if value in (time.time, time.time_ns):
                return True
        if (value is datetime.datetime or value is datetime) and names & _DATE_READERS:
            return True
    return False


class Timed(Question):
    title = "Timing a call with perf_counter"
    expects = "a function timed(fn, *args)"
    answer_name = "timed"
    hints = (
        "Read time.perf_counter() just before the call and just after it; the difference is in seconds.",
        "Return a pair: (what fn returned, the seconds it took). Call fn exactly once, with *args.",
        "If fn raises, let the exception go through: a timer must never hide an error.",
    )
    solution_text = """
        import time

        def timed(fn, *args):
            start = time.perf_counter()
            result = fn(*args)
            return result, time.perf_counter() - start
    """
    SCENARIO = (0.05, ("DataRequest-1", 3))
    HIDDEN = (0.08, ("order-9",))

    def _check(self, timed: Any) -> str:
        self._run(timed, *self.SCENARIO)
        return "the result, and the seconds measured on the monotonic, high-resolution clock."

    def _check_hidden(self, timed: Any) -> str:
        self._run(timed, *self.HIDDEN)
        return "right on every case."

    def _run(self, timed: Any, seconds: float, args: tuple) -> None:
        if not callable(timed):
            raise Incorrect(f"expected a function timed(fn, *args), got {timed!r}")
        slow = _Slow(seconds)
        with _CountWallClock() as wall:
            started = time.perf_counter()
            got = call_bounded(timed, slow, *args, what="timed")
            outside = time.perf_counter() - started  # the call, as the check measured it from outside
        if got is None:
            raise Incorrect("timed returned None: return (result, seconds), do not print them.")
        if len(slow.calls) > 1:
            raise Incorrect(f"fn was called {len(slow.calls)} times: call it once, and time that call.")
        if not slow.calls:
            raise Incorrect("fn was never called: call fn(*args) between the two clock readings.")
        if slow.calls[0] != args:
            raise Incorrect(f"fn was called with {slow.calls[0]!r}, not {args!r}: pass the arguments on, fn(*args).")
        if as_real(got) is not None:
            raise Incorrect(f"timed returned one number, {got!r}: return a pair, (result, seconds).")
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise Incorrect(f"timed should return a pair (result, seconds), got {got!r:.80}.")
        result, elapsed = got
        expected = f"token-{'-'.join(map(str, args))}"
        if not same(result, expected) and as_real(result) is not None and same(elapsed, expected):
            raise Incorrect("the pair is the wrong way round: return (result, seconds).")
        if not same(result, expected):
            raise Incorrect(f"the first item should be what fn returned, {expected!r}; got {result!r}.")
        number = as_real(elapsed)
        if number is None:
            raise Incorrect(f"the second item should be a number of seconds; got {elapsed!r}.")
        if seconds * 1e9 * 0.9 <= number <= (outside + 0.01) * 1e9:
            raise Incorrect(
                f"{number:g} is in nanoseconds (time.perf_counter_ns counts those): give the seconds, divide by 1e9, "
                "or use time.perf_counter()."
            )
        if seconds * 1000 * 0.9 <= number <= seconds * 1000 + 2000:
            raise Incorrect(f"{number:g} is in milliseconds; give the seconds (do not multiply by 1000).")
        if number > 0 and number == round(number, 2):
            # two clock readings in ns differ by a round number of hundredths about once in 10 million calls;
            # decided on the value, not on how long the call took (a busy machine can stretch 0.05 s to 0.1 s)
            raise Incorrect(
                f"you measured {number:g} s for a call that sleeps {seconds} s: do not round the measurement "
                "(round(x, 1) turns 0.05 into 0.0 or 0.1); return the seconds as measured."
            )
        if number < seconds * 0.9:
            raise Incorrect(
                f"you measured {number:.3g} s for a call that sleeps {seconds} s: read the clock before and after "
                "the call (time.process_time counts CPU time only, and a sleep uses none)."
            )
        if number > seconds + 2.0:
            raise Incorrect(f"you measured {number:.3g} s for a call of {seconds} s: subtract the start time.")
        if number > outside + 0.005:
            raise Incorrect(
                f"you measured {number:g} s, but the whole call of timed took {outside:.4f} s: do not round the "
                "measurement (round(x, 1) turns 0.05 into 0.1); return the seconds as measured."
            )
        if wall.calls or _reads_wall_clock(timed):
            raise Incorrect(
                "you timed with the wall-clock date (time.time(), time.time_ns() or datetime.now()): it can jump "
                "(clock adjustments) and is coarse on some systems. Use time.perf_counter(), made for measuring "
                "durations."
            )
        failing = _Slow(0.0, fails=True)
        try:
            call_bounded(timed, failing, *args, what="timed")
        except ValueError:
            return
        except Exception as exc:
            raise Incorrect(
                f"when fn raised ValueError, timed raised {type(exc).__name__}: let fn's own exception through "
                "unchanged (a timer measures; it changes nothing)."
            ) from None
        raise Incorrect("when fn raises, timed should let the exception through; yours hid it.")


class WrongKernel(ChoiceQuestion):
    title = "The self-check fails in JupyterLab only"
    expects = "a letter: kernel = 'a', 'b', 'c' or 'd'"
    answer_name = "kernel"
    options: ClassVar[dict[str, str]] = {
        "a": "Python is older than 3.11",
        "b": "the notebook runs on another kernel than “Python 3 (ella-lab)”",
        "c": "matplotlib is not installed",
        "d": "ella_lab must be installed from PyPI",
    }
    answer = "b"
    correct = "the terminal uses .venv, the notebook another Python: choose the kernel “Python 3 (ella-lab)”."
    why_not: ClassVar[dict[str, str]] = {
        "a": "the terminal check passes, and it runs the same checks, so the project's Python is recent enough.",
        "c": "matplotlib would fail in the terminal check too: the two runs use different Pythons.",
        "d": "ella_lab is installed, editable, into .venv by `make lab`; it is not a PyPI package.",
    }
    hints = ("Both checks run the same code. What differs between the terminal and the notebook?",)
    solution_text = """
        kernel = "b"  # the notebook's kernel is another Python, without ella_lab: pick "Python 3 (ella-lab)"
    """


class TimerOverhead(NumberQuestion):
    title = "How much did the measurement add?"
    expects = "a number of milliseconds: overhead_ms = ..."
    example = "0.5"
    answer_name = "overhead_ms"
    unit = "ms"
    answer = 0.1
    correct = "0.1 ms: 2.1 ms measured, 2 ms asked for; time.sleep overshoots a little, and so does the call."
    mistakes = ((2.1, "2.1 ms is the whole measurement; the question asks what came on top of the 2 ms sleep."),)
    otherwise = "subtract the sleep from the measurement, in milliseconds."
    hints = ("0.0021 s is 2.1 ms.",)
    solution_text = """
        overhead_ms = 0.0021 * 1000 - 2  # 2.1 ms measured - 2 ms of sleep = 0.1 ms
    """


class VenvOrConda(Question):
    title = "venv or conda?"
    checked = False
    solution_text = """
        Model answer. A school lab whose machines have no Python 3.11 (or whose Windows lacks a compiler)
        is the case for conda or mamba: it brings its own Python and binary packages from conda-forge. A
        laptop that already has Python 3.11 or newer is the case for venv + pip (`make lab`): nothing else
        to install, and the lightest setup. Either way, the notebook must run on the kernel of that
        environment, which the self-check verifies.
    """


q1 = Timed("q1")
q2 = WrongKernel("q2")
q3 = TimerOverhead("q3")
q4 = VenvOrConda("q4")
